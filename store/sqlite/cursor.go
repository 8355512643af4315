package sqlite

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/telehub/telehub/store"
)

// sortKey is the SQL of one sort key: an expression of resources r, its
// arguments, its direction, and whether it can be NULL (a resource without
// a value for the parameter), which sorts last either way.
type sortKey struct {
	param    string
	expr     string
	args     []any
	desc     bool
	nullable bool
}

// sortKeys returns the SQL of the query's sort keys. A parameter sorts
// ascending on its smallest value and descending on its largest; withParts
// when the resources may have entries in idx_parts (see partsSchema).
func sortKeys(keys []store.SortKey, withParts bool) []sortKey {
	out := make([]sortKey, len(keys))
	for i, k := range keys {
		sk := sortKey{param: k.Param, desc: k.Descending}
		switch k.Param {
		case store.ParamID:
			sk.expr = "r.id"
		case store.ParamLastUpdated:
			sk.expr = "r.last_updated"
		default:
			sk.expr = "sort_value((SELECT entries FROM idx_entries WHERE rid = r.rid), ?, ?)"
			sk.args = []any{k.Param, k.Descending}
			if withParts {
				sk.expr = sortValueSQL(k.Descending)
				sk.args = append(sk.args, k.Param, k.Descending)
			}
			sk.nullable = true
		}
		out[i] = sk
	}
	return out
}

// sortValueSQL is the SQL of the sort value on a parameter of a resource
// that may have entries in idx_parts (the parameter and the direction are
// its arguments, twice): the smallest (ascending) or largest (descending)
// sort_value of its parts, the main one and the others.
func sortValueSQL(descending bool) string {
	agg := "min"
	if descending {
		agg = "max"
	}
	return "(SELECT " + agg + "(v) FROM (SELECT sort_value(entries, ?, ?) AS v FROM idx_entries WHERE rid = r.rid" +
		" UNION ALL SELECT sort_value(entries, ?, ?) FROM " + partsOf + "))"
}

// sortKeysOf returns the SQL of q's sort keys, reading every part of the
// entries of the types that ever had other parts.
func (s *Store) sortKeysOf(ctx context.Context, q store.Query) ([]sortKey, error) {
	if !slices.ContainsFunc(q.Sort, func(k store.SortKey) bool { return k.Param != store.ParamID && k.Param != store.ParamLastUpdated }) {
		return sortKeys(q.Sort, false), nil
	}
	rows, err := s.stmts.partTypes.QueryContext(ctx)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	withParts := false
	for rows.Next() {
		var typ string
		if err := rows.Scan(&typ); err != nil {
			return nil, err
		}
		withParts = withParts || len(q.Types) == 0 || slices.Contains(q.Types, typ)
	}
	return sortKeys(q.Sort, withParts), rows.Err()
}

// A cursor is the base64url of a JSON array: a fingerprint of the sort keys
// (a cursor of another sort is refused), the sort values of the last
// resource of the page, its type and its id, and the total of the search
// when the first page counted it. Numbers and strings keep their JSON
// types, NULL (no value) is null, so SQLite compares them as it sorted them.
//
// The total rides along so that the following pages do not count again:
// counting every match costs as much as reading them all, and a client
// paging through a large result asks for each page with the total. The
// pages after the first report the total of the first, as paging by cursor
// reads the matches as they were when it began.

// fingerprint names the sort keys in a few characters.
func fingerprint(keys []sortKey) string {
	h := fnv.New32a()
	for _, k := range keys {
		fmt.Fprintf(h, "%s %v;", k.param, k.desc)
	}
	return fmt.Sprintf("%08x", h.Sum32())
}

// encodeCursor returns the cursor after the resource typ/id whose sort
// values are values; total is the search's total, or -1 when not counted.
func encodeCursor(keys []sortKey, values []any, typ, id string, total int) (string, error) {
	fields := make([]any, 0, len(values)+4)
	fields = append(fields, fingerprint(keys))
	for _, v := range values {
		if b, ok := v.([]byte); ok { // TEXT may come back as bytes
			v = string(b)
		}
		fields = append(fields, v)
	}
	fields = append(fields, typ, id)
	if total >= 0 {
		fields = append(fields, total)
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

var errBadCursor = errors.New("invalid cursor")

// decodeCursor returns the sort values, type and id a cursor holds, and the
// total it carries (-1 for none), or an error unless it was made for these keys.
func decodeCursor(keys []sortKey, cursor string) (values []any, typ, id string, total int, err error) {
	total = -1
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, "", "", total, fmt.Errorf("%w: %v", errBadCursor, err)
	}
	var fields []any
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, "", "", total, fmt.Errorf("%w: %v", errBadCursor, err)
	}
	if len(fields) == len(keys)+4 {
		n, ok := fields[len(fields)-1].(float64)
		if !ok || n < 0 || n != float64(int(n)) {
			return nil, "", "", -1, fmt.Errorf("%w: bad total", errBadCursor)
		}
		total, fields = int(n), fields[:len(fields)-1]
	}
	if len(fields) != len(keys)+3 || fields[0] != fingerprint(keys) {
		return nil, "", "", -1, fmt.Errorf("%w: not a cursor of this sort", errBadCursor)
	}
	typ, okType := fields[len(fields)-2].(string)
	id, okID := fields[len(fields)-1].(string)
	if !okType || !okID {
		return nil, "", "", -1, fmt.Errorf("%w: no type and id", errBadCursor)
	}
	values = fields[1 : len(fields)-2]
	for i, v := range values {
		switch v.(type) {
		case string, float64:
		case nil:
			if !keys[i].nullable {
				return nil, "", "", -1, fmt.Errorf("%w: no value for %s", errBadCursor, keys[i].param)
			}
		default:
			return nil, "", "", -1, fmt.Errorf("%w: value %v for %s", errBadCursor, v, keys[i].param)
		}
	}
	return values, typ, id, total, nil
}

// afterSQL returns the condition that a row of table sorts strictly after the row
// with the given sort values, type and id, in the order of orderBy:
//
//	k0 > v0 OR (k0 = v0 AND (k1 > v1 OR (k1 = v1 AND … (type, id) > (t, i))))
//
// with < for descending keys, "or NULL" after any value of a nullable key
// and only "IS NULL and the rest" after a NULL. A leading key that cannot
// be NULL is also bounded on its own (k0 >= v0), so that its index seeks
// to the cursor instead of scanning from the first row.
func afterSQL(keys []sortKey, values []any, types []string, table, typ, id string) (string, []any) {
	frag, args := afterTypeID(types, table, typ, id)
	for i := len(keys) - 1; i >= 0; i-- {
		k, v := keys[i], values[i]
		if v == nil {
			frag = "(" + k.expr + " IS NULL AND " + frag + ")"
			args = append(copyArgs(k.args), args...)
			continue
		}
		cmp := " > ?"
		if k.desc {
			cmp = " < ?"
		}
		greater, greaterArgs := k.expr+cmp, append(copyArgs(k.args), v)
		if k.nullable {
			greater, greaterArgs = "("+greater+" OR "+k.expr+" IS NULL)", append(greaterArgs, k.args...)
		}
		equal, equalArgs := k.expr+" = ?", append(copyArgs(k.args), v)
		frag = "(" + greater + " OR (" + equal + " AND " + frag + "))"
		args = append(append(greaterArgs, equalArgs...), args...)
	}
	if len(keys) > 0 && !keys[0].nullable {
		bound := " >= ?"
		if keys[0].desc {
			bound = " <= ?"
		}
		frag = keys[0].expr + bound + " AND " + frag
		args = append(append(copyArgs(keys[0].args), values[0]), args...)
	}
	return frag, args
}

// afterTypeID returns the condition (r.type, r.id) > (typ, id). Searching
// one type, as most do, it is a condition on the id alone: SQLite seeks an
// id range in the (type, id) index, but reads a type's ids from the first
// when a row value follows the type's equality.
func afterTypeID(types []string, table, typ, id string) (string, []any) {
	if len(types) != 1 {
		return "(" + table + ".type, " + table + ".id) > (?, ?)", []any{typ, id}
	}
	switch {
	case types[0] > typ:
		return "1", nil
	case types[0] < typ:
		return "0", nil
	}
	return table + ".id > ?", []any{id}
}

// copyArgs returns a copy of args that appends cannot share.
func copyArgs(args []any) []any { return append([]any(nil), args...) }
