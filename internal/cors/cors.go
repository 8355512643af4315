// Package cors lets browser apps call TeleHub's APIs from pages of any
// origin: SMART apps calling the FHIR API and the authorization server,
// image viewers calling DICOMweb.
//
// Every API it serves authenticates each request by itself (a bearer token,
// a client assertion or secret in the body), never with a cookie, so any
// origin may call it and credentials are never allowed: a page of another
// origin gains nothing it could not do with the token it already holds.
// Pages the user's browser navigates to (login, consent) are not fetches and
// get no CORS headers.
package cors

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// Policy is what one API lets a page's scripts do.
type Policy struct {
	// Methods are the request methods a page may use.
	Methods []string
	// Headers are the request headers a page may set beyond the simple ones.
	Headers []string
	// Expose are the response headers a page's scripts may read beyond the
	// simple ones.
	Expose []string
}

// maxAge is how long a browser may keep a preflight's answer, in seconds.
const maxAge = "600"

// Middleware adds the CORS headers to every response and answers
// preflights itself, before authentication: a preflight carries no token.
// An OPTIONS request that is not a preflight goes on to the handler.
func (p Policy) Middleware() echo.MiddlewareFunc {
	methods, headers, expose := strings.Join(p.Methods, ", "), strings.Join(p.Headers, ", "), strings.Join(p.Expose, ", ")
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Access-Control-Allow-Origin", "*")
			if expose != "" {
				h.Set("Access-Control-Expose-Headers", expose)
			}
			if IsPreflight(c.Request()) {
				h.Set("Access-Control-Allow-Methods", methods)
				h.Set("Access-Control-Allow-Headers", headers)
				h.Set("Access-Control-Max-Age", maxAge)
				return c.NoContent(http.StatusNoContent)
			}
			return next(c)
		}
	}
}

// IsPreflight reports whether r is a browser's CORS preflight request.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
}
