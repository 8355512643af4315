package population

import (
	"encoding/json"
	"fmt"
	"iter"
	"math/rand/v2"
	"time"
)

// Options sizes the population. Resources, when set, is the exact number
// of resources the stream yields (patients are added until it is reached,
// the last one possibly with part of its record); otherwise Patients is
// the number of patients (default 100).
type Options struct {
	Patients  int
	Resources int
	// Until ends the period clinical dates spread over (the five years
	// before it). The default is a fixed date, 2026-01-01 UTC, so that the
	// output does not depend on the day it is generated.
	Until time.Time
}

// Resource is one generated FHIR R4 resource.
type Resource struct {
	Type string
	ID   string
	JSON []byte
}

// Generator yields a population; it holds only configuration and may be
// iterated any number of times, concurrently.
type Generator struct {
	seed          int64
	opts          Options
	patients      int // exact in Patients mode, an estimate in Resources mode
	organisations int
	practitioners int
	total         int
}

// meanResourcesPerPatient is the measured mean size of a patient's record
// (the patient included), used to size the directory when the population
// is given as a resource count.
const meanResourcesPerPatient = 20

// New returns a generator for seed and opts.
func New(seed int64, opts Options) *Generator {
	if opts.Until.IsZero() {
		opts.Until = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if opts.Resources <= 0 && opts.Patients <= 0 {
		opts.Patients = 100
	}
	g := &Generator{seed: seed, opts: opts, patients: opts.Patients}
	if opts.Resources > 0 {
		g.patients = max(1, opts.Resources/meanResourcesPerPatient)
	}
	g.organisations = max(1, (g.patients+2499)/2500)
	g.practitioners = max(3, (g.patients+39)/40)
	if opts.Resources > 0 {
		g.total = opts.Resources
	} else {
		g.total = g.directorySize()
		for i := 1; i <= g.patients; i++ {
			g.total += g.plan(i).size()
		}
	}
	return g
}

// Total is the number of resources the stream yields.
func (g *Generator) Total() int { return g.total }

// Patients is the number of patients in Patients mode, and the estimate the
// directory was sized for in Resources mode.
func (g *Generator) Patients() int { return g.patients }

func (g *Generator) directorySize() int { return g.organisations + 2*g.practitioners }

// Resources yields the population in load order: organisations,
// practitioners, practitioner roles, then each patient followed by its
// clinical record.
func (g *Generator) Resources() iter.Seq[Resource] {
	return func(yield func(Resource) bool) {
		emitted := 0
		emit := func(r Resource) bool {
			if g.opts.Resources > 0 && emitted >= g.opts.Resources {
				return false
			}
			emitted++
			return yield(r)
		}
		for i := 1; i <= g.organisations; i++ {
			if !emit(g.organisation(i)) {
				return
			}
		}
		for i := 1; i <= g.practitioners; i++ {
			if !emit(g.practitioner(i)) {
				return
			}
		}
		for i := 1; i <= g.practitioners; i++ {
			if !emit(g.practitionerRole(i)) {
				return
			}
		}
		for i := 1; g.opts.Resources > 0 || i <= g.patients; i++ {
			for r := range g.patientRecord(i) {
				if !emit(r) {
					return
				}
			}
		}
	}
}

// rng returns the random stream of one entity: kind separates the streams
// of the directory, of patient plans and of patient contents.
func (g *Generator) rng(kind uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(g.seed), kind<<40|uint64(i)))
}

const (
	streamOrganisation uint64 = iota + 1
	streamPractitioner
	streamPlan
	streamPatient
)

type object = map[string]any

// encode marshals a generated resource. The values are maps, slices,
// strings and numbers only, which encoding/json cannot fail on: an error
// here is a bug in this package.
func encode(typ, id string, body object) Resource {
	body["resourceType"] = typ
	body["id"] = id
	b, err := json.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("population: encode %s/%s: %v", typ, id, err))
	}
	return Resource{Type: typ, ID: id, JSON: b}
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func ref(typ, id string) object { return object{"reference": typ + "/" + id} }

func codeable(c coding) object {
	return object{"coding": []any{object{"system": c.System, "code": c.Code, "display": c.Display}}, "text": c.Display}
}

func dateTime(t time.Time) string { return t.Format(time.RFC3339) }

func organisationID(i int) string { return fmt.Sprintf("org-%04d", i) }
func practitionerID(i int) string { return fmt.Sprintf("pra-%06d", i) }
func roleID(i int) string         { return fmt.Sprintf("prr-%06d", i) }
func patientID(i int) string      { return fmt.Sprintf("pat-%06d", i) }

// clinicalID names the n-th resource of a kind in patient i's record.
func clinicalID(prefix string, patient, n int) string {
	return fmt.Sprintf("%s-%06d-%02d", prefix, patient, n)
}
