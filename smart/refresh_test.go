package smart

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
)

// TestRefreshRotation checks refresh tokens rotate, that a reused one
// revokes the grant, that scope can narrow but not widen, and revocation.
func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret := e.addAppClient("app", AuthSecretPost)
	e.addAppClient("other", AuthNone)
	for _, u := range []string{"u1", "u2", "u3", "u4"} {
		e.addUser(u, "Patient/p1")
	}
	scope := "launch/patient patient/Observation.rs patient/Condition.rs offline_access"
	refresh := func(token, scope string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {"app"}, "client_secret": {secret}}
		if scope != "" {
			form.Set("scope", scope)
		}
		return e.post("/auth/token", form, "", "")
	}
	t.Run("rotation and reuse", func(t *testing.T) {
		e.t = t
		first := e.codeFlowPost("app", secret, "u1", scope)
		status, second := refresh(first["refresh_token"].(string), "")
		if status != http.StatusOK || second["refresh_token"] == first["refresh_token"] || second["scope"] != scope || second["patient"] != "p1" {
			t.Fatalf("refresh: %d %v", status, second)
		}
		status, third := refresh(second["refresh_token"].(string), "")
		if status != http.StatusOK {
			t.Fatalf("second refresh: %d %v", status, third)
		}
		// Reusing a rotated token revokes the whole grant, the newest token included.
		if status, out := refresh(first["refresh_token"].(string), ""); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Errorf("reuse: %d %v, want invalid_grant", status, out)
		}
		if status, out := refresh(third["refresh_token"].(string), ""); status != http.StatusBadRequest {
			t.Errorf("newest token after reuse: %d %v, want invalid_grant", status, out)
		}
		// The grant's live access tokens are revoked with it.
		for i, tok := range []map[string]any{first, second, third} {
			if _, err := e.srv.VerifyAccessToken(context.Background(), tok["access_token"].(string)); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("access token %d after the reuse: %v, want revoked", i, err)
			}
		}
	})

	t.Run("scope", func(t *testing.T) {
		e.t = t
		tok := e.codeFlowPost("app", secret, "u2", scope)
		rt := tok["refresh_token"].(string)
		status, out := refresh(rt, "patient/Observation.rs patient/Patient.rs")
		if status != http.StatusBadRequest || out["error"] != "invalid_scope" {
			t.Errorf("escalation: %d %v, want invalid_scope", status, out)
		}
		status, out = refresh(rt, "patient/Observation.r")
		if status != http.StatusOK || out["scope"] != "patient/Observation.r" {
			t.Fatalf("narrowing: %d %v", status, out)
		}
		// The new refresh token keeps the whole grant.
		status, out = refresh(out["refresh_token"].(string), "")
		if status != http.StatusOK || out["scope"] != scope {
			t.Errorf("after narrowing: %d scope %v, want %q", status, out["scope"], scope)
		}
	})

	t.Run("another client", func(t *testing.T) {
		e.t = t
		tok := e.codeFlowPost("app", secret, "u3", scope)
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {"other"}}
		if status, out := e.post("/auth/token", form, "", ""); status != http.StatusBadRequest {
			t.Errorf("refresh by another client: %d %v", status, out)
		}
		wrong := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {"app"}, "client_secret": {"wrong"}}
		if status, out := e.post("/auth/token", wrong, "", ""); status != http.StatusUnauthorized || out["error"] != "invalid_client" {
			t.Errorf("wrong secret: %d %v, want 401 invalid_client", status, out)
		}
	})

	t.Run("revocation and introspection", func(t *testing.T) {
		e.t = t
		tok := e.codeFlowPost("app", secret, "u4", scope)
		creds := url.Values{"client_id": {"app"}, "client_secret": {secret}}
		introspect := func(token string) map[string]any {
			form := url.Values{"token": {token}}
			for k, v := range creds {
				form[k] = v
			}
			status, out := e.post("/auth/introspect", form, "", "")
			if status != http.StatusOK {
				t.Fatalf("introspect: %d %v", status, out)
			}
			return out
		}
		access, rt := tok["access_token"].(string), tok["refresh_token"].(string)
		if got := introspect(access); got["active"] != true || got["scope"] != scope || got["patient"] != "p1" || got["client_id"] != "app" {
			t.Errorf("introspect access token = %v", got)
		}
		if got := introspect(rt); got["active"] != true || got["token_type"] != "refresh_token" {
			t.Errorf("introspect refresh token = %v", got)
		}
		if got := introspect("garbage"); got["active"] != false || len(got) != 1 {
			t.Errorf("introspect garbage = %v, want only active false", got)
		}
		for _, token := range []string{rt, access, "unknown-token"} {
			form := url.Values{"token": {token}, "client_id": {"app"}, "client_secret": {secret}}
			if status, out := e.post("/auth/revoke", form, "", ""); status != http.StatusOK {
				t.Fatalf("revoke: %d %v", status, out)
			}
		}
		if got := introspect(rt); got["active"] != false {
			t.Errorf("revoked refresh token introspects as %v", got)
		}
		if got := introspect(access); got["active"] != false {
			t.Errorf("revoked access token introspects as %v", got)
		}
		if _, err := e.srv.VerifyAccessToken(context.Background(), access); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("VerifyAccessToken of a revoked token: %v, want ErrInvalidToken", err)
		}
		if status, out := refresh(rt, ""); status != http.StatusBadRequest {
			t.Errorf("refresh with a revoked token: %d %v", status, out)
		}
		// Introspection needs client authentication.
		if status, _ := e.post("/auth/introspect", url.Values{"token": {access}}, "", ""); status != http.StatusUnauthorized {
			t.Errorf("introspect without client: %d, want 401", status)
		}
	})
}

// codeFlowPost is codeFlow for a client_secret_post client.
func (e *testEnv) codeFlowPost(clientID, secret, username, scope string) map[string]any {
	e.t.Helper()
	verifier, challenge := pkce()
	b := e.browser()
	resp, _ := b.login(e.authorizeParams(clientID, scope, challenge), username, testPassword, "")
	code := b.consent(resp, nil, "").Query().Get("code")
	status, tok := e.post("/auth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect},
		"code_verifier": {verifier}, "client_id": {clientID}, "client_secret": {secret}}, "", "")
	if status != http.StatusOK {
		e.t.Fatalf("token: %d %v", status, tok)
	}
	return tok
}
