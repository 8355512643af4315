package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
)

// TestRangeShapes checks that range_shapes follows the entries written,
// inserted or updated in place, and only ever widens.
func TestRangeShapes(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	write := func(version int64, index ...store.IndexEntry) {
		t.Helper()
		w := store.Write{Type: "Observation", ID: "o1", Version: version, LastUpdated: time.UnixMilli(1), Method: "PUT", Body: []byte(`{}`), Index: index}
		if err := s.Commit(ctx, []store.Write{w}); err != nil {
			t.Fatal(err)
		}
	}
	want := func(param string, multiple bool, span float64) {
		t.Helper()
		got, ok, err := s.rangeShape(ctx, param, "Observation")
		if err != nil || !ok || got.multiple != multiple || got.span != span {
			t.Errorf("shape of %s = %+v, %v, %v; want multiple %v, span %g", param, got, ok, err, multiple, span)
		}
	}
	date := func(low, high float64) store.IndexEntry {
		return store.IndexEntry{Param: "date", Kind: store.KindDate, Low: low, High: high}
	}
	write(1, date(10, 11))
	want("date", false, 1)
	write(2, date(10, 15))
	want("date", false, 5)
	write(3, date(10, 12)) // narrower: the shape stays as wide
	want("date", false, 5)
	// An update of the row in place (not what the writer does today) is
	// folded in too.
	var blob []byte
	blob = appendEntry(blob, entryRange, "date", "", 1, 2)
	blob = appendEntry(blob, entryRange, "date", "", 3, 4)
	if _, err := s.writer.ExecContext(ctx, `UPDATE idx_entries SET entries = ?`, blob); err != nil {
		t.Fatal(err)
	}
	want("date", true, 5)
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
