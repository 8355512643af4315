package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
)

func testReadWrite(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	v1 := newWrite("Patient", "p1", 1, at(0), "POST", token("identifier", "sys|1"))
	v2 := newWrite("Patient", "p1", 2, at(1000), "PUT", token("identifier", "sys|2"))
	commit(t, s, v1)
	checkResource(t, mustRead(t, s, "Patient", "p1"), v1)
	commit(t, s, v2)
	checkResource(t, mustRead(t, s, "Patient", "p1"), v2)

	for _, tc := range []struct {
		name    string
		version int64
		want    store.Write
	}{
		{"version 1", 1, v1},
		{"version 2", 2, v2},
	} {
		t.Run("VRead "+tc.name, func(t *testing.T) {
			got, err := s.VRead(ctx, "Patient", "p1", tc.version)
			if err != nil {
				t.Fatalf("vread: %v", err)
			}
			checkResource(t, got, tc.want)
		})
	}

	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Read unknown id", func() error { _, err := s.Read(ctx, "Patient", "nope"); return err }},
		{"Read unknown type", func() error { _, err := s.Read(ctx, "Observation", "p1"); return err }},
		{"VRead unknown id", func() error { _, err := s.VRead(ctx, "Patient", "nope", 1); return err }},
		{"VRead unknown version", func() error { _, err := s.VRead(ctx, "Patient", "p1", 3); return err }},
		{"VRead version 0", func() error { _, err := s.VRead(ctx, "Patient", "p1", 0); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.call(), store.ErrNotFound, tc.name)
		})
	}

	t.Run("commit of nothing", func(t *testing.T) {
		if err := s.Commit(ctx, nil); err != nil {
			t.Fatalf("empty commit: %v", err)
		}
	})
}

func testCompareAndSet(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		write store.Write
	}{
		{"create over existing", newWrite("Patient", "p1", 1, at(1000), "POST", token("identifier", "bad"))},
		{"skip a version", newWrite("Patient", "p1", 3, at(1000), "PUT", token("identifier", "bad"))},
		{"update of missing resource", newWrite("Patient", "p2", 2, at(1000), "PUT", token("identifier", "bad"))},
		{"delete with stale version", deletion("Patient", "p1", 1, at(1000))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			v1 := newWrite("Patient", "p1", 1, at(0), "POST", token("identifier", "good"))
			commit(t, s, v1)
			err := s.Commit(ctx, []store.Write{tc.write})
			wantErr(t, err, store.ErrConflict, "commit "+tc.name)
			if name := tc.write.Type + "/" + tc.write.ID; !strings.Contains(err.Error(), name) {
				t.Errorf("conflict error %q does not name %s", err, name)
			}

			// Nothing of the failed write may be visible.
			checkResource(t, mustRead(t, s, "Patient", "p1"), v1)
			_, err = s.Read(ctx, "Patient", "p2")
			wantErr(t, err, store.ErrNotFound, "read of never-created p2")
			h, err := s.History(ctx, store.HistoryQuery{})
			if err != nil {
				t.Fatalf("history: %v", err)
			}
			if got := vrefs(h.Versions); !equalStrings(got, []string{"Patient/p1/1"}) {
				t.Errorf("history after failed commit = %v, want [Patient/p1/1]", got)
			}
			checkSearch(t, s, store.Query{Types: []string{"Patient"}, Count: 10, Clauses: []store.Clause{exact("identifier", "bad")}}, nil)
			checkSearch(t, s, store.Query{Types: []string{"Patient"}, Count: 10, Clauses: []store.Clause{exact("identifier", "good")}}, []string{"Patient/p1"})
		})
	}
}

func testDelete(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	v1 := newWrite("Patient", "p1", 1, at(0), "POST", token("identifier", "x"))
	del := deletion("Patient", "p1", 2, at(1000))
	del.Index = []store.IndexEntry{token("identifier", "x")} // must be ignored
	commit(t, s, v1)
	commit(t, s, newWrite("Patient", "p2", 1, at(0), "POST", token("identifier", "x")))
	commit(t, s, del)

	got := mustRead(t, s, "Patient", "p1")
	if !got.Deleted || got.VersionID != 2 || len(got.Body) != 0 || got.Method != "DELETE" {
		t.Errorf("read after delete = %s deleted=%v method=%s body=%q, want version 2 deleted, DELETE, no body",
			vref(*got), got.Deleted, got.Method, got.Body)
	}
	checkTime(t, got.LastUpdated, at(1000))
	old, err := s.VRead(ctx, "Patient", "p1", 1)
	if err != nil {
		t.Fatalf("vread version 1 after delete: %v", err)
	}
	checkResource(t, old, v1)

	h, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "p1"})
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	if got := vrefs(h.Versions); !equalStrings(got, []string{"Patient/p1/2", "Patient/p1/1"}) {
		t.Errorf("history after delete = %v", got)
	}

	for _, tc := range []struct {
		q    store.Query
		want []string
	}{
		{store.Query{Types: []string{"Patient"}, Count: 10, Clauses: []store.Clause{exact(store.ParamID, "p1")}}, nil},
		{store.Query{Types: []string{"Patient"}, Count: 10, Clauses: []store.Clause{exact("identifier", "x")}}, []string{"Patient/p2"}},
		{store.Query{Types: []string{"Patient"}, Count: 10, Clauses: []store.Clause{clause(cond("identifier", store.OpMissing, "true"))}}, nil},
		{store.Query{Types: []string{"Patient"}, Count: 10}, []string{"Patient/p2"}},
		{store.Query{Count: 10}, []string{"Patient/p2"}},
	} {
		checkSearch(t, s, tc.q, tc.want)
	}
	res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Total: true})
	if err != nil || res.Total != 1 {
		t.Errorf("total after delete = %+v, %v; want 1", res, err)
	}

	// A new version after a deletion brings the resource back.
	v3 := newWrite("Patient", "p1", 3, at(2000), "PUT", token("identifier", "y"))
	commit(t, s, v3)
	checkResource(t, mustRead(t, s, "Patient", "p1"), v3)
	checkSearch(t, s, store.Query{Types: []string{"Patient"}, Count: 10, Clauses: []store.Clause{exact("identifier", "y")}}, []string{"Patient/p1"})
	checkSearch(t, s, store.Query{Types: []string{"Patient"}, Count: 10, Clauses: []store.Clause{exact("identifier", "x")}}, []string{"Patient/p2"})
}

func testTransactions(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	if !s.SupportsTransactions() {
		t.Run("multi-write refused", func(t *testing.T) {
			err := s.Commit(ctx, []store.Write{
				newWrite("Patient", "a", 1, at(0), "POST"),
				newWrite("Patient", "b", 1, at(0), "POST"),
			})
			wantErr(t, err, store.ErrTransactionsUnsupported, "multi-write commit")
			for _, id := range []string{"a", "b"} {
				_, err := s.Read(ctx, "Patient", id)
				wantErr(t, err, store.ErrNotFound, "read after refused commit")
			}
		})
		return
	}

	t.Run("all stored", func(t *testing.T) {
		s := open(t)
		var writes []store.Write
		for i := range 100 {
			writes = append(writes, newWrite("Observation", fmt.Sprint(i), 1, at(int64(i)), "POST", token("code", "c")))
		}
		commit(t, s, writes...)
		for _, w := range writes {
			checkResource(t, mustRead(t, s, w.Type, w.ID), w)
		}
		res, err := s.Search(ctx, store.Query{Types: []string{"Observation"}, Clauses: []store.Clause{exact("code", "c")}, Total: true})
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		if res.Total != 100 {
			t.Errorf("total = %d, want 100", res.Total)
		}
	})

	for _, tc := range []struct {
		name string
		bad  store.Write
	}{
		{"create over existing last", newWrite("Patient", "third", 1, at(5000), "POST", token("identifier", "new"))},
		{"version gap last", newWrite("Patient", "third", 3, at(5000), "PUT", token("identifier", "new"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			old := newWrite("Patient", "old", 1, at(0), "POST", token("identifier", "old"))
			third := newWrite("Patient", "third", 1, at(0), "POST", token("identifier", "third"))
			commit(t, s, old)
			commit(t, s, third)
			batch := []store.Write{
				newWrite("Patient", "fresh", 1, at(5000), "POST", token("identifier", "new")),
				newWrite("Patient", "old", 2, at(5000), "PUT", token("identifier", "new")),
				tc.bad,
			}
			wantErr(t, s.Commit(ctx, batch), store.ErrConflict, "batch commit")
			_, err := s.Read(ctx, "Patient", "fresh")
			wantErr(t, err, store.ErrNotFound, "read of a resource created by a failed batch")
			checkResource(t, mustRead(t, s, "Patient", "old"), old)
			checkResource(t, mustRead(t, s, "Patient", "third"), third)
			h, err := s.History(ctx, store.HistoryQuery{})
			if err != nil {
				t.Fatalf("history: %v", err)
			}
			if got := vrefs(h.Versions); !equalStrings(got, []string{"Patient/third/1", "Patient/old/1"}) &&
				!equalStrings(got, []string{"Patient/old/1", "Patient/third/1"}) {
				t.Errorf("history after failed batch = %v, want only the two first versions", got)
			}
			checkSearch(t, s, store.Query{Types: []string{"Patient"}, Count: 10, Clauses: []store.Clause{exact("identifier", "new")}}, nil)
			checkSearch(t, s, store.Query{Types: []string{"Patient"}, Count: 10, Clauses: []store.Clause{exact("identifier", "old")}}, []string{"Patient/old"})
		})
	}

	t.Run("conflict first", func(t *testing.T) {
		s := open(t)
		commit(t, s, newWrite("Patient", "old", 1, at(0), "POST"))
		err := s.Commit(ctx, []store.Write{
			newWrite("Patient", "old", 1, at(5000), "POST"),
			newWrite("Patient", "fresh", 1, at(5000), "POST"),
		})
		wantErr(t, err, store.ErrConflict, "batch commit")
		_, err = s.Read(ctx, "Patient", "fresh")
		wantErr(t, err, store.ErrNotFound, "read of a resource created by a failed batch")
	})
}

func testTimestamps(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	paris := time.FixedZone("CET", 3600)
	written := []time.Time{
		time.Date(2023, 12, 31, 23, 59, 59, 999_000_000, paris),
		time.Date(1999, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		time.Date(2030, 6, 15, 0, 0, 0, 0, time.FixedZone("", -5*3600)),
	}
	for i, ts := range written {
		commit(t, s, newWrite("Patient", fmt.Sprint(i), 1, ts, "POST"))
	}
	for i, ts := range written {
		t.Run(ts.Format(time.RFC3339Nano), func(t *testing.T) {
			checkTime(t, mustRead(t, s, "Patient", fmt.Sprint(i)).LastUpdated, ts)
			v, err := s.VRead(ctx, "Patient", fmt.Sprint(i), 1)
			if err != nil {
				t.Fatalf("vread: %v", err)
			}
			checkTime(t, v.LastUpdated, ts)
			h, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: fmt.Sprint(i)})
			if err != nil || len(h.Versions) != 1 {
				t.Fatalf("history: %v, %d versions", err, len(h.Versions))
			}
			checkTime(t, h.Versions[0].LastUpdated, ts)
			res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 1, Clauses: []store.Clause{exact(store.ParamID, fmt.Sprint(i))}})
			if err != nil || len(res.Resources) != 1 {
				t.Fatalf("search: %v, %d resources", err, len(res.Resources))
			}
			checkTime(t, res.Resources[0].LastUpdated, ts)
		})
	}
}
