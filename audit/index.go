package audit

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// The index entries of an event are built here from the typed event rather
// than by search.Extract: extraction decodes the JSON and evaluates every
// AuditEvent search parameter's FHIRPath, about five times the CPU
// (BenchmarkExtract against BenchmarkBuildAndIndex/index), on a path taken
// once per read.
//
// The index is lean. First, only the parameters in Searchable, the ones a
// patient, a privacy officer or an investigation searches the trail by.
// Each entry costs a B-tree insert in the store, the dominant cost of
// recording an event; the full index (address, agent-name, entity-role,
// entity-type, entity-name, policy, site, agent-role, alias) held about
// forty entries a read event. Second, within those, only the entries a
// search cannot do without: no bare form of a token or reference whose
// qualified form says the same (lean.go), and one entry, KindParam, for
// type, subtype, action and outcome (kind.go); a search is rewritten to
// match (LeanQuery). A backend client's read of an Observation has seven
// entries, where the extractor's entries for the same parameters are
// nineteen.
// TestBuildersValidate holds the two together: every entry is one of
// Extract's, and every one of Extract's left out is found by the search
// for it as LeanQuery rewrites it; the other AuditEvent parameters find
// nothing.

// searchable are the AuditEvent search parameters the index holds.
var searchable = map[string]bool{
	"action": true, "agent": true, "date": true, "entity": true, "outcome": true,
	"patient": true, "source": true, "subtype": true, "type": true,
}

// Searchable reports whether AuditEvents can be searched by the parameter
// code (modifier suffixes such as ":identifier" or ":text" allowed); _id
// and _lastUpdated are always searchable, as for every resource. The REST
// layer should treat the other AuditEvent parameters as unsupported.
func Searchable(code string) bool {
	base, _, _ := strings.Cut(code, ":")
	return searchable[base] || base == "_id" || base == "_lastUpdated"
}

// Bound code systems of AuditEvent's plain codes (search.BoundSystem).
const (
	systemAction  = "http://hl7.org/fhir/audit-event-action"
	systemOutcome = "http://hl7.org/fhir/audit-event-outcome"
)

// indexBuilder accumulates entries without duplicates. An event has about twenty-five:
// a linear scan is cheaper than a map.
type indexBuilder struct {
	entries []store.IndexEntry
	// full gives every form the extractor gives, bare ones included: the
	// entries KindParam stands for (kind.go).
	full bool
}

func (x *indexBuilder) add(e store.IndexEntry) {
	for i := range x.entries {
		if x.entries[i] == e {
			return
		}
	}
	x.entries = append(x.entries, e)
}

func (x *indexBuilder) text(param string, kind store.Kind, text string) {
	x.add(store.IndexEntry{Param: param, Kind: kind, Text: text})
}

// token adds the forms of a token as the extractor gives them:
// "system|code" (or "|code") and "code", or "system|" alone when there is
// no code (a search for "system|" is a prefix search that "system|code"
// answers); the bare "code" is left out when LeanQuery widens a search for
// it to "system|code" (see lean.go).
func (x *indexBuilder) token(param, system, code string) {
	switch {
	case code == "" && system != "":
		x.text(param, store.KindToken, system+"|")
	case code != "":
		x.text(param, store.KindToken, qualified(system, code))
		if x.full || !widensToken(param, system) {
			x.text(param, store.KindToken, code)
		}
	}
}

// qualifiedCache keeps "system|code" of the codes events repeat (types,
// subtypes, actions, outcomes, client ids): one string per code, not one
// per event.
var qualifiedCache sync.Map

const maxQualifiedCache = 4096

var qualifiedCount atomic.Int64

func qualified(system, code string) string {
	key := [2]string{system, code}
	if v, ok := qualifiedCache.Load(key); ok {
		return v.(string)
	}
	s := system + "|" + code
	if qualifiedCount.Load() < maxQualifiedCache {
		// Copies: a code may share the memory of a record (recordIndexer),
		// which the cache must not keep.
		key = [2]string{strings.Clone(system), strings.Clone(code)}
		if _, loaded := qualifiedCache.LoadOrStore(key, s); !loaded {
			qualifiedCount.Add(1)
		}
	}
	return s
}

func (x *indexBuilder) coding(param string, c coding) {
	x.token(param, c.System, c.Code)
	if c.Display != "" {
		x.text(param+search.SuffixText, store.KindString, search.Fold(c.Display))
	}
}

// reference indexes a reference as "Type/id" (version dropped) and the bare
// id, unless LeanQuery widens a search for the bare id to "Type/id" (see
// lean.go).
func (x *indexBuilder) reference(param string, r *reference) {
	if r == nil {
		return
	}
	if ref := referenceText(r.Reference); ref != "" {
		x.text(param, store.KindReference, ref)
		if typ, id, ok := strings.Cut(ref, "/"); ok && typ != "" && !strings.Contains(id, "/") && !strings.Contains(typ, ":") && (x.full || !widensReference(param, typ)) {
			x.text(param, store.KindReference, id)
		}
	}
	if r.Identifier != nil {
		x.token(identifierParam(param), r.Identifier.System, r.Identifier.Value)
	}
}

// referenceWithPatient indexes r under param, and under patient too
// when it points to a Patient.
func (x *indexBuilder) referenceWithPatient(param string, r *reference) {
	x.reference(param, r)
	if isPatient(r) {
		x.reference("patient", r)
	}
}

// identifierParams are the ":identifier" forms of the reference
// parameters, made once rather than per event.
var identifierParams = map[string]string{
	"agent":   "agent" + search.SuffixIdentifier,
	"entity":  "entity" + search.SuffixIdentifier,
	"patient": "patient" + search.SuffixIdentifier,
}

func identifierParam(param string) string {
	if p, ok := identifierParams[param]; ok {
		return p
	}
	return param + search.SuffixIdentifier
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
// event (besides SequenceParam): what searches widened by LeanQuery need
// to find it by the Searchable parameters.
func (e Event) Index() ([]store.IndexEntry, error) {
	res, err := e.recipe.build()
	if err != nil {
		return nil, err
	}
	return res.appendIndex(make([]store.IndexEntry, 0, 12)), nil
}

// appendIndex appends the event's index entries to dst, which must hold
// no entries of the event already.
func (e *auditEvent) appendIndex(dst []store.IndexEntry) []store.IndexEntry {
	x := &indexBuilder{entries: dst}
	kind, known := kindOf(e)
	if known {
		x.text(KindParam, store.KindToken, kind)
	} else {
		x.token("action", systemAction, e.Action)
	}
	for _, a := range e.Agent {
		x.referenceWithPatient("agent", a.Who)
	}
	// A millisecond instant: search.DateRange(e.Recorded) without parsing.
	at := float64(e.recordedAt.UnixMilli())
	x.add(store.IndexEntry{Param: "date", Kind: store.KindDate, Low: at, High: at + 1})
	for _, en := range e.Entity {
		x.referenceWithPatient("entity", en.What)
	}
	if !known {
		x.token("outcome", systemOutcome, string(e.Outcome))
		for _, c := range e.Subtype {
			x.coding("subtype", c)
		}
		x.coding("type", e.Type)
	}
	return x.entries
}
