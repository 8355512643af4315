package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestExplainAsServed: _explain=true answers the store's plan through the
// layers a served store is wrapped in (change events, the audit trail's
// search rewriting), not only on a bare store.
func TestExplainAsServed(t *testing.T) {
	t.Parallel()
	p := startWithBootstrap(t, "--data", t.TempDir(), "--demo=false")
	bearer := p.backendToken("system/*.cruds")
	status, out := p.fhir(bearer, http.MethodGet, "/Patient?name=dup&_explain=true", "")
	if status != http.StatusOK {
		t.Fatalf("_explain as served: %d %v", status, out)
	}
	issues, _ := out["issue"].([]any)
	if len(issues) == 0 {
		t.Fatalf("_explain answered no issue: %v", out)
	}
	diagnostics, _ := issues[0].(map[string]any)["diagnostics"].(string)
	if !strings.Contains(diagnostics, "plan of the search") || !strings.Contains(diagnostics, "idx_") {
		t.Fatalf("_explain answered no SQLite plan: %q", diagnostics)
	}
}
