package mongo

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/telehub/telehub/store"
)

// sortField is one field of a search's order, ascending (1) or descending (-1).
type sortField struct {
	name string
	dir  int
}

// order is the total order of a search's results: the fields it sorts on,
// ending with type then id.
type order []sortField

// searchOrder is the order of a search, as store/storetest fixes it: for
// each key, resources with a value first, then by value; ties, and
// resources without any value, by type then id ascending.
func searchOrder(keys []store.SortKey) order {
	var o order
	used := map[string]bool{}
	add := func(field string, dir int) {
		if !used[field] {
			used[field] = true
			o = append(o, sortField{field, dir})
		}
	}
	for _, k := range keys {
		dir := 1
		if k.Descending {
			dir = -1
		}
		switch k.Param {
		case store.ParamID:
			add("i", dir)
		case store.ParamLastUpdated:
			add("lu", dir)
		default:
			field := "sk." + fieldName(k.Param)
			// The flag exists only where the param has a value: sorted
			// descending, it puts resources without a value last.
			add(field+".h", -1)
			if k.Descending {
				add(field+".d", -1)
			} else {
				add(field+".a", 1)
			}
		}
	}
	add("t", 1)
	add("i", 1)
	return o
}

// sort is the order as a find's sort document.
func (o order) sort() bson.D {
	d := make(bson.D, len(o))
	for i, f := range o {
		d[i] = bson.E{Key: f.name, Value: f.dir}
	}
	return d
}

// projection leaves the search index out of what a search fetches, except
// the sort keys when the order needs them for a cursor.
func (o order) projection() bson.D {
	for _, f := range o {
		if strings.HasPrefix(f.name, "sk.") {
			return bson.D{{Key: "tx", Value: 0}, {Key: "ps", Value: 0}, {Key: "vk", Value: 0}}
		}
	}
	return resourceProjection
}

// cursorDoc is what a cursor holds: the order's values of the last resource
// of a page, and a digest of the search it belongs to.
type cursorDoc struct {
	Search []byte `bson:"s"`
	Values bson.A `bson:"v"`
}

// errBadCursor reports a cursor that this search did not make.
var errBadCursor = errors.New("cursor does not belong to this search")

// encodeCursor makes the cursor that continues q after last.
func encodeCursor(q store.Query, o order, last bson.Raw) (string, error) {
	values := make(bson.A, len(o))
	for i, f := range o {
		v, err := last.LookupErr(strings.Split(f.name, ".")...)
		switch {
		case errors.Is(err, bsoncore.ErrElementNotFound):
			values[i] = nil
		case err != nil:
			return "", fmt.Errorf("cursor: read %s: %w", f.name, err)
		default:
			values[i] = v
		}
	}
	raw, err := bson.Marshal(cursorDoc{Search: searchDigest(q), Values: values})
	if err != nil {
		return "", fmt.Errorf("cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// decodeCursor turns q.Cursor into the filter of the resources after it in
// order o: for some field, those equal to the cursor on every field before
// it and after it on that field.
func decodeCursor(q store.Query, o order) (bson.D, error) {
	raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
	if err != nil {
		return nil, errBadCursor
	}
	var c cursorDoc
	if err := bson.Unmarshal(raw, &c); err != nil || len(c.Values) != len(o) ||
		!bytes.Equal(c.Search, searchDigest(q)) {
		return nil, errBadCursor
	}
	var branches bson.A
	var equal bson.A
	for i, f := range o {
		if after := afterFilter(f, c.Values[i]); after != nil {
			branch := append(append(bson.A{}, equal...), after)
			branches = append(branches, bson.D{{Key: "$and", Value: branch}})
		}
		equal = append(equal, bson.D{{Key: f.name, Value: c.Values[i]}})
	}
	if len(branches) == 0 {
		return matchNothing, nil
	}
	return bson.D{{Key: "$or", Value: branches}}, nil
}

// matchNothing is a filter no document satisfies.
var matchNothing = bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}}

// afterFilter matches the values of field f that sort after v; nil when
// none does. A missing field sorts as null, before every value: ascending
// it comes first, descending last.
func afterFilter(f sortField, v any) bson.D {
	switch {
	case v == nil && f.dir > 0:
		return bson.D{{Key: f.name, Value: bson.D{{Key: "$ne", Value: nil}}}}
	case v == nil:
		return nil
	case f.dir > 0:
		return bson.D{{Key: f.name, Value: bson.D{{Key: "$gt", Value: v}}}}
	}
	return bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: f.name, Value: bson.D{{Key: "$lt", Value: v}}}},
		bson.D{{Key: f.name, Value: nil}},
	}}}
}

// searchDigest identifies the types, clauses and sort of q, so that a
// cursor is refused by any other search.
func searchDigest(q store.Query) []byte {
	b, _ := json.Marshal(struct {
		Types   []string
		Clauses []store.Clause
		Sort    []store.SortKey
	}{q.Types, q.Clauses, q.Sort})
	sum := sha256.Sum256(b)
	return sum[:12]
}
