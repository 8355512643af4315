package smart

import (
	"net/http"
	"net/url"
	"testing"
)

// TestAuthorizeRefused checks requests the authorize endpoint refuses: those
// it cannot trust the redirect URI of get an error page, the others an error
// sent back to the app.
func TestAuthorizeRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addAppClient("app", AuthNone)
	_, challenge := pkce()
	tests := []struct {
		name      string
		change    func(url.Values)
		wantPage  bool   // an error page, no redirect
		wantError string // the error sent to the redirect URI
	}{
		{"unknown client", func(v url.Values) { v.Set("client_id", "nobody") }, true, ""},
		{"redirect_uri mismatch", func(v url.Values) { v.Set("redirect_uri", "https://evil.example/callback") }, true, ""},
		{"redirect_uri prefix", func(v url.Values) { v.Set("redirect_uri", testRedirect+"/more") }, true, ""},
		{"no PKCE", func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, false, "invalid_request"},
		{"plain PKCE", func(v url.Values) { v.Set("code_challenge_method", "plain") }, false, "invalid_request"},
		{"PKCE without method", func(v url.Values) { v.Del("code_challenge_method") }, false, "invalid_request"},
		{"empty challenge", func(v url.Values) { v.Set("code_challenge", "") }, false, "invalid_request"},
		{"short challenge", func(v url.Values) { v.Set("code_challenge", "abc") }, false, "invalid_request"},
		{"wrong aud", func(v url.Values) { v.Set("aud", "https://other.example/fhir") }, false, "invalid_request"},
		{"no aud", func(v url.Values) { v.Del("aud") }, false, "invalid_request"},
		{"token response type", func(v url.Values) { v.Set("response_type", "token") }, false, "unsupported_response_type"},
		{"scope outside the client's", func(v url.Values) { v.Set("scope", "system/*.cruds") }, false, "invalid_scope"},
		{"malformed scope", func(v url.Values) { v.Set("scope", "patient/Observation.sr") }, false, "invalid_scope"},
		{"launch scope without launch", func(v url.Values) { v.Set("scope", "launch patient/*.rs") }, false, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := e.authorizeParams("app", "patient/Observation.rs", challenge)
			tt.change(params)
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				resp, page := e.browser().do(method, e.base+"/auth/authorize", params)
				if tt.wantPage {
					if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
						t.Errorf("%s: %s location %q, want 400 and no redirect\n%s", method, resp.Status, resp.Header.Get("Location"), page)
					}
					continue
				}
				loc, _ := url.Parse(resp.Header.Get("Location"))
				if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != tt.wantError ||
					loc.Query().Get("state") != "st-app" || loc.Scheme+"://"+loc.Host+loc.Path != testRedirect {
					t.Errorf("%s: %s %s, want a redirect to the app with error %s", method, resp.Status, loc, tt.wantError)
				}
			}
		})
	}
}

// TestTokenPKCE checks the code exchange refuses missing, empty, plain or
// wrong verifiers, another redirect_uri, another client, and a second use.
func TestTokenPKCE(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addAppClient("app", AuthNone)
	e.addAppClient("other-app", AuthNone)
	e.addUser("helene", "Patient/p1")
	tests := []struct {
		name   string
		change func(form url.Values, verifier, challenge string)
	}{
		{"missing verifier", func(f url.Values, _, _ string) { f.Del("code_verifier") }},
		{"empty verifier", func(f url.Values, _, _ string) { f.Set("code_verifier", "") }},
		{"plain verifier (the challenge itself)", func(f url.Values, _, c string) { f.Set("code_verifier", c) }},
		{"wrong verifier", func(f url.Values, _, _ string) { v, _ := pkce(); f.Set("code_verifier", v) }},
		{"short verifier", func(f url.Values, v, _ string) { f.Set("code_verifier", v[:42]) }},
		{"redirect_uri mismatch", func(f url.Values, _, _ string) { f.Set("redirect_uri", "https://app.example/other") }},
		{"missing redirect_uri", func(f url.Values, _, _ string) { f.Del("redirect_uri") }},
		{"another client", func(f url.Values, _, _ string) { f.Set("client_id", "other-app") }},
		{"unknown code", func(f url.Values, _, _ string) { f.Set("code", "forged") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			verifier, challenge := pkce()
			b := e.browser()
			resp, _ := b.login(e.authorizeParams("app", "patient/Observation.rs", challenge), "helene", testPassword, "")
			code := b.consent(resp, nil, "").Query().Get("code")
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect},
				"code_verifier": {verifier}, "client_id": {"app"}}
			tt.change(form, verifier, challenge)
			status, out := e.post("/auth/token", form, "", "")
			if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
				t.Errorf("token: %d %v, want 400 invalid_grant", status, out)
			}
		})
	}

	t.Run("code used twice", func(t *testing.T) {
		e.t = t
		verifier, challenge := pkce()
		b := e.browser()
		resp, _ := b.login(e.authorizeParams("app", "patient/Observation.rs offline_access", challenge), "helene", testPassword, "")
		code := b.consent(resp, nil, "").Query().Get("code")
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect},
			"code_verifier": {verifier}, "client_id": {"app"}}
		status, first := e.post("/auth/token", form, "", "")
		if status != http.StatusOK {
			t.Fatalf("first use: %d %v", status, first)
		}
		if status, out := e.post("/auth/token", form, "", ""); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Errorf("second use: %d %v, want invalid_grant", status, out)
		}
		// The replay revoked the grant of the first use.
		refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}, "client_id": {"app"}}
		if status, out := e.post("/auth/token", refresh, "", ""); status != http.StatusBadRequest {
			t.Errorf("refresh after code replay: %d %v, want invalid_grant", status, out)
		}
	})
}

// TestLoginPageBinding checks a login posted from another browser (without
// the cookie of the authorization request) is refused.
func TestLoginPageBinding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addAppClient("app", AuthNone)
	e.addUser("helene", "Patient/p1")
	_, challenge := pkce()
	victim := e.browser()
	_, page := victim.do(http.MethodGet, e.base+"/auth/authorize", e.authorizeParams("app", "patient/Observation.rs", challenge))
	req := hiddenReq.FindStringSubmatch(page)[1]
	resp, _ := e.browser().do(http.MethodPost, e.base+"/auth/login", url.Values{"req": {req}, "username": {"helene"}, "password": {testPassword}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("login from another browser: %s, want 400", resp.Status)
	}
}
