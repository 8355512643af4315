package sqlite

import (
	"slices"

	"github.com/telehub/telehub/store"
)

// Shared entries. Some search parameters are defined as a subset of
// another's on the same resource type: an Observation's patient is its
// subject when that is a Patient, its code is the part of combo-code
// taken from Observation.code, and code-value-quantity is the part of
// combo-code-value-quantity paired at the top level. For a vital sign,
// about a third of the index rows would repeat another parameter's, and
// their values (a patient, a measurement) are random: each lands on a
// B-tree page of its own, which the commit then writes to the WAL.
//
// So an entry of the wider parameter that an entry of the narrower one
// repeats (same kind, text, low and high) is not given a row of its own:
// the narrower one's row stands for both. idx_entries still lists it,
// marked shared (entryTextShared, entryRangeShared), for sort values and
// range shapes; updates skip it when they delete rows. A condition on the
// wider parameter reads the rows of both (paramFilter, entrySubquery),
// which is exact because every entry of the narrower parameter is one of
// the wider's by definition (TestSharedParamsAreSubsets checks the
// definitions). The pairs are per type: a search over several types reads
// the narrower parameter's rows only for the types where they stand in.
// The pairs are part of the storage layout: a file written without a pair
// has rows for both parameters, which searches read right, but one written
// with a pair lacks rows a program without it would look for
// (schemaVersion). So pairs may be added, never removed.

// sharedParams maps a resource type to its wider parameters, each to the
// narrower parameter whose entries it shares: on every type where the
// specification defines patient as the subject that is a Patient (or as
// the subject itself), and on Observation the combo-* parameters.
var sharedParams = map[string]map[string]string{
	"Observation": {
		"subject":                             "patient",
		"combo-code":                          "code",
		"combo-code:text":                     "code:text",
		"combo-value-quantity":                "value-quantity",
		"combo-value-quantity:canonical":      "value-quantity:canonical",
		"combo-code-value-quantity":           "code-value-quantity",
		"combo-code-value-quantity:canonical": "code-value-quantity:canonical",
		"combo-value-concept":                 "value-concept",
		"combo-value-concept:text":            "value-concept:text",
		"combo-code-value-concept":            "code-value-concept",
	},
	"Account":                  {"subject": "patient"},
	"Basic":                    {"subject": "patient"},
	"CarePlan":                 {"subject": "patient"},
	"CareTeam":                 {"subject": "patient"},
	"ChargeItem":               {"subject": "patient"},
	"ClinicalImpression":       {"subject": "patient"},
	"Communication":            {"subject": "patient"},
	"CommunicationRequest":     {"subject": "patient"},
	"Composition":              {"subject": "patient"},
	"Condition":                {"subject": "patient"},
	"Contract":                 {"subject": "patient"},
	"DeviceRequest":            {"subject": "patient"},
	"DeviceUseStatement":       {"subject": "patient"},
	"DiagnosticReport":         {"subject": "patient"},
	"DocumentManifest":         {"subject": "patient"},
	"DocumentReference":        {"subject": "patient"},
	"Encounter":                {"subject": "patient"},
	"EnrollmentRequest":        {"subject": "patient"},
	"Flag":                     {"subject": "patient"},
	"Goal":                     {"subject": "patient"},
	"GuidanceResponse":         {"subject": "patient"},
	"ImagingStudy":             {"subject": "patient"},
	"Invoice":                  {"subject": "patient"},
	"List":                     {"subject": "patient"},
	"MeasureReport":            {"subject": "patient"},
	"Media":                    {"subject": "patient"},
	"MedicationAdministration": {"subject": "patient"},
	"MedicationDispense":       {"subject": "patient"},
	"MedicationRequest":        {"subject": "patient"},
	"MedicationStatement":      {"subject": "patient"},
	"Procedure":                {"subject": "patient"},
	"QuestionnaireResponse":    {"subject": "patient"},
	"RequestGroup":             {"subject": "patient"},
	"RiskAssessment":           {"subject": "patient"},
	"ServiceRequest":           {"subject": "patient"},
	"Specimen":                 {"subject": "patient"},
	"Task":                     {"subject": "patient"},
}

// sharedTypes maps a wider parameter to the types where it shares entries,
// and its narrower parameter (the same on every type).
var sharedTypes = func() map[string]sharing {
	m := map[string]sharing{}
	for typ, params := range sharedParams {
		for wide, narrow := range params {
			s := m[wide]
			if s.narrow != "" && s.narrow != narrow {
				panic("sqlite: " + wide + " shares entries with two parameters")
			}
			s.narrow, s.types = narrow, append(s.types, typ)
			slices.Sort(s.types)
			m[wide] = s
		}
	}
	return m
}()

// sharing is where a wider parameter's entries are partly the rows of a
// narrower one.
type sharing struct {
	narrow string
	types  []string
}

// shared reports whether some rows of param's entries may be those of
// another parameter, on any type: such a parameter takes none of the
// index-only shortcuts (probes, windows, walks, counts off one index range).
func shared(param string) bool {
	_, ok := sharedTypes[param]
	return ok
}

// paramFilter returns the condition on column param (of idx_text or
// idx_range) selecting the rows of param's entries for a search of types:
// "param = ?", or "param IN (?, ?)" when its entries are shared on every
// one of types. It reports false when they are shared on some types only
// (or types is empty): entrySubquery then reads each part apart.
func paramFilter(param string, types []string) (string, []any, bool) {
	s, ok := sharedTypes[param]
	if !ok {
		return "param = ?", []any{param}, true
	}
	if len(types) == 0 {
		return "", nil, false
	}
	for _, t := range types {
		if !slices.Contains(s.types, t) {
			return "", nil, false
		}
	}
	return "param IN (?, ?)", []any{param, s.narrow}, true
}

// entrySubquery returns "SELECT columns FROM table WHERE" the rows of
// param's entries for a search of types (all when empty), and frag (with
// args) when it is not empty. Shared on some types only, it is a UNION ALL
// of param's own rows and the narrower parameter's rows of those types.
func entrySubquery(columns, table, param string, types []string, frag string, args []any) (string, []any) {
	if filter, filterArgs, ok := paramFilter(param, types); ok {
		return selectEntries(columns, table, filter, filterArgs, types, frag, args)
	}
	s := sharedTypes[param]
	narrowTypes := s.types
	if len(types) > 0 {
		narrowTypes = slices.DeleteFunc(slices.Clone(types), func(t string) bool { return !slices.Contains(s.types, t) })
	}
	own, ownArgs := selectEntries(columns, table, "param = ?", []any{param}, types, frag, args)
	if len(narrowTypes) == 0 {
		return own, ownArgs
	}
	narrow, narrowArgs := selectEntries(columns, table, "param = ?", []any{s.narrow}, narrowTypes, frag, args)
	return own + " UNION ALL " + narrow, append(ownArgs, narrowArgs...)
}

// selectEntries is one SELECT of entrySubquery.
func selectEntries(columns, table, filter string, filterArgs []any, types []string, frag string, args []any) (string, []any) {
	sql := "SELECT " + columns + " FROM " + table + " WHERE " + filter
	all := slices.Clone(filterArgs)
	if len(types) > 0 {
		sql += " AND type IN (" + placeholders(len(types)) + ")"
		all = append(all, stringArgs(types)...)
	}
	if frag != "" {
		sql += " AND " + frag
		all = append(all, args...)
	}
	return sql, all
}

// sharesEntries reports whether param of typ may share entries with
// another parameter, as the wider or the narrower one.
func sharesEntries(typ, param string) bool {
	if _, ok := sharedParams[typ][param]; ok {
		return true
	}
	for _, narrow := range sharedParams[typ] {
		if narrow == param {
			return true
		}
	}
	return false
}

// sharedEntries returns, for the entries of one resource of type typ, the
// indexes of those whose row an entry of the narrower parameter stands
// for; nil when there are none.
func sharedEntries(typ string, entries []store.IndexEntry) map[int]bool {
	params := sharedParams[typ]
	if params == nil {
		return nil
	}
	narrow := map[store.IndexEntry]bool{}
	for _, e := range entries {
		if narrowParams[e.Param] {
			narrow[e] = true
		}
	}
	var out map[int]bool
	for i, e := range entries {
		n, ok := params[e.Param]
		if !ok {
			continue
		}
		e.Param = n
		if narrow[e] {
			if out == nil {
				out = map[int]bool{}
			}
			out[i] = true
		}
	}
	return out
}

// narrowParams holds the narrower parameters of sharedParams, of any type.
var narrowParams = func() map[string]bool {
	m := map[string]bool{}
	for _, params := range sharedParams {
		for _, narrow := range params {
			m[narrow] = true
		}
	}
	return m
}()
