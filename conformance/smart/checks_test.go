package smart_test

import (
	"testing"

	"github.com/telehub/telehub/internal/e2e"
	"github.com/telehub/telehub/smart"
)

// checkResult is one line of a script's check list.
type checkResult struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// TestInfernoLikeChecks runs checks.mjs, a check list in the manner of
// Inferno's SMART App Launch suite, against a confidential app and a
// patient's account.
func TestInfernoLikeChecks(t *testing.T) {
	node, modules := e2e.Node(t, "jose")
	h := startHub(t)
	const redirect = "http://127.0.0.1:9/callback" // never visited: the script reads the redirect
	secret := h.addClient(t, smart.NewClient{
		ID: "inferno-like", Name: "Check list", AuthMethod: smart.AuthSecretBasic, RedirectURIs: []string{redirect},
		Scopes:     []string{"launch/patient", "openid", "fhirUser", "offline_access", "patient/*.rs"},
		GrantTypes: []string{smart.GrantAuthorizationCode, smart.GrantRefreshToken},
	})
	var out struct{ Checks []checkResult }
	runNode(t, node, modules, "checks.mjs", map[string]string{
		"FHIR_URL": h.fhirBase, "CLIENT_ID": "inferno-like", "CLIENT_SECRET": secret, "REDIRECT_URI": redirect,
		"USERNAME": patUsername, "PASSWORD": patPassword, "PATIENT_ID": h.otherPatientID, "FHIR_USER": "Patient/" + h.otherPatientID,
	}, &out)
	reportChecks(t, out.Checks, 17)
}

// reportChecks fails the test for each failed check, and when fewer than
// want ran (a script that stopped early).
func reportChecks(t *testing.T, checks []checkResult, want int) {
	t.Helper()
	for _, c := range checks {
		if !c.OK {
			t.Errorf("check failed: %s: %s", c.Name, c.Detail)
		}
	}
	if len(checks) < want {
		t.Errorf("%d checks ran, want %d", len(checks), want)
	}
}
