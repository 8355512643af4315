package searchclient

import (
	"slices"
	"strings"
	"time"

	"github.com/telehub/telehub/population"
)

// parameterQueries are token, date, string, reference and quantity
// parameters with their prefixes and modifiers.
func parameterQueries(c choices) []query {
	var qs []query
	add := func(q query) { qs = append(qs, q) }
	// --- tokens
	add(query{Name: "token identifier system|value", Kind: "type", ResourceType: "Patient",
		Params: p("identifier", population.SystemINSNIR+"|"+c.ins),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool {
				return slices.ContainsFunc(values(r.doc, "identifier"), func(v any) bool {
					o, _ := v.(map[string]any)
					return o["system"] == population.SystemINSNIR && o["value"] == c.ins
				})
			})), ordered: true}
		}})
	add(query{Name: "token _tag", Kind: "type", ResourceType: "Patient",
		Params: p("_tag", population.IdentityStatusSystem+"|PROV", "_count", "40"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool { return r.hasCoding("meta.tag", population.IdentityStatusSystem, "PROV") })), ordered: true, pageSize: 40}
		}})
	add(query{Name: "token :not", Kind: "type", ResourceType: "Patient",
		Params: p("gender:not", "male", "_count", "100"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool { return !slices.Contains(r.strs("gender"), "male") })), ordered: true, pageSize: 100}
		}})
	add(query{Name: "token :not with a reference", Kind: "type", ResourceType: "Observation",
		Params: p("patient", "Patient/"+c.rich, "code:not", loinc+"|"+bpPanel),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Observation", func(r *resource) bool {
				return r.refersTo("subject", "Patient/"+c.rich) && !r.hasCoding("code", loinc, bpPanel)
			})), ordered: true}
		}})
	add(query{Name: "token :of-type on an identifier", Kind: "type", ResourceType: "Patient",
		Params: p("identifier:of-type", "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203|INS-NIR|"+c.ins),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool {
				return slices.ContainsFunc(values(r.doc, "identifier"), func(v any) bool {
					o, _ := v.(map[string]any)
					return o["value"] == c.ins && (&resource{doc: o}).hasCoding("type", "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203", "INS-NIR")
				})
			})), ordered: true}
		}})
	add(query{Name: "token system| only", Kind: "type", ResourceType: "Observation",
		Params: p("code", loinc+"|", "_summary", "count"),
		expect: func(m *model) want {
			return want{countOnly: true, matches: typeOrder(m.where("Observation", func(r *resource) bool {
				return slices.ContainsFunc(values(r.doc, "code.coding"), func(v any) bool {
					o, _ := v.(map[string]any)
					return o["system"] == loinc
				})
			}))}
		}})
	add(query{Name: "token |code (no system) finds codes without a system only", Kind: "type", ResourceType: "Observation",
		Params: p("code", "|"+heartRate),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Observation", func(r *resource) bool {
				return slices.ContainsFunc(values(r.doc, "code.coding"), func(v any) bool {
					o, _ := v.(map[string]any)
					_, hasSystem := o["system"]
					return o["code"] == heartRate && !hasSystem
				})
			})), ordered: true}
		}})
	add(query{Name: "token on a phone number with + and spaces", Kind: "type", ResourceType: "Patient",
		Params: p("phone", c.phone),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool { return slices.Contains(r.strs("telecom.value"), c.phone) })), ordered: true}
		}})
	// Tokens match case-sensitively (the server does not fold an e-mail
	// address's domain either), so the address is searched as written.
	add(query{Name: "token email", Kind: "type", ResourceType: "Practitioner",
		Params: p("email", c.email),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Practitioner", func(r *resource) bool { return slices.Contains(r.strs("telecom.value"), c.email) })), ordered: true}
		}})
	add(query{Name: "token boolean", Kind: "type", ResourceType: "Patient",
		Params: p("active", "true", "_summary", "count"),
		expect: func(m *model) want {
			return want{countOnly: true, matches: typeOrder(m.where("Patient", func(r *resource) bool { return r.doc["active"] == true }))}
		}})
	add(query{Name: "_content word", Kind: "type", ResourceType: "Condition",
		Params: p("_content", "Diabetes", "_count", "100"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Condition", func(r *resource) bool {
				return slices.ContainsFunc(allStrings(r.doc), func(s string) bool { return slices.Contains(words(s), "diabetes") })
			})), ordered: true, pageSize: 100}
		}})
	add(query{Name: "reference :missing=true", Kind: "type", ResourceType: "Encounter",
		Params: p("appointment:missing", "true", "_count", "200"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Encounter", func(r *resource) bool { return len(r.refs("appointment")) == 0 })), ordered: true, pageSize: 200}
		}})
	add(query{Name: "reference :missing=false and token", Kind: "type", ResourceType: "Encounter",
		Params: p("reason-reference:missing", "false", "class", "AMB", "_count", "200"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Encounter", func(r *resource) bool {
				return len(r.refs("reasonReference")) > 0 && slices.Contains(r.strs("class.code"), "AMB")
			})), ordered: true, pageSize: 200}
		}})

	// --- dates
	add(query{Name: "date ge and lt", Kind: "type", ResourceType: "Observation",
		Params: p("date", "ge2024-01-01T00:00:00Z", "date", "lt2024-07-01T00:00:00Z", "category", "laboratory"),
		expect: func(m *model) want {
			from, to := utc("2024-01-01T00:00:00Z"), utc("2024-07-01T00:00:00Z")
			return want{matches: typeOrder(m.where("Observation", func(r *resource) bool {
				return r.hasCoding("category", "", "laboratory") && slices.ContainsFunc(r.instants("effectiveDateTime"), func(t time.Time) bool {
					return !t.Before(from) && t.Before(to)
				})
			})), ordered: true}
		}})
	add(query{Name: "date with time-zone offsets", Kind: "type", ResourceType: "Observation",
		Params: p("code", loinc+"|"+glucose, "date", "ge2024-03-01T10:00:00+01:00", "date", "le2024-09-01T00:00:00+02:00"),
		expect: func(m *model) want {
			from, to := utc("2024-03-01T09:00:00Z"), utc("2024-08-31T22:00:00Z")
			return want{matches: typeOrder(m.where("Observation", func(r *resource) bool {
				return r.hasCoding("code", loinc, glucose) && slices.ContainsFunc(r.instants("effectiveDateTime"), func(t time.Time) bool {
					return !t.Before(from) && !t.After(to)
				})
			})), ordered: true}
		}})
	add(query{Name: "date lt on a day", Kind: "type", ResourceType: "Patient",
		Params: p("birthdate", "lt1950-01-01"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool {
				return slices.ContainsFunc(r.instants("birthDate"), func(t time.Time) bool { return t.Before(utc("1950-01-01")) })
			})), ordered: true}
		}})
	add(query{Name: "date ge and le on days", Kind: "type", ResourceType: "Patient",
		Params: p("birthdate", "ge2000-01-01", "birthdate", "le2005-12-31"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool {
				return slices.ContainsFunc(r.instants("birthDate"), func(t time.Time) bool {
					return !t.Before(utc("2000-01-01")) && t.Before(utc("2006-01-01"))
				})
			})), ordered: true}
		}})
	add(query{Name: "date ne on a year", Kind: "type", ResourceType: "Patient",
		Params: p("birthdate", "ne1980", "_count", "200"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool {
				return slices.ContainsFunc(r.instants("birthDate"), func(t time.Time) bool { return t.Year() != 1980 })
			})), ordered: true, pageSize: 200}
		}})
	add(query{Name: "date sa on a period", Kind: "type", ResourceType: "Encounter",
		Params: p("date", "sa2025-06-01T00:00:00Z", "_count", "100"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Encounter", func(r *resource) bool {
				start := r.instants("period")
				return len(start) > 0 && start[0].After(utc("2025-06-01T00:00:00Z"))
			})), ordered: true, pageSize: 100}
		}})
	add(query{Name: "date eb on a period", Kind: "type", ResourceType: "Encounter",
		Params: p("date", "eb2021-06-01T00:00:00Z", "_count", "100"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Encounter", func(r *resource) bool {
				end := r.instants("period.end")
				return len(end) > 0 && end[0].Before(utc("2021-06-01T00:00:00Z"))
			})), ordered: true, pageSize: 100}
		}})

	// --- strings
	add(query{Name: "string prefix, accent-folded", Kind: "type", ResourceType: "Patient",
		Params: p("family", "DUP"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool { return anyPrefix(r.strs("name.family"), "dup") })), ordered: true}
		}})
	add(query{Name: "string name with accents", Kind: "type", ResourceType: "Patient",
		Params: p("name", "helene"),
		expect: func(m *model) want {
			return want{matches: typeOrder(patientsNamed(m, "hélène")), ordered: true}
		}})
	add(query{Name: "string on an address part", Kind: "type", ResourceType: "Patient",
		Params: p("address-city", strings.ToUpper(c.city), "_count", "100"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool { return anyPrefix(r.strs("address.city"), c.city) })), ordered: true, pageSize: 100}
		}})
	add(query{Name: "string :contains on any address part", Kind: "type", ResourceType: "Patient",
		Params: p("address:contains", "LIBERATION", "_count", "100"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool {
				var parts []string
				for _, k := range []string{"line", "city", "district", "state", "postalCode", "country", "text"} {
					parts = append(parts, r.strs("address."+k)...)
				}
				return slices.ContainsFunc(parts, func(s string) bool { return strings.Contains(fold(s), "liberation") })
			})), ordered: true, pageSize: 100}
		}})
	add(query{Name: "string :exact", Kind: "type", ResourceType: "Patient",
		Params: p("family:exact", c.commonFamily),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool { return slices.Contains(r.strs("name.family"), c.commonFamily) })), ordered: true}
		}})
	add(query{Name: "string :exact is case-sensitive", Kind: "type", ResourceType: "Patient",
		Params: p("family:exact", strings.ToLower(c.commonFamily)),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool {
				return slices.Contains(r.strs("name.family"), strings.ToLower(c.commonFamily))
			})), ordered: true}
		}})
	add(query{Name: "string :contains with accents", Kind: "type", ResourceType: "Patient",
		Params: p("name:contains", "LÈNE"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool {
				return slices.ContainsFunc(r.nameParts("name"), func(s string) bool { return strings.Contains(fold(s), "lene") })
			})), ordered: true}
		}})
	add(query{Name: "string :exact keeps accents", Kind: "type", ResourceType: "Patient",
		Params: p("given:exact", "Hélène,Helene"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool {
				return slices.ContainsFunc(r.strs("name.given"), func(s string) bool { return s == "Hélène" || s == "Helene" })
			})), ordered: true}
		}})
	add(query{Name: "string :contains", Kind: "type", ResourceType: "Patient",
		Params: p("given:contains", "ELL", "_count", "100"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Patient", func(r *resource) bool {
				return slices.ContainsFunc(r.strs("name.given"), func(s string) bool { return strings.Contains(fold(s), "ell") })
			})), ordered: true, pageSize: 100}
		}})

	// --- references
	add(query{Name: "reference Type/id", Kind: "type", ResourceType: "Observation",
		Params: p("patient", "Patient/"+c.other),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Observation", func(r *resource) bool { return r.refersTo("subject", "Patient/"+c.other) })), ordered: true}
		}})
	add(query{Name: "reference bare id", Kind: "type", ResourceType: "Condition",
		Params: p("subject", c.other),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Condition", func(r *resource) bool { return r.refersTo("subject", "Patient/"+c.other) })), ordered: true}
		}})
	add(query{Name: "reference participant", Kind: "type", ResourceType: "Encounter",
		Params: p("participant", "Practitioner/pra-000003", "_count", "100"),
		expect: func(m *model) want {
			return want{matches: typeOrder(m.where("Encounter", func(r *resource) bool {
				return r.refersTo("participant.individual", "Practitioner/pra-000003")
			})), ordered: true, pageSize: 100}
		}})

	// --- quantities
	quantityQuery := func(name, param, value, path, code string, keep func(float64) bool) query {
		return query{Name: name, Kind: "type", ResourceType: "Observation", Params: p(param, value, "_count", "100"),
			expect: func(m *model) want {
				return want{matches: typeOrder(m.where("Observation", func(r *resource) bool {
					return slices.ContainsFunc(values(r.doc, path), func(v any) bool {
						o, _ := v.(map[string]any)
						if code != "" && o["code"] != code {
							return false
						}
						f, ok := number(o["value"])
						return ok && keep(f)
					})
				})), ordered: true, pageSize: 100}
			}}
	}
	// The search values have the precision of the data (one decimal for
	// kg and %, none for mm[Hg]): a value's implicit range ([6.95, 7.05)
	// for 7.0) then touches the search value's range only where the plain
	// comparison agrees, so the expectation holds whichever of the two
	// readings of the prefixes a server takes.
	add(quantityQuery("quantity gt with UCUM unit", "value-quantity", "gt80.0|"+ucum+"|kg", "valueQuantity", "kg",
		func(f float64) bool { return f > 80.0 }))
	add(quantityQuery("quantity lt with a code and no system", "value-quantity", "lt60.0||kg", "valueQuantity", "kg",
		func(f float64) bool { return f < 60.0 }))
	add(quantityQuery("quantity le on %", "value-quantity", "le7.0|"+ucum+"|%", "valueQuantity", "%",
		func(f float64) bool { return f <= 7.0 }))
	add(quantityQuery("quantity ge without unit on components", "component-value-quantity", "ge140", "component.valueQuantity", "",
		func(f float64) bool { return f >= 140 }))
	add(quantityQuery("quantity eq at the data's precision", "value-quantity", "eq98|"+ucum+"|%", "valueQuantity", "%",
		func(f float64) bool { return f == 98 }))

	return qs
}
