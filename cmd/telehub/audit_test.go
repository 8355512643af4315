package main

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/store"
)

// TestAuditChainOnTheServer records a server's audit trail through its API,
// verifies it with $verify-audit, then tampers with an AuditEvent directly
// in the database, beside the API, and sees the operation report it.
func TestAuditChainOnTheServer(t *testing.T) {
	t.Parallel()
	p := startWithBootstrap(t, "--data", t.TempDir(), "--demo=false")
	bearer := p.backendToken("system/*.cruds")
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		return p.fhir(bearer, method, path, body)
	}
	for range 5 {
		if status, out := call(http.MethodPost, "/Patient", `{"resourceType":"Patient","active":true}`); status != http.StatusCreated {
			t.Fatalf("create: %d %v", status, out)
		}
	}
	call(http.MethodGet, "/Patient?active=true", "")

	intact := func() (bool, map[string]any) {
		t.Helper()
		status, out := call(http.MethodGet, "/$verify-audit", "")
		if status != http.StatusOK {
			t.Fatalf("$verify-audit: %d %v", status, out)
		}
		for _, prm := range out["parameter"].([]any) {
			if m := prm.(map[string]any); m["name"] == "intact" {
				return m["valueBoolean"] == true, out
			}
		}
		t.Fatalf("$verify-audit without intact: %v", out)
		return false, nil
	}
	if ok, out := intact(); !ok {
		t.Fatalf("a fresh audit trail is not intact: %v", out)
	}

	// The API refuses to change an AuditEvent; the database does not.
	ctx := context.Background()
	id := audit.EventID(2)
	if status, _ := call(http.MethodDelete, "/AuditEvent/"+id, ""); status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE of an AuditEvent: %d, want 405", status)
	}
	res, err := p.srv.data.Read(ctx, "AuditEvent", id)
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Replace(res.Body, []byte(`"outcome":"0"`), []byte(`"outcome":"4"`), 1)
	if bytes.Equal(forged, res.Body) {
		forged = bytes.Replace(res.Body, []byte(`"recorded":"`), []byte(`"recorded":"1`), 1)
	}
	if err := p.srv.data.Commit(ctx, []store.Write{{Type: "AuditEvent", ID: id, Version: res.VersionID + 1,
		LastUpdated: res.LastUpdated, Method: http.MethodPut, Body: forged}}); err != nil {
		t.Fatal(err)
	}
	ok, out := intact()
	if ok {
		t.Fatalf("$verify-audit missed the forged %s: %v", id, out)
	}
	var brk map[string]any
	for _, prm := range out["parameter"].([]any) {
		if m := prm.(map[string]any); m["name"] == "break" {
			brk = m
		}
	}
	if brk == nil {
		t.Fatalf("no break reported: %v", out)
	}
	for _, part := range brk["part"].([]any) {
		m := part.(map[string]any)
		if m["name"] == "event" && m["valueReference"].(map[string]any)["reference"] != "AuditEvent/"+id {
			t.Errorf("break names %v, want AuditEvent/%s", m["valueReference"], id)
		}
	}
}
