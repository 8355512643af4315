package audit_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/store"
)

// BenchmarkRecord measures the recorder under concurrent load on SQLite:
// events/s and the mean time a Record call blocks (its added latency).
func BenchmarkRecord(b *testing.B) {
	for _, tc := range []struct {
		name        string
		parallelism int // goroutines per GOMAXPROCS
	}{
		{"serial", 0},
		{"64-callers", 32},
	} {
		b.Run(tc.name, func(b *testing.B) {
			st := openStore(b)
			rec := newRecorder(b, st)
			ctx := context.Background()
			var blocked atomic.Int64
			record := func(n int) {
				start := time.Now()
				if err := rec.Record(ctx, readEvent(n)); err != nil {
					b.Error(err)
				}
				blocked.Add(int64(time.Since(start)))
			}
			b.ResetTimer()
			start, cpu := time.Now(), processCPU()
			if tc.parallelism == 0 {
				for i := range b.N {
					record(i)
				}
			} else {
				b.SetParallelism(tc.parallelism)
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						record(i)
					}
				})
			}
			elapsed := time.Since(start)
			reportCPU(b, cpu)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(blocked.Load())/float64(b.N)/1e3, "µs/record")
		})
	}
}

// reportCPU reports the process CPU time per operation since cpu.
func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
}

// BenchmarkCommitBaseline is what one Record replaces: a single-write
// store.Commit of one AuditEvent, to compare with BenchmarkRecord/serial on
// the same machine at the same moment.
func BenchmarkCommitBaseline(b *testing.B) {
	st := openStore(b)
	body, err := readEvent(0).JSON()
	if err != nil {
		b.Fatal(err)
	}
	index, err := readEvent(0).Index()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	for i := range b.N {
		w := store.Write{Type: "AuditEvent", ID: fmt.Sprintf("e%d", i), Version: 1, LastUpdated: time.Now(), Method: "POST", Body: body, Index: index}
		if err := st.Commit(ctx, []store.Write{w}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildAndIndex measures the caller's share of a Record: building
// the event, serialising it, and making its index entries.
func BenchmarkBuildAndIndex(b *testing.B) {
	for _, tc := range []struct {
		name string
		run  func(audit.Event) error
	}{
		{"build", func(audit.Event) error { return nil }},
		{"json", func(e audit.Event) error { _, err := e.JSON(); return err }},
		{"index", func(e audit.Event) error { _, err := e.Index(); return err }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			defer reportCPU(b, processCPU())
			for i := range b.N {
				if err := tc.run(readEvent(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify measures the chain walk per event.
func BenchmarkVerify(b *testing.B) {
	st := openStore(b)
	rec := newRecorder(b, st)
	for i := range 1000 {
		if err := rec.Record(context.Background(), readEvent(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		rep, err := audit.Verify(context.Background(), st)
		if err != nil || !rep.OK() {
			b.Fatal(err, rep.Break)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000/1e3, "µs/event")
}

// BenchmarkExtract is what BenchmarkBuildAndIndex avoids: indexing the
// event through search.Extract (FHIRPath over the decoded JSON).
func BenchmarkExtract(b *testing.B) {
	body, err := readEvent(0).JSON()
	if err != nil {
		b.Fatal(err)
	}
	defer reportCPU(b, processCPU())
	for range b.N {
		if _, err := extractor.Extract("AuditEvent", body); err != nil {
			b.Fatal(err)
		}
	}
}
