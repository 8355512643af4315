package searchclient

import (
	"maps"
	"slices"
)

// typeQueries search across types (_type), in compartments and with Patient/$everything.
func typeQueries(c choices) []query {
	var qs []query
	add := func(q query) { qs = append(qs, q) }
	// --- across types, compartments, $everything
	add(query{Name: "system _type with a shared parameter", Kind: "system",
		Params: p("_type", "Condition,MedicationRequest", "patient", "Patient/"+c.other),
		expect: func(m *model) want {
			var rs []*resource
			for _, t := range []string{"Condition", "MedicationRequest"} {
				rs = append(rs, m.where(t, func(r *resource) bool { return r.refersTo("subject", "Patient/"+c.other) })...)
			}
			return want{matches: typeOrder(rs), ordered: true}
		}})
	add(query{Name: "system _type, string prefix, _sort=_id", Kind: "system",
		Params: p("_type", "Patient,Practitioner", "family", "mar", "_sort", "_id", "_count", "7"),
		expect: func(m *model) want {
			var rs []*resource
			for _, t := range []string{"Patient", "Practitioner"} {
				rs = append(rs, m.where(t, func(r *resource) bool { return anyPrefix(r.strs("name.family"), "mar") })...)
			}
			return want{matches: ordered(rs, sortKey{values: idKey}), ordered: true, pageSize: 7}
		}})
	add(query{Name: "system _type sorted by a shared date across types", Kind: "system",
		Params: p("_type", "Observation,Encounter", "patient", "Patient/"+c.rich, "_sort", "-date", "_count", "4"),
		expect: func(m *model) want {
			var rs []*resource
			for _, t := range []string{"Observation", "Encounter"} {
				rs = append(rs, m.where(t, func(r *resource) bool { return r.refersTo("subject", "Patient/"+c.rich) })...)
			}
			date := func(r *resource) []any {
				if r.typ == "Encounter" {
					return periodBounds("period")(r)
				}
				return instantsAt("effectiveDateTime")(r)
			}
			return want{matches: ordered(rs, sortKey{values: date, desc: true}), ordered: true, pageSize: 4}
		}})
	add(query{Name: "compartment search sorted and paged", Kind: "compartment", ResourceType: "Observation",
		Compartment: &compartment{"Patient", c.rich}, Params: p("_sort", "-date,_id", "_count", "4"),
		expect: func(m *model) want {
			obs := m.where("Observation", func(r *resource) bool { return r.refersTo("subject", "Patient/"+c.rich) })
			return want{matches: ordered(obs, sortKey{values: instantsAt("effectiveDateTime"), desc: true}, sortKey{values: idKey}), ordered: true, pageSize: 4}
		}})
	add(query{Name: "compartment Patient/x/Observation", Kind: "compartment", ResourceType: "Observation",
		Compartment: &compartment{"Patient", c.rich}, Params: p("_count", "5"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Observation", func(r *resource) bool { return r.refersTo("subject", "Patient/"+c.rich) })), ordered: true, pageSize: 5}
		}})
	add(query{Name: "compartment Patient/x/Encounter with a date", Kind: "compartment", ResourceType: "Encounter",
		Compartment: &compartment{"Patient", c.rich}, Params: p("date", "ge2023-01-01T00:00:00Z"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Encounter", func(r *resource) bool {
				end := r.instants("period.end")
				return r.refersTo("subject", "Patient/"+c.rich) && len(end) > 0 && !end[0].Before(utc("2023-01-01T00:00:00Z"))
			})), ordered: true}
		}})
	add(query{Name: "compartment Practitioner/x/Encounter", Kind: "compartment", ResourceType: "Encounter",
		Compartment: &compartment{"Practitioner", "pra-000001"}, Params: p("_count", "50"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Encounter", func(r *resource) bool {
				return r.refersTo("participant.individual", "Practitioner/pra-000001")
			})), ordered: true, pageSize: 50}
		}})
	add(query{Name: "compartment Patient/x/*", Kind: "compartment", ResourceType: "*",
		Compartment: &compartment{"Patient", c.other}, Params: p("_count", "6"),
		expect: func(m *model) want {
			self := "Patient/" + c.other
			var rs []*resource
			for typ, ofType := range m.byType {
				if typ != "Patient" {
					rs = append(rs, slices.DeleteFunc(slices.Clone(ofType), func(r *resource) bool { return !mentions(r.doc, self) })...)
				}
			}
			// Whether the Patient is in its own compartment the
			// specification leaves open: admitted, not required.
			return want{matches: typeOrder(rs), ordered: true, pageSize: 6, extra: func(ref string) bool { return ref == self }}
		}})
	add(query{Name: "Patient/x/$everything", Kind: "everything", ID: c.rich, Params: p("_count", "10"),
		expect: func(m *model) want {
			self := "Patient/" + c.rich
			var rs []*resource
			for _, typ := range slices.Sorted(maps.Keys(m.byType)) {
				if typ == "Patient" {
					continue
				}
				rs = append(rs, m.where(typ, func(r *resource) bool { return mentions(r.doc, self) })...)
			}
			referenced := map[string]bool{}
			for _, r := range append(rs, m.byRef[self]) {
				for _, ref := range allRefs(r.doc) {
					referenced[ref] = true
				}
			}
			return want{matches: append([]string{self}, typeOrder(rs)...), everything: self,
				extra: func(ref string) bool { return referenced[ref] }}
		}})
	return qs
}
