package dicomweb

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/telehub/telehub/fhir/model"
)

// testImagingStudy: the ImagingStudy mirrors the study, linked to its
// Patient (found by INS or created provisional), ServiceRequest and Endpoint.
func testImagingStudy(t *testing.T, b backend) {
	ev := newEnv(t, b)
	ctx := context.Background()
	pat, _, err := ev.fhir.Create(ctx, "Patient", []byte(`{"resourceType":"Patient",
		"identifier":[{"system":"urn:oid:1.2.250.1.213.1.4.8","value":"2800412345678"}],"name":[{"family":"Martin"}]}`), "")
	if err != nil {
		t.Fatal(err)
	}
	sr, _, err := ev.fhir.Create(ctx, "ServiceRequest", []byte(`{"resourceType":"ServiceRequest","status":"active","intent":"order",
		"identifier":[{"value":"ACC-77"}],"subject":{"reference":"Patient/`+pat.ID+`"}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	files := [][]byte{
		instance(t, spec{study: "8.1", series: "8.1.1", sop: "8.1.1.1", patientID: "2800412345678", issuer: "1.2.250.1.213.1.4.8",
			patientName: "Martin^Hélène", accession: "ACC-77", modality: "MR", seriesNumber: "3", date: "20240301"}),
		instance(t, spec{study: "8.1", series: "8.1.2", sop: "8.1.2.1", patientID: "2800412345678", issuer: "1.2.250.1.213.1.4.8",
			patientName: "Martin^Hélène", accession: "ACC-77", modality: "SR", seriesNumber: "4", date: "20240301"}),
	}
	if status, res := ev.stow("admin", "/studies", files...); status != 200 {
		t.Fatalf("STOW: %d %s", status, mustJSON(t, res))
	}
	var is struct {
		ID                                string
		Identifier                        []struct{ System, Value string }
		Status                            string
		Subject                           struct{ Reference string }
		BasedOn                           []struct{ Reference string }
		Endpoint                          []struct{ Reference string }
		Started                           string
		Modality                          []struct{ System, Code string }
		NumberOfSeries, NumberOfInstances int
		Series                            []struct {
			UID      string
			Number   int
			Modality struct{ Code string }
			Instance []struct {
				UID      string
				SOPClass struct{ System, Code string }
			}
		}
	}
	found, err := ev.fhir.Find(ctx, "ImagingStudy", url.Values{"identifier": {"urn:dicom:uid|urn:oid:8.1"}}, 2)
	if err != nil || len(found) != 1 {
		t.Fatalf("ImagingStudy: %v (%d)", err, len(found))
	}
	json.Unmarshal(found[0].Body, &is)
	if is.Subject.Reference != "Patient/"+pat.ID {
		t.Errorf("subject %q, want the INS patient %s", is.Subject.Reference, pat.ID)
	}
	if len(is.BasedOn) != 1 || is.BasedOn[0].Reference != "ServiceRequest/"+sr.ID {
		t.Errorf("basedOn %v, want ServiceRequest/%s", is.BasedOn, sr.ID)
	}
	if is.Status != "available" || is.Started != "2024-03-01" || is.NumberOfSeries != 2 || is.NumberOfInstances != 2 || len(is.Modality) != 2 {
		t.Errorf("ImagingStudy: %s", found[0].Body)
	}
	if len(is.Series) != 2 || is.Series[0].Number != 3 || is.Series[0].Modality.Code != "MR" ||
		is.Series[0].Instance[0].SOPClass.Code != "urn:oid:"+testSOPClass || is.Series[0].Instance[0].SOPClass.System != "urn:ietf:rfc:3986" {
		t.Errorf("series: %s", found[0].Body)
	}
	// The study is found by the ImagingStudy search parameters too.
	for _, q := range []url.Values{{"patient": {pat.ID}}, {"basedon": {"ServiceRequest/" + sr.ID}}, {"modality": {"SR"}}} {
		if got, err := ev.fhir.Find(ctx, "ImagingStudy", q, 5); err != nil || len(got) != 1 {
			t.Errorf("ImagingStudy?%s: %v (%d)", q.Encode(), err, len(got))
		}
	}
	if len(is.Endpoint) != 1 {
		t.Fatalf("endpoint: %v", is.Endpoint)
	}
	ep, err := ev.fhir.Read(ctx, "Endpoint", is.Endpoint[0].Reference[len("Endpoint/"):])
	if err != nil {
		t.Fatal(err)
	}
	var endpoint struct {
		Address        string
		ConnectionType struct{ Code string }
	}
	json.Unmarshal(ep.Body, &endpoint)
	if endpoint.Address != ev.url+"/dicom-web" || endpoint.ConnectionType.Code != "dicom-wado-rs" {
		t.Errorf("endpoint: %s", ep.Body)
	}

	// An unknown patient is created, flagged provisional; a second study of
	// the same patient reuses it, as does the second STOW into the study.
	for _, s := range []spec{{study: "8.2", patientID: "LOCAL-9", patientName: "Nouveau^Patient"},
		{study: "8.3", patientID: "LOCAL-9", patientName: "Nouveau^Patient"}} {
		if status, res := ev.stow("admin", "/studies", instance(t, s)); status != 200 {
			t.Fatalf("STOW: %d %s", status, mustJSON(t, res))
		}
	}
	got, err := ev.fhir.Find(ctx, "Patient", url.Values{"identifier": {"LOCAL-9"}}, 5)
	if err != nil || len(got) != 1 {
		t.Fatalf("provisional patient: %v (%d found)", err, len(got))
	}
	var p struct {
		Meta struct {
			Tag []struct{ System, Code string }
		}
		Name []struct {
			Family string
			Given  []string
		}
		BirthDate string
		Gender    string
	}
	json.Unmarshal(got[0].Body, &p)
	if len(p.Meta.Tag) != 1 || p.Meta.Tag[0].Code != "PROV" || p.Meta.Tag[0].System != SystemIdentityReliability ||
		p.Name[0].Family != "Nouveau" || p.BirthDate != "1980-04-12" || p.Gender != "female" {
		t.Errorf("provisional patient: %s", got[0].Body)
	}
	if n, _ := ev.fhir.Find(ctx, "ImagingStudy", url.Values{"patient": {got[0].ID}}, 5); len(n) != 2 {
		t.Errorf("%d ImagingStudies of the provisional patient, want 2", len(n))
	}
}

// testImagingStudyJSON: the ImagingStudy a round writes by hand is the
// resource the FHIR model reads (valid R4, canonical), keeps what a client
// added around the elements TeleHub manages, is found by its instances,
// and does not change when the same instances come again.
func testImagingStudyJSON(t *testing.T, b backend) {
	ev := newEnv(t, b)
	ctx := context.Background()
	mk := func(series, sop, seriesNo, no string) []byte {
		return instance(t, spec{study: "30.1", series: series, sop: sop, seriesNumber: seriesNo, instanceNo: no, modality: "CT"})
	}
	if status, res := ev.stow("admin", "/studies", mk("30.1.2", "30.1.2.1", "2", "1"), mk("30.1.1", "30.1.1.2", "1", "2"),
		mk("30.1.1", "30.1.1.1", "1", "1")); status != 200 {
		t.Fatalf("STOW: %d %s", status, mustJSON(t, res))
	}
	// A client adds a note, an identifier of its own, a series' laterality
	// and an instance's title.
	is := imagingStudyOf(t, ev, "30.1")
	is["note"] = []any{map[string]any{"text": "compare with <2023> & prior"}}
	is["identifier"] = append(is["identifier"].([]any), map[string]any{"system": "urn:example:ris", "value": "RIS-5"})
	first := is["series"].([]any)[0].(map[string]any)
	first["laterality"] = map[string]any{"system": systemDCM, "code": "L"}
	first["instance"].([]any)[0].(map[string]any)["title"] = "Scout"
	body, _ := json.Marshal(is)
	if _, err := ev.fhir.Update(ctx, "ImagingStudy", "30.1", body, 0); err != nil {
		t.Fatal(err)
	}
	second := [][]byte{mk("30.1.1", "30.1.1.3", "1", "3"), mk("30.1.3", "30.1.3.1", "3", "1")}
	if status, res := ev.stow("admin", "/studies", second...); status != 200 {
		t.Fatalf("STOW: %d %s", status, mustJSON(t, res))
	}

	res, err := ev.fhir.Read(ctx, "ImagingStudy", "30.1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := model.Parse(res.Body)
	if err != nil {
		t.Fatalf("ImagingStudy is not valid R4: %v\n%s", err, res.Body)
	}
	r.SetMeta(res.VersionID, res.LastUpdated)
	if canonical, _ := r.Marshal(); !bytes.Equal(canonical, res.Body) {
		t.Errorf("ImagingStudy is not canonical:\n%s\nwant\n%s", res.Body, canonical)
	}
	is = imagingStudyOf(t, ev, "30.1")
	want := "30.1.1:30.1.1.1,30.1.1.2,30.1.1.3;30.1.2:30.1.2.1;30.1.3:30.1.3.1"
	if got := listing(is); got != want || is["numberOfInstances"] != float64(5) || is["numberOfSeries"] != float64(3) {
		t.Errorf("ImagingStudy lists %s (%v instances, %v series), want %s", got, is["numberOfInstances"], is["numberOfSeries"], want)
	}
	for _, kept := range []string{`"text":"compare with \u003c2023\u003e \u0026 prior"`, `"value":"RIS-5"`, `"laterality":{"code":"L"`, `"title":"Scout"`} {
		if !bytes.Contains(res.Body, []byte(kept)) {
			t.Errorf("the client's %s is lost: %s", kept, res.Body)
		}
	}
	for _, q := range []url.Values{{"instance": {"30.1.1.3"}}, {"series": {"30.1.3"}}, {"dicom-class": {"urn:oid:" + testSOPClass}},
		{"identifier": {"urn:example:ris|RIS-5"}}, {"_content": {"prior"}}} {
		if found, err := ev.fhir.Find(ctx, "ImagingStudy", q, 2); err != nil || len(found) != 1 {
			t.Errorf("ImagingStudy?%s: %v (%d found)", q.Encode(), err, len(found))
		}
	}
	// The words of the instances are not indexed (fhir.Generated).
	if found, err := ev.fhir.Find(ctx, "ImagingStudy", url.Values{"_content": {"scout"}}, 2); err != nil || len(found) != 0 {
		t.Errorf("ImagingStudy?_content=scout (an instance's title): %v (%d found), want none", err, len(found))
	}

	// The same instances again: no new version.
	if status, res := ev.stow("admin", "/studies", second...); status != 200 {
		t.Fatalf("STOW again: %d %s", status, mustJSON(t, res))
	}
	again, err := ev.fhir.Read(ctx, "ImagingStudy", "30.1")
	if err != nil {
		t.Fatal(err)
	}
	if again.VersionID != res.VersionID {
		t.Errorf("the same instances again: version %d, want %d", again.VersionID, res.VersionID)
	}
}
