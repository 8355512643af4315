package sqlite

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRangeRowsSortLikeTheKey checks that compareRange, which orders a
// commit's idx_range rows before they are inserted, is the table's own
// primary-key order: a WITHOUT ROWID table scans in key order.
func TestRangeRowsSortLikeTheKey(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []rangeRow
	for range 200 {
		rows = append(rows, rangeRow{
			param: []string{"value-quantity", "code-value-quantity"}[rng.IntN(2)], typ: "Observation",
			low: float64(rng.IntN(3)), high: float64(3 + rng.IntN(2)),
			text: []string{"", "/min", "8867-4$/min", "http://unitsofmeasure.org|/min"}[rng.IntN(4)],
			rid:  int64(rng.IntN(5)),
		})
	}
	rows = slices.CompactFunc(slices.SortedFunc(slices.Values(rows), compareRange), func(a, b rangeRow) bool { return a == b })
	for _, r := range rows {
		if _, err := s.writer.ExecContext(ctx, `INSERT INTO idx_range (param, type, low, high, text, rid) VALUES (?, ?, ?, ?, ?, ?)`,
			r.param, r.typ, r.low, r.high, r.text, r.rid); err != nil {
			t.Fatal(err)
		}
	}
	scanned, err := s.writer.QueryContext(ctx, `SELECT param, type, low, high, text, rid FROM idx_range`)
	if err != nil {
		t.Fatal(err)
	}
	defer scanned.Close()
	var got []rangeRow
	for scanned.Next() {
		var r rangeRow
		if err := scanned.Scan(&r.param, &r.typ, &r.low, &r.high, &r.text, &r.rid); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if !slices.Equal(got, rows) {
		t.Errorf("the table scans in another order than compareRange sorts:\n got %v\nwant %v", got, rows)
	}
}
