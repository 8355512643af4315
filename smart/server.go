// Package smart is TeleHub's SMART-on-FHIR authorization server (SMART App
// Launch 2.x, OAuth 2.0 and OpenID Connect): clients and user accounts,
// signing keys, the authorization code flow with PKCE, EHR and standalone
// launch, backend services (client_credentials with private_key_jwt),
// refresh, introspection and revocation, and the scope grammar with the
// access decisions the FHIR layer asks of it (Grants). Users may also sign
// in through an upstream OpenID Connect provider (Federation), and every
// login, token issued and token revoked is audited, fail-closed (Auditor).
//
// All its state lives in store.Records beside the resources, so that several
// nodes sharing a store share clients, sessions and keys.
package smart

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/internal/cors"
	"github.com/telehub/telehub/store"
)

// PatientSummary is one line of the patient picker.
type PatientSummary struct {
	ID        string
	Name      string
	BirthDate string
	Gender    string
}

// PatientDirectory finds patients for the patient picker of a standalone
// launch asking for launch/patient. The FHIR layer backs it with the store.
type PatientDirectory interface {
	SearchPatients(ctx context.Context, text string, limit int) ([]PatientSummary, error)
}

// Config configures a Server.
type Config struct {
	// BaseURL is the server's public URL ("https://telehub.example"), the
	// issuer of its tokens; the endpoints live under BaseURL/auth.
	BaseURL string
	// FHIRBaseURL is the FHIR endpoint, the audience of access tokens;
	// BaseURL/fhir when empty.
	FHIRBaseURL string
	// Records holds the server's state; required.
	Records store.Records
	// Patients lists patients for the patient picker; without it a
	// standalone launch asking for launch/patient is refused.
	Patients PatientDirectory
	// RegistrationToken is the initial access token dynamic client
	// registration (RFC 7591) requires; empty disables registration.
	RegistrationToken string
	// AccessTokenTTL is the lifetime of access tokens (10 minutes when zero).
	AccessTokenTTL time.Duration
	// AccessTokenAlg signs access tokens: "ES256" (default), "ES384" or
	// "RS384". ES256 is the default because every FHIR request carries the
	// token: its 64-byte signature makes a token about a third shorter
	// than an RS384 one (2048-bit key), bytes every request sends and every
	// request parses, while the signature itself is checked once per token
	// (authz.CachingVerifier).
	AccessTokenAlg string
	// OfflineTTL is how long the refresh tokens of an offline_access grant
	// work, counted from the authorization (90 days when zero); OnlineTTL
	// the same for online_access (12 hours when zero). Refresh tokens rotate
	// within that time; the user authorizes again after it.
	OfflineTTL, OnlineTTL time.Duration
	// MaxLoginFailuresPerAddress is how many failed logins from one client
	// address, whatever the accounts, are allowed in 15 minutes before its
	// logins are refused (20 when zero). Accounts also lock after 5
	// consecutive failures of their own.
	MaxLoginFailuresPerAddress int
	// HTTPClient fetches the jwks_uri of clients (a client with a 10 s
	// timeout when nil).
	HTTPClient *http.Client
	// Logger logs security events (slog.Default when nil).
	Logger *slog.Logger
	// Audit records logins and tokens issued and revoked, fail-closed (see
	// Auditor); nil records nothing.
	Audit Auditor
	// Federation signs users in through an upstream OpenID Connect
	// provider (see Federation); nil offers the local login only.
	Federation *Federation
}

// Server is the authorization server. Create it with New, mount its
// endpoints with Mount.
type Server struct {
	cfg      Config
	recs     records
	keys     *KeyRing
	log      *slog.Logger
	pages    *template.Template
	paths    paths
	clientKS *keySetCache
	fed      *federation // nil without Config.Federation
}

// paths are the server's endpoints, as absolute URLs.
type paths struct {
	issuer, fhir                                         string
	authorize, login, consent, token, introspect, revoke string
	register, userinfo, jwks, openidConfig, smartConfig  string
	fedStart, fedCallback                                string
}

// Lifetimes of the short-lived records.
const (
	authRequestTTL = 15 * time.Minute
	codeTTL        = 2 * time.Minute
	launchTTL      = time.Hour
)

// New returns a Server for cfg. Signing keys are made on first use.
func New(cfg Config) (*Server, error) {
	if cfg.Records == nil {
		return nil, errors.New("smart: Config.Records is required")
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || !base.IsAbs() || base.Host == "" {
		return nil, fmt.Errorf("smart: BaseURL %q is not an absolute URL", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	if cfg.FHIRBaseURL == "" {
		cfg.FHIRBaseURL = cfg.BaseURL + "/fhir"
	}
	cfg.FHIRBaseURL = strings.TrimSuffix(cfg.FHIRBaseURL, "/")
	if _, err := url.Parse(cfg.FHIRBaseURL); err != nil {
		return nil, fmt.Errorf("smart: FHIRBaseURL: %w", err)
	}
	if cfg.AccessTokenTTL == 0 {
		cfg.AccessTokenTTL = 10 * time.Minute
	}
	switch cfg.AccessTokenAlg {
	case "":
		cfg.AccessTokenAlg = "ES256"
	case "ES256", "ES384", "RS384":
	default:
		return nil, fmt.Errorf("smart: AccessTokenAlg %q: want ES256, ES384 or RS384", cfg.AccessTokenAlg)
	}
	if cfg.OfflineTTL == 0 {
		cfg.OfflineTTL = 90 * 24 * time.Hour
	}
	if cfg.OnlineTTL == 0 {
		cfg.OnlineTTL = 12 * time.Hour
	}
	if cfg.MaxLoginFailuresPerAddress == 0 {
		cfg.MaxLoginFailuresPerAddress = 20
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		cfg:      cfg,
		recs:     records{cfg.Records},
		keys:     newKeyRing(cfg.Records, max(cfg.AccessTokenTTL, idTokenTTL)+time.Minute),
		log:      cfg.Logger,
		pages:    parsePages(),
		clientKS: &keySetCache{client: cfg.HTTPClient, entries: map[string]cachedKeySet{}},
	}
	b := cfg.BaseURL
	s.paths = paths{
		issuer: b, fhir: cfg.FHIRBaseURL,
		authorize: b + "/auth/authorize", login: b + "/auth/login", consent: b + "/auth/consent",
		token: b + "/auth/token", introspect: b + "/auth/introspect", revoke: b + "/auth/revoke",
		register: b + "/auth/register", userinfo: b + "/auth/userinfo", jwks: b + "/.well-known/jwks.json",
		openidConfig: b + "/.well-known/openid-configuration",
		smartConfig:  cfg.FHIRBaseURL + "/.well-known/smart-configuration",
		fedStart:     b + fedStartPath, fedCallback: b + fedCallbackPath,
	}
	if cfg.Federation != nil {
		if s.fed, err = newFederation(*cfg.Federation, cfg.HTTPClient); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Keys returns the server's key ring (for rotation by an admin command or a
// schedule).
func (s *Server) Keys() *KeyRing { return s.keys }

// TokenURL is the token endpoint, the audience client assertions must name.
func (s *Server) TokenURL() string { return s.paths.token }

// corsPolicy lets browser apps fetch discovery, keys and tokens from their
// pages.
var corsPolicy = cors.Policy{
	Methods: []string{"GET", "POST", "OPTIONS"},
	Headers: []string{"Authorization", "Content-Type", "Accept"},
	Expose:  []string{"WWW-Authenticate"},
}

// noContent answers an OPTIONS request that is not a preflight.
func noContent(c echo.Context) error { return c.NoContent(http.StatusNoContent) }

// Mount registers the endpoints on e, at the paths of the configured URLs.
func (s *Server) Mount(e *echo.Echo) {
	// Endpoints a browser app fetches from its page get CORS.
	withCORS := corsPolicy.Middleware()
	fetched := func(path string, methods []string, h echo.HandlerFunc) {
		for _, m := range methods {
			e.Add(m, path, h, withCORS)
		}
		e.OPTIONS(path, noContent, withCORS)
	}
	get, post, both := []string{http.MethodGet}, []string{http.MethodPost}, []string{http.MethodGet, http.MethodPost}
	fetched(pathOf(s.paths.jwks), get, s.handleJWKS)
	fetched(pathOf(s.paths.openidConfig), get, s.handleOpenIDConfiguration)
	fetched(pathOf(s.paths.smartConfig), get, s.handleSMARTConfiguration)
	fetched(pathOf(s.paths.token), post, s.handleToken)
	fetched(pathOf(s.paths.introspect), post, s.handleIntrospect)
	fetched(pathOf(s.paths.revoke), post, s.handleRevoke)
	fetched(pathOf(s.paths.userinfo), both, s.handleUserinfo)
	if s.cfg.RegistrationToken != "" {
		fetched(pathOf(s.paths.register), post, s.handleRegister)
	}
	// Navigations of the user's browser: no CORS.
	e.GET(pathOf(s.paths.authorize), s.handleAuthorize)
	e.POST(pathOf(s.paths.authorize), s.handleAuthorize)
	e.POST(pathOf(s.paths.login), s.handleLogin)
	e.GET(pathOf(s.paths.consent), s.handleConsentPage)
	e.POST(pathOf(s.paths.consent), s.handleConsent)
	if s.fed != nil {
		e.GET(pathOf(s.paths.fedStart), s.handleFederatedStart)
		e.GET(pathOf(s.paths.fedCallback), s.handleFederatedCallback)
	}
}

func pathOf(u string) string {
	p, _ := url.Parse(u) // checked in New
	if p.Path == "" {
		return "/"
	}
	return p.Path
}

// oauthError is an error answered as RFC 6749 JSON.
type oauthError struct {
	status      int
	code        string
	description string
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

func oauthErr(status int, code, format string, args ...any) *oauthError {
	return &oauthError{status: status, code: code, description: fmt.Sprintf(format, args...)}
}

// sendOAuthError answers err as RFC 6749 JSON; an error that is not an
// oauthError is logged and answered as server_error without its details.
func (s *Server) sendOAuthError(c echo.Context, err error) error {
	var oe *oauthError
	if !errors.As(err, &oe) {
		s.log.Error("authorization server error", "path", c.Path(), "err", err)
		oe = oauthErr(http.StatusInternalServerError, "server_error", "internal error")
	}
	noStore(c)
	if oe.status == http.StatusUnauthorized && oe.code == "invalid_client" {
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="telehub"`)
	}
	return c.JSON(oe.status, map[string]string{"error": oe.code, "error_description": oe.description})
}

// noStore marks a response holding tokens or credentials as not cacheable.
func noStore(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Pragma", "no-cache")
}

// keySetCache keeps the key sets fetched from clients' jwks_uri for a while.
type keySetCache struct {
	client  *http.Client
	mu      sync.Mutex
	entries map[string]cachedKeySet
}

// Endpoints are the OAuth endpoints of a Server, as absolute URLs, for the
// FHIR CapabilityStatement's security section.
type Endpoints struct {
	Authorize, Token, Introspect, Revoke, Register, Userinfo, JWKS string
}

// Endpoints returns the server's OAuth endpoints.
func (s *Server) Endpoints() Endpoints {
	return Endpoints{
		Authorize: s.paths.authorize, Token: s.paths.token, Introspect: s.paths.introspect,
		Revoke: s.paths.revoke, Register: s.paths.register, Userinfo: s.paths.userinfo, JWKS: s.paths.jwks,
	}
}
