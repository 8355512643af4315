package fhirpatch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telehub/telehub/internal/specdata"
)

// patch builds a Parameters resource from operations.
func patch(ops ...string) []byte {
	return []byte(`{"resourceType":"Parameters","parameter":[` + strings.Join(ops, ",") + `]}`)
}

// op builds one operation parameter; extra holds further parts.
func op(kind, path string, extra ...string) string {
	parts := append([]string{
		`{"name":"type","valueCode":"` + kind + `"}`,
		`{"name":"path","valueString":` + quote(path) + `}`,
	}, extra...)
	return `{"name":"operation","part":[` + strings.Join(parts, ",") + `]}`
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

func name(n string) string { return `{"name":"name","valueString":"` + n + `"}` }

func intPart(n string, v int) string { return fmt.Sprintf(`{"name":%q,"valueInteger":%d}`, n, v) }

// value is a value part; members is the JSON after the name (a value[x]
// member, or "part":[...]).
func value(members string) string { return `{"name":"value",` + members + `}` }

func TestApply(t *testing.T) {
	t.Parallel()
	const obs = `{"resourceType":"Observation","status":"final","code":{"text":"weight"},"valueQuantity":{"value":72.50,"unit":"kg"}}`
	const pat = `{"resourceType":"Patient","id":"p1","name":[{"family":"Doe","given":["Ann","Bea","Cleo"],"_given":[null,{"id":"g2"},null]}],` +
		`"identifier":[{"value":"a"},{"value":"b"}],"birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://x/t","valueTime":"10:00:00"}]},` +
		`"contained":[{"resourceType":"Organization","id":"o1","name":"Org"}]}`
	tests := []struct {
		name     string
		resource string
		patch    []byte
		want     string // the patched resource, when the patch applies
		errOp    int    // the failing operation, when want is ""
	}{
		{
			name:     "no operation changes nothing",
			resource: obs, patch: patch(),
			want: obs,
		},
		{
			name:     "replace keeps numbers exact",
			resource: obs,
			patch:    patch(op("replace", "Observation.value.value", value(`"valueDecimal":1.50`))),
			want:     `{"resourceType":"Observation","status":"final","code":{"text":"weight"},"valueQuantity":{"value":1.50,"unit":"kg"}}`,
		},
		{
			name:     "replace a choice with another type renames its key",
			resource: obs,
			patch:    patch(op("replace", "Observation.value", value(`"valueString":"heavy"`))),
			want:     `{"resourceType":"Observation","status":"final","code":{"text":"weight"},"valueString":"heavy"}`,
		},
		{
			name:     "add a choice element by its base name",
			resource: `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`,
			patch:    patch(op("add", "Observation", name("value"), value(`"valueBoolean":true`))),
			want:     `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueBoolean":true}`,
		},
		{
			name:     "add a choice element by its typed name",
			resource: `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`,
			patch:    patch(op("add", "Observation", name("valueInteger"), value(`"valueInteger":7`))),
			want:     `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":7}`,
		},
		{
			name:     "add to a choice that has a value fails",
			resource: obs,
			patch:    patch(op("add", "Observation", name("value"), value(`"valueString":"x"`))),
			errOp:    0,
		},
		{
			name:     "add a single element that exists fails",
			resource: pat,
			patch:    patch(op("add", "Patient", name("gender"), value(`"valueCode":"female"`)), op("add", "Patient", name("birthDate"), value(`"valueDate":"1980"`))),
			errOp:    1,
		},
		{
			name:     "add a primitive with an extension",
			resource: `{"resourceType":"Patient"}`,
			patch:    patch(op("add", "Patient", name("gender"), value(`"valueCode":"other","_valueCode":{"extension":[{"url":"http://x/g","valueString":"n"}]}`))),
			want:     `{"resourceType":"Patient","gender":"other","_gender":{"extension":[{"url":"http://x/g","valueString":"n"}]}}`,
		},
		{
			name:     "add a complex value from parts makes arrays where the element repeats",
			resource: `{"resourceType":"Patient"}`,
			patch: patch(op("add", "Patient", name("contact"), value(`"part":[`+
				`{"name":"telecom","valueContactPoint":{"system":"phone","value":"1"}},`+
				`{"name":"telecom","part":[{"name":"system","valueCode":"email"},{"name":"value","valueString":"a@b"}]},`+
				`{"name":"gender","valueCode":"male"}]`))),
			want: `{"resourceType":"Patient","contact":[{"telecom":[{"system":"phone","value":"1"},{"system":"email","value":"a@b"}],"gender":"male"}]}`,
		},
		{
			name:     "add to nothing fails",
			resource: pat,
			patch:    patch(op("add", "Patient.contact", name("gender"), value(`"valueCode":"male"`))),
			errOp:    0,
		},
		{
			name:     "delete of nothing is fine",
			resource: pat,
			patch:    patch(op("delete", "Patient.gender")),
			want:     pat,
		},
		{
			name:     "delete of several elements fails",
			resource: pat,
			patch:    patch(op("delete", "Patient.identifier[0]"), op("delete", "Patient.name.given")),
			errOp:    1,
		},
		{
			name:     "delete from a primitive list keeps extensions aligned",
			resource: pat,
			patch:    patch(op("delete", "Patient.name.given[0]")),
			want: `{"resourceType":"Patient","id":"p1","name":[{"family":"Doe","given":["Bea","Cleo"],"_given":[{"id":"g2"},null]}],` +
				`"identifier":[{"value":"a"},{"value":"b"}],"birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://x/t","valueTime":"10:00:00"}]},` +
				`"contained":[{"resourceType":"Organization","id":"o1","name":"Org"}]}`,
		},
		{
			name:     "delete the only extension of a primitive removes its _field",
			resource: pat,
			patch:    patch(op("delete", "Patient.birthDate.extension('http://x/t')")),
			want: `{"resourceType":"Patient","id":"p1","name":[{"family":"Doe","given":["Ann","Bea","Cleo"],"_given":[null,{"id":"g2"},null]}],` +
				`"identifier":[{"value":"a"},{"value":"b"}],"birthDate":"1970-01-01",` +
				`"contained":[{"resourceType":"Organization","id":"o1","name":"Org"}]}`,
		},
		{
			name:     "delete every item of a list removes the list",
			resource: pat,
			patch:    patch(op("delete", "Patient.identifier[0]"), op("delete", "Patient.identifier[0]"), op("delete", "Patient.contained.name")),
			want: `{"resourceType":"Patient","id":"p1","name":[{"family":"Doe","given":["Ann","Bea","Cleo"],"_given":[null,{"id":"g2"},null]}],` +
				`"birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://x/t","valueTime":"10:00:00"}]},` +
				`"contained":[{"resourceType":"Organization","id":"o1"}]}`,
		},
		{
			name:     "delete the last element of an object removes the object",
			resource: `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`,
			patch:    patch(op("delete", "Observation.code.text")),
			want:     `{"resourceType":"Observation","status":"final"}`,
		},
		{
			name:     "insert into a primitive list",
			resource: pat,
			patch:    patch(op("insert", "Patient.name[0].given", intPart("index", 3), value(`"valueString":"Dee"`)), op("insert", "Patient.name[0].given", intPart("index", 0), value(`"valueString":"Zoe"`))),
			want: `{"resourceType":"Patient","id":"p1","name":[{"family":"Doe","given":["Zoe","Ann","Bea","Cleo","Dee"],"_given":[null,null,{"id":"g2"},null,null]}],` +
				`"identifier":[{"value":"a"},{"value":"b"}],"birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://x/t","valueTime":"10:00:00"}]},` +
				`"contained":[{"resourceType":"Organization","id":"o1","name":"Org"}]}`,
		},
		{
			name:     "insert creates a missing list",
			resource: `{"resourceType":"Patient"}`,
			patch:    patch(op("insert", "Patient.identifier", intPart("index", 0), value(`"valueIdentifier":{"value":"x"}`))),
			want:     `{"resourceType":"Patient","identifier":[{"value":"x"}]}`,
		},
		{
			name:     "insert beyond the end fails",
			resource: pat,
			patch:    patch(op("insert", "Patient.identifier", intPart("index", 3), value(`"valueIdentifier":{"value":"x"}`))),
			errOp:    0,
		},
		{
			name:     "insert into a single element fails",
			resource: pat,
			patch:    patch(op("insert", "Patient.birthDate", intPart("index", 0), value(`"valueDate":"1990"`))),
			errOp:    0,
		},
		{
			name:     "move within a list",
			resource: `{"resourceType":"Patient","identifier":[{"value":"a"},{"value":"b"},{"value":"c"}]}`,
			patch:    patch(op("move", "Patient.identifier", intPart("source", 0), intPart("destination", 2))),
			want:     `{"resourceType":"Patient","identifier":[{"value":"b"},{"value":"c"},{"value":"a"}]}`,
		},
		{
			name:     "move outside a list fails",
			resource: pat,
			patch:    patch(op("move", "Patient.identifier", intPart("source", 0), intPart("destination", 2))),
			errOp:    0,
		},
		{
			name:     "replace in a contained resource",
			resource: pat,
			patch:    patch(op("replace", "Patient.contained.ofType(Organization).name", value(`"valueString":"New"`))),
			want: `{"resourceType":"Patient","id":"p1","name":[{"family":"Doe","given":["Ann","Bea","Cleo"],"_given":[null,{"id":"g2"},null]}],` +
				`"identifier":[{"value":"a"},{"value":"b"}],"birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://x/t","valueTime":"10:00:00"}]},` +
				`"contained":[{"resourceType":"Organization","id":"o1","name":"New"}]}`,
		},
		{
			name:     "replace selected by a filter",
			resource: pat,
			patch:    patch(op("replace", "Patient.identifier.where(value = 'b')", value(`"valueIdentifier":{"system":"s","value":"B"}`))),
			want: `{"resourceType":"Patient","id":"p1","name":[{"family":"Doe","given":["Ann","Bea","Cleo"],"_given":[null,{"id":"g2"},null]}],` +
				`"identifier":[{"value":"a"},{"system":"s","value":"B"}],"birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://x/t","valueTime":"10:00:00"}]},` +
				`"contained":[{"resourceType":"Organization","id":"o1","name":"Org"}]}`,
		},
		{
			name:     "replace with a value of the wrong kind fails",
			resource: pat,
			patch:    patch(op("replace", "Patient.birthDate", value(`"valueBoolean":true`))),
			errOp:    0,
		},
		{
			name:     "replace of several elements fails",
			resource: pat,
			patch:    patch(op("replace", "Patient.identifier", value(`"valueIdentifier":{"value":"x"}`))),
			errOp:    0,
		},
		{
			name:     "replace of the resource itself fails",
			resource: pat,
			patch:    patch(op("replace", "Patient", value(`"valueString":"x"`))),
			errOp:    0,
		},
		{
			name:     "replace of a computed value fails",
			resource: pat,
			patch:    patch(op("replace", "Patient.identifier.count()", value(`"valueInteger":1`))),
			errOp:    0,
		},
		{
			name:     "an invalid path fails",
			resource: pat,
			patch:    patch(op("delete", "Patient.identifier.where(")),
			errOp:    0,
		},
		{
			name:     "an unknown element fails",
			resource: pat,
			patch:    patch(op("delete", "Patient.gender"), op("add", "Patient", name("colour"), value(`"valueString":"x"`))),
			errOp:    1,
		},
		{
			name:     "an unknown operation type fails",
			resource: pat,
			patch:    patch(op("delete", "Patient.gender"), op("copy", "Patient.gender")),
			errOp:    1,
		},
		{
			name:     "a missing part fails",
			resource: pat,
			patch:    patch(op("add", "Patient", value(`"valueCode":"male"`))),
			errOp:    0,
		},
		{
			name:     "a parameter that is not an operation fails",
			resource: pat,
			patch:    []byte(`{"resourceType":"Parameters","parameter":[{"name":"other","valueString":"x"}]}`),
			errOp:    0,
		},
		{
			name:     "a patch that is not Parameters fails",
			resource: pat,
			patch:    []byte(`{"resourceType":"Patient"}`),
			errOp:    -1,
		},
		{
			name:     "a resource without a known type fails",
			resource: `{"resourceType":"Nothing"}`,
			patch:    patch(),
			errOp:    -1,
		},
		{
			name:     "a resource that is not JSON fails",
			resource: `{"resourceType":"Patient"`,
			patch:    patch(),
			errOp:    -1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			input := []byte(tc.resource)
			got, err := Apply(input, tc.patch)
			if string(input) != tc.resource {
				t.Errorf("input modified: %s", input)
			}
			if tc.want == "" {
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("want *Error at operation %d, got %s (error %v)", tc.errOp, got, err)
				}
				if pe.Operation != tc.errOp || pe.Message == "" {
					t.Errorf("error %v: operation %d, want %d", err, pe.Operation, tc.errOp)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !sameJSON(got, []byte(tc.want)) {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !bytes.HasPrefix(got, []byte(`{"resourceType":`)) {
				t.Errorf("resourceType is not first: %s", got)
			}
		})
	}
}

// TestApplyIsAtomic checks that a failing patch returns no resource.
func TestApplyIsAtomic(t *testing.T) {
	t.Parallel()
	got, err := Apply([]byte(`{"resourceType":"Patient","gender":"male"}`),
		patch(op("delete", "Patient.gender"), op("delete", "Patient.name.given(")))
	if err == nil || got != nil {
		t.Fatalf("got %s, %v; want no result and an error", got, err)
	}
}

func BenchmarkApply(b *testing.B) {
	resource, err := os.ReadFile(filepath.Join(specdata.Dir(b), "fhir-r4", "examples", "Patient-example.json"))
	if err != nil {
		b.Skipf("example patient not available: %v", err)
	}
	params := patch(
		op("replace", "Patient.name.where(use = 'official').family", value(`"valueString":"Smith"`)),
		op("add", "Patient", name("identifier"), value(`"valueIdentifier":{"system":"urn:x","value":"42"}`)),
		op("delete", "Patient.telecom[0]"),
	)
	if _, err := Apply(resource, params); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(resource)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Apply(resource, params); err != nil {
			b.Fatal(err)
		}
	}
}
