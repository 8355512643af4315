package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/telehub/telehub/store"
)

// textSep separates a param from its value in resourceDoc.Text. It sorts
// before any printable character and never occurs in a param code.
const textSep = "\x1f"

// resourceDoc is a document of the resources collection: the current
// version of one resource and its search index.
type resourceDoc struct {
	Key         string              `bson:"_id"` // "Type/id"
	Type        string              `bson:"t"`
	ID          string              `bson:"i"`
	Version     int64               `bson:"v"`
	LastUpdated int64               `bson:"lu"`  // Unix ms
	UpdatedEnd  int64               `bson:"lu1"` // lu+1: lastUpdated as a [low, high) range
	Deleted     bool                `bson:"d"`
	Method      string              `bson:"m"`
	Body        []byte              `bson:"b"`
	VersionKey  string              `bson:"vk"`
	Text        []string            `bson:"tx"`
	Params      []string            `bson:"ps"`
	RangeCount  int                 `bson:"nr"` // entries in ranges, 0: no clean-up needed
	SortKeys    map[string]sortKeys `bson:"sk,omitempty"`
}

// sortKeys are the smallest and largest index values of one param of one
// resource: strings for text kinds, numbers for range kinds.
type sortKeys struct {
	Has int `bson:"h"` // always 1, see searchOrder
	Min any `bson:"a"`
	Max any `bson:"d"`
}

// historyDoc is a document of the history collection: one version.
type historyDoc struct {
	Key         string `bson:"_id"` // "Type/id/version": unique per version
	Type        string `bson:"t"`
	ID          string `bson:"i"`
	Version     int64  `bson:"v"`
	LastUpdated int64  `bson:"lu"`
	Deleted     bool   `bson:"d"`
	Method      string `bson:"m"`
	Body        []byte `bson:"b"`
	// Nonce identifies the write that inserted it, so that only that write
	// undoes it; WrittenAt tells an orphan of a crashed writer from a write
	// in progress.
	Nonce     string    `bson:"n"`
	WrittenAt time.Time `bson:"at"`
	// Order grows with each write of this process (an ObjectID): it orders
	// versions written in the same millisecond.
	Order bson.ObjectID `bson:"w"`
}

// rangeDoc is a document of the ranges collection: one date, number or
// quantity entry of one resource version.
type rangeDoc struct {
	VersionKey string  `bson:"vk"`
	Resource   string  `bson:"r"` // "Type/id", for clean-up
	Version    int64   `bson:"v"`
	Type       string  `bson:"t"`
	Param      string  `bson:"p"`
	Unit       string  `bson:"x,omitempty"` // quantity unit, "system|code"
	Low        float64 `bson:"lo"`
	High       float64 `bson:"hi"`
}

func resourceKey(typ, id string) string { return typ + "/" + id }

func historyKey(typ, id string, version int64) string {
	return fmt.Sprintf("%s/%s/%d", typ, id, version)
}

func versionKey(typ, id string, version int64, nonce string) string {
	return fmt.Sprintf("%s/%s/%d/%s", typ, id, version, nonce)
}

// isRangeKind reports whether entries of kind k are stored in ranges only
// (composites are stored in ranges and as text).
func isRangeKind(k store.Kind) bool {
	return k == store.KindDate || k == store.KindNumber || k == store.KindQuantity
}

// textValue is how a text entry is stored in resourceDoc.Text.
func textValue(param, text string) string { return param + textSep + text }

// newDocs turns a write into its current document, history document and
// range entries.
func newDocs(w store.Write, nonce string, now time.Time) (resourceDoc, historyDoc, []rangeDoc) {
	key := resourceKey(w.Type, w.ID)
	lu := w.LastUpdated.UnixMilli()
	r := resourceDoc{
		Key: key, Type: w.Type, ID: w.ID, Version: w.Version,
		LastUpdated: lu, UpdatedEnd: lu + 1,
		Deleted: w.Deleted, Method: w.Method, Body: w.Body,
		VersionKey: versionKey(w.Type, w.ID, w.Version, nonce),
		Text:       []string{}, Params: []string{},
	}
	h := historyDoc{
		Key:  historyKey(w.Type, w.ID, w.Version),
		Type: w.Type, ID: w.ID, Version: w.Version, LastUpdated: lu,
		Deleted: w.Deleted, Method: w.Method, Body: w.Body,
		Nonce: nonce, WrittenAt: now, Order: bson.NewObjectID(),
	}
	if w.Deleted {
		r.Body, h.Body = nil, nil
		return r, h, nil
	}
	var ranges []rangeDoc
	r.Text, r.Params, r.SortKeys, ranges = indexDocs(key, w.Type, w.Version, r.VersionKey, w.Index)
	r.RangeCount = len(ranges)
	return r, h, ranges
}

// indexDocs splits the index entries of one version of the resource key
// into the fields of its current document (text entries, params, sort keys)
// and its range entries, which carry the version key vk.
func indexDocs(key, typ string, version int64, vk string, entries []store.IndexEntry) (text, params []string, sk map[string]sortKeys, ranges []rangeDoc) {
	text, params = []string{}, []string{}
	for _, e := range entries {
		if !slices.Contains(params, e.Param) {
			params = append(params, e.Param)
		}
		// A composite entry is both: its Text alone for text operators, its
		// Text and range together for range operators.
		if isRangeKind(e.Kind) || e.Kind == store.KindComposite {
			ranges = append(ranges, rangeDoc{
				VersionKey: vk, Resource: key, Version: version,
				Type: typ, Param: e.Param, Unit: e.Text, Low: e.Low, High: e.High,
			})
		}
		if !isRangeKind(e.Kind) {
			text = append(text, textValue(e.Param, e.Text))
		}
	}
	return text, params, sortKeysOf(entries), ranges
}

// sortKeysOf computes, per param, the values a sort on that param uses:
// the smallest text or low bound ascending, the largest text or high bound
// descending.
func sortKeysOf(entries []store.IndexEntry) map[string]sortKeys {
	if len(entries) == 0 {
		return nil
	}
	keys := map[string]sortKeys{}
	for _, e := range entries {
		field := fieldName(e.Param)
		k, seen := keys[field]
		k.Has = 1
		if isRangeKind(e.Kind) {
			if m, ok := k.Min.(float64); !seen || !ok || e.Low < m {
				k.Min = e.Low
			}
			if m, ok := k.Max.(float64); !seen || !ok || e.High > m {
				k.Max = e.High
			}
		} else {
			if m, ok := k.Min.(string); !seen || !ok || e.Text < m {
				k.Min = e.Text
			}
			if m, ok := k.Max.(string); !seen || !ok || e.Text > m {
				k.Max = e.Text
			}
		}
		keys[field] = k
	}
	return keys
}

// fieldName makes a param code usable as a document field name: MongoDB
// forbids '.' inside and '$' in front.
func fieldName(param string) string {
	return strings.NewReplacer("%", "%25", ".", "%2E", "$", "%24").Replace(param)
}

func (d resourceDoc) resource() store.Resource {
	return store.Resource{
		Type: d.Type, ID: d.ID, VersionID: d.Version,
		LastUpdated: time.UnixMilli(d.LastUpdated).UTC(),
		Deleted:     d.Deleted, Method: d.Method, Body: d.Body,
	}
}

func (d historyDoc) resource() store.Resource {
	return store.Resource{
		Type: d.Type, ID: d.ID, VersionID: d.Version,
		LastUpdated: time.UnixMilli(d.LastUpdated).UTC(),
		Deleted:     d.Deleted, Method: d.Method, Body: d.Body,
	}
}

// partialIndex returns all the index entries of a PartialIndex write: those
// of the current version (w.Version-1) it keeps, read back from its text
// values and range entries, and w's, each once.
func (s *Store) partialIndex(ctx context.Context, w store.Write) ([]store.IndexEntry, error) {
	key := resourceKey(w.Type, w.ID)
	var doc struct {
		Text []string `bson:"tx"`
	}
	err := s.resources.FindOne(ctx, bson.D{{Key: "_id", Value: key}},
		options.FindOne().SetProjection(bson.D{{Key: "tx", Value: 1}})).Decode(&doc)
	if err != nil && !errors.Is(err, driver.ErrNoDocuments) {
		return nil, fmt.Errorf("store: mongo: write %s: read kept entries: %w", key, err)
	}
	cur, err := s.ranges.Find(ctx, bson.D{{Key: "r", Value: key}, {Key: "v", Value: w.Version - 1}})
	if err != nil {
		return nil, fmt.Errorf("store: mongo: write %s: read kept range entries: %w", key, err)
	}
	var ranges []rangeDoc
	if err := cur.All(ctx, &ranges); err != nil {
		return nil, fmt.Errorf("store: mongo: write %s: read kept range entries: %w", key, err)
	}
	return mergePartial(w, doc.Text, ranges), nil
}

// mergePartial returns the entries of the current version that w keeps,
// rebuilt from its text values and range entries, followed by w's, each
// once. A composite is both a text value and a range entry of the same
// Text; other range kinds and text kinds are told apart by where they are
// stored, which is all the documents and sort keys depend on.
func mergePartial(w store.Write, text []string, ranges []rangeDoc) []store.IndexEntry {
	replaced := map[string]bool{}
	for _, p := range w.Replaced {
		replaced[p] = true
	}
	keeps := func(param string) bool { return !replaced[param] }
	texts := map[string]bool{}
	for _, t := range text {
		texts[t] = true
	}
	given := map[entryKey]bool{}
	for _, e := range w.Index {
		given[keyOf(e)] = true
	}
	var out []store.IndexEntry
	add := func(e store.IndexEntry) {
		if k := keyOf(e); !given[k] {
			given[k] = true
			out = append(out, e)
		}
	}
	composites := map[string]bool{}
	for _, r := range ranges {
		if !keeps(r.Param) {
			continue
		}
		e := store.IndexEntry{Param: r.Param, Kind: store.KindNumber, Text: r.Unit, Low: r.Low, High: r.High}
		if tv := textValue(r.Param, r.Unit); texts[tv] {
			e.Kind, composites[tv] = store.KindComposite, true
		}
		add(e)
	}
	for _, t := range text {
		param, value, _ := strings.Cut(t, textSep)
		if keeps(param) && !composites[t] {
			add(store.IndexEntry{Param: param, Kind: store.KindToken, Text: value})
		}
	}
	return append(out, w.Index...)
}

// entryKey is what the documents of an entry depend on: where it is stored
// (range, text, or both for a composite), its parameter, text and range.
type entryKey struct {
	stored    byte
	param     string
	text      string
	low, high float64
}

func keyOf(e store.IndexEntry) entryKey {
	switch {
	case isRangeKind(e.Kind):
		return entryKey{'r', e.Param, e.Text, e.Low, e.High}
	case e.Kind == store.KindComposite:
		return entryKey{'c', e.Param, e.Text, e.Low, e.High}
	}
	return entryKey{'t', e.Param, e.Text, 0, 0}
}
