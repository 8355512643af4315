package searchclient

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/telehub/telehub/population"
)

// query is one search the Node client runs, and how to compute its answer.
// The JSON fields are what search.mjs reads.
type query struct {
	Name         string       `json:"name"`
	Kind         string       `json:"kind"` // type, system, compartment, everything
	ResourceType string       `json:"resourceType,omitempty"`
	ID           string       `json:"id,omitempty"`
	Compartment  *compartment `json:"compartment,omitempty"`
	Params       [][2]string  `json:"params"`
	// Hook asks the client to let the writer add resources before each
	// next page.
	Hook bool `json:"hook,omitempty"`
	// Post sends a type search as POST [type]/_search (a form body).
	Post bool `json:"post,omitempty"`
	// knownBug, when set, names a server bug this query shows: its
	// failures skip the subtest with the report instead of failing it, and
	// a pass fails it so that the mark is removed once the bug is fixed.
	knownBug string

	expect func(m *model) want
}

type compartment struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
}

// want is the answer of a query over one model.
type want struct {
	// matches are the resources the search finds, in the order the pages
	// must follow when ordered is set.
	matches []string
	ordered bool
	// pageSize is the _count asked for (0: the server's default).
	pageSize int
	// countOnly: _summary=count, a total and no entry.
	countOnly bool
	// noTotal: _total=none, no page may carry a total.
	noTotal bool
	// includes returns what _include/_revinclude must add to a page whose
	// matches are page.
	includes func(m *model, page []string) []string
	// everything is the Patient a $everything must put first.
	everything string
	// extra admits resources beyond matches, which the specification
	// allows but does not require (what $everything's compartment refers
	// to, a Patient in its own compartment).
	extra func(ref string) bool
}

func p(kv ...string) [][2]string {
	out := make([][2]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, [2]string{kv[i], kv[i+1]})
	}
	return out
}

// Code systems and codes of the generated population the queries use.
const (
	loinc      = "http://loinc.org"
	snomed     = "http://snomed.info/sct"
	atc        = "http://www.whocc.no/atc"
	ucum       = "http://unitsofmeasure.org"
	heartRate  = "8867-4"
	hba1c      = "4548-4"
	glucose    = "2339-0"
	bpPanel    = "85354-9"
	diabetes2  = "44054006"
	metformin  = "A10BA02"
	teleconsul = "448337001"
)

// choices are the values the queries search for, picked from the generated
// population so that each query finds a handful to a few hundred resources.
type choices struct {
	commonFamily string // the most frequent official family name
	smallFamily  string // a family name two or three patients share
	gpFamily     string // the family name of practitioner 2
	rich         string // the patient with the most observations
	medicated    string // the patient with the most medication requests
	other        string // another patient, for reference searches
	ins          string // the INS of a patient with a validated identity
	phone        string // the phone number of patient 1
	city         string // the city patient 1 lives in
	email        string // the e-mail address of practitioner 1
}

func choose(m *model) (choices, error) {
	var c choices
	families := map[string]int{}
	for _, r := range m.byType["Patient"] {
		if f := r.strs("name.family"); len(f) > 0 {
			families[f[0]]++
		}
	}
	names := slices.Sorted(maps.Keys(families))
	for _, f := range names {
		if c.commonFamily == "" || families[f] > families[c.commonFamily] {
			c.commonFamily = f
		}
		// A family that no other name starts with, so that a prefix search
		// finds exactly its bearers.
		if c.smallFamily == "" && (families[f] == 2 || families[f] == 3) && !strings.ContainsAny(f, " -") &&
			!slices.ContainsFunc(names, func(o string) bool { return o != f && strings.HasPrefix(fold(o), fold(f)) }) {
			c.smallFamily = f
		}
	}
	if gp := m.byRef["Practitioner/pra-000002"]; gp != nil {
		c.gpFamily = gp.strs("name.family")[0]
	}
	c.rich = mostReferenced(m, "Observation", "subject")
	c.medicated = mostReferenced(m, "MedicationRequest", "subject")
	c.other = "pat-000007"
	if first := m.byRef["Patient/pat-000001"]; first != nil {
		c.phone = first.strs("telecom.value")[0]
		c.city = first.strs("address.city")[0]
	}
	if pra := m.byRef["Practitioner/pra-000001"]; pra != nil {
		c.email = pra.strs("telecom.value")[0]
	}
	for _, r := range m.byType["Patient"] {
		for _, v := range values(r.doc, "identifier") {
			o, _ := v.(map[string]any)
			if o["system"] == population.SystemINSNIR && c.ins == "" {
				c.ins, _ = o["value"].(string)
			}
		}
	}
	if c.commonFamily == "" || c.smallFamily == "" || c.gpFamily == "" || c.rich == "" || c.medicated == "" || c.ins == "" || c.phone == "" || c.email == "" || m.byRef["Patient/"+c.other] == nil {
		return c, fmt.Errorf("population too small to choose the query values: %+v", c)
	}
	return c, nil
}

// mostReferenced returns the id of the patient most resources of typ refer
// to through path (the first id of those tied).
func mostReferenced(m *model, typ, path string) string {
	count := map[string]int{}
	for _, r := range m.byType[typ] {
		for _, s := range r.refs(path) {
			count[s]++
		}
	}
	best := ""
	for _, s := range slices.Sorted(maps.Keys(count)) {
		if best == "" || count[s] > count[best] {
			best = s
		}
	}
	return strings.TrimPrefix(best, "Patient/")
}

// typeOrder is the order of a search without _sort: type, then id.
func typeOrder(rs []*resource) []string { return ordered(rs) }

// subjectIn returns whether r's subject is one of patients.
func subjectIn(path string, patients []*resource) func(*resource) bool {
	set := refSet(patients)
	return func(r *resource) bool {
		return slices.ContainsFunc(r.refs(path), func(s string) bool { return set[s] })
	}
}

func utc(s string) time.Time { return parseInstant(s) }

// queries returns the searches the client runs, with their expectations.
func queries(c choices) []query {
	return slices.Concat(chainQueries(c), pagingQueries(c), parameterQueries(c), typeQueries(c))
}

// patientsNamed returns the patients with a name part starting with prefix,
// as the name parameter matches.
func patientsNamed(m *model, prefix string) []*resource {
	return m.where("Patient", func(r *resource) bool { return anyPrefix(r.nameParts("name"), prefix) })
}

// all keeps every resource.
func all(*resource) bool { return true }

// referencedBy keeps the resources some of from refers to through path.
func referencedBy(from []*resource, path string) func(*resource) bool {
	set := map[string]bool{}
	for _, r := range from {
		for _, ref := range r.refs(path) {
			set[ref] = true
		}
	}
	return func(r *resource) bool { return set[r.ref()] }
}

// targets returns the resources the page's resources refer to through
// paths, as far as they exist in m.
func targets(m *model, page []string, paths ...string) []string {
	var out []string
	for _, ref := range page {
		r := m.byRef[ref]
		if r == nil {
			continue
		}
		for _, path := range paths {
			for _, t := range r.refs(path) {
				if m.byRef[t] != nil {
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// referrers returns the resources of typ that refer to one of page through path.
func referrers(m *model, typ, path string, page []string) []string {
	set := map[string]bool{}
	for _, ref := range page {
		set[ref] = true
	}
	var out []string
	for _, r := range m.byType[typ] {
		if slices.ContainsFunc(r.refs(path), func(s string) bool { return set[s] }) {
			out = append(out, r.ref())
		}
	}
	return out
}

// mentions reports whether a reference anywhere in doc points to target.
func mentions(doc any, target string) bool { return slices.Contains(allRefs(doc), target) }

// allRefs returns every Reference.reference in doc, at any depth.
func allRefs(doc any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "reference" {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	return out
}

// sortedUnique returns the distinct strings of ss, sorted.
func sortedUnique(ss []string) []string {
	out := slices.Clone(ss)
	slices.SortFunc(out, cmp.Compare[string])
	return slices.Compact(out)
}

// allStrings returns every string value in doc, at any depth.
func allStrings(doc any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	return out
}

// words splits s into folded words: runs of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(fold(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}
