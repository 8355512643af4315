package smart

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// upstreamOP is a small but real OpenID Connect provider, started in the
// test process, playing the upstream identity provider (Pro Santé Connect)
// TeleHub federates with: discovery, JWKS, an authorization endpoint that
// authenticates its test user at once, a token endpoint (client_secret_basic,
// PKCE) issuing RS256 id_tokens with acr, and userinfo.
type upstreamOP struct {
	t        *testing.T
	srv      *httptest.Server
	issuer   string
	clientID string
	secret   string
	key      jwk.Key // the published signing key
	other    jwk.Key // a key of nobody, with the same kid (bad signatures)

	mu sync.Mutex
	// What the provider does for the next authorization (set by tests).
	user       map[string]any // claims of the authenticated user (sub first)
	acr        string         // the acr it reports
	badSig     bool           // sign with other instead of key
	wrongNonce bool           // put another nonce in the id_token
	audience   string         // the id_token's aud (the client id when empty)
	tokenIss   string         // the id_token's iss (the provider's when empty)
	expired    bool           // issue an id_token that has expired
	// What it saw.
	lastAuthorize url.Values
	codes         map[string]opCode
}

type opCode struct {
	params url.Values // the authorization request
	claims map[string]any
	acr    string
}

func newUpstreamOP(t *testing.T) *upstreamOP {
	t.Helper()
	op := &upstreamOP{t: t, clientID: "telehub-rp", secret: "upstream-client-secret", codes: map[string]opCode{}, acr: "eidas1"}
	op.key, op.other = rsaJWK(t, "op-key-1"), rsaJWK(t, "op-key-1")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /realms/sante/.well-known/openid-configuration", op.discovery)
	mux.HandleFunc("GET /jwks", op.jwks)
	mux.HandleFunc("GET /authorize", op.authorize)
	mux.HandleFunc("POST /token", op.token)
	mux.HandleFunc("GET /userinfo", op.userinfo)
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	op.issuer = op.srv.URL + "/realms/sante"
	return op
}

func rsaJWK(t *testing.T, kid string) jwk.Key {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	k.Set(jwk.KeyIDKey, kid)
	k.Set(jwk.AlgorithmKey, jwa.RS256)
	return k
}

// federation is the TeleHub configuration for this provider.
func (op *upstreamOP) federation() *Federation {
	return &Federation{
		Name: "Pro Santé Connect (test)", Issuer: op.issuer, ClientID: op.clientID, ClientSecret: op.secret,
		Scopes: []string{"openid", "scope_all"}, ACRValues: "eidas1", RequiredACR: []string{"eidas1"}, Claim: "preferred_username",
	}
}

func (op *upstreamOP) discovery(w http.ResponseWriter, r *http.Request) {
	base := op.srv.URL
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": op.issuer, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
		"userinfo_endpoint": base + "/userinfo", "jwks_uri": base + "/jwks",
		"response_types_supported": []string{"code"}, "id_token_signing_alg_values_supported": []string{"RS256"},
		"acr_values_supported": []string{"eidas1"},
	})
}

func (op *upstreamOP) jwks(w http.ResponseWriter, r *http.Request) {
	pub, err := op.key.PublicKey()
	if err != nil {
		op.t.Error(err)
	}
	set := jwk.NewSet()
	set.AddKey(pub)
	writeJSON(w, http.StatusOK, set)
}

// authorize authenticates the test user at once and sends the browser back.
func (op *upstreamOP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	op.mu.Lock()
	defer op.mu.Unlock()
	op.lastAuthorize = q
	if q.Get("client_id") != op.clientID || q.Get("response_type") != "code" || q.Get("redirect_uri") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := randomToken(16)
	op.codes[code] = opCode{params: q, claims: op.user, acr: op.acr}
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (op *upstreamOP) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	if !ok || id != op.clientID || secret != op.secret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	r.ParseForm()
	op.mu.Lock()
	c, found := op.codes[r.PostForm.Get("code")]
	delete(op.codes, r.PostForm.Get("code"))
	badSig, wrongNonce, aud, iss, expired := op.badSig, op.wrongNonce, op.audience, op.tokenIss, op.expired
	op.mu.Unlock()
	if aud == "" {
		aud = op.clientID
	}
	if iss == "" {
		iss = op.issuer
	}
	switch {
	case !found:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	case r.PostForm.Get("redirect_uri") != c.params.Get("redirect_uri") || s256(r.PostForm.Get("code_verifier")) != c.params.Get("code_challenge"):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri or PKCE mismatch"})
		return
	}
	nonce := c.params.Get("nonce")
	if wrongNonce {
		nonce = "not-the-nonce"
	}
	now := time.Now()
	if expired {
		now = now.Add(-time.Hour)
	}
	b := jwt.NewBuilder().Issuer(iss).Audience([]string{aud}).IssuedAt(now).Expiration(now.Add(5*time.Minute)).
		Claim("nonce", nonce).Claim("acr", c.acr).Claim("auth_time", now.Unix())
	for k, v := range c.claims {
		b = b.Claim(k, v)
	}
	tok, err := b.Build()
	if err != nil {
		op.t.Error(err)
		return
	}
	key := op.key
	if badSig {
		key = op.other
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, key))
	if err != nil {
		op.t.Error(err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": "upstream-at-" + randomToken(8), "token_type": "Bearer", "id_token": string(signed), "expires_in": 300})
}

func (op *upstreamOP) userinfo(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	writeJSON(w, http.StatusOK, op.user)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
