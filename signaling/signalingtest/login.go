package signalingtest

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

	"github.com/pquerna/otp/totp"
)

var (
	hiddenReq = regexp.MustCompile(`name="req" value="([^"]+)"`)
	scopeBox  = regexp.MustCompile(`name="scope" value="([^"]+)"`)
)

// TOTP is the practitioner's current one-time code.
func TOTP(t TB) string {
	t.Helper()
	code, err := totp.GenerateCode(TOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// Token signs username in to the web app's client on node n through the
// authorization code flow with PKCE, as a browser would, granting every
// scope asked, and returns the access token.
func (n *Node) Token(t TB, username, scope string) string {
	t.Helper()
	otp := ""
	if username == PractitionerUser {
		otp = TOTP(t)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, target string, form url.Values) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader(form.Encode())
		} else if form != nil {
			target += "?" + form.Encode()
		}
		req, _ := http.NewRequest(method, target, body)
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		page, _ := io.ReadAll(res.Body)
		return res, string(page)
	}
	hidden := func(page string) string {
		t.Helper()
		m := hiddenReq.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no request in page:\n%.2000s", page)
		}
		return html.UnescapeString(m[1])
	}
	verifier := base64.RawURLEncoding.EncodeToString([]byte("a verifier long enough for the PKCE rules of RFC 7636"))
	sum := sha256.Sum256([]byte(verifier))
	res, page := do(http.MethodGet, n.URL+"/auth/authorize", url.Values{
		"response_type": {"code"}, "client_id": {WebClientID}, "redirect_uri": {n.WebRedirectURI()}, "scope": {scope},
		"state": {"st"}, "aud": {n.Issuer + "/fhir"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("authorize: %s\n%.2000s", res.Status, page)
	}
	res, page = do(http.MethodPost, n.URL+"/auth/login", url.Values{
		"req": {hidden(page)}, "username": {username}, "password": {Password}, "otp": {otp}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s, want 303\n%.2000s", res.Status, page)
	}
	res, page = do(http.MethodGet, res.Header.Get("Location"), nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("consent page: %s\n%.2000s", res.Status, page)
	}
	form := url.Values{"req": {hidden(page)}, "decision": {"allow"}}
	for _, m := range scopeBox.FindAllStringSubmatch(page, -1) {
		form.Add("scope", html.UnescapeString(m[1]))
	}
	res, page = do(http.MethodPost, n.URL+"/auth/consent", form)
	back, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || err != nil || back.Query().Get("code") == "" {
		t.Fatalf("consent: %s to %q, want a redirect with a code\n%.2000s", res.Status, res.Header.Get("Location"), page)
	}
	res, page = do(http.MethodPost, n.URL+"/auth/token", url.Values{"grant_type": {"authorization_code"},
		"code": {back.Query().Get("code")}, "redirect_uri": {n.WebRedirectURI()}, "code_verifier": {verifier},
		"client_id": {WebClientID}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(page), &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token: %s %.500s", res.Status, page)
	}
	return tok.AccessToken
}
