package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
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

// TestInvalidQuery checks that a query the store cannot run fails instead of
// matching something arbitrary.
func TestInvalidQuery(t *testing.T) {
	s := open(t)
	for _, tc := range []struct {
		name string
		cond store.Condition
	}{
		{"unknown operator", store.Condition{Param: "code", Op: "approximately"}},
		{"range operator on _id", store.Condition{Param: store.ParamID, Op: store.OpGt}},
		{"text operator on _lastUpdated", store.Condition{Param: store.ParamLastUpdated, Op: store.OpExact, Text: "x"}},
		{"missing with a bad value", store.Condition{Param: "code", Op: store.OpMissing, Text: "maybe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Search(context.Background(), store.Query{Count: 1, Clauses: []store.Clause{{Any: []store.Condition{tc.cond}}}})
			if err == nil {
				t.Fatal("search succeeded, want an error")
			}
		})
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

func BenchmarkRead(b *testing.B) {
	const n = 10_000
	s := open(b)
	preload(b, s, n)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			id := fmt.Sprint(rng.IntN(n))
			if _, err := s.Read(ctx, "Patient", id); err != nil {
				b.Error(err)
				return
			}
		}
	})
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
