package smart

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/store"
)

// handleIntrospect answers RFC 7662 introspection for an authenticated
// client: access tokens (any client, as resource servers need) and the
// client's own refresh tokens.
func (s *Server) handleIntrospect(c echo.Context) error {
	client, token, err := s.tokenRequest(c)
	if err != nil {
		return s.sendOAuthError(c, err)
	}
	ctx := c.Request().Context()
	noStore(c)
	inactive := map[string]any{"active": false}
	if at, err := s.VerifyAccessToken(ctx, token); err == nil {
		if client.Public() && at.ClientID != client.ID {
			return c.JSON(http.StatusOK, inactive)
		}
		resp := map[string]any{
			"active": true, "token_type": "Bearer", "scope": FormatScopes(at.Scopes), "client_id": at.ClientID,
			"sub": at.Subject, "exp": at.Expires.Unix(), "iat": at.IssuedAt.Unix(), "iss": s.paths.issuer,
			"aud": s.paths.fhir, "jti": at.ID,
		}
		for k, v := range map[string]string{"patient": at.Patient, "encounter": at.Encounter, "fhirUser": at.FHIRUser} {
			if v != "" {
				resp[k] = v
			}
		}
		return c.JSON(http.StatusOK, resp)
	} else if !errors.Is(err, ErrInvalidToken) {
		return s.sendOAuthError(c, err)
	}
	var rt refreshRecord
	_, err = s.recs.get(ctx, kindRefresh, hashToken(token), &rt)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return c.JSON(http.StatusOK, inactive)
	case err != nil:
		return s.sendOAuthError(c, err)
	}
	if revoked, err := s.familyRevoked(ctx, rt.Family); err != nil {
		return s.sendOAuthError(c, err)
	} else if revoked || rt.Used || rt.Grant.ClientID != client.ID {
		return c.JSON(http.StatusOK, inactive)
	}
	return c.JSON(http.StatusOK, map[string]any{
		"active": true, "token_type": "refresh_token", "scope": rt.Grant.Scope, "client_id": rt.Grant.ClientID,
		"sub": rt.Grant.subject(), "exp": rt.Expires.Unix(), "iss": s.paths.issuer,
	})
}

// handleRevoke revokes a token of the authenticated client (RFC 7009): a
// refresh token revokes its whole grant, an access token is refused until
// it expires. Unknown tokens are no error.
func (s *Server) handleRevoke(c echo.Context) error {
	client, token, err := s.tokenRequest(c)
	if err != nil {
		return s.sendOAuthError(c, err)
	}
	ctx := c.Request().Context()
	var rt refreshRecord
	_, err = s.recs.get(ctx, kindRefresh, hashToken(token), &rt)
	switch {
	case err == nil && rt.Grant.ClientID == client.ID:
		if err := s.revokeFamilyAudited(c, rt.Family, agentOf(c, rt.Grant)); err != nil {
			return s.sendOAuthError(c, err)
		}
		return c.NoContent(http.StatusOK)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return s.sendOAuthError(c, err)
	}
	at, err := s.VerifyAccessToken(ctx, token)
	if err == nil && at.ClientID == client.ID {
		who := audit.Agent{User: at.FHIRUser, Client: at.ClientID, Address: clientAddress(c)}
		if err := s.revokeAccessToken(c, at, who); err != nil {
			return s.sendOAuthError(c, err)
		}
	}
	return c.NoContent(http.StatusOK)
}

// handleUserinfo answers OpenID Connect userinfo for an access token of a
// user that includes the openid scope.
func (s *Server) handleUserinfo(c echo.Context) error {
	token, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
	if !ok {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="telehub"`)
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "a bearer access token is required"})
	}
	at, err := s.VerifyAccessToken(c.Request().Context(), strings.TrimSpace(token))
	if err != nil {
		if !errors.Is(err, ErrInvalidToken) {
			return s.sendOAuthError(c, err)
		}
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="telehub", error="invalid_token"`)
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "invalid or expired access token"})
	}
	if !Has(at.Scopes, "openid") || at.Subject == at.ClientID {
		return c.JSON(http.StatusForbidden, map[string]string{"error": "insufficient_scope", "error_description": "userinfo needs a user's token with the openid scope"})
	}
	info := map[string]any{"sub": at.Subject}
	if at.FHIRUser != "" && Has(at.Scopes, "fhirUser") {
		info["fhirUser"] = s.paths.fhir + "/" + at.FHIRUser
	}
	noStore(c)
	return c.JSON(http.StatusOK, info)
}

// tokenRequest reads a request about a token (introspection, revocation):
// its form, the client it authenticates, and the token it names.
func (s *Server) tokenRequest(c echo.Context) (*Client, string, error) {
	if err := c.Request().ParseForm(); err != nil {
		return nil, "", oauthErr(http.StatusBadRequest, "invalid_request", "malformed form")
	}
	client, err := s.authenticateClient(c)
	if err != nil {
		return nil, "", err
	}
	token := c.Request().PostFormValue("token")
	if token == "" {
		return nil, "", oauthErr(http.StatusBadRequest, "invalid_request", "token is required")
	}
	return client, token, nil
}
