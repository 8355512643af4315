// Command gen writes the element table fhir/model embeds: for every R4
// resource type and complex datatype, the elements _summary and _elements
// need to know about (summary elements, mandatory elements, backbone
// elements with their children, and the datatype of each), read from the
// specification's StructureDefinitions.
//
// It runs from go generate in fhir/model and reads the definitions from the
// shared folder next to the repository root.
package main

import (
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/telehub/telehub/internal/specdata"
)

func main() {
	out := flag.String("o", "elements.json.gz", "output file")
	flag.Parse()
	if err := run(*out); err != nil {
		slog.Error("gen failed", "err", err)
		os.Exit(1)
	}
}

func run(out string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	in := filepath.Join(filepath.Dir(root), "shared", "fhir-r4", "definitions", "structure-definitions.json.gz")
	defs, err := readDefinitions(in)
	if err != nil {
		return err
	}
	table := buildTable(defs)
	return writeTable(out, table)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("gen: no go.mod above the working directory")
		}
		dir = parent
	}
}

type structureDefinition struct {
	ResourceType string `json:"resourceType"`
	Name         string `json:"name"`
	Kind         string `json:"kind"`
	Derivation   string `json:"derivation"`
	Abstract     bool   `json:"abstract"`
	Snapshot     struct {
		Element []elementDefinition `json:"element"`
	} `json:"snapshot"`
}

type elementDefinition struct {
	Path             string `json:"path"`
	Min              int    `json:"min"`
	IsSummary        bool   `json:"isSummary"`
	ContentReference string `json:"contentReference"`
	Type             []struct {
		Code string `json:"code"`
	} `json:"type"`
}

func readDefinitions(path string) ([]structureDefinition, error) {
	resources, err := specdata.ReadBundle(path)
	if err != nil {
		return nil, fmt.Errorf("gen: %w", err)
	}
	var defs []structureDefinition
	for _, r := range resources {
		var sd structureDefinition
		if err := json.Unmarshal(r, &sd); err != nil {
			return nil, fmt.Errorf("gen: decode entry: %w", err)
		}
		isResource := sd.Kind == "resource" && !sd.Abstract
		isDatatype := sd.Kind == "complex-type"
		if sd.ResourceType == "StructureDefinition" && sd.Derivation == "specialization" && (isResource || isDatatype) {
			defs = append(defs, sd)
		}
	}
	return defs, nil
}

// entry is one line of the table.
type entry struct {
	flags    string // "s" summary, "r" mandatory (min > 0), "b" backbone
	ref      string // for an element defined by reference to another (Questionnaire.item.item)
	datatype string // the complex datatype of a single-typed element
}

// buildTable maps each element path to its entry. Only elements with at
// least one flag, or a reference, are kept: absence means "neither summary
// nor mandatory".
func buildTable(defs []structureDefinition) map[string]entry {
	table := map[string]entry{}
	for _, sd := range defs {
		for _, el := range sd.Snapshot.Element {
			if !strings.Contains(el.Path, ".") {
				continue
			}
			var e entry
			if el.IsSummary {
				e.flags += "s"
			}
			if el.Min > 0 {
				e.flags += "r"
			}
			if isBackbone(el) {
				e.flags += "b"
			}
			e.ref = strings.TrimPrefix(el.ContentReference, "#")
			if len(el.Type) == 1 && isComplexDatatype(el.Type[0].Code) {
				e.datatype = el.Type[0].Code
			}
			if e.flags != "" || e.ref != "" {
				table[el.Path] = e
			}
		}
	}
	return table
}

func isBackbone(el elementDefinition) bool {
	for _, t := range el.Type {
		if t.Code == "BackboneElement" || t.Code == "Element" {
			return true
		}
	}
	return false
}

// isComplexDatatype tells the datatypes whose elements a summary filters:
// complex types, but not Extension (whose url and value are not summary
// elements, yet an extension is meaningless without them), nor the
// structural Element, BackboneElement and Resource.
func isComplexDatatype(code string) bool {
	switch code {
	case "Extension", "Element", "BackboneElement", "Resource":
		return false
	}
	return code != "" && code[0] >= 'A' && code[0] <= 'Z'
}

func writeTable(out string, table map[string]entry) error {
	paths := make([]string, 0, len(table))
	for p := range table {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	// One "path flags ref datatype" line per element ("-" for an empty
	// field) keeps the format trivial to read and the output byte-stable.
	for _, p := range paths {
		e := table[p]
		fmt.Fprintf(zw, "%s %s %s %s\n", p, dash(e.flags), dash(e.ref), dash(e.datatype))
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("gen: write %s: %w", out, err)
	}
	return f.Close()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
