package audit_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/internal/cputime"
	"github.com/telehub/telehub/store"
)

// processCPU returns the CPU time the test process has used (0 where the
// system does not tell it): on a shared machine, a steadier cost measure
// than wall time.
func processCPU() time.Duration {
	d, _ := cputime.Process()
	return d
}

// BenchmarkRecord measures the recorder under concurrent load on SQLite:
// events/s, the process CPU time per event, and the mean time a Record
// call blocks (its added latency). Modes:
//
//   - direct: Record returns once the event is committed in the store;
//   - journal: Record returns once the event is synced in the journal, and
//     the figures include the background indexing (the benchmark waits
//     for it with Sync before stopping the clock);
//   - journal-only: the same with the store unreachable, so that the
//     indexer stays idle: the cost on the request path alone;
//   - served: the journal as `telehub serve` runs it with MongoDB, synced
//     to disk every 20 ms rather than before Record returns
//     (Options.SyncInterval);
//   - trail: Record returns once the event is in the trail (synced),
//     searchable at once;
//   - trail-served: the trail as `telehub serve` runs it embedded, synced
//     every 20 ms.
func BenchmarkRecord(b *testing.B) {
	for _, mode := range []string{"direct", "journal", "journal-only", "served", "trail", "trail-served"} {
		for _, tc := range []struct {
			name        string
			parallelism int // goroutines per GOMAXPROCS
		}{
			{"serial", 0},
			{"16-callers", 8},
			{"64-callers", 32},
		} {
			b.Run(mode+"/"+tc.name, func(b *testing.B) {
				st := openStore(b)
				var rec *audit.Recorder
				switch mode {
				case "direct":
					rec = newRecorder(b, st)
				case "journal":
					rec = newJournaled(b, st, b.TempDir(), audit.Options{})
				case "served":
					rec = newJournaled(b, st, b.TempDir(), audit.Options{SyncInterval: 20 * time.Millisecond})
				case "trail":
					rec, _ = newTrailRecorder(b, st, audit.TrailOptions{})
				case "trail-served":
					rec, _ = newTrailRecorder(b, st, audit.TrailOptions{SyncInterval: 20 * time.Millisecond})
				case "journal-only":
					st.Close()
					rec = newJournaled(b, st, b.TempDir(), audit.Options{MaxBacklog: 1 << 40, Logger: slog.New(slog.DiscardHandler)})
				}
				benchRecord(b, rec, tc.parallelism, mode == "journal" || mode == "served")
			})
		}
	}
}

// newTrailRecorder returns a recorder appending to a trail beside st, and
// st with its AuditEvents in that trail.
func newTrailRecorder(b *testing.B, st store.Store, opts audit.TrailOptions) (*audit.Recorder, store.Store) {
	b.Helper()
	trail, err := audit.OpenTrail(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	withTrail, err := audit.WithTrail(context.Background(), st, trail)
	if err != nil {
		b.Fatal(err)
	}
	rec, err := audit.NewRecorder(withTrail, audit.Options{Trail: trail})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		rec.Close()
		trail.Close()
	})
	return rec, withTrail
}

func benchRecord(b *testing.B, rec *audit.Recorder, parallelism int, sync bool) {
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
	if parallelism == 0 {
		for i := range b.N {
			record(i)
		}
	} else {
		b.SetParallelism(parallelism)
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				record(i)
			}
		})
	}
	if sync {
		if err := rec.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	reportCPU(b, cpu)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(blocked.Load())/float64(b.N)/1e3, "µs/record")
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

// BenchmarkIndexBatch is the store's share of the indexer's work: the CPU
// time per event of committing read events in batches of 512, with the
// Recorder's index ("lean") and with the extractor's entries for the
// searchable parameters ("extractor": the index before it was lean).
func BenchmarkIndexBatch(b *testing.B) {
	for _, index := range []string{"lean", "extractor"} {
		b.Run(index, func(b *testing.B) {
			st := openStore(b)
			const batch = 512
			var batches [][]store.Write
			entries := 0
			for n := 0; n < b.N; {
				writes := make([]store.Write, 0, batch)
				for range batch {
					e := audit.Read(audit.Agent{Client: "bench", Address: "127.0.0.1"}, audit.Target{Type: "Observation", ID: fmt.Sprint("o", n)},
						fmt.Sprint("Patient/p", n%997), audit.Success)
					body, err := e.JSON()
					if err != nil {
						b.Fatal(err)
					}
					ix, err := e.Index()
					if index == "extractor" {
						ix, err = extractor.Extract("AuditEvent", body)
						ix = slices.DeleteFunc(ix, func(e store.IndexEntry) bool { return !audit.Searchable(e.Param) })
					}
					if err != nil {
						b.Fatal(err)
					}
					entries += len(ix)
					writes = append(writes, store.Write{Type: "AuditEvent", ID: fmt.Sprint("e", n), Version: 1, LastUpdated: time.Now(), Method: "POST", Body: body, Index: ix})
					n++
				}
				batches = append(batches, writes)
			}
			ctx := context.Background()
			b.ResetTimer()
			cpu := processCPU()
			for _, writes := range batches {
				if err := st.Commit(ctx, writes); err != nil {
					b.Fatal(err)
				}
			}
			events := float64(len(batches) * batch)
			b.ReportMetric(float64(processCPU()-cpu)/events/1e3, "cpu-µs/event")
			b.ReportMetric(float64(entries)/events, "entries/event")
		})
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
	b.Run("store", func(b *testing.B) {
		st := openStore(b)
		benchVerify(b, st, newRecorder(b, st), 1000)
	})
	b.Run("trail", func(b *testing.B) {
		rec, withTrail := newTrailRecorder(b, openStore(b), audit.TrailOptions{SyncInterval: 20 * time.Millisecond})
		benchVerify(b, withTrail, rec, 100000) // three sealed blocks and the open one
	})
}

func benchVerify(b *testing.B, st store.Store, rec *audit.Recorder, events int) {
	for i := range events {
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
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(events)/1e3, "µs/event")
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
