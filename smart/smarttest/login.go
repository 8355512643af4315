// Package smarttest signs users in to a TeleHub authorization server the
// way a browser and a public SMART app do, for the tests of TeleHub's
// components: the authorization code flow with PKCE through the real login,
// consent and patient-picker pages.
package smarttest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// TB is the part of testing.TB the sign-in needs.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// Login is one user signing in to one app.
type Login struct {
	// Issuer is the authorization server's base URL (its /auth/… pages);
	// Audience the FHIR base URL the token is asked for.
	Issuer, Audience             string
	ClientID, RedirectURI, Scope string
	Username, Password, OTP      string
	// PatientQuery is typed in the patient picker ("" keeps its first page).
	PatientQuery string
}

var (
	hiddenReq  = regexp.MustCompile(`name="req" value="([^"]+)"`)
	scopeBoxes = regexp.MustCompile(`name="scope" value="([^"]+)"`)
	patientBox = regexp.MustCompile(`name="patient" value="([^"]+)"`)
)

// CodeFlow signs l's user in: the login form, the consent page granting
// every scope it offers (and the first patient the picker offers), then the
// exchange of the code with its PKCE verifier. It returns the token response.
func CodeFlow(t TB, l Login) map[string]any {
	t.Helper()
	b := newBrowser(t)
	verifier := base64.RawURLEncoding.EncodeToString([]byte("a verifier long enough for the PKCE rules of RFC 7636"))
	sum := sha256.Sum256([]byte(verifier))
	res, page := b.do(http.MethodGet, l.Issuer+"/auth/authorize", url.Values{
		"response_type": {"code"}, "client_id": {l.ClientID}, "redirect_uri": {l.RedirectURI}, "scope": {l.Scope},
		"state": {"st-1"}, "aud": {l.Audience}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("authorize: %s\n%.2000s", res.Status, page)
	}
	res, page = b.do(http.MethodPost, l.Issuer+"/auth/login", url.Values{
		"req": {b.hidden(page)}, "username": {l.Username}, "password": {l.Password}, "otp": {l.OTP}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s, want 303\n%.2000s", res.Status, page)
	}
	res, page = b.do(http.MethodGet, res.Header.Get("Location"), nil)
	if l.PatientQuery != "" {
		res, page = b.do(http.MethodGet, l.Issuer+"/auth/consent", url.Values{"req": {b.hidden(page)}, "q": {l.PatientQuery}})
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("consent page: %s\n%.2000s", res.Status, page)
	}
	form := url.Values{"req": {b.hidden(page)}, "decision": {"allow"}}
	for _, m := range scopeBoxes.FindAllStringSubmatch(page, -1) {
		form.Add("scope", html.UnescapeString(m[1]))
	}
	if offered := patientBox.FindAllStringSubmatch(page, -1); len(offered) > 0 {
		form.Set("patient", offered[0][1])
	}
	res, page = b.do(http.MethodPost, l.Issuer+"/auth/consent", form)
	back, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || err != nil || back.Query().Get("code") == "" {
		t.Fatalf("consent: %s to %q, want a redirect with a code\n%.2000s", res.Status, res.Header.Get("Location"), page)
	}
	res, page = b.do(http.MethodPost, l.Issuer+"/auth/token", url.Values{"grant_type": {"authorization_code"},
		"code": {back.Query().Get("code")}, "redirect_uri": {l.RedirectURI}, "code_verifier": {verifier},
		"client_id": {l.ClientID}})
	var tok map[string]any
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(page), &tok) != nil {
		t.Fatalf("token: %s %.500s", res.Status, page)
	}
	return tok
}

// browser keeps cookies and does not follow redirects, so that each page of
// the flow is seen.
type browser struct {
	t      TB
	client *http.Client
}

func newBrowser(t TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a GET with form as its query, or a POST with form as its body.
func (b *browser) do(method, target string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	} else if form != nil {
		target += "?" + form.Encode()
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	return res, string(page)
}

// hidden is the authorization request id a page carries in its forms.
func (b *browser) hidden(page string) string {
	b.t.Helper()
	m := hiddenReq.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no request in page:\n%.2000s", page)
	}
	return html.UnescapeString(m[1])
}
