package smart

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var federatedLink = regexp.MustCompile(`class="federated" href="([^"]+)"`)

// toUpstream starts an authorization request at TeleHub, follows the login
// page's "Sign in with" link to the upstream provider, and returns the
// provider's redirect back to TeleHub (the callback URL, not yet visited).
func (b *browser) toUpstream(params url.Values) string {
	b.e.t.Helper()
	resp, page := b.do(http.MethodGet, b.e.base+"/auth/authorize", params)
	m := federatedLink.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		b.e.t.Fatalf("authorize: %s, no federated sign-in link:\n%s", resp.Status, page)
	}
	if !strings.Contains(page, "Sign in with Pro Santé Connect (test)") {
		b.e.t.Errorf("login page does not name the provider:\n%s", page)
	}
	resp, page = b.do(http.MethodGet, html.UnescapeString(m[1]), nil)
	if resp.StatusCode != http.StatusSeeOther {
		b.e.t.Fatalf("federated start: %s\n%s", resp.Status, page)
	}
	resp, page = b.do(http.MethodGet, resp.Header.Get("Location"), nil)
	if resp.StatusCode != http.StatusFound {
		b.e.t.Fatalf("upstream authorize: %s\n%s", resp.Status, page)
	}
	return resp.Header.Get("Location")
}

// fedEnv is an authorization server federated with an upstream provider,
// auditing to a real recorder, with a linked professional account.
func fedEnv(t *testing.T) (*testEnv, *upstreamOP, *auditTrail) {
	op := newUpstreamOP(t)
	trail := &auditTrail{}
	e := newEnv(t, func(c *Config) { c.Federation = op.federation(); c.Audit = trail })
	trail.start(t, e.store)
	e.addUser("dr-house", "Practitioner/pr-77")
	if err := e.srv.LinkFederatedAccount(context.Background(), "810001234567", "dr-house"); err != nil {
		t.Fatal(err)
	}
	e.addAppClient("fed-app", AuthNone)
	return e, op, trail
}

func TestFederatedLogin(t *testing.T) {
	t.Parallel()
	e, op, trail := fedEnv(t)
	op.user = map[string]any{"sub": "psc-f4a1", "preferred_username": "810001234567", "given_name": "Gregory"}
	verifier, challenge := pkce()
	b := e.browser()
	callback := b.toUpstream(e.authorizeParams("fed-app", "openid fhirUser user/*.rs", challenge))

	// What TeleHub asked of the provider.
	asked := op.lastAuthorize
	for k, want := range map[string]string{"acr_values": "eidas1", "code_challenge_method": "S256", "scope": "openid scope_all", "redirect_uri": e.base + "/auth/federated/callback"} {
		if asked.Get(k) != want {
			t.Errorf("upstream authorization request %s = %q, want %q", k, asked.Get(k), want)
		}
	}
	if asked.Get("nonce") == "" || asked.Get("state") == "" {
		t.Errorf("upstream authorization request without nonce or state: %v", asked)
	}

	// No TOTP is asked: the provider's eidas1 login is strong authentication.
	resp, page := b.do(http.MethodGet, callback, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/auth/consent") {
		t.Fatalf("callback: %s, want 303 to the consent\n%s", resp.Status, page)
	}
	back := b.consent(resp, nil, "")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}, "client_id": {"fed-app"}}
	status, tok := e.post("/auth/token", form, "", "")
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}
	at, err := e.srv.VerifyAccessToken(context.Background(), tok["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if at.FHIRUser != "Practitioner/pr-77" {
		t.Errorf("access token fhirUser = %q, want the linked Practitioner/pr-77", at.FHIRUser)
	}
	claims := e.verifyIDToken(tok["id_token"].(string), "fed-app")
	if claims["fhirUser"] != e.fhirBase()+"/Practitioner/pr-77" {
		t.Errorf("id_token fhirUser = %v", claims["fhirUser"])
	}

	// The login and the token are in the audit trail.
	login := trail.find(t, "110122")
	if login["outcome"] != "0" || !strings.Contains(login["outcomeDesc"].(string), "acr eidas1") {
		t.Errorf("federated login audited as %v", login)
	}
	trail.find(t, "token-issued")
	trail.verify(t, e.store)
}

func TestFederatedLoginRefused(t *testing.T) {
	t.Parallel()
	linked := map[string]any{"sub": "psc-f4a1", "preferred_username": "810001234567"}
	for _, tc := range []struct {
		name    string
		setup   func(op *upstreamOP)
		tamper  func(b *browser, callback string) (*browser, string)
		status  int
		message string
	}{
		{name: "wrong acr", setup: func(op *upstreamOP) { op.acr = "eidas0" }, status: http.StatusForbidden, message: "not eidas1"},
		{name: "no acr", setup: func(op *upstreamOP) { op.acr = "" }, status: http.StatusForbidden, message: "not eidas1"},
		{name: "bad signature", setup: func(op *upstreamOP) { op.badSig = true }, status: http.StatusUnauthorized, message: "id_token is invalid"},
		{name: "wrong audience", setup: func(op *upstreamOP) { op.audience = "another-rp" }, status: http.StatusUnauthorized, message: "id_token is invalid"},
		{name: "wrong issuer", setup: func(op *upstreamOP) { op.tokenIss = "https://evil.example" }, status: http.StatusUnauthorized, message: "id_token is invalid"},
		{name: "expired id_token", setup: func(op *upstreamOP) { op.expired = true }, status: http.StatusUnauthorized, message: "id_token is invalid"},
		{name: "nonce mismatch", setup: func(op *upstreamOP) { op.wrongNonce = true }, status: http.StatusUnauthorized, message: "nonce does not match"},
		{name: "unknown upstream user", setup: func(op *upstreamOP) {
			op.user = map[string]any{"sub": "psc-0000", "preferred_username": "819999999999"}
		}, status: http.StatusForbidden, message: "no TeleHub account is linked"},
		{name: "no account claim", setup: func(op *upstreamOP) { op.user = map[string]any{"sub": "psc-0001"} }, status: http.StatusUnauthorized, message: "has a preferred_username claim"},
		{name: "state mismatch", tamper: func(b *browser, cb string) (*browser, string) {
			u, _ := url.Parse(cb)
			q := u.Query()
			q.Set("state", q.Get("state")+"x")
			u.RawQuery = q.Encode()
			return b, u.String()
		}, status: http.StatusBadRequest, message: "unknown or was already used"},
		{name: "no state", tamper: func(b *browser, cb string) (*browser, string) {
			u, _ := url.Parse(cb)
			q := u.Query()
			q.Del("state")
			u.RawQuery = q.Encode()
			return b, u.String()
		}, status: http.StatusBadRequest, message: "unknown or was already used"},
		{name: "another browser", tamper: func(b *browser, cb string) (*browser, string) {
			return b.e.browser(), cb
		}, status: http.StatusBadRequest, message: "not started in this browser"},
		{name: "provider error", tamper: func(b *browser, cb string) (*browser, string) {
			u, _ := url.Parse(cb)
			q := u.Query()
			q.Del("code")
			q.Set("error", "access_denied")
			u.RawQuery = q.Encode()
			return b, u.String()
		}, status: http.StatusUnauthorized, message: "the provider answered access_denied"},
		{name: "mix-up issuer", tamper: func(b *browser, cb string) (*browser, string) {
			return b, cb + "&iss=" + url.QueryEscape("https://evil.example")
		}, status: http.StatusUnauthorized, message: "another issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, op, trail := fedEnv(t)
			op.user = linked
			if tc.setup != nil {
				tc.setup(op)
			}
			_, challenge := pkce()
			b := e.browser()
			callback := b.toUpstream(e.authorizeParams("fed-app", "openid fhirUser user/*.rs", challenge))
			if tc.tamper != nil {
				b, callback = tc.tamper(b, callback)
			}
			resp, page := b.do(http.MethodGet, callback, nil)
			if resp.StatusCode != tc.status || !strings.Contains(html.UnescapeString(page), tc.message) {
				t.Fatalf("callback: %s, want %d with %q\n%s", resp.Status, tc.status, tc.message, page)
			}
			if tc.status != http.StatusBadRequest {
				// Refused logins are audited with their reason.
				ev := trail.find(t, "110122")
				if ev["outcome"] != "4" || !strings.Contains(ev["outcomeDesc"].(string), tc.message) {
					t.Errorf("refusal audited as %v", ev)
				}
			}
		})
	}
}

// TestFederatedCallbackReplay: a provider answer is used once.
func TestFederatedCallbackReplay(t *testing.T) {
	t.Parallel()
	e, op, _ := fedEnv(t)
	op.user = map[string]any{"sub": "psc-f4a1", "preferred_username": "810001234567"}
	_, challenge := pkce()
	b := e.browser()
	callback := b.toUpstream(e.authorizeParams("fed-app", "openid user/*.rs", challenge))
	if resp, page := b.do(http.MethodGet, callback, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first callback: %s\n%s", resp.Status, page)
	}
	if resp, _ := b.do(http.MethodGet, callback, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback: %s, want 400", resp.Status)
	}
}

// TestFederationWithoutACR: a provider not configured to require a level
// of assurance cannot sign professionals in.
func TestFederationWithoutACR(t *testing.T) {
	t.Parallel()
	op := newUpstreamOP(t)
	fed := op.federation()
	fed.RequiredACR, fed.ACRValues = nil, ""
	e := newEnv(t, func(c *Config) { c.Federation = fed })
	e.addUser("dr-weak", "Practitioner/pr-78")
	e.addUser("patient-weak", "Patient/p1")
	ctx := context.Background()
	for value, user := range map[string]string{"810000000078": "dr-weak", "PAT-1": "patient-weak"} {
		if err := e.srv.LinkFederatedAccount(ctx, value, user); err != nil {
			t.Fatal(err)
		}
	}
	e.addAppClient("fed-app", AuthNone)
	for _, tc := range []struct {
		value  string
		status int
	}{{"810000000078", http.StatusForbidden}, {"PAT-1", http.StatusSeeOther}} {
		op.user = map[string]any{"sub": "s-" + tc.value, "preferred_username": tc.value}
		_, challenge := pkce()
		b := e.browser()
		resp, page := b.do(http.MethodGet, b.toUpstream(e.authorizeParams("fed-app", "openid user/*.rs", challenge)), nil)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: callback %s, want %d\n%s", tc.value, resp.Status, tc.status, page)
		}
	}
}

func TestFederationConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fed  Federation
		want string
	}{
		{"relative issuer", Federation{Issuer: "/idp", ClientID: "x"}, "not an absolute URL"},
		{"plain http", Federation{Issuer: "http://idp.example", ClientID: "x"}, "must be https"},
		{"no client", Federation{Issuer: "https://idp.example"}, "client id"},
	} {
		_, err := New(Config{BaseURL: "https://telehub.example", Records: nil, Federation: &tc.fed})
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		e := newEnvErr(t, tc.fed)
		if e == nil || !strings.Contains(e.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, e, tc.want)
		}
	}
	e := newEnv(t)
	if err := e.srv.LinkFederatedAccount(context.Background(), "x", "y"); err != ErrNoFederation {
		t.Errorf("link without federation: %v", err)
	}
}

// newEnvErr returns New's error for a federation config on a real store.
func newEnvErr(t *testing.T, fed Federation) error {
	e := newEnv(t)
	_, err := New(Config{BaseURL: e.base, Records: e.store, Federation: &fed})
	return err
}

// TestFederationProviderDown: an unreachable provider is a clear 502 page,
// and the local login still works.
func TestFederationProviderDown(t *testing.T) {
	t.Parallel()
	op := newUpstreamOP(t)
	fed := op.federation()
	op.srv.Close()
	e := newEnv(t, func(c *Config) { c.Federation = fed })
	e.addAppClient("fed-app", AuthNone)
	e.addUser("pat1", "Patient/p1")
	_, challenge := pkce()
	b := e.browser()
	resp, page := b.do(http.MethodGet, e.base+"/auth/authorize", e.authorizeParams("fed-app", "openid user/*.rs", challenge))
	m := federatedLink.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("authorize: %s\n%s", resp.Status, page)
	}
	resp, page = b.do(http.MethodGet, html.UnescapeString(m[1]), nil)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(page, "unavailable") {
		t.Errorf("federated start with the provider down: %s\n%s", resp.Status, page)
	}
	if resp, _ := e.browser().login(e.authorizeParams("fed-app", "openid user/*.rs", challenge), "pat1", testPassword, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("local login with the provider down: %s", resp.Status)
	}
}
