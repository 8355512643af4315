package audit_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/mongo"
	"github.com/telehub/telehub/store/mongo/mongotest"
)

// leanTrail records a mix of events into lean (through a Recorder, so with
// the lean index), and stores the same events in full with the
// extractor's index (what an AuditEvent created through the API gets). It
// returns the events in the order recorded (event n is audit-(n+1)).
func leanTrail(t *testing.T, lean, full store.Store) []audit.Event {
	t.Helper()
	ctx := context.Background()
	rec := newRecorder(t, lean)
	events := []audit.Event{
		audit.Login(true, practitioner, "password+totp"),
		audit.Login(false, audit.Agent{UserName: "mallory", Address: "198.51.100.7"}, "bad password"),
		audit.TokenIssued(audit.Agent{Client: "app-2"}, "system/*.rs", ""),
		audit.ConsentDecision(practitioner, "Patient/p2", "Consent/c1", audit.Target{Type: "Observation", ID: "o2"}, false),
		audit.Search(practitioner, "Observation", "subject=Patient/p1", "Patient/p1", audit.Success),
		audit.Read(audit.Agent{User: "Patient/p1", Client: "app-3"}, audit.Target{Type: "Patient", ID: "p1"}, "Patient/p1", audit.Success),
	}
	for n := range 12 {
		outcome := audit.Success
		if n%5 == 4 {
			outcome = audit.MinorFailure
		}
		events = append(events, audit.Read(practitioner, audit.Target{Type: "Observation", ID: fmt.Sprintf("o%d", n%4)}, fmt.Sprintf("Patient/p%d", n%3), outcome))
	}
	for _, e := range events {
		if err := rec.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	stored, err := lean.Search(ctx, store.Query{Types: []string{"AuditEvent"}, Count: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Resources) != len(events) {
		t.Fatalf("%d events stored, want %d", len(stored.Resources), len(events))
	}
	for _, r := range stored.Resources {
		index, err := extractor.Extract("AuditEvent", r.Body)
		if err != nil {
			t.Fatal(err)
		}
		w := store.Write{Type: r.Type, ID: r.ID, Version: 1, LastUpdated: time.Now(), Method: "POST", Body: r.Body, Index: index}
		if err := full.Commit(ctx, []store.Write{w}); err != nil {
			t.Fatal(err)
		}
	}
	return events
}

// leanSearches are searches of AuditEvent by bare and qualified values,
// alone, combined, negated, and with the number of events each finds.
var leanSearches = []struct {
	query string
	want  int
}{
	{"action=R", 13},
	{"action=http://hl7.org/fhir/audit-event-action|R", 13},
	{"action=C,E", 5},
	{"action:not=R", 5},
	{"action:not=R&action:not=E", 1},
	{"outcome=4", 3},
	{"outcome:not=0", 3},
	{"type=rest", 14},
	{"type=110114", 3},
	{"type=http://dicom.nema.org/resources/ontology/DCM|110113", 1},
	{"type:not=rest", 4},
	{"type:text=restful", 14},
	{"subtype=read", 13},
	{"subtype=110122,search-type", 3},
	{"subtype:not=read", 5},
	{"subtype=http://hl7.org/fhir/restful-interaction|", 14},
	{"agent=pr1", 15},
	{"agent=Practitioner/pr1", 15},
	{"agent:Practitioner=pr1", 15},
	{"agent=p1", 1},
	{"agent:identifier=app-1", 15},
	{"agent:identifier=https://telehub.dev/fhir/sid/client-id|app-2", 1},
	{"entity=o1", 3},
	{"entity=Observation/o2,c1", 4},
	{"entity:Consent=c1", 1},
	{"patient=p1", 6},
	{"patient=Patient/p1", 6},
	{"patient=p1&action=R&outcome=0", 4},
	{"patient=p0,p2", 9},
	{"patient:missing=true", 3},
	{"patient=nobody", 0},
	{"type=http://terminology.hl7.org/CodeSystem/audit-event-type|rest", 14},
	{"type:text=user", 3},
	{"subtype:text=login", 2},
	{"subtype:text=access", 1},
	{"subtype:not=110122", 16},
	{"outcome=4&type:not=rest", 1},
	{"action:missing=false", 18},
	{"action:missing=true", 0},
	{"outcome:missing=true&patient:missing=false", 0},
	{"subtype:in=http://hl7.org/fhir/ValueSet/audit-event-sub-type&action=E", 3},
}

// TestLeanSearch checks that searches through LeanSearch find the same
// events on the lean index as on the extractor's full index, and the
// expected number of them.
func TestLeanSearch(t *testing.T) {
	t.Parallel()
	lean, full := openStore(t), openStore(t)
	leanTrail(t, lean, full)
	checkLeanSearches(t, lean, full)
}

// TestLeanSearchMongo is TestLeanSearch on the Mongo backend (FerretDB
// in-process).
func TestLeanSearchMongo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB; skipped with -short")
	}
	t.Parallel()
	uri := mongotest.Start(t)
	open := func(db string) store.Store {
		st, err := mongo.Open(context.Background(), uri+db)
		if err != nil {
			t.Fatalf("open mongo store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	lean, full := open("lean"), open("full")
	leanTrail(t, lean, full)
	checkLeanSearches(t, lean, full)
}

func checkLeanSearches(t *testing.T, lean, full store.Store) {
	t.Helper()
	ctx := context.Background()
	for _, tc := range leanSearches {
		values, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		plan := search.Parse("AuditEvent", values)
		if len(plan.Ignored) > 0 {
			t.Fatalf("%s: ignored %v", tc.query, plan.Ignored)
		}
		plan.Query.Count = 1000
		got := searchIDs(t, audit.LeanSearch(lean), plan.Query)
		want := searchIDs(t, full, plan.Query)
		if !slices.Equal(got, want) {
			t.Errorf("AuditEvent?%s finds %v on the lean index, %v on the full one", tc.query, got, want)
		}
		if len(got) != tc.want {
			t.Errorf("AuditEvent?%s finds %d events, want %d", tc.query, len(got), tc.want)
		}
	}
	if _, err := audit.LeanSearch(lean).Search(ctx, store.Query{Types: []string{"AuditEvent"}}); err != nil {
		t.Errorf("a search without conditions: %v", err)
	}
}

func searchIDs(t *testing.T, st store.Store, q store.Query) []string {
	t.Helper()
	res, err := st.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	ids := make([]string, len(res.Resources))
	for i, r := range res.Resources {
		ids[i] = r.ID
	}
	slices.Sort(ids)
	return ids
}

// TestLeanQuery checks the rewriting itself: queries that cannot concern
// AuditEvent, and qualified references, are left as they are; a bare one
// is widened; a negated kind parameter becomes two clauses; nested queries
// are widened; the caller's query is not modified.
func TestLeanQuery(t *testing.T) {
	t.Parallel()
	bare := store.Condition{Param: "patient", Op: store.OpExact, Text: "p1"}
	qualified := store.Condition{Param: "patient", Op: store.OpExact, Text: "Patient/p1"}
	onTrail := func(conditions ...store.Condition) store.Query {
		return store.Query{Types: []string{"AuditEvent"}, Clauses: []store.Clause{{Any: conditions}}}
	}

	observation := store.Query{Types: []string{"Observation"}, Clauses: []store.Clause{{Any: []store.Condition{bare}}}}
	if got, _ := audit.LeanQuery(observation); len(got.Clauses[0].Any) != 1 {
		t.Errorf("an Observation search was widened: %+v", got.Clauses)
	}
	if got, _ := audit.LeanQuery(onTrail(qualified)); len(got.Clauses[0].Any) != 1 {
		t.Errorf("a qualified reference was widened: %+v", got.Clauses)
	}

	original := onTrail(bare)
	got, err := audit.LeanQuery(original)
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.Condition{bare, qualified}; !slices.Equal(got.Clauses[0].Any, want) {
		t.Errorf("patient=p1 widened to %+v, want %+v", got.Clauses[0].Any, want)
	}
	if len(original.Clauses[0].Any) != 1 {
		t.Errorf("the caller's query was modified: %+v", original.Clauses)
	}

	notRead := store.Condition{Param: "action", Op: store.OpExact, Text: "R", Not: true}
	got, err = audit.LeanQuery(onTrail(notRead))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Clauses) != 2 || !slices.Equal(got.Clauses[0].Any, []store.Condition{notRead}) ||
		got.Clauses[1].Any[0] != (store.Condition{Param: audit.KindParam, Op: store.OpMissing, Text: "true"}) {
		t.Errorf("action:not=R widened to %+v, want the condition, and no kind or another kind", got.Clauses)
	}

	read := store.Condition{Param: "action", Op: store.OpExact, Text: "R"}
	has := store.Query{Types: []string{"Patient"}, Clauses: []store.Clause{{Any: []store.Condition{{Has: &store.Reverse{Param: "patient",
		Query: onTrail(read)}}}}}}
	got, err = audit.LeanQuery(has)
	if err != nil {
		t.Fatal(err)
	}
	if inner := got.Clauses[0].Any[0].Has.Query.Clauses[0].Any; len(inner) != 1+2*4 {
		t.Errorf("_has:AuditEvent:patient:action=R widened to %+v, want the condition and read and vread with 4 outcomes", inner)
	}
	if inner := has.Clauses[0].Any[0].Has.Query.Clauses[0].Any; len(inner) != 1 {
		t.Errorf("the caller's _has query was modified: %+v", inner)
	}

	var negations []store.Condition
	for _, code := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		negations = append(negations, store.Condition{Param: "subtype", Op: store.OpExact, Text: code, Not: true})
	}
	if _, err := audit.LeanQuery(onTrail(negations...)); !errors.Is(err, store.ErrTooCostly) {
		t.Errorf("seven negated subtypes in one clause (128 clauses): %v, want ErrTooCostly", err)
	}
}
