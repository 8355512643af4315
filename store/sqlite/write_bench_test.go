package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// vitalSign is the template of the Observations observationWrite makes: the
// shape `telehub bench` posts, so that the store sees the index entries the
// server really gives it (about 80 per Observation, full text included).
const vitalSign = `{"resourceType":"Observation","id":%q,"meta":{"versionId":"1","lastUpdated":"2026-03-01T10:01:30.000Z",` +
	`"profile":["http://hl7.org/fhir/StructureDefinition/vitalsigns"],"source":"urn:telehub:bench:telemonitoring-gateway"},` +
	`"identifier":[{"system":"urn:oid:1.2.250.1.999.1.1","value":"obs-%08x"}],"status":"final",` +
	`"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}]}],` +
	`"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}],"text":"Heart rate"},` +
	`"subject":{"reference":"Patient/p%d"},"effectiveDateTime":"2026-03-%02dT10:00:00Z","issued":"2026-03-01T10:01:30.000Z",` +
	`"performer":[{"reference":"Patient/p%d"}],"valueQuantity":{"value":%.1f,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"},` +
	`"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N"}]}],` +
	`"note":[{"text":"Measured at home by the patient with a connected device, transmitted by the telemonitoring gateway."}],` +
	`"device":{"display":"Connected monitor, home telemonitoring kit"},` +
	`"referenceRange":[{"low":{"value":55,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"},` +
	`"high":{"value":110,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}}]}`

// observationWrite returns the creation of Observation id with the index
// entries the default extractor gives it.
func observationWrite(tb testing.TB, x *search.Extractor, rng *rand.Rand, id string) store.Write {
	tb.Helper()
	patient := rng.IntN(1000)
	body := fmt.Appendf(nil, vitalSign, id, rng.Uint32(), patient, 1+rng.IntN(28), patient, 55+rng.Float64()*50)
	index, err := x.Extract("Observation", body)
	if err != nil {
		tb.Fatal(err)
	}
	return store.Write{Type: "Observation", ID: id, Version: 1, LastUpdated: time.Now(), Method: "POST", Body: body, Index: index}
}

// BenchmarkCommitObservations100 commits transaction-sized batches of 100
// realistic Observations, the store's part of a 100-entry transaction Bundle.
func BenchmarkCommitObservations100(b *testing.B) {
	s := open(b)
	x := search.NewExtractor(search.DefaultRegistry())
	rng := rand.New(rand.NewPCG(1, 2))
	// Prepared before the timer: the extraction is not the store's cost.
	batches := make([][]store.Write, 50)
	var next int
	for i := range batches {
		for range 100 {
			batches[i] = append(batches[i], observationWrite(b, x, rng, fmt.Sprint("obs-", next)))
			next++
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var done int
	for i := 0; b.Loop(); i++ {
		batch := batches[i%len(batches)]
		if i >= len(batches) { // new ids, same entries
			for j := range batch {
				batch[j].ID = fmt.Sprint("obs-", i, "-", j)
			}
		}
		if err := s.Commit(ctx, batch); err != nil {
			b.Fatal(err)
		}
		done += len(batch)
	}
	b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkCommitObservation commits realistic Observations one per commit,
// the store's part of a single create.
func BenchmarkCommitObservation(b *testing.B) {
	s := open(b)
	x := search.NewExtractor(search.DefaultRegistry())
	rng := rand.New(rand.NewPCG(1, 2))
	writes := make([]store.Write, 500)
	for i := range writes {
		writes[i] = observationWrite(b, x, rng, "")
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w := writes[i%len(writes)]
		w.ID = fmt.Sprint("obs-", i)
		if err := s.Commit(ctx, []store.Write{w}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkCommitObservationParallel commits single Observations from 16
// goroutines at once, as concurrent single creates do: the store commits
// those that queue together (group commit).
func BenchmarkCommitObservationParallel(b *testing.B) {
	s := open(b)
	x := search.NewExtractor(search.DefaultRegistry())
	rng := rand.New(rand.NewPCG(1, 2))
	writes := make([]store.Write, 500)
	for i := range writes {
		writes[i] = observationWrite(b, x, rng, "")
	}
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			w := writes[i%int64(len(writes))]
			w.ID = fmt.Sprint("obs-", i)
			if err := s.Commit(ctx, []store.Write{w}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}
