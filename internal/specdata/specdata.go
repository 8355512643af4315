// Package specdata locates the project's shared reference material: the FHIR
// R4 definitions and examples and the official test suites, kept in a folder
// named "shared" beside the repository. Only tests and generators read it; the
// binary never does.
package specdata

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Root returns the shared folder: "../shared" from the module root, found by
// walking up from the working directory to go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			shared := filepath.Join(dir, "..", "shared")
			if _, err := os.Stat(shared); err != nil {
				return "", err
			}
			return shared, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("specdata: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Dir is Root for tests: it fails the test when the folder cannot be found.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := Root()
	if err != nil {
		tb.Fatalf("shared reference material not found: %v", err)
	}
	return dir
}

// ReadBundle decodes a gzipped collection Bundle, the layout of the files
// under fhir-r4/definitions, and returns the resources of its entries.
func ReadBundle(path string) ([]json.RawMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("specdata: %s: %w", path, err)
	}
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.NewDecoder(zr).Decode(&b); err != nil {
		return nil, fmt.Errorf("specdata: decode %s: %w", path, err)
	}
	resources := make([]json.RawMessage, len(b.Entry))
	for i, e := range b.Entry {
		resources[i] = e.Resource
	}
	return resources, nil
}
