package smart

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"
)

// scopesSupported are the scopes discovery advertises: the non-resource
// scopes this server understands, and the resource scope forms.
var scopesSupported = []string{
	"openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter",
	"offline_access", "online_access",
	"patient/*.cruds", "user/*.cruds", "system/*.cruds",
	"patient/*.read", "user/*.read", "system/*.read", "patient/*.write", "user/*.write", "system/*.write",
}

// handleJWKS serves the public signing keys.
func (s *Server) handleJWKS(c echo.Context) error {
	set, err := s.keys.PublicSet(c.Request().Context())
	if err != nil {
		return s.sendOAuthError(c, err)
	}
	b, err := json.Marshal(set)
	if err != nil {
		return s.sendOAuthError(c, err)
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/json", b)
}

func (s *Server) authMethods() []string {
	return []string{AuthSecretBasic, AuthSecretPost, AuthPrivateKeyJWT, AuthNone}
}

// handleSMARTConfiguration serves the SMART discovery document, in JSON
// whatever the Accept header asks (the SMART specification requires it).
func (s *Server) handleSMARTConfiguration(c echo.Context) error {
	doc := map[string]any{
		"issuer":                                s.paths.issuer,
		"jwks_uri":                              s.paths.jwks,
		"authorization_endpoint":                s.paths.authorize,
		"token_endpoint":                        s.paths.token,
		"grant_types_supported":                 []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials},
		"token_endpoint_auth_methods_supported": s.authMethods(),
		"token_endpoint_auth_signing_alg_values_supported": assertionAlgs,
		"introspection_endpoint":                           s.paths.introspect,
		"revocation_endpoint":                              s.paths.revoke,
		"userinfo_endpoint":                                s.paths.userinfo,
		"scopes_supported":                                 scopesSupported,
		"response_types_supported":                         []string{"code"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"capabilities": []string{
			"launch-ehr", "launch-standalone", "authorize-post",
			"client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
			"context-ehr-patient", "context-ehr-encounter", "context-standalone-patient",
			"context-banner", "context-style",
			"permission-offline", "permission-online", "permission-patient", "permission-user",
			"permission-v1", "permission-v2", "sso-openid-connect",
		},
	}
	if s.cfg.RegistrationToken != "" {
		doc["registration_endpoint"] = s.paths.register
	}
	return c.JSON(http.StatusOK, doc)
}

// handleOpenIDConfiguration serves the OpenID Connect discovery document.
func (s *Server) handleOpenIDConfiguration(c echo.Context) error {
	doc := map[string]any{
		"issuer":                                s.paths.issuer,
		"jwks_uri":                              s.paths.jwks,
		"authorization_endpoint":                s.paths.authorize,
		"token_endpoint":                        s.paths.token,
		"userinfo_endpoint":                     s.paths.userinfo,
		"introspection_endpoint":                s.paths.introspect,
		"revocation_endpoint":                   s.paths.revoke,
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "fhirUser", "profile", "offline_access", "online_access"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser", "name"},
		"token_endpoint_auth_methods_supported": s.authMethods(),
		"code_challenge_methods_supported":      []string{"S256"},
	}
	if s.cfg.RegistrationToken != "" {
		doc["registration_endpoint"] = s.paths.register
	}
	return c.JSON(http.StatusOK, doc)
}
