package sqlite

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
)

// TestRangeShapes checks that range_shapes follows the entries committed,
// only ever widens, and ignores what a failed commit wrote.
func TestRangeShapes(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	observation := func(id string, version int64, index ...store.IndexEntry) store.Write {
		return store.Write{Type: "Observation", ID: id, Version: version, LastUpdated: time.UnixMilli(1), Method: "PUT", Body: []byte(`{}`), Index: index}
	}
	write := func(w store.Write) {
		t.Helper()
		if err := s.Commit(ctx, []store.Write{w}); err != nil {
			t.Fatal(err)
		}
	}
	want := func(param string, multiple bool, span, minSpan float64) {
		t.Helper()
		got, ok, err := s.rangeShape(ctx, param, "Observation")
		if err != nil || !ok || got != (rangeShape{multiple: multiple, span: span, minSpan: minSpan}) {
			t.Errorf("shape of %s = %+v, %v, %v; want multiple %v, span %g, min span %g", param, got, ok, err, multiple, span, minSpan)
		}
	}
	date := func(low, high float64) store.IndexEntry {
		return store.IndexEntry{Param: "date", Kind: store.KindDate, Low: low, High: high}
	}
	write(observation("o1", 1, date(10, 11)))
	want("date", false, 1, 1)
	write(observation("o1", 2, date(10, 15)))
	want("date", false, 5, 1)
	write(observation("o1", 3, date(10, 12))) // narrower: the shape stays as wide
	want("date", false, 5, 1)

	// In a group whose second request fails, only the first one's entries
	// count; the failed one's would have made date multi-valued and wider.
	request := func(writes ...store.Write) *commitRequest {
		return &commitRequest{ctx: ctx, writes: writes, done: make(chan error, 1)}
	}
	group := []*commitRequest{
		request(observation("o2", 1, date(20, 20))),
		request(observation("o3", 1, date(1, 2), date(0, 100)), observation("o1", 1)),
	}
	s.commitGroup(group)
	if err := <-group[0].done; err != nil {
		t.Fatal(err)
	}
	if err := <-group[1].done; !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a request writing version 1 of an existing resource: %v", err)
	}
	want("date", false, 5, 0)

	// Two entries of one resource make the parameter multi-valued, and an
	// unbounded one stores the largest span.
	write(observation("o4", 1, date(1, 2), date(math.Inf(-1), 3)))
	want("date", true, math.MaxFloat64, 0)
}

// TestRangeShapesOfVersion4 checks that a version 4 file, whose triggers
// kept range_shapes, loses them when opened, is marked version 5, and that
// its shapes keep widening.
func TestRangeShapesOfVersion4(t *testing.T) {
	ctx := context.Background()
	s, path := openClosable(t)
	s = reopen(t, s, path,
		`CREATE TRIGGER range_shapes_of_new_entries AFTER INSERT ON idx_entries BEGIN SELECT 1; END`,
		`CREATE TRIGGER range_shapes_of_changed_entries AFTER UPDATE OF entries ON idx_entries BEGIN SELECT 1; END`,
		`PRAGMA user_version = 4`)
	var version, triggers int
	if err := s.writer.QueryRowContext(ctx, `SELECT (SELECT user_version FROM pragma_user_version),
		(SELECT count(*) FROM sqlite_schema WHERE type = 'trigger')`).Scan(&version, &triggers); err != nil {
		t.Fatal(err)
	}
	if version != schemaVersion || triggers != 0 {
		t.Errorf("after opening a version 4 file: user_version %d, %d triggers; want %d, none", version, triggers, schemaVersion)
	}
	w := store.Write{Type: "Observation", ID: "o1", Version: 1, LastUpdated: time.UnixMilli(1), Method: "PUT", Body: []byte(`{}`),
		Index: []store.IndexEntry{{Param: "date", Kind: store.KindDate, Low: 10, High: 17}}}
	if err := s.Commit(ctx, []store.Write{w}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.rangeShape(ctx, "date", "Observation"); err != nil || !ok || got.span != 7 {
		t.Errorf("shape of date after a write: %+v, %v, %v; want span 7", got, ok, err)
	}
}

// TestWindowsHold checks that windows built on shapes a write has since
// widened are found stale in the search's snapshot.
func TestWindowsHold(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	write := func(id string, index ...store.IndexEntry) {
		t.Helper()
		w := store.Write{Type: "Observation", ID: id, Version: 1, LastUpdated: time.UnixMilli(1), Method: "POST", Body: []byte(`{}`), Index: index}
		if err := s.Commit(ctx, []store.Write{w}); err != nil {
			t.Fatal(err)
		}
	}
	date := func(low, high float64) store.IndexEntry {
		return store.IndexEntry{Param: "date", Kind: store.KindDate, Low: low, High: high}
	}
	write("o1", date(10, 11))
	q := store.Query{Types: []string{"Observation"}, Clauses: []store.Clause{
		{Any: []store.Condition{{Param: "date", Op: store.OpGe, Low: 20, High: 21}}},
		{Any: []store.Condition{{Param: "date", Op: store.OpLt, Low: 30, High: 31}}},
	}}
	windows, err := s.windows(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	holds := func() bool {
		t.Helper()
		sn, _, err := s.snapshot(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		defer sn.close()
		hold, err := sn.windowsHold(ctx, windows, q.Types)
		if err != nil {
			t.Fatal(err)
		}
		return hold
	}
	if !holds() {
		t.Fatal("the windows do not hold before any write")
	}
	// o2 has a date before the window and one after it: it matches both
	// clauses, though no one entry does; the merged window would miss it.
	write("o2", date(1, 2), date(40, 41))
	if holds() {
		t.Error("the windows still hold after a write made date multi-valued")
	}
	q.Count, q.Total = 10, true
	res, err := s.Search(ctx, q)
	if err != nil || res.Total != 1 || len(res.Resources) != 1 || res.Resources[0].ID != "o2" {
		t.Errorf("search: %v, %+v; want o2 alone", err, res)
	}
}

// TestRangesOfVersion6 checks that a version 6 file, whose idx_range was
// keyed by (…, text, rid), is rekeyed when opened, keeps its entries and its
// descending-date index, and is found by the searches on them.
func TestRangesOfVersion6(t *testing.T) {
	ctx := context.Background()
	s, path := openClosable(t)
	w := store.Write{Type: "Observation", ID: "o1", Version: 1, LastUpdated: time.UnixMilli(1), Method: "PUT", Body: []byte(`{}`),
		Index: []store.IndexEntry{
			{Param: "date", Kind: store.KindDate, Low: 10, High: 17},
			{Param: "value-quantity", Kind: store.KindQuantity, Low: 72, High: 73, Text: "/min"},
			{Param: "value-quantity", Kind: store.KindQuantity, Low: 72, High: 73, Text: "http://unitsofmeasure.org|/min"},
		}}
	if err := s.Commit(ctx, []store.Write{w}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path,
		`CREATE TABLE old_range (param TEXT NOT NULL, type TEXT NOT NULL, low REAL NOT NULL, high REAL NOT NULL,
			text TEXT NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (param, type, low, high, text, rid)) WITHOUT ROWID`,
		`INSERT INTO old_range SELECT param, type, low, high, text, rid FROM idx_range`,
		`DROP TABLE idx_range`,
		`ALTER TABLE old_range RENAME TO idx_range`,
		`PRAGMA user_version = 6`)
	var version, entries int
	var table string
	if err := s.writer.QueryRowContext(ctx, `SELECT (SELECT user_version FROM pragma_user_version),
		(SELECT sql FROM sqlite_schema WHERE name = 'idx_range'), (SELECT count(*) FROM idx_range)`).Scan(&version, &table, &entries); err != nil {
		t.Fatal(err)
	}
	if version != schemaVersion || !strings.Contains(table, "PRIMARY KEY (param, type, low, high, rid, text)") || entries != 3 {
		t.Errorf("after opening a version 6 file: user_version %d, %d range entries, table %s; want %d, 3, keyed by (…, rid, text)",
			version, entries, table, schemaVersion)
	}
	found := func(q store.Query) bool {
		t.Helper()
		q.Types, q.Count = []string{"Observation"}, 10
		res, err := s.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Resources) == 1 && res.Resources[0].ID == "o1"
	}
	quantity := store.Condition{Param: "value-quantity", Op: store.OpGt, Low: 70, High: 70, Text: "http://unitsofmeasure.org|/min"}
	if !found(store.Query{Clauses: []store.Clause{{Any: []store.Condition{quantity}}}}) {
		t.Error("value-quantity=gt70|http://unitsofmeasure.org|/min does not find o1")
	}
	if !found(store.Query{Sort: []store.SortKey{{Param: "date", Descending: true, Kind: store.KindDate}}}) {
		t.Error("_sort=-date does not find o1")
	}
	var byHigh int
	if err := s.writer.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'idx_range_by_high'`).Scan(&byHigh); err != nil || byHigh != 1 {
		t.Errorf("idx_range_by_high after the rekeying: %d (%v)", byHigh, err)
	}
}
