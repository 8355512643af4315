package consent

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir/model"
)

// TestDecisions runs one scenario per case on a fresh SQLite store: the
// resources stored, then who is denied patient p1.
func TestDecisions(t *testing.T) {
	t.Parallel()
	past := time.Now().AddDate(-1, 0, 0).Format("2006-01-02")
	yesterday := time.Now().AddDate(0, 0, -1).Format("2006-01-02")
	tomorrow := time.Now().AddDate(0, 0, 1).Format("2006-01-02")
	deny := `{"type":"deny"}`
	tests := []struct {
		name      string
		resources []string
		denied    []string // the fhirUsers denied p1
		permitted []string // the fhirUsers not denied p1
	}{
		{"no consent: opt-out model permits", nil, nil, []string{"Practitioner/pr1"}},
		{"general deny", []string{consentDoc("c1", "p1", "active", deny)},
			[]string{"Practitioner/pr1", "Practitioner/pr2", "RelatedPerson/rp1"}, nil},
		{"inactive consent", []string{consentDoc("c1", "p1", "inactive", deny)}, nil, []string{"Practitioner/pr1"}},
		{"deny of another patient", []string{consentDoc("c1", "p2", "active", deny)}, nil, []string{"Practitioner/pr1"}},
		{"deny naming one actor", []string{consentDoc("c1", "p1", "active", `{"type":"deny","actor":[`+actor("Practitioner/pr1")+`]}`)},
			[]string{"Practitioner/pr1"}, []string{"Practitioner/pr2"}},
		{"nested permit lifts a general deny", []string{consentDoc("c1", "p1", "active",
			`{"type":"deny","provision":[{"type":"permit","actor":[`+actor("Practitioner/pr1")+`]}]}`)},
			[]string{"Practitioner/pr2"}, []string{"Practitioner/pr1"}},
		{"nested deny within a permit", []string{consentDoc("c1", "p1", "active",
			`{"type":"permit","provision":[{"type":"deny","actor":[`+actor("Practitioner/pr2")+`]}]}`)},
			[]string{"Practitioner/pr2"}, []string{"Practitioner/pr1"}},
		{"permit in another consent lifts a general deny", []string{
			consentDoc("c1", "p1", "active", deny),
			consentDoc("c2", "p1", "active", `{"type":"permit","actor":[`+actor("Practitioner/pr1")+`]}`)},
			[]string{"Practitioner/pr2"}, []string{"Practitioner/pr1"}},
		{"a named deny outranks a general permit", []string{
			consentDoc("c1", "p1", "active", `{"type":"permit"}`),
			consentDoc("c2", "p1", "active", `{"type":"deny","actor":[`+actor("Practitioner/pr1")+`]}`)},
			[]string{"Practitioner/pr1"}, []string{"Practitioner/pr2"}},
		{"a permit of some data only does not lift a deny", []string{consentDoc("c1", "p1", "active",
			`{"type":"deny","provision":[{"type":"permit","actor":[`+actor("Practitioner/pr1")+`],"class":[{"system":"http://hl7.org/fhir/resource-types","code":"Observation"}]}]}`)},
			[]string{"Practitioner/pr1"}, nil},
		{"period expired", []string{consentDoc("c1", "p1", "active", `{"type":"deny","period":{"start":"`+past+`","end":"`+yesterday+`"}}`)},
			nil, []string{"Practitioner/pr1"}},
		{"period not started", []string{consentDoc("c1", "p1", "active", `{"type":"deny","period":{"start":"`+tomorrow+`"}}`)},
			nil, []string{"Practitioner/pr1"}},
		{"period current", []string{consentDoc("c1", "p1", "active", `{"type":"deny","period":{"start":"`+yesterday+`","end":"`+tomorrow+`"}}`)},
			[]string{"Practitioner/pr1"}, nil},
		{"deny for research only", []string{consentDoc("c1", "p1", "active",
			`{"type":"deny","purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HRESCH"}]}`)},
			nil, []string{"Practitioner/pr1"}},
		{"deny naming the practitioner's role", []string{
			`{"resourceType":"PractitionerRole","id":"role1","practitioner":{"reference":"Practitioner/pr1"},"organization":{"reference":"Organization/org1"}}`,
			consentDoc("c1", "p1", "active", `{"type":"deny","actor":[`+actor("PractitionerRole/role1")+`]}`)},
			[]string{"Practitioner/pr1", "PractitionerRole/role1"}, []string{"Practitioner/pr2"}},
		{"deny naming the practitioner's organization", []string{
			`{"resourceType":"PractitionerRole","id":"role1","practitioner":{"reference":"Practitioner/pr1"},"organization":{"reference":"Organization/org1"}}`,
			consentDoc("c1", "p1", "active", `{"type":"deny","actor":[`+actor("Organization/org1")+`]}`)},
			[]string{"Practitioner/pr1", "PractitionerRole/role1"}, []string{"Practitioner/pr2"}},
		{"care team keeps access", []string{
			consentDoc("c1", "p1", "active", deny),
			`{"resourceType":"CareTeam","id":"ct1","status":"active","subject":{"reference":"Patient/p1"},"participant":[{"member":{"reference":"Practitioner/pr1"}}]}`},
			[]string{"Practitioner/pr2"}, []string{"Practitioner/pr1"}},
		{"an inactive care team does not", []string{
			consentDoc("c1", "p1", "active", deny),
			`{"resourceType":"CareTeam","id":"ct1","status":"inactive","subject":{"reference":"Patient/p1"},"participant":[{"member":{"reference":"Practitioner/pr1"}}]}`},
			[]string{"Practitioner/pr1"}, nil},
		{"encounter participant keeps access", []string{
			consentDoc("c1", "p1", "active", deny),
			`{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"VR"},
				"subject":{"reference":"Patient/p1"},"participant":[{"individual":{"reference":"Practitioner/pr1"}}]}`},
			[]string{"Practitioner/pr2"}, []string{"Practitioner/pr1"}},
		{"service request performer keeps access", []string{
			consentDoc("c1", "p1", "active", deny),
			`{"resourceType":"ServiceRequest","id":"sr1","status":"active","intent":"order","subject":{"reference":"Patient/p1"},
				"requester":{"reference":"Practitioner/pr2"},"performer":[{"reference":"Practitioner/pr1"}]}`},
			nil, []string{"Practitioner/pr1", "Practitioner/pr2"}},
		{"care relation with another patient does not count", []string{
			consentDoc("c1", "p1", "active", deny),
			`{"resourceType":"CareTeam","id":"ct1","status":"active","subject":{"reference":"Patient/p2"},"participant":[{"member":{"reference":"Practitioner/pr1"}}]}`},
			[]string{"Practitioner/pr1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			for _, r := range tc.resources {
				f.put(t, r)
			}
			for i, user := range tc.denied {
				r := f.restrictions(t, professional(user, fmt.Sprint("tok-d", i)))
				if !slices.Equal(r.DeniedPatients, []string{"p1"}) || len(r.Overridden) > 0 {
					t.Errorf("%s: %+v, want p1 denied", user, r)
				}
			}
			for i, user := range tc.permitted {
				r := f.restrictions(t, professional(user, fmt.Sprint("tok-p", i)))
				if slices.Contains(r.DeniedPatients, "p1") || len(r.Overridden) > 0 {
					t.Errorf("%s: %+v, want p1 not denied", user, r)
				}
			}
		})
	}
}

// TestNotSubject: patients, backend services and the insecure principal
// are not restricted by consent.
func TestNotSubject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.put(t, consentDoc("c1", "p1", "active", `{"type":"deny"}`))
	for _, p := range []*authz.Principal{
		{TokenID: "t1", FHIRUser: "Patient/p1"},
		{TokenID: "t2", Subject: "his-backend", ClientID: "his-backend"},
		{Insecure: true, Subject: "insecure-no-auth"},
		nil,
	} {
		if r := f.restrictions(t, p); len(r.DeniedPatients) > 0 {
			t.Errorf("%+v is restricted: %+v", p, r)
		}
	}
}

// TestDenyAudited: an applied deny is recorded as a consent decision, once
// per token and patient.
func TestDenyAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.put(t, consentDoc("c1", "p1", "active", `{"type":"deny"}`))
	f.put(t, consentDoc("c2", "p2", "active", `{"type":"deny"}`))
	pr := professional("Practitioner/pr1", "tok1")
	for range 3 {
		f.restrictions(t, pr)
		f.policy.Invalidate()
	}
	decisions := url.Values{"subtype": {audit.SubtypeSystem + "|consent-decision"}}
	if n := f.count(t, "AuditEvent", decisions); n != 2 {
		t.Errorf("%d consent decisions recorded for two patients and one token, want 2", n)
	}
	events := f.find(t, "AuditEvent", url.Values{"subtype": {audit.SubtypeSystem + "|consent-decision"}, "patient": {"Patient/p1"}, "agent": {"Practitioner/pr1"}})
	if len(events) != 1 || !strings.Contains(string(events[0].Body), `"Consent/c1"`) || !strings.Contains(string(events[0].Body), `"deny"`) {
		t.Errorf("the decision about p1 does not name Consent/c1 and deny: %d events", len(events))
	}
	f.restrictions(t, professional("Practitioner/pr1", "tok2"))
	if n := f.count(t, "AuditEvent", decisions); n != 4 {
		t.Errorf("%d consent decisions after a second token, want 4", n)
	}
}

// TestBreakTheGlass: a professional stating ETREAT sees the denied patients
// as overridden; the access is audited and reported to the patient once
// per token.
func TestBreakTheGlass(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.put(t, patientJSON("p1"))
	f.put(t, practitionerJSON("pr1", "Lefebvre"))
	f.put(t, consentDoc("c1", "p1", "active", `{"type":"deny"}`))
	breakTheGlass(t, f)
}

func breakTheGlass(t *testing.T, f *fixture) {
	t.Helper()
	emergency := professional("Practitioner/pr1", "tok1")
	emergency.Purpose = authz.PurposeEmergency
	for range 3 {
		r := f.restrictions(t, emergency)
		if len(r.DeniedPatients) > 0 || !slices.Equal(r.Overridden, []string{"p1"}) {
			t.Fatalf("break-the-glass: %+v, want p1 overridden", r)
		}
		f.policy.Invalidate()
	}
	glass := url.Values{"subtype": {audit.SubtypeSystem + "|break-the-glass"}, "patient": {"Patient/p1"}, "agent": {"Practitioner/pr1"}}
	if n := f.count(t, "AuditEvent", glass); n != 1 {
		t.Errorf("%d break-the-glass events for one token, want 1", n)
	}
	sent := f.find(t, "Communication", url.Values{"subject": {"Patient/p1"}, "recipient": {"Patient/p1"}, "status": {"completed"}})
	if len(sent) != 1 {
		t.Fatalf("%d Communications to the patient, want 1", len(sent))
	}
	c := sent[0]
	if c.VersionID != 1 {
		t.Errorf("Communication at version %d, want 1", c.VersionID)
	}
	if _, err := model.Parse(c.Body); err != nil {
		t.Errorf("the Communication is not valid: %v", err)
	}
	for _, want := range []string{"Practitioner/pr1", "Dr Claire Lefebvre", "emergency", `"sender":{"reference":"Practitioner/pr1"}`} {
		if !strings.Contains(string(c.Body), want) {
			t.Errorf("the Communication does not say %q: %s", want, c.Body)
		}
	}

	// The same professional without ETREAT is denied; another token
	// breaking the glass is recorded again.
	if r := f.restrictions(t, professional("Practitioner/pr1", "tok1")); !slices.Equal(r.DeniedPatients, []string{"p1"}) {
		t.Errorf("without ETREAT: %+v, want p1 denied", r)
	}
	again := professional("Practitioner/pr1", "tok2")
	again.Purpose = authz.PurposeEmergency
	f.restrictions(t, again)
	if n := f.count(t, "AuditEvent", glass); n != 2 {
		t.Errorf("%d break-the-glass events for two tokens, want 2", n)
	}
	if n := f.count(t, "Communication", url.Values{"subject": {"Patient/p1"}}); n != 2 {
		t.Errorf("%d Communications for two tokens, want 2", n)
	}

	// A non-professional cannot break the glass.
	related := professional("RelatedPerson/rp1", "tok3")
	related.Purpose = authz.PurposeEmergency
	if r := f.restrictions(t, related); !slices.Equal(r.DeniedPatients, []string{"p1"}) || len(r.Overridden) > 0 {
		t.Errorf("RelatedPerson with ETREAT: %+v, want p1 denied", r)
	}
	rep, err := audit.Verify(context.Background(), f.st)
	if err != nil || !rep.OK() {
		t.Errorf("audit chain: %+v %v", rep, err)
	}
}

// TestFailClosed: when the audit cannot be recorded, Restrictions fails
// (and the request with it) instead of denying or overriding silently; it
// records once the auditor works again.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.put(t, consentDoc("c1", "p1", "active", `{"type":"deny"}`))
	closed, err := audit.NewRecorder(f.st, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	f.policy.opts.Auditor = closed
	emergency := professional("Practitioner/pr1", "tok1")
	emergency.Purpose = authz.PurposeEmergency
	for _, p := range []*authz.Principal{professional("Practitioner/pr1", "tok1"), emergency} {
		if r, err := f.policy.Restrictions(context.Background(), p); err == nil {
			t.Errorf("Restrictions with a closed recorder: %+v, want an error", r)
		}
	}
	if n := f.count(t, "Communication", url.Values{"subject": {"Patient/p1"}}); n != 0 {
		t.Errorf("%d Communications written although the access was not audited", n)
	}
	f.policy.opts.Auditor = f.rec
	if r := f.restrictions(t, emergency); !slices.Equal(r.Overridden, []string{"p1"}) {
		t.Errorf("after the auditor recovers: %+v", r)
	}
	if n := f.count(t, "AuditEvent", url.Values{"subtype": {audit.SubtypeSystem + "|break-the-glass"}}); n != 1 {
		t.Errorf("%d break-the-glass events after recovery, want 1", n)
	}
}

// TestStaleness: answers are cached for TTL; Invalidate makes a change
// visible at once, and without it the change is seen after TTL (the
// Consent history is read again), deletions included.
func TestStaleness(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pr := professional("Practitioner/pr1", "tok1")
	if r := f.restrictions(t, pr); len(r.DeniedPatients) > 0 {
		t.Fatalf("no consent: %+v", r)
	}
	f.put(t, consentDoc("c1", "p1", "active", `{"type":"deny"}`))
	if r := f.restrictions(t, pr); len(r.DeniedPatients) > 0 {
		t.Errorf("a cached answer should last TTL: %+v", r)
	}
	f.now = f.now.Add(f.policy.opts.TTL)
	if r := f.restrictions(t, pr); !slices.Equal(r.DeniedPatients, []string{"p1"}) {
		t.Errorf("after TTL: %+v, want p1 denied", r)
	}
	f.put(t, consentDoc("c1", "p1", "inactive", `{"type":"deny"}`))
	f.policy.Invalidate()
	if r := f.restrictions(t, pr); len(r.DeniedPatients) > 0 {
		t.Errorf("after an invalidated update to inactive: %+v", r)
	}
	f.put(t, consentDoc("c1", "p1", "active", `{"type":"deny"}`))
	f.put(t, consentDoc("c2", "p2", "active", `{"type":"deny"}`))
	f.policy.Invalidate()
	if r := f.restrictions(t, pr); joinIDs(r.DeniedPatients) != "p1,p2" {
		t.Errorf("after two denies: %+v", r)
	}
	f.remove(t, "Consent", "c1")
	f.now = f.now.Add(f.policy.opts.TTL)
	if r := f.restrictions(t, pr); joinIDs(r.DeniedPatients) != "p2" {
		t.Errorf("after deleting c1 and TTL: %+v, want p2 only", r)
	}
}

// TestManyPatients: care relations are searched in chunks when many
// patients deny everyone.
func TestManyPatients(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 2*patientsPerQuery + 5
	for i := range n {
		f.put(t, consentDoc(fmt.Sprint("c", i), fmt.Sprint("p", i), "active", `{"type":"deny"}`))
	}
	f.put(t, `{"resourceType":"CareTeam","id":"ct1","status":"active","subject":{"reference":"Patient/p`+fmt.Sprint(n-1)+`"},"participant":[{"member":{"reference":"Practitioner/pr1"}}]}`)
	f.put(t, `{"resourceType":"CareTeam","id":"ct2","status":"active","subject":{"reference":"Patient/p3"},"participant":[{"member":{"reference":"Practitioner/pr1"}}]}`)
	f.put(t, `{"resourceType":"CareTeam","id":"ct3","status":"active","subject":{"reference":"Patient/unrelated"},"participant":[{"member":{"reference":"Practitioner/pr1"}}]}`)
	for _, limit := range []int{maxRelations, 1} { // by caller, then by patients
		f.policy.relationsLimit = limit
		f.policy.Invalidate()
		r := f.restrictions(t, professional("Practitioner/pr1", "tok1"))
		if len(r.DeniedPatients) != n-2 || slices.Contains(r.DeniedPatients, fmt.Sprint("p", n-1)) || slices.Contains(r.DeniedPatients, "p3") {
			t.Errorf("limit %d: %d patients denied, want %d (all but the care teams')", limit, len(r.DeniedPatients), n-2)
		}
	}
}

// TestConcurrentGlass: many concurrent requests of one token breaking the
// glass, through two policies (two nodes) on one store, record one event
// and one Communication.
func TestConcurrentGlass(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.put(t, consentDoc("c1", "p1", "active", `{"type":"deny"}`))
	other := f.newPolicy(Options{Auditor: f.rec})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := f.policy
			if i%2 == 1 {
				p = other
			}
			pr := professional("Practitioner/pr1", "tok1")
			pr.Purpose = authz.PurposeEmergency
			r, err := p.Restrictions(context.Background(), pr)
			if err == nil && !slices.Equal(r.Overridden, []string{"p1"}) {
				err = fmt.Errorf("answer %+v", r)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count(t, "AuditEvent", url.Values{"subtype": {audit.SubtypeSystem + "|break-the-glass"}}); n != 1 {
		t.Errorf("%d break-the-glass events, want 1", n)
	}
	if n := f.count(t, "Communication", url.Values{"subject": {"Patient/p1"}}); n != 1 {
		t.Errorf("%d Communications, want 1", n)
	}
}
