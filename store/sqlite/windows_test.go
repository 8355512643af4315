package sqlite_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/telehub/telehub/store"
)

// TestRangeWindows checks searches of range conditions, alone or several
// on one parameter, against a brute-force evaluation of the store's range
// operators: on a parameter every resource has one value of (read as one
// window of the index), one some resources have several values of (read
// clause by clause), and after a write that makes the first one
// multi-valued too, with wide, unbounded and inverted values among narrow
// ones.
func TestRangeWindows(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	rng := rand.New(rand.NewPCG(3, 5))
	entries := map[string][]store.IndexEntry{}
	value := func() (float64, float64) {
		low := float64(rng.IntN(100))
		switch rng.IntN(20) {
		case 0:
			return low, math.MaxFloat64 // open-ended
		case 1:
			return -math.MaxFloat64, low
		case 2:
			return low, low + 30 // wide
		case 3:
			return low + 2, low // ends before it starts (malformed, but stored)
		}
		return low, low + 1
	}
	var writes []store.Write
	for i := range 200 {
		w := benchWrite("Observation", fmt.Sprintf("o%03d", i), 1)
		low, high := value()
		w.Index = []store.IndexEntry{{Param: "date", Kind: store.KindDate, Low: low, High: high}}
		for range rng.IntN(3) {
			low, high := value()
			w.Index = append(w.Index, store.IndexEntry{Param: "issued", Kind: store.KindDate, Low: low, High: high})
		}
		entries[w.ID] = w.Index
		writes = append(writes, w)
	}
	if err := s.Commit(ctx, writes); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T) {
		ops := []store.Op{store.OpEq, store.OpNe, store.OpGt, store.OpLt, store.OpGe, store.OpLe, store.OpSa, store.OpEb, store.OpOverlap}
		for range 300 {
			var clauses []store.Clause
			var conds []store.Condition
			for range 1 + rng.IntN(3) {
				low := float64(rng.IntN(110) - 5)
				c := store.Condition{Param: []string{"date", "issued"}[rng.IntN(2)], Op: ops[rng.IntN(len(ops))], Low: low, High: low + float64(1+rng.IntN(20))}
				clauses, conds = append(clauses, store.Clause{Any: []store.Condition{c}}), append(conds, c)
			}
			var want []string
			for id, es := range entries {
				if matchesAll(es, conds) {
					want = append(want, id)
				}
			}
			slices.Sort(want)
			q := store.Query{Types: []string{"Observation"}, Clauses: clauses, Count: 1000, Total: true}
			res, err := s.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range res.Resources {
				got = append(got, r.ID)
			}
			if !slices.Equal(got, want) || res.Total != len(want) {
				t.Fatalf("%+v: got %d %v\nwant %d %v", conds, res.Total, got, len(want), want)
			}
		}
	}
	t.Run("single-valued date", check)
	// o000 gets two dates: date is multi-valued from now on.
	up := benchWrite("Observation", "o000", 2)
	up.Index = []store.IndexEntry{{Param: "date", Kind: store.KindDate, Low: 2, High: 3}, {Param: "date", Kind: store.KindDate, Low: 90, High: 91}}
	if err := s.Commit(ctx, []store.Write{up}); err != nil {
		t.Fatal(err)
	}
	entries["o000"] = up.Index
	t.Run("multi-valued date", check)
}

// matchesAll reports whether entries satisfy every condition, each by one
// of its entries, with the range operators' definitions of package store.
func matchesAll(entries []store.IndexEntry, conds []store.Condition) bool {
	for _, c := range conds {
		if !slices.ContainsFunc(entries, func(e store.IndexEntry) bool { return e.Param == c.Param && inRange(e, c) }) {
			return false
		}
	}
	return true
}

func inRange(e store.IndexEntry, c store.Condition) bool {
	switch c.Op {
	case store.OpEq:
		return e.Low >= c.Low && e.High <= c.High
	case store.OpNe:
		return !(e.Low >= c.Low && e.High <= c.High)
	case store.OpGt:
		return e.High > c.High
	case store.OpLt:
		return e.Low < c.Low
	case store.OpGe:
		return e.High > c.Low
	case store.OpLe:
		return e.Low < c.High
	case store.OpSa:
		return e.Low >= c.High
	case store.OpEb:
		return e.High <= c.Low
	case store.OpOverlap:
		return e.Low < c.High && e.High > c.Low
	}
	panic(c.Op)
}
