package fhir

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/internal/cputime"
)

// benchObservation is an Observation shaped as `telehub bench` creates
// them: what the audit of a read scans for its patient.
const benchObservation = `{"resourceType":"Observation","meta":{"profile":["http://hl7.org/fhir/StructureDefinition/vitalsigns"],"source":"urn:telehub:bench:telemonitoring-gateway"},` +
	`"identifier":[{"system":"urn:oid:1.2.250.1.999.1.1","value":"obs-0123456789abcdef"}],"status":"final",` +
	`"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}]}],` +
	`"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}],"text":"Heart rate"},"subject":{"reference":"Patient/p1"},` +
	`"effectiveDateTime":"2026-03-01T10:00:00Z","issued":"2026-03-01T10:01:30.000Z","performer":[{"reference":"Patient/p1"}],` +
	`"valueQuantity":{"value":72.5,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"},` +
	`"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N"}]}],` +
	`"note":[{"text":"Measured at home by the patient with a connected device, transmitted by the telemonitoring gateway."}],` +
	`"device":{"display":"Connected monitor, home telemonitoring kit"},` +
	`"referenceRange":[{"low":{"value":40,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"},"high":{"value":120,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}}]}`

// BenchmarkAuditedRead is the audit's cost per read without the network
// and the load generator of `telehub bench --security`: callers read
// Observations from a server without audit ("plain") and from one that
// records each read in the trail as `telehub serve` does ("audited"), one
// caller at a time, then 16 at once (as the bench's clients, so that the
// cost of callers waiting on the trail shows). The difference between
// plain and audited in process CPU per read (cpu-µs/op, steadier than
// ns/op on a shared machine) is what the audit costs a read.
func BenchmarkAuditedRead(b *testing.B) {
	for _, callers := range []int{1, 16} {
		for _, audited := range []bool{false, true} {
			name := "plain"
			if audited {
				name = "audited"
			}
			if callers > 1 {
				name += fmt.Sprintf("-%d-callers", callers)
			}
			b.Run(name, func(b *testing.B) { benchAuditedRead(b, audited, callers) })
		}
	}
}

func benchAuditedRead(b *testing.B, audited bool, callers int) {
	ts := newServedAuditServer(b, audited)
	var paths []string
	for range 50 {
		r := ts.do(http.MethodPost, "/fhir/Observation", benchObservation).mustStatus(b, http.StatusCreated)
		paths = append(paths, "/fhir/Observation/"+r.str("id"))
	}
	read := func(i int) {
		rec := httptest.NewRecorder()
		ts.e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, paths[i%len(paths)], nil))
		if rec.Code != http.StatusOK {
			b.Errorf("read: %d %s", rec.Code, rec.Body)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu, _ := cputime.Process()
	if callers == 1 {
		for i := range b.N {
			read(i)
		}
	} else {
		b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				read(int(next.Add(1)))
			}
		})
	}
	if end, ok := cputime.Process(); ok {
		b.ReportMetric(float64(end-cpu)/float64(b.N)/1e3, "cpu-µs/op")
	}
}

// newServedAuditServer is a test server on SQLite with the audit trail
// beside it, recording (when audited) with the trail's syncs deferred, as
// `telehub serve` runs it.
func newServedAuditServer(b *testing.B, audited bool) *testServer {
	st, trail := openTrailStore(b, audit.TrailOptions{SyncInterval: 20 * time.Millisecond})
	opts := Options{}
	if audited {
		rec, err := audit.NewRecorder(st, audit.Options{Trail: trail})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { rec.Close() }) // before the trail and the store close
		opts.Audit = rec
	}
	return newTestServerOn(b, st, opts)
}
