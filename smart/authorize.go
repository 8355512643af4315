package smart

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/store"
)

// authRequest is an authorization request between the authorize endpoint
// and the consent: who asked, what, and (after login) who the user is.
type authRequest struct {
	ClientID    string `json:"client_id"`
	RedirectURI string `json:"redirect_uri"`
	// RedirectGiven: the request named its redirect URI, so the token
	// request must name it too (RFC 6749 4.1.3).
	RedirectGiven bool           `json:"redirect_given,omitempty"`
	State         string         `json:"state,omitempty"`
	Scope         string         `json:"scope"` // requested and allowed to the client
	Challenge     string         `json:"code_challenge"`
	Nonce         string         `json:"nonce,omitempty"`
	Launch        *LaunchContext `json:"launch,omitempty"` // from an EHR launch
	// Binding is the hash of a cookie set on the browser that started the
	// request: the login and consent must come from that browser.
	Binding  string    `json:"binding"`
	User     *User     `json:"user,omitempty"`
	AuthTime time.Time `json:"auth_time,omitzero"`
	Offered  []string  `json:"offered,omitempty"` // patient ids the picker showed
}

// codeRecord is an authorization code as stored (under its hash).
type codeRecord struct {
	Grant         grant  `json:"grant"`
	RedirectURI   string `json:"redirect_uri"`
	RedirectGiven bool   `json:"redirect_given,omitempty"`
	Challenge     string `json:"code_challenge"`
	Used          bool   `json:"used,omitempty"`
	Family        string `json:"family,omitempty"` // the refresh family issued, revoked if the code is replayed
}

// s256Challenge is what a PKCE S256 code challenge looks like: the
// base64url SHA-256 of the verifier, 43 characters.
var s256Challenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// nonResourceScopes are the other scopes this server grants.
var nonResourceScopes = []string{"openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter", "offline_access", "online_access"}

// handleAuthorize starts the authorization code flow (GET or POST): it
// checks the request, then shows the login page.
func (s *Server) handleAuthorize(c echo.Context) error {
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		return s.errorPage(c, http.StatusBadRequest, "The request is malformed.")
	}
	q := r.Form
	ctx := r.Context()
	client, err := s.GetClient(ctx, q.Get("client_id"))
	if errors.Is(err, store.ErrNotFound) || q.Get("client_id") == "" {
		return s.errorPage(c, http.StatusBadRequest, "Unknown client.")
	}
	if err != nil {
		return s.serverErrorPage(c, err)
	}
	redirect := q.Get("redirect_uri")
	switch {
	case redirect == "" && len(client.RedirectURIs) == 1:
		redirect = client.RedirectURIs[0]
	case !slices.Contains(client.RedirectURIs, redirect):
		s.log.Warn("authorize: redirect_uri not registered", "client_id", client.ID, "redirect_uri", redirect)
		return s.errorPage(c, http.StatusBadRequest, "The redirect URI is not registered for this client.")
	}
	// From here on, errors go back to the client's redirect URI.
	state := q.Get("state")
	fail := func(code, desc string) error { return s.redirectError(c, redirect, state, code, desc) }
	switch {
	case q.Get("response_type") != "code":
		return fail("unsupported_response_type", "response_type must be code")
	case !slices.Contains(client.GrantTypes, GrantAuthorizationCode):
		return fail("unauthorized_client", "the client may not use the authorization code grant")
	case q.Get("code_challenge_method") != "S256" || !s256Challenge.MatchString(q.Get("code_challenge")):
		return fail("invalid_request", "PKCE with code_challenge_method S256 is required")
	case strings.TrimSuffix(q.Get("aud"), "/") != s.paths.fhir:
		return fail("invalid_request", "aud must be the FHIR base URL "+s.paths.fhir)
	}
	scope, err := s.allowedScope(client, q.Get("scope"))
	if err != nil {
		return fail("invalid_scope", err.Error())
	}
	var launch *LaunchContext
	switch id := q.Get("launch"); {
	case id != "" && !Has(scope, "launch"):
		return fail("invalid_scope", "a launch parameter needs the launch scope")
	case id == "" && Has(scope, "launch"):
		return fail("invalid_request", "the launch scope needs a launch parameter (EHR launch)")
	case id != "":
		if launch, err = s.launchContext(ctx, id); err != nil {
			return fail("invalid_request", "unknown or expired launch")
		}
	}
	binding := randomToken(24)
	req := authRequest{
		ClientID: client.ID, RedirectURI: redirect, RedirectGiven: q.Get("redirect_uri") != "", State: state, Scope: FormatScopes(scope),
		Challenge: q.Get("code_challenge"), Nonce: q.Get("nonce"), Launch: launch, Binding: hashToken(binding),
	}
	id := randomToken(24)
	if err := s.recs.put(ctx, kindAuthReq, id, 1, req, time.Now().Add(authRequestTTL)); err != nil {
		return s.serverErrorPage(c, err)
	}
	c.SetCookie(s.bindingCookie(id, binding))
	return s.render(c, http.StatusOK, "login", s.loginPage(id, client, ""))
}

// allowedScope parses the requested scopes and keeps those the client may
// have; none left is an error.
func (s *Server) allowedScope(client *Client, requested string) ([]Scope, error) {
	scopes, err := ParseScopes(requested)
	if err != nil {
		return nil, err
	}
	allowed := client.allowedScopes()
	var out []Scope
	for _, sc := range scopes {
		switch {
		case sc.IsResource():
			if !CoveredBy([]Scope{sc}, allowed) {
				continue
			}
		case !slices.Contains(nonResourceScopes, sc.Name):
			continue
		case (sc.Name == "offline_access" || sc.Name == "online_access") && !slices.Contains(client.GrantTypes, GrantRefreshToken):
			continue
		}
		out = append(out, sc)
	}
	if !slices.ContainsFunc(out, func(s Scope) bool { return s.IsResource() || s.Name == "openid" }) {
		return nil, errors.New("no requested scope is allowed to this client")
	}
	return out, nil
}

type loginData struct {
	Action, Request, ClientName, Error string
	// FederationURL starts a sign-in with the upstream provider
	// FederationName; empty without federation.
	FederationURL, FederationName string
}

func (s *Server) loginPage(req string, client *Client, msg string) loginData {
	name := client.Name
	if name == "" {
		name = client.ID
	}
	d := loginData{Action: s.paths.login, Request: req, ClientName: name, Error: msg}
	if s.fed != nil {
		d.FederationURL, d.FederationName = s.federatedStartURL(req), s.fed.cfg.Name
	}
	return d
}

// bindingCookie ties an authorization request to the browser that started
// it; its name holds the request id so that parallel requests do not clash.
func (s *Server) bindingCookie(req, value string) *http.Cookie {
	return &http.Cookie{
		Name: cookieName(req), Value: value, Path: path.Dir(pathOf(s.paths.authorize)) + "/", // the login and consent pages
		MaxAge: int(authRequestTTL.Seconds()), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(s.paths.issuer, "https://"),
	}
}

func cookieName(req string) string { return "telehub_authz_" + req[:min(len(req), 12)] }

// loadAuthRequest returns the authorization request of the form's req
// field, checking it comes from the browser that started it.
func (s *Server) loadAuthRequest(c echo.Context, id string) (*authRequest, *store.Record, error) {
	var req authRequest
	rec, err := s.recs.get(c.Request().Context(), kindAuthReq, id, &req)
	if err != nil {
		return nil, nil, err
	}
	cookie, err := c.Cookie(cookieName(id))
	if err != nil || !constantTimeEqual(hashToken(cookie.Value), req.Binding) {
		return nil, nil, fmt.Errorf("smart: authorization request %s: %w", id, store.ErrNotFound)
	}
	return &req, rec, nil
}

// handleLogin checks the login form and moves on to the consent.
func (s *Server) handleLogin(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.FormValue("req")
	req, rec, err := s.loadAuthRequest(c, id)
	if err != nil {
		return s.expiredPage(c, err)
	}
	client, err := s.GetClient(ctx, req.ClientID)
	if err != nil {
		return s.expiredPage(c, err)
	}
	addr := clientAddress(c)
	if throttled, err := s.addressThrottled(ctx, addr); err != nil {
		return s.serverErrorPage(c, err)
	} else if throttled {
		s.log.Warn("login refused: too many failures from this address", "addr", addr)
		return s.render(c, http.StatusTooManyRequests, "login", s.loginPage(id, client, "Too many failed attempts from your network: try again later."))
	}
	username := c.FormValue("username")
	user, err := s.Authenticate(ctx, username, c.FormValue("password"), c.FormValue("otp"))
	if errors.Is(err, ErrAccountLocked) || errors.Is(err, ErrInvalidCredentials) {
		if err := s.countAddressFailure(ctx, addr); err != nil {
			return s.serverErrorPage(c, err)
		}
		reason := "invalid username, password or one-time code"
		if errors.Is(err, ErrAccountLocked) {
			reason = "account locked after too many failed logins"
		}
		if err := s.auditLogin(c, false, client.ID, username, nil, reason); err != nil {
			return s.serverErrorPage(c, err)
		}
	}
	switch {
	case errors.Is(err, ErrAccountLocked):
		return s.render(c, http.StatusTooManyRequests, "login", s.loginPage(id, client, "Too many failed attempts: this account is locked for a while."))
	case errors.Is(err, ErrInvalidCredentials):
		s.log.Warn("login failed", "client_id", client.ID)
		return s.render(c, http.StatusUnauthorized, "login", s.loginPage(id, client, "Wrong username, password or one-time code."))
	case err != nil:
		return s.serverErrorPage(c, err)
	}
	method := "password"
	if user.TOTPSecret != "" {
		method = "password and TOTP"
	}
	return s.loggedIn(c, id, req, rec, client, user, method)
}

// loggedIn moves an authorization request whose user has authenticated
// (locally or through the federation) on to the consent. method says how,
// for the audit trail.
func (s *Server) loggedIn(c echo.Context, id string, req *authRequest, rec *store.Record, client *Client, user *User, method string) error {
	ctx := c.Request().Context()
	if req.Launch != nil && req.Launch.User != "" && req.Launch.User != user.Username {
		s.log.Warn("EHR launch used by another user", "client_id", client.ID, "user", user.Username)
		if err := s.auditLogin(c, false, client.ID, user.Username, user, "the EHR launch was made for another user"); err != nil {
			return s.serverErrorPage(c, err)
		}
		if err := s.recs.rs.DeleteRecord(ctx, kindAuthReq, id); err != nil {
			return s.serverErrorPage(c, err)
		}
		return s.redirectError(c, req.RedirectURI, req.State, "access_denied", "the launch was made for another user")
	}
	// Recorded before the request moves on: a login that cannot be
	// recorded does not reach the consent (fail-closed).
	if err := s.auditLogin(c, true, client.ID, user.Username, user, method); err != nil {
		return s.serverErrorPage(c, err)
	}
	req.User, req.AuthTime = user, time.Now().UTC()
	if err := s.recs.put(ctx, kindAuthReq, id, rec.Version+1, req, rec.Expires); err != nil {
		return s.expiredPage(c, err)
	}
	return c.Redirect(http.StatusSeeOther, s.paths.consent+"?req="+url.QueryEscape(id))
}

type consentData struct {
	Action, Request, ClientName, UserName, Error, Query string
	Scopes                                              []string
	NeedPatient                                         bool
	Patients                                            []PatientSummary
}

// needsPatientPicker reports whether the user must pick the patient: the
// app asked for launch/patient, and neither the EHR launch nor the account
// (a patient's own) gives one.
func needsPatientPicker(req *authRequest, scopes []string) bool {
	return slices.Contains(scopes, "launch/patient") && (req.Launch == nil || req.Launch.Patient == "") && patientOf(req.User) == ""
}

// patientOf returns the Patient id of a patient's own account.
func patientOf(u *User) string {
	if u == nil {
		return ""
	}
	id, ok := strings.CutPrefix(u.FHIRUser, "Patient/")
	if !ok {
		return ""
	}
	return id
}

// handleConsentPage shows the consent, with the patient picker when needed.
func (s *Server) handleConsentPage(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.QueryParam("req")
	req, rec, err := s.loadAuthRequest(c, id)
	if err != nil || req.User == nil {
		return s.expiredPage(c, err)
	}
	client, err := s.GetClient(ctx, req.ClientID)
	if err != nil {
		return s.expiredPage(c, err)
	}
	data := consentData{
		Action: s.paths.consent, Request: id, ClientName: client.Name, UserName: req.User.Username,
		Scopes: strings.Fields(req.Scope), Query: c.QueryParam("q"),
	}
	if data.ClientName == "" {
		data.ClientName = client.ID
	}
	if data.NeedPatient = needsPatientPicker(req, data.Scopes); data.NeedPatient {
		if s.cfg.Patients == nil {
			return s.redirectError(c, req.RedirectURI, req.State, "invalid_scope", "this server has no patient picker: launch/patient needs an EHR launch")
		}
		if data.Patients, err = s.cfg.Patients.SearchPatients(ctx, data.Query, 20); err != nil {
			return s.serverErrorPage(c, err)
		}
		for _, p := range data.Patients {
			if !slices.Contains(req.Offered, p.ID) {
				req.Offered = append(req.Offered, p.ID)
			}
		}
		if err := s.recs.put(ctx, kindAuthReq, id, rec.Version+1, req, rec.Expires); err != nil {
			return s.expiredPage(c, err)
		}
	}
	return s.render(c, http.StatusOK, "consent", data)
}

// handleConsent takes the user's decision: the scopes kept and the patient
// picked. An approval issues the authorization code.
func (s *Server) handleConsent(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.FormValue("req")
	req, _, err := s.loadAuthRequest(c, id)
	if err != nil || req.User == nil {
		return s.expiredPage(c, err)
	}
	// The request is used up whatever the decision.
	if err := s.recs.rs.DeleteRecord(ctx, kindAuthReq, id); err != nil {
		return s.serverErrorPage(c, err)
	}
	if c.FormValue("decision") != "allow" {
		return s.redirectError(c, req.RedirectURI, req.State, "access_denied", "the user denied access")
	}
	form, _ := c.FormParams()
	requested := strings.Fields(req.Scope)
	var chosen []string
	for _, sc := range requested {
		if slices.Contains(form["scope"], sc) {
			chosen = append(chosen, sc)
		}
	}
	if len(chosen) == 0 {
		return s.redirectError(c, req.RedirectURI, req.State, "access_denied", "the user granted no scope")
	}
	g := grant{
		ClientID: req.ClientID, UserID: req.User.ID, Username: req.User.Username, Name: req.User.Name,
		FHIRUser: req.User.FHIRUser, Scope: strings.Join(chosen, " "), AuthTime: req.AuthTime, Nonce: req.Nonce,
	}
	if req.Launch != nil {
		g.Launch = *req.Launch
	}
	switch {
	case needsPatientPicker(req, chosen):
		p := c.FormValue("patient")
		if !slices.Contains(req.Offered, p) {
			return s.redirectError(c, req.RedirectURI, req.State, "access_denied", "no patient was picked")
		}
		g.Launch.Patient, g.Launch.NeedPatientBanner = p, true
	case g.Launch.Patient == "" && patientOf(req.User) != "":
		// A patient's own account: the patient context is the patient.
		g.Launch.Patient, g.Launch.NeedPatientBanner = patientOf(req.User), true
	}
	code := randomToken(32)
	cr := codeRecord{Grant: g, RedirectURI: req.RedirectURI, RedirectGiven: req.RedirectGiven, Challenge: req.Challenge}
	if err := s.recs.put(ctx, kindCode, hashToken(code), 1, cr, time.Now().Add(codeTTL)); err != nil {
		return s.serverErrorPage(c, err)
	}
	return s.redirectTo(c, req.RedirectURI, url.Values{"code": {code}, "state": {req.State}, "iss": {s.paths.issuer}})
}

// redirectError sends an authorization error back to the client (RFC 6749
// 4.1.2.1).
func (s *Server) redirectError(c echo.Context, redirect, state, code, desc string) error {
	return s.redirectTo(c, redirect, url.Values{"error": {code}, "error_description": {desc}, "state": {state}})
}

func (s *Server) redirectTo(c echo.Context, redirect string, params url.Values) error {
	u, err := url.Parse(redirect)
	if err != nil {
		return s.errorPage(c, http.StatusBadRequest, "Invalid redirect URI.")
	}
	q := u.Query()
	for k, v := range params {
		if len(v) == 1 && v[0] == "" {
			continue
		}
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return c.Redirect(http.StatusSeeOther, u.String())
}

// expiredPage answers a login or consent whose request is unknown, expired,
// or comes from another browser.
func (s *Server) expiredPage(c echo.Context, err error) error {
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		return s.serverErrorPage(c, err)
	}
	return s.errorPage(c, http.StatusBadRequest, "This sign-in request has expired or was not started in this browser. Start again from the application.")
}

func (s *Server) serverErrorPage(c echo.Context, err error) error {
	s.log.Error("authorization server error", "path", c.Path(), "err", err)
	return s.errorPage(c, http.StatusInternalServerError, "Internal error.")
}
