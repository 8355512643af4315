package authz

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/smart"
)

// Authenticator turns the bearer token of a request into its Principal.
type Authenticator struct {
	// Verifier checks tokens (required unless Insecure).
	Verifier TokenVerifier
	// Insecure serves every request as an all-powerful principal
	// (--insecure-no-auth, for development only).
	Insecure bool
	// Realm names the protected resource in WWW-Authenticate.
	Realm string
	// MaxTokenBytes bounds the Authorization header (default 8 KiB).
	MaxTokenBytes int
	Logger        *slog.Logger
}

// insecureGrants allow everything, as system/*.cruds would.
var insecureGrants = func() smart.Grants {
	scopes, err := smart.ParseScopes("system/*.cruds")
	if err != nil {
		panic(err)
	}
	return smart.Grants{Scopes: scopes}
}()

// ErrNoToken and ErrBadToken are the two ways authentication fails.
var (
	ErrNoToken  = errors.New("authz: no bearer token")
	ErrBadToken = errors.New("authz: invalid bearer token")
)

// Authenticate verifies the request's bearer token and returns its principal.
func (a *Authenticator) Authenticate(r *http.Request) (*Principal, error) {
	if a.Insecure {
		return &Principal{Subject: "insecure-no-auth", Grants: insecureGrants, Insecure: true,
			Purpose: r.Header.Get(PurposeHeader), Address: ClientAddress(r)}, nil
	}
	header := r.Header.Get("Authorization")
	if header == "" {
		return nil, ErrNoToken
	}
	max := a.MaxTokenBytes
	if max <= 0 {
		max = 8 << 10
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > max {
		return nil, ErrBadToken
	}
	at, err := a.Verifier.VerifyAccessToken(r.Context(), strings.TrimSpace(token))
	if err != nil {
		if errors.Is(err, smart.ErrInvalidToken) {
			return nil, ErrBadToken
		}
		return nil, err
	}
	return &Principal{
		TokenID: at.ID, Subject: at.Subject, ClientID: at.ClientID, FHIRUser: at.FHIRUser,
		Patient: at.Patient, Encounter: at.Encounter, Grants: at.Grants(),
		Purpose: r.Header.Get(PurposeHeader), Address: ClientAddress(r),
	}, nil
}

// Middleware authenticates every request it wraps, answering 401 with
// WWW-Authenticate and an OperationOutcome when there is no valid token.
func (a *Authenticator) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().Method == http.MethodOptions {
				return next(c) // CORS preflights carry no token
			}
			p, err := a.Authenticate(c.Request())
			if err != nil {
				return a.Unauthorized(c, err)
			}
			req := c.Request()
			c.SetRequest(req.WithContext(NewContext(req.Context(), p)))
			return next(c)
		}
	}
}

// Unauthorized answers 401 for err (ErrNoToken, ErrBadToken), or 500 when
// verification itself failed.
func (a *Authenticator) Unauthorized(c echo.Context, err error) error {
	if !errors.Is(err, ErrNoToken) && !errors.Is(err, ErrBadToken) {
		if a.Logger != nil {
			a.Logger.ErrorContext(c.Request().Context(), "verify access token", "err", err)
		}
		return WriteOutcome(c, http.StatusInternalServerError, "exception", "the access token could not be checked")
	}
	challenge := `Bearer realm="` + a.Realm + `"`
	msg := "this request needs a bearer access token"
	if errors.Is(err, ErrBadToken) {
		challenge += `, error="invalid_token", error_description="the access token is invalid or expired"`
		msg = "the access token is invalid, expired or revoked"
	}
	c.Response().Header().Set("WWW-Authenticate", challenge)
	return WriteOutcome(c, http.StatusUnauthorized, "login", msg)
}

// Forbidden answers 403 with an OperationOutcome saying why.
func Forbidden(c echo.Context, why string) error {
	return WriteOutcome(c, http.StatusForbidden, "forbidden", why)
}

// WriteOutcome answers status with a one-issue OperationOutcome.
func WriteOutcome(c echo.Context, status int, code, diagnostics string) error {
	body, _ := json.Marshal(map[string]any{
		"resourceType": "OperationOutcome",
		"issue": []map[string]string{{
			"severity": "error", "code": code, "diagnostics": diagnostics,
		}},
	})
	return c.Blob(status, "application/fhir+json", body)
}

// ClientAddress is the network address (host, without port) of the
// request's peer.
func ClientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
