package fhirpath

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSearchParameterExpressions compiles the expression of every R4
// SearchParameter and evaluates it over every specification example of the
// types it applies to: none may fail, as the search package runs them on
// every write.
func TestSearchParameterExpressions(t *testing.T) {
	shared := sharedDir(t)
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
