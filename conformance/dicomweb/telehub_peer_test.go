package dicomweb

import (
	"bytes"
	"context"
	"encoding/json"
	"mime"
	"mime/multipart"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/telehub/telehub/dicomweb/bench"
)

// TestOrthancAndTeleHub stores the fixture study in Orthanc, has Orthanc
// send it to TeleHub with its own DICOMweb client (STOW-RS, with TeleHub's
// bearer token in its peer configuration), then has Orthanc search and
// read it back from TeleHub (QIDO-RS, WADO-RS metadata and retrieve), and
// checks what TeleHub stored: its QIDO answers, the files byte for byte,
// and the FHIR ImagingStudy that mirrors the study.
func TestOrthancAndTeleHub(t *testing.T) {
	t.Parallel()
	fx := makeFixtures(t)
	h := startHub(t)
	o := startOrthanc(t, map[string]bench.Peer{
		"telehub":         {URL: h.dicomweb, Headers: map[string]string{"Authorization": "Bearer " + h.token}},
		"telehub-notoken": {URL: h.dicomweb},
	})
	ctx := context.Background()
	var paths []string
	for _, f := range fx {
		paths = append(paths, f.path)
	}
	study := uploadAll(t, o, paths)
	want := fixtureSOPs(fx)

	t.Run("STOW without a token is refused", func(t *testing.T) {
		err := o.CallJSON(ctx, "/dicom-web/servers/telehub-notoken/stow", map[string]any{"Resources": []string{study}}, nil)
		if err == nil {
			t.Fatal("Orthanc stored the study into TeleHub without a token")
		}
		if got := h.qido(t, "/studies?StudyInstanceUID="+fixtureStudy); len(got) != 0 {
			t.Fatalf("TeleHub holds the study after a refused STOW: %v", got)
		}
	})

	t.Run("Orthanc sends the study", func(t *testing.T) {
		var out map[string]any
		if err := o.CallJSON(ctx, "/dicom-web/servers/telehub/stow", map[string]any{"Resources": []string{study}}, &out); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("TeleHub's QIDO finds every instance", func(t *testing.T) {
		got := h.qido(t, "/studies/"+fixtureStudy+"/instances")
		if !slices.Equal(sopSet(got), want) {
			t.Fatalf("TeleHub has %v, want %v", sopSet(got), want)
		}
		studies := h.qido(t, "/studies?PatientID="+fixturePatient)
		if len(studies) != 1 || str(studies[0], "0020000D") != fixtureStudy {
			t.Fatalf("studies of patient %s: %v", fixturePatient, studies)
		}
		if n := str(studies[0], "00201208"); n != "" && n != jsonNumber(len(fx)) {
			t.Errorf("NumberOfStudyRelatedInstances %s, want %d", n, len(fx))
		}
	})

	t.Run("TeleHub kept every file byte for byte", func(t *testing.T) {
		for _, f := range fx {
			path := "/studies/" + fixtureStudy + "/series/" + f.series + "/instances/" + f.sop
			status, hdr, body := h.get(t, path, `multipart/related; type="application/dicom"; transfer-syntax=*`)
			if status != 200 {
				t.Fatalf("%s: %d %s", f.name, status, clipped(body))
			}
			parts := multipartBodies(t, hdr.Get("Content-Type"), body)
			orig, err := os.ReadFile(f.path)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != 1 || !bytes.Equal(parts[0], orig) {
				t.Errorf("%s: retrieved %d parts, not the stored file", f.name, len(parts))
			}
		}
	})

	t.Run("Orthanc searches TeleHub", func(t *testing.T) {
		got, err := orthancQIDO(t, o, "telehub", "/studies", map[string]string{"PatientID": fixturePatient})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || str(got[0], "0020000D") != fixtureStudy {
			t.Fatalf("Orthanc found %v", got)
		}
		got, err = orthancQIDO(t, o, "telehub", "/studies/"+fixtureStudy+"/instances", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sopSet(got), want) {
			t.Fatalf("Orthanc found %v, want %v", sopSet(got), want)
		}
	})

	t.Run("Orthanc's searches match like a PACS expects", func(t *testing.T) {
		for _, c := range []struct {
			uri  string
			args map[string]string
			n    int
		}{
			{"/studies", map[string]string{"PatientName": "Lef*"}, 1},
			{"/studies", map[string]string{"StudyDate": "20260101-20261231"}, 1},
			{"/studies", map[string]string{"StudyDate": "20200101-20201231"}, 0},
			{"/studies", map[string]string{"AccessionNumber": "ACC-FIXTURE"}, 1},
			{"/studies", map[string]string{"PatientID": "nobody"}, 0},
			{"/studies/" + fixtureStudy + "/series", nil, len(fx)},
			{"/studies/" + fixtureStudy + "/series", map[string]string{"SeriesInstanceUID": fx[0].series}, 1},
		} {
			got, err := orthancQIDO(t, o, "telehub", c.uri, c.args)
			if err != nil {
				t.Errorf("%s %v: %v", c.uri, c.args, err)
				continue
			}
			if len(got) != c.n {
				t.Errorf("%s %v: %d matches, want %d", c.uri, c.args, len(got), c.n)
			}
		}
	})

	t.Run("Orthanc reads the metadata", func(t *testing.T) {
		var meta []map[string]dicomAttr
		if err := o.CallJSON(ctx, "/dicom-web/servers/telehub/get",
			map[string]any{"Uri": "/studies/" + fixtureStudy + "/metadata"}, &meta); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sopSet(meta), want) {
			t.Fatalf("metadata of %v, want %v", sopSet(meta), want)
		}
	})

	t.Run("Orthanc retrieves the study back", func(t *testing.T) {
		if err := o.Call(ctx, "DELETE", "/studies/"+study, "", nil, nil); err != nil {
			t.Fatal(err)
		}
		var job map[string]any
		if err := o.CallJSON(ctx, "/dicom-web/servers/telehub/retrieve",
			map[string]any{"Resources": []map[string]string{{"Study": fixtureStudy}}}, &job); err != nil {
			t.Fatal(err)
		}
		var instances []map[string]any
		if err := o.Call(ctx, "GET", "/studies/"+study+"/instances", "", nil, &instances); err != nil {
			t.Fatal(err)
		}
		if len(instances) != len(fx) {
			t.Fatalf("Orthanc retrieved %d instances from TeleHub, want %d", len(instances), len(fx))
		}
	})

	t.Run("the ImagingStudy mirrors the study", func(t *testing.T) {
		found, err := h.api.Find(ctx, "ImagingStudy", url.Values{"identifier": {"urn:dicom:uid|urn:oid:" + fixtureStudy}}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 {
			t.Fatalf("%d ImagingStudy resources for the study", len(found))
		}
		var is struct {
			NumberOfSeries    int `json:"numberOfSeries"`
			NumberOfInstances int `json:"numberOfInstances"`
			Subject           struct {
				Reference string `json:"reference"`
			} `json:"subject"`
		}
		if err := json.Unmarshal(found[0].Body, &is); err != nil {
			t.Fatal(err)
		}
		if is.NumberOfInstances != len(fx) || is.NumberOfSeries != len(fx) || !strings.HasPrefix(is.Subject.Reference, "Patient/") {
			t.Errorf("ImagingStudy: %+v, want %d series and instances and a Patient subject", is, len(fx))
		}
	})
}

func jsonNumber(n int) string { b, _ := json.Marshal(n); return string(b) }

func clipped(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// multipartBodies splits a multipart/related answer into its parts.
func multipartBodies(t testing.TB, contentType string, body []byte) [][]byte {
	t.Helper()
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/related" {
		t.Fatalf("Content-Type %q is not multipart/related (%v)", contentType, err)
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out [][]byte
	for {
		p, err := r.NextPart()
		if err != nil {
			break
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(p); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}
