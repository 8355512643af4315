package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
)

func wordsWrite(id string, version int64, words ...string) store.Write {
	w := store.Write{Type: "Patient", ID: id, Version: version, LastUpdated: time.Now(), Method: "PUT",
		Body: []byte(`{"resourceType":"Patient"}`)}
	for _, word := range words {
		w.Index = append(w.Index, store.IndexEntry{Param: store.ParamContent, Kind: store.KindString, Text: word})
	}
	w.Index = append(w.Index,
		store.IndexEntry{Param: store.ParamText, Kind: store.KindString, Text: "narrative"},
		store.IndexEntry{Param: "family", Kind: store.KindString, Text: "family-" + id})
	return w
}

// TestFullText checks the full-text parameters, kept apart from the other
// entries: whole words and word prefixes, per parameter, replaced on update
// (also within one commit), gone on delete, and refused operators.
func TestFullText(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	deleted := store.Write{Type: "Patient", ID: "d", Version: 2, LastUpdated: time.Now(), Method: "DELETE", Deleted: true}
	if err := s.Commit(ctx, []store.Write{
		wordsWrite("a", 1, "hélène", "cardiology", `quote"d`, "Upper", "a·b", "*"),
		wordsWrite("b", 1, "cardiac", "old"),
		wordsWrite("d", 1, "cardiology"),
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, []store.Write{wordsWrite("b", 2, "stale"), wordsWrite("b", 3, "renal"), deleted}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		param, text string
		op          store.Op
		want        int
	}{
		{store.ParamContent, "cardiology", store.OpExact, 1},
		{store.ParamContent, "cardi", store.OpPrefix, 1}, // b's "cardiac" was replaced, d is deleted
		{store.ParamContent, "cardi", store.OpExact, 0},
		{store.ParamContent, "hélène", store.OpExact, 1},
		{store.ParamContent, "hél", store.OpPrefix, 1},
		{store.ParamContent, `quote"d`, store.OpExact, 1},
		{store.ParamContent, `quote"`, store.OpPrefix, 1},
		{store.ParamContent, "quote", store.OpExact, 0},
		{store.ParamContent, "d", store.OpExact, 0},
		{store.ParamContent, "Upper", store.OpExact, 1},
		{store.ParamContent, "upper", store.OpExact, 0},
		{store.ParamContent, "a·b", store.OpExact, 1},
		{store.ParamContent, "a·", store.OpPrefix, 1},
		{store.ParamContent, "*", store.OpExact, 1},
		{store.ParamContent, " ", store.OpPrefix, 0},
		{store.ParamContent, "old", store.OpExact, 0},
		{store.ParamContent, "stale", store.OpExact, 0},
		{store.ParamContent, "renal", store.OpExact, 1},
		{store.ParamContent, "narrative", store.OpExact, 0}, // a _text word only
		{store.ParamText, "narr", store.OpPrefix, 2},
		{"family", "family-b", store.OpExact, 1},
	}
	for _, tt := range tests {
		res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 10, Total: true,
			Clauses: []store.Clause{{Any: []store.Condition{{Param: tt.param, Op: tt.op, Text: tt.text}}}}})
		if err != nil {
			t.Fatalf("%s %s %q: %v", tt.param, tt.op, tt.text, err)
		}
		if res.Total != tt.want {
			t.Errorf("%s %s %q: %d matches, want %d", tt.param, tt.op, tt.text, res.Total, tt.want)
		}
	}
	for _, c := range []store.Condition{
		{Param: store.ParamContent, Op: store.OpContains, Text: "ard"},
		{Param: store.ParamContent, Op: store.OpPrefix, Text: ""},
		{Param: store.ParamText, Op: store.OpMissing, Text: "true"},
	} {
		if _, err := s.Search(ctx, store.Query{Count: 10, Clauses: []store.Clause{{Any: []store.Condition{c}}}}); err == nil {
			t.Errorf("%s %s %q: no error", c.Param, c.Op, c.Text)
		}
	}
}

// TestGroupCommit commits from many goroutines at once, so that commits are
// grouped: each is still all or nothing on its own, and a conflicting one
// fails alone.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Even commits create two resources of their own; odd ones all
			// create "shared" and one of their own: one of them wins.
			writes := []store.Write{benchWrite("Patient", fmt.Sprint("own-", i), 1)}
			if i%2 == 0 {
				writes = append(writes, benchWrite("Patient", fmt.Sprint("own2-", i), 1))
			} else {
				writes = append(writes, benchWrite("Patient", "shared", 1))
			}
			errs[i] = s.Commit(ctx, writes)
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil && i%2 == 1:
			won++
		case err == nil:
		case i%2 == 0 || !errors.Is(err, store.ErrConflict):
			t.Errorf("commit %d: %v", i, err)
		}
		_, readErr := s.Read(ctx, "Patient", fmt.Sprint("own-", i))
		if (err == nil) != (readErr == nil) {
			t.Errorf("commit %d returned %v, but reading its resource gives %v", i, err, readErr)
		}
	}
	if won != 1 {
		t.Errorf("%d commits created Patient/shared, want 1", won)
	}
	res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Total: true,
		Clauses: []store.Clause{{Any: []store.Condition{{Param: "identifier", Op: store.OpExact, Text: "urn:oid:1.2.3|shared"}}}}})
	if err != nil || res.Total != 1 {
		t.Errorf("Patient/shared is indexed %v times (%v), want once", res, err)
	}
}

// TestMigrateVersion2 opens a file of schema version 2, whose words are rows
// of idx_text and whose entries are found through (rid, …) indexes, and
// checks that its resources stay findable, sortable and updatable.
func TestMigrateVersion2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE versions (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
			last_updated INTEGER NOT NULL, deleted INTEGER NOT NULL, method TEXT NOT NULL, body BLOB)`,
		`CREATE UNIQUE INDEX versions_by_resource ON versions (type, id, version)`,
		`CREATE TABLE resources (rid INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
			seq INTEGER NOT NULL REFERENCES versions (seq), last_updated INTEGER NOT NULL, deleted INTEGER NOT NULL)`,
		`CREATE UNIQUE INDEX resources_by_id ON resources (type, id)`,
		`CREATE TABLE idx_text (param TEXT NOT NULL, text TEXT NOT NULL, type TEXT NOT NULL, rid INTEGER NOT NULL,
			PRIMARY KEY (param, text, type, rid)) WITHOUT ROWID`,
		`CREATE INDEX idx_text_by_resource ON idx_text (rid, param, text)`,
		`CREATE TABLE idx_range (param TEXT NOT NULL, type TEXT NOT NULL, low REAL NOT NULL, high REAL NOT NULL,
			text TEXT NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (param, type, low, high, text, rid)) WITHOUT ROWID`,
		`CREATE INDEX idx_range_by_resource ON idx_range (rid, param, low, high)`,
		`INSERT INTO versions VALUES (1, 'Patient', 'p1', 1, 1000, 0, 'PUT', '{"resourceType":"Patient","id":"p1"}')`,
		`INSERT INTO versions VALUES (2, 'Patient', 'p2', 1, 1000, 0, 'PUT', '{"resourceType":"Patient","id":"p2"}')`,
		`INSERT INTO resources VALUES (1, 'Patient', 'p1', 1, 1, 1000, 0)`,
		`INSERT INTO resources VALUES (2, 'Patient', 'p2', 1, 2, 1000, 0)`,
		`INSERT INTO idx_text VALUES ('family', 'martin', 'Patient', 1), ('family', 'durand', 'Patient', 2),
			('_content', 'martin', 'Patient', 1), ('_content', 'helene', 'Patient', 1), ('_text', 'summary', 'Patient', 1)`,
		`INSERT INTO idx_range VALUES ('birthdate', 'Patient', 10, 20, '', 1), ('birthdate', 'Patient', 5, 6, '', 2)`,
		`PRAGMA user_version = 2`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open a version 2 file: %v", err)
	}
	defer s.Close()
	ids := func(q store.Query) []string {
		t.Helper()
		q.Types, q.Count = []string{"Patient"}, 10
		res, err := s.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range res.Resources {
			out = append(out, r.ID)
		}
		return out
	}
	one := func(c store.Condition) store.Query {
		return store.Query{Clauses: []store.Clause{{Any: []store.Condition{c}}}}
	}
	if got := ids(one(store.Condition{Param: store.ParamContent, Op: store.OpPrefix, Text: "hel"})); fmt.Sprint(got) != "[p1]" {
		t.Errorf("_content=hel: %v, want [p1]", got)
	}
	if got := ids(one(store.Condition{Param: store.ParamText, Op: store.OpExact, Text: "summary"})); fmt.Sprint(got) != "[p1]" {
		t.Errorf("_text=summary: %v, want [p1]", got)
	}
	if got := ids(one(store.Condition{Param: "family", Op: store.OpExact, Text: "martin"})); fmt.Sprint(got) != "[p1]" {
		t.Errorf("family=martin: %v, want [p1]", got)
	}
	if got := ids(store.Query{Sort: []store.SortKey{{Param: "birthdate"}}}); fmt.Sprint(got) != "[p2 p1]" {
		t.Errorf("_sort=birthdate: %v, want [p2 p1]", got)
	}
	// An update replaces the migrated entries.
	update := benchWrite("Patient", "p1", 2)
	update.Index = []store.IndexEntry{{Param: "family", Kind: store.KindString, Text: "dupont"}}
	if err := s.Commit(ctx, []store.Write{update}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []store.Condition{
		{Param: "family", Op: store.OpExact, Text: "martin"},
		{Param: "birthdate", Op: store.OpGe, Low: 0, High: 100},
		{Param: store.ParamContent, Op: store.OpExact, Text: "helene"},
	} {
		if got := ids(one(c)); len(got) != 0 && fmt.Sprint(got) != "[p2]" {
			t.Errorf("after the update, %s %s: %v still finds p1", c.Param, c.Op, got)
		}
	}
	if got := ids(one(store.Condition{Param: "family", Op: store.OpExact, Text: "dupont"})); fmt.Sprint(got) != "[p1]" {
		t.Errorf("family=dupont after the update: %v, want [p1]", got)
	}
}

// TestCountFromIndex checks the total of a one-condition search, which is
// counted off the index: deleted and updated resources are not counted.
func TestCountFromIndex(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	gender := func(id string, version int64, g string) store.Write {
		return store.Write{Type: "Patient", ID: id, Version: version, LastUpdated: time.Now(), Method: "PUT",
			Body: []byte(`{"resourceType":"Patient"}`), Index: []store.IndexEntry{{Param: "gender", Kind: store.KindToken, Text: g}}}
	}
	gone := store.Write{Type: "Patient", ID: "c", Version: 2, LastUpdated: time.Now(), Method: "DELETE", Deleted: true}
	other := gender("x", 1, "female")
	other.Type = "Practitioner"
	if err := s.Commit(ctx, []store.Write{gender("a", 1, "female"), gender("b", 1, "female"), gender("c", 1, "female"), other}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, []store.Write{gender("b", 2, "male"), gone}); err != nil {
		t.Fatal(err)
	}
	for _, count := range []int{0, 10} {
		res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: count, Total: true,
			Clauses: []store.Clause{{Any: []store.Condition{{Param: "gender", Op: store.OpExact, Text: "female"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != 1 {
			t.Errorf("count %d: total %d, want 1 (Patient/a)", count, res.Total)
		}
	}
}
