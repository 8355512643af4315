package fhirpatch

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/telehub/telehub/internal/specdata"

	"github.com/telehub/telehub/fhir/fhirpath"
	"github.com/telehub/telehub/internal/fhirxml"
)

// officialCase is one case of the official FHIRPath Patch tests.
type officialCase struct {
	Name   string `xml:"name,attr"`
	Mode   string `xml:"mode,attr"`
	Input  inner  `xml:"input"`
	Diff   inner  `xml:"diff"`
	Output *inner `xml:"output"`
	Error  *struct {
		Msg string `xml:"msg,attr"`
	} `xml:"error"`
}

type inner struct {
	XML []byte `xml:",innerxml"`
}

// knownFailures lists the official cases that do not pass, with the reason.
var knownFailures = map[string]string{}

func TestOfficialCases(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(specdata.Dir(t), "fhir-test-cases", "r4", "patch", "fhir-patch-tests.xml"))
	if err != nil {
		t.Skipf("official FHIRPath Patch tests not available: %v", err)
	}
	var suite struct {
		Cases []officialCase `xml:"case"`
	}
	if err := xml.Unmarshal(data, &suite); err != nil {
		t.Fatal(err)
	}
	if len(suite.Cases) == 0 {
		t.Fatal("no case found")
	}
	passed := 0
	for _, c := range suite.Cases {
		t.Run(c.Name, func(t *testing.T) {
			failure := runOfficialCase(c)
			reason, listed := knownFailures[c.Name]
			switch {
			case failure == "" && listed:
				t.Errorf("passes now: remove it from knownFailures (%s)", reason)
			case failure == "":
				passed++
			case listed:
				t.Skipf("known failure (%s): %s", reason, failure)
			default:
				t.Error(failure)
			}
		})
	}
	t.Logf("official FHIRPath Patch cases: %d of %d pass", passed, len(suite.Cases))
}

// runOfficialCase returns why a case fails, or "" when it passes.
func runOfficialCase(c officialCase) string {
	types := fhirpath.Types()
	input, err := fhirxml.ToJSON(c.Input.XML, types)
	if err != nil {
		return "input: " + err.Error()
	}
	diff, err := fhirxml.ToJSON(c.Diff.XML, types)
	if err != nil {
		return "diff: " + err.Error()
	}
	before := bytes.Clone(input)
	got, err := Apply(input, diff)
	if !bytes.Equal(input, before) {
		return "input was modified"
	}
	if c.Error != nil {
		var patchErr *Error
		if !errors.As(err, &patchErr) {
			return fmt.Sprintf("want error %q, got %s (error %v)", c.Error.Msg, got, err)
		}
		return ""
	}
	if err != nil {
		return "unexpected error: " + err.Error()
	}
	if c.Output == nil {
		return "case has neither output nor error"
	}
	want, err := fhirxml.ToJSON(c.Output.XML, types)
	if err != nil {
		return "output: " + err.Error()
	}
	if !sameJSON(got, want) {
		return fmt.Sprintf("got  %s\nwant %s", got, want)
	}
	return ""
}

// sameJSON compares two JSON documents as values, numbers as written.
func sameJSON(a, b []byte) bool {
	va, errA := decodeAny(a)
	vb, errB := decodeAny(b)
	return errA == nil && errB == nil && reflect.DeepEqual(va, vb)
}

func decodeAny(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}
