package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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
	blob = appendEntry(blob, entryWord, store.ParamContent, "aaa", 0, 0)
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
		{store.ParamContent, 0, nil}, // words do not sort
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
	if err := eachEntry(blob, func(entry) bool { n++; return true }); err != nil || n != 7 {
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
			blob = appendEntry(blob, entryWord, e.Param, e.Text, 0, 0)
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

// TestPartialIndexUnlistedWords: a partial write that keeps the words of a
// resource whose blob does not list them (written by a program of schema
// version 5 or before) fails with store.ErrIndexNotKept, and changes
// nothing; one that replaces them goes through.
func TestPartialIndexUnlistedWords(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	write := func(version int64, partial bool, index ...store.IndexEntry) error {
		return s.Commit(ctx, []store.Write{{Type: "Patient", ID: "p", Version: version, LastUpdated: time.UnixMilli(version),
			Method: "PUT", Body: []byte(`{"resourceType":"Patient","id":"p"}`), Index: index,
			PartialIndex: partial, Replaced: []string{"name"}}})
	}
	word := func(w string) store.IndexEntry {
		return store.IndexEntry{Param: store.ParamContent, Kind: store.KindString, Text: w}
	}
	if err := write(1, false, word("alpha"), store.IndexEntry{Param: "name", Kind: store.KindString, Text: "ann"}); err != nil {
		t.Fatal(err)
	}
	// The blob as an older program wrote it: without the words.
	var old []byte
	eachEntry(mustBlob(t, s), func(e entry) bool {
		if !isWord(e.kind) {
			old = appendEntry(old, e.kind, e.param, e.text, e.low, e.high)
		}
		return true
	})
	if _, err := s.writer.ExecContext(ctx, `UPDATE idx_entries SET entries = ?`, old); err != nil {
		t.Fatal(err)
	}
	if err := write(2, true, word("beta")); !errors.Is(err, store.ErrIndexNotKept) {
		t.Fatalf("partial write over unlisted words: %v, want ErrIndexNotKept", err)
	}
	if r, err := s.Read(ctx, "Patient", "p"); err != nil || r.VersionID != 1 {
		t.Fatalf("after the refused write: %+v, %v", r, err)
	}
	if err := write(2, false, word("beta")); err != nil {
		t.Fatal(err)
	}
	if err := write(3, true, word("gamma")); err != nil {
		t.Fatalf("partial write over listed words: %v", err)
	}
	res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 1, Clauses: []store.Clause{{Any: []store.Condition{{Param: store.ParamContent, Op: store.OpExact, Text: "beta"}}}}})
	if err != nil || len(res.Resources) != 1 {
		t.Errorf("kept word: %+v, %v", res, err)
	}
}

func mustBlob(t *testing.T, s *Store) []byte {
	t.Helper()
	var blob []byte
	if err := s.writer.QueryRowContext(context.Background(), `SELECT entries FROM idx_entries`).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	return blob
}

// TestEntriesInParts: a partial write that touches no parameter of the
// main part adds a part of its own; one that replaces a parameter reads
// and writes the main part and the parts holding it; a full write lists a
// parameter of many entries apart, and replaces every part.
func TestEntriesInParts(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	write := func(version int64, partial bool, replaced []string, index ...store.IndexEntry) {
		t.Helper()
		err := s.Commit(ctx, []store.Write{{Type: "ImagingStudy", ID: "s", Version: version, LastUpdated: time.UnixMilli(version),
			Method: "PUT", Body: []byte(`{"resourceType":"ImagingStudy","id":"s"}`), Index: index,
			PartialIndex: partial, Replaced: replaced}})
		if err != nil {
			t.Fatal(err)
		}
	}
	tok := func(param, text string) store.IndexEntry {
		return store.IndexEntry{Param: param, Kind: store.KindToken, Text: text}
	}
	// parts lists the main part's parameters, then each other part's.
	parts := func() string {
		t.Helper()
		var out []string
		var blob []byte
		err := s.writer.QueryRowContext(ctx, `SELECT entries FROM idx_entries`).Scan(&blob)
		if err == nil {
			params, _ := paramsOf(blob)
			out = append(out, "main:"+strings.TrimSpace(params))
		}
		rows, err := s.writer.QueryContext(ctx, `SELECT key & 1048575, params FROM idx_parts ORDER BY key`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var part int
			var params string
			if err := rows.Scan(&part, &params); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%d:%s", part, strings.TrimSpace(params)))
		}
		return strings.Join(out, " ")
	}
	found := func(param, text string) int {
		t.Helper()
		res, err := s.Search(ctx, store.Query{Types: []string{"ImagingStudy"}, Count: 10, Clauses: []store.Clause{{Any: []store.Condition{{Param: param, Op: store.OpExact, Text: text}}}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Resources)
	}
	write(1, false, nil, tok("status", "registered"), tok("instance", "i1"))
	write(2, true, nil, tok("instance", "i2"))
	write(3, true, nil, tok("instance", "i3"), tok("dicom-class", "ct"))
	if got, want := parts(), "main:instance status 1:instance 2:dicom-class instance"; got != want {
		t.Errorf("parts after adding %q, want %q", got, want)
	}
	write(4, true, []string{"status", "dicom-class"}, tok("status", "available"), tok("instance", "i4"))
	if got, want := parts(), "main:instance status 1:instance 2:instance 3:instance"; got != want {
		t.Errorf("parts after replacing status and dicom-class %q, want %q", got, want)
	}
	for _, c := range []struct {
		param, text string
		want        int
	}{{"status", "registered", 0}, {"status", "available", 1}, {"dicom-class", "ct", 0}, {"instance", "i1", 1}, {"instance", "i3", 1}, {"instance", "i4", 1}} {
		if got := found(c.param, c.text); got != c.want {
			t.Errorf("%s=%s: %d found, want %d", c.param, c.text, got, c.want)
		}
	}

	many := []store.IndexEntry{tok("status", "cancelled")}
	for i := range bigParam {
		many = append(many, tok("instance", fmt.Sprint("j", i)))
	}
	write(5, false, nil, many...)
	if got, want := parts(), "main:status 1:instance"; got != want {
		t.Errorf("parts of a full write with %d instances %q, want %q", bigParam, got, want)
	}
	write(6, true, []string{"status"}, tok("status", "entered-in-error"))
	if got, want := parts(), "main:status 1:instance"; got != want {
		t.Errorf("parts after replacing status %q, want %q", got, want)
	}
	if found("instance", "j7") != 1 || found("instance", "i2") != 0 || found("status", "entered-in-error") != 1 {
		t.Error("the entries of a full write and a partial one are not those found")
	}
}

// TestOpenVersion7: a file of schema version 7 (no idx_parts) is found,
// written and sorted as before when opened.
func TestOpenVersion7(t *testing.T) {
	ctx := context.Background()
	s, path := openClosable(t)
	for i, name := range []string{"martin", "dupont"} {
		err := s.Commit(ctx, []store.Write{{Type: "Patient", ID: name, Version: 1, LastUpdated: time.UnixMilli(1), Method: "POST",
			Body: []byte(`{"resourceType":"Patient"}`), Index: []store.IndexEntry{{Param: "name", Kind: store.KindString, Text: name},
				{Param: "birthdate", Kind: store.KindDate, Low: float64(i), High: float64(i + 1)}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	s = reopen(t, s, path, `DROP TABLE idx_parts`, `PRAGMA user_version = 7`)
	if v := pragma(t, s, "user_version"); v != schemaVersion {
		t.Errorf("user_version %d", v)
	}
	res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 10, Sort: []store.SortKey{{Param: "name"}}})
	if err != nil || len(res.Resources) != 2 || res.Resources[0].ID != "dupont" {
		t.Fatalf("sorted by name: %+v, %v", res, err)
	}
	err = s.Commit(ctx, []store.Write{{Type: "Patient", ID: "martin", Version: 2, LastUpdated: time.UnixMilli(2), Method: "PUT",
		Body: []byte(`{"resourceType":"Patient"}`), Index: []store.IndexEntry{{Param: "name", Kind: store.KindString, Text: "durand"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"martin": 0, "durand": 1, "dupont": 1} {
		res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 10, Clauses: []store.Clause{{Any: []store.Condition{{Param: "name", Op: store.OpExact, Text: name}}}}})
		if err != nil || len(res.Resources) != want {
			t.Errorf("name %s: %d found, want %d (%v)", name, len(res.Resources), want, err)
		}
	}
}

// TestPartialIndexRepeatedKeys: a partial write whose entries repeat a key
// (two composites of one text, with different ranges) is written.
func TestPartialIndexRepeatedKeys(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	combo := func(low float64) store.IndexEntry {
		return store.IndexEntry{Param: "combo", Kind: store.KindComposite, Text: "a$b", Low: low, High: low + 1}
	}
	for v, index := range [][]store.IndexEntry{{combo(1)}, {combo(2), combo(3), combo(1)}} {
		err := s.Commit(ctx, []store.Write{{Type: "Observation", ID: "o", Version: int64(v + 1), LastUpdated: time.UnixMilli(int64(v + 1)),
			Method: "PUT", Body: []byte(`{"resourceType":"Observation"}`), Index: index, PartialIndex: v > 0}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for low := 1.0; low <= 3; low++ {
		res, err := s.Search(ctx, store.Query{Types: []string{"Observation"}, Count: 10,
			Clauses: []store.Clause{{Any: []store.Condition{{Param: "combo", Op: store.OpEq, Text: "a$b", Low: low, High: low + 1}}}}})
		if err != nil || len(res.Resources) != 1 {
			t.Errorf("combo at %v: %+v, %v", low, res, err)
		}
	}
}
