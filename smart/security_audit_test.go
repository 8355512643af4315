package smart

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSecurityAudit checks that logins (failed and successful), tokens
// issued and tokens revoked reach a real audit recorder, and that a
// revoked access token is seen by Revoked and moves RevocationEpoch.
func TestSecurityAudit(t *testing.T) {
	t.Parallel()
	trail := &auditTrail{}
	e := newEnv(t, func(c *Config) { c.Audit = trail })
	trail.start(t, e.store)
	secret := e.addAppClient("app", AuthSecretPost)
	e.addUser("pat1", "Patient/p1")
	ctx := context.Background()

	_, challenge := pkce()
	if resp, _ := e.browser().login(e.authorizeParams("app", "openid patient/*.rs", challenge), "pat1", "wrong password!", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad login: %s", resp.Status)
	}
	failed := trail.find(t, "110122")
	if failed["outcome"] != "4" || !strings.Contains(failed["outcomeDesc"].(string), "invalid username") {
		t.Errorf("failed login audited as %v", failed)
	}

	tok := e.codeFlowPost("app", secret, "pat1", "launch/patient patient/Observation.rs offline_access")
	login := trail.find(t, "110122")
	if login["outcome"] != "0" || login["outcomeDesc"] != "password" {
		t.Errorf("login audited as %v", login)
	}
	issued := trail.find(t, "token-issued")
	if !strings.Contains(mustJSON(t, issued), "patient/Observation.rs") || !strings.Contains(mustJSON(t, issued), "Patient/p1") {
		t.Errorf("token issue audited without its scope or patient: %v", issued)
	}

	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {"app"}, "client_secret": {secret}}
	status, refreshed := e.post("/auth/token", form, "", "")
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, refreshed)
	}
	epoch0, err := e.srv.RevocationEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at, err := e.srv.VerifyAccessToken(ctx, refreshed["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if revoked, err := e.srv.Revoked(ctx, at.ID); err != nil || revoked {
		t.Fatalf("Revoked before revocation: %v %v", revoked, err)
	}
	for _, token := range []string{refreshed["access_token"].(string), refreshed["refresh_token"].(string)} {
		if status, out := e.post("/auth/revoke", url.Values{"token": {token}, "client_id": {"app"}, "client_secret": {secret}}, "", ""); status != http.StatusOK {
			t.Fatalf("revoke: %d %v", status, out)
		}
	}
	if revoked, err := e.srv.Revoked(ctx, at.ID); err != nil || !revoked {
		t.Errorf("Revoked after revocation: %v %v", revoked, err)
	}
	if epoch, err := e.srv.RevocationEpoch(ctx); err != nil || epoch <= epoch0 {
		t.Errorf("RevocationEpoch %d after a revocation, was %d (%v)", epoch, epoch0, err)
	}
	// Revoking the refresh token revoked the grant's other access tokens.
	if _, err := e.srv.VerifyAccessToken(ctx, tok["access_token"].(string)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("the grant's first access token after its revocation: %v", err)
	}

	// A client failing to authenticate is a failed login of that client.
	if status, _ := e.post("/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, "app", "not the secret"); status != http.StatusUnauthorized {
		t.Errorf("wrong client secret: %d", status)
	}
	clientFail := mustJSON(t, trail.find(t, "110122"))
	if !strings.Contains(clientFail, "client authentication") || !strings.Contains(clientFail, `"value":"app"`) {
		t.Errorf("client authentication failure audited as %s", clientFail)
	}

	want := []string{"110122", "110122", "token-issued", "token-issued", "token-revoked", "token-revoked", "110122"}
	if got := trail.subtypes(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("audited %v, want %v", got, want)
	}
	revoked := mustJSON(t, trail.events[4])
	if !strings.Contains(revoked, at.ID) {
		t.Errorf("access token revocation audited without its jti: %s", revoked)
	}
	if strings.Contains(revoked, refreshed["access_token"].(string)) {
		t.Error("the audit trail holds a token")
	}
	trail.verify(t, e.store)
}

// TestAuditFailClosed: when the audit trail cannot be written, no login
// succeeds and no token is handed out.
func TestAuditFailClosed(t *testing.T) {
	t.Parallel()
	trail := &auditTrail{}
	e := newEnv(t, func(c *Config) { c.Audit = trail })
	trail.start(t, e.store)
	e.addAppClient("app", AuthNone)
	e.addUser("pat1", "Patient/p1")

	// An authorization code obtained while the trail works...
	verifier, challenge := pkce()
	b := e.browser()
	resp, _ := b.login(e.authorizeParams("app", "openid patient/*.rs", challenge), "pat1", testPassword, "")
	code := b.consent(resp, nil, "").Query().Get("code")

	// ...is not redeemed once it fails.
	trail.rec.Close()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}, "client_id": {"app"}}
	if status, out := e.post("/auth/token", form, "", ""); status != http.StatusInternalServerError || out["access_token"] != nil {
		t.Errorf("token with a failing audit: %d %v, want 500 without token", status, out)
	}
	_, challenge = pkce()
	if resp, _ := e.browser().login(e.authorizeParams("app", "openid patient/*.rs", challenge), "pat1", testPassword, ""); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("login with a failing audit: %s, want 500", resp.Status)
	}
	if resp, _ := e.browser().login(e.authorizeParams("app", "openid patient/*.rs", challenge), "pat1", "wrong password!", ""); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("failed login with a failing audit: %s, want 500", resp.Status)
	}
}

func mustJSON(t *testing.T, v map[string]any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
