package events

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
)

func basicWrite(id string, now time.Time) store.Write {
	return store.Write{Type: "Basic", ID: id, Version: 1, Method: "POST", LastUpdated: now,
		Body: []byte(`{"resourceType":"Basic","id":"` + id + `","code":{"text":"x"}}`)}
}

// benchCommit commits b.N resources, size per Commit, through st.
func benchCommit(b *testing.B, st store.Store, size int) {
	ctx := context.Background()
	now := time.Now().UTC()
	b.ResetTimer()
	for i := 0; i < b.N; i += size {
		writes := make([]store.Write, 0, size)
		for j := range size {
			writes = append(writes, basicWrite("r"+strconv.Itoa(i+j), now))
		}
		if err := st.Commit(ctx, writes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkCommit compares the SQLite commit alone with the commit plus
// its acknowledged publication (ns/op is per resource).
func BenchmarkCommit(b *testing.B) {
	for _, size := range []int{1, 100} {
		b.Run("raw/"+strconv.Itoa(size), func(b *testing.B) {
			n := startNode(b, b.TempDir(), "")
			benchCommit(b, n.raw, size)
		})
		b.Run("publish/"+strconv.Itoa(size), func(b *testing.B) {
			n := startNode(b, b.TempDir(), "")
			benchCommit(b, n.st, size)
		})
	}
}

// BenchmarkRestHookLatency measures, per change, the time from the end of
// the FHIR create to the receiver getting the notification.
func BenchmarkRestHookLatency(b *testing.B) {
	n := startNode(b, b.TempDir(), "")
	recv := newReceiver(b)
	ctx := context.Background()
	sub := n.create(ctx, "Subscription", restHook("Observation", recv.url(), "application/fhir+json", ""))
	n.waitStatus(sub.ID, "active")
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		n.create(ctx, "Observation", observation("p", "1"))
		done := time.Now()
		for len(recv.all()) <= i {
			time.Sleep(50 * time.Microsecond)
		}
		total += time.Since(done)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-delivery/op")
}
