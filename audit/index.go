package audit

import (
	"strings"

	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// The index entries of an event are built here from the typed event rather
// than by search.Extract: extraction decodes the JSON and evaluates every
// AuditEvent search parameter's FHIRPath, about five times the CPU
// (BenchmarkExtract against BenchmarkBuildAndIndex/index), on a path taken
// once per read. The entries are the same as Extract's without full text;
// TestBuildersValidate holds the two together.

// Bound code systems of AuditEvent's plain codes (search.BoundSystem).
const (
	systemAction  = "http://hl7.org/fhir/audit-event-action"
	systemOutcome = "http://hl7.org/fhir/audit-event-outcome"
)

// indexer accumulates entries without duplicates. An event has about forty:
// a linear scan is cheaper than a map.
type indexer struct {
	entries []store.IndexEntry
}

func (x *indexer) add(e store.IndexEntry) {
	for i := range x.entries {
		if x.entries[i] == e {
			return
		}
	}
	x.entries = append(x.entries, e)
}

func (x *indexer) text(param string, kind store.Kind, text string) {
	x.add(store.IndexEntry{Param: param, Kind: kind, Text: text})
}

func (x *indexer) token(param, system, code string) {
	for _, form := range search.TokenForms(system, code) {
		x.text(param, store.KindToken, form)
	}
}

func (x *indexer) coding(param string, c coding) {
	x.token(param, c.System, c.Code)
	if c.Display != "" {
		x.text(param+search.SuffixText, store.KindString, search.Fold(c.Display))
	}
}

func (x *indexer) str(param, value string) {
	if value == "" {
		return
	}
	x.text(param, store.KindString, search.Fold(value))
	x.text(param+search.SuffixExact, store.KindString, value)
}

// reference indexes a reference as "Type/id" (version dropped) and the bare id.
func (x *indexer) reference(param string, r *reference) {
	if r == nil {
		return
	}
	if ref := referenceText(r.Reference); ref != "" {
		x.text(param, store.KindReference, ref)
		if typ, id, ok := strings.Cut(ref, "/"); ok && typ != "" && !strings.Contains(id, "/") && !strings.Contains(typ, ":") {
			x.text(param, store.KindReference, id)
		}
	}
	if r.Identifier != nil {
		x.token(param+search.SuffixIdentifier, r.Identifier.System, r.Identifier.Value)
	}
}

func referenceText(ref string) string {
	if ref == "" || ref[0] == '#' || strings.Contains(ref, ":") {
		return ref
	}
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	return ref
}

// isPatient reports whether a reference points to a Patient (the patient
// parameter's "resolve() is Patient").
func isPatient(r *reference) bool {
	return r != nil && strings.HasPrefix(r.Reference, "Patient/")
}

// Index returns the search index entries the Recorder stores with the
// event (besides SequenceParam): those search.Extract would give, without
// full text.
func (e Event) Index() ([]store.IndexEntry, error) { return e.resource.index() }

func (e *auditEvent) index() ([]store.IndexEntry, error) {
	x := &indexer{entries: make([]store.IndexEntry, 0, 48)}
	x.token("action", systemAction, e.Action)
	for _, a := range e.Agent {
		if a.Network != nil {
			x.str("address", a.Network.Address)
		}
		x.reference("agent", a.Who)
		x.str("agent-name", a.Name)
		if isPatient(a.Who) {
			x.reference("patient", a.Who)
		}
	}
	low, high, err := search.DateRange(e.Recorded)
	if err != nil {
		return nil, err
	}
	x.add(store.IndexEntry{Param: "date", Kind: store.KindDate, Low: low, High: high})
	for _, en := range e.Entity {
		x.reference("entity", en.What)
		if en.Role != nil {
			x.coding("entity-role", *en.Role)
		}
		if en.Type != nil {
			x.coding("entity-type", *en.Type)
		}
		if isPatient(en.What) {
			x.reference("patient", en.What)
		}
	}
	x.token("outcome", systemOutcome, string(e.Outcome))
	for _, c := range e.Subtype {
		x.coding("subtype", c)
	}
	x.coding("type", e.Type)
	return x.entries, nil
}
