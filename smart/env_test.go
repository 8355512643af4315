package smart

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp/totp"

	"github.com/telehub/telehub/store/sqlite"
)

// testEnv is an authorization server on a real SQLite store, served over
// HTTP on a loopback port.
type testEnv struct {
	t      *testing.T
	srv    *Server
	http   *httptest.Server
	base   string
	store  *sqlite.Store
	client *http.Client // a plain client, no redirects followed
}

const (
	testRedirect   = "https://app.example/callback"
	testTOTPSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	testPassword   = "correct horse battery"
)

// testPatients is the patient list of the picker.
type testPatients []PatientSummary

func (p testPatients) SearchPatients(_ context.Context, text string, limit int) ([]PatientSummary, error) {
	var out []PatientSummary
	for _, s := range p {
		if strings.Contains(strings.ToLower(s.Name), strings.ToLower(text)) && len(out) < limit {
			out = append(out, s)
		}
	}
	return out, nil
}

func newEnv(t *testing.T, mutate ...func(*Config)) *testEnv {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "telehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	cfg := Config{
		BaseURL: base, Records: st, RegistrationToken: "initial-access-token-for-tests",
		Patients: testPatients{{ID: "p1", Name: "Hélène Martin", BirthDate: "1970-01-02", Gender: "female"}, {ID: "p2", Name: "Jean Dupont"}},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	srv.Mount(e)
	hs := &httptest.Server{Listener: l, Config: &http.Server{Handler: e}}
	hs.Start()
	t.Cleanup(hs.Close)
	return &testEnv{t: t, srv: srv, http: hs, base: base, store: st, client: noRedirects(nil)}
}

func noRedirects(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *testEnv) fhirBase() string { return e.base + "/fhir" }

// addUser adds an account; professionals get the test TOTP secret.
func (e *testEnv) addUser(username, fhirUser string) {
	e.t.Helper()
	nu := NewUser{Username: username, Password: testPassword, Name: "Dr " + username, FHIRUser: fhirUser}
	if strings.HasPrefix(fhirUser, "Practitioner") {
		nu.TOTPSecret = testTOTPSecret
	}
	if _, err := e.srv.AddUser(context.Background(), nu); err != nil {
		e.t.Fatal(err)
	}
}

// addAppClient registers an app using the authorization code grant.
func (e *testEnv) addAppClient(id, method string) string {
	e.t.Helper()
	_, secret, err := e.srv.AddClient(context.Background(), NewClient{
		ID: id, Name: "Test app", AuthMethod: method, RedirectURIs: []string{testRedirect},
		Scopes:     []string{"patient/*.cruds", "user/*.cruds", "openid", "fhirUser", "launch", "launch/patient", "offline_access", "online_access"},
		GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// pkce returns a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = randomToken(32)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeParams are the parameters of a standard authorization request.
func (e *testEnv) authorizeParams(clientID, scope, challenge string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {testRedirect},
		"scope": {scope}, "state": {"st-" + clientID}, "aud": {e.fhirBase()}, "nonce": {"n-0S6"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
}

var (
	inputName  = regexp.MustCompile(`<input[^>]*name="([^"]+)"`)
	hiddenReq  = regexp.MustCompile(`name="req" value="([^"]+)"`)
	scopeBoxes = regexp.MustCompile(`name="scope" value="([^"]+)"`)
	patientBox = regexp.MustCompile(`name="patient" value="([^"]+)"`)
)

// browser is a user agent with cookies going through login and consent.
type browser struct {
	e      *testEnv
	client *http.Client
	// authorizeMethod is how the app sends the authorization request
	// (GET when empty; SMART's authorize-post capability is POST).
	authorizeMethod string
}

func (e *testEnv) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, client: noRedirects(jar)}
}

func (b *browser) do(method, target string, form url.Values) (*http.Response, string) {
	b.e.t.Helper()
	var body io.Reader
	if form != nil && method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	} else if form != nil {
		target += "?" + form.Encode()
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp, string(page)
}

// login starts an authorization request and fills the login form. It
// returns the response to the login (a redirect to the consent on success).
func (b *browser) login(params url.Values, username, password, otp string) (*http.Response, string) {
	b.e.t.Helper()
	method := b.authorizeMethod
	if method == "" {
		method = http.MethodGet
	}
	resp, page := b.do(method, b.e.base+"/auth/authorize", params)
	if resp.StatusCode != http.StatusOK {
		b.e.t.Fatalf("authorize: %s\n%s", resp.Status, page)
	}
	names := map[string]bool{}
	for _, m := range inputName.FindAllStringSubmatch(page, -1) {
		names[m[1]] = true
	}
	for _, want := range []string{"username", "password", "otp", "req"} {
		if !names[want] {
			b.e.t.Fatalf("login page has no input %q:\n%s", want, page)
		}
	}
	req := html.UnescapeString(hiddenReq.FindStringSubmatch(page)[1])
	return b.do(http.MethodPost, b.e.base+"/auth/login", url.Values{"req": {req}, "username": {username}, "password": {password}, "otp": {otp}})
}

// consent opens the consent page the login redirected to, and allows the
// scopes kept (all when nil) for the patient picked (the first offered when
// empty). It returns the redirect to the app.
func (b *browser) consent(loginResp *http.Response, keep []string, patient string) *url.URL {
	b.e.t.Helper()
	if loginResp.StatusCode != http.StatusSeeOther {
		b.e.t.Fatalf("login: %s, want 303", loginResp.Status)
	}
	resp, page := b.do(http.MethodGet, loginResp.Header.Get("Location"), nil)
	if resp.StatusCode != http.StatusOK {
		b.e.t.Fatalf("consent page: %s\n%s", resp.Status, page)
	}
	form := url.Values{"req": {html.UnescapeString(hiddenReq.FindStringSubmatch(page)[1])}, "decision": {"allow"}}
	for _, m := range scopeBoxes.FindAllStringSubmatch(page, -1) {
		if keep == nil || contains(keep, html.UnescapeString(m[1])) {
			form.Add("scope", html.UnescapeString(m[1]))
		}
	}
	if offered := patientBox.FindAllStringSubmatch(page, -1); len(offered) > 0 {
		if patient == "" {
			patient = offered[0][1]
		}
		form.Set("patient", patient)
	}
	resp, page = b.do(http.MethodPost, b.e.base+"/auth/consent", form)
	if resp.StatusCode != http.StatusSeeOther {
		b.e.t.Fatalf("consent: %s\n%s", resp.Status, page)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.e.t.Fatal(err)
	}
	return u
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func totpNow(t *testing.T) string {
	t.Helper()
	code, err := totp.GenerateCode(testTOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// post sends a form to an endpoint, with basic client credentials when id
// is set, and decodes the JSON answer.
func (e *testEnv) post(path string, form url.Values, id, secret string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			e.t.Fatalf("%s: %s: not JSON: %s", path, resp.Status, b)
		}
	}
	return resp.StatusCode, out
}

// getJSON fetches a JSON document.
func (e *testEnv) getJSON(path string, header http.Header) (int, string, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &out)
	return resp.StatusCode, resp.Header.Get("Content-Type"), out
}

// codeFlow runs a whole authorization to the token response.
func (e *testEnv) codeFlow(clientID, secret, username, scope string) map[string]any {
	e.t.Helper()
	verifier, challenge := pkce()
	b := e.browser()
	otp := ""
	if u, err := e.srv.GetUser(context.Background(), username); err == nil && u.TOTPSecret != "" {
		otp = totpNow(e.t)
	}
	resp, _ := b.login(e.authorizeParams(clientID, scope, challenge), username, testPassword, otp)
	back := b.consent(resp, nil, "")
	code := back.Query().Get("code")
	if code == "" {
		e.t.Fatalf("no code in redirect %s", back)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
	if secret == "" {
		form.Set("client_id", clientID)
		clientID = ""
	}
	status, tok := e.post("/auth/token", form, clientID, secret)
	if status != http.StatusOK {
		e.t.Fatalf("token: %d %v", status, tok)
	}
	return tok
}
