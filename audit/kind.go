package audit

import (
	"strings"
	"sync"

	"github.com/telehub/telehub/store"
)

// An event's kind. The builders fix an event's type, subtype and action
// together (a read is always type rest, subtype read, action R), and its
// outcome is one of four codes: so the Recorder indexes these four
// parameters, and the display text of the codings (":text"), as one entry
// of KindParam naming the kind and the outcome, in place of the five to
// nine entries the extractor gives them. A search on one of them is
// rewritten by LeanQuery into the kinds whose entries would have matched
// (see lean.go): `action=R` also looks for the kinds read and vread, with
// any outcome, `outcome:not=0` for every kind with another outcome.
// AuditEvents cannot be sorted by these parameters (Sortable).

// KindParam is the index entry (a token) that stands for an event's type,
// subtype, action and outcome. It is not a FHIR search parameter.
const KindParam = "_audit-kind"

// eventKind is what the builders put together in an event.
type eventKind struct {
	typ, subtype coding
	action       string
}

// eventKinds are the kinds the builders make. An event of another kind is
// indexed by its own entries: the table need only cover the builders for
// the index to be lean, never for searches to be right.
var eventKinds = []eventKind{
	{typeREST, restfulSubtype("read"), "R"},
	{typeREST, restfulSubtype("vread"), "R"},
	{typeREST, restfulSubtype("search-type"), "E"},
	{typeREST, restfulSubtype("search-system"), "E"},
	{typeREST, restfulSubtype("create"), "C"},
	{typeREST, restfulSubtype("update"), "U"},
	{typeREST, restfulSubtype("delete"), "D"},
	{typeUserAuth, subtypeLogin, "E"},
	{typeUserAuth, subtypeTokenIssued, "C"},
	{typeUserAuth, subtypeTokenRevoked, "D"},
	{typeSecurity, subtypeConsent, "E"},
	{typeSecurity, subtypeBreakTheGlass, "E"},
}

var outcomes = []Outcome{Success, MinorFailure, SeriousFailure, MajorFailure}

// kindEntry is one value of KindParam: a kind with an outcome, and the
// entries the extractor gives an event of that kind and outcome for the
// parameters the value stands for.
type kindEntry struct {
	kind    eventKind
	outcome Outcome
	text    string // "subtype system|subtype code|outcome"
	entries []store.IndexEntry
}

// kindEntries lists every kind with every outcome.
var kindEntries = sync.OnceValue(func() []kindEntry {
	var out []kindEntry
	for _, k := range eventKinds {
		for _, o := range outcomes {
			x := &indexBuilder{full: true}
			x.kindParams(k, o)
			out = append(out, kindEntry{kind: k, outcome: o,
				text: k.subtype.System + "|" + k.subtype.Code + "|" + string(o), entries: x.entries})
		}
	}
	return out
})

// kindParams is the set of parameters KindParam stands for.
var kindParams = sync.OnceValue(func() map[string]bool {
	params := map[string]bool{}
	for _, k := range kindEntries() {
		for _, e := range k.entries {
			params[e.Param] = true
		}
	}
	return params
})

// kindOf returns e's KindParam value, or false when e is of no known kind.
func kindOf(e *auditEvent) (string, bool) {
	if len(e.Subtype) != 1 {
		return "", false
	}
	for _, k := range kindEntries() {
		if k.outcome == e.Outcome && k.kind.action == e.Action && k.kind.subtype == e.Subtype[0] && k.kind.typ == e.Type {
			return k.text, true
		}
	}
	return "", false
}

// kindParams adds the entries of the parameters KindParam stands for.
func (x *indexBuilder) kindParams(k eventKind, o Outcome) {
	x.token("action", systemAction, k.action)
	x.token("outcome", systemOutcome, string(o))
	x.coding("subtype", k.subtype)
	x.coding("type", k.typ)
}

// Sortable reports whether AuditEvents can be sorted by the parameter
// code: the searchable ones but those KindParam stands for.
func Sortable(code string) bool {
	return Searchable(code) && !kindParams()[code]
}

// kindCondition is the condition "KindParam is one of these values" (as
// alternatives of an OR), or "has no KindParam entry".
func kindConditions(kinds []string) []store.Condition {
	out := make([]store.Condition, len(kinds))
	for i, text := range kinds {
		out[i] = store.Condition{Param: KindParam, Op: store.OpExact, Text: text}
	}
	return out
}

var noKind = store.Condition{Param: KindParam, Op: store.OpMissing, Text: "true"}

// widenKind rewrites a condition on a parameter KindParam stands for, as
// a conjunction of disjunctions, or returns nil when c is not one.
//
//   - c holds for an event indexed by the extractor as it did;
//   - for an event with a KindParam entry, c's outcome is decided by its
//     kind: a positive condition also matches the kinds whose entries
//     match it; a negated one (":not"), which holds for such an event
//     since it has no entry of c's parameter, also requires its kind to
//     be one whose entries do not match, or no kind at all (an event
//     indexed by the extractor); ":missing" likewise.
func widenKind(c store.Condition) [][]store.Condition {
	if !kindParams()[c.Param] || c.Chain != nil || c.Has != nil {
		return nil
	}
	var match func(e store.IndexEntry) bool
	positive := !c.Not
	switch c.Op {
	case store.OpExact:
		match = func(e store.IndexEntry) bool { return e.Text == c.Text }
	case store.OpPrefix:
		match = func(e store.IndexEntry) bool { return strings.HasPrefix(e.Text, c.Text) }
	case store.OpContains:
		match = func(e store.IndexEntry) bool { return strings.Contains(e.Text, c.Text) }
	case store.OpMissing:
		// "missing=false" holds when an entry exists, "missing=true" when none does.
		match = func(store.IndexEntry) bool { return true }
		positive = (c.Text == "false") != c.Not
	default:
		return nil // a range: no entry of these parameters is one
	}
	var matching, other []string
	for _, k := range kindEntries() {
		found := false
		for _, e := range k.entries {
			found = found || (e.Param == c.Param && match(e))
		}
		if found {
			matching = append(matching, k.text)
		} else {
			other = append(other, k.text)
		}
	}
	if positive {
		return [][]store.Condition{append([]store.Condition{c}, kindConditions(matching)...)}
	}
	return [][]store.Condition{{c}, append([]store.Condition{noKind}, kindConditions(other)...)}
}
