package fhir

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
)

// deniedPolicy is a consent policy with fixed answers: the filter under
// test is the FHIR layer's, not the policy's.
type deniedPolicy struct{ r authz.Restrictions }

func (p deniedPolicy) Restrictions(context.Context, *authz.Principal) (authz.Restrictions, error) {
	return p.r, nil
}

// consentServer stores Alice's, Bob's and Carol's data through an open
// server, then serves the same store to an all-powerful caller whose
// access Bob's consent denies and Carol's would, had the caller not broken
// the glass.
func consentServer(t *testing.T, open *testServer) *testServer {
	for _, p := range []string{"alice", "bob", "carol"} {
		open.do(http.MethodPut, "/fhir/Patient/"+p, `{"resourceType":"Patient","id":"`+p+`","name":[{"family":"`+p+`"}]}`)
		open.do(http.MethodPut, "/fhir/Observation/"+p+"-1", `{"resourceType":"Observation","id":"`+p+`-1","status":"final",`+
			`"code":{"text":"x"},"subject":{"reference":"Patient/`+p+`"}}`)
	}
	return newTestServerOn(t, open.store, Options{
		Auth:    &authz.Authenticator{Insecure: true},
		Consent: deniedPolicy{authz.Restrictions{DeniedPatients: []string{"bob", "carol"}, Overridden: []string{"carol"}}},
	})
}

func TestConsentFilter(t *testing.T) {
	testConsentFilter(t, consentServer(t, newTestServer(t, Options{})))
}

// TestConsentFilterMongo runs the same filter on the Mongo backend: its
// negated conditions are what keeps the denied compartments out.
func TestConsentFilterMongo(t *testing.T) {
	testConsentFilter(t, consentServer(t, newMongoTestServer(t, "fhirconsent", Options{})))
}

func testConsentFilter(t *testing.T, ts *testServer) {
	tests := []struct {
		name, method, path, body string
		status                   int
		total                    int // -1: not a searchset
	}{
		{"read a denied Patient", "GET", "/fhir/Patient/bob", "", 403, -1},
		{"read in a denied compartment", "GET", "/fhir/Observation/bob-1", "", 403, -1},
		{"vread in a denied compartment", "GET", "/fhir/Observation/bob-1/_history/1", "", 403, -1},
		{"read an allowed Patient", "GET", "/fhir/Patient/alice", "", 200, -1},
		{"read an overridden Patient", "GET", "/fhir/Patient/carol", "", 200, -1},
		{"search Patients", "GET", "/fhir/Patient", "", 200, 2},
		{"search Observations", "GET", "/fhir/Observation", "", 200, 2},
		{"search by the denied subject", "GET", "/fhir/Observation?subject=Patient/bob", "", 200, 0},
		{"search across types", "GET", "/fhir?_type=Patient,Observation", "", 200, 4},
		{"include", "GET", "/fhir/Observation?_include=Observation:subject", "", 200, 2},
		{"revinclude", "GET", "/fhir/Patient?_revinclude=Observation:subject", "", 200, 2},
		{"compartment", "GET", "/fhir/Patient/bob/Observation", "", 200, 0},
		{"$everything", "GET", "/fhir/Patient/bob/$everything", "", 403, -1},
		{"instance history", "GET", "/fhir/Patient/bob/_history", "", 403, -1},
		{"type history", "GET", "/fhir/Observation/_history", "", 403, -1},
		{"update in a denied compartment", "PUT", "/fhir/Observation/bob-1",
			`{"resourceType":"Observation","id":"bob-1","status":"final","code":{"text":"y"},"subject":{"reference":"Patient/alice"}}`, 403, -1},
		{"create in a denied compartment", "POST", "/fhir/Observation",
			`{"resourceType":"Observation","status":"final","code":{"text":"y"},"subject":{"reference":"Patient/bob"}}`, 403, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(tt.method, tt.path, tt.body)
			if r.Code != tt.status {
				t.Fatalf("%s %s: %d, want %d: %s", tt.method, tt.path, r.Code, tt.status, r.Body.String())
			}
			body := r.Body.String()
			if tt.status == 403 && !strings.Contains(body, "consent") {
				t.Errorf("403 does not say consent denies: %s", body)
			}
			if tt.total >= 0 {
				if got, _ := r.json["total"].(float64); int(got) != tt.total {
					t.Errorf("total %v, want %d", r.json["total"], tt.total)
				}
				if strings.Contains(body, `"id":"bob`) {
					t.Errorf("Bob's data in the answer: %s", body)
				}
			}
		})
	}
	t.Run("batch entry", func(t *testing.T) {
		r := ts.do("POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[
			{"request":{"method":"GET","url":"Observation/bob-1"}},
			{"request":{"method":"GET","url":"Observation/alice-1"}}]}`)
		body := r.Body.String()
		if r.Code != 200 || !strings.Contains(body, `"status":"403`) || !strings.Contains(body, `"status":"200`) || strings.Contains(body, `"id":"bob-1"`) {
			t.Errorf("batch: %d %s", r.Code, body)
		}
	})
}

// TestAuditEventsAppendOnly: nobody changes the audit trail through the
// API, an open server included, nor inside a Bundle.
func TestAuditEventsAppendOnly(t *testing.T) {
	ts := newTestServer(t, Options{})
	for _, method := range []string{"PUT", "PATCH", "DELETE"} {
		body := ""
		if method != "DELETE" {
			body = `{"resourceType":"AuditEvent","id":"audit-1"}`
		}
		if r := ts.do(method, "/fhir/AuditEvent/audit-1", body); r.Code != http.StatusMethodNotAllowed || !strings.Contains(r.Body.String(), "OperationOutcome") {
			t.Errorf("%s AuditEvent: %d %s", method, r.Code, r.Body.String())
		}
	}
	// Another system's event may be stored under its own id, once.
	other := `{"resourceType":"AuditEvent","id":"ext-1","type":{"code":"rest"},"recorded":"2026-01-01T00:00:00Z","agent":[{"requestor":true}],"source":{"observer":{"display":"x"}}}`
	if r := ts.do("PUT", "/fhir/AuditEvent/ext-1", other); r.Code != http.StatusCreated {
		t.Errorf("PUT creating an AuditEvent: %d %s", r.Code, r.Body.String())
	}
	if r := ts.do("PUT", "/fhir/AuditEvent/ext-1", other); r.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT updating an AuditEvent: %d %s", r.Code, r.Body.String())
	}
	if r := ts.do("DELETE", "/fhir/AuditEvent?_id=audit-1", ""); r.Code != http.StatusMethodNotAllowed {
		t.Errorf("conditional delete of AuditEvents: %d %s", r.Code, r.Body.String())
	}
	r := ts.do("POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"DELETE","url":"AuditEvent/audit-1"}}]}`)
	if !strings.Contains(r.Body.String(), `"status":"405`) {
		t.Errorf("batch delete of an AuditEvent: %s", r.Body.String())
	}
}

// TestAuditFailClosed: every interaction is recorded before its answer
// leaves, and when the trail cannot be written the answer is withheld.
func TestAuditFailClosed(t *testing.T) {
	open := newTestServer(t, Options{})
	open.do(http.MethodPut, "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1","name":[{"family":"Secretname"}]}`)
	recorder, err := audit.NewRecorder(open.store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServerOn(t, open.store, Options{Auth: &authz.Authenticator{Insecure: true}, Audit: recorder})
	if r := ts.do("GET", "/fhir/Patient/p1", ""); r.Code != 200 {
		t.Fatalf("read: %d %s", r.Code, r.Body.String())
	}
	if r := ts.do("GET", "/fhir/Observation?subject=Patient/p1", ""); r.Code != 200 {
		t.Fatalf("search: %d %s", r.Code, r.Body.String())
	}
	r := ts.do("GET", "/fhir/AuditEvent?patient=Patient/p1", "")
	if got, _ := r.json["total"].(float64); r.Code != 200 || got != 2 {
		t.Fatalf("audit events about p1: %d, total %v, want 2 (the read and the search): %s", r.Code, r.json["total"], r.Body.String())
	}
	// A batch records one event per entry.
	ts.do("POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[
		{"request":{"method":"GET","url":"Patient/p1"}},
		{"request":{"method":"GET","url":"Observation?subject=Patient/p1"}}]}`)
	r = ts.do("GET", "/fhir/AuditEvent?patient=Patient/p1", "")
	// The read and the search, this search of AuditEvents, the two entries.
	if got, _ := r.json["total"].(float64); got != 5 {
		t.Errorf("audit events about p1 after a batch of two reads: %v, want 5", r.json["total"])
	}
	recorder.Close()
	r = ts.do("GET", "/fhir/Patient/p1", "")
	if r.Code != http.StatusInternalServerError || strings.Contains(r.Body.String(), "Secretname") || r.Header().Get("ETag") != "" {
		t.Errorf("read with a broken audit trail: %d %v %s", r.Code, r.Header(), r.Body.String())
	}
}
