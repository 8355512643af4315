package model

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/telehub/telehub/internal/specdata"
)

const subsettedTag = `{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED","display":"subsetted"}`

const patientJSON = `{"resourceType":"Patient","id":"p","meta":{"versionId":"2"},
 "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">a &amp; b</div>"},
 "identifier":[{"value":"1"}],"active":true,"name":[{"family":"Doe"}],
 "birthDate":"1970","_birthDate":{"extension":[{"url":"u","valueString":"x"}]},
 "maritalStatus":{"text":"M"},"deceasedBoolean":false,
 "contact":[{"name":{"family":"Roe"}}],"communication":[{"language":{"text":"fr"}}],
 "link":[{"other":{"reference":"Patient/q"},"type":"seealso"}]}`

const observationJSON = `{"resourceType":"Observation","id":"o","meta":{"tag":[{"code":"keep"}]},
 "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
 "status":"final","code":{"text":"bp"},"valueQuantity":{"value":1.50,"unit":"mm"},
 "note":[{"text":"n"}],"interpretation":[{"text":"H"}],
 "referenceRange":[{"low":{"value":1},"text":"r"}],
 "component":[{"code":{"text":"sys"},"valueQuantity":{"value":120},"interpretation":[{"text":"H"}],"referenceRange":[{"text":"rr"}]}]}`

func TestSummary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, mode, want string
	}{
		{"patient true", patientJSON, "true", `{"resourceType":"Patient","id":"p","meta":{"versionId":"2","tag":[` + subsettedTag + `]},
			"identifier":[{"value":"1"}],"active":true,"name":[{"family":"Doe"}],
			"birthDate":"1970","_birthDate":{"extension":[{"url":"u","valueString":"x"}]},"deceasedBoolean":false,
			"link":[{"other":{"reference":"Patient/q"},"type":"seealso"}]}`},
		{"observation true filters backbone elements", observationJSON, "true", `{"resourceType":"Observation","id":"o",
			"meta":{"tag":[{"code":"keep"},` + subsettedTag + `]},
			"status":"final","code":{"text":"bp"},"valueQuantity":{"value":1.50,"unit":"mm"},
			"component":[{"code":{"text":"sys"},"valueQuantity":{"value":120}}]}`},
		{"observation text", observationJSON, "text", `{"resourceType":"Observation","id":"o",
			"meta":{"tag":[{"code":"keep"},` + subsettedTag + `]},
			"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
			"status":"final","code":{"text":"bp"}}`},
		{"questionnaire true drops items", `{"resourceType":"Questionnaire","status":"draft","item":[{"linkId":"1","type":"group","item":[{"linkId":"1.1","type":"string"}]}],"title":"T"}`, "true",
			`{"resourceType":"Questionnaire","status":"draft","title":"T","meta":{"tag":[` + subsettedTag + `]}}`},
		{"datatypes are filtered too", `{"resourceType":"DocumentReference","status":"current",
			"content":[{"attachment":{"contentType":"text/plain","data":"aGVsbG8=","title":"t"}}],
			"subject":{"reference":"Patient/p","extension":[{"url":"http://x","valueString":"y"}]},
			"description":"d","_description":{"extension":[{"url":"http://x","valueString":"y"}]}}`, "true",
			`{"resourceType":"DocumentReference","status":"current","meta":{"tag":[` + subsettedTag + `]},
			"content":[{"attachment":{"contentType":"text/plain","title":"t"}}],
			"subject":{"reference":"Patient/p"},
			"description":"d","_description":{"extension":[{"url":"http://x","valueString":"y"}]}}`},
		{"choice datatypes are filtered", `{"resourceType":"Observation","status":"final","code":{"text":"c"},
			"valueAttachment":{"contentType":"image/png","data":"AA=="}}`, "true",
			`{"resourceType":"Observation","status":"final","code":{"text":"c"},"meta":{"tag":[` + subsettedTag + `]},
			"valueAttachment":{"contentType":"image/png"}}`},
		{"bundle entries are kept whole", `{"resourceType":"Bundle","type":"collection",
			"entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","text":{"status":"empty","div":"<div/>"},"contact":[{"name":{"text":"x"}}]}}]}`, "true",
			`{"resourceType":"Bundle","type":"collection","meta":{"tag":[` + subsettedTag + `]},
			"entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","text":{"status":"empty","div":"<div/>"},"contact":[{"name":{"text":"x"}}]}}]}`},
		{"tag not repeated", `{"resourceType":"Basic","code":{"text":"c"},"meta":{"tag":[` + subsettedTag + `]},"text":{"status":"empty","div":"<div/>"}}`, "data",
			`{"resourceType":"Basic","code":{"text":"c"},"meta":{"tag":[` + subsettedTag + `]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Summary([]byte(tt.body), tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, got, tt.want)
		})
	}
}

func TestSummaryData(t *testing.T) {
	t.Parallel()
	got, err := Summary([]byte(patientJSON), "data")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(patientJSON), &want); err != nil {
		t.Fatal(err)
	}
	delete(want, "text")
	want["meta"] = map[string]any{"versionId": "2", "tag": []any{mustDecode(t, subsettedTag)}}
	wantBytes, _ := json.Marshal(want)
	assertSameJSON(t, got, string(wantBytes))
}

func TestSummaryFalseAndErrors(t *testing.T) {
	t.Parallel()
	got, err := Summary([]byte(patientJSON), "false")
	if err != nil || string(got) != patientJSON {
		t.Errorf("Summary false changed the body (%v)", err)
	}
	_, err = Summary([]byte(patientJSON), "count")
	var e *Error
	if !errors.As(err, &e) || e.Path != "_summary" {
		t.Errorf("Summary count error = %v, want *Error on _summary", err)
	}
	if _, err := Summary([]byte(`{"id":"x"}`), "true"); err == nil {
		t.Error("Summary accepted a body without resourceType")
	}
}

func TestSummaryKeepsMarkup(t *testing.T) {
	t.Parallel()
	got, err := Summary([]byte(patientJSON), "text")
	if err != nil {
		t.Fatal(err)
	}
	if want := `a &amp; b</div>`; !strings.Contains(string(got), want) {
		t.Errorf("narrative escaped or lost: %s", got)
	}
}

func TestElements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		elements   []string
		want       string
	}{
		{"patient name and birthDate", patientJSON, []string{"name", "birthDate"}, `{"resourceType":"Patient","id":"p",
			"meta":{"versionId":"2","tag":[` + subsettedTag + `]},"name":[{"family":"Doe"}],
			"birthDate":"1970","_birthDate":{"extension":[{"url":"u","valueString":"x"}]}}`},
		{"qualified names and unknown names", patientJSON, []string{"Patient.active", "nonsense"}, `{"resourceType":"Patient","id":"p",
			"meta":{"versionId":"2","tag":[` + subsettedTag + `]},"active":true}`},
		{"choice by base name keeps mandatory", observationJSON, []string{"value"}, `{"resourceType":"Observation","id":"o",
			"meta":{"tag":[{"code":"keep"},` + subsettedTag + `]},"status":"final","code":{"text":"bp"},"valueQuantity":{"value":1.50,"unit":"mm"}}`},
		{"choice by full name", observationJSON, []string{"valueQuantity", "note"}, `{"resourceType":"Observation","id":"o",
			"meta":{"tag":[{"code":"keep"},` + subsettedTag + `]},"status":"final","code":{"text":"bp"},"valueQuantity":{"value":1.50,"unit":"mm"},"note":[{"text":"n"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Elements([]byte(tt.body), tt.elements)
			if err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, got, tt.want)
		})
	}
	if got, err := Elements([]byte(patientJSON), nil); err != nil || string(got) != patientJSON {
		t.Errorf("Elements with no names changed the body (%v)", err)
	}
}

// TestSummaryOnSpecExamples reduces every valid example of the
// specification in each mode (and with _elements=identifier) and checks the
// result is still a valid resource that carries the SUBSETTED tag.
func TestSummaryOnSpecExamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(specdata.Dir(t), "fhir-r4", "examples", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found (%v)", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if _, known := knownRoundTripFailures[name]; known {
			continue
		}
		canonical, err := mustParse(t, exampleBody(t, name)).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"true", "text", "data", "elements"} {
			got, err := Summary(canonical, mode)
			if mode == "elements" {
				got, err = Elements(canonical, []string{"identifier"})
			}
			if err != nil {
				t.Errorf("%s _summary=%s: %v", name, mode, err)
				continue
			}
			if _, err := Parse(got); err != nil {
				t.Errorf("%s _summary=%s is no longer a valid resource: %v", name, mode, err)
			}
			if !strings.Contains(string(got), `"code":"SUBSETTED"`) {
				t.Errorf("%s _summary=%s has no SUBSETTED tag", name, mode)
			}
		}
	}
}

func assertSameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	g, w := mustDecode(t, string(got)), mustDecode(t, want)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func mustDecode(t *testing.T, s string) any {
	t.Helper()
	v, err := decodeJSON([]byte(s))
	if err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
	return v
}

func BenchmarkSummary(b *testing.B) {
	canonical, err := mustParse(b, exampleBody(b, "Patient-example.json")).Marshal()
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"true", "data"} {
		b.Run("Patient/"+mode, func(b *testing.B) {
			for b.Loop() {
				if _, err := Summary(canonical, mode); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("Patient/elements", func(b *testing.B) {
		for b.Loop() {
			if _, err := Elements(canonical, []string{"name", "birthDate"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
