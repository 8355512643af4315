// Package storetest is the backend-neutral conformance suite of store.Store.
// Every backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openTestStore(t) })
//	}
//
// Each subtest opens a fresh, empty store, so a backend's open function must
// return an isolated store every time and arrange its own cleanup (t.Cleanup).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
)

// Run runs the whole suite against the stores open returns.
//
// Where store.go leaves a choice open, the suite fixes it so that backends
// agree:
//   - HistoryQuery.Count 0 means no limit (Query.Count 0 means "total only").
//   - A condition on a multi-valued parameter holds when any one entry
//     satisfies it, OpNe included; Not holds when no entry does.
//   - Sorting on a range parameter uses the smallest Low ascending and the
//     largest High descending; on a text parameter the smallest or largest Text.
//   - Sort ties, and resources without a value (always last), are ordered by
//     type then id, ascending whatever the direction of the keys.
//   - History is newest first by LastUpdated (the suite writes versions in
//     time order, and accepts either order for versions of the same instant).
//   - Search without Sort returns matches by type then id (store.SortKey).
//   - A range condition with Text matches only an entry holding both the
//     range and that Text (one quantity with its unit), not a range on one
//     entry and the Text on another.
//   - Every range entry keeps its Text (package fhir/search indexes a
//     composite as its second component's kind, "first$second" as Text).
//   - With a cursor, Total still counts every match, not those after it.
//   - A cursor that the backend did not make is an error, never a page.
//   - Reindex of a deleted resource may fail or do nothing, but the resource
//     stays deleted and unversioned.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("ReadWrite", func(t *testing.T) { testReadWrite(t, open) })
	t.Run("CompareAndSet", func(t *testing.T) { testCompareAndSet(t, open) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, open) })
	t.Run("Transactions", func(t *testing.T) { testTransactions(t, open) })
	t.Run("Timestamps", func(t *testing.T) { testTimestamps(t, open) })
	t.Run("History", func(t *testing.T) { testHistory(t, open) })
	t.Run("Search", func(t *testing.T) { testSearch(t, open) })
	t.Run("SearchLastUpdated", func(t *testing.T) { testSearchLastUpdated(t, open) })
	t.Run("SearchIndexReplaced", func(t *testing.T) { testSearchIndexReplaced(t, open) })
	t.Run("PartialIndex", func(t *testing.T) { testPartialIndex(t, open) })
	t.Run("GrowingBulk", func(t *testing.T) { testGrowingBulk(t, open) })
	t.Run("SearchSort", func(t *testing.T) { testSearchSort(t, open) })
	t.Run("SearchPaging", func(t *testing.T) { testSearchPaging(t, open) })
	t.Run("SearchRangeText", func(t *testing.T) { testSearchRangeText(t, open) })
	t.Run("SearchChain", func(t *testing.T) { testSearchChain(t, open) })
	t.Run("SearchHas", func(t *testing.T) { testSearchHas(t, open) })
	t.Run("SearchCursor", func(t *testing.T) { testSearchCursor(t, open) })
	t.Run("SearchCursorWrites", func(t *testing.T) { testSearchCursorWrites(t, open) })
	t.Run("Reindex", func(t *testing.T) { testReindex(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
}

// base is the instant the suite's timestamps count from: a fixed,
// millisecond-precise UTC time, so expected values are exact.
var base = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns base plus ms milliseconds.
func at(ms int64) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

// atMillis returns at(ms) as Unix milliseconds, the unit of range conditions.
func atMillis(ms int64) float64 { return float64(at(ms).UnixMilli()) }

// newWrite returns a write of a small JSON body naming the resource and version.
func newWrite(typ, id string, version int64, lastUpdated time.Time, method string, index ...store.IndexEntry) store.Write {
	return store.Write{
		Type: typ, ID: id, Version: version, LastUpdated: lastUpdated, Method: method,
		Body:  body(typ, id, version),
		Index: index,
	}
}

func body(typ, id string, version int64) []byte {
	return fmt.Appendf(nil, `{"resourceType":%q,"id":%q,"meta":{"versionId":"%d"}}`, typ, id, version)
}

// deletion returns the write that deletes a resource.
func deletion(typ, id string, version int64, lastUpdated time.Time) store.Write {
	return store.Write{Type: typ, ID: id, Version: version, LastUpdated: lastUpdated, Deleted: true, Method: "DELETE"}
}

func token(param, text string) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: store.KindToken, Text: text}
}

func str(param, text string) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: store.KindString, Text: text}
}

func rangeEntry(param string, kind store.Kind, low, high float64) store.IndexEntry {
	return store.IndexEntry{Param: param, Kind: kind, Low: low, High: high}
}

func commit(t *testing.T, s store.Store, writes ...store.Write) {
	t.Helper()
	if err := s.Commit(context.Background(), writes); err != nil {
		t.Fatalf("commit %s: %v", describe(writes), err)
	}
}

func describe(writes []store.Write) string {
	names := make([]string, len(writes))
	for i, w := range writes {
		names[i] = fmt.Sprintf("%s/%s/_history/%d", w.Type, w.ID, w.Version)
	}
	return strings.Join(names, ", ")
}

func mustRead(t *testing.T, s store.Store, typ, id string) *store.Resource {
	t.Helper()
	r, err := s.Read(context.Background(), typ, id)
	if err != nil {
		t.Fatalf("read %s/%s: %v", typ, id, err)
	}
	return r
}

// ref names a resource as "Type/id".
func ref(r store.Resource) string { return r.Type + "/" + r.ID }

// vref names a version as "Type/id/version".
func vref(r store.Resource) string { return fmt.Sprintf("%s/%s/%d", r.Type, r.ID, r.VersionID) }

func refs(rs []store.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = ref(r)
	}
	return out
}

func vrefs(rs []store.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = vref(r)
	}
	return out
}

// checkResource compares every field of a stored version with what was written.
func checkResource(t *testing.T, got *store.Resource, want store.Write) {
	t.Helper()
	if got.Type != want.Type || got.ID != want.ID || got.VersionID != want.Version {
		t.Errorf("got %s/%s/%d, want %s/%s/%d", got.Type, got.ID, got.VersionID, want.Type, want.ID, want.Version)
	}
	if got.Deleted != want.Deleted {
		t.Errorf("%s/%s/%d: Deleted = %v, want %v", got.Type, got.ID, got.VersionID, got.Deleted, want.Deleted)
	}
	if got.Method != want.Method {
		t.Errorf("%s/%s/%d: Method = %q, want %q", got.Type, got.ID, got.VersionID, got.Method, want.Method)
	}
	if string(got.Body) != string(want.Body) {
		t.Errorf("%s/%s/%d: Body = %s, want %s", got.Type, got.ID, got.VersionID, got.Body, want.Body)
	}
	checkTime(t, got.LastUpdated, want.LastUpdated)
}

// checkTime requires a UTC time equal to want.
func checkTime(t *testing.T, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("LastUpdated = %v, want %v", got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("LastUpdated %v is not in UTC", got)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
}

func equalStrings(got, want []string) bool {
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	return slices.Equal(got, want)
}
