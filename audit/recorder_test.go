package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"testing"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
)

func openStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	return openPath(tb, filepath.Join(tb.TempDir(), "audit.db"))
}

func openPath(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func newRecorder(tb testing.TB, st store.Store) *audit.Recorder {
	tb.Helper()
	r, err := audit.NewRecorder(st, audit.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

func readEvent(n int) audit.Event {
	return audit.Read(practitioner, audit.Target{Type: "Observation", ID: fmt.Sprintf("o%d", n)}, fmt.Sprintf("Patient/p%d", n%7), audit.Success)
}

// recordConcurrently records perWorker events from each of workers goroutines
// spread over the recorders, and fails the test on any error.
func recordConcurrently(t *testing.T, recorders []*audit.Recorder, workers, perWorker int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := recorders[w%len(recorders)]
			for i := range perWorker {
				if err := r.Record(context.Background(), readEvent(w*perWorker+i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Record: %v", err)
	}
}

// chainedEvents returns the number of chained AuditEvents in the store.
func chainedEvents(t *testing.T, st store.Store) int {
	t.Helper()
	res, err := st.Search(context.Background(), store.Query{
		Types:   []string{"AuditEvent"},
		Clauses: []store.Clause{{Any: []store.Condition{{Param: audit.SequenceParam, Op: store.OpMissing, Text: "false"}}}},
		Total:   true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Total
}

func verifyOK(t *testing.T, st store.Store, want int64) {
	t.Helper()
	rep, err := audit.Verify(context.Background(), st)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("Verify reports %s", rep.Break)
	}
	if rep.Verified != want || rep.Head != want {
		t.Fatalf("Verify: %d events verified, head %d, want %d", rep.Verified, rep.Head, want)
	}
}

// TestRecordConcurrent records from 100 goroutines: every event is stored
// once, the chain is gapless and verifies, each stored event is a valid
// AuditEvent in canonical form, and a patient finds their events by search.
func TestRecordConcurrent(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	rec := newRecorder(t, st)
	const workers, perWorker = 100, 20
	recordConcurrently(t, []*audit.Recorder{rec}, workers, perWorker)
	if n := chainedEvents(t, st); n != workers*perWorker {
		t.Errorf("%d chained events stored, want %d", n, workers*perWorker)
	}
	verifyOK(t, st, workers*perWorker)

	for _, seq := range []int64{1, 777, workers * perWorker} {
		res, err := st.Read(context.Background(), "AuditEvent", audit.EventID(seq))
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := model.Parse(res.Body)
		if err != nil {
			t.Fatalf("stored event %d is not a valid AuditEvent: %v", seq, err)
		}
		canonical, _ := parsed.Marshal()
		if !bytes.Equal(canonical, res.Body) {
			t.Errorf("stored event %d is not canonical:\n got %s\nwant %s", seq, res.Body, canonical)
		}
	}

	plan := search.Parse("AuditEvent", url.Values{"patient": {"Patient/p3"}})
	if len(plan.Ignored) > 0 {
		t.Fatalf("patient search ignored: %v", plan.Ignored)
	}
	plan.Query.Total = true
	res, err := st.Search(context.Background(), plan.Query)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for n := range workers * perWorker {
		if n%7 == 3 {
			want++
		}
	}
	if res.Total != want {
		t.Errorf("AuditEvent?patient=Patient/p3 finds %d events, want %d", res.Total, want)
	}
}

// TestTwoRecorders runs two recorders (two nodes) on one store, through one
// store handle and through two handles on the same database file: they keep
// one valid, gapless chain.
func TestTwoRecorders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stores func(t *testing.T) (store.Store, store.Store)
	}{
		{"one handle", func(t *testing.T) (store.Store, store.Store) {
			st := openStore(t)
			return st, st
		}},
		{"two handles", func(t *testing.T) (store.Store, store.Store) {
			path := filepath.Join(t.TempDir(), "shared.db")
			return openPath(t, path), openPath(t, path)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			first, second := tc.stores(t)
			a, b := newRecorder(t, first), newRecorder(t, second)
			recordConcurrently(t, []*audit.Recorder{a, b}, 40, 25)
			if n := chainedEvents(t, first); n != 1000 {
				t.Errorf("%d chained events stored, want 1000", n)
			}
			verifyOK(t, first, 1000)
		})
	}
}

// TestFailClosed: when the store cannot take the event, Record fails.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		breakStore func(st *sqlite.Store, r *audit.Recorder)
		want       error
	}{
		{"store closed", func(st *sqlite.Store, _ *audit.Recorder) { st.Close() }, nil},
		{"recorder closed", func(_ *sqlite.Store, r *audit.Recorder) { r.Close() }, audit.ErrClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			rec := newRecorder(t, st)
			if err := rec.Record(context.Background(), readEvent(1)); err != nil {
				t.Fatalf("Record on a working store: %v", err)
			}
			tc.breakStore(st, rec)
			err := rec.Record(context.Background(), readEvent(2))
			if err == nil {
				t.Fatal("Record succeeded on a broken store")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Record: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestVerifyDetectsTampering tampers with the store directly and expects
// Verify to name the first broken event.
func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	const events = 10
	tests := []struct {
		name   string
		tamper func(t *testing.T, st *sqlite.Store)
		seq    int64
		kind   audit.BreakKind
	}{
		{"none", func(*testing.T, *sqlite.Store) {}, 0, ""},
		{"modify", func(t *testing.T, st *sqlite.Store) {
			rewrite(t, st, 5, func(b []byte) []byte { return bytes.Replace(b, []byte(`"outcome":"0"`), []byte(`"outcome":"4"`), 1) })
		}, 5, audit.Modified},
		{"rewrite same bytes", func(t *testing.T, st *sqlite.Store) {
			rewrite(t, st, 3, func(b []byte) []byte { return b })
		}, 3, audit.Modified},
		{"delete", func(t *testing.T, st *sqlite.Store) { deleteEvent(t, st, 4) }, 4, audit.Missing},
		{"delete last", func(t *testing.T, st *sqlite.Store) { deleteEvent(t, st, events) }, events, audit.Missing},
		{"reorder", func(t *testing.T, st *sqlite.Store) { swap(t, st, 6, 7) }, 6, audit.Reordered},
		{"delete beyond a lagging head", func(t *testing.T, st *sqlite.Store) {
			setHead(t, st, 5)
			deleteEvent(t, st, 8)
		}, 8, audit.Missing},
		{"head", func(t *testing.T, st *sqlite.Store) {
			rec, err := st.GetRecord(context.Background(), "audit.chain", "head")
			if err != nil {
				t.Fatal(err)
			}
			rec.Version++
			rec.Value = []byte(fmt.Sprintf(`{"sequence":%d,"hash":"%s"}`, events, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
			if err := st.PutRecord(context.Background(), *rec); err != nil {
				t.Fatal(err)
			}
		}, events, audit.HeadMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := openStore(t)
			rec := newRecorder(t, st)
			for i := range events {
				if err := rec.Record(context.Background(), readEvent(i)); err != nil {
					t.Fatal(err)
				}
			}
			tc.tamper(t, st)
			rep, err := audit.Verify(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			params, err := rep.Parameters()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := model.Parse(params); err != nil {
				t.Errorf("the report is not a valid Parameters resource: %v\n%s", err, params)
			}
			if tc.kind == "" {
				if !rep.OK() || rep.Verified != events {
					t.Fatalf("untouched chain: %+v %v", rep, rep.Break)
				}
				return
			}
			if rep.OK() {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if rep.Break.Sequence != tc.seq || rep.Break.Kind != tc.kind || rep.Break.ID != audit.EventID(tc.seq) {
				t.Errorf("Verify reports %s, want %s at %d", rep.Break, tc.kind, tc.seq)
			}
		})
	}
}

// setHead moves the chain head back to seq, as if the node that wrote the
// events after it had crashed before advancing the head.
func setHead(t *testing.T, st *sqlite.Store, seq int64) {
	t.Helper()
	ctx := context.Background()
	res, err := st.Read(ctx, "AuditEvent", audit.EventID(seq))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Extension []struct {
			URL  string `json:"url"`
			Hash string `json:"valueBase64Binary"`
		} `json:"extension"`
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatal(err)
	}
	hash := ""
	for _, x := range doc.Extension {
		if x.URL == audit.HashURL {
			hash = x.Hash
		}
	}
	rec, err := st.GetRecord(ctx, "audit.chain", "head")
	if err != nil {
		t.Fatal(err)
	}
	rec.Version++
	rec.Value = []byte(fmt.Sprintf(`{"sequence":%d,"hash":%q}`, seq, hash))
	if err := st.PutRecord(ctx, *rec); err != nil {
		t.Fatal(err)
	}
}

// TestRollForward: a recorder that finds events beyond the head (their node
// crashed before advancing it) continues the chain after them.
func TestRollForward(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	first := newRecorder(t, st)
	for i := range 10 {
		if err := first.Record(context.Background(), readEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	first.Close()
	setHead(t, st, 4)
	rep, err := audit.Verify(context.Background(), st)
	if err != nil || !rep.OK() || rep.Verified != 10 || rep.Head != 4 {
		t.Fatalf("lagging head: %+v %v, %v", rep, rep.Break, err)
	}
	second := newRecorder(t, st)
	if err := second.Record(context.Background(), readEvent(10)); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, st, 11)
}

// rewrite replaces the body of event seq through a raw Commit.
func rewrite(t *testing.T, st store.Store, seq int64, change func([]byte) []byte) {
	t.Helper()
	ctx := context.Background()
	res, err := st.Read(ctx, "AuditEvent", audit.EventID(seq))
	if err != nil {
		t.Fatal(err)
	}
	w := store.Write{Type: "AuditEvent", ID: res.ID, Version: res.VersionID + 1, LastUpdated: res.LastUpdated, Method: "PUT", Body: change(res.Body)}
	if err := st.Commit(ctx, []store.Write{w}); err != nil {
		t.Fatal(err)
	}
}

func deleteEvent(t *testing.T, st store.Store, seq int64) {
	t.Helper()
	w := store.Write{Type: "AuditEvent", ID: audit.EventID(seq), Version: 2, Deleted: true, Method: "DELETE"}
	if err := st.Commit(context.Background(), []store.Write{w}); err != nil {
		t.Fatal(err)
	}
}

// swap exchanges the bodies of two events.
func swap(t *testing.T, st store.Store, a, b int64) {
	t.Helper()
	ctx := context.Background()
	ra, err := st.Read(ctx, "AuditEvent", audit.EventID(a))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := st.Read(ctx, "AuditEvent", audit.EventID(b))
	if err != nil {
		t.Fatal(err)
	}
	writes := []store.Write{
		{Type: "AuditEvent", ID: ra.ID, Version: 2, LastUpdated: ra.LastUpdated, Method: "PUT", Body: rb.Body},
		{Type: "AuditEvent", ID: rb.ID, Version: 2, LastUpdated: rb.LastUpdated, Method: "PUT", Body: ra.Body},
	}
	if err := st.Commit(ctx, writes); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyStreaming tampers with a chain longer than several of Verify's
// pages, through raw store Commits that keep the event findable (its index
// rewritten as the REST layer would), and expects the first break named.
func TestVerifyStreaming(t *testing.T) {
	t.Parallel()
	const events = 562 // more than two pages
	tests := []struct {
		name   string
		tamper func(t *testing.T, st *sqlite.Store)
		seq    int64
		kind   audit.BreakKind
	}{
		{"intact", func(*testing.T, *sqlite.Store) {}, 0, ""},
		{"modified mid-page", func(t *testing.T, st *sqlite.Store) {
			reindexed(t, st, 300, func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"Patient/p`), []byte(`"Patient/x`), 1)
			})
		}, 300, audit.Modified},
		{"modified first of a page", func(t *testing.T, st *sqlite.Store) {
			reindexed(t, st, 257, func(b []byte) []byte { return bytes.Replace(b, []byte(`"action":"R"`), []byte(`"action":"C"`), 1) })
		}, 257, audit.Modified},
		{"deleted in the last page", func(t *testing.T, st *sqlite.Store) { deleteEvent(t, st, 520) }, 520, audit.Missing},
		{"last deleted", func(t *testing.T, st *sqlite.Store) { deleteEvent(t, st, events) }, events, audit.Missing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := openStore(t)
			rec := newRecorder(t, st)
			recordConcurrently(t, []*audit.Recorder{rec}, 2, events/2)
			tc.tamper(t, st)
			rep, err := audit.Verify(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			if tc.kind == "" {
				if !rep.OK() || rep.Verified != events || rep.Head != events {
					t.Fatalf("intact chain: %+v %v", rep, rep.Break)
				}
				return
			}
			if rep.OK() || rep.Break.Sequence != tc.seq || rep.Break.Kind != tc.kind {
				t.Fatalf("Verify reports %+v %v, want %s at %d", rep, rep.Break, tc.kind, tc.seq)
			}
			if rep.Verified != tc.seq-1 {
				t.Errorf("%d events verified before the break at %d", rep.Verified, tc.seq)
			}
		})
	}
}

// reindexed rewrites event seq through a raw Commit with the index the
// changed body would get, so that it stays findable by search.
func reindexed(t *testing.T, st store.Store, seq int64, change func([]byte) []byte) {
	t.Helper()
	ctx := context.Background()
	res, err := st.Read(ctx, "AuditEvent", audit.EventID(seq))
	if err != nil {
		t.Fatal(err)
	}
	body := change(res.Body)
	if bytes.Equal(body, res.Body) {
		t.Fatal("the tampering changes nothing")
	}
	index, err := extractor.Extract("AuditEvent", body)
	if err != nil {
		t.Fatal(err)
	}
	w := store.Write{Type: "AuditEvent", ID: res.ID, Version: res.VersionID + 1, LastUpdated: res.LastUpdated, Method: "PUT", Body: body, Index: index}
	if err := st.Commit(ctx, []store.Write{w}); err != nil {
		t.Fatal(err)
	}
}

// TestReservedID: the ids of chained events are reserved, others are not.
func TestReservedID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{audit.EventID(1): true, audit.EventID(123456): true, "audit-x": true, "ext-1": false, "auditor-1": false} {
		if got := audit.IsReservedID(id); got != want {
			t.Errorf("IsReservedID(%q) = %v, want %v", id, got, want)
		}
	}
}
