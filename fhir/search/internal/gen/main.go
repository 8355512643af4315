// Command gen turns the FHIR R4 SearchParameter definitions (a collection
// Bundle, gzipped JSON) into the compact tab-separated table package search
// embeds, so the server needs nothing but its binary at run time.
//
// One row per (base resource type, code), columns:
//
//	type  code  kind  id  xpathUsage  targets  components  expression
//
// id is the definition's id: its canonical URL is
// "http://hl7.org/fhir/SearchParameter/" + id for every core definition (the
// generator checks).
// targets is a comma-separated list of resource types; components is a
// ";"-separated list of "code=expression" (the code of the component's
// definition, its expression relative to the composite's); expression is the
// part of the definition's expression that applies to the row's type (the
// "|"-separated alternatives that start with that type). Parameters defined on
// Resource or DomainResource keep one row under that base: the registry applies
// them to every type.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"

	"github.com/telehub/telehub/fhir/fhirpath"
	"github.com/telehub/telehub/internal/specdata"
)

// coreURL prefixes the canonical URL of every core SearchParameter.
const coreURL = "http://hl7.org/fhir/SearchParameter/"

type searchParameter struct {
	ID         string   `json:"id"`
	URL        string   `json:"url"`
	Code       string   `json:"code"`
	Base       []string `json:"base"`
	Type       string   `json:"type"`
	Expression string   `json:"expression"`
	XPathUsage string   `json:"xpathUsage"`
	Target     []string `json:"target"`
	Component  []struct {
		Definition string `json:"definition"`
		Expression string `json:"expression"`
	} `json:"component"`
}

func main() {
	in := flag.String("in", "", "gzipped Bundle of SearchParameter resources")
	out := flag.String("out", "registry.tsv", "table to write")
	flag.Parse()
	params, err := load(*in)
	if err != nil {
		log.Fatal(err)
	}
	rows, err := tabulate(params)
	if err != nil {
		log.Fatal(err)
	}
	if err := write(*out, rows); err != nil {
		log.Fatal(err)
	}
	log.Printf("gen: %d definitions, %d rows written to %s", len(params), len(rows), *out)
}

func load(path string) ([]searchParameter, error) {
	resources, err := specdata.ReadBundle(path)
	if err != nil {
		return nil, fmt.Errorf("gen: %w", err)
	}
	params := make([]searchParameter, 0, len(resources))
	for _, r := range resources {
		var p searchParameter
		if err := json.Unmarshal(r, &p); err != nil {
			return nil, fmt.Errorf("gen: decode entry: %w", err)
		}
		params = append(params, p)
	}
	return params, nil
}

// tabulate keeps the definitions that describe the specification's own search
// (not its illustrative "example*" ones), one row per base type.
func tabulate(params []searchParameter) ([][]string, error) {
	codeByURL := map[string]string{}
	for _, p := range params {
		codeByURL[p.URL] = p.Code
	}
	seen := map[string]bool{}
	var rows [][]string
	for _, p := range params {
		if strings.HasPrefix(p.ID, "example") {
			continue
		}
		if p.URL != coreURL+p.ID {
			return nil, fmt.Errorf("gen: %s: url %s is not %s+id", p.ID, p.URL, coreURL)
		}
		components, err := componentsOf(p, codeByURL)
		if err != nil {
			return nil, err
		}
		for _, base := range p.Base {
			key := base + "\t" + p.Code
			if seen[key] {
				return nil, fmt.Errorf("gen: %s: %s defined twice", p.ID, key)
			}
			seen[key] = true
			rows = append(rows, []string{
				base, p.Code, p.Type, p.ID, p.XPathUsage,
				strings.Join(p.Target, ","), components, expressionFor(base, p.Expression),
			})
		}
	}
	for _, r := range rows {
		for _, cell := range r {
			if strings.ContainsAny(cell, "\t\n") {
				return nil, fmt.Errorf("gen: %s %s: separator inside a cell: %q", r[0], r[1], cell)
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i][0] != rows[j][0] {
			return rows[i][0] < rows[j][0]
		}
		return rows[i][1] < rows[j][1]
	})
	return rows, nil
}

func componentsOf(p searchParameter, codeByURL map[string]string) (string, error) {
	var parts []string
	for _, c := range p.Component {
		code, ok := codeByURL[c.Definition]
		if !ok {
			return "", fmt.Errorf("gen: %s: unknown component %s", p.ID, c.Definition)
		}
		if strings.ContainsAny(c.Expression, ";=") && !strings.Contains(c.Expression, "'") {
			return "", fmt.Errorf("gen: %s: component expression %q needs escaping", p.ID, c.Expression)
		}
		parts = append(parts, code+"="+oneLine(c.Expression))
	}
	return strings.Join(parts, ";"), nil
}

// expressionFor keeps the alternatives of expr that apply to typ. Expressions
// shared by several types list one alternative per type ("Patient.name |
// Person.name"); an alternative applies when it starts with the type's name.
func expressionFor(typ, expr string) string {
	var kept []string
	for _, alt := range fhirpath.SplitUnion(oneLine(expr)) {
		s := strings.TrimLeft(alt, "(")
		if strings.HasPrefix(s, typ) && (len(s) == len(typ) || !isNameChar(s[len(typ)])) {
			kept = append(kept, alt)
		}
	}
	if len(kept) == 0 {
		// Expressions not rooted at the type (none in R4 but harmless) are kept whole.
		return oneLine(expr)
	}
	return strings.Join(kept, " | ")
}

func isNameChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func write(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "# Code generated by fhir/search/internal/gen from the FHIR R4 SearchParameter definitions. DO NOT EDIT.")
	fmt.Fprintln(w, "# type\tcode\tkind\tid\txpathUsage\ttargets\tcomponents\texpression")
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("gen: write %s: %w", path, err)
	}
	return f.Close()
}
