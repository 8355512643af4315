package fhir

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/telehub/telehub/audit"
)

// countingAuditor records nothing and counts the Syncs the server asks for.
type countingAuditor struct{ syncs atomic.Int32 }

func (a *countingAuditor) Record(context.Context, audit.Event) error { return nil }
func (a *countingAuditor) Sync(context.Context) error {
	a.syncs.Add(1)
	return nil
}

func TestAuditTrailSyncedBeforeItIsRead(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		sync         bool
	}{
		{http.MethodGet, "/fhir/AuditEvent", true},
		{http.MethodGet, "/fhir/AuditEvent/audit-1", true},
		{http.MethodGet, "/fhir/AuditEvent/_history", true},
		{http.MethodGet, "/fhir?_type=AuditEvent,Patient", true},
		{http.MethodGet, "/fhir/$verify-audit", true},
		{http.MethodGet, "/fhir/Patient", false},
		{http.MethodGet, "/fhir/Observation/1", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			a := &countingAuditor{}
			ts := newTestServer(t, Options{Audit: a})
			ts.do(tc.method, tc.path, "")
			if got := a.syncs.Load() > 0; got != tc.sync {
				t.Errorf("%s %s synced the audit trail: %v, want %v", tc.method, tc.path, got, tc.sync)
			}
		})
	}
}

func TestAuditEventUnindexedParameters(t *testing.T) {
	ts := newTestServer(t, Options{})
	res := ts.do(http.MethodGet, "/fhir/AuditEvent?address=127.0.0.1&outcome=0", "")
	if res.Code != http.StatusOK {
		t.Fatalf("search: %d %s", res.Code, res.Body)
	}
	body := res.Body.String()
	if !strings.Contains(body, "address") || !strings.Contains(body, "not searchable") {
		t.Errorf("address not reported as unsupported: %s", body)
	}
	if strings.Contains(body, `"outcome" `) {
		t.Errorf("outcome reported: %s", body)
	}
	strict := ts.do(http.MethodGet, "/fhir/AuditEvent?address=127.0.0.1", "", "Prefer", "handling=strict")
	if strict.Code != http.StatusBadRequest {
		t.Errorf("strict search by address: %d, want 400", strict.Code)
	}
}

func TestAuditEventUnsortableParameters(t *testing.T) {
	ts := newTestServer(t, Options{})
	res := ts.do(http.MethodGet, "/fhir/AuditEvent?_sort=outcome,-date", "")
	if res.Code != http.StatusOK {
		t.Fatalf("search: %d %s", res.Code, res.Body)
	}
	if body := res.Body.String(); !strings.Contains(body, "cannot be sorted by") || !strings.Contains(body, "outcome") {
		t.Errorf("sort by outcome not reported as unsupported: %s", body)
	}
	if res := ts.do(http.MethodGet, "/fhir/AuditEvent?_sort=-date", "", "Prefer", "handling=strict"); res.Code != http.StatusOK {
		t.Errorf("strict sort by date: %d %s", res.Code, res.Body)
	}
	if res := ts.do(http.MethodGet, "/fhir/AuditEvent?_sort=action", "", "Prefer", "handling=strict"); res.Code != http.StatusBadRequest {
		t.Errorf("strict sort by action: %d, want 400", res.Code)
	}
	if res := ts.do(http.MethodGet, "/fhir/Encounter?_sort=type", "", "Prefer", "handling=strict"); res.Code != http.StatusOK {
		t.Errorf("strict sort of Encounter by type: %d %s", res.Code, res.Body)
	}
}

// TestAuditTrailSearchesNotSupported: with the AuditEvents in the audit
// trail, a sorted search of AuditEvent with other types, and _has on
// AuditEvent, are answered 400 not-supported; the same search unsorted
// finds both.
func TestAuditTrailSearchesNotSupported(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.do(http.MethodPut, "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1"}`)
	ts.do(http.MethodPost, "/fhir/AuditEvent", `{"resourceType":"AuditEvent","type":{"code":"rest"},"recorded":"2026-01-01T00:00:00Z","agent":[{"requestor":true,"who":{"reference":"Patient/p1"}}],"source":{"observer":{"display":"x"}}}`)
	res := ts.do(http.MethodGet, "/fhir?_type=AuditEvent,Patient", "")
	if got, _ := res.json["total"].(float64); res.Code != http.StatusOK || got != 2 {
		t.Fatalf("search of AuditEvent and Patient: %d, total %v: %s", res.Code, res.json["total"], res.Body)
	}
	for _, path := range []string{"/fhir?_type=AuditEvent,Patient&_sort=_lastUpdated", "/fhir/AuditEvent?_has:Provenance:target:agent=Patient/p1"} {
		res := ts.do(http.MethodGet, path, "")
		if body := res.Body.String(); res.Code != http.StatusBadRequest || !strings.Contains(body, "not-supported") || !strings.Contains(body, "not") {
			t.Errorf("%s: %d %s, want 400 not-supported", path, res.Code, body)
		}
	}
}
