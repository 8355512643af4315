package model

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telehub/telehub/internal/specdata"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		path, msg  string // msg: substring of Message
		syntax     bool
	}{
		{"malformed", `{"resourceType":"Patient",`, "", "malformed JSON at line 1", true},
		{"array", `[1]`, "", "must be a JSON object", true},
		{"empty body", " \n", "", "the body is empty", true},
		{"no resourceType", `{"id":"a"}`, "", "no resourceType", false},
		{"resourceType not string", `{"resourceType":1}`, "resourceType", "must be a string", false},
		{"unknown type", `{"resourceType":"Patients"}`, "resourceType", `unknown resource type "Patients"`, false},
		{"wrong case type", `{"resourceType":"patient"}`, "resourceType", `unknown resource type "patient"`, false},
		{"unknown element", `{"resourceType":"Patient","foo":1}`, "Patient.foo", `unknown element "foo"`, false},
		{"bad date", `{"resourceType":"Patient","birthDate":"1999-13-01"}`, "Patient.birthDate", "expected date", false},
		{"bad boolean", `{"resourceType":"Patient","active":"yes"}`, "Patient.active", "expected boolean", false},
		{"not an array", `{"resourceType":"Patient","name":{"family":"x"}}`, "Patient.name", "expected array", false},
		{"bad code", `{"resourceType":"Patient","gender":"x"}`, "Patient.gender", `"x" is not a valid AdministrativeGender code`, false},
		{"missing required", `{"resourceType":"Observation","status":"final"}`, "Observation.code", "required element is missing", false},
		{"bad id", `{"resourceType":"Patient","id":"a b"}`, "Patient.id", "invalid Id", false},
		{"wrong case element", `{"resourceType":"Patient","BirthDate":"1970"}`, "Patient.BirthDate", "case-sensitive", false},
		{"wrong case extension", `{"resourceType":"Patient","_BirthDate":{"id":"x"}}`, "Patient._BirthDate", "case-sensitive", false},
		{"duplicate member", `{"resourceType":"Patient","active":true,"active":false}`, "Patient.active", "appears more than once", false},
		{"duplicate member in a big object", bigObject(40, "k5"), "Patient.k5", "appears more than once", false},
		{"escaped element name", `{"resourceType":"Patient","\u0061ctive":true}`, `Patient.\u0061ctive`, "without escapes", false},
		{"duplicate nested member", `{"resourceType":"Patient","name":[{"family":"a"},{"family":"b","family":"c"}]}`, "Patient.name[1].family", "appears more than once", false},
		{"null member", `{"resourceType":"Patient","birthDate":null}`, "Patient.birthDate", "null", false},
		{"empty string", `{"resourceType":"Patient","gender":""}`, "Patient.gender", "empty string", false},
		{"empty array", `{"resourceType":"Patient","name":[]}`, "Patient.name", "empty array", false},
		{"empty object", `{"resourceType":"Patient","name":[{"family":"x"},{}]}`, "Patient.name[1]", "empty object", false},
		{"narrative not a div", `{"resourceType":"Patient","text":{"status":"generated","div":"<p>x</p>"}}`, "Patient.text.div", "XHTML <div>", false},
		{"narrative without namespace", `{"resourceType":"Patient","text":{"status":"generated","div":"<div>x</div>"}}`, "Patient.text.div", "namespace", false},
		{"narrative with script", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><SCRIPT>x</SCRIPT></div>"}}`, "Patient.text.div", "forbidden active content", false},
		{"strict error before resourceType", `{"name":[],"resourceType":"Nope"}`, "resourceType", "unknown resource type", false},
		{"strict error with type after it", `{"name":[],"resourceType":"Patient"}`, "Patient.name", "empty array", false},
		{"trailing data", `{"resourceType":"Patient"} {}`, "", "malformed JSON", true},
		{"null in a complex array", `{"resourceType":"Patient","name":[null]}`, "Patient.name", "null in an array", false},
		{"null without its extension array", `{"resourceType":"Patient","name":[{"given":["a",null]}]}`, "Patient.name[0].given", `aligns it with "_given"`, false},
		{"null at the same index twice", `{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,null]}]}`, "Patient.name[0].given[1]", "neither a value nor an extension", false},
		{"unknown contained type", `{"resourceType":"Patient","contained":[{"resourceType":"Foo","id":"1"}]}`, "Patient.contained[0]", "unknown resource type", false},
		{"error in a contained resource", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"1","active":"no"}]}`, "Patient.contained[0].active", "expected boolean", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.body))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse error = %v (%T), want *Error", err, err)
			}
			if e.Path != tt.path || !strings.Contains(e.Message, tt.msg) || e.Syntax != tt.syntax {
				t.Errorf("got {Path:%q Message:%q Syntax:%v}, want path %q, message containing %q, syntax %v",
					e.Path, e.Message, e.Syntax, tt.path, tt.msg, tt.syntax)
			}
			if len(e.Issues) == 0 || e.Issues[0].Path != e.Path || e.Issues[0].Message != e.Message {
				t.Errorf("Issues %+v do not start with the error itself", e.Issues)
			}
			if strings.Contains(e.Error(), "\n") {
				t.Errorf("error spans several lines: %q", e.Error())
			}
		})
	}
}

// bigObject is a Patient with n distinct members k0..kn-1, then dup again.
func bigObject(n int, dup string) string {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Patient"`)
	for i := range n {
		fmt.Fprintf(&b, `,"k%d":1`, i)
	}
	fmt.Fprintf(&b, `,%q:1}`, dup)
	return b.String()
}

func TestParseReportsEveryIssue(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte(`{"resourceType":"Patient","foo":1,"active":"yes","gender":"x"}`))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse error = %v, want *Error", err)
	}
	var paths []string
	for _, is := range e.Issues {
		paths = append(paths, is.Path)
	}
	want := []string{"Patient.active", "Patient.foo", "Patient.gender"}
	if !slices.Equal(paths, want) {
		t.Errorf("issue paths = %v, want %v (sorted)", paths, want)
	}
	if e.Path != want[0] {
		t.Errorf("Path = %q, want the first issue's %q", e.Path, want[0])
	}
}

// TestPrimitiveArrayNulls checks the one place FHIR JSON allows null: items
// of a primitive array aligned with their extensions. The library alone
// rejects these bodies.
func TestPrimitiveArrayNulls(t *testing.T) {
	t.Parallel()
	names := []string{
		`{"given":["a","b"],"_given":[null,{"id":"q"}]}`,
		`{"given":["a",null],"_given":[null,{"extension":[{"url":"http://x","valueString":"y"}]}]}`,
	}
	for _, name := range names {
		body := `{"resourceType":"Patient","name":[` + name + `]}`
		r, err := Parse([]byte(body))
		if err != nil {
			t.Errorf("Parse(%s): %v", body, err)
			continue
		}
		got, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		assertSameJSON(t, got, body)
	}
}

func TestResourceAccessors(t *testing.T) {
	t.Parallel()
	r, err := Parse([]byte(`{"resourceType":"Patient","id":"p1","meta":{"versionId":"7","source":"urn:src","tag":[{"code":"t"}]},"active":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Type() != "Patient" || r.ID() != "p1" {
		t.Fatalf("Type/ID = %q/%q", r.Type(), r.ID())
	}
	r.SetID("p2")
	r.SetMeta(3, time.Date(2024, 5, 6, 9, 8, 7, 123987654, time.FixedZone("CEST", 2*3600)))
	got, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resourceType":"Patient","id":"p2","meta":{"versionId":"3","lastUpdated":"2024-05-06T07:08:07.123Z","source":"urn:src","tag":[{"code":"t"}]},"active":true}`
	if string(got) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", got, want)
	}
	r.SetID("")
	if r.ID() != "" {
		t.Errorf("ID after SetID(\"\") = %q", r.ID())
	}
}

func TestSetMetaWithoutMeta(t *testing.T) {
	t.Parallel()
	r, err := Parse([]byte(`{"resourceType":"Basic","code":{"text":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	r.SetMeta(1, time.Unix(0, 0))
	got, _ := r.Marshal()
	want := `{"resourceType":"Basic","meta":{"versionId":"1","lastUpdated":"1970-01-01T00:00:00.000Z"},"code":{"text":"x"}}`
	if string(got) != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
}

func TestResourceTypes(t *testing.T) {
	t.Parallel()
	types := ResourceTypes()
	if len(types) != 146 {
		t.Errorf("%d resource types, want the 146 of R4", len(types))
	}
	if !slices.IsSorted(types) {
		t.Error("ResourceTypes is not sorted")
	}
	for _, name := range []string{"Patient", "Observation", "Bundle", "Parameters", "Binary"} {
		if !IsResourceType(name) {
			t.Errorf("IsResourceType(%q) = false", name)
		}
	}
	for _, name := range []string{"patient", "Element", "HumanName", "ContainedResource", ""} {
		if IsResourceType(name) {
			t.Errorf("IsResourceType(%q) = true", name)
		}
	}
	types[0] = "changed"
	if ResourceTypes()[0] == "changed" {
		t.Error("ResourceTypes exposes shared state")
	}
}

func TestParseConcurrent(t *testing.T) {
	t.Parallel()
	body := exampleBody(t, "Observation-example.json")
	want, err := mustParse(t, body).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				r, err := Parse(body)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := r.Marshal()
				if err != nil || string(got) != string(want) {
					t.Errorf("concurrent marshal differs (%v)", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func exampleBody(t testing.TB, name string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(specdata.Dir(t), "fhir-r4", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func mustParse(t testing.TB, body []byte) *Resource {
	t.Helper()
	r, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"Patient-example.json", "Observation-example.json"} {
		body := exampleBody(b, name)
		b.Run(strings.TrimSuffix(name, "-example.json"), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := Parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	for _, name := range []string{"Patient-example.json", "Observation-example.json"} {
		r := mustParse(b, exampleBody(b, name))
		b.Run(strings.TrimSuffix(name, "-example.json"), func(b *testing.B) {
			for b.Loop() {
				if _, err := r.Marshal(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEnvelope measures the checks Parse runs before the library.
func BenchmarkEnvelope(b *testing.B) {
	body := exampleBody(b, "Patient-example.json")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := checkEnvelope(body); err != nil {
			b.Fatal(err)
		}
	}
}
