package smart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/telehub/telehub/store"
)

// Token endpoint authentication methods (RFC 7591 names).
const (
	AuthNone          = "none"                // public client (PKCE only)
	AuthSecretBasic   = "client_secret_basic" // confidential, symmetric secret in the Authorization header
	AuthSecretPost    = "client_secret_post"  // confidential, symmetric secret in the form
	AuthPrivateKeyJWT = "private_key_jwt"     // confidential, asymmetric: a signed client assertion
)

// Grant types the token endpoint implements.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Client is a registered OAuth client.
type Client struct {
	ID           string          `json:"client_id"`
	Name         string          `json:"client_name,omitempty"`
	AuthMethod   string          `json:"token_endpoint_auth_method"`
	SecretHash   string          `json:"secret_hash,omitempty"` // argon2id of the client secret
	JWKS         json.RawMessage `json:"jwks,omitempty"`        // public keys by value (private_key_jwt)
	JWKSURI      string          `json:"jwks_uri,omitempty"`    // or by URL
	RedirectURIs []string        `json:"redirect_uris,omitempty"`
	Scopes       []string        `json:"scopes"` // the scopes the client may ask for (patterns, see Scope.Covers)
	GrantTypes   []string        `json:"grant_types"`
	Created      time.Time       `json:"created"`
}

// Public reports whether the client has no credentials of its own.
func (c *Client) Public() bool { return c.AuthMethod == AuthNone }

// allowedScopes parses the client's scope patterns.
func (c *Client) allowedScopes() []Scope {
	out := make([]Scope, 0, len(c.Scopes))
	for _, s := range c.Scopes {
		if sc, err := ParseScope(s); err == nil {
			out = append(out, sc)
		}
	}
	return out
}

// validate checks that the client's settings fit together.
func (c *Client) validate() error {
	if c.ID == "" || strings.ContainsAny(c.ID, " :") {
		return fmt.Errorf("smart: client id %q: empty or holds a space or a colon", c.ID)
	}
	switch c.AuthMethod {
	case AuthNone:
		if slices.Contains(c.GrantTypes, GrantClientCredentials) {
			return errors.New("smart: a public client cannot use client_credentials")
		}
	case AuthSecretBasic, AuthSecretPost:
		if c.SecretHash == "" {
			return errors.New("smart: a confidential client needs a secret")
		}
	case AuthPrivateKeyJWT:
		if (len(c.JWKS) == 0) == (c.JWKSURI == "") {
			return errors.New("smart: a private_key_jwt client needs exactly one of jwks and jwks_uri")
		}
		if len(c.JWKS) > 0 {
			if _, err := jwk.Parse(c.JWKS); err != nil {
				return fmt.Errorf("smart: client jwks: %w", err)
			}
		}
		if c.JWKSURI != "" && !secureURL(c.JWKSURI) {
			return fmt.Errorf("smart: client jwks_uri %q is not an https URL (http is allowed on loopback only)", c.JWKSURI)
		}
	default:
		return fmt.Errorf("smart: unsupported token_endpoint_auth_method %q", c.AuthMethod)
	}
	if len(c.GrantTypes) == 0 {
		return errors.New("smart: a client needs at least one grant type")
	}
	for _, g := range c.GrantTypes {
		if g != GrantAuthorizationCode && g != GrantRefreshToken && g != GrantClientCredentials {
			return fmt.Errorf("smart: unsupported grant type %q", g)
		}
	}
	if slices.Contains(c.GrantTypes, GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		return errors.New("smart: the authorization_code grant needs a redirect URI")
	}
	for _, r := range c.RedirectURIs {
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			return fmt.Errorf("smart: redirect URI %q is not an absolute URI without fragment", r)
		}
	}
	for _, s := range c.Scopes {
		if _, err := ParseScope(s); err != nil {
			return err
		}
	}
	return nil
}

// secureURL reports whether keys may be fetched from u: https, or http on
// the loopback interface (a key server on the same machine).
func secureURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return false
	}
	switch p.Scheme {
	case "https":
		return true
	case "http":
		host := p.Hostname()
		ip := net.ParseIP(host)
		return host == "localhost" || (ip != nil && ip.IsLoopback())
	}
	return false
}

// NewClient describes a client to register through the Go API (the admin
// command) or dynamic registration. An empty Secret with a secret-based
// AuthMethod makes one, returned by AddClient.
type NewClient struct {
	ID           string // empty: a random id
	Name         string
	AuthMethod   string
	Secret       string
	JWKS         json.RawMessage
	JWKSURI      string
	RedirectURIs []string
	Scopes       []string
	GrantTypes   []string
}

// AddClient registers a client. It returns the client and, for a client
// authenticated by a secret, the secret in clear (it is stored hashed, so
// this is the only time it can be seen). An existing id is store.ErrConflict.
func (s *Server) AddClient(ctx context.Context, nc NewClient) (*Client, string, error) {
	c := &Client{
		ID: nc.ID, Name: nc.Name, AuthMethod: nc.AuthMethod, JWKS: nc.JWKS, JWKSURI: nc.JWKSURI,
		RedirectURIs: nc.RedirectURIs, Scopes: nc.Scopes, GrantTypes: nc.GrantTypes, Created: time.Now().UTC(),
	}
	if c.ID == "" {
		c.ID = randomToken(16)
	}
	secret := nc.Secret
	if c.AuthMethod == AuthSecretBasic || c.AuthMethod == AuthSecretPost {
		if secret == "" {
			secret = randomToken(32)
		}
		c.SecretHash = hashPassword(secret)
	} else {
		secret = ""
	}
	if err := c.validate(); err != nil {
		return nil, "", err
	}
	if err := s.recs.put(ctx, kindClient, c.ID, 1, c, time.Time{}); err != nil {
		return nil, "", fmt.Errorf("smart: add client %s: %w", c.ID, err)
	}
	return c, secret, nil
}

// GetClient returns the client id, or an error wrapping store.ErrNotFound.
func (s *Server) GetClient(ctx context.Context, id string) (*Client, error) {
	var c Client
	if _, err := s.recs.get(ctx, kindClient, id, &c); err != nil {
		return nil, fmt.Errorf("smart: client %s: %w", id, err)
	}
	return &c, nil
}

// DeleteClient removes a client; its refresh tokens stop working at their
// next use, since the client is looked up then.
func (s *Server) DeleteClient(ctx context.Context, id string) error {
	return s.recs.rs.DeleteRecord(ctx, kindClient, id)
}

// EnsureBootstrapClient makes sure the client of TELEHUB_BOOTSTRAP_CLIENT
// ("id:secret") exists: a confidential client with the client_credentials
// grant and every system scope, so that a fresh deployment can be
// administered and loaded before any other client is registered. An existing
// client of that id is left alone, whatever its settings.
func (s *Server) EnsureBootstrapClient(ctx context.Context, value string) error {
	id, secret, ok := strings.Cut(value, ":")
	if !ok || id == "" || len(secret) < 16 {
		return errors.New("smart: bootstrap client must be id:secret with a secret of 16 characters or more")
	}
	_, _, err := s.AddClient(ctx, NewClient{
		ID: id, Name: "bootstrap", AuthMethod: AuthSecretBasic, Secret: secret,
		Scopes: []string{"system/*.cruds"}, GrantTypes: []string{GrantClientCredentials},
	})
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

// EnsurePublicClient makes sure a public client TeleHub itself serves (the
// web app) exists with exactly nc's redirect URIs, scopes and grants: a
// change of the public base URL or of the app's scopes updates it at the
// next start.
func (s *Server) EnsurePublicClient(ctx context.Context, nc NewClient) error {
	nc.AuthMethod, nc.Secret = AuthNone, ""
	var current Client
	rec, err := s.recs.get(ctx, kindClient, nc.ID, &current)
	if errors.Is(err, store.ErrNotFound) {
		_, _, err = s.AddClient(ctx, nc)
		return err
	}
	if err != nil {
		return fmt.Errorf("smart: client %s: %w", nc.ID, err)
	}
	if slices.Equal(current.RedirectURIs, nc.RedirectURIs) && slices.Equal(current.Scopes, nc.Scopes) &&
		slices.Equal(current.GrantTypes, nc.GrantTypes) && current.AuthMethod == AuthNone {
		return nil
	}
	current.Name, current.AuthMethod, current.SecretHash = nc.Name, AuthNone, ""
	current.RedirectURIs, current.Scopes, current.GrantTypes = nc.RedirectURIs, nc.Scopes, nc.GrantTypes
	if err := current.validate(); err != nil {
		return err
	}
	if err := s.recs.put(ctx, kindClient, nc.ID, rec.Version+1, &current, time.Time{}); err != nil {
		return fmt.Errorf("smart: update client %s: %w", nc.ID, err)
	}
	return nil
}
