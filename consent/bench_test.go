package consent

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/internal/cputime"
	"github.com/telehub/telehub/store/sqlite"
)

// processCPU returns the CPU time the test process has used (0 where the
// system does not tell it): on a shared machine, a steadier cost measure
// than wall time.
func processCPU() time.Duration {
	d, _ := cputime.Process()
	return d
}

// BenchmarkRestrictions measures the per-request cost of the policy for a
// professional, with 1,000 patients' Consents in the store (one in ten
// denying everyone, the caller in a care team of half of those):
//
//   - cached: the answer is in the per-token cache (every request but
//     one per token per TTL);
//   - computed: the answer is computed for a new token: the Consents
//     evaluated in memory, the caller's roles and care relations searched,
//     and its 50 denies recorded (ConsentDecision events, once per token).
func BenchmarkRestrictions(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rec, err := audit.NewRecorder(st, audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Close()
	f := &fixture{st: st, api: fhirAPI(b, st), rec: rec, now: time.Now()}
	f.policy = f.newPolicy(Options{Auditor: rec, TTL: time.Hour})
	t := &testing.T{}
	for i := range 1000 {
		provision := `{"type":"permit","provision":[{"type":"deny","actor":[` + actor(fmt.Sprintf("Practitioner/other%d", i)) + `]}]}`
		if i%10 == 0 {
			provision = `{"type":"deny"}`
			if i%20 == 0 {
				f.put(t, fmt.Sprintf(`{"resourceType":"CareTeam","id":"ct%d","status":"active","subject":{"reference":"Patient/p%d"},"participant":[{"member":{"reference":"Practitioner/pr1"}}]}`, i, i))
			}
		}
		f.put(t, consentDoc(fmt.Sprint("c", i), fmt.Sprint("p", i), "active", provision))
	}
	if t.Failed() {
		b.Fatal("fixture failed")
	}
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		pr := professional("Practitioner/pr1", "cached")
		for range b.N {
			if _, err := f.policy.Restrictions(ctx, pr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("computed", func(b *testing.B) {
		defer func(cpu time.Duration) { b.ReportMetric(float64(processCPU()-cpu)/float64(b.N)/1e3, "cpu-µs/op") }(processCPU())
		for i := range b.N {
			r, err := f.policy.Restrictions(ctx, professional("Practitioner/pr1", fmt.Sprint("tok", i)))
			if err != nil || len(r.DeniedPatients) != 50 {
				b.Fatalf("%d denied, %v", len(r.DeniedPatients), err)
			}
		}
	})
	// refreshed: as computed, after a Consent write this node saw
	// (Invalidate): the Consent history of the last minute is read again,
	// here all 1,000.
	b.Run("refreshed", func(b *testing.B) {
		defer func(cpu time.Duration) { b.ReportMetric(float64(processCPU()-cpu)/float64(b.N)/1e3, "cpu-µs/op") }(processCPU())
		for i := range b.N {
			f.policy.Invalidate()
			if _, err := f.policy.Restrictions(ctx, professional("Practitioner/pr1", fmt.Sprint("tok", i%4))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
