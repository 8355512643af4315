package searchclient

import (
	"slices"

	"github.com/telehub/telehub/population"
)

// chainQueries are chains to three levels, reverse chains (_has, nested)
// and _include/_revinclude with :iterate and "*".
func chainQueries(c choices) []query {
	var qs []query
	add := func(q query) { qs = append(qs, q) }
	// --- chains
	add(query{Name: "chain subject:Patient.name", Kind: "type", ResourceType: "Observation",
		Params: p("subject:Patient.name", c.commonFamily, "_count", "20"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Observation", subjectIn("subject", patientsNamed(m, c.commonFamily)))), ordered: true, pageSize: 20}
		}})
	add(query{Name: "chain patient.gender, sorted by date, paged under writes", Kind: "type", ResourceType: "Encounter",
		Params: p("patient.gender", "female", "_sort", "date", "_count", "25"), Hook: true,
		expect: func(m *model) want {
			women := m.where("Patient", func(r *resource) bool { return slices.Contains(r.strs("gender"), "female") })
			return want{matches: ordered(m.where("Encounter", subjectIn("subject", women)), sortKey{values: periodBounds("period")}), ordered: true, pageSize: 25}
		}})
	add(query{Name: "chain two levels patient.general-practitioner:Practitioner.family", Kind: "type", ResourceType: "Observation",
		Params: p("patient.general-practitioner:Practitioner.family", c.gpFamily, "_count", "50"),
		expect: func(m *model) want {
			gps := m.where("Practitioner", func(r *resource) bool { return anyPrefix(r.strs("name.family"), c.gpFamily) })
			pats := m.where("Patient", subjectIn("generalPractitioner", gps))
			return want{matches: typeOrder(m.where("Observation", subjectIn("subject", pats))), ordered: true, pageSize: 50}
		}})

	add(query{Name: "POST _search with a chain and _sort", Kind: "type", ResourceType: "Observation", Post: true,
		Params: p("patient.family", c.smallFamily, "_sort", "-date", "_count", "5"),
		expect: func(m *model) want {
			pats := m.where("Patient", func(r *resource) bool { return anyPrefix(r.strs("name.family"), c.smallFamily) })
			return want{matches: ordered(m.where("Observation", subjectIn("subject", pats)),
				sortKey{values: instantsAt("effectiveDateTime"), desc: true}), ordered: true, pageSize: 5}
		}})

	add(query{Name: "chain on an identifier", Kind: "type", ResourceType: "Observation",
		Params: p("patient.identifier", population.SystemINSNIR+"|"+c.ins),
		expect: func(m *model) want {
			pats := m.where("Patient", func(r *resource) bool {
				return slices.ContainsFunc(values(r.doc, "identifier"), func(v any) bool {
					o, _ := v.(map[string]any)
					return o["system"] == population.SystemINSNIR && o["value"] == c.ins
				})
			})
			return want{matches: typeOrder(m.where("Observation", subjectIn("subject", pats))), ordered: true}
		}})
	add(query{Name: "chain three levels basedon:ServiceRequest.encounter.patient.gender", Kind: "type", ResourceType: "ImagingStudy",
		Params: p("basedon:ServiceRequest.encounter.patient.gender", "male", "_count", "10"),
		expect: func(m *model) want {
			men := m.where("Patient", func(r *resource) bool { return slices.Contains(r.strs("gender"), "male") })
			encs := m.where("Encounter", subjectIn("subject", men))
			srs := m.where("ServiceRequest", subjectIn("encounter", encs))
			return want{matches: typeOrder(m.where("ImagingStudy", subjectIn("basedOn", srs))), ordered: true, pageSize: 10}
		}})

	add(query{Name: "chain with several values and :exact", Kind: "type", ResourceType: "Observation",
		Params: p("subject:Patient.family:exact", c.commonFamily+","+c.smallFamily, "_count", "40"),
		expect: func(m *model) want {
			pats := m.where("Patient", func(r *resource) bool {
				f := r.strs("name.family")
				return slices.Contains(f, c.commonFamily) || slices.Contains(f, c.smallFamily)
			})
			return want{matches: typeOrder(m.where("Observation", subjectIn("subject", pats))), ordered: true, pageSize: 40}
		}})
	add(query{Name: "two chains ANDed", Kind: "type", ResourceType: "Condition",
		Params: p("patient.gender", "female", "patient.birthdate", "lt1960-01-01", "_count", "20"),
		expect: func(m *model) want {
			pats := m.where("Patient", func(r *resource) bool {
				return slices.Contains(r.strs("gender"), "female") && r.instants("birthDate")[0].Before(utc("1960-01-01"))
			})
			return want{matches: typeOrder(m.where("Condition", subjectIn("subject", pats))), ordered: true, pageSize: 20}
		}})
	add(query{Name: "chain with _summary=count", Kind: "type", ResourceType: "Observation",
		Params: p("patient.gender", "male", "_summary", "count"),
		expect: func(m *model) want {
			men := m.where("Patient", func(r *resource) bool { return slices.Contains(r.strs("gender"), "male") })
			return want{countOnly: true, matches: typeOrder(m.where("Observation", subjectIn("subject", men)))}
		}})

	// --- reverse chains
	add(query{Name: "_has Observation:subject:code", Kind: "type", ResourceType: "Patient",
		Params: p("_has:Observation:subject:code", loinc+"|"+hba1c, "_count", "30"),
		expect: func(m *model) want {
			obs := m.where("Observation", func(r *resource) bool { return r.hasCoding("code", loinc, hba1c) })
			return want{matches: typeOrder(m.where("Patient", referencedBy(obs, "subject"))), ordered: true, pageSize: 30}
		}})
	add(query{Name: "_has nested Encounter:patient then Observation:encounter", Kind: "type", ResourceType: "Patient",
		Params: p("_has:Encounter:patient:_has:Observation:encounter:code", loinc+"|"+glucose, "_count", "30"),
		expect: func(m *model) want {
			obs := m.where("Observation", func(r *resource) bool { return r.hasCoding("code", loinc, glucose) })
			encs := m.where("Encounter", referencedBy(obs, "encounter"))
			return want{matches: typeOrder(m.where("Patient", referencedBy(encs, "subject"))), ordered: true, pageSize: 30}
		}})
	add(query{Name: "_has Encounter:participant:class", Kind: "type", ResourceType: "Practitioner",
		Params: p("_has:Encounter:participant:class", "IMP"),
		expect: func(m *model) want {
			encs := m.where("Encounter", func(r *resource) bool { return slices.Contains(r.strs("class.code"), "IMP") })
			return want{matches: typeOrder(m.where("Practitioner", referencedBy(encs, "participant.individual"))), ordered: true}
		}})

	add(query{Name: "_has with _sort on a string", Kind: "type", ResourceType: "Patient",
		Params: p("_has:Condition:subject:code", snomed+"|"+diabetes2, "_sort", "given,_id", "_count", "5"),
		expect: func(m *model) want {
			conds := m.where("Condition", func(r *resource) bool { return r.hasCoding("code", snomed, diabetes2) })
			return want{matches: ordered(m.where("Patient", referencedBy(conds, "subject")),
				sortKey{values: foldedStrings("name.given")}, sortKey{values: idKey}), ordered: true, pageSize: 5}
		}})

	// --- includes
	add(query{Name: "_include patient and requester", Kind: "type", ResourceType: "MedicationRequest",
		Params: p("code", atc+"|"+metformin, "_include", "MedicationRequest:patient", "_include", "MedicationRequest:requester", "_count", "10"),
		expect: func(m *model) want {
			meds := m.where("MedicationRequest", func(r *resource) bool { return r.hasCoding("medicationCodeableConcept", atc, metformin) })
			return want{matches: typeOrder(meds), ordered: true, pageSize: 10,
				includes: func(m *model, page []string) []string {
					return targets(m, page, "subject", "requester")
				}}
		}})
	add(query{Name: "_include with :iterate", Kind: "type", ResourceType: "ServiceRequest",
		Params: p("code", snomed+"|"+teleconsul, "_include", "ServiceRequest:encounter", "_include:iterate", "Encounter:appointment", "_count", "15"),
		expect: func(m *model) want {
			srs := m.where("ServiceRequest", func(r *resource) bool { return r.hasCoding("code", snomed, teleconsul) })
			return want{matches: typeOrder(srs), ordered: true, pageSize: 15,
				includes: func(m *model, page []string) []string {
					encs := targets(m, page, "encounter")
					return append(encs, targets(m, encs, "appointment")...)
				}}
		}})
	add(query{Name: "_include=*", Kind: "type", ResourceType: "MedicationRequest",
		Params: p("patient", "Patient/"+c.medicated, "_include", "*", "_count", "2"),
		expect: func(m *model) want {
			meds := m.where("MedicationRequest", func(r *resource) bool { return r.refersTo("subject", "Patient/"+c.medicated) })
			return want{matches: typeOrder(meds), ordered: true, pageSize: 2,
				// "*" follows every reference search parameter of the
				// type: subject (patient), encounter and requester here.
				// reasonReference has none in R4 MedicationRequest, so the
				// Conditions it points to are not included.
				includes: func(m *model, page []string) []string {
					return targets(m, page, "subject", "encounter", "requester")
				}}
		}})
	add(query{Name: "_revinclude with :iterate", Kind: "type", ResourceType: "Patient",
		Params: p("family", c.smallFamily, "_revinclude", "Encounter:subject", "_revinclude:iterate", "Observation:encounter", "_count", "2"),
		expect: func(m *model) want {
			pats := m.where("Patient", func(r *resource) bool { return anyPrefix(r.strs("name.family"), c.smallFamily) })
			return want{matches: typeOrder(pats), ordered: true, pageSize: 2,
				includes: func(m *model, page []string) []string {
					encs := referrers(m, "Encounter", "subject", page)
					return append(encs, referrers(m, "Observation", "encounter", encs)...)
				}}
		}})

	return qs
}
