// Package search is FHIR search for TeleHub: the registry of the R4
// specification's search parameters, the extraction of a resource's index
// entries on every write, and the parsing of search URLs into
// backend-neutral store queries.
//
// The registry is generated (go generate, internal/gen) from the
// specification's 1,400 SearchParameter definitions into registry.tsv, which
// the binary embeds. Extraction evaluates each parameter's FHIRPath expression
// (package fhirpath, compiled once per parameter) and normalises the values as
// the store expects them (see IndexEntry in package store):
//
//   - tokens in four forms, "system|code", "|code" (no system), "code" and
//     "system|", from code, Coding, CodeableConcept, Identifier, ContactPoint,
//     boolean and string values; the folded display texts of codes and
//     CodeableConcept.text under "<code>:text", for the ":text" modifier;
//     identifiers as "typeSystem|typeCode|value" under "<code>:of-type";
//   - strings lower-cased and accent-folded, one entry per part of a HumanName
//     or Address; the same values unfolded under "<code>:exact", for ":exact";
//   - dates as [low, high) Unix-millisecond ranges at their precision, from
//     date, dateTime, instant, Period (open ends at years 1 and 9999) and Timing;
//   - numbers and quantities as their precision range ("1.5" covers
//     [1.45, 1.55)); quantities as written once under "system|code" and once
//     under the code alone, and, for the UCUM units CanonicalUnit maps, their
//     value in the base unit under "<code>:canonical" (searches without a
//     unit compare the values as written, searches with a UCUM unit the
//     canonical ones); a Range as the span of its bounds;
//   - Location.position as "near:latitude" and "near:longitude" numbers;
//   - references as "Type/id" (a version dropped, absolute URLs on the
//     server's base made relative) plus the bare id, urn:uuid and other
//     absolute URLs as they are, canonicals with and without "|version";
//     Reference.identifier as tokens under "<code>:identifier";
//   - uris as they are;
//   - composites as "first$second" pairs taken from one element (see
//     composite.go); plain codes of elements bound (required) to a value set
//     of one code system also as "system|code" (BoundSystem);
//   - the words of the narrative under "_text" and of every string value
//     under "_content", folded (see words.go; WithoutFullText leaves them
//     out).
//
// _id and _lastUpdated are not indexed: the store resolves them on the
// resource itself. Phonetic parameters are not supported; of the special
// ones, only Location's near is, as a bounding box (see near.go).
//
// Parse turns a search URL into a store.Query: repeated parameters are ANDed
// (one clause each), comma-separated values ORed (a "\," is a literal comma);
// number, date and quantity values take the prefixes eq ne gt lt ge le sa eb
// ap ("gt" and "lt" against the value itself, the others against its
// precision range), quantities an optional "|system|code" or "||code" unit,
// near "lat|long|distance|units" (one point); the modifiers
// :missing (all types), :not, :text, :of-type, :in, :not-in, :above and :below
// (tokens; value sets and code hierarchies from the specification's
// terminology, see terminology.go), :exact and :contains (strings),
// :identifier and :[type] (references), :above and :below (uris) map onto
// the store's operators. A string matches by prefix of its folded form.
// Chains ("subject:Patient.organization.name=x", any depth up to
// maxChainDepth) become store.Condition.Chain, reverse chains ("_has:...",
// nested) store.Condition.Has, composites ("a$b") a range or text condition
// on the pair, _text and _content one prefix condition per word. _list is
// parsed into Plan.Deferred for the caller to resolve (Plan.ApplyList);
// _filter and _query are not supported. Unknown parameters, unsupported
// modifiers and malformed values are listed in Plan.Ignored.
//
// ParseSort and ParseInclude parse _sort and _include/_revinclude;
// Registry.IncludeTargets and Registry.RevIncludeQuery run them on a page.
// CompartmentClause, CompartmentTypes and CompartmentParams give the
// compartment searches (Patient/123/Observation, Patient/123/*) their
// clauses, from the specification's CompartmentDefinitions.
package search

import (
	"fmt"
	"net/url"
	"time"

	"github.com/telehub/telehub/store"
)

// Extract returns the index entries of one resource (its canonical JSON): the
// values of every search parameter the specification defines for its type,
// normalised (see Extractor). Absolute references are kept as they are; a
// server that knows its base URL uses NewExtractor with WithBaseURL.
func Extract(resourceType string, body []byte) ([]store.IndexEntry, error) {
	return defaultExtractor().Extract(resourceType, body)
}

// TokenForms returns normalised forms a token can be indexed under:
// "system|code", "|code" (no system), "code" and "system|". The extractor
// leaves "system|" out when there is a code, since a search for "system|"
// is a prefix search that "system|code" answers; indexing it as well, as
// callers of TokenForms do, is harmless.
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
	// Ignored lists parameters that were unknown or malformed, or are not
	// supported.
	Ignored []Issue
	// Deferred holds the parameters parsed but not applied because the
	// caller must resolve them first (_list, see ApplyList); each is also in
	// Ignored until then.
	Deferred []Deferred
}

// dateLayouts are the forms of FHIR dates, with the step of their precision.
// Fractional seconds need no layout of their own: time.Parse accepts them
// after the seconds, and DateRange gives them millisecond precision.
var dateLayouts = []struct {
	layout string
	step   func(time.Time) time.Time
}{
	{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
	{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
	{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
	{"2006-01-02T15:04Z07:00", func(t time.Time) time.Time { return t.Add(time.Minute) }},
	{"2006-01-02T15:04:05Z07:00", func(t time.Time) time.Time { return t.Add(time.Second) }},
	// Search values may leave the zone out.
	{"2006-01-02T15:04", func(t time.Time) time.Time { return t.Add(time.Minute) }},
	{"2006-01-02T15:04:05", func(t time.Time) time.Time { return t.Add(time.Second) }},
}

// DateRange returns the [low, high) range, in Unix milliseconds, that a FHIR
// date, dateTime or instant covers at its precision (a millisecond for
// fractional seconds). Values without a time zone are taken as UTC.
func DateRange(v string) (low, high float64, err error) {
	for _, l := range dateLayouts {
		t, perr := time.Parse(l.layout, v)
		if perr != nil {
			continue
		}
		high := l.step(t)
		if len(v) > 19 && v[19] == '.' {
			high = t.Add(time.Millisecond)
		}
		return float64(t.UnixMilli()), float64(high.UnixMilli()), nil
	}
	return 0, 0, fmt.Errorf("invalid date %q", v)
}

// QuantityEntries are the index entries of a Quantity, Money, Range or plain
// number of FHIR type typ under parameter code, as the specification's
// quantity parameters have them (custom SearchParameters use it).
func QuantityEntries(code string, data any, typ string) []store.IndexEntry {
	return quantityEntries(code, Value{Data: data, Type: typ}, nil)
}

// QuantityCondition parses the value of a quantity search
// ("[prefix]number[|system|code]") on parameter code, as for the
// specification's quantity parameters (custom SearchParameters use it).
func QuantityCondition(code, value string) (store.Condition, error) {
	return quantityCondition(&Param{Code: code, Kind: store.KindQuantity}, value)
}
