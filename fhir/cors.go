package fhir

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// cors lets browser apps (SMART apps) call the FHIR API from any origin.
// The API authenticates with bearer tokens only, never cookies, so any
// origin is safe and credentials are not allowed. Preflights are answered
// here, before authentication: they carry no token.
func cors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "Location, Content-Location, ETag, Last-Modified, WWW-Authenticate")
		if c.Request().Method == http.MethodOptions && c.Request().Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, If-Match, If-None-Match, If-None-Exist, If-Modified-Since, Prefer, X-Purpose-Of-Use")
			h.Set("Access-Control-Max-Age", "600")
			return c.NoContent(http.StatusNoContent)
		}
		return next(c)
	}
}
