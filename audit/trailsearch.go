package audit

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/telehub/telehub/store"
)

// ErrUnresolved: a trail search holds a chained or reverse-chained
// condition, which involves other resources: the caller resolves it into
// plain conditions first.
var ErrUnresolved = errors.New("audit: trail: chained conditions must be resolved before a trail search")

// Search answers q over the trail's events with the semantics of
// store.Store.Search, but for the order: without sort keys, and after
// them, events come in the order they were appended (oldest first) rather
// than by id, and the cursor follows that order.
func (t *Trail) Search(_ context.Context, q store.Query) (*store.SearchResult, error) {
	if len(q.Types) > 0 && !slices.Contains(q.Types, resourceType) {
		return &store.SearchResult{Total: emptyTotal(q)}, nil
	}
	for _, cl := range q.Clauses {
		for _, c := range cl.Any {
			if c.Chain != nil || c.Has != nil {
				return nil, ErrUnresolved
			}
		}
	}
	after, total, err := decodeTrailCursor(q)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	hits, err := t.matches(q, after)
	if err != nil {
		return nil, err
	}
	if len(q.Sort) > 0 {
		slices.SortStableFunc(hits, func(a, b hit) int { return compareHits(a, b, q.Sort) })
	}
	return t.page(hits, q, after, total)
}

// matches returns the events matching q after the cursor, in position
// order, with their sort values. Without sort keys the blocks before the
// cursor are skipped, and the scan stops once the page is full (unless the
// total is wanted). The caller holds t.mu.
func (t *Trail) matches(q store.Query, after *trailCursor) ([]hit, error) {
	unsorted := len(q.Sort) == 0
	blocks, err := t.blocks()
	if err != nil {
		return nil, err
	}
	var hits []hit
	for _, b := range blocks {
		if unsorted && after != nil && b.first()+uint64(b.count()) <= after.Position+1 {
			continue
		}
		ords, err := matchBlock(b, q.Clauses)
		if err != nil {
			return nil, err
		}
		hits = appendHits(hits, b, ords, q.Sort, after)
		if unsorted && !q.Total && q.Count > 0 && len(hits) > q.Offset+q.Count {
			break
		}
	}
	return hits, nil
}

// appendHits appends block b's matches ords, with their sort values; an
// unsorted search drops those up to the cursor.
func appendHits(hits []hit, b block, ords []uint32, keys []store.SortKey, after *trailCursor) []hit {
	if len(ords) == 0 {
		return hits
	}
	values := make([][]sortValue, len(keys))
	for k, key := range keys {
		values[k] = blockSortValues(b, key)
	}
	backing := make([]sortValue, len(ords)*len(keys)) // one allocation for the block's hits
	for i, o := range ords {
		h := hit{block: b, ord: o}
		if len(keys) == 0 && after != nil && h.position() <= after.Position {
			continue
		}
		if len(keys) > 0 {
			h.keys = backing[i*len(keys) : (i+1)*len(keys)]
			for k := range keys {
				h.keys[k] = values[k][o]
			}
		}
		hits = append(hits, h)
	}
	return hits
}

func emptyTotal(q store.Query) int {
	if q.Total || q.Count == 0 {
		return 0
	}
	return -1
}

// hit is one matching event, with its sort values when sorted.
type hit struct {
	block block
	ord   uint32
	keys  []sortValue
}

func (h hit) position() uint64 { return h.block.first() + uint64(h.ord) }

// sortValue is an event's value for one sort key (see store/sqlite's
// sort_value): ascending the smallest low, else the smallest text;
// descending the largest high, else the largest text; none without an entry.
type sortValue struct {
	Set   bool    `json:"s,omitempty"`
	Num   float64 `json:"n,omitempty"`
	Text  string  `json:"t,omitempty"`
	IsNum bool    `json:"i,omitempty"`
}

// blockSortValues returns the sort value of each of b's events for k.
func blockSortValues(b block, k store.SortKey) []sortValue {
	values := make([]sortValue, b.count())
	b.scanRanges(k.Param, func(o uint32, low, high float64, _ string) {
		x := low
		if k.Descending {
			x = high
		}
		if v := &values[o]; !v.IsNum || k.Descending == (x > v.Num) {
			*v = sortValue{Set: true, IsNum: true, Num: x}
		}
	})
	b.scanTexts(k.Param, "", func(text string, ords []uint32) {
		for _, o := range ords {
			if v := &values[o]; !v.IsNum && (!v.Set || k.Descending == (text > v.Text)) {
				*v = sortValue{Set: true, Text: text}
			}
		}
	})
	return values
}

// compareHits orders by the sort keys (no value last), then by position.
func compareHits(a, b hit, keys []store.SortKey) int {
	for i, k := range keys {
		if c := compareSortValues(a.keys[i], b.keys[i], k.Descending); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.position(), b.position())
}

func compareSortValues(a, b sortValue, descending bool) int {
	switch {
	case !a.Set && !b.Set:
		return 0
	case !a.Set:
		return 1
	case !b.Set:
		return -1
	}
	c := cmp.Compare(a.Num, b.Num)
	if !a.IsNum || !b.IsNum {
		c = strings.Compare(a.Text, b.Text)
	}
	if descending {
		return -c
	}
	return c
}

// trailCursor is where a page ends: the last hit's sort values and
// position, and the total counted for the first page (-1 if none).
type trailCursor struct {
	Keys     []sortValue `json:"k,omitempty"`
	Position uint64      `json:"p"`
	Total    int         `json:"t"`
}

func decodeTrailCursor(q store.Query) (*trailCursor, int, error) {
	if q.Cursor == "" {
		return nil, -1, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
	var c trailCursor
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil || len(c.Keys) != len(q.Sort) {
		return nil, 0, fmt.Errorf("audit: trail: malformed search cursor")
	}
	return &c, c.Total, nil
}

func encodeTrailCursor(c trailCursor) string {
	raw, _ := json.Marshal(c) // plain values: cannot fail
	return base64.RawURLEncoding.EncodeToString(raw)
}

// page cuts one page out of the ordered hits.
func (t *Trail) page(hits []hit, q store.Query, after *trailCursor, total int) (*store.SearchResult, error) {
	if after != nil {
		cut := hit{keys: after.Keys}
		hits = hits[firstAfter(hits, cut, after.Position, q.Sort):]
	}
	res := &store.SearchResult{Total: -1}
	if q.Total || q.Count == 0 {
		res.Total = len(hits)
		if after != nil && total >= 0 {
			res.Total = total
		}
	}
	if q.Count == 0 {
		return res, nil
	}
	hits = hits[min(q.Offset, len(hits)):]
	if len(hits) > q.Count {
		res.More = true
		last := hits[q.Count-1]
		res.Next = encodeTrailCursor(trailCursor{Keys: last.keys, Position: last.position(), Total: res.Total})
		hits = hits[:q.Count]
	}
	for _, h := range hits {
		r, err := h.block.event(int(h.ord))
		if err != nil {
			return nil, err
		}
		res.Resources = append(res.Resources, r)
	}
	return res, nil
}

// firstAfter returns the index of the first hit strictly after the
// cursor's (sort values, position), the hits being in that order.
func firstAfter(hits []hit, cut hit, position uint64, keys []store.SortKey) int {
	i, _ := slices.BinarySearchFunc(hits, cut, func(h, c hit) int {
		for k, key := range keys {
			if r := compareSortValues(h.keys[k], c.keys[k], key.Descending); r != 0 {
				return r
			}
		}
		if h.position() <= position {
			return -1
		}
		return 1
	})
	return i
}

// matchBlock returns the block's events matching every clause.
func matchBlock(b block, clauses []store.Clause) ([]uint32, error) {
	var result []uint32
	for i, cl := range clauses {
		ords, err := matchClause(b, cl)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			result = ords
		} else {
			result = intersect(result, ords)
		}
		if len(result) == 0 {
			return nil, nil
		}
	}
	if len(clauses) == 0 {
		return allOrds(b.count()), nil
	}
	return result, nil
}

func matchClause(b block, cl store.Clause) ([]uint32, error) {
	var sets [][]uint32
	for _, c := range cl.Any {
		ords, err := matchCondition(b, c)
		if err != nil {
			return nil, err
		}
		sets = append(sets, ords)
	}
	return union(sets...), nil
}

func matchCondition(b block, c store.Condition) ([]uint32, error) {
	ords, err := matchPositive(b, c)
	if err != nil {
		return nil, fmt.Errorf("%s:%s: %w", c.Param, c.Op, err)
	}
	if c.Not {
		return complement(ords, b.count()), nil
	}
	return ords, nil
}

func matchPositive(b block, c store.Condition) ([]uint32, error) {
	switch c.Op {
	case store.OpMissing:
		return matchMissing(b, c)
	case store.OpExact:
		return slices.Clone(b.lookup(c.Param, c.Text)), nil
	case store.OpPrefix, store.OpContains:
		var sets [][]uint32
		prefix := c.Text
		if c.Op == store.OpContains {
			prefix = ""
		}
		b.scanTexts(c.Param, prefix, func(text string, ords []uint32) {
			if strings.Contains(text, c.Text) {
				sets = append(sets, ords)
			}
		})
		return union(sets...), nil
	}
	match, err := rangeMatcher(c)
	if err != nil {
		return nil, err
	}
	var ords []uint32
	b.scanRanges(c.Param, func(o uint32, low, high float64, unit string) {
		if match(low, high) && (c.Text == "" || unit == c.Text || c.TextPrefix && strings.HasPrefix(unit, c.Text)) {
			ords = append(ords, o)
		}
	})
	return slices.Compact(ords), nil
}

// matchMissing: events without (Text "true") or with (Text "false") an
// entry for the parameter. _id and _lastUpdated are never missing.
func matchMissing(b block, c store.Condition) ([]uint32, error) {
	want, err := c.MissingWanted()
	if err != nil {
		return nil, err
	}
	var sets [][]uint32
	b.scanTexts(c.Param, "", func(_ string, ords []uint32) { sets = append(sets, ords) })
	var ranged []uint32
	b.scanRanges(c.Param, func(o uint32, _, _ float64, _ string) { ranged = append(ranged, o) })
	has := union(append(sets, ranged)...)
	if want {
		return complement(has, b.count()), nil
	}
	return has, nil
}

// rangeMatcher returns the test of an entry's [low, high) against c's,
// as package store defines the range operators.
func rangeMatcher(c store.Condition) (func(low, high float64) bool, error) {
	cl, ch := c.Low, c.High
	switch c.Op {
	case store.OpEq:
		return func(l, h float64) bool { return l >= cl && h <= ch }, nil
	case store.OpNe:
		return func(l, h float64) bool { return !(l >= cl && h <= ch) }, nil
	case store.OpGt:
		return func(_, h float64) bool { return h > ch }, nil
	case store.OpLt:
		return func(l, _ float64) bool { return l < cl }, nil
	case store.OpGe:
		return func(_, h float64) bool { return h > cl }, nil
	case store.OpLe:
		return func(l, _ float64) bool { return l < ch }, nil
	case store.OpSa:
		return func(l, _ float64) bool { return l >= ch }, nil
	case store.OpEb:
		return func(_, h float64) bool { return h <= cl }, nil
	case store.OpOverlap:
		return func(l, h float64) bool { return l < ch && h > cl }, nil
	}
	return nil, fmt.Errorf("operator %q does not apply", c.Op)
}

func allOrds(n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i)
	}
	return out
}

// union merges sorted sets into one sorted set.
func union(sets ...[]uint32) []uint32 {
	switch len(sets) {
	case 0:
		return nil
	case 1:
		return sets[0]
	}
	var out []uint32
	for _, s := range sets {
		out = append(out, s...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func intersect(a, b []uint32) []uint32 {
	var out []uint32
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// complement returns [0, n) without set.
func complement(set []uint32, n int) []uint32 {
	out := make([]uint32, 0, n-len(set))
	j := 0
	for i := uint32(0); i < uint32(n); i++ {
		if j < len(set) && set[j] == i {
			j++
			continue
		}
		out = append(out, i)
	}
	return out
}

// referenced returns the distinct text values of param among the events
// matching q (unresolved chains aside), at most limit of them.
func (t *Trail) referenced(q store.Query, param string, limit int) ([]string, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	seen := map[string]bool{}
	var out []string
	blocks, err := t.blocks()
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		ords, err := matchBlock(b, q.Clauses)
		if err != nil {
			return nil, err
		}
		if len(ords) == 0 {
			continue
		}
		b.scanTexts(param, "", func(text string, holders []uint32) {
			if !seen[text] && len(intersect(ords, holders)) > 0 {
				seen[text] = true
				out = append(out, text)
			}
		})
		if len(out) >= limit {
			break
		}
	}
	return out, nil
}
