package audit_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

var practitioner = audit.Agent{User: "Practitioner/pr1", UserName: "Dr Martin", Client: "app-1", Address: "192.0.2.10"}

// TestBuildersValidate checks every builder produces a valid R4 AuditEvent
// with the BALP codes, indexed under the patient it names.
func TestBuildersValidate(t *testing.T) {
	t.Parallel()
	obs := audit.Target{Type: "Observation", ID: "o1"}
	tests := []struct {
		name    string
		event   audit.Event
		subtype string
		action  string
		outcome string
		patient string
	}{
		{"read", audit.Read(practitioner, obs, "Patient/p1", audit.Success), "read", "R", "0", "Patient/p1"},
		{"vread", audit.Read(practitioner, audit.Target{Type: "Patient", ID: "p1", Version: 3}, "Patient/p1", audit.Success), "vread", "R", "0", "Patient/p1"},
		{"read without patient", audit.Read(audit.Agent{Client: "app-2"}, audit.Target{Type: "Organization", ID: "org"}, "", audit.Success), "read", "R", "0", ""},
		{"read refused", audit.Read(practitioner, obs, "Patient/p1", audit.MinorFailure), "read", "R", "4", "Patient/p1"},
		{"search", audit.Search(practitioner, "Observation", "subject=Patient/p1&code=http://loinc.org|1234-5", "Patient/p1", audit.Success), "search-type", "E", "0", "Patient/p1"},
		{"system search", audit.Search(practitioner, "", "_lastUpdated=gt2024", "", audit.Success), "search-system", "E", "0", ""},
		{"search no query", audit.Search(audit.Agent{}, "Patient", "", "", audit.SeriousFailure), "search-type", "E", "8", ""},
		{"create", audit.Create(practitioner, obs, "Patient/p1", audit.Success), "create", "C", "0", "Patient/p1"},
		{"update", audit.Update(practitioner, obs, "Patient/p1", audit.Success), "update", "U", "0", "Patient/p1"},
		{"delete", audit.Delete(practitioner, obs, "Patient/p1", audit.OutcomeOf(500)), "delete", "D", "8", "Patient/p1"},
		{"login ok", audit.Login(true, practitioner, "password+totp"), "110122", "E", "0", ""},
		{"login failed", audit.Login(false, audit.Agent{UserName: "mallory", Address: "fe80::1"}, "bad password"), "110122", "E", "4", ""},
		{"token issued", audit.TokenIssued(practitioner, "patient/*.read launch/patient", "Patient/p1"), "token-issued", "C", "0", "Patient/p1"},
		{"token revoked", audit.TokenRevoked(audit.Agent{Client: "app-1", Address: "host.example"}, "jti-123"), "token-revoked", "D", "0", ""},
		{"consent permit", audit.ConsentDecision(practitioner, "Patient/p1", "Consent/c1", obs, true), "consent-decision", "E", "0", "Patient/p1"},
		{"consent deny none", audit.ConsentDecision(practitioner, "Patient/p1", "", audit.Target{}, false), "consent-decision", "E", "0", "Patient/p1"},
		{"break the glass", audit.BreakTheGlass(practitioner, "Patient/p1", "unconscious patient"), "break-the-glass", "E", "0", "Patient/p1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := tc.event.JSON()
			if err != nil {
				t.Fatal(err)
			}
			r, err := model.Parse(body)
			if err != nil {
				t.Fatalf("invalid AuditEvent: %v\n%s", err, body)
			}
			canonical, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(canonical, body) {
				t.Errorf("the event is not in canonical form:\n got %s\nwant %s", body, canonical)
			}
			var doc struct {
				Subtype []struct{ Code string } `json:"subtype"`
				Action  string                  `json:"action"`
				Outcome string                  `json:"outcome"`
				Agent   []struct {
					Requestor bool `json:"requestor"`
				} `json:"agent"`
				PurposeOfEvent []struct{ Coding []struct{ Code string } } `json:"purposeOfEvent"`
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Subtype) != 1 || doc.Subtype[0].Code != tc.subtype || doc.Action != tc.action || doc.Outcome != tc.outcome {
				t.Errorf("subtype %v action %q outcome %q, want %s %s %s", doc.Subtype, doc.Action, doc.Outcome, tc.subtype, tc.action, tc.outcome)
			}
			requestors := 0
			for _, a := range doc.Agent {
				if a.Requestor {
					requestors++
				}
			}
			if requestors != 1 {
				t.Errorf("%d requestor agents, want 1", requestors)
			}
			if tc.subtype == "break-the-glass" && (len(doc.PurposeOfEvent) != 1 || doc.PurposeOfEvent[0].Coding[0].Code != "ETREAT") {
				t.Errorf("break-the-glass purposeOfEvent = %v, want ETREAT", doc.PurposeOfEvent)
			}
			extracted, err := extractor.Extract("AuditEvent", body)
			if err != nil {
				t.Fatal(err)
			}
			extracted = slices.DeleteFunc(extracted, func(e store.IndexEntry) bool { return !audit.Searchable(e.Param) })
			index, err := tc.event.Index()
			if err != nil {
				t.Fatal(err)
			}
			checkLeanIndex(t, index, extracted)
			var patients []string
			for _, e := range index {
				if e.Param == "patient" && e.Text == tc.patient {
					patients = append(patients, e.Text)
				}
			}
			if tc.patient != "" && len(patients) == 0 {
				t.Errorf("no patient index entry %q in %v", tc.patient, index)
			}
		})
	}
}

var extractor = search.NewExtractor(search.DefaultRegistry(), search.WithoutFullText())

// checkLeanIndex checks the lean index against the extractor's entries for
// the searchable parameters: every entry of the index is one of them, and
// every one it leaves out (a bare form, or one KindParam stands for) is
// found by the search for it as audit.LeanQuery widens it.
func checkLeanIndex(t *testing.T, index, extracted []store.IndexEntry) {
	t.Helper()
	for _, e := range index {
		if !slices.Contains(extracted, e) && e.Param != audit.KindParam {
			t.Errorf("index entry %+v is not one of search.Extract's", e)
		}
	}
	for _, e := range extracted {
		if slices.Contains(index, e) {
			continue
		}
		q, err := audit.LeanQuery(store.Query{Types: []string{"AuditEvent"},
			Clauses: []store.Clause{{Any: []store.Condition{{Param: e.Param, Op: store.OpExact, Text: e.Text}}}}})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, c := range q.Clauses[0].Any {
			found = found || slices.ContainsFunc(index, func(x store.IndexEntry) bool { return x.Param == c.Param && x.Text == c.Text })
		}
		if !found {
			t.Errorf("search.Extract's entry %+v is neither indexed nor found by the widened search %+v", e, q.Clauses)
		}
	}
}

// entrySet returns the entries as sorted, distinct strings.
func entrySet(entries []store.IndexEntry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s %s %q %v %v", e.Param, e.Kind, e.Text, e.Low, e.High))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestIsProtected(t *testing.T) {
	t.Parallel()
	for typ, want := range map[string]bool{"AuditEvent": true, "Patient": false, "auditevent": false, "Provenance": false} {
		if got := audit.IsProtected(typ); got != want {
			t.Errorf("IsProtected(%q) = %v, want %v", typ, got, want)
		}
	}
}

// TestSearchable: the lean index answers the parameters it keeps, with
// their modifiers, and says so of no other.
func TestSearchable(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"patient": true, "agent:identifier": true, "type:text": true, "date": true, "_lastUpdated": true, "_id": true,
		"address": false, "agent-name": false, "entity-role": false, "entity-type": false, "policy": false, "site": false,
	} {
		if got := audit.Searchable(code); got != want {
			t.Errorf("Searchable(%q) = %v, want %v", code, got, want)
		}
	}
	for code, want := range map[string]bool{"date": true, "patient": true, "_lastUpdated": true, "outcome": false, "type": false, "address": false} {
		if got := audit.Sortable(code); got != want {
			t.Errorf("Sortable(%q) = %v, want %v", code, got, want)
		}
	}
	// Nothing is indexed under a parameter Searchable refuses, but
	// KindParam, which stands for four it accepts.
	e := audit.Search(practitioner, "Observation", "code=1234", "Patient/p1", audit.Success)
	index, err := e.Index()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range index {
		if !audit.Searchable(x.Param) && x.Param != audit.KindParam {
			t.Errorf("index entry under %q, which Searchable refuses", x.Param)
		}
	}
}
