package smart

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// cors lets browser apps call the endpoints a SMART app calls from its page
// (discovery, JWKS, token, introspection, revocation, userinfo) from any
// origin. No cookie is ever honoured on them (clients authenticate in the
// request itself), so any origin is safe and credentials are not allowed.
// The authorization, login and consent pages are navigations, not fetches,
// and get no CORS headers.
func cors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		if c.Request().Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept")
			h.Set("Access-Control-Max-Age", "600")
			return c.NoContent(http.StatusNoContent)
		}
		return next(c)
	}
}

// preflight answers CORS preflight requests (cors does the work).
func preflight(c echo.Context) error { return nil }
