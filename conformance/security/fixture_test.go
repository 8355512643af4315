package security

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/smart/smarttest"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
)

const (
	opsClient = "ops"
	opsSecret = "ops-secret-0123456789abcdef"
	appClient = "patient-app"
	appURI    = "http://127.0.0.1/callback"
	alicePass = "alice-password-0123"
	// bobMark is in every resource of Bob's: a body holding it leaked.
	bobMark = "Bobsecret"
)

// fixture is a running server holding two patients' data, Alice's and Bob's.
type fixture struct {
	t       testing.TB
	url     string      // the server's root; the FHIR base is url+"/fhir"
	st      store.Store // SQLite, with the AuditEvents in an audit trail
	records store.Records
	auth    *smart.Server
	api     *fhir.Server
	client  *http.Client
}

// newFixture starts the FHIR layer and the authorization server on one
// loopback server, with the audit trail, a backend client (ops), a public
// patient app and Alice's account, and stores the two patients' data.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureWith(t, true)
}

// newFixtureWith is newFixture, with the audit trail or without.
func newFixtureWith(t testing.TB, audited bool) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	data, err := sqlite.Open(ctx, filepath.Join(dir, "telehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	trail, err := audit.OpenTrail(filepath.Join(dir, "audit-trail"), audit.TrailOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := audit.WithTrail(ctx, data, trail)
	if err != nil {
		t.Fatal(err)
	}
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	recorder, err := audit.NewRecorder(st, audit.Options{Trail: trail})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		recorder.Close()
		trail.Close()
		data.Close()
	})
	auth, err := smart.New(smart.Config{BaseURL: srv.URL, Records: data, Audit: recorder})
	if err != nil {
		t.Fatal(err)
	}
	var auditor authz.Auditor
	if audited {
		auditor = recorder
	}
	api, err := fhir.New(fhir.Options{
		Store: st, BaseURL: srv.URL + "/fhir", Audit: auditor,
		// A revocation is noticed on the next request: Recheck is tiny.
		Auth: &authz.Authenticator{Verifier: &authz.CachingVerifier{Verifier: auth, Recheck: time.Nanosecond}, Realm: srv.URL + "/fhir"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	api.Mount(e)
	auth.Mount(e)
	handler = e

	if err := auth.EnsureBootstrapClient(ctx, opsClient+":"+opsSecret); err != nil {
		t.Fatal(err)
	}
	if _, _, err := auth.AddClient(ctx, smart.NewClient{
		ID: appClient, Name: "patient app", AuthMethod: smart.AuthNone, RedirectURIs: []string{appURI},
		Scopes:     []string{"openid", "fhirUser", "launch/patient", "offline_access", "patient/*.cruds"},
		GrantTypes: []string{smart.GrantAuthorizationCode, smart.GrantRefreshToken},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.AddUser(ctx, smart.NewUser{Username: "alice", Password: alicePass, Name: "Alice", FHIRUser: "Patient/alice"}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, url: srv.URL, st: st, records: data, auth: auth, api: api,
		client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	f.seed()
	return f
}

// seed stores, through the in-process API (the server acting for itself):
// Alice with a laboratory and a vital-signs Observation, one about her
// that names Bob as its focus, and Bob with an Observation and an Encounter.
func (f *fixture) seed() {
	ctx := context.Background()
	resources := []struct{ typ, id, body string }{
		{"Patient", "alice", `{"resourceType":"Patient","id":"alice","name":[{"family":"Liddell","given":["Alice"]}]}`},
		{"Patient", "bob", `{"resourceType":"Patient","id":"bob","name":[{"family":"` + bobMark + `","given":["Bob"]}]}`},
		{"Observation", "alice-lab", observation("alice-lab", "alice", "laboratory", "alice-lab-1", "")},
		{"Observation", "alice-vital", observation("alice-vital", "alice", "vital-signs", "alice-vital-1", "")},
		{"Observation", "alice-about-bob", observation("alice-about-bob", "alice", "social-history", "alice-social-1", "Patient/bob")},
		{"Observation", "bob-lab", observation("bob-lab", "bob", "laboratory", "bob-lab-1", "")},
		{"Encounter", "bob-visit", `{"resourceType":"Encounter","id":"bob-visit","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"VR"},"subject":{"reference":"Patient/bob","display":"` + bobMark + `"}}`},
	}
	for _, r := range resources {
		if _, err := f.api.Update(ctx, r.typ, r.id, []byte(r.body), 0); err != nil {
			f.t.Fatalf("seed %s/%s: %v", r.typ, r.id, err)
		}
	}
}

// observation is an Observation of patient in category, with an
// identifier and, when set, a focus. Bob's carry bobMark.
func observation(id, patient, category, identifier, focus string) string {
	note := "about " + patient
	if patient == "bob" {
		note = bobMark
	}
	focusJSON := ""
	if focus != "" {
		focusJSON = `,"focus":[{"reference":"` + focus + `"}]`
	}
	idJSON := ""
	if id != "" {
		idJSON = `"id":"` + id + `",`
	}
	return `{"resourceType":"Observation",` + idJSON + `"status":"final",` +
		`"identifier":[{"system":"urn:test","value":"` + identifier + `"}],` +
		`"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"` + category + `"}]}],` +
		`"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}],"text":"` + note + `"},` +
		`"subject":{"reference":"Patient/` + patient + `"}` + focusJSON + `}`
}

// backendToken is a client_credentials token of the ops client.
func (f *fixture) backendToken(scope string) string {
	return tokenFrom(f.t, f.client, f.url, scope)
}

// tokenFrom asks the authorization server at root for an ops token.
func tokenFrom(t testing.TB, client *http.Client, root, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, root+"/auth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(opsClient, opsSecret)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok map[string]any
	json.NewDecoder(res.Body).Decode(&tok)
	at, _ := tok["access_token"].(string)
	if res.StatusCode != http.StatusOK || at == "" {
		t.Fatalf("client_credentials %q: %d %v", scope, res.StatusCode, tok)
	}
	return at
}

// minter is a second authorization server on the same keys (the same
// records), configured by cfg: its tokens are well signed but may be
// expired or name another issuer or audience.
func (f *fixture) minter(cfg smart.Config) string {
	f.t.Helper()
	cfg.Records = f.records
	other, err := smart.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	e := echo.New()
	other.Mount(e)
	srv := httptest.NewServer(e)
	defer srv.Close()
	return tokenFrom(f.t, srv.Client(), srv.URL, "system/*.rs")
}

// aliceTokens signs Alice in to the patient app through the authorization
// code flow with PKCE, as her browser would, and returns the token response.
func (f *fixture) aliceTokens(scope string) map[string]any {
	f.t.Helper()
	tok := smarttest.CodeFlow(f.t, smarttest.Login{
		Issuer: f.url, Audience: f.url + "/fhir", ClientID: appClient, RedirectURI: appURI, Scope: scope,
		Username: "alice", Password: alicePass,
	})
	if tok["patient"] != "alice" {
		f.t.Fatalf("Alice's token has patient %v, want alice", tok["patient"])
	}
	return tok
}

// form posts a form to the authorization server, with Basic client
// authentication when id is set, and wants status.
func (f *fixture) form(path string, form url.Values, id string, want int) map[string]any {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(opsClient, opsSecret)
	}
	res, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != want {
		f.t.Fatalf("POST %s: %d, want %d: %v", path, res.StatusCode, want, out)
	}
	return out
}

// answer is a FHIR response.
type answer struct {
	status int
	header http.Header
	body   string
}

// do sends a FHIR request with the Authorization header value auth ("" for none).
func (f *fixture) do(method, path, auth, body string, header map[string]string) answer {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.url+"/fhir"+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, header: res.Header, body: string(b)}
}

// bundleInfo is what the tests read of a Bundle.
type bundleInfo struct {
	Total *int `json:"total"`
	Entry []struct {
		FullURL  string `json:"fullUrl"`
		Response *struct {
			Status string `json:"status"`
		} `json:"response"`
	} `json:"entry"`
}

func readBundle(t testing.TB, body string) bundleInfo {
	t.Helper()
	var b bundleInfo
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("not a Bundle: %v\n%.500s", err, body)
	}
	return b
}
