package smart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Federation configures sign-in through an upstream OpenID Connect provider,
// the way Pro Santé Connect (the French national identity provider of
// health professionals) is used: the login page offers "Sign in with
// Name"; the user authenticates there (authorization code flow, with
// acr_values asking for the level of assurance); TeleHub checks the
// returned id_token (signature by the provider's JWKS, issuer, audience,
// expiry, nonce, and acr) and maps one of its claims to a local account
// linked beforehand (LinkFederatedAccount), whose fhirUser the SMART tokens
// then carry.
//
// A federated login with an acr in RequiredACR is strong authentication:
// the account's own TOTP is not asked. Without RequiredACR, accounts of
// professionals (who must authenticate strongly) cannot sign in this way.
type Federation struct {
	// Name is shown on the login page ("Pro Santé Connect").
	Name string
	// Issuer is the provider's issuer URL; its metadata are read from
	// Issuer/.well-known/openid-configuration. It must be https, except on
	// a loopback address.
	Issuer string
	// ClientID and ClientSecret are TeleHub's credentials at the provider
	// (client_secret_basic). The redirect URI to register there is
	// BaseURL/auth/federated/callback.
	ClientID, ClientSecret string
	// Scopes asked of the provider ("openid" when empty; Pro Santé Connect
	// wants "openid scope_all").
	Scopes []string
	// ACRValues is sent as acr_values ("eidas1").
	ACRValues string
	// RequiredACR lists the acr values accepted in the id_token ("eidas1").
	RequiredACR []string
	// Claim names the claim identifying the user's account: "sub" when
	// empty, or e.g. "preferred_username" where a provider puts the national
	// identifier (the RPPS number). It is read from the id_token, else from
	// the provider's userinfo.
	Claim string
}

// Federation paths under the issuer.
const (
	fedStartPath    = "/auth/federated/login"
	fedCallbackPath = "/auth/federated/callback"
	fedMetadataTTL  = time.Hour
)

// idTokenAlgs are the signature algorithms accepted on upstream id_tokens
// (asymmetric only: none and HMAC are refused).
var idTokenAlgs = []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512, jwa.ES256, jwa.ES384, jwa.ES512}

// federation is a configured upstream provider and its cached metadata
// and keys.
type federation struct {
	cfg    Federation
	client *http.Client

	mu       sync.Mutex
	meta     *providerMetadata
	metaTime time.Time
	keys     jwk.Set
}

// providerMetadata is the part of the provider's discovery document used.
type providerMetadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	UserinfoEndpoint      string `json:"userinfo_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
}

func newFederation(cfg Federation, client *http.Client) (*federation, error) {
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	u, err := url.Parse(cfg.Issuer)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("smart: federation issuer %q is not an absolute URL", cfg.Issuer)
	}
	if u.Scheme != "https" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("smart: federation issuer %q must be https", cfg.Issuer)
	}
	if cfg.ClientID == "" {
		return nil, errors.New("smart: federation needs a client id")
	}
	if cfg.Name == "" {
		cfg.Name = u.Host
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"openid"}
	} else if !slices.Contains(cfg.Scopes, "openid") {
		cfg.Scopes = append([]string{"openid"}, cfg.Scopes...)
	}
	if cfg.Claim == "" {
		cfg.Claim = "sub"
	}
	return &federation{cfg: cfg, client: client}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// metadata returns the provider's discovery document, fetched at first use
// (the provider may be down when TeleHub starts) and kept for an hour.
func (f *federation) metadata(ctx context.Context) (*providerMetadata, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.meta != nil && time.Since(f.metaTime) < fedMetadataTTL {
		return f.meta, nil
	}
	var m providerMetadata
	if err := f.getJSON(ctx, f.cfg.Issuer+"/.well-known/openid-configuration", "", &m); err != nil {
		return nil, err
	}
	switch {
	case strings.TrimSuffix(m.Issuer, "/") != f.cfg.Issuer:
		return nil, fmt.Errorf("smart: federation: the provider's metadata name issuer %q, not %q", m.Issuer, f.cfg.Issuer)
	case m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" || m.JWKSURI == "":
		return nil, errors.New("smart: federation: the provider's metadata lack an authorization, token or jwks_uri endpoint")
	}
	f.meta, f.metaTime = &m, time.Now()
	return &m, nil
}

// key returns the provider's key kid, fetching the JWKS again when kid is
// unknown (the provider rotated its keys).
func (f *federation) key(ctx context.Context, jwksURI, kid string) (jwk.Key, error) {
	f.mu.Lock()
	set := f.keys
	f.mu.Unlock()
	find := func(set jwk.Set) jwk.Key {
		if set == nil {
			return nil
		}
		if kid == "" && set.Len() == 1 {
			k, _ := set.Key(0)
			return k
		}
		k, _ := set.LookupKeyID(kid)
		return k
	}
	if k := find(set); k != nil {
		return k, nil
	}
	set, err := jwk.Fetch(ctx, jwksURI, jwk.WithHTTPClient(f.client))
	if err != nil {
		return nil, fmt.Errorf("smart: federation: fetch the provider's keys: %w", err)
	}
	f.mu.Lock()
	f.keys = set
	f.mu.Unlock()
	if k := find(set); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("smart: federation: no provider key %q", kid)
}

func (f *federation) getJSON(ctx context.Context, target, bearer string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("smart: federation: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return f.do(req, v)
}

func (f *federation) do(req *http.Request, v any) error {
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("smart: federation: %s: %w", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("smart: federation: %s: %w", req.URL.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("smart: federation: %s answered %s: %.200s", req.URL.Redacted(), resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("smart: federation: %s: not JSON: %w", req.URL.Redacted(), err)
	}
	return nil
}

// upstreamTokens is the provider's token response.
type upstreamTokens struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
}

// exchange redeems the provider's authorization code.
func (f *federation) exchange(ctx context.Context, m *providerMetadata, code, redirectURI, verifier string) (*upstreamTokens, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("smart: federation: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(f.cfg.ClientID), url.QueryEscape(f.cfg.ClientSecret))
	var t upstreamTokens
	if err := f.do(req, &t); err != nil {
		return nil, err
	}
	if t.IDToken == "" {
		return nil, errors.New("smart: federation: the provider returned no id_token")
	}
	return &t, nil
}

// verifyIDToken checks an upstream id_token: signature by the provider's
// key, issuer, audience (and azp when there are several), expiry, nonce.
func (f *federation) verifyIDToken(ctx context.Context, m *providerMetadata, raw, nonce string) (jwt.Token, error) {
	msg, err := jws.Parse([]byte(raw))
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, errors.New("the id_token is not a compact JWS")
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	alg := hdr.Algorithm()
	if !slices.Contains(idTokenAlgs, alg) {
		return nil, fmt.Errorf("the id_token is signed with %s, not an accepted algorithm", alg)
	}
	key, err := f.key(ctx, m.JWKSURI, hdr.KeyID())
	if err != nil {
		return nil, err
	}
	tok, err := jwt.Parse([]byte(raw), jwt.WithKey(alg, key), jwt.WithValidate(true),
		jwt.WithIssuer(f.cfg.Issuer), jwt.WithAudience(f.cfg.ClientID), jwt.WithAcceptableSkew(clockSkew),
		jwt.WithRequiredClaim(jwt.ExpirationKey), jwt.WithRequiredClaim(jwt.IssuedAtKey), jwt.WithRequiredClaim(jwt.SubjectKey))
	if err != nil {
		return nil, fmt.Errorf("the id_token is invalid: %w", err)
	}
	if aud := tok.Audience(); len(aud) > 1 && stringClaim(tok, "azp") != f.cfg.ClientID {
		return nil, errors.New("the id_token has several audiences and azp is not TeleHub")
	}
	if !constantTimeEqual(stringClaim(tok, "nonce"), nonce) {
		return nil, errors.New("the id_token nonce does not match the request")
	}
	return tok, nil
}

// checkACR checks the id_token's level of assurance.
func (f *federation) checkACR(tok jwt.Token) (string, error) {
	acr := stringClaim(tok, "acr")
	if len(f.cfg.RequiredACR) > 0 && !slices.Contains(f.cfg.RequiredACR, acr) {
		return acr, fmt.Errorf("the provider authenticated the user at acr %q, not %s", acr, strings.Join(f.cfg.RequiredACR, " or "))
	}
	return acr, nil
}

// strong reports whether a login through this provider counts as strong
// authentication: only when it requires a level of assurance.
func (f *federation) strong() bool { return len(f.cfg.RequiredACR) > 0 }

// accountClaim returns the value of the claim that identifies the account,
// from the id_token, else from userinfo (whose sub must be the id_token's).
func (f *federation) accountClaim(ctx context.Context, m *providerMetadata, tok jwt.Token, accessToken string) (string, error) {
	if f.cfg.Claim == "sub" {
		return tok.Subject(), nil
	}
	if v := claimString(tok.PrivateClaims()[f.cfg.Claim]); v != "" {
		return v, nil
	}
	if m.UserinfoEndpoint == "" || accessToken == "" {
		return "", fmt.Errorf("the id_token has no %s claim", f.cfg.Claim)
	}
	var info map[string]any
	if err := f.getJSON(ctx, m.UserinfoEndpoint, accessToken, &info); err != nil {
		return "", err
	}
	if claimString(info["sub"]) != tok.Subject() {
		return "", errors.New("userinfo is about another subject than the id_token")
	}
	if v := claimString(info[f.cfg.Claim]); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("neither the id_token nor userinfo has a %s claim", f.cfg.Claim)
}

// claimString renders a string or number claim.
func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return fmt.Sprintf("%.0f", v)
	case json.Number:
		return v.String()
	}
	return ""
}
