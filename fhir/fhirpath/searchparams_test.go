package fhirpath

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telehub/telehub/internal/specdata"
)

// TestSearchParameterExpressions compiles the expression of every R4
// SearchParameter and evaluates it over every specification example of the
// types it applies to: none may fail, as the search package runs them on
// every write.
func TestSearchParameterExpressions(t *testing.T) {
	shared := specdata.Dir(t)
	f, err := os.Open(filepath.Join(shared, "fhir-r4", "definitions", "search-parameters.json.gz"))
	if err != nil {
		t.Skipf("search parameters not available: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		Entry []struct {
			Resource struct {
				ID         string   `json:"id"`
				Base       []string `json:"base"`
				Expression string   `json:"expression"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.NewDecoder(zr).Decode(&bundle); err != nil {
		t.Fatal(err)
	}
	examples := loadExamples(t, filepath.Join(shared, "fhir-r4", "examples"))
	evaluated, nonEmpty := 0, 0
	for _, e := range bundle.Entry {
		sp := e.Resource
		if sp.Expression == "" {
			continue
		}
		expr, err := Compile(sp.Expression)
		if err != nil {
			t.Errorf("SearchParameter %s: %v", sp.ID, err)
			continue
		}
		for _, base := range sp.Base {
			for _, res := range examples[base] {
				got, err := expr.Evaluate(res)
				if err != nil {
					t.Errorf("SearchParameter %s on %s/%v: %v", sp.ID, base, res.(map[string]any)["id"], err)
				}
				evaluated++
				if len(got) > 0 {
					nonEmpty++
				}
			}
		}
	}
	t.Logf("%d evaluations, %d with values", evaluated, nonEmpty)
}

// loadExamples reads the specification's examples, grouped by resource type.
func loadExamples(t testing.TB, dir string) map[string][]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Skipf("examples not available: %v", err)
	}
	byType := map[string][]any{}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := decodeJSON(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rt, _ := v.(map[string]any)["resourceType"].(string)
		if rt == "" || strings.HasPrefix(filepath.Base(name), ".") {
			continue
		}
		byType[rt] = append(byType[rt], v)
	}
	return byType
}

// TestExamplesAreFullyTyped walks every specification example with
// descendants(): every element must be known to the model and typed.
func TestExamplesAreFullyTyped(t *testing.T) {
	examples := loadExamples(t, filepath.Join(specdata.Dir(t), "fhir-r4", "examples"))
	expr := MustCompile("descendants()")
	untyped := map[string]int{}
	for rt, list := range examples {
		for _, res := range list {
			got, err := expr.Evaluate(res)
			if err != nil {
				t.Errorf("%s/%v: %v", rt, res.(map[string]any)["id"], err)
				continue
			}
			ev := &evaluator{model: fhirModel()}
			for _, it := range append(got, itemOf(res, "")) {
				if it.Type == "" || strings.HasPrefix(it.Type, "System.") {
					untyped[rt]++
				}
				m, _ := it.Value.(map[string]any)
				for k := range m {
					k = strings.TrimPrefix(k, "_")
					if k != "resourceType" && k != "fhir_comments" && ev.jsonKeyElement(it.Type, k) == nil {
						t.Errorf("%s/%v: %s has no element %s", rt, res.(map[string]any)["id"], it.Type, k)
					}
				}
			}
		}
	}
	for rt, n := range untyped {
		t.Errorf("%s examples: %d items without a FHIR type", rt, n)
	}
}
