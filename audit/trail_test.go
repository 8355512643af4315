package audit_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

func openTrail(t *testing.T, dir string, blockSize int) *audit.Trail {
	t.Helper()
	tr, err := audit.OpenTrail(dir, audit.TrailOptions{BlockSize: blockSize})
	if err != nil {
		t.Fatalf("open trail: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// syntheticEvents returns n events with dates, patients, agents, an
// optional outcome and a sequence number, varied so that searches and sorts
// have something to tell apart; their ids sort in their order.
func syntheticEvents(from, n int) []audit.TrailEvent {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]audit.TrailEvent, n)
	for i := range n {
		k := from + i
		id := fmt.Sprintf("e-%04d", k)
		// Dates are not in append order: sorts must reorder.
		date := base.Add(time.Duration((k*7919)%1000) * time.Minute)
		index := []store.IndexEntry{
			{Param: "date", Kind: store.KindDate, Low: float64(date.UnixMilli()), High: float64(date.UnixMilli() + 1000)},
			{Param: "agent", Kind: store.KindReference, Text: fmt.Sprintf("Practitioner/pr%d", k%3)},
			{Param: audit.SequenceParam, Kind: store.KindNumber, Low: float64(k), High: float64(k) + 1},
		}
		if k%4 != 0 {
			index = append(index, store.IndexEntry{Param: "patient", Kind: store.KindReference, Text: fmt.Sprintf("Patient/p%d", k%5)})
		}
		if k%3 == 0 { // a range entry with a text, as a composite quantity's
			index = append(index, store.IndexEntry{Param: "x-value", Kind: store.KindQuantity, Low: float64(k), High: float64(k) + 1,
				Text: fmt.Sprintf("c%d$u%d", k%2, k%5)})
		}
		if k%6 == 0 {
			index = append(index, store.IndexEntry{Param: "outcome", Kind: store.KindToken, Text: "4"},
				store.IndexEntry{Param: "outcome", Kind: store.KindToken, Text: "http://hl7.org/fhir/audit-event-outcome|4"})
		}
		updated := base.Add(time.Duration(k) * time.Second)
		body := fmt.Appendf(nil, `{"resourceType":"AuditEvent","id":%q,"meta":{"versionId":"1","lastUpdated":%q}}`, id, updated.Format("2006-01-02T15:04:05.000Z"))
		out[i] = audit.TrailEvent{ID: id, LastUpdated: updated, Body: body, Index: index}
	}
	return out
}

// storeEvents commits events to st as version 1 of AuditEvents.
func storeEvents(t *testing.T, st store.Store, events []audit.TrailEvent) {
	t.Helper()
	for _, e := range events {
		w := store.Write{Type: "AuditEvent", ID: e.ID, Version: 1, LastUpdated: e.LastUpdated, Method: "POST", Body: e.Body, Index: e.Index}
		if err := st.Commit(context.Background(), []store.Write{w}); err != nil {
			t.Fatal(err)
		}
	}
}

func dateCondition(op store.Op, day int) store.Condition {
	low := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(day) * time.Hour)
	return store.Condition{Param: "date", Op: op, Low: float64(low.UnixMilli()), High: float64(low.Add(time.Hour).UnixMilli())}
}

func clause(conditions ...store.Condition) store.Clause { return store.Clause{Any: conditions} }

func exactCondition(param, text string) store.Condition {
	return store.Condition{Param: param, Op: store.OpExact, Text: text}
}

// trailQueries are searches the trail must answer as the SQLite store does.
var trailQueries = map[string]store.Query{
	"all":                 {},
	"patient":             {Clauses: []store.Clause{clause(exactCondition("patient", "Patient/p1"))}},
	"patient or":          {Clauses: []store.Clause{clause(exactCondition("patient", "Patient/p1"), exactCondition("patient", "Patient/p3"))}},
	"patient and agent":   {Clauses: []store.Clause{clause(exactCondition("patient", "Patient/p2")), clause(exactCondition("agent", "Practitioner/pr1"))}},
	"not agent":           {Clauses: []store.Clause{clause(store.Condition{Param: "agent", Op: store.OpExact, Text: "Practitioner/pr0", Not: true})}},
	"patient missing":     {Clauses: []store.Clause{clause(store.Condition{Param: "patient", Op: store.OpMissing, Text: "true"})}},
	"outcome present":     {Clauses: []store.Clause{clause(store.Condition{Param: "outcome", Op: store.OpMissing, Text: "false"})}},
	"agent prefix":        {Clauses: []store.Clause{clause(store.Condition{Param: "agent", Op: store.OpPrefix, Text: "Practitioner/pr"})}},
	"patient contains":    {Clauses: []store.Clause{clause(store.Condition{Param: "patient", Op: store.OpContains, Text: "t/p4"})}},
	"id":                  {Clauses: []store.Clause{clause(exactCondition(store.ParamID, "e-0007"), exactCondition(store.ParamID, "e-0042"))}},
	"date ge":             {Clauses: []store.Clause{clause(dateCondition(store.OpGe, 8))}},
	"date lt and ne":      {Clauses: []store.Clause{clause(dateCondition(store.OpLt, 12)), clause(dateCondition(store.OpNe, 3))}},
	"date eq":             {Clauses: []store.Clause{clause(dateCondition(store.OpEq, 5))}},
	"date sa eb":          {Clauses: []store.Clause{clause(dateCondition(store.OpSa, 3), dateCondition(store.OpEb, 1))}},
	"lastUpdated gt":      {Clauses: []store.Clause{clause(store.Condition{Param: store.ParamLastUpdated, Op: store.OpGt, Low: 0, High: float64(time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC).UnixMilli())})}},
	"range with text":     {Clauses: []store.Clause{clause(store.Condition{Param: "x-value", Op: store.OpGe, Low: 9, High: 10, Text: "c1$u0"})}},
	"range text prefix":   {Clauses: []store.Clause{clause(store.Condition{Param: "x-value", Op: store.OpGe, Low: 9, High: 10, Text: "c1$", TextPrefix: true})}},
	"sequence le":         {Clauses: []store.Clause{clause(store.Condition{Param: audit.SequenceParam, Op: store.OpLe, Low: 10, High: 11})}},
	"sort date":           {Sort: []store.SortKey{{Param: "date"}}},
	"sort -date":          {Sort: []store.SortKey{{Param: "date", Descending: true}}},
	"sort -lastUpdated":   {Sort: []store.SortKey{{Param: store.ParamLastUpdated, Descending: true}}},
	"sort patient,-date":  {Sort: []store.SortKey{{Param: "patient"}, {Param: "date", Descending: true}}},
	"sort -patient":       {Sort: []store.SortKey{{Param: "patient", Descending: true}}},
	"agent sorted by -id": {Clauses: []store.Clause{clause(exactCondition("agent", "Practitioner/pr2"))}, Sort: []store.SortKey{{Param: store.ParamID, Descending: true}}},
}

// pages runs q a page of count at a time through the cursor and returns
// every id found and the total of the first page.
func pages(t *testing.T, search func(store.Query) (*store.SearchResult, error), q store.Query, count int) ([]string, int) {
	t.Helper()
	q.Types, q.Count, q.Total = []string{"AuditEvent"}, count, true
	var ids []string
	total := -1
	for {
		res, err := search(q)
		if err != nil {
			t.Fatalf("search %+v: %v", q, err)
		}
		if total == -1 {
			total = res.Total
		}
		for _, r := range res.Resources {
			ids = append(ids, r.ID)
		}
		if !res.More {
			return ids, total
		}
		if len(res.Resources) == 0 || res.Next == "" {
			t.Fatalf("search %+v: more results announced without a page or a cursor", q)
		}
		q.Cursor = res.Next
	}
}

func checkLikeStore(t *testing.T, tr *audit.Trail, st store.Store) {
	t.Helper()
	ctx := context.Background()
	for name, q := range trailQueries {
		for _, count := range []int{7, 1000} {
			got, gotTotal := pages(t, func(q store.Query) (*store.SearchResult, error) { return tr.Search(ctx, q) }, q, count)
			want, wantTotal := pages(t, func(q store.Query) (*store.SearchResult, error) { return st.Search(ctx, q) }, q, count)
			if !slices.Equal(got, want) || gotTotal != wantTotal {
				t.Errorf("%s, pages of %d: the trail finds %v (total %d), the store %v (total %d)", name, count, got, gotTotal, want, wantTotal)
			}
		}
	}
}

// TestTrailSearchLikeStore appends the same events to a trail (blocks of 8,
// so most are sealed) and to the SQLite store, and checks that every
// search (conditions, negations, missing, prefixes, ranges, sorts, paging
// by cursor, totals) finds the same events in the same order, before and
// after the trail is reopened, and after more events are appended.
func TestTrailSearchLikeStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := openStore(t)
	tr := openTrail(t, dir, 8)
	first := syntheticEvents(0, 45)
	if err := tr.Append(first[:20]); err != nil {
		t.Fatal(err)
	}
	if err := tr.Append(first[20:]); err != nil {
		t.Fatal(err)
	}
	storeEvents(t, st, first)
	checkLikeStore(t, tr, st)

	tr.Close() // once the blocks being sealed are
	if blocks := trailFiles(t, dir, ".block"); len(blocks) != 5 {
		t.Errorf("45 events in blocks of 8: %d sealed blocks, want 5", len(blocks))
	}
	tr = openTrail(t, dir, 8)
	if tr.Len() != 45 {
		t.Fatalf("reopened trail holds %d events, want 45", tr.Len())
	}
	checkLikeStore(t, tr, st)

	more := syntheticEvents(45, 30)
	if err := tr.Append(more); err != nil {
		t.Fatal(err)
	}
	storeEvents(t, st, more)
	checkLikeStore(t, tr, st)

	// Page by offset as well as by cursor.
	q := store.Query{Types: []string{"AuditEvent"}, Clauses: trailQueries["date ge"].Clauses, Count: 5, Offset: 10}
	got, err := tr.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	want, err := st.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := resourceIDs(got.Resources), resourceIDs(want.Resources); !slices.Equal(g, w) || got.More != want.More {
		t.Errorf("offset 10: the trail finds %v (more %v), the store %v (more %v)", g, got.More, w, want.More)
	}
}

func resourceIDs(rs []store.Resource) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

func trailFiles(t *testing.T, dir, suffix string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestTrailLeanSearch puts the recorder's events in a trail twice, with
// the recorder's lean index and with the extractor's, and checks that
// the lean searches (rewritten by LeanQuery) and the plain ones find on
// the trail what they find in a store indexed by the extractor.
func TestTrailLeanSearch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lean, full := openStore(t), openStore(t)
	events := leanTrail(t, lean, full)
	leanTr, fullTr := openTrail(t, t.TempDir(), 4), openTrail(t, t.TempDir(), 4)
	for n, e := range events {
		res, err := lean.Read(ctx, "AuditEvent", audit.EventID(int64(n+1)))
		if err != nil {
			t.Fatal(err)
		}
		index, err := e.Index()
		if err != nil {
			t.Fatal(err)
		}
		extracted, err := extractor.Extract("AuditEvent", res.Body)
		if err != nil {
			t.Fatal(err)
		}
		for tr, index := range map[*audit.Trail][]store.IndexEntry{leanTr: index, fullTr: extracted} {
			if err := tr.Append([]audit.TrailEvent{{ID: res.ID, LastUpdated: res.LastUpdated, Body: res.Body, Index: index}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range leanSearches {
		values, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		plan := search.Parse("AuditEvent", values)
		plan.Query.Count = 1000
		want := searchIDs(t, full, plan.Query)
		rewritten, err := audit.LeanQuery(plan.Query)
		if err != nil {
			t.Fatal(err)
		}
		for name, got := range map[string][]string{
			"lean index": trailIDs(t, leanTr, rewritten),
			"full index": trailIDs(t, fullTr, plan.Query),
		} {
			if !slices.Equal(got, want) {
				t.Errorf("AuditEvent?%s finds %v on the trail with the %s, %v in the store", tc.query, got, name, want)
			}
		}
	}
}

func sortedIDs(rs []store.Resource) []string {
	ids := resourceIDs(rs)
	slices.Sort(ids)
	return ids
}

func trailIDs(t *testing.T, tr *audit.Trail, q store.Query) []string {
	t.Helper()
	res, err := tr.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("trail search %+v: %v", q, err)
	}
	ids := resourceIDs(res.Resources)
	slices.Sort(ids)
	return ids
}

// TestTrailTornFrame: a crash in the middle of a frame's write leaves a
// partial frame at the end of the log; reopening cuts it off and keeps
// every whole frame, and appending goes on after them.
func TestTrailTornFrame(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tr := openTrail(t, dir, 100)
	if err := tr.Append(syntheticEvents(0, 10)); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	logs := trailFiles(t, dir, ".log")
	if len(logs) != 1 {
		t.Fatalf("logs %v, want one", logs)
	}
	whole, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	// A torn copy of the last frame, then the file as the crash left it.
	f, err := os.OpenFile(logs[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(whole[len(whole)-40:]); err != nil {
		t.Fatal(err)
	}
	f.Close()

	tr = openTrail(t, dir, 100)
	if tr.Len() != 10 {
		t.Fatalf("after a torn frame the trail holds %d events, want 10", tr.Len())
	}
	if got, want := appendAndReopen(t, tr, dir, 100, 10, 5), resourceIDs(eventsAsResources(syntheticEvents(0, 15))); !slices.Equal(got, want) {
		t.Errorf("after the torn frame and 5 more events: %v, want %v", got, want)
	}
}

// appendAndReopen appends n synthetic events from from to tr, closes it,
// opens the trail in dir again and returns the ids it holds, sorted.
func appendAndReopen(t *testing.T, tr *audit.Trail, dir string, blockSize, from, n int) []string {
	t.Helper()
	if err := tr.Append(syntheticEvents(from, n)); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	return trailIDs(t, openTrail(t, dir, blockSize), store.Query{Count: 100})
}

func eventsAsResources(events []audit.TrailEvent) []store.Resource {
	out := make([]store.Resource, len(events))
	for i, e := range events {
		out[i] = store.Resource{ID: e.ID}
	}
	return out
}

// TestTrailSealCrash: a crash while a block file is written leaves a
// temporary file and no block, while a later block may be sealed already
// (blocks are sealed concurrently): the next start seals the block again
// from its log, and each event is there once, in order.
func TestTrailSealCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tr := openTrail(t, dir, 5)
	if err := tr.Append(syntheticEvents(0, 12)); err != nil { // seals 0-4 and 5-9, keeps 10 and 11 open
		t.Fatal(err)
	}
	tr.Close()
	block := filepath.Join(dir, "00000000000000000000.block")
	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(block+".tmp", []byte("THTRAIL2 torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr = openTrail(t, dir, 5)
	res, err := tr.Search(context.Background(), store.Query{Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if got, want := resourceIDs(res.Resources), resourceIDs(eventsAsResources(syntheticEvents(0, 12))); !slices.Equal(got, want) {
		t.Errorf("after a crash during sealing: %v, want %v in this order", got, want)
	}
	if _, err := os.Stat(block); err != nil {
		t.Errorf("the block was not sealed again: %v", err)
	}
	if tmp := trailFiles(t, dir, ".tmp"); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// TestTrailReadAndHistory reads events from sealed and open blocks, by id
// and version, and their history, newest first.
func TestTrailReadAndHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := openTrail(t, t.TempDir(), 4)
	events := syntheticEvents(0, 10)
	if err := tr.Append(events); err != nil {
		t.Fatal(err)
	}
	for _, e := range []audit.TrailEvent{events[1], events[9]} {
		res, err := tr.Read(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Body) != string(e.Body) || res.VersionID != 1 || !res.LastUpdated.Equal(e.LastUpdated) {
			t.Errorf("read %s: %+v", e.ID, res)
		}
		if _, err := tr.VRead(ctx, e.ID, 2); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("vread %s version 2: %v, want not found", e.ID, err)
		}
	}
	if _, err := tr.Read(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("read an unknown id: %v, want not found", err)
	}
	h, err := tr.History(ctx, store.HistoryQuery{Type: "AuditEvent", Since: events[3].LastUpdated, Count: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got := resourceIDs(h.Versions); h.Total != 7 || !h.More || !slices.Equal(got, []string{"e-0009", "e-0008", "e-0007", "e-0006"}) {
		t.Errorf("history since the 4th event: %v, total %d, more %v", got, h.Total, h.More)
	}
	h, err = tr.History(ctx, store.HistoryQuery{Type: "AuditEvent", ID: "e-0002", Count: 10})
	if err != nil || len(h.Versions) != 1 || h.Versions[0].ID != "e-0002" {
		t.Errorf("instance history: %+v, %v", h, err)
	}
}

// trailRecorder opens the trail in dir beside st and a recorder appending
// to it; close stops both.
func trailRecorder(t *testing.T, st store.Store, dir string, blockSize int) (withTrail store.Store, rec *audit.Recorder, close func()) {
	t.Helper()
	return trailRecorderWith(t, st, dir, audit.TrailOptions{BlockSize: blockSize})
}

func trailRecorderWith(t *testing.T, st store.Store, dir string, opts audit.TrailOptions) (withTrail store.Store, rec *audit.Recorder, close func()) {
	t.Helper()
	tr, err := audit.OpenTrail(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	withTrail, err = audit.WithTrail(context.Background(), st, tr)
	if err != nil {
		t.Fatal(err)
	}
	rec, err = audit.NewRecorder(withTrail, audit.Options{Trail: tr})
	if err != nil {
		t.Fatal(err)
	}
	var once bool
	close = func() {
		if !once {
			once = true
			rec.Close()
			tr.Close()
		}
	}
	t.Cleanup(close)
	return withTrail, rec, close
}

// TestTrailChain records concurrently into a trail of small blocks, synced
// at each append (a writer goroutine groups the events) or later (each
// Record appends in place): the chain verifies across sealed and open
// blocks, goes on after a restart, and a change to an event in a sealed
// block's file is reported.
func TestTrailChain(t *testing.T) {
	t.Parallel()
	for name, syncInterval := range map[string]time.Duration{"synced": 0, "deferred": 5 * time.Millisecond} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			trailChain(t, audit.TrailOptions{BlockSize: 16, SyncInterval: syncInterval})
		})
	}
}

func trailChain(t *testing.T, opts audit.TrailOptions) {
	st, dir := openStore(t), t.TempDir()
	withTrail, rec, closeTrail := trailRecorderWith(t, st, dir, opts)
	recordConcurrently(t, []*audit.Recorder{rec}, 10, 5)
	rep, err := audit.Verify(context.Background(), withTrail)
	if err != nil || !rep.OK() || rep.Verified != 50 {
		t.Fatalf("Verify before a restart: %+v, %v; want 50 events verified", rep, err)
	}
	closeTrail() // saves the chain head
	if got := chainedEvents(t, st); got != 0 {
		t.Errorf("the store itself holds %d chained events, want none", got)
	}

	withTrail, rec, closeTrail = trailRecorderWith(t, st, dir, opts)
	recordConcurrently(t, []*audit.Recorder{rec}, 10, 3)
	closeTrail()
	withTrail, _, _ = trailRecorderWith(t, st, dir, opts)
	verifyOK(t, withTrail, 80)
	if got := chainedEvents(t, withTrail); got != 80 {
		t.Errorf("%d chained events found, want 80", got)
	}

	// A change in a sealed block's events, where a tamperer would look.
	blocks := trailFiles(t, dir, ".block")
	if len(blocks) != 5 {
		t.Fatalf("80 events in blocks of 16: %d blocks, want 5", len(blocks))
	}
	events := strings.TrimSuffix(blocks[1], ".block") + ".log"
	data, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	// The events are stored as records: change the patient one names.
	at := bytes.Index(data, []byte("Patient/p"))
	if at < 0 {
		t.Fatal("no patient in the second block")
	}
	data[at+len("Patient/p")] ^= 1
	if err := os.WriteFile(events, data, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err = audit.Verify(context.Background(), withTrail)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Break.Kind != audit.Modified || rep.Break.Sequence <= 16 || rep.Break.Sequence > 32 {
		t.Errorf("Verify after a change in the second block: %+v, want a modified event among 17-32", rep.Break)
	}
}

// TestTrailMigration: a data directory whose store holds the AuditEvents
// of before the trail (a chain, and one created through the API) has them
// copied into the trail at the first start only; the chain goes on in the
// trail, and searches find the old events with the new.
func TestTrailMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	old, err := audit.NewRecorder(st, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	recordConcurrently(t, []*audit.Recorder{old}, 4, 5)
	old.Close()
	posted := []byte(`{"resourceType":"AuditEvent","id":"ext-1","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00.000Z"},"type":{"code":"rest"},"recorded":"2026-01-01T00:00:00Z","agent":[{"requestor":true,"who":{"reference":"Patient/p3"}}],"source":{"observer":{"display":"x"}}}`)
	index, err := extractor.Extract("AuditEvent", posted)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx, []store.Write{{Type: "AuditEvent", ID: "ext-1", Version: 1, LastUpdated: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Method: "POST", Body: posted, Index: index}}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	withTrail, rec, closeTrail := trailRecorder(t, st, dir, 8)
	if got := chainedEvents(t, withTrail); got != 20 {
		t.Fatalf("%d chained events in the trail after the copy, want 20", got)
	}
	// The copies are found as the originals were.
	for _, query := range []string{"agent=Patient/p3", "patient=p1", "patient=p2&action=R", "date=ge2026-01-01", "_id=audit-7,ext-1"} {
		values, _ := url.ParseQuery(query)
		plan := search.Parse("AuditEvent", values)
		plan.Query.Count = 100
		got, err := audit.LeanSearch(withTrail).Search(ctx, plan.Query)
		if err != nil {
			t.Fatal(err)
		}
		want, err := audit.LeanSearch(st).Search(ctx, plan.Query)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := sortedIDs(got.Resources), sortedIDs(want.Resources); !slices.Equal(g, w) || len(w) == 0 {
			t.Errorf("AuditEvent?%s finds %v in the trail, %v in the store before the copy", query, g, w)
		}
	}
	recordConcurrently(t, []*audit.Recorder{rec}, 1, 5)
	// The head is saved at most once a second and when the recorder
	// closes: until then it may lag, and Verify checks the events beyond it.
	if rep, err := audit.Verify(ctx, withTrail); err != nil || !rep.OK() || rep.Verified != 25 || rep.Head < 20 || rep.Head > 25 {
		t.Fatalf("Verify while recording: %+v, %v; want 25 verified, head 20 to 25", rep, err)
	}
	closeTrail()

	withTrail, _, _ = trailRecorder(t, st, dir, 8)
	verifyOK(t, withTrail, 25)
	all, err := withTrail.Search(ctx, store.Query{Types: []string{"AuditEvent"}, Total: true})
	if err != nil || all.Total != 26 {
		t.Fatalf("AuditEvents after a second start: %+v, %v, want 26 (copied once)", all, err)
	}
	// The store's system history does not show the copied events twice.
	h, err := withTrail.History(ctx, store.HistoryQuery{Count: 100})
	if err != nil || h.Total != 26 || len(h.Versions) != 26 {
		t.Fatalf("system history: %d versions of total %v (%v), want 26", len(h.Versions), h.Total, err)
	}
}

// TestTrailStoreCrossing stores the same Patients and AuditEvents in a
// plain SQLite store and in one with the trail, and checks that searches
// crossing between AuditEvent and other types (chains both ways, _has,
// several types paged by cursor, system history) find the same resources.
func TestTrailStoreCrossing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	plain := openStore(t)
	withTrail, _, _ := trailRecorder(t, openStore(t), t.TempDir(), 4)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var writes []store.Write
	for i := range 6 {
		body := fmt.Appendf(nil, `{"resourceType":"Patient","id":"p%d","identifier":[{"system":"urn:mrn","value":"m%d"}],"active":true}`, i, i%3)
		writes = append(writes, store.Write{Type: "Patient", ID: fmt.Sprintf("p%d", i), Body: body})
	}
	for i := range 15 {
		body := fmt.Appendf(nil, `{"resourceType":"AuditEvent","id":"e%02d","type":{"code":"rest"},"action":"%s","recorded":"2026-01-01T00:00:00Z","agent":[{"requestor":true,"who":{"reference":"Practitioner/pr1"}}],"source":{"observer":{"display":"x"}},"entity":[{"what":{"reference":"Patient/p%d"}}]}`,
			i, []string{"R", "C", "U"}[i%3], i%5)
		writes = append(writes, store.Write{Type: "AuditEvent", ID: fmt.Sprintf("e%02d", i), Body: body})
	}
	for i, w := range writes {
		index, err := extractor.Extract(w.Type, w.Body)
		if err != nil {
			t.Fatal(err)
		}
		w.Version, w.Method, w.LastUpdated, w.Index = 1, "POST", base.Add(time.Duration(i)*time.Second), index
		for _, st := range []store.Store{plain, withTrail} {
			if err := st.Commit(ctx, []store.Write{w}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct{ types, query string }{
		{"AuditEvent", "patient.identifier=m1"},
		{"AuditEvent", "entity:Patient.active=true&action=C"},
		{"Patient", "_has:AuditEvent:patient:action=R"},
		{"Patient", "_has:AuditEvent:entity:action=U&identifier=m0"},
		{"AuditEvent,Patient", "_lastUpdated=ge2026-01-01T00:00:03Z"},
		{"", "_id=p1,e01,e02"},
	} {
		values, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		typ, types := tc.types, []string(nil)
		if strings.Contains(typ, ",") || typ == "" {
			types, typ = strings.Split(typ, ","), ""
			if types[0] == "" {
				types = nil
			}
		}
		plan := search.Parse(typ, values)
		if len(plan.Ignored) > 0 {
			t.Fatalf("%s?%s: ignored %v", tc.types, tc.query, plan.Ignored)
		}
		if types != nil {
			plan.Query.Types = types
		}
		want, wantTotal := pagedKeys(t, plain, plan.Query)
		got, gotTotal := pagedKeys(t, withTrail, plan.Query)
		if !slices.Equal(got, want) || gotTotal != wantTotal || len(want) == 0 {
			t.Errorf("%s?%s: %v (total %d) with the trail, %v (total %d) without", tc.types, tc.query, got, gotTotal, want, wantTotal)
		}
	}
	ex, ok := store.As[store.Explainer](withTrail)
	if !ok {
		t.Fatal("the store with the trail does not explain searches")
	}
	for types, want := range map[string]string{"AuditEvent": "audit trail", "Patient": "SCAN", "AuditEvent,Patient": "then the other types"} {
		plan, err := ex.Explain(ctx, store.Query{Types: strings.Split(types, ","), Count: 10})
		if err != nil || !strings.Contains(plan, want) {
			t.Errorf("explain a search of %s: %q (%v), want it to mention %q", types, plan, err, want)
		}
	}
	for _, page := range []store.HistoryQuery{{Count: 7}, {Count: 7, Offset: 7}, {Count: 50, Since: base.Add(10 * time.Second)}} {
		want, err := plain.History(ctx, page)
		if err != nil {
			t.Fatal(err)
		}
		got, err := withTrail.History(ctx, page)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := historyKeys(got.Versions), historyKeys(want.Versions); !slices.Equal(g, w) || got.Total != want.Total || got.More != want.More {
			t.Errorf("system history %+v: %v (total %d, more %v) with the trail, %v (total %d, more %v) without",
				page, g, got.Total, got.More, w, want.Total, want.More)
		}
	}
}

// pagedKeys pages through q three at a time and returns the "Type/id" of
// every match, sorted, and the total.
func pagedKeys(t *testing.T, st store.Store, q store.Query) ([]string, int) {
	t.Helper()
	q.Count, q.Total = 3, true
	var keys []string
	total := -1
	for range 100 {
		res, err := st.Search(context.Background(), q)
		if err != nil {
			t.Fatalf("search %+v: %v", q, err)
		}
		if total < 0 {
			total = res.Total
		}
		for _, r := range res.Resources {
			keys = append(keys, r.Type+"/"+r.ID)
		}
		if !res.More {
			break
		}
		q.Cursor = res.Next
	}
	slices.Sort(keys)
	return keys, total
}

func historyKeys(versions []store.Resource) []string {
	out := make([]string, len(versions))
	for i, v := range versions {
		out[i] = v.Type + "/" + v.ID
	}
	return out
}

// TestTrailFullLogSealedAtStart: a full block whose seal did not happen
// (the process stopped first) is sealed at the next start, and appending
// goes on in a new block.
func TestTrailFullLogSealedAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tr := openTrail(t, dir, 100)
	if err := tr.Append(syntheticEvents(0, 5)); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	tr = openTrail(t, dir, 5) // the log now holds a full block
	if err := tr.Append(syntheticEvents(5, 2)); err != nil {
		t.Fatal(err)
	}
	got := trailIDs(t, tr, store.Query{Count: 100})
	tr.Close()
	if want := resourceIDs(eventsAsResources(syntheticEvents(0, 7))); !slices.Equal(got, want) {
		t.Errorf("after sealing at start: %v, want %v", got, want)
	}
	if blocks, logs := trailFiles(t, dir, ".block"), trailFiles(t, dir, ".log"); len(blocks) != 1 || len(logs) != 2 {
		t.Errorf("blocks %v and logs %v, want one block, its log and the open block's", blocks, logs)
	}
}

// TestTrailPostingsOnDemand: the open block's postings are made when a
// search needs them, so a search sees every event appended before it,
// those appended since the last search included, while other searches
// run and full blocks are sealed.
func TestTrailPostingsOnDemand(t *testing.T) {
	t.Parallel()
	tr := openTrail(t, t.TempDir(), 16)
	patientP1 := store.Query{Count: 1000, Clauses: []store.Clause{clause(exactCondition("patient", "Patient/p1"))}}
	var appended []audit.TrailEvent
	for round := range 12 {
		batch := syntheticEvents(len(appended), 1+round%7)
		if err := tr.Append(batch); err != nil {
			t.Fatal(err)
		}
		appended = append(appended, batch...)
		var want []string
		for _, e := range appended {
			for _, x := range e.Index {
				if x.Param == "patient" && x.Text == "Patient/p1" {
					want = append(want, e.ID)
				}
			}
		}
		if got := trailIDs(t, tr, patientP1); !slices.Equal(got, want) {
			t.Fatalf("after %d events, patient=Patient/p1: %v, want %v", len(appended), got, want)
		}
	}

	// Searches beside appends: each sees at least the events appended
	// before it began, and none appended twice.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var searchers sync.WaitGroup
	for range 4 {
		searchers.Add(1)
		go func() {
			defer searchers.Done()
			for ctx.Err() == nil {
				before := tr.Len()
				res, err := tr.Search(ctx, store.Query{Count: 10000})
				if err != nil {
					t.Error(err)
					return
				}
				if ids := resourceIDs(res.Resources); len(ids) < before || len(ids) != len(slices.Compact(slices.Sorted(slices.Values(ids)))) {
					t.Errorf("a search begun at %d events found %d, or some twice", before, len(ids))
					return
				}
			}
		}()
	}
	for range 40 {
		batch := syntheticEvents(len(appended), 5)
		if err := tr.Append(batch); err != nil {
			t.Fatal(err)
		}
		appended = append(appended, batch...)
	}
	cancel()
	searchers.Wait()
	if got, want := trailIDs(t, tr, store.Query{Count: 10000}), resourceIDs(eventsAsResources(appended)); !slices.Equal(got, want) {
		t.Errorf("at the end: %d events, want %d", len(got), len(want))
	}
}

// TestTrailLogAllocatedAhead: the open block's log may be allocated ahead
// of its frames (zeros past them); a crash leaves it so, and a replay
// stops at the zeros, keeps every event and appends after them. Sealed and
// closed logs hold their frames alone.
func TestTrailLogAllocatedAhead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tr := openTrail(t, dir, 8)
	if err := tr.Append(syntheticEvents(0, 11)); err != nil { // seals 0-7, keeps 8-10 open
		t.Fatal(err)
	}
	// The files as a crash would leave them: copied while the trail is open.
	crashed := t.TempDir()
	waitSealed(t, dir, 1)
	for _, name := range append(trailFiles(t, dir, ".log"), trailFiles(t, dir, ".block")...) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, filepath.Base(name)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tr.Close()
	open := filepath.Join(crashed, "00000000000000000008.log")
	if size, frames := logSizes(t, crashed)[filepath.Base(open)], framesLength(t, open); runtime.GOOS == "linux" && size <= frames {
		t.Errorf("the open log: %d bytes, its frames %d: not allocated ahead", size, frames)
	}
	sizes := logSizes(t, dir)
	for name, size := range sizes {
		if frames := framesLength(t, filepath.Join(dir, name)); size != frames {
			t.Errorf("%s: %d bytes, its frames %d", name, size, frames)
		}
	}

	// Six more events seal 8-15.
	if got, want := appendAndReopen(t, openTrail(t, crashed, 8), crashed, 8, 11, 6), resourceIDs(eventsAsResources(syntheticEvents(0, 17))); !slices.Equal(got, want) {
		t.Errorf("after a crash and 6 more events: %v, want %v", got, want)
	}
}

// waitSealed waits until dir holds n block files.
func waitSealed(t *testing.T, dir string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(trailFiles(t, dir, ".block")) < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d blocks sealed, want %d", len(trailFiles(t, dir, ".block")), n)
		}
	}
}

func logSizes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, name := range trailFiles(t, dir, ".log") {
		info, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(name)] = info.Size()
	}
	return out
}

// framesLength walks a log's frames (a uint32 length, a CRC, the payload)
// and returns where they end: at the file's end, or at zeros.
func framesLength(t *testing.T, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for off+8 <= len(data) {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		if n == 0 || off+8+n > len(data) {
			break
		}
		off += 8 + n
	}
	return int64(off)
}
