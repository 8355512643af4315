package jsonpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/telehub/telehub/internal/specdata"
)

type patchCase struct {
	name            string
	doc, patch      string
	want            string // expected document; "" when an error is expected
	errIndex        int    // index of the failing operation when want == ""
	errSubstr       string // substring of the error message
	malformed       bool   // the error is about the patch itself
	exactOutputText bool   // compare bytes, not JSON values
}

// rfcAppendixA holds the examples of RFC 6902 Appendix A.
var rfcAppendixA = []patchCase{
	{name: "A.1 adding an object member", doc: `{"foo":"bar"}`, patch: `[{"op":"add","path":"/baz","value":"qux"}]`, want: `{"baz":"qux","foo":"bar"}`},
	{name: "A.2 adding an array element", doc: `{"foo":["bar","baz"]}`, patch: `[{"op":"add","path":"/foo/1","value":"qux"}]`, want: `{"foo":["bar","qux","baz"]}`},
	{name: "A.3 removing an object member", doc: `{"baz":"qux","foo":"bar"}`, patch: `[{"op":"remove","path":"/baz"}]`, want: `{"foo":"bar"}`},
	{name: "A.4 removing an array element", doc: `{"foo":["bar","qux","baz"]}`, patch: `[{"op":"remove","path":"/foo/1"}]`, want: `{"foo":["bar","baz"]}`},
	{name: "A.5 replacing a value", doc: `{"baz":"qux","foo":"bar"}`, patch: `[{"op":"replace","path":"/baz","value":"boo"}]`, want: `{"baz":"boo","foo":"bar"}`},
	{name: "A.6 moving a value", doc: `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`, patch: `[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`, want: `{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`},
	{name: "A.7 moving an array element", doc: `{"foo":["all","grass","cows","eat"]}`, patch: `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`, want: `{"foo":["all","cows","eat","grass"]}`},
	{name: "A.8 testing a value: success", doc: `{"baz":"qux","foo":["a",2,"c"]}`, patch: `[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`, want: `{"baz":"qux","foo":["a",2,"c"]}`},
	{name: "A.9 testing a value: error", doc: `{"baz":"qux"}`, patch: `[{"op":"test","path":"/baz","value":"bar"}]`, errIndex: 0, errSubstr: "test failed"},
	{name: "A.10 adding a nested member object", doc: `{"foo":"bar"}`, patch: `[{"op":"add","path":"/child","value":{"grandchild":{}}}]`, want: `{"foo":"bar","child":{"grandchild":{}}}`},
	{name: "A.11 ignoring unrecognized elements", doc: `{"foo":"bar"}`, patch: `[{"op":"add","path":"/baz","value":"qux","xyz":123}]`, want: `{"foo":"bar","baz":"qux"}`},
	{name: "A.12 adding to a nonexistent target", doc: `{"foo":"bar"}`, patch: `[{"op":"add","path":"/baz/bat","value":"qux"}]`, errIndex: 0, errSubstr: "/baz does not exist"},
	{name: "A.13 invalid JSON patch document", doc: `{"foo":"bar"}`, patch: `[{"op":"add","path":"/baz","value":"qux","op":"remove"}]`, errIndex: 0, errSubstr: `member "op" appears more than once`, malformed: true},
	{name: "A.14 ~ escape ordering", doc: `{"/":9,"~1":10}`, patch: `[{"op":"test","path":"/~01","value":10}]`, want: `{"/":9,"~1":10}`},
	{name: "A.15 comparing strings and numbers", doc: `{"/":9,"~1":10}`, patch: `[{"op":"test","path":"/~01","value":"10"}]`, errIndex: 0, errSubstr: "test failed"},
	{name: "A.16 adding an array value", doc: `{"foo":["bar"]}`, patch: `[{"op":"add","path":"/foo/-","value":["abc","def"]}]`, want: `{"foo":["bar",["abc","def"]]}`},
}

// edgeCases covers what the appendix does not.
var edgeCases = []patchCase{
	{name: "replace the whole document", doc: `{"a":1}`, patch: `[{"op":"replace","path":"","value":[1]}]`, want: `[1]`},
	{name: "add at the root replaces", doc: `{"a":1}`, patch: `[{"op":"add","path":"","value":{"b":2}}]`, want: `{"b":2}`},
	{name: "~1 in a member name", doc: `{"a/b":1}`, patch: `[{"op":"replace","path":"/a~1b","value":2}]`, want: `{"a/b":2}`},
	{name: "~0 in a member name", doc: `{"m~n":1}`, patch: `[{"op":"remove","path":"/m~0n"}]`, want: `{}`},
	{name: "bad escape", doc: `{"a":1}`, patch: `[{"op":"remove","path":"/a~2"}]`, errIndex: 0, errSubstr: "bad escape", malformed: true},
	{name: "empty member name", doc: `{"":1}`, patch: `[{"op":"replace","path":"/","value":2}]`, want: `{"":2}`},
	{name: "pointer without slash", doc: `{"a":1}`, patch: `[{"op":"remove","path":"a"}]`, errIndex: 0, errSubstr: "not a JSON pointer", malformed: true},
	{name: "append at index len", doc: `[1,2]`, patch: `[{"op":"add","path":"/2","value":3}]`, want: `[1,2,3]`},
	{name: "add past the end", doc: `[1,2]`, patch: `[{"op":"add","path":"/3","value":3}]`, errIndex: 0, errSubstr: "out of bounds"},
	{name: "leading zero index", doc: `[1,2]`, patch: `[{"op":"remove","path":"/01"}]`, errIndex: 0, errSubstr: "not an array index"},
	{name: "negative index", doc: `[1,2]`, patch: `[{"op":"remove","path":"/-1"}]`, errIndex: 0, errSubstr: "not an array index"},
	{name: "remove with -", doc: `[1,2]`, patch: `[{"op":"remove","path":"/-"}]`, errIndex: 0, errSubstr: "past the end"},
	{name: "remove missing member", doc: `{"a":1}`, patch: `[{"op":"remove","path":"/b"}]`, errIndex: 0, errSubstr: "/b: does not exist"},
	{name: "replace missing member", doc: `{"a":1}`, patch: `[{"op":"replace","path":"/b","value":1}]`, errIndex: 0, errSubstr: "does not exist"},
	{name: "add null value", doc: `{}`, patch: `[{"op":"add","path":"/a","value":null}]`, want: `{"a":null}`},
	{name: "missing value", doc: `{}`, patch: `[{"op":"add","path":"/a"}]`, errIndex: 0, errSubstr: "missing value", malformed: true},
	{name: "missing path", doc: `{}`, patch: `[{"op":"add","value":1}]`, errIndex: 0, errSubstr: "missing path", malformed: true},
	{name: "missing from", doc: `{"a":1}`, patch: `[{"op":"copy","path":"/b"}]`, errIndex: 0, errSubstr: "missing from", malformed: true},
	{name: "unknown op", doc: `{}`, patch: `[{"op":"merge","path":"/a","value":1}]`, errIndex: 0, errSubstr: `unknown operation "merge"`, malformed: true},
	{name: "move into own child", doc: `{"a":{"b":1}}`, patch: `[{"op":"move","from":"/a","path":"/a/c"}]`, errIndex: 0, errSubstr: "own child"},
	{name: "move onto itself", doc: `{"a":{"b":1}}`, patch: `[{"op":"move","from":"/a","path":"/a"}]`, want: `{"a":{"b":1}}`},
	{name: "copy then change the copy", doc: `{"a":{"b":1}}`, patch: `[{"op":"copy","from":"/a","path":"/c"},{"op":"replace","path":"/c/b","value":2}]`, want: `{"a":{"b":1},"c":{"b":2}}`},
	{name: "test numbers numerically", doc: `{"n":1.50}`, patch: `[{"op":"test","path":"/n","value":1.5},{"op":"test","path":"/n","value":15e-1}]`, want: `{"n":1.50}`},
	{name: "test objects ignore member order", doc: `{"o":{"a":1,"b":[1,{"c":null}]}}`, patch: `[{"op":"test","path":"/o","value":{"b":[1,{"c":null}],"a":1}}]`, want: `{"o":{"a":1,"b":[1,{"c":null}]}}`},
	{name: "test array order matters", doc: `{"a":[1,2]}`, patch: `[{"op":"test","path":"/a","value":[2,1]}]`, errIndex: 0, errSubstr: "test failed"},
	{name: "test null vs absent", doc: `{"a":null}`, patch: `[{"op":"test","path":"/b","value":null}]`, errIndex: 0, errSubstr: "does not exist"},
	{name: "malformed later operation applies nothing", doc: `{"a":1}`, patch: `[{"op":"remove","path":"/a"},{"op":"remove"}]`, errIndex: 1, errSubstr: "missing path", malformed: true},
	{name: "second operation fails", doc: `{"a":1}`, patch: `[{"op":"remove","path":"/a"},{"op":"remove","path":"/a"}]`, errIndex: 1, errSubstr: "does not exist"},
	{name: "numbers keep their text", doc: `{"v":1.50,"big":12345678901234567890123}`, patch: `[{"op":"add","path":"/w","value":2.000}]`, want: `{"big":12345678901234567890123,"v":1.50,"w":2.000}`, exactOutputText: true},
	{name: "markup is not escaped", doc: `{"div":"<p>a & b</p>"}`, patch: `[{"op":"test","path":"/div","value":"<p>a & b</p>"}]`, want: `{"div":"<p>a & b</p>"}`, exactOutputText: true},
	{name: "huge exponents compare cheaply", doc: `{"n":1e999999999}`, patch: `[{"op":"test","path":"/n","value":10e999999998}]`, want: `{"n":1e999999999}`},
}

func TestApply(t *testing.T) {
	t.Parallel()
	for _, group := range [][]patchCase{rfcAppendixA, edgeCases} {
		for _, tc := range group {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				runCase(t, tc)
			})
		}
	}
}

func runCase(t *testing.T, tc patchCase) {
	t.Helper()
	doc := []byte(tc.doc)
	before := append([]byte(nil), doc...)
	got, err := Apply(doc, []byte(tc.patch))
	if !bytes.Equal(doc, before) {
		t.Fatalf("Apply modified its input: %s", doc)
	}
	if tc.want == "" {
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("Apply = %s, %v; want *Error", got, err)
		}
		if pe.Index != tc.errIndex || !strings.Contains(pe.Message, tc.errSubstr) || pe.Malformed != tc.malformed {
			t.Errorf("error = %+v, want operation %d, a message containing %q, malformed %v", pe, tc.errIndex, tc.errSubstr, tc.malformed)
		}
		if got != nil {
			t.Errorf("Apply returned a document with its error: %s", got)
		}
		return
	}
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if tc.exactOutputText {
		if string(got) != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
		return
	}
	if !sameJSON(t, got, []byte(tc.want)) {
		t.Errorf("got %s, want %s", got, tc.want)
	}
}

func TestMalformedInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, patch, msg string
		malformed             bool // the patch is at fault, not the document
	}{
		{"patch not an array", `{}`, `{"op":"add"}`, "must be a JSON array", true},
		{"patch not JSON", `{}`, `[`, "the patch is not JSON", true},
		{"operation not an object", `{}`, `[1]`, "an operation must be a JSON object", true},
		{"path not a string", `{}`, `[{"op":"remove","path":1}]`, `"path" must be a string`, true},
		{"op not a string", `{}`, `[{"op":true,"path":"/a"}]`, `"op" must be a string`, true},
		{"document not JSON", `{`, `[]`, "document is not JSON", false},
		{"trailing data", `{} {}`, `[]`, "document is not JSON", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Apply([]byte(tt.doc), []byte(tt.patch))
			var pe *Error
			if !errors.As(err, &pe) || !strings.Contains(pe.Message, tt.msg) || pe.Malformed != tt.malformed {
				t.Errorf("error = %+v, want an *Error containing %q, malformed %v", err, tt.msg, tt.malformed)
			}
		})
	}
}

// officialCase is one entry of the FHIR test cases' json-patch-tests.json.
type officialCase struct {
	Comment  string          `json:"comment"`
	Doc      json.RawMessage `json:"doc"`
	Patch    json.RawMessage `json:"patch"`
	Expected json.RawMessage `json:"expected"`
	Error    string          `json:"error"`
}

func TestOfficialCases(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(filepath.Join(specdata.Dir(t), "fhir-test-cases", "r4", "patch", "json-patch-tests.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []officialCase
	if err := json.Unmarshal(body, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		t.Run(c.Comment, func(t *testing.T) {
			got, err := Apply(c.Doc, c.Patch)
			if c.Error != "" {
				if err == nil {
					t.Errorf("Apply = %s, want an error (%s)", got, c.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !sameJSON(t, got, c.Expected) {
				t.Errorf("got %s, want %s", got, c.Expected)
			}
		})
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	x, err := decode(a)
	if err != nil {
		t.Fatalf("bad JSON %s: %v", a, err)
	}
	y, err := decode(b)
	if err != nil {
		t.Fatalf("bad JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func BenchmarkApply(b *testing.B) {
	doc := []byte(`{"resourceType":"Patient","id":"p","active":true,"name":[{"family":"Doe","given":["J"]}],"telecom":[{"system":"phone","value":"1"}],"birthDate":"1970-01-01"}`)
	patch := []byte(`[{"op":"test","path":"/active","value":true},{"op":"replace","path":"/name/0/family","value":"Roe"},{"op":"add","path":"/telecom/-","value":{"system":"email","value":"a@b"}},{"op":"remove","path":"/birthDate"}]`)
	for b.Loop() {
		if _, err := Apply(doc, patch); err != nil {
			b.Fatal(err)
		}
	}
}
