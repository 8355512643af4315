package smart

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/telehub/telehub/store"
)

// assertionType is the client_assertion_type of private_key_jwt.
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionAlgs are the algorithms SMART backend services sign client
// assertions with; anything else (none, HS256, RS256...) is refused.
var assertionAlgs = []string{"RS384", "ES384"}

// Limits on client assertions.
const (
	maxAssertionLifetime = 5 * time.Minute
	clockSkew            = 30 * time.Second
	keySetCacheTTL       = 5 * time.Minute
)

// authenticateClient identifies and authenticates the client of a token,
// introspection or revocation request by the method it registered:
// client_secret_basic, client_secret_post, private_key_jwt, or none (a
// public client naming itself with client_id). A client using another
// method than its own is refused.
func (s *Server) authenticateClient(c echo.Context) (*Client, error) {
	r := c.Request()
	ctx := r.Context()
	id, secret, basic := r.BasicAuth()
	method := AuthNone
	switch {
	case basic:
		method = AuthSecretBasic
		// RFC 6749 2.3.1: the id and secret are form-encoded inside Basic.
		if uid, err := url.QueryUnescape(id); err == nil {
			id = uid
		}
		if usecret, err := url.QueryUnescape(secret); err == nil {
			secret = usecret
		}
	case r.PostFormValue("client_assertion") != "":
		return s.authenticateAssertion(ctx, r.PostFormValue("client_assertion_type"), r.PostFormValue("client_assertion"), r.PostFormValue("client_id"))
	case r.PostFormValue("client_secret") != "":
		method, id, secret = AuthSecretPost, r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	default:
		id = r.PostFormValue("client_id")
	}
	if id == "" {
		return nil, oauthErr(http.StatusUnauthorized, "invalid_client", "client authentication is required")
	}
	client, err := s.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		checkPassword(dummyHash, secret)
		return nil, oauthErr(http.StatusUnauthorized, "invalid_client", "unknown client or wrong credentials")
	}
	if err != nil {
		return nil, err
	}
	if formID := r.PostFormValue("client_id"); basic && formID != "" && formID != id {
		return nil, oauthErr(http.StatusUnauthorized, "invalid_client", "client_id does not match the authenticated client")
	}
	if client.AuthMethod != method && !(method != AuthNone && isSecretMethod(client.AuthMethod) && isSecretMethod(method)) {
		return nil, oauthErr(http.StatusUnauthorized, "invalid_client", "client must authenticate with %s", client.AuthMethod)
	}
	if method != AuthNone && !checkPassword(client.SecretHash, secret) {
		s.log.Warn("client authentication failed", "client_id", id)
		return nil, oauthErr(http.StatusUnauthorized, "invalid_client", "unknown client or wrong credentials")
	}
	return client, nil
}

func isSecretMethod(m string) bool { return m == AuthSecretBasic || m == AuthSecretPost }

// authenticateAssertion checks a private_key_jwt client assertion (RFC 7523,
// SMART Backend Services): RS384 or ES384 signature by a key of the client,
// iss and sub the client id, aud the token endpoint, exp no more than five
// minutes ahead, and a jti never seen before.
func (s *Server) authenticateAssertion(ctx context.Context, typ, assertion, formID string) (*Client, error) {
	fail := func(format string, args ...any) error {
		s.log.Warn("client assertion refused", "reason", fmt.Sprintf(format, args...))
		return oauthErr(http.StatusUnauthorized, "invalid_client", format, args...)
	}
	if typ != assertionType {
		return nil, fail("client_assertion_type must be %s", assertionType)
	}
	msg, err := jws.Parse([]byte(assertion))
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, fail("client_assertion is not a signed JWT")
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	alg := hdr.Algorithm()
	if !slices.Contains(assertionAlgs, alg.String()) {
		return nil, fail("client_assertion algorithm %q is not one of %v", alg, assertionAlgs)
	}
	unverified, err := jwt.Parse([]byte(assertion), jwt.WithVerify(false), jwt.WithValidate(false))
	if err != nil {
		return nil, fail("client_assertion claims: %v", err)
	}
	id := unverified.Issuer()
	if id == "" || (formID != "" && formID != id) {
		return nil, fail("client_assertion iss must be the client id")
	}
	client, err := s.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fail("unknown client")
	}
	if err != nil {
		return nil, err
	}
	if client.AuthMethod != AuthPrivateKeyJWT {
		return nil, fail("client must authenticate with %s", client.AuthMethod)
	}
	keys, err := s.clientKeys(ctx, client)
	if err != nil {
		return nil, fail("client keys: %v", err)
	}
	tok, err := verifyWithClientKeys([]byte(assertion), alg, hdr.KeyID(), keys, id, s.paths.token)
	if err != nil {
		return nil, fail("client_assertion: %v", err)
	}
	if tok.Expiration().After(time.Now().Add(maxAssertionLifetime + clockSkew)) {
		return nil, fail("client_assertion exp is more than 5 minutes ahead")
	}
	if tok.JwtID() == "" {
		return nil, fail("client_assertion has no jti")
	}
	err = s.recs.put(ctx, kindJTI, id+":"+tok.JwtID(), 1, struct{}{}, tok.Expiration().Add(clockSkew))
	if errors.Is(err, store.ErrConflict) {
		return nil, fail("client_assertion jti already used")
	}
	if err != nil {
		return nil, err
	}
	return client, nil
}

// verifyWithClientKeys verifies the assertion with the client key named kid,
// or with each key of the client that fits alg when kid is empty, and
// validates its claims.
func verifyWithClientKeys(assertion []byte, alg jwa.SignatureAlgorithm, kid string, keys jwk.Set, clientID, audience string) (jwt.Token, error) {
	var lastErr error = errors.New("no client key fits")
	for i := range keys.Len() {
		key, _ := keys.Key(i)
		if kid != "" && key.KeyID() != kid {
			continue
		}
		if keyAlg := key.Algorithm().String(); keyAlg != "" && keyAlg != alg.String() {
			continue
		}
		tok, err := jwt.Parse(assertion, jwt.WithKey(alg, key), jwt.WithValidate(true),
			jwt.WithIssuer(clientID), jwt.WithSubject(clientID), jwt.WithAudience(audience),
			jwt.WithAcceptableSkew(clockSkew), jwt.WithRequiredClaim(jwt.ExpirationKey))
		if err == nil {
			return tok, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// clientKeys returns the public keys of a private_key_jwt client: its JWKS
// by value, or fetched from its jwks_uri (kept for five minutes).
func (s *Server) clientKeys(ctx context.Context, c *Client) (jwk.Set, error) {
	if len(c.JWKS) > 0 {
		return jwk.Parse(c.JWKS)
	}
	return s.clientKS.get(ctx, c.JWKSURI)
}

type cachedKeySet struct {
	set     jwk.Set
	fetched time.Time
}

func (k *keySetCache) get(ctx context.Context, uri string) (jwk.Set, error) {
	k.mu.Lock()
	e, ok := k.entries[uri]
	k.mu.Unlock()
	if ok && time.Since(e.fetched) < keySetCacheTTL {
		return e.set, nil
	}
	set, err := jwk.Fetch(ctx, uri, jwk.WithHTTPClient(k.client))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", uri, err)
	}
	k.mu.Lock()
	k.entries[uri] = cachedKeySet{set: set, fetched: time.Now()}
	k.mu.Unlock()
	return set, nil
}

// constantTimeEqual compares secrets without leaking where they differ.
func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
