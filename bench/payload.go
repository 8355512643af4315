package bench

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	mathrand "math/rand/v2"
	"time"
)

// vitalSign is a LOINC-coded measurement the Observations are drawn from.
type vitalSign struct {
	code, display, unit, ucum string
	low, high                 float64
}

var vitalSigns = []vitalSign{
	{"8867-4", "Heart rate", "beats/minute", "/min", 55, 110},
	{"8480-6", "Systolic blood pressure", "mmHg", "mm[Hg]", 95, 170},
	{"8462-4", "Diastolic blood pressure", "mmHg", "mm[Hg]", 55, 100},
	{"8310-5", "Body temperature", "Cel", "Cel", 36, 39.5},
	{"9279-1", "Respiratory rate", "breaths/minute", "/min", 10, 26},
	{"2708-6", "Oxygen saturation in Arterial blood", "%", "%", 88, 100},
	{"29463-7", "Body weight", "kg", "kg", 45, 120},
	{"2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", "mg/dL", 65, 190},
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type codeable struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text,omitempty"`
}

type quantity struct {
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	System string  `json:"system"`
	Code   string  `json:"code"`
}

type reference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

type observation struct {
	ResourceType      string      `json:"resourceType"`
	Meta              any         `json:"meta"`
	Identifier        []any       `json:"identifier"`
	Status            string      `json:"status"`
	Category          []codeable  `json:"category"`
	Code              codeable    `json:"code"`
	Subject           reference   `json:"subject"`
	EffectiveDateTime string      `json:"effectiveDateTime"`
	Issued            string      `json:"issued"`
	Performer         []reference `json:"performer"`
	ValueQuantity     quantity    `json:"valueQuantity"`
	Interpretation    []codeable  `json:"interpretation"`
	Note              []any       `json:"note"`
	Device            reference   `json:"device"`
	ReferenceRange    []any       `json:"referenceRange"`
}

// newObservation returns a vital-sign Observation of about 1 KB, as a
// telemonitoring device would post it.
func newObservation(rng *mathrand.Rand, subject string) ([]byte, error) {
	v := vitalSigns[rng.IntN(len(vitalSigns))]
	value := v.low + rng.Float64()*(v.high-v.low)
	value = float64(int(value*10)) / 10
	when := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(300*24*3600)) * time.Second)
	interpretation := "N"
	if value > v.low+0.85*(v.high-v.low) {
		interpretation = "H"
	}
	obs := observation{
		ResourceType: "Observation",
		Meta: map[string]any{"profile": []string{"http://hl7.org/fhir/StructureDefinition/vitalsigns"},
			"source": "urn:telehub:bench:telemonitoring-gateway"},
		Identifier: []any{map[string]string{
			"system": "urn:oid:1.2.250.1.999.1.1",
			"value":  fmt.Sprintf("obs-%s", randomHex(8)),
		}},
		Status: "final",
		Category: []codeable{{Coding: []coding{{
			System: "http://terminology.hl7.org/CodeSystem/observation-category", Code: "vital-signs", Display: "Vital Signs"}}}},
		Code:              codeable{Coding: []coding{{System: "http://loinc.org", Code: v.code, Display: v.display}}, Text: v.display},
		Subject:           reference{Reference: subject},
		EffectiveDateTime: when.Format(time.RFC3339),
		Issued:            when.Add(90 * time.Second).Format("2006-01-02T15:04:05.000Z07:00"),
		Performer:         []reference{{Reference: subject}},
		ValueQuantity:     quantity{Value: value, Unit: v.unit, System: "http://unitsofmeasure.org", Code: v.ucum},
		Interpretation: []codeable{{Coding: []coding{{
			System: "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", Code: interpretation}}}},
		Note:   []any{map[string]string{"text": "Measured at home by the patient with a connected device, transmitted by the telemonitoring gateway."}},
		Device: reference{Display: "Connected monitor, home telemonitoring kit"},
		ReferenceRange: []any{map[string]any{
			"low":  quantity{Value: v.low, Unit: v.unit, System: "http://unitsofmeasure.org", Code: v.ucum},
			"high": quantity{Value: v.high, Unit: v.unit, System: "http://unitsofmeasure.org", Code: v.ucum},
		}},
	}
	return json.Marshal(obs)
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  bundleRequest   `json:"request"`
}

type bundleRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// newTransaction returns a transaction Bundle creating one Observation per body.
func newTransaction(bodies [][]byte) ([]byte, error) {
	entries := make([]bundleEntry, len(bodies))
	for i, body := range bodies {
		entries[i] = bundleEntry{
			FullURL:  "urn:uuid:" + newUUID(),
			Resource: body,
			Request:  bundleRequest{Method: "POST", URL: "Observation"},
		}
	}
	return json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

func newPatient(i int) ([]byte, error) {
	return json.Marshal(map[string]any{
		"resourceType": "Patient",
		"identifier":   []any{map[string]string{"system": "urn:oid:1.2.250.1.999.1.2", "value": fmt.Sprintf("bench-%s", randomHex(6))}},
		"name":         []any{map[string]any{"family": fmt.Sprintf("Bench%d", i), "given": []string{"Test"}}},
		"gender":       "unknown",
		"birthDate":    fmt.Sprintf("19%02d-0%d-1%d", 40+i, 1+i%9, i%10),
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return fmt.Sprintf("%x", b)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
