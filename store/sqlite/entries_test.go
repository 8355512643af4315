package sqlite

import (
	"database/sql/driver"
	"strings"
	"testing"

	"github.com/telehub/telehub/store"
)

// TestSortValue checks the sort value read from a resource's entries: range
// entries first (smallest low ascending, largest high descending), then
// text (smallest or largest), only of the parameter asked for, and a
// corrupt blob refused.
func TestSortValue(t *testing.T) {
	var blob []byte
	blob = appendEntry(blob, entryText, "name", "martin", 0, 0)
	blob = appendEntry(blob, entryText, "name", "dupont", 0, 0)
	blob = appendEntry(blob, entryText, "names", "aaa", 0, 0)
	blob = appendEntry(blob, entryRange, "date", "", 20, 30)
	blob = appendEntry(blob, entryRange, "date", "", 10, 40)
	blob = appendEntry(blob, entryText, "date", "zzz", 0, 0)
	for _, tc := range []struct {
		param string
		desc  int64
		want  driver.Value
	}{
		{"name", 0, "dupont"},
		{"name", 1, "martin"},
		{"date", 0, 10.0},
		{"date", 1, 40.0},
		{"gender", 0, nil},
		{"nam", 0, nil},
	} {
		got, err := sortValue(nil, []driver.Value{blob, tc.param, tc.desc})
		if err != nil || got != tc.want {
			t.Errorf("sort_value(%s, desc=%d) = %v, %v; want %v", tc.param, tc.desc, got, err, tc.want)
		}
	}
	if _, err := sortValue(nil, []driver.Value{blob[:len(blob)-3], "name", int64(0)}); err == nil {
		t.Error("a truncated blob gave no error")
	}
	var n int
	if err := eachEntry(blob, func(entry) bool { n++; return true }); err != nil || n != 6 {
		t.Errorf("eachEntry: %d entries, %v", n, err)
	}
}

// The blob of a resource's entries is allocated at its exact size.
func TestEntriesSize(t *testing.T) {
	entries := []store.IndexEntry{
		{Param: "code", Kind: store.KindToken, Text: "http://loinc.org|8867-4"},
		{Param: "value-quantity", Kind: store.KindQuantity, Text: "/min", Low: 76.45, High: 76.55},
		{Param: "code-value-quantity", Kind: store.KindComposite, Text: strings.Repeat("x", 200), Low: 1, High: 2},
		{Param: "code-value-quantity", Kind: store.KindComposite, Text: "8867-4$8867-4"},
		{Param: store.ParamContent, Kind: store.KindString, Text: "heart"},
	}
	var blob []byte
	for _, e := range entries {
		if store.IsFullText(e.Param) {
			continue
		}
		if inRangeTable(e) {
			blob = appendEntry(blob, entryRange, e.Param, e.Text, e.Low, e.High)
		}
		if inTextTable(e) {
			blob = appendEntry(blob, entryText, e.Param, e.Text, 0, 0)
		}
	}
	if got, want := entriesSize(entries), len(blob); got != want {
		t.Errorf("entriesSize = %d, the blob has %d bytes", got, want)
	}
}
