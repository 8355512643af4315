package smart

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/store"
)

// registration is the client metadata of RFC 7591 this server understands.
type registration struct {
	ClientName              string          `json:"client_name,omitempty"`
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string        `json:"grant_types,omitempty"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
}

// handleRegister is dynamic client registration (RFC 7591), allowed to
// holders of the configured initial access token only.
func (s *Server) handleRegister(c echo.Context) error {
	token, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
	if !ok || !constantTimeEqual(strings.TrimSpace(token), s.cfg.RegistrationToken) {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="telehub"`)
		return s.sendOAuthError(c, oauthErr(http.StatusUnauthorized, "invalid_token", "an initial access token is required"))
	}
	var reg registration
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 64<<10))
	if err := dec.Decode(&reg); err != nil {
		return s.sendOAuthError(c, oauthErr(http.StatusBadRequest, "invalid_client_metadata", "the body is not client metadata JSON"))
	}
	if reg.TokenEndpointAuthMethod == "" {
		reg.TokenEndpointAuthMethod = AuthSecretBasic // RFC 7591 default
	}
	if len(reg.GrantTypes) == 0 {
		reg.GrantTypes = []string{GrantAuthorizationCode}
	}
	for _, rt := range reg.ResponseTypes {
		if rt != "code" {
			return s.sendOAuthError(c, oauthErr(http.StatusBadRequest, "invalid_client_metadata", "response type %q is not supported", rt))
		}
	}
	client, secret, err := s.AddClient(c.Request().Context(), NewClient{
		Name: reg.ClientName, AuthMethod: reg.TokenEndpointAuthMethod, JWKS: reg.JWKS, JWKSURI: reg.JWKSURI,
		RedirectURIs: reg.RedirectURIs, Scopes: strings.Fields(reg.Scope), GrantTypes: reg.GrantTypes,
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return s.sendOAuthError(c, err) // a random id clashed: a server error
	case err != nil && strings.Contains(err.Error(), "redirect URI"):
		return s.sendOAuthError(c, oauthErr(http.StatusBadRequest, "invalid_redirect_uri", "%v", err))
	case err != nil:
		return s.sendOAuthError(c, oauthErr(http.StatusBadRequest, "invalid_client_metadata", "%v", err))
	}
	s.log.Info("client registered", "client_id", client.ID, "auth_method", client.AuthMethod)
	resp := map[string]any{
		"client_id": client.ID, "client_id_issued_at": client.Created.Unix(), "client_name": client.Name,
		"redirect_uris": client.RedirectURIs, "token_endpoint_auth_method": client.AuthMethod,
		"grant_types": client.GrantTypes, "response_types": []string{"code"}, "scope": strings.Join(client.Scopes, " "),
	}
	if secret != "" {
		resp["client_secret"], resp["client_secret_expires_at"] = secret, 0
	}
	if len(client.JWKS) > 0 {
		resp["jwks"] = client.JWKS
	}
	if client.JWKSURI != "" {
		resp["jwks_uri"] = client.JWKSURI
	}
	noStore(c)
	return c.JSON(http.StatusCreated, resp)
}
