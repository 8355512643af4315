package fhir

import "testing"

// TestScanPatientRefs checks the scanner against encoding/json on shapes
// a resource's JSON takes, and on malformed ones (where it must give way).
func TestScanPatientRefs(t *testing.T) {
	bodies := []string{
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p1"}}`,
		`{"resourceType":"Observation","contained":[{"resourceType":"Patient","id":"x","subject":{"reference":"Patient/inner"}}],"subject":{"reference":"#x"},"note":[{"text":"a \"quoted\" {brace} [bracket], comma"}]}`,
		`{"resourceType":"Encounter","subject":{"display":"no reference","identifier":{"system":"s","value":"v"}},"participant":[{"individual":{"reference":"Practitioner/1"}}]}`,
		`{"resourceType":"Coverage","beneficiary":{"reference":"Patient/b1"},"payor":[{"reference":"Organization/o"}]}`,
		`{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/a1","display":"x"},"onsetAge":{"value":3.5e1,"unit":"a"},"verified":true,"x":null}`,
		`{"resourceType":"Contract","subject":[{"reference":"Patient/c1"}]}`,
		`{"resourceType":"Observation","subject":null,"patient":{"reference":"Patient/p2"}}`,
		`{"resourceType":"Observation","subject":"Patient/p3"}`,
		`{"resourceType":"Observation","subject":{"reference":"Patient\/p4"}}`,
		`{"resourceType":"Obs\u0065rvation","subject":{"reference":"Patient/p5"}}`,
		` { "resourceType" : "Observation" , "subject" : { "reference" : "Patient/p6" } } `,
		`{"resourceType":"Observation","code":{"text":"cut short"}`,
		`{"resourceType":"Observation","code":{"text":"x"}} trailing`,
		`{"resourceType":"Observation","patient":{"reference":"Patient/p7"}`,
		`{}`,
		`[]`,
		`not json`,
		`{"resourceType":"Observation","valueString":"\\","subject":{"reference":"Patient/p9"}}`,
		`{"resourceType":"Observation","valueString":"a\\\"b\\\\","subject":{"reference":"Patient/p10"}}`,
	}
	for _, body := range bodies {
		want := ""
		if refs, ok := decodePatientRefs([]byte(body)); ok && refs.resourceType == "Observation" {
			for _, ref := range []string{refs.subject, refs.patient, refs.beneficiary} {
				if len(ref) > 8 && ref[:8] == "Patient/" {
					want = ref
					break
				}
			}
		}
		if got := patientOf("Observation", "o1", []byte(body)); got != want {
			t.Errorf("patientOf(%s) = %q, encoding/json gives %q", body, got, want)
		}
	}
	// The scan stops at a Patient subject: what follows is not read, so a
	// document malformed after it still answers that patient (the
	// server's answers are well-formed; encoding/json gives none).
	for body, want := range map[string]string{
		`{"resourceType":"Observation","subject":{"reference":"Patient/p8"}`:           "Patient/p8",
		`{"resourceType":"Observation","subject":{"reference":"Patient/p8"}} trailing`: "Patient/p8",
		`{"subject":{"reference":"Patient/p8"},"code":{"text":"cut short"}`:            "",
	} {
		if got := patientOf("Observation", "o1", []byte(body)); got != want {
			t.Errorf("patientOf(%s) = %q, want %q", body, got, want)
		}
	}
	for typ, want := range map[string]string{"Coverage": "Patient/b1", "AllergyIntolerance": "Patient/a1", "Contract": ""} {
		for _, body := range bodies {
			if refs, ok := scanPatientRefs([]byte(body)); ok && refs.resourceType == typ {
				if got := patientOf(typ, "x", []byte(body)); got != want {
					t.Errorf("patientOf(%s, %s) = %q, want %q", typ, body, got, want)
				}
			}
		}
	}
}

func BenchmarkPatientOf(b *testing.B) {
	body := []byte(`{"resourceType":"Observation","id":"o1","meta":{"versionId":"1","lastUpdated":"2026-03-01T10:01:30.000Z"},"status":"final",` +
		`"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],` +
		`"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}],"text":"Heart rate"},` +
		`"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-03-01T10:00:00Z","valueQuantity":{"value":72,"unit":"beats/minute"}}`)
	b.Run("scan", func(b *testing.B) {
		for range b.N {
			if _, ok := scanPatientRefs(body); !ok {
				b.Fatal("not scanned")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for range b.N {
			if _, ok := decodePatientRefs(body); !ok {
				b.Fatal("not decoded")
			}
		}
	})
}
