package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/telehub/telehub/store"
)

func TestScratchPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "plans.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	patients := []string{"Patient"}
	obs := []string{"Observation"}
	name := store.Condition{Param: "name", Op: store.OpPrefix, Text: "al"}
	code := store.Condition{Param: "code", Op: store.OpExact, Text: "c1"}
	ch := store.Condition{Param: "subject", Chain: &store.Query{Types: patients, Clauses: []store.Clause{{Any: []store.Condition{name}}}}}
	hs := store.Condition{Has: &store.Reverse{Param: "subject", Query: store.Query{Types: obs, Clauses: []store.Clause{{Any: []store.Condition{code}}}}}}
	for _, q := range []store.Query{
		{Types: obs, Clauses: []store.Clause{{Any: []store.Condition{ch}}}},
		{Types: patients, Clauses: []store.Clause{{Any: []store.Condition{hs}}}},
		{Types: patients, Clauses: []store.Clause{{Any: []store.Condition{hs}}, {Any: []store.Condition{name}}}},
	} {
		q.Count = 10
		where, err := buildWhere(q)
		if err != nil {
			t.Fatal(err)
		}
		page, args := pageSQL(q, where)
		t.Logf("%s\n%s", page, explain(t, s, page, args))
	}
}
