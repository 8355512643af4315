package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
	"github.com/telehub/telehub/store/storetest"
)

func open(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "telehub.db"))
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// TestReopen checks that what was committed is still there after the file is
// closed and opened again.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "telehub.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	w := benchWrite("Patient", "p1", 1)
	if err := s.Commit(ctx, []store.Write{w}); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	r, err := s.Read(ctx, "Patient", "p1")
	if err != nil {
		t.Fatalf("read after reopen: %v", err)
	}
	if r.VersionID != 1 || !bytes.Equal(r.Body, w.Body) {
		t.Errorf("read after reopen = version %d %q, want version 1 %q", r.VersionID, r.Body, w.Body)
	}
	res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 10,
		Clauses: []store.Clause{{Any: []store.Condition{{Param: "identifier", Op: store.OpExact, Text: "urn:oid:1.2.3|p1"}}}}})
	if err != nil || len(res.Resources) != 1 {
		t.Errorf("search after reopen = %+v, %v; want Patient/p1", res, err)
	}
}

// TestRefusesOtherSchema checks that a file with another schema version is
// refused rather than misread.
func TestRefusesOtherSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "future.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := sqlite.Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("opened a file with schema version 99")
	}
}

// TestClosed checks that a closed store fails every call instead of hanging
// or panicking, and that closing twice is harmless.
func TestClosed(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "closed.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s.Close()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Read", func() error { _, err := s.Read(ctx, "Patient", "p1"); return err }},
		{"Commit", func() error { return s.Commit(ctx, []store.Write{benchWrite("Patient", "p1", 1)}) }},
		{"Search", func() error { _, err := s.Search(ctx, store.Query{Count: 1, Total: true}); return err }},
		{"History", func() error { _, err := s.History(ctx, store.HistoryQuery{}); return err }},
		{"Ping", func() error { return s.Ping(ctx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil {
				t.Errorf("%s on a closed store succeeded", tc.name)
			}
		})
	}
}

// TestInvalidQuery checks that a query the store cannot run fails instead of
// matching something arbitrary.
func TestInvalidQuery(t *testing.T) {
	s := open(t)
	wrong := []store.Clause{{Any: []store.Condition{{Param: "code", Op: "approximately"}}}}
	for _, tc := range []struct {
		name string
		cond store.Condition
	}{
		{"unknown operator", store.Condition{Param: "code", Op: "approximately"}},
		{"range operator on _id", store.Condition{Param: store.ParamID, Op: store.OpGt}},
		{"text operator on _lastUpdated", store.Condition{Param: store.ParamLastUpdated, Op: store.OpExact, Text: "x"}},
		{"missing with a bad value", store.Condition{Param: "code", Op: store.OpMissing, Text: "maybe"}},
		{"unknown operator in a chain", store.Condition{Param: "subject", Chain: &store.Query{Clauses: wrong}}},
		{"unknown operator in a nested _has", store.Condition{Has: &store.Reverse{Param: "subject", Query: store.Query{
			Clauses: []store.Clause{{Any: []store.Condition{{Has: &store.Reverse{Param: "encounter", Query: store.Query{Clauses: wrong}}}}}},
		}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Search(context.Background(), store.Query{Count: 1, Clauses: []store.Clause{{Any: []store.Condition{tc.cond}}}})
			if err == nil {
				t.Fatal("search succeeded, want an error")
			}
		})
	}
}

// TestCursorMisuse checks that a cursor is refused with an offset, with
// another sort than its own, and when it does not come from the store.
func TestCursorMisuse(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for i := range 3 {
		if err := s.Commit(ctx, []store.Write{benchWrite("Patient", fmt.Sprint(i), 1)}); err != nil {
			t.Fatal(err)
		}
	}
	byFamily := []store.SortKey{{Param: "family"}}
	first, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Sort: byFamily, Count: 1})
	if err != nil || first.Next == "" {
		t.Fatalf("first page = %+v, %v; want a Next", first, err)
	}
	for _, tc := range []struct {
		name string
		q    store.Query
	}{
		{"with an offset", store.Query{Types: []string{"Patient"}, Sort: byFamily, Count: 1, Offset: 1, Cursor: first.Next}},
		{"of another direction", store.Query{Types: []string{"Patient"}, Sort: []store.SortKey{{Param: "family", Descending: true}}, Count: 1, Cursor: first.Next}},
		{"of another parameter", store.Query{Types: []string{"Patient"}, Sort: []store.SortKey{{Param: "gender"}}, Count: 1, Cursor: first.Next}},
		{"without sort", store.Query{Types: []string{"Patient"}, Count: 1, Cursor: first.Next}},
		{"cut short", store.Query{Types: []string{"Patient"}, Sort: byFamily, Count: 1, Cursor: first.Next[:len(first.Next)-2]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res, err := s.Search(ctx, tc.q); err == nil {
				t.Errorf("search = %v, want an error", res.Resources)
			}
		})
	}
	next, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Sort: byFamily, Count: 1, Cursor: first.Next})
	if err != nil || len(next.Resources) != 1 || next.Resources[0].ID != "1" {
		t.Errorf("second page = %+v, %v; want Patient/1", next, err)
	}
}

// TestConcurrentNewQueryShapes runs, all at once, more searches than there
// are reader connections, each with a query shape never seen before (so its
// statements must be prepared) and a total (so it runs in a transaction).
func TestConcurrentNewQueryShapes(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if err := s.Commit(ctx, []store.Write{benchWrite("Patient", "p1", 1)}); err != nil {
		t.Fatal(err)
	}
	const searches = 64
	errs := make(chan error, searches)
	for i := range searches {
		go func() {
			types := []string{"Patient"}
			for j := range i {
				types = append(types, fmt.Sprint("Type", j))
			}
			res, err := s.Search(ctx, store.Query{Types: types, Count: 10, Total: true})
			if err == nil && res.Total != 1 {
				err = fmt.Errorf("total %d, want 1", res.Total)
			}
			errs <- err
		}()
	}
	for range searches {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// benchBody is a ~1 KB resource body.
var benchBody = bytes.Repeat([]byte("x"), 900)

// benchWrite returns a write with a ~1 KB body and six index entries, the size
// of a typical Patient.
func benchWrite(typ, id string, version int64) store.Write {
	body := fmt.Appendf(nil, `{"resourceType":%q,"id":%q,"meta":{"versionId":"%d"},"text":"`, typ, id, version)
	body = append(append(body, benchBody...), `"}`...)
	return store.Write{
		Type: typ, ID: id, Version: version, LastUpdated: time.Now(), Method: "PUT", Body: body,
		Index: []store.IndexEntry{
			{Param: "identifier", Kind: store.KindToken, Text: "urn:oid:1.2.3|" + id},
			{Param: "identifier", Kind: store.KindToken, Text: id},
			{Param: "identifier", Kind: store.KindToken, Text: "urn:oid:1.2.3|"},
			{Param: "family", Kind: store.KindString, Text: "family" + id},
			{Param: "gender", Kind: store.KindToken, Text: "female"},
			{Param: "birthdate", Kind: store.KindDate, Low: 1e12, High: 1e12 + 86400000},
		},
	}
}

// preload stores n resources Patient/0 … Patient/n-1, 100 per commit.
func preload(b *testing.B, s store.Store, n int) {
	b.Helper()
	for start := 0; start < n; start += 100 {
		var writes []store.Write
		for i := start; i < min(start+100, n); i++ {
			writes = append(writes, benchWrite("Patient", fmt.Sprint(i), 1))
		}
		if err := s.Commit(context.Background(), writes); err != nil {
			b.Fatalf("preload: %v", err)
		}
	}
}

// BenchmarkRead reads random resources from all cores at once and reports
// the 99th percentile latency next to the mean.
func BenchmarkRead(b *testing.B) {
	const n = 10_000
	s := open(b)
	preload(b, s, n)
	ctx := context.Background()
	var (
		mu        sync.Mutex
		latencies []time.Duration
	)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
		var mine []time.Duration
		for pb.Next() {
			id := strconv.Itoa(rng.IntN(n))
			start := time.Now()
			if _, err := s.Read(ctx, "Patient", id); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(latencies) > 0 {
		slices.Sort(latencies)
		p99 := latencies[len(latencies)*99/100]
		b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	}
}

func BenchmarkCommitSingle(b *testing.B) {
	s := open(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := s.Commit(ctx, []store.Write{benchWrite("Patient", fmt.Sprint(i), 1)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkCommitUpdate measures updates, which also replace index entries.
func BenchmarkCommitUpdate(b *testing.B) {
	const n = 1000
	s := open(b)
	preload(b, s, n)
	ctx := context.Background()
	versions := make([]int64, n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % n
		versions[k]++
		if err := s.Commit(ctx, []store.Write{benchWrite("Patient", fmt.Sprint(k), versions[k]+1)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}

func BenchmarkCommit100(b *testing.B) {
	s := open(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var next int
	for b.Loop() {
		writes := make([]store.Write, 100)
		for j := range writes {
			writes[j] = benchWrite("Patient", fmt.Sprint(next), 1)
			next++
		}
		if err := s.Commit(ctx, writes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkSearchToken measures a selective token search with a total.
func BenchmarkSearchToken(b *testing.B) {
	const n = 10_000
	s := open(b)
	preload(b, s, n)
	ctx := context.Background()
	var i atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprint(i.Add(1) % n)
			q := store.Query{Types: []string{"Patient"}, Count: 10, Total: true,
				Clauses: []store.Clause{{Any: []store.Condition{{Param: "identifier", Op: store.OpExact, Text: "urn:oid:1.2.3|" + id}}}}}
			res, err := s.Search(ctx, q)
			if err != nil || len(res.Resources) != 1 {
				b.Errorf("search %s: %v, %+v", id, err, res)
				return
			}
		}
	})
}

// TestIndexWithinOneCommit checks the index entries a commit queues: when
// a resource is written twice (or written, then deleted) in one commit,
// only its last version is findable, and many entries (more than one
// multi-row INSERT holds) are all stored.
func TestIndexWithinOneCommit(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	family := func(id string, version int64, name string) store.Write {
		return store.Write{Type: "Patient", ID: id, Version: version, LastUpdated: time.Now(), Method: "PUT",
			Body:  []byte(`{"resourceType":"Patient"}`),
			Index: []store.IndexEntry{{Param: "family", Kind: store.KindString, Text: name}, {Param: "birthdate", Kind: store.KindDate, Low: float64(version), High: float64(version) + 1}}}
	}
	deleted := family("d", 2, "")
	deleted.Deleted, deleted.Index = true, nil
	writes := []store.Write{family("u", 1, "first"), family("d", 1, "gone"), family("u", 2, "second"), deleted}
	for i := range 300 {
		writes = append(writes, family(fmt.Sprint("many", i), 1, "many"))
	}
	if err := s.Commit(ctx, writes); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cond store.Condition
		want int
	}{
		{store.Condition{Param: "family", Op: store.OpExact, Text: "first"}, 0},
		{store.Condition{Param: "family", Op: store.OpExact, Text: "second"}, 1},
		{store.Condition{Param: "family", Op: store.OpExact, Text: "gone"}, 0},
		{store.Condition{Param: "birthdate", Op: store.OpGe, Low: 2, High: 3}, 1},
		{store.Condition{Param: "family", Op: store.OpExact, Text: "many"}, 300},
	}
	for _, tt := range tests {
		res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 1000, Total: true,
			Clauses: []store.Clause{{Any: []store.Condition{tt.cond}}}})
		if err != nil {
			t.Fatalf("search %+v: %v", tt.cond, err)
		}
		if len(res.Resources) != tt.want {
			t.Errorf("search %s %q %v: %d resources, want %d", tt.cond.Param, tt.cond.Text, tt.cond.Low, len(res.Resources), tt.want)
		}
	}
}
