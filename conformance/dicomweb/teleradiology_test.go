package dicomweb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// TestTeleRadiologyWorkflow runs the tele-radiology act through the FHIR
// and DICOMweb APIs: an imaging ServiceRequest, a Task for a remote
// radiologist, images stored by STOW, queried and retrieved by the
// radiologist, a DiagnosticReport on the ImagingStudy, the Task completed.
func TestTeleRadiologyWorkflow(t *testing.T) {
	h := startHub(t)
	const (
		ins       = "180047512345678"
		accession = "TR-2026-0001"
		study     = "2.25.118934722318745523454109870034551230"
	)
	fhirDo := func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, h.base+"/fhir/"+path, rd)
		req.Header.Set("Authorization", "Bearer "+h.token)
		req.Header.Set("Content-Type", "application/fhir+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	create := func(resource map[string]any) string {
		t.Helper()
		status, out := fhirDo(http.MethodPost, resource["resourceType"].(string), resource)
		if status != http.StatusCreated {
			t.Fatalf("create %s: %d %v", resource["resourceType"], status, out)
		}
		return out["resourceType"].(string) + "/" + out["id"].(string)
	}
	ref := func(r string) map[string]any { return map[string]any{"reference": r} }

	// The requesting site: patient (INS), the remote radiologist, the order.
	patient := create(map[string]any{"resourceType": "Patient",
		"identifier": []any{map[string]any{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": ins}},
		"name":       []any{map[string]any{"family": "Durand", "given": []any{"Anne"}}}})
	radiologist := create(map[string]any{"resourceType": "Practitioner",
		"name": []any{map[string]any{"family": "Lemaire", "given": []any{"Paul"}}}})
	order := create(map[string]any{"resourceType": "ServiceRequest", "status": "active", "intent": "order",
		"identifier": []any{map[string]any{"type": map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}}}, "value": accession}},
		"category": []any{map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "363679005", "display": "Imaging"}}}},
		"code":     map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "24627-2", "display": "Chest CT"}}},
		"subject":  ref(patient), "performer": []any{ref(radiologist)}})
	task := create(map[string]any{"resourceType": "Task", "status": "requested", "intent": "order",
		"focus": ref(order), "for": ref(patient), "owner": ref(radiologist),
		"code": map[string]any{"coding": []any{map[string]any{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}}}})
	patchTask := func(status string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPatch, h.base+"/fhir/"+task,
			strings.NewReader(`[{"op":"replace","path":"/status","value":"`+status+`"}]`))
		req.Header.Set("Authorization", "Bearer "+h.token)
		req.Header.Set("Content-Type", "application/json-patch+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("Task to %s: %d", status, res.StatusCode)
		}
	}
	patchTask("accepted")

	// The modality's images arrive by STOW-RS.
	var parts [][]byte
	for i := 1; i <= 3; i++ {
		parts = append(parts, ctSlice(t, study, ins, accession, i))
	}
	if status, body := stow(t, h, parts); status != http.StatusOK {
		t.Fatalf("STOW: %d %s", status, body)
	}

	// The radiologist finds the study by accession number and retrieves it.
	matches := h.qido(t, "/studies?AccessionNumber="+accession+"&includefield=all")
	if len(matches) != 1 || str(matches[0], "0020000D") != study {
		t.Fatalf("QIDO by accession: %v", matches)
	}
	status, hdr, body := h.get(t, "/studies/"+study, `multipart/related; type="application/dicom"`)
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "multipart/related") {
		t.Fatalf("WADO-RS study: %d %s", status, hdr.Get("Content-Type"))
	}
	if got := len(multipartBodies(t, hdr.Get("Content-Type"), body)); got != 3 {
		t.Fatalf("WADO-RS returned %d instances, want 3", got)
	}

	// The ImagingStudy mirrors the study, for the patient and the order.
	status, bundle := fhirDo(http.MethodGet, "ImagingStudy?"+url.Values{"basedon": {order}, "patient": {patient}}.Encode(), nil)
	entries, _ := bundle["entry"].([]any)
	if status != http.StatusOK || len(entries) != 1 {
		t.Fatalf("ImagingStudy of the order: %d, %d entries", status, len(entries))
	}
	imaging := entries[0].(map[string]any)["resource"].(map[string]any)
	if imaging["numberOfInstances"] != float64(3) {
		t.Errorf("ImagingStudy numberOfInstances %v, want 3", imaging["numberOfInstances"])
	}
	imagingRef := "ImagingStudy/" + imaging["id"].(string)

	// The report, then the Task completes with it as output.
	report := create(map[string]any{"resourceType": "DiagnosticReport", "status": "final",
		"code":    map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "24627-2"}}},
		"subject": ref(patient), "basedOn": []any{ref(order)}, "imagingStudy": []any{ref(imagingRef)},
		"performer": []any{ref(radiologist)}, "conclusion": "No acute finding."})
	status, out := fhirDo(http.MethodGet, task, nil)
	if status != http.StatusOK {
		t.Fatal(out)
	}
	out["status"] = "completed"
	out["output"] = []any{map[string]any{
		"type": map[string]any{"text": "report"}, "valueReference": ref(report)}}
	if status, res := fhirDo(http.MethodPut, task, out); status != http.StatusOK {
		t.Fatalf("complete the Task: %d %v", status, res)
	}
	status, found := fhirDo(http.MethodGet, "DiagnosticReport?"+url.Values{"_id": {strings.TrimPrefix(report, "DiagnosticReport/")}, "_include": {"DiagnosticReport:based-on"}}.Encode(), nil)
	if entries, _ := found["entry"].([]any); status != http.StatusOK || len(entries) != 2 {
		t.Errorf("report with its order: %d, %d entries", status, len(entries))
	}
	status, done := fhirDo(http.MethodGet, "Task?"+url.Values{"owner": {radiologist}, "status": {"completed"}}.Encode(), nil)
	if total, _ := done["total"].(float64); status != http.StatusOK || total != 1 {
		t.Errorf("the radiologist's completed Tasks: %d, total %v", status, done["total"])
	}
}

// ctSlice is one small CT image of the study, for the patient of the INS
// and the order of the accession number.
func ctSlice(t *testing.T, study, ins, accession string, n int) []byte {
	t.Helper()
	const ct = "1.2.840.10008.5.1.4.1.1.2"
	sop := fmt.Sprintf("%s.1.%d", study, n)
	pixels := frame.NativeFrame{Rows: 16, Cols: 16, BitsPerSample: 16, Data: make([][]int, 256)}
	for i := range pixels.Data {
		pixels.Data[i] = []int{i * n}
	}
	var ds dicom.Dataset
	for _, e := range []struct {
		t tag.Tag
		v any
	}{
		{tag.MediaStorageSOPClassUID, []string{ct}}, {tag.MediaStorageSOPInstanceUID, []string{sop}},
		{tag.TransferSyntaxUID, []string{uid.ExplicitVRLittleEndian}},
		{tag.SOPClassUID, []string{ct}}, {tag.SOPInstanceUID, []string{sop}},
		{tag.StudyDate, []string{"20261125"}}, {tag.StudyTime, []string{"101500"}},
		{tag.AccessionNumber, []string{accession}}, {tag.Modality, []string{"CT"}},
		{tag.PatientName, []string{"DURAND^Anne"}}, {tag.PatientID, []string{ins}},
		{tag.IssuerOfPatientID, []string{"1.2.250.1.213.1.4.8"}},
		{tag.StudyInstanceUID, []string{study}}, {tag.SeriesInstanceUID, []string{study + ".1"}},
		{tag.SeriesNumber, []string{"1"}}, {tag.InstanceNumber, []string{fmt.Sprint(n)}},
		{tag.SamplesPerPixel, []int{1}}, {tag.PhotometricInterpretation, []string{"MONOCHROME2"}},
		{tag.Rows, []int{16}}, {tag.Columns, []int{16}}, {tag.BitsAllocated, []int{16}},
		{tag.BitsStored, []int{16}}, {tag.HighBit, []int{15}}, {tag.PixelRepresentation, []int{0}},
		{tag.PixelData, dicom.PixelDataInfo{Frames: []*frame.Frame{{NativeData: pixels}}}},
	} {
		el, err := dicom.NewElement(e.t, e.v)
		if err != nil {
			t.Fatal(err)
		}
		ds.Elements = append(ds.Elements, el)
	}
	var buf bytes.Buffer
	if err := dicom.Write(&buf, ds, dicom.SkipVRVerification()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// stow posts parts as one STOW-RS request.
func stow(t *testing.T, h *hub, parts [][]byte) (int, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, h.dicomweb+"/studies", &body)
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Accept", "application/dicom+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}
