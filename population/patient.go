package population

import (
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// patientPlan is the shape of one patient's record, drawn from its own
// stream so that sizes are known without generating content.
type patientPlan struct {
	conditions []int // indexes into conditions, distinct
	encounters []encounterPlan
	upcoming   bool // a booked appointment after the period
}

type encounterPlan struct {
	class        coding
	appointment  bool
	observations []int // observation kinds
	imaging      int   // -1: none; else index into imagingProcedures
	teleconsult  bool  // a teleconsultation is requested
	study        bool  // the imaging request was performed
}

func (g *Generator) plan(i int) patientPlan {
	r := g.rng(streamPlan, i)
	var p patientPlan
	p.conditions = r.Perm(len(conditions))[:r.IntN(4)]
	p.encounters = make([]encounterPlan, 1+r.IntN(5))
	for k := range p.encounters {
		e := encounterPlan{class: pick(r, encounterClasses), imaging: -1}
		e.appointment = (e.class.Code == "VR" || e.class.Code == "AMB") && r.IntN(5) != 0
		n := 2 + r.IntN(5)
		if e.class.Code == "VR" {
			n = 1 + r.IntN(3)
		}
		kinds := r.Perm(len(observationKinds))[:n]
		for _, kind := range kinds {
			e.observations = append(e.observations, observationKinds[kind])
		}
		switch r.IntN(5) {
		case 0:
			e.teleconsult = true
		case 1:
			e.imaging = r.IntN(len(imagingProcedures))
			e.study = r.IntN(5) != 0
		}
		p.encounters[k] = e
	}
	p.upcoming = r.IntN(2) == 0
	return p
}

// size is the number of resources of the record, the patient included.
func (p patientPlan) size() int {
	n := 1 + 2*len(p.conditions) // conditions and their medication requests
	if p.upcoming {
		n++
	}
	for _, e := range p.encounters {
		n += 1 + len(e.observations)
		if e.appointment {
			n++
		}
		if e.teleconsult || e.imaging >= 0 {
			n++
		}
		if e.study {
			n++
		}
	}
	return n
}

// person is what a patient's clinical resources need to know of them.
type person struct {
	index        int
	id           string
	birth        time.Time
	practitioner int // the general practitioner
	conditions   []string
}

// patientRecord yields patient i and its clinical resources, in an order
// where every reference points to a resource already yielded.
func (g *Generator) patientRecord(i int) iter.Seq[Resource] {
	return func(yield func(Resource) bool) {
		plan := g.plan(i)
		r := g.rng(streamPatient, i)
		patient, who := g.patient(r, i)
		if !yield(patient) {
			return
		}
		from := g.opts.Until.AddDate(-5, 0, 0)
		if who.birth.After(from) {
			from = who.birth
		}
		for k, c := range plan.conditions {
			id := clinicalID("con", i, k+1)
			who.conditions = append(who.conditions, id)
			if !yield(g.condition(r, who, id, conditions[c], randomTime(r, who.birth, g.opts.Until))) {
				return
			}
		}
		times := make([]time.Time, len(plan.encounters))
		for k := range times {
			times[k] = randomTime(r, from, g.opts.Until)
		}
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		c := counters{}
		for k, e := range plan.encounters {
			for _, res := range g.encounterRecord(r, who, &c, e, times[k], k == 0, plan.conditions) {
				if !yield(res) {
					return
				}
			}
		}
		if plan.upcoming {
			start := workingHour(r, g.opts.Until.AddDate(0, 0, 1+r.IntN(60)))
			c.appointments++
			yield(g.appointment(r, who, clinicalID("apt", i, c.appointments), "booked", true, start, who.practitioner))
		}
	}
}

// counters numbers the resources of each kind within a patient's record.
type counters struct {
	appointments, encounters, observations, medications, services, studies int
}

// encounterRecord builds one encounter with what happened during it: its
// appointment, observations, prescriptions (at the first encounter) and
// requests, in reference order.
func (g *Generator) encounterRecord(r *rand.Rand, who *person, c *counters, e encounterPlan, at time.Time, first bool, conds []int) []Resource {
	var out []Resource
	practitioner := who.practitioner
	if r.IntN(3) == 0 {
		practitioner = 1 + r.IntN(g.practitioners)
	}
	start := workingHour(r, at)
	appointmentID := ""
	if e.appointment {
		c.appointments++
		appointmentID = clinicalID("apt", who.index, c.appointments)
		out = append(out, g.appointment(r, who, appointmentID, "fulfilled", e.class.Code == "VR", start, practitioner))
	}
	c.encounters++
	encounterID := clinicalID("enc", who.index, c.encounters)
	out = append(out, g.encounter(r, who, encounterID, appointmentID, e.class, start, practitioner))
	for _, kind := range e.observations {
		c.observations++
		id := clinicalID("obs", who.index, c.observations)
		out = append(out, g.observation(r, who, id, encounterID, kind, start.Add(10*time.Minute), practitioner))
	}
	if first {
		for k, cond := range conds {
			c.medications++
			id := clinicalID("med", who.index, c.medications)
			out = append(out, g.medicationRequest(who, id, encounterID, conditions[cond], who.conditions[k], start, practitioner))
		}
	}
	if e.teleconsult || e.imaging >= 0 {
		c.services++
		serviceID := clinicalID("srq", who.index, c.services)
		occurrence := start.AddDate(0, 0, 3+r.IntN(30))
		out = append(out, g.serviceRequest(who, serviceID, encounterID, e, start, occurrence, practitioner))
		if e.study {
			c.studies++
			id := clinicalID("img", who.index, c.studies)
			out = append(out, g.imagingStudy(r, who, id, encounterID, serviceID, imagingProcedures[e.imaging], occurrence, practitioner))
		}
	}
	return out
}

func (g *Generator) patient(r *rand.Rand, i int) (Resource, *person) {
	female := r.IntN(2) == 0
	sex, gender, given := 1, "male", pick(r, maleGivenNames)
	if female {
		sex, gender, given = 2, "female", pick(r, femaleGivenNames)
	}
	given2 := ""
	if r.IntN(3) == 0 {
		given2 = pick(r, maleGivenNames)
		if female {
			given2 = pick(r, femaleGivenNames)
		}
	}
	family := familyName(r)
	birth := time.Date(g.opts.Until.Year()-1-r.IntN(92), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
	birthPlace, home := pick(r, cities), pick(r, cities)
	status := pick(r, identityStatuses)
	practitioner := 1 + r.IntN(g.practitioners)
	who := &person{index: i, id: patientID(i), birth: birth, practitioner: practitioner}

	givens := []any{given}
	if given2 != "" && given2 != given {
		givens = append(givens, given2)
	}
	names := []any{object{"use": "official", "family": family, "given": givens}}
	if female && r.IntN(3) == 0 {
		// A married woman's usual name; the official one stays her birth name.
		names = append(names, object{"use": "usual", "family": familyName(r), "given": []any{given}})
	}
	identifiers := []any{object{
		"use":    "usual",
		"type":   codeable(coding{systemV20203, "PI", "Patient internal identifier"}),
		"system": SystemIPP,
		"value":  fmt.Sprintf("%09d", 100000000+i),
	}}
	statusCoding := object{"system": IdentityStatusSystem, "code": status.Code, "display": status.Display}
	if status.Code == "VALI" {
		ins := withINSKey(nir(sex, birth.Year(), int(birth.Month()), birthPlace, 1+r.IntN(999)))
		identifiers = append([]any{object{
			"use":    "official",
			"type":   codeable(coding{systemFRV20203, "INS-NIR", "NIR définitif"}),
			"system": SystemINSNIR,
			"value":  ins,
		}}, identifiers...)
	}
	mobile := "06"
	if r.IntN(3) == 0 {
		mobile = "07"
	}
	body := object{
		"meta": object{"tag": []any{statusCoding}},
		"extension": []any{object{
			"url": IdentityReliabilityURL,
			"extension": []any{object{
				"url": "identityStatus", "valueCoding": statusCoding,
			}},
		}},
		"identifier":           identifiers,
		"active":               true,
		"name":                 names,
		"telecom":              []any{object{"system": "phone", "value": phone(r, mobile), "use": "mobile"}},
		"gender":               gender,
		"birthDate":            birth.Format(time.DateOnly),
		"address":              []any{address(r, home, "home")},
		"generalPractitioner":  []any{ref("Practitioner", practitionerID(practitioner))},
		"managingOrganization": ref("Organization", organisationID(g.practitionerOrganisation(practitioner))),
	}
	return encode("Patient", who.id, body), who
}

func (g *Generator) condition(r *rand.Rand, who *person, id string, c condition, onset time.Time) Resource {
	return encode("Condition", id, object{
		"clinicalStatus":     codeable(coding{"http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"}),
		"verificationStatus": codeable(coding{"http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"}),
		"category":           []any{codeable(coding{"http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "Problem List Item"})},
		"code": object{
			"coding": []any{
				object{"system": systemSNOMED, "code": c.SNOMED, "display": c.Display},
				object{"system": systemICD10, "code": c.ICD10},
			},
			"text": c.Display,
		},
		"subject":       ref("Patient", who.id),
		"onsetDateTime": onset.Format(time.DateOnly),
		"recordedDate":  dateTime(onset.AddDate(0, 0, r.IntN(60))),
		"recorder":      ref("Practitioner", practitionerID(who.practitioner)),
	})
}

// appointment books a consultation, a teleconsultation when virtual.
func (g *Generator) appointment(r *rand.Rand, who *person, id, status string, virtual bool, start time.Time, practitioner int) Resource {
	minutes := 15 + 15*r.IntN(3)
	kind := coding{"http://terminology.hl7.org/CodeSystem/v2-0276", "ROUTINE", "Routine appointment"}
	if r.IntN(2) == 0 {
		kind = coding{"http://terminology.hl7.org/CodeSystem/v2-0276", "FOLLOWUP", "A follow up visit from a previous appointment"}
	}
	service, description := consultation, "Consultation de suivi"
	if virtual {
		service, description = teleconsultation, "Téléconsultation de suivi"
	}
	return encode("Appointment", id, object{
		"status":          status,
		"serviceType":     []any{codeable(service)},
		"appointmentType": codeable(kind),
		"description":     description,
		"start":           dateTime(start),
		"end":             dateTime(start.Add(time.Duration(minutes) * time.Minute)),
		"minutesDuration": minutes,
		"participant": []any{
			object{"actor": ref("Patient", who.id), "required": "required", "status": "accepted"},
			object{"actor": ref("Practitioner", practitionerID(practitioner)), "required": "required", "status": "accepted"},
		},
	})
}

func (g *Generator) encounter(r *rand.Rand, who *person, id, appointmentID string, class coding, start time.Time, practitioner int) Resource {
	end := start.Add(time.Duration(15+r.IntN(45)) * time.Minute)
	if class.Code == "IMP" {
		end = start.AddDate(0, 0, 1+r.IntN(10))
	}
	body := object{
		"status":  "finished",
		"class":   object{"system": class.System, "code": class.Code, "display": class.Display},
		"type":    []any{codeable(practitionerSpecialty(practitioner))},
		"subject": ref("Patient", who.id),
		"participant": []any{object{
			"type":       []any{codeable(coding{"http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PPRF", "primary performer"})},
			"individual": ref("Practitioner", practitionerID(practitioner)),
		}},
		"period":          object{"start": dateTime(start), "end": dateTime(end)},
		"serviceProvider": ref("Organization", organisationID(g.practitionerOrganisation(practitioner))),
	}
	if appointmentID != "" {
		body["appointment"] = []any{ref("Appointment", appointmentID)}
	}
	if len(who.conditions) > 0 {
		body["reasonReference"] = []any{ref("Condition", pick(r, who.conditions))}
	}
	return encode("Encounter", id, body)
}

func (g *Generator) observation(r *rand.Rand, who *person, id, encounterID string, kind int, at time.Time, practitioner int) Resource {
	body := object{
		"status":            "final",
		"subject":           ref("Patient", who.id),
		"encounter":         ref("Encounter", encounterID),
		"effectiveDateTime": dateTime(at),
		"issued":            dateTime(at.Add(time.Duration(r.IntN(120)) * time.Minute)),
		"performer":         []any{ref("Practitioner", practitionerID(practitioner))},
	}
	category := "vital-signs"
	if kind == bloodPressure {
		body["code"] = codeable(coding{systemLOINC, "85354-9", "Blood pressure panel with all children optional"})
		systolic := 100 + r.IntN(70)
		body["component"] = []any{
			object{
				"code":          codeable(coding{systemLOINC, "8480-6", "Systolic blood pressure"}),
				"valueQuantity": quantity(float64(systolic), "mm[Hg]", "mm[Hg]"),
			},
			object{
				"code":          codeable(coding{systemLOINC, "8462-4", "Diastolic blood pressure"}),
				"valueQuantity": quantity(float64(systolic-30-r.IntN(30)), "mm[Hg]", "mm[Hg]"),
			},
		}
	} else {
		v := vitals[kind]
		category = v.Category
		body["code"] = codeable(coding{systemLOINC, v.Code, v.Display})
		scale := math.Pow10(v.Decimals)
		value := math.Round((v.Low+r.Float64()*(v.High-v.Low))*scale) / scale
		body["valueQuantity"] = quantity(value, v.Unit, v.UCUM)
	}
	display := "Vital Signs"
	if category == "laboratory" {
		display = "Laboratory"
	}
	body["category"] = []any{codeable(coding{systemObsCat, category, display})}
	return encode("Observation", id, body)
}

func quantity(value float64, unit, code string) object {
	return object{"value": value, "unit": unit, "system": systemUCUM, "code": code}
}

func (g *Generator) medicationRequest(who *person, id, encounterID string, c condition, conditionID string, at time.Time, practitioner int) Resource {
	return encode("MedicationRequest", id, object{
		"status":                    "active",
		"intent":                    "order",
		"medicationCodeableConcept": codeable(c.Medication),
		"subject":                   ref("Patient", who.id),
		"encounter":                 ref("Encounter", encounterID),
		"authoredOn":                dateTime(at),
		"requester":                 ref("Practitioner", practitionerID(practitioner)),
		"reasonReference":           []any{ref("Condition", conditionID)},
		"dosageInstruction":         []any{object{"text": c.Dosage}},
	})
}

func (g *Generator) serviceRequest(who *person, id, encounterID string, e encounterPlan, at, occurrence time.Time, practitioner int) Resource {
	body := object{
		"status":             "completed",
		"intent":             "order",
		"subject":            ref("Patient", who.id),
		"encounter":          ref("Encounter", encounterID),
		"authoredOn":         dateTime(at),
		"occurrenceDateTime": dateTime(occurrence),
		"requester":          ref("Practitioner", practitionerID(practitioner)),
	}
	if e.imaging >= 0 {
		p := imagingProcedures[e.imaging]
		body["category"] = []any{codeable(coding{systemSNOMED, "363679005", "Imaging"})}
		body["code"] = codeable(coding{systemSNOMED, p.Code, p.Display})
		if !e.study {
			body["status"] = "active"
		}
	} else {
		body["code"] = codeable(teleconsultation)
	}
	return encode("ServiceRequest", id, body)
}

func (g *Generator) imagingStudy(r *rand.Rand, who *person, id, encounterID, serviceID string, p imagingProcedure, started time.Time, practitioner int) Resource {
	modality := object{"system": systemDICOM, "code": p.Modality, "display": p.ModalityDisplay}
	studyUID := dicomUID(r)
	var series []any
	total := 0
	count := 1 + r.IntN(3)
	for n := 1; n <= count; n++ {
		instances := 1 + r.IntN(200)
		total += instances
		series = append(series, object{
			"uid":               dicomUID(r),
			"number":            n,
			"modality":          modality,
			"description":       fmt.Sprintf("%s série %d", p.Display, n),
			"numberOfInstances": instances,
			"bodySite":          object{"system": systemSNOMED, "code": p.BodySite, "display": p.BodySiteDisplay},
			"started":           dateTime(started),
		})
	}
	return encode("ImagingStudy", id, object{
		"identifier":        []any{object{"system": "urn:dicom:uid", "value": "urn:oid:" + studyUID}},
		"status":            "available",
		"modality":          []any{modality},
		"subject":           ref("Patient", who.id),
		"encounter":         ref("Encounter", encounterID),
		"started":           dateTime(started),
		"basedOn":           []any{ref("ServiceRequest", serviceID)},
		"referrer":          ref("Practitioner", practitionerID(practitioner)),
		"numberOfSeries":    len(series),
		"numberOfInstances": total,
		"procedureCode":     []any{codeable(coding{systemSNOMED, p.Code, p.Display})},
		"series":            series,
	})
}

// dicomUID returns a UID under the 2.25 root (UUID-derived integers).
func dicomUID(r *rand.Rand) string {
	return fmt.Sprintf("2.25.%d%d", r.Uint64()|1<<63, r.Uint32())
}

// randomTime draws an instant in [from, until), or from when the interval
// is empty.
func randomTime(r *rand.Rand, from, until time.Time) time.Time {
	span := until.Sub(from)
	if span <= 0 {
		return from
	}
	return from.Add(time.Duration(r.Int64N(int64(span))))
}

// workingHour moves t to a quarter hour between 8:00 and 17:45, Paris
// time, the day it falls on.
func workingHour(r *rand.Rand, t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 8+r.IntN(10), 15*r.IntN(4), 0, 0, paris)
}

// paris is a fixed +01:00 offset: the stream must not depend on the time
// zone database of the machine it runs on.
var paris = time.FixedZone("CET", 3600)
