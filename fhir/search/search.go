// Package search turns FHIR resources into search index entries and FHIR search
// URLs into backend-neutral store queries.
//
// This first version knows the parameters conditional interactions need:
// _id, _lastUpdated and identifier (on every type that has an identifier
// element). The registry generated from the specification's SearchParameter
// definitions replaces the hand-made table below without changing the API.
package search

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/telehub/telehub/store"
)

// Extract returns the index entries of one resource (its canonical JSON).
func Extract(resourceType string, body []byte) ([]store.IndexEntry, error) {
	var doc struct {
		Identifier json.RawMessage `json:"identifier"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("search: extract %s: %w", resourceType, err)
	}
	if len(doc.Identifier) == 0 {
		return nil, nil
	}
	var ids []identifier
	if doc.Identifier[0] == '[' {
		if err := json.Unmarshal(doc.Identifier, &ids); err != nil {
			return nil, fmt.Errorf("search: extract %s identifier: %w", resourceType, err)
		}
	} else {
		var one identifier
		if err := json.Unmarshal(doc.Identifier, &one); err != nil {
			return nil, fmt.Errorf("search: extract %s identifier: %w", resourceType, err)
		}
		ids = append(ids, one)
	}
	var entries []store.IndexEntry
	for _, id := range ids {
		for _, text := range TokenForms(id.System, id.Value) {
			entries = append(entries, store.IndexEntry{Param: "identifier", Kind: store.KindToken, Text: text})
		}
	}
	return entries, nil
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// TokenForms returns the normalised forms a token is indexed under:
// "system|code", "|code" (no system), "code" and "system|".
func TokenForms(system, code string) []string {
	var forms []string
	if code != "" {
		if system != "" {
			forms = append(forms, system+"|"+code)
		} else {
			forms = append(forms, "|"+code)
		}
		forms = append(forms, code)
	}
	if system != "" {
		forms = append(forms, system+"|")
	}
	return forms
}

// Result-control parameters: they shape the answer, not the match.
var resultParams = map[string]bool{
	"_count": true, "_sort": true, "_total": true, "_summary": true, "_elements": true,
	"_include": true, "_revinclude": true, "_contained": true, "_containedType": true,
	"_format": true, "_pretty": true, "_offset": true,
}

// Issue is a search parameter that was not applied, and why.
type Issue struct {
	Param   string
	Message string
}

// Plan is a parsed search: the store query plus what was applied and what was not.
type Plan struct {
	Query store.Query
	// Applied holds the parameters that became clauses, in canonical form, for
	// the Bundle's self link.
	Applied url.Values
	// Ignored lists parameters that were unknown or malformed.
	Ignored []Issue
}

// Parse turns the search parameters of a URL into a plan for resourceType
// ("" for a system-wide search). Result-control parameters are left to the caller.
func Parse(resourceType string, params url.Values) *Plan {
	p := &Plan{Applied: url.Values{}}
	if resourceType != "" {
		p.Query.Types = []string{resourceType}
	}
	for name, values := range params {
		if resultParams[name] {
			continue
		}
		for _, value := range values {
			clause, err := parseClause(name, value)
			if err != nil {
				p.Ignored = append(p.Ignored, Issue{Param: name, Message: err.Error()})
				continue
			}
			p.Query.Clauses = append(p.Query.Clauses, clause)
			p.Applied.Add(name, value)
		}
	}
	return p
}

func parseClause(name, value string) (store.Clause, error) {
	var clause store.Clause
	for _, v := range strings.Split(value, ",") {
		var (
			cond store.Condition
			err  error
		)
		switch name {
		case store.ParamID:
			cond = store.Condition{Param: store.ParamID, Op: store.OpExact, Text: v}
		case "identifier":
			cond = store.Condition{Param: "identifier", Op: store.OpExact, Text: v}
		case store.ParamLastUpdated:
			cond, err = parseDate(name, v)
		default:
			return clause, fmt.Errorf("unknown search parameter %q", name)
		}
		if err != nil {
			return clause, err
		}
		clause.Any = append(clause.Any, cond)
	}
	return clause, nil
}

var datePrefixes = map[string]store.Op{
	"eq": store.OpEq, "ne": store.OpNe, "gt": store.OpGt, "lt": store.OpLt,
	"ge": store.OpGe, "le": store.OpLe, "sa": store.OpSa, "eb": store.OpEb, "ap": store.OpOverlap,
}

func parseDate(name, v string) (store.Condition, error) {
	op := store.OpEq
	if len(v) > 2 {
		if o, ok := datePrefixes[v[:2]]; ok {
			op, v = o, v[2:]
		}
	}
	low, high, err := DateRange(v)
	if err != nil {
		return store.Condition{}, fmt.Errorf("%s: %w", name, err)
	}
	return store.Condition{Param: name, Op: op, Low: low, High: high}, nil
}

var dateLayouts = []struct {
	layout string
	step   func(time.Time) time.Time
}{
	{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
	{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
	{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
	{"2006-01-02T15:04Z07:00", func(t time.Time) time.Time { return t.Add(time.Minute) }},
	{"2006-01-02T15:04:05Z07:00", func(t time.Time) time.Time { return t.Add(time.Second) }},
	{"2006-01-02T15:04:05.999999999Z07:00", func(t time.Time) time.Time { return t.Add(time.Millisecond) }},
}

// DateRange returns the [low, high) range, in Unix milliseconds, that a FHIR
// date, dateTime or instant covers at its precision. Values without a time
// zone are taken as UTC.
func DateRange(v string) (low, high float64, err error) {
	for _, l := range dateLayouts {
		t, perr := time.Parse(l.layout, v)
		if perr != nil {
			continue
		}
		return float64(t.UnixMilli()), float64(l.step(t).UnixMilli()), nil
	}
	return 0, 0, fmt.Errorf("invalid date %q", v)
}
