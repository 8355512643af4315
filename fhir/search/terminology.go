package search

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/telehub/telehub/store"
)

//go:generate go run ./internal/genterm -defs ../../../shared/fhir-r4/definitions -registry registry.tsv -out terminology.json.gz

// terminologyTable is generated from the specification's terminology,
// structure and compartment definitions (see internal/genterm): code
// bindings, enumerable value sets, code system hierarchies, compartments.
//
//go:embed terminology.json.gz
var terminologyTable []byte

// terminology is the decoded table.
type terminology struct {
	// Bindings: type → parameter → the code system of its code values.
	Bindings map[string]map[string]string `json:"bindings"`
	// ValueSets: value set URL → system → codes.
	ValueSets map[string]map[string][]string `json:"valueSets"`
	// Hierarchies: system → code → parent codes.
	Hierarchies map[string]map[string][]string `json:"hierarchies"`
	// Compartments: compartment → resource type → parameters.
	Compartments map[string]map[string][]string `json:"compartments"`
	// children: system → code → child codes (Hierarchies inverted).
	children map[string]map[string][]string
}

var defaultTerminology = sync.OnceValue(func() *terminology {
	t, err := decodeTerminology(terminologyTable)
	if err != nil {
		// The table is generated and tested; a broken one is a build defect.
		panic(err)
	}
	return t
})

func decodeTerminology(table []byte) (*terminology, error) {
	zr, err := gzip.NewReader(bytes.NewReader(table))
	if err != nil {
		return nil, fmt.Errorf("search: terminology table: %w", err)
	}
	t := &terminology{}
	if err := json.NewDecoder(zr).Decode(t); err != nil {
		return nil, fmt.Errorf("search: terminology table: %w", err)
	}
	t.children = map[string]map[string][]string{}
	for system, parents := range t.Hierarchies {
		kids := map[string][]string{}
		for code, ps := range parents {
			for _, p := range ps {
				kids[p] = append(kids[p], code)
			}
		}
		for _, k := range kids {
			sort.Strings(k)
		}
		t.children[system] = kids
	}
	return t, nil
}

// BoundSystem returns the code system of the plain code values of parameter
// code of resource type typ (Patient gender: administrative-gender), when the
// element has a required binding to a value set of a single code system;
// "" otherwise.
func BoundSystem(typ, code string) string {
	return defaultTerminology().Bindings[typ][code]
}

// ValueSetCodes returns the codes of a value set ("url" or "url|version"),
// by system, when the specification's compose enumerates them.
func ValueSetCodes(url string) (map[string][]string, bool) {
	url, _, _ = strings.Cut(url, "|")
	codes, ok := defaultTerminology().ValueSets[url]
	return codes, ok
}

// closure returns code and every code reachable from it through next
// (parents for ":above", children for ":below"), code first.
func closure(code string, next map[string][]string) []string {
	out := []string{code}
	seen := map[string]bool{code: true}
	for i := 0; i < len(out); i++ {
		for _, n := range next[out[i]] {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// Subsumed returns the codes of system at or below code (below) or at or
// above it (!below), from the specification's code system hierarchies; false
// when the system has no hierarchy there.
func Subsumed(system, code string, below bool) ([]string, bool) {
	t := defaultTerminology()
	parents, ok := t.Hierarchies[system]
	if !ok {
		return nil, false
	}
	if below {
		return closure(code, t.children[system]), true
	}
	return closure(code, parents), true
}

// CompartmentTypes returns the resource types that can be in a compartment
// ("Patient", "Encounter", "RelatedPerson", "Practitioner", "Device"), sorted.
func CompartmentTypes(compartment string) []string {
	byType := defaultTerminology().Compartments[compartment]
	types := make([]string, 0, len(byType))
	for typ := range byType {
		types = append(types, typ)
	}
	sort.Strings(types)
	return types
}

// CompartmentParams returns the parameters of resourceType that place a
// resource in a compartment (Observation in Patient: subject, performer).
func CompartmentParams(compartment, resourceType string) []string {
	return append([]string(nil), defaultTerminology().Compartments[compartment][resourceType]...)
}

// CompartmentClause returns the clause matching the resources of
// resourceType in the compartment of compartment/id: a reference to it
// through any of the compartment's parameters. It reports false when
// resourceType cannot be in that compartment. The compartment's own resource
// (Patient/123 itself, for $everything) is not matched: the caller reads it.
func CompartmentClause(compartment, id, resourceType string) (store.Clause, bool) {
	params := defaultTerminology().Compartments[compartment][resourceType]
	if len(params) == 0 {
		return store.Clause{}, false
	}
	var clause store.Clause
	for _, p := range params {
		clause.Any = append(clause.Any, store.Condition{Param: p, Op: store.OpExact, Text: compartment + "/" + id})
	}
	return clause, true
}
