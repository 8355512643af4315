package smart

import (
	"net/http"
	"net/url"
	"testing"
)

// TestRefreshWithoutClientID: a public client may refresh without naming
// itself (as fhirclient does); a confidential client's refresh token still
// needs the client's credentials.
func TestRefreshWithoutClientID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addAppClient("public-app", AuthNone)
	secret := e.addAppClient("confidential-app", AuthSecretBasic)
	e.addUser("pat1", "Patient/p1")
	e.addUser("pat2", "Patient/p1")
	scope := "launch/patient patient/Observation.rs offline_access"

	pub := e.codeFlow("public-app", "", "pat1", scope)
	status, out := e.post("/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pub["refresh_token"].(string)}}, "", "")
	if status != http.StatusOK || out["access_token"] == nil || out["patient"] != "p1" {
		t.Fatalf("public refresh without client_id: %d %v", status, out)
	}

	conf := e.codeFlow("confidential-app", secret, "pat2", scope)
	status, out = e.post("/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {conf["refresh_token"].(string)}}, "", "")
	if status != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Errorf("confidential refresh without credentials: %d %v, want 401 invalid_client", status, out)
	}
	status, out = e.post("/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"no-such-token"}}, "", "")
	if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("unknown refresh token without client: %d %v, want 400 invalid_grant", status, out)
	}
	// The confidential client's token was not used up by the refused request.
	status, out = e.post("/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {conf["refresh_token"].(string)}}, "confidential-app", secret)
	if status != http.StatusOK {
		t.Errorf("confidential refresh with credentials: %d %v", status, out)
	}
}
