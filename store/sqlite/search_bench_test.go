package sqlite_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
)

// preloadObservations stores n Observations obs-0 … obs-(n-1), each with a
// code of its own and a subject among patients Patients, 100 per commit.
func preloadObservations(b *testing.B, s store.Store, n, patients int) {
	b.Helper()
	for start := 0; start < n; start += 100 {
		var writes []store.Write
		for i := start; i < min(start+100, n); i++ {
			w := benchWrite("Observation", fmt.Sprint("obs-", i), 1)
			w.Index = []store.IndexEntry{
				{Param: "code", Kind: store.KindToken, Text: fmt.Sprint("http://loinc.org|", i)},
				{Param: "subject", Kind: store.KindReference, Text: fmt.Sprint("Patient/", i%patients)},
				{Param: "status", Kind: store.KindToken, Text: "final"},
			}
			writes = append(writes, w)
		}
		if err := s.Commit(context.Background(), writes); err != nil {
			b.Fatalf("preload: %v", err)
		}
	}
}

func clauseOf(c store.Condition) []store.Clause { return []store.Clause{{Any: []store.Condition{c}}} }

// BenchmarkSearchChain measures selective chained and reverse-chained
// searches over 5,000 Patients and 5,000 Observations, from all cores.
func BenchmarkSearchChain(b *testing.B) {
	const n = 5_000
	s := open(b)
	preload(b, s, n)
	preloadObservations(b, s, n, n)
	ctx := context.Background()
	patients, observations := []string{"Patient"}, []string{"Observation"}
	for _, bc := range []struct {
		name  string
		query func(i int) store.Query
	}{
		{"subject:Patient.identifier", func(i int) store.Query {
			return store.Query{Types: observations, Count: 10, Clauses: clauseOf(store.Condition{Param: "subject",
				Chain: &store.Query{Types: patients, Clauses: clauseOf(store.Condition{Param: "identifier", Op: store.OpExact, Text: fmt.Sprint("urn:oid:1.2.3|", i)})}})}
		}},
		{"_has:Observation:subject:code", func(i int) store.Query {
			return store.Query{Types: patients, Count: 10, Clauses: clauseOf(store.Condition{Has: &store.Reverse{Param: "subject",
				Query: store.Query{Types: observations, Clauses: clauseOf(store.Condition{Param: "code", Op: store.OpExact, Text: fmt.Sprint("http://loinc.org|", i)})}}})}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1) % n)
					res, err := s.Search(ctx, bc.query(i))
					if err != nil || len(res.Resources) != 1 {
						b.Errorf("search %d: %v, %+v", i, err, res)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "searches/s")
		})
	}
}

// BenchmarkSearchCursorPage walks 10,000 Patients by pages of 20, following
// Next and starting over at the end, so every depth is measured. Sorting on
// a parameter ("family") computes every match's value for each page.
func BenchmarkSearchCursorPage(b *testing.B) {
	const n = 10_000
	s := open(b)
	ctx := context.Background()
	// One version a second: preload's resources share a millisecond per
	// commit, ties that real traffic does not have.
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for first := 0; first < n; first += 100 {
		var writes []store.Write
		for i := first; i < first+100; i++ {
			w := benchWrite("Patient", fmt.Sprint(i), 1)
			w.LastUpdated = start.Add(time.Duration(i*7919%n) * time.Second)
			writes = append(writes, w)
		}
		if err := s.Commit(ctx, writes); err != nil {
			b.Fatalf("preload: %v", err)
		}
	}
	for _, bc := range []struct {
		name string
		sort []store.SortKey
	}{
		{"type and id", nil},
		{"_lastUpdated descending", []store.SortKey{{Param: store.ParamLastUpdated, Descending: true}}},
		{"_id", []store.SortKey{{Param: store.ParamID}}},
		{"family", []store.SortKey{{Param: "family"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := store.Query{Types: []string{"Patient"}, Sort: bc.sort, Count: 20}
			b.ReportAllocs()
			for b.Loop() {
				res, err := s.Search(ctx, q)
				if err != nil || len(res.Resources) == 0 {
					b.Fatalf("page: %v, %+v", err, res)
				}
				q.Cursor = res.Next
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
		})
	}
}
