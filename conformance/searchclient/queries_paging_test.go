package searchclient

import (
	"slices"
)

// pagingQueries sort on one and several keys, page through every next
// link (some while the writer adds resources) and ask for totals.
func pagingQueries(c choices) []query {
	var qs []query
	add := func(q query) { qs = append(qs, q) }
	// --- sorting and paging
	add(query{Name: "_sort=family,-birthdate", Kind: "type", ResourceType: "Patient",
		Params: p("_sort", "family,-birthdate", "_count", "15"),
		expect: func(m *model) want {
			return want{matches: ordered(m.where("Patient", all),
				sortKey{values: foldedStrings("name.family")}, sortKey{values: instantsAt("birthDate"), desc: true}), ordered: true, pageSize: 15}
		}})
	add(query{Name: "_sort=-date, paged under writes", Kind: "type", ResourceType: "Observation",
		Params: p("code", loinc+"|"+heartRate, "_sort", "-date", "_count", "10"), Hook: true,
		expect: func(m *model) want {
			hr := m.where("Observation", func(r *resource) bool { return r.hasCoding("code", loinc, heartRate) })
			return want{matches: ordered(hr, sortKey{values: instantsAt("effectiveDateTime"), desc: true}), ordered: true, pageSize: 10}
		}})
	// The generator cannot know when the server stored each resource, so
	// these two check the pages' contents, not their order: what existed
	// throughout, once each, while the writer's resources sort after the
	// cursor (ascending) or before it (descending).
	for _, dir := range []string{"_lastUpdated", "-_lastUpdated"} {
		add(query{Name: "_sort=" + dir + ", paged under writes", Kind: "type", ResourceType: "Observation",
			Params: p("code", loinc+"|"+heartRate, "_sort", dir, "_count", "20"), Hook: true,
			expect: func(m *model) want {
				return want{matches: typeOrder(m.where("Observation", func(r *resource) bool { return r.hasCoding("code", loinc, heartRate) })), pageSize: 20}
			}})
	}
	add(query{Name: "_sort=date,-_id on Appointment", Kind: "type", ResourceType: "Appointment",
		Params: p("status", "booked", "_sort", "date,-_id", "_count", "20"),
		expect: func(m *model) want {
			booked := m.where("Appointment", func(r *resource) bool { return slices.Contains(r.strs("status"), "booked") })
			return want{matches: ordered(booked, sortKey{values: instantsAt("start")}, sortKey{values: idKey, desc: true}), ordered: true, pageSize: 20}
		}})
	add(query{Name: "_sort=-family takes the largest of several names", Kind: "type", ResourceType: "Patient",
		Params: p("gender", "female", "_sort", "-family", "_count", "25"),
		expect: func(m *model) want {
			women := m.where("Patient", func(r *resource) bool { return slices.Contains(r.strs("gender"), "female") })
			return want{matches: ordered(women, sortKey{values: foldedStrings("name.family"), desc: true}), ordered: true, pageSize: 25}
		}})
	add(query{Name: "_sort on a quantity some resources lack, paged through the missing ones", Kind: "type", ResourceType: "Observation",
		Params: p("subject:Patient.family", c.smallFamily, "_sort", "-component-value-quantity,_id", "_count", "4"),
		expect: func(m *model) want {
			pats := m.where("Patient", func(r *resource) bool { return anyPrefix(r.strs("name.family"), c.smallFamily) })
			quantities := func(r *resource) []any {
				var out []any
				for _, f := range r.quantities("component.valueQuantity") {
					out = append(out, f)
				}
				return out
			}
			return want{matches: ordered(m.where("Observation", subjectIn("subject", pats)),
				sortKey{values: quantities, desc: true}, sortKey{values: idKey}), ordered: true, pageSize: 4}
		}})
	add(query{Name: "_id with several values", Kind: "type", ResourceType: "Patient",
		Params: p("_id", "pat-000003,pat-000001,pat-999999,"+c.rich),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool {
				return r.id == "pat-000001" || r.id == "pat-000003" || r.id == c.rich
			})), ordered: true}
		}})
	add(query{Name: "token with several values", Kind: "type", ResourceType: "Observation",
		Params: p("code", loinc+"|"+heartRate+","+loinc+"|"+glucose, "patient", "Patient/"+c.rich),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Observation", func(r *resource) bool {
				return r.refersTo("subject", "Patient/"+c.rich) && (r.hasCoding("code", loinc, heartRate) || r.hasCoding("code", loinc, glucose))
			})), ordered: true}
		}})
	add(query{Name: "_count=0", Kind: "type", ResourceType: "Encounter",
		Params: p("class", "VR", "_count", "0"),
		expect: func(m *model) want {
			return want{countOnly: true, matches: typeOrder(m.where("Encounter", func(r *resource) bool { return slices.Contains(r.strs("class.code"), "VR") }))}
		}})
	add(query{Name: "_total=none", Kind: "type", ResourceType: "Condition",
		Params: p("_total", "none", "_count", "50"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Condition", all)), ordered: true, pageSize: 50, noTotal: true}
		}})
	add(query{Name: "_count above the server's maximum (1000)", Kind: "type", ResourceType: "Observation",
		Params: p("_count", "5000"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Observation", all)), ordered: true, pageSize: 1000}
		}})
	add(query{Name: "_count=1 through every page", Kind: "type", ResourceType: "Practitioner",
		Params: p("_count", "1"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Practitioner", all)), ordered: true, pageSize: 1}
		}})
	add(query{Name: "_summary=count", Kind: "type", ResourceType: "Observation",
		Params: p("category", "laboratory", "_summary", "count"),
		expect: func(m *model) want {
			return want{countOnly: true, matches: typeOrder(m.where("Observation", func(r *resource) bool { return r.hasCoding("category", "", "laboratory") }))}
		}})
	add(query{Name: "_total=accurate, token without system", Kind: "type", ResourceType: "Condition",
		Params: p("code", diabetes2, "_total", "accurate", "_count", "5"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Condition", func(r *resource) bool { return r.hasCoding("code", "", diabetes2) })), ordered: true, pageSize: 5}
		}})

	return qs
}
