package smart

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/store"
)

// Records of the federation.
const (
	kindFedState = "smart.fedstate" // upstream requests in progress, by hash of state
	kindFedLink  = "smart.fedlink"  // links of upstream identities to accounts, by issuer and claim value
)

// fedState is an authorization request sent to the upstream provider.
type fedState struct {
	Request  string `json:"req"` // the TeleHub authorization request it serves
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"` // PKCE, towards the provider
}

type fedLink struct {
	Username string `json:"username"`
}

// ErrNoFederation is returned by LinkFederatedAccount when no upstream
// provider is configured.
var ErrNoFederation = errors.New("smart: no federation is configured")

// LinkFederatedAccount links the upstream identity whose account claim
// (Federation.Claim: the sub, or e.g. an RPPS number) is value to the
// account username: signing in through the provider as that identity signs
// in as that account. A value already linked is store.ErrConflict.
func (s *Server) LinkFederatedAccount(ctx context.Context, value, username string) error {
	if s.fed == nil {
		return ErrNoFederation
	}
	if strings.TrimSpace(value) == "" {
		return errors.New("smart: link: empty identity")
	}
	if _, err := s.GetUser(ctx, username); err != nil {
		return err
	}
	if err := s.recs.put(ctx, kindFedLink, s.fedLinkKey(value), 1, fedLink{Username: username}, time.Time{}); err != nil {
		return fmt.Errorf("smart: link %s to %s: %w", value, username, err)
	}
	return nil
}

// fedLinkKey keys links by issuer, so that another provider's identical
// identifier never maps to the account.
func (s *Server) fedLinkKey(value string) string { return s.fed.cfg.Issuer + " " + value }

// federatedStartURL is where the login page's "Sign in with" link leads.
func (s *Server) federatedStartURL(req string) string {
	if s.fed == nil {
		return ""
	}
	return s.paths.fedStart + "?req=" + url.QueryEscape(req)
}

// handleFederatedStart sends the browser of an authorization request to the
// upstream provider.
func (s *Server) handleFederatedStart(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.QueryParam("req")
	if _, _, err := s.loadAuthRequest(c, id); err != nil {
		return s.expiredPage(c, err)
	}
	m, err := s.fed.metadata(ctx)
	if err != nil {
		return s.unavailableUpstream(c, err)
	}
	state, st := randomToken(24), fedState{Request: id, Nonce: randomToken(24), Verifier: randomToken(32)}
	if err := s.recs.put(ctx, kindFedState, hashToken(state), 1, st, time.Now().Add(authRequestTTL)); err != nil {
		return s.serverErrorPage(c, err)
	}
	q := url.Values{
		"response_type": {"code"}, "client_id": {s.fed.cfg.ClientID}, "redirect_uri": {s.paths.fedCallback},
		"scope": {strings.Join(s.fed.cfg.Scopes, " ")}, "state": {state}, "nonce": {st.Nonce},
		"code_challenge": {s256(st.Verifier)}, "code_challenge_method": {"S256"},
	}
	if s.fed.cfg.ACRValues != "" {
		q.Set("acr_values", s.fed.cfg.ACRValues)
	}
	target, err := url.Parse(m.AuthorizationEndpoint)
	if err != nil {
		return s.unavailableUpstream(c, err)
	}
	for k, v := range target.Query() {
		if !q.Has(k) {
			q[k] = v
		}
	}
	target.RawQuery = q.Encode()
	return c.Redirect(http.StatusSeeOther, target.String())
}

func (s *Server) unavailableUpstream(c echo.Context, err error) error {
	s.log.Error("federation: provider unavailable", "issuer", s.fed.cfg.Issuer, "err", err)
	return s.errorPage(c, http.StatusBadGateway, "Sign-in with "+s.fed.cfg.Name+" is unavailable for now. Try again later.")
}

// handleFederatedCallback takes the provider's answer: it checks the
// state (single use, from this browser), redeems the code, verifies the
// id_token and its acr, finds the linked account, and moves the TeleHub
// authorization request on to the consent.
func (s *Server) handleFederatedCallback(c echo.Context) error {
	ctx := c.Request().Context()
	var st fedState
	key := hashToken(c.QueryParam("state"))
	_, err := s.recs.get(ctx, kindFedState, key, &st)
	if err == nil {
		// Used up whatever happens next; of two concurrent uses one fails.
		err = s.recs.rs.DeleteRecord(ctx, kindFedState, key)
	}
	if c.QueryParam("state") == "" || errors.Is(err, store.ErrNotFound) {
		s.log.Warn("federation: callback with an unknown state")
		if err := s.record(ctx, audit.Login(false, audit.Agent{Address: clientAddress(c)}, "federated login: unknown or reused state")); err != nil {
			return s.serverErrorPage(c, err)
		}
		return s.errorPage(c, http.StatusBadRequest, "This sign-in answer is unknown or was already used. Start again from the application.")
	}
	if err != nil {
		return s.serverErrorPage(c, err)
	}
	req, rec, err := s.loadAuthRequest(c, st.Request)
	if err != nil {
		return s.expiredPage(c, err)
	}
	client, err := s.GetClient(ctx, req.ClientID)
	if err != nil {
		return s.expiredPage(c, err)
	}
	username := ""
	fail := func(status int, reason string) error {
		s.log.Warn("federated login refused", "client_id", client.ID, "reason", reason)
		if err := s.auditLogin(c, false, client.ID, username, nil, "federated login ("+s.fed.cfg.Issuer+"): "+reason); err != nil {
			return s.serverErrorPage(c, err)
		}
		return s.render(c, status, "login", s.loginPage(st.Request, client, "Sign-in with "+s.fed.cfg.Name+" failed: "+reason+"."))
	}
	if e := c.QueryParam("error"); e != "" {
		return fail(http.StatusUnauthorized, "the provider answered "+e)
	}
	m, err := s.fed.metadata(ctx)
	if err != nil {
		return s.unavailableUpstream(c, err)
	}
	if iss := c.QueryParam("iss"); iss != "" && strings.TrimSuffix(iss, "/") != s.fed.cfg.Issuer {
		// RFC 9207: an answer naming another issuer is a mix-up attack.
		return fail(http.StatusUnauthorized, "the answer comes from another issuer")
	}
	tokens, err := s.fed.exchange(ctx, m, c.QueryParam("code"), s.paths.fedCallback, st.Verifier)
	if err != nil {
		s.log.Warn("federation: code exchange failed", "err", err)
		return fail(http.StatusUnauthorized, "the provider refused the authorization code")
	}
	tok, err := s.fed.verifyIDToken(ctx, m, tokens.IDToken, st.Nonce)
	if err != nil {
		return fail(http.StatusUnauthorized, err.Error())
	}
	username = tok.Subject()
	acr, err := s.fed.checkACR(tok)
	if err != nil {
		return fail(http.StatusForbidden, err.Error())
	}
	value, err := s.fed.accountClaim(ctx, m, tok, tokens.AccessToken)
	if err != nil {
		return fail(http.StatusUnauthorized, err.Error())
	}
	username = value
	var link fedLink
	if _, err := s.recs.get(ctx, kindFedLink, s.fedLinkKey(value), &link); errors.Is(err, store.ErrNotFound) {
		return fail(http.StatusForbidden, "no TeleHub account is linked to this identity")
	} else if err != nil {
		return s.serverErrorPage(c, err)
	}
	user, err := s.GetUser(ctx, link.Username)
	if errors.Is(err, store.ErrNotFound) {
		return fail(http.StatusForbidden, "the linked TeleHub account no longer exists")
	} else if err != nil {
		return s.serverErrorPage(c, err)
	}
	if now := time.Now(); now.Before(user.LockedUntil) {
		return fail(http.StatusForbidden, "the linked TeleHub account is locked")
	}
	if user.Professional() && !s.fed.strong() {
		return fail(http.StatusForbidden, "a professional account needs strong authentication, which this provider is not configured to require")
	}
	return s.loggedIn(c, st.Request, req, rec, client, user, "federated ("+s.fed.cfg.Issuer+", acr "+acr+")")
}
