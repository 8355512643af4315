// Command genterm turns the FHIR R4 terminology, structure and compartment
// definitions into the compact table package search embeds
// (terminology.json.gz), so the server needs nothing but its binary:
//
//   - bindings: for each resource type and token parameter whose every
//     expression alternative is a plain code element with a required binding
//     to a value set drawn from one code system, that system (so "male" is
//     also indexed as "http://hl7.org/fhir/administrative-gender|male");
//   - valueSets: the value sets whose expansion is enumerable from their
//     compose alone (concept lists, whole code systems of at most
//     maxWholeSystem concepts, other enumerable value sets; no filters, no
//     excludes), as system → codes;
//   - hierarchies: for each code system whose concepts nest (or name a
//     parent property), each code's parent codes, for ":above" and ":below";
//   - compartments: for each compartment, each resource type's parameters
//     that place a resource in it.
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/telehub/telehub/internal/specdata"
)

// maxWholeSystem bounds the code systems a value set may include whole: the
// larger ones (v3 vocabularies) would make the table big for little use.
const maxWholeSystem = 500

// maxValueSet bounds the codes of one value set kept in the table.
const maxValueSet = 2000

// Table is what the generator writes (and package search reads).
type Table struct {
	Bindings     map[string]map[string]string   `json:"bindings"`
	ValueSets    map[string]map[string][]string `json:"valueSets"`
	Hierarchies  map[string]map[string][]string `json:"hierarchies"`
	Compartments map[string]map[string][]string `json:"compartments"`
}

type concept struct {
	Code     string    `json:"code"`
	Concept  []concept `json:"concept"`
	Property []struct {
		Code      string `json:"code"`
		ValueCode string `json:"valueCode"`
	} `json:"property"`
}

type codeSystem struct {
	ResourceType string    `json:"resourceType"`
	URL          string    `json:"url"`
	Content      string    `json:"content"`
	Concept      []concept `json:"concept"`
}

type include struct {
	System   string   `json:"system"`
	ValueSet []string `json:"valueSet"`
	Concept  []struct {
		Code string `json:"code"`
	} `json:"concept"`
	Filter []json.RawMessage `json:"filter"`
}

type valueSet struct {
	ResourceType string `json:"resourceType"`
	URL          string `json:"url"`
	Compose      *struct {
		Include []include         `json:"include"`
		Exclude []json.RawMessage `json:"exclude"`
	} `json:"compose"`
}

type structureDefinition struct {
	Kind     string `json:"kind"`
	Type     string `json:"type"`
	Abstract bool   `json:"abstract"`
	Snapshot struct {
		Element []struct {
			Path string `json:"path"`
			Type []struct {
				Code string `json:"code"`
			} `json:"type"`
			Binding *struct {
				Strength string `json:"strength"`
				ValueSet string `json:"valueSet"`
			} `json:"binding"`
		} `json:"element"`
	} `json:"snapshot"`
}

type compartmentDefinition struct {
	Code     string `json:"code"`
	Resource []struct {
		Code  string   `json:"code"`
		Param []string `json:"param"`
	} `json:"resource"`
}

func main() {
	defs := flag.String("defs", "", "folder of the FHIR R4 definitions (gzipped Bundles)")
	registry := flag.String("registry", "registry.tsv", "the search parameter table (internal/gen)")
	out := flag.String("out", "terminology.json.gz", "table to write")
	flag.Parse()
	t, err := build(*defs, *registry)
	if err != nil {
		log.Fatal(err)
	}
	if err := write(*out, t); err != nil {
		log.Fatal(err)
	}
	log.Printf("genterm: %d binding types, %d value sets, %d hierarchies, %d compartments written to %s",
		len(t.Bindings), len(t.ValueSets), len(t.Hierarchies), len(t.Compartments), *out)
}

func build(defs, registry string) (*Table, error) {
	term, err := load(defs + "/terminology.json.gz")
	if err != nil {
		return nil, err
	}
	systems := map[string]codeSystem{}
	valueSets := map[string]valueSet{}
	for _, raw := range term {
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("genterm: %w", err)
		}
		switch head.ResourceType {
		case "CodeSystem":
			var cs codeSystem
			if err := json.Unmarshal(raw, &cs); err != nil {
				return nil, fmt.Errorf("genterm: code system: %w", err)
			}
			systems[cs.URL] = cs
		case "ValueSet":
			var vs valueSet
			if err := json.Unmarshal(raw, &vs); err != nil {
				return nil, fmt.Errorf("genterm: value set: %w", err)
			}
			valueSets[vs.URL] = vs
		}
	}
	t := &Table{
		ValueSets:   map[string]map[string][]string{},
		Hierarchies: map[string]map[string][]string{},
	}
	for url := range valueSets {
		if codes, ok := expand(url, valueSets, systems, 0); ok && count(codes) <= maxValueSet {
			t.ValueSets[url] = codes
		}
	}
	for url, cs := range systems {
		if parents := hierarchy(cs); len(parents) > 0 {
			t.Hierarchies[url] = parents
		}
	}
	if t.Bindings, err = bindings(defs, registry, valueSets); err != nil {
		return nil, err
	}
	if t.Compartments, err = compartments(defs); err != nil {
		return nil, err
	}
	return t, nil
}

func load(path string) ([]json.RawMessage, error) {
	resources, err := specdata.ReadBundle(path)
	if err != nil {
		return nil, fmt.Errorf("genterm: %w", err)
	}
	return resources, nil
}

func count(codes map[string][]string) int {
	n := 0
	for _, c := range codes {
		n += len(c)
	}
	return n
}

// expand enumerates a value set from its compose, or reports false.
func expand(url string, valueSets map[string]valueSet, systems map[string]codeSystem, depth int) (map[string][]string, bool) {
	vs, ok := valueSets[strings.SplitN(url, "|", 2)[0]]
	if !ok || vs.Compose == nil || len(vs.Compose.Exclude) > 0 || len(vs.Compose.Include) == 0 || depth > 5 {
		return nil, false
	}
	out := map[string][]string{}
	for _, inc := range vs.Compose.Include {
		if len(inc.Filter) > 0 {
			return nil, false
		}
		for _, imported := range inc.ValueSet {
			codes, ok := expand(imported, valueSets, systems, depth+1)
			if !ok || inc.System != "" {
				return nil, false // an intersection with a system: not worth it
			}
			for sys, cs := range codes {
				out[sys] = append(out[sys], cs...)
			}
		}
		if inc.System == "" {
			continue
		}
		if len(inc.Concept) > 0 {
			for _, c := range inc.Concept {
				out[inc.System] = append(out[inc.System], c.Code)
			}
			continue
		}
		cs, ok := systems[inc.System]
		if !ok || cs.Content != "complete" {
			return nil, false
		}
		var codes []string
		walk(cs.Concept, func(c concept, _ string) { codes = append(codes, c.Code) }, "")
		if len(codes) == 0 || len(codes) > maxWholeSystem {
			return nil, false
		}
		out[inc.System] = append(out[inc.System], codes...)
	}
	for sys, cs := range out {
		sort.Strings(cs)
		out[sys] = dedupe(cs)
	}
	return out, len(out) > 0
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func walk(cs []concept, visit func(c concept, parent string), parent string) {
	for _, c := range cs {
		visit(c, parent)
		walk(c.Concept, visit, c.Code)
	}
}

// hierarchy gives each code's parents: the concept it nests in and the
// codes of its "parent" or "subsumedBy" properties.
func hierarchy(cs codeSystem) map[string][]string {
	parents := map[string][]string{}
	walk(cs.Concept, func(c concept, parent string) {
		if parent != "" {
			parents[c.Code] = append(parents[c.Code], parent)
		}
		for _, p := range c.Property {
			if (p.Code == "parent" || p.Code == "subsumedBy") && p.ValueCode != "" {
				parents[c.Code] = append(parents[c.Code], p.ValueCode)
			}
		}
	}, "")
	for code, ps := range parents {
		sort.Strings(ps)
		parents[code] = dedupe(ps)
	}
	return parents
}

var simplePath = regexp.MustCompile(`^[A-Z][A-Za-z]*(\.[a-z][A-Za-z]*)+$`)

// bindings finds the token parameters that select only code elements bound
// (required) to a value set of one code system.
func bindings(defs, registry string, valueSets map[string]valueSet) (map[string]map[string]string, error) {
	sds, err := load(defs + "/structure-definitions.json.gz")
	if err != nil {
		return nil, err
	}
	// element path → its bound system, or "" for a code element without one.
	systemOf := map[string]string{}
	for _, raw := range sds {
		var sd structureDefinition
		if err := json.Unmarshal(raw, &sd); err != nil {
			return nil, fmt.Errorf("genterm: structure definition: %w", err)
		}
		if sd.Kind != "resource" {
			continue
		}
		for _, el := range sd.Snapshot.Element {
			if len(el.Type) != 1 || el.Type[0].Code != "code" {
				continue
			}
			system := ""
			if b := el.Binding; b != nil && b.Strength == "required" {
				system = singleSystem(b.ValueSet, valueSets)
			}
			systemOf[el.Path] = system
		}
	}
	f, err := os.Open(registry)
	if err != nil {
		return nil, fmt.Errorf("genterm: %w", err)
	}
	defer f.Close()
	out := map[string]map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "\t")
		if len(cells) != 8 || cells[2] != "token" || cells[7] == "" {
			continue
		}
		system := ""
		for i, alt := range strings.Split(cells[7], " | ") {
			s, ok := systemOf[strings.TrimSpace(alt)]
			if !ok || s == "" || !simplePath.MatchString(strings.TrimSpace(alt)) || (i > 0 && s != system) {
				system = ""
				break
			}
			system = s
		}
		if system == "" {
			continue
		}
		if out[cells[0]] == nil {
			out[cells[0]] = map[string]string{}
		}
		out[cells[0]][cells[1]] = system
	}
	return out, sc.Err()
}

// singleSystem returns the one code system a value set draws from, or "".
func singleSystem(url string, valueSets map[string]valueSet) string {
	vs, ok := valueSets[strings.SplitN(url, "|", 2)[0]]
	if !ok || vs.Compose == nil {
		return ""
	}
	system := ""
	for _, inc := range vs.Compose.Include {
		if inc.System == "" || len(inc.ValueSet) > 0 || (system != "" && inc.System != system) {
			return ""
		}
		system = inc.System
	}
	return system
}

func compartments(defs string) (map[string]map[string][]string, error) {
	raws, err := load(defs + "/compartment-definitions.json.gz")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string][]string{}
	for _, raw := range raws {
		var cd compartmentDefinition
		if err := json.Unmarshal(raw, &cd); err != nil {
			return nil, fmt.Errorf("genterm: compartment definition: %w", err)
		}
		byType := map[string][]string{}
		for _, r := range cd.Resource {
			var params []string
			for _, p := range r.Param {
				if p != "{def}" {
					params = append(params, p)
				}
			}
			if len(params) > 0 {
				byType[r.Code] = params
			}
		}
		out[cd.Code] = byType
	}
	return out, nil
}

func write(path string, t *Table) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("genterm: %w", err)
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		f.Close()
		return fmt.Errorf("genterm: %w", err)
	}
	if err := json.NewEncoder(zw).Encode(t); err != nil {
		f.Close()
		return fmt.Errorf("genterm: write %s: %w", path, err)
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return fmt.Errorf("genterm: write %s: %w", path, err)
	}
	return f.Close()
}
