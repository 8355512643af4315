package smart

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/store"
)

// codeVerifier is what RFC 7636 allows a PKCE verifier to be.
var codeVerifier = regexp.MustCompile(`^[A-Za-z0-9\-._~]{43,128}$`)

// handleToken is the token endpoint: authorization_code, refresh_token and
// client_credentials grants.
func (s *Server) handleToken(c echo.Context) error {
	if err := c.Request().ParseForm(); err != nil {
		return s.sendOAuthError(c, oauthErr(http.StatusBadRequest, "invalid_request", "malformed form"))
	}
	client, err := s.refreshingPublicClient(c)
	if client == nil && err == nil {
		client, err = s.authenticateClient(c)
	}
	if err != nil {
		if aerr := s.auditClientFailure(c, err); aerr != nil {
			return s.sendOAuthError(c, aerr)
		}
		return s.sendOAuthError(c, err)
	}
	grantType := c.Request().PostFormValue("grant_type")
	if !slices.Contains(client.GrantTypes, grantType) {
		if grantType != GrantAuthorizationCode && grantType != GrantRefreshToken && grantType != GrantClientCredentials {
			return s.sendOAuthError(c, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "grant_type %q is not supported", grantType))
		}
		return s.sendOAuthError(c, oauthErr(http.StatusBadRequest, "unauthorized_client", "the client may not use the %s grant", grantType))
	}
	var resp *tokenResponse
	switch grantType {
	case GrantAuthorizationCode:
		resp, err = s.redeemCode(c, client)
	case GrantRefreshToken:
		resp, err = s.refresh(c, client)
	case GrantClientCredentials:
		resp, err = s.clientCredentials(c, client)
	}
	if err != nil {
		return s.sendOAuthError(c, err)
	}
	// Fail-closed: tokens that cannot be recorded are not handed out.
	if err := s.record(c.Request().Context(), audit.TokenIssued(agentOf(c, resp.grant), resp.Scope, resp.Patient)); err != nil {
		return s.sendOAuthError(c, err)
	}
	noStore(c)
	return c.JSON(http.StatusOK, resp)
}

// redeemCode exchanges an authorization code, once, for tokens. A code
// presented twice is refused, and the tokens of its first use revoked
// (RFC 6749 4.1.2).
func (s *Server) redeemCode(c echo.Context, client *Client) (*tokenResponse, error) {
	ctx := c.Request().Context()
	form := c.Request().PostForm
	invalid := func(desc string) error { return oauthErr(http.StatusBadRequest, "invalid_grant", "%s", desc) }
	key := hashToken(form.Get("code"))
	var cr codeRecord
	rec, err := s.recs.get(ctx, kindCode, key, &cr)
	if errors.Is(err, store.ErrNotFound) || form.Get("code") == "" {
		return nil, invalid("unknown or expired code")
	}
	if err != nil {
		return nil, err
	}
	if cr.Used {
		if cr.Family != "" {
			if err := s.revokeFamilyAudited(c, cr.Family, agentOf(c, cr.Grant)); err != nil {
				return nil, err
			}
		}
		s.log.Warn("authorization code replayed", "client_id", client.ID)
		return nil, invalid("code already used")
	}
	switch {
	case cr.Grant.ClientID != client.ID:
		return nil, invalid("the code was issued to another client")
	case (cr.RedirectGiven || form.Has("redirect_uri")) && form.Get("redirect_uri") != cr.RedirectURI:
		return nil, invalid("redirect_uri does not match the authorization request")
	case !codeVerifier.MatchString(form.Get("code_verifier")):
		return nil, invalid("a PKCE code_verifier of 43 to 128 characters is required")
	case !constantTimeEqual(s256(form.Get("code_verifier")), cr.Challenge):
		return nil, invalid("code_verifier does not match the code_challenge")
	}
	// Mark the code used before issuing: of two concurrent redemptions one
	// gets a conflict.
	scopes := strings.Fields(cr.Grant.Scope)
	offline, online := slices.Contains(scopes, "offline_access"), slices.Contains(scopes, "online_access")
	var f *family
	if (offline || online) && slices.Contains(client.GrantTypes, GrantRefreshToken) {
		if f, err = s.newFamily(ctx, client.ID, !offline); err != nil {
			return nil, err
		}
		cr.Family = f.ID
	}
	cr.Used = true
	if err := s.recs.put(ctx, kindCode, key, rec.Version+1, cr, rec.Expires); errors.Is(err, store.ErrConflict) {
		return nil, invalid("code already used")
	} else if err != nil {
		return nil, err
	}
	resp, err := s.issue(ctx, cr.Grant, f)
	if err != nil || f == nil {
		return resp, err
	}
	return resp, s.trackAccessToken(ctx, f.ID, resp.access)
}

// s256 is the PKCE S256 transformation of a verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// refresh rotates a refresh token: the old one is used up, a new one of the
// same grant issued. A used token presented again means it leaked: the whole
// grant is revoked. A scope parameter may narrow the grant, never widen it.
func (s *Server) refresh(c echo.Context, client *Client) (*tokenResponse, error) {
	ctx := c.Request().Context()
	form := c.Request().PostForm
	invalid := func(desc string) error { return oauthErr(http.StatusBadRequest, "invalid_grant", "%s", desc) }
	key := hashToken(form.Get("refresh_token"))
	var rt refreshRecord
	rec, err := s.recs.get(ctx, kindRefresh, key, &rt)
	if errors.Is(err, store.ErrNotFound) || form.Get("refresh_token") == "" {
		return nil, invalid("unknown, expired or revoked refresh token")
	}
	if err != nil {
		return nil, err
	}
	if rt.Grant.ClientID != client.ID {
		return nil, invalid("the refresh token was issued to another client")
	}
	if rt.Used {
		s.log.Warn("refresh token reused: revoking its grant", "client_id", client.ID)
		if err := s.revokeFamilyAudited(c, rt.Family, agentOf(c, rt.Grant)); err != nil {
			return nil, err
		}
		return nil, invalid("refresh token already used")
	}
	if revoked, err := s.familyRevoked(ctx, rt.Family); err != nil {
		return nil, err
	} else if revoked {
		return nil, invalid("unknown, expired or revoked refresh token")
	}
	g := rt.Grant
	if want := form.Get("scope"); want != "" {
		narrowed, err := narrowScope(g.Scope, want)
		if err != nil {
			return nil, err
		}
		g.Scope = narrowed
	}
	rt.Used = true
	if err := s.recs.put(ctx, kindRefresh, key, rec.Version+1, rt, rec.Expires); errors.Is(err, store.ErrConflict) {
		return nil, invalid("refresh token already used")
	} else if err != nil {
		return nil, err
	}
	resp, err := s.issue(ctx, g, nil)
	if err != nil {
		return nil, err
	}
	if err := s.trackAccessToken(ctx, rt.Family, resp.access); err != nil {
		return nil, err
	}
	// The new refresh token keeps the whole grant: narrowing applies to
	// this access token only.
	f := family{ID: rt.Family, Online: rt.Online, Expires: rt.Expires}
	if resp.RefreshToken, err = s.newRefreshToken(ctx, rt.Grant, f); err != nil {
		return nil, err
	}
	return resp, nil
}

// narrowScope returns want if every scope in it is covered by granted.
func narrowScope(granted, want string) (string, error) {
	have, err := ParseScopes(granted)
	if err != nil {
		return "", err
	}
	asked, err := ParseScopes(want)
	if err != nil {
		return "", oauthErr(http.StatusBadRequest, "invalid_scope", "%v", err)
	}
	if !CoveredBy(asked, have) {
		return "", oauthErr(http.StatusBadRequest, "invalid_scope", "the requested scope exceeds the original grant")
	}
	return FormatScopes(asked), nil
}

// clientCredentials issues an access token to a backend service: system
// scopes only, within the client's.
func (s *Server) clientCredentials(c echo.Context, client *Client) (*tokenResponse, error) {
	if client.Public() {
		return nil, oauthErr(http.StatusUnauthorized, "invalid_client", "a public client cannot use client_credentials")
	}
	want := c.Request().PostFormValue("scope")
	if want == "" {
		want = strings.Join(client.Scopes, " ")
	}
	asked, err := ParseScopes(want)
	if err != nil {
		return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "%v", err)
	}
	for _, sc := range asked {
		if sc.Context != "system" {
			return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "client_credentials grants system/ scopes only, not %s", sc.Name)
		}
	}
	if len(asked) == 0 || !CoveredBy(asked, client.allowedScopes()) {
		return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "the requested scope exceeds the client's")
	}
	g := grant{ClientID: client.ID, Scope: FormatScopes(asked), AuthTime: time.Now().UTC()}
	return s.issue(c.Request().Context(), g, nil)
}

// refreshingPublicClient returns the client of a refresh request that names
// no client at all, when the refresh token belongs to a public client: RFC
// 6749 (3.2.1) makes client_id optional for public clients, and fhirclient,
// the SMART JavaScript library, sends none when it refreshes. A public
// client has no credentials, so naming it would prove nothing more. It
// returns nil, nil for every other request, which authenticates as usual.
func (s *Server) refreshingPublicClient(c echo.Context) (*Client, error) {
	r := c.Request()
	if r.PostFormValue("grant_type") != GrantRefreshToken || r.Header.Get("Authorization") != "" ||
		r.PostFormValue("client_id") != "" || r.PostFormValue("client_secret") != "" || r.PostFormValue("client_assertion") != "" {
		return nil, nil
	}
	var rt refreshRecord
	_, err := s.recs.get(r.Context(), kindRefresh, hashToken(r.PostFormValue("refresh_token")), &rt)
	if errors.Is(err, store.ErrNotFound) || r.PostFormValue("refresh_token") == "" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", "unknown, expired or revoked refresh token")
	}
	if err != nil {
		return nil, err
	}
	client, err := s.GetClient(r.Context(), rt.Grant.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", "unknown, expired or revoked refresh token")
	}
	if err != nil {
		return nil, err
	}
	if !client.Public() {
		return nil, oauthErr(http.StatusUnauthorized, "invalid_client", "client authentication is required")
	}
	return client, nil
}
