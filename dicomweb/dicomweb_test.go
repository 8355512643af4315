package dicomweb

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/telehub/telehub/store/mongo/mongotest"
)

// The behaviour every backend must have, run on each.
var behaviours = []struct {
	name string
	run  func(t *testing.T, b backend)
}{
	{"stow, qido, wado", testRoundTrip},
	{"qido", testQIDO},
	{"stow bad input", testSTOWBadInput},
	{"idempotence", testIdempotence},
	{"concurrent stow", testConcurrentSTOW},
	{"batched stow", testBatchedSTOW},
	{"packs", testPacks},
	{"pack rollover", testPackRollover},
	{"wado", testWADO},
	{"access", testAccess},
	{"audit fail-closed", testAuditFailClosed},
	{"imaging study", testImagingStudy},
	{"imaging study json", testImagingStudyJSON},
	{"committed files", testCommittedFiles},
	{"dcmtk files", testDCMTK},
	{"blobs", testBlobs},
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	for _, bh := range behaviours {
		t.Run(bh.name, func(t *testing.T) { bh.run(t, sqliteBackend()) })
	}
}

func TestMongo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB; skipped with -short")
	}
	t.Parallel()
	b := mongoBackend(mongotest.Start(t))
	for _, bh := range behaviours {
		t.Run(bh.name, func(t *testing.T) { bh.run(t, b) })
	}
}

func testRoundTrip(t *testing.T, b backend) {
	ev := newEnv(t, b)
	a := instance(t, spec{sop: "1.2.3.1", series: "1.2.3.10", study: "1.2.3", accession: "ACC1"})
	c := instance(t, spec{sop: "1.2.3.2", series: "1.2.3.10", study: "1.2.3", instanceNo: "2", accession: "ACC1"})
	status, res := ev.stow("admin", "/studies", a, c)
	if status != http.StatusOK {
		t.Fatalf("STOW: %d %s", status, mustJSON(t, res))
	}
	if got := len(res["00081199"].Value); got != 2 {
		t.Fatalf("ReferencedSOPSequence has %d items, want 2: %s", got, mustJSON(t, res))
	}
	studies := ev.getJSON("admin", "/dicom-web/studies?PatientID=PID-1")
	if len(studies) != 1 {
		t.Fatalf("QIDO studies: %d results", len(studies))
	}
	st := studies[0]
	if st.First(tagNumberOfStudyInstances) != "2" || st.First(tagNumberOfStudySeries) != "1" || st.First(tagModalitiesInStudy) != "CT" {
		t.Errorf("computed attributes: %s", mustJSON(t, st))
	}
	resp, body := ev.do("admin", "GET", "/dicom-web/studies/1.2.3", nil, "Accept", `multipart/related; type="application/dicom"`)
	if resp.StatusCode != 200 {
		t.Fatalf("WADO study: %d %s", resp.StatusCode, body)
	}
	_, files := parts(t, resp, body)
	if len(files) != 2 || !(bytes.Equal(files[0], a) && bytes.Equal(files[1], c)) {
		t.Errorf("WADO study returned %d files, not the ones stored", len(files))
	}
	found, err := ev.fhir.Find(context.Background(), "ImagingStudy", url.Values{"identifier": {"urn:dicom:uid|urn:oid:1.2.3"}}, 2)
	if err != nil || len(found) != 1 {
		t.Fatalf("ImagingStudy: %v, %d found", err, len(found))
	}
	var is map[string]any
	json.Unmarshal(found[0].Body, &is)
	if is["numberOfInstances"] != float64(2) {
		t.Errorf("ImagingStudy: %s", found[0].Body)
	}
}
