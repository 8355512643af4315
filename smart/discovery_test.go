package smart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/telehub/telehub/store"
)

func TestDiscovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		path   string
		accept string
		keys   map[string]string // key: expected value ("" only present)
	}{
		{"/fhir/.well-known/smart-configuration", "text/html", map[string]string{
			"issuer": e.base, "token_endpoint": e.base + "/auth/token", "authorization_endpoint": e.base + "/auth/authorize",
			"jwks_uri": e.base + "/.well-known/jwks.json", "registration_endpoint": e.base + "/auth/register",
			"introspection_endpoint": e.base + "/auth/introspect", "revocation_endpoint": e.base + "/auth/revoke",
			"capabilities": "", "code_challenge_methods_supported": "",
		}},
		{"/fhir/.well-known/smart-configuration", "application/fhir+json", map[string]string{"issuer": e.base}},
		{"/.well-known/openid-configuration", "", map[string]string{
			"issuer": e.base, "userinfo_endpoint": e.base + "/auth/userinfo", "id_token_signing_alg_values_supported": "",
		}},
	}
	for _, tt := range tests {
		status, ctype, doc := e.getJSON(tt.path, http.Header{"Accept": {tt.accept}})
		if status != http.StatusOK || !strings.HasPrefix(ctype, "application/json") {
			t.Fatalf("%s: %d %s", tt.path, status, ctype)
		}
		for k, want := range tt.keys {
			got, ok := doc[k]
			if !ok || (want != "" && got != want) {
				t.Errorf("%s: %s = %v, want %q", tt.path, k, got, want)
			}
		}
	}
	_, _, doc := e.getJSON("/fhir/.well-known/smart-configuration", nil)
	if got := doc["code_challenge_methods_supported"]; len(got.([]any)) != 1 || got.([]any)[0] != "S256" {
		t.Errorf("code_challenge_methods_supported = %v, want only S256", got)
	}

	// Without an initial access token, registration is neither served nor advertised.
	closed := newEnv(t, func(c *Config) { c.RegistrationToken = "" })
	_, _, doc = closed.getJSON("/fhir/.well-known/smart-configuration", nil)
	if _, ok := doc["registration_endpoint"]; ok {
		t.Error("registration_endpoint advertised without a registration token")
	}
	if status, _ := closed.post("/auth/register", url.Values{}, "", ""); status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		t.Errorf("register without a registration token: %d, want 404 or 405", status)
	}
}

// TestKeys checks the JWKS, key persistence across servers sharing a store,
// and rotation: new tokens use the new keys, tokens of the old keys still
// verify while the old keys stay published.
func TestKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	kids := func() []string {
		set, err := jwk.Fetch(ctx, e.base+"/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i := range set.Len() {
			k, _ := set.Key(i)
			if isPrivate, _ := jwk.IsPrivateKey(k); isPrivate {
				t.Errorf("JWKS publishes the private key %s", k.KeyID())
			}
			out = append(out, k.Algorithm().String()+":"+k.KeyID())
		}
		slices.Sort(out)
		return out
	}
	before := kids()
	if len(before) != len(signingAlgs) {
		t.Fatalf("JWKS = %v, want a key for each of %v", before, signingAlgs)
	}
	// Another server on the same store publishes the same keys.
	other, err := New(Config{BaseURL: e.base, Records: e.store})
	if err != nil {
		t.Fatal(err)
	}
	set, err := other.Keys().PublicSet(ctx)
	if err != nil || set.Len() != len(signingAlgs) {
		t.Fatalf("second server's keys: %v, %v", set, err)
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		if !slices.Contains(before, k.Algorithm().String()+":"+k.KeyID()) {
			t.Errorf("second server made its own key %s", k.KeyID())
		}
	}

	if _, _, err := e.srv.AddClient(ctx, NewClient{ID: "svc", AuthMethod: AuthSecretBasic, Secret: "a secret long enough",
		GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"system/*.rs"}}); err != nil {
		t.Fatal(err)
	}
	token := func() string {
		status, tok := e.post("/auth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}, "svc", "a secret long enough")
		if status != http.StatusOK {
			t.Fatalf("token: %d %v", status, tok)
		}
		return tok["access_token"].(string)
	}
	old := token()
	if err := e.srv.Keys().Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	after := kids()
	if len(after) != 2*len(signingAlgs) {
		t.Fatalf("JWKS after rotation = %v, want old and new keys", after)
	}
	fresh := token()
	for _, tok := range []string{old, fresh} {
		if _, err := e.srv.VerifyAccessToken(ctx, tok); err != nil {
			t.Errorf("VerifyAccessToken after rotation: %v", err)
		}
	}
	if kidOf(t, old) == kidOf(t, fresh) {
		t.Error("the token issued after rotation is signed with the old key")
	}
	// A server that cached the keys before the rotation still verifies new tokens.
	if _, err := other.VerifyAccessToken(ctx, fresh); err != nil {
		t.Errorf("other server, token of the new key: %v", err)
	}
	// Tokens are checked for signature, audience and type.
	for name, bad := range map[string]string{
		"tampered":   tamper(fresh),
		"garbage":    "not.a.token",
		"empty":      "",
		"assertion":  unsignedAssertion("svc", e.base),
		"wrong kind": e.idTokenLike(t),
	} {
		if _, err := e.srv.VerifyAccessToken(ctx, bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("VerifyAccessToken(%s): %v, want ErrInvalidToken", name, err)
		}
	}
}

// idTokenLike returns an id_token of the server: signed by it, but not an
// access token.
func (e *testEnv) idTokenLike(t *testing.T) string {
	t.Helper()
	tok, err := e.srv.signIDToken(context.Background(), grant{ClientID: "x", UserID: "u"}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	hdr, err := jwtSegment(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	return hdr["kid"].(string)
}

// TestRegistration checks dynamic registration: guarded by the initial
// access token, and the registered client works.
func TestRegistration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register := func(token string, body any) (int, map[string]any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, e.base+"/auth/register", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		raw, _ := io.ReadAll(resp.Body)
		json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
	backend := map[string]any{"client_name": "lab feed", "grant_types": []string{"client_credentials"}, "scope": "system/Observation.cruds"}
	tests := []struct {
		name   string
		token  string
		body   any
		status int
		err    string
	}{
		{"no token", "", backend, http.StatusUnauthorized, "invalid_token"},
		{"wrong token", "guess", backend, http.StatusUnauthorized, "invalid_token"},
		{"not JSON", "initial-access-token-for-tests", "{", http.StatusBadRequest, "invalid_client_metadata"},
		{"bad redirect", "initial-access-token-for-tests", map[string]any{"redirect_uris": []string{"/relative"}, "token_endpoint_auth_method": "none"}, http.StatusBadRequest, "invalid_redirect_uri"},
		{"code grant without redirect", "initial-access-token-for-tests", map[string]any{"token_endpoint_auth_method": "none"}, http.StatusBadRequest, "invalid_redirect_uri"},
		{"public client_credentials", "initial-access-token-for-tests", map[string]any{"token_endpoint_auth_method": "none", "grant_types": []string{"client_credentials"}}, http.StatusBadRequest, "invalid_client_metadata"},
		{"implicit", "initial-access-token-for-tests", map[string]any{"response_types": []string{"token"}, "redirect_uris": []string{testRedirect}}, http.StatusBadRequest, "invalid_client_metadata"},
		{"jwks_uri over http", "initial-access-token-for-tests", map[string]any{"token_endpoint_auth_method": "private_key_jwt", "grant_types": []string{"client_credentials"}, "jwks_uri": "http://keys.example/jwks.json"}, http.StatusBadRequest, "invalid_client_metadata"},
		{"private_key_jwt without keys", "initial-access-token-for-tests", map[string]any{"token_endpoint_auth_method": "private_key_jwt", "grant_types": []string{"client_credentials"}}, http.StatusBadRequest, "invalid_client_metadata"},
		{"backend", "initial-access-token-for-tests", backend, http.StatusCreated, ""},
	}
	var registered map[string]any
	for _, tt := range tests {
		status, out := register(tt.token, tt.body)
		if status != tt.status || (tt.err != "" && out["error"] != tt.err) {
			t.Errorf("%s: %d %v, want %d %s", tt.name, status, out, tt.status, tt.err)
		}
		if status == http.StatusCreated {
			registered = out
		}
	}
	if registered == nil {
		t.Fatal("nothing registered")
	}
	id, secret := registered["client_id"].(string), registered["client_secret"].(string)
	if id == "" || len(secret) < 32 || registered["token_endpoint_auth_method"] != AuthSecretBasic {
		t.Fatalf("registration answer %v", registered)
	}
	status, tok := e.post("/auth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Observation.rs"}}, id, secret)
	if status != http.StatusOK {
		t.Fatalf("token for the registered client: %d %v", status, tok)
	}
	c, err := e.srv.GetClient(context.Background(), id)
	if err != nil || strings.Contains(c.SecretHash, secret) {
		t.Errorf("stored client %+v, %v: the secret must be stored hashed", c, err)
	}
}

func TestEnsureBootstrapClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		value string
		ok    bool
	}{
		{"admin:a-bootstrap-secret-of-length", true},
		{"admin:a-bootstrap-secret-of-length", true}, // idempotent
		{"admin:another-secret-entirely-here", true}, // an existing client is left alone
		{"admin", false},
		{":a-bootstrap-secret-of-length", false},
		{"admin:short", false},
	}
	for _, tt := range tests {
		if err := e.srv.EnsureBootstrapClient(ctx, tt.value); (err == nil) != tt.ok {
			t.Errorf("EnsureBootstrapClient(%q): %v, want ok %v", tt.value, err, tt.ok)
		}
	}
	status, tok := e.post("/auth/token", url.Values{"grant_type": {"client_credentials"}}, "admin", "a-bootstrap-secret-of-length")
	if status != http.StatusOK || tok["scope"] != "system/*.cruds" {
		t.Errorf("bootstrap client token: %d %v", status, tok)
	}
	if status, _ := e.post("/auth/token", url.Values{"grant_type": {"client_credentials"}}, "admin", "another-secret-entirely-here"); status != http.StatusUnauthorized {
		t.Errorf("second secret accepted: %d", status)
	}
	if _, err := e.srv.GetClient(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient of an unknown id: %v", err)
	}
}

// TestAccessTokenAlgs issues and verifies access tokens with each of the
// configurable algorithms.
func TestAccessTokenAlgs(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"ES256", "RS384", "ES384"} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.AccessTokenAlg = alg })
			if err := e.srv.EnsureBootstrapClient(context.Background(), "admin:a-bootstrap-secret-of-length"); err != nil {
				t.Fatal(err)
			}
			status, tok := e.post("/auth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"}}, "admin", "a-bootstrap-secret-of-length")
			if status != http.StatusOK {
				t.Fatalf("token: %d %v", status, tok)
			}
			hdr, err := jwtSegment(strings.Split(tok["access_token"].(string), ".")[0])
			if err != nil || hdr["alg"] != alg || hdr["typ"] != "at+jwt" {
				t.Errorf("access token header %v, %v: want alg %s typ at+jwt", hdr, err, alg)
			}
			at, err := e.srv.VerifyAccessToken(context.Background(), tok["access_token"].(string))
			if err != nil || at.Subject != "admin" || FormatScopes(at.Scopes) != "system/Patient.rs" {
				t.Errorf("VerifyAccessToken = %+v, %v", at, err)
			}
		})
	}
	if _, err := New(Config{BaseURL: "https://x.example", Records: nil}); err == nil {
		t.Error("New without Records: no error")
	}
	e := newEnv(t)
	for _, cfg := range []Config{
		{BaseURL: "https://x.example", Records: e.store, AccessTokenAlg: "HS256"},
		{BaseURL: "relative/path", Records: e.store},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): no error", cfg)
		}
	}
}
