package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/telehub/telehub/smart/smarttest"
)

// inProcess is a server started by startServer in the test process, as
// runServe starts it.
type inProcess struct {
	t      *testing.T
	srv    *server
	issuer string
	// demo is what the start-up printed on standard output.
	demo   string
	client *http.Client
	// stop shuts the server down, once.
	stop func()
}

// startWithBootstrap starts a server (see startInProcess) whose bootstrap
// client "backend" has the secret bootstrapSecret (see backendToken).
func startWithBootstrap(t *testing.T, args ...string) *inProcess {
	t.Helper()
	return startInProcess(t, map[string]string{"TELEHUB_BOOTSTRAP_CLIENT": "backend:" + bootstrapSecret}, args...)
}

// startInProcess starts a server on a loopback port with the serve flags
// args and the environment env, seeding the demo as runServe does.
func startInProcess(t *testing.T, env map[string]string, args ...string) *inProcess {
	t.Helper()
	cfg, err := parseServeConfig(append([]string{"--addr", "127.0.0.1:0", "--log-level", "warn"}, args...), envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	srv, err := startServer(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.shutdown(shutdownCtx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	t.Cleanup(func() {
		stop()
		if t.Failed() && logs.Len() > 0 {
			t.Logf("server logs:\n%s", logs.String())
		}
	})
	var demo strings.Builder
	if err := srv.startDemo(ctx, cfg, &demo); err != nil {
		t.Fatal(err)
	}
	return &inProcess{t: t, srv: srv, issuer: serverURL(srv.baseURL), demo: demo.String(), stop: stop,
		client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// with returns p reporting to the (sub)test t.
func (p *inProcess) with(t *testing.T) *inProcess {
	q := *p
	q.t = t
	return &q
}

// getJSON fetches a JSON document and decodes it.
func (p *inProcess) getJSON(path string) (int, map[string]any) {
	p.t.Helper()
	res, err := p.client.Get(p.issuer + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// token posts to the token endpoint, with HTTP Basic client credentials
// when id is set.
func (p *inProcess) token(form url.Values, id, secret string) (int, map[string]any) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.issuer+"/auth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	res, err := p.client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		p.t.Fatalf("token response is not JSON: %v", err)
	}
	return res.StatusCode, out
}

// login is a user signing in to an app through the login and consent pages.
type login struct {
	clientID, redirectURI, scope string
	username, password, totp     string
	// patientQuery is typed in the patient picker ("" to keep the first page).
	patientQuery string
}

// codeFlow runs the authorization code flow with PKCE as a browser and a
// public app would, and returns the token response.
func (p *inProcess) codeFlow(l login) map[string]any {
	p.t.Helper()
	return smarttest.CodeFlow(p.t, smarttest.Login{
		Issuer: p.issuer, Audience: p.srv.baseURL, ClientID: l.clientID, RedirectURI: l.redirectURI, Scope: l.scope,
		Username: l.username, Password: l.password, OTP: l.totp, PatientQuery: l.patientQuery,
	})
}

// totpCode is the current code of a TOTP secret.
func totpCode(t *testing.T, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// claims decodes the payload of a JWT (its signature is the smart package's
// tests' business).
func claims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	demoUserLine = regexp.MustCompile(`username=(\S+) password=(\S+) fhirUser=(\S+)`)
	demoTOTPLine = regexp.MustCompile(`TOTP secret=(\S+)`)
)

const bootstrapSecret = "bootstrap-secret-0123456789"

// TestAuthorizationServer starts a server on a fresh data directory with a
// bootstrap client: discovery, the key set, a backend-services token, the
// demo printed once, and a sign-in of the demo practitioner choosing the
// demo patient in the picker.
func TestAuthorizationServer(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p := startWithBootstrap(t, "--data", data,
		"--registration-token", "initial-access-token")

	t.Run("discovery", func(t *testing.T) {
		p := p.with(t)
		status, smartConfig := p.getJSON("/fhir/.well-known/smart-configuration")
		if status != http.StatusOK || smartConfig["token_endpoint"] != p.issuer+"/auth/token" ||
			smartConfig["authorization_endpoint"] != p.issuer+"/auth/authorize" || smartConfig["issuer"] != p.issuer {
			t.Errorf("smart-configuration: %d %v", status, smartConfig)
		}
		status, oidc := p.getJSON("/.well-known/openid-configuration")
		if status != http.StatusOK || oidc["issuer"] != p.issuer || oidc["jwks_uri"] != p.issuer+"/.well-known/jwks.json" {
			t.Errorf("openid-configuration: %d %v", status, oidc)
		}
		status, jwks := p.getJSON("/.well-known/jwks.json")
		if keys, _ := jwks["keys"].([]any); status != http.StatusOK || len(keys) == 0 {
			t.Errorf("jwks: %d %v", status, jwks)
		}
		// Registration is on with a registration token, and asks for it.
		res, err := p.client.Post(p.issuer+"/auth/register", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("registration without its token: %s, want 401", res.Status)
		}
		// The FHIR API is still there beside the authorization server, and
		// takes its tokens.
		status, tok := p.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"}}, "backend", bootstrapSecret)
		bearer, _ := tok["access_token"].(string)
		if status != http.StatusOK || bearer == "" {
			t.Fatalf("client_credentials: %d %v", status, tok)
		}
		req, _ := http.NewRequest(http.MethodGet, p.srv.baseURL+"/Patient/demo-patient", nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		if res, err := p.client.Do(req); err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("read the demo patient: %v %v", res, err)
		} else {
			res.Body.Close()
		}
	})

	t.Run("bootstrap client", func(t *testing.T) {
		p := p.with(t)
		tests := []struct {
			name, secret, scope string
			wantStatus          int
		}{
			{"client_secret_basic", bootstrapSecret, "system/Patient.rs", http.StatusOK},
			{"all its scopes", bootstrapSecret, "", http.StatusOK},
			{"wrong secret", "wrong-secret-0123456789", "system/Patient.rs", http.StatusUnauthorized},
			{"user scope", bootstrapSecret, "user/Patient.rs", http.StatusBadRequest},
		}
		for _, tt := range tests {
			form := url.Values{"grant_type": {"client_credentials"}}
			if tt.scope != "" {
				form.Set("scope", tt.scope)
			}
			status, tok := p.token(form, "backend", tt.secret)
			if status != tt.wantStatus {
				t.Errorf("%s: %d %v, want %d", tt.name, status, tok, tt.wantStatus)
				continue
			}
			if status != http.StatusOK {
				continue
			}
			c := claims(t, tok["access_token"].(string))
			if aud, _ := c["aud"].([]any); c["iss"] != p.issuer || len(aud) != 1 || aud[0] != p.srv.baseURL {
				t.Errorf("%s: access token iss %v aud %v, want %s %s", tt.name, c["iss"], c["aud"], p.issuer, p.srv.baseURL)
			}
			if want := tt.scope; want != "" && tok["scope"] != want {
				t.Errorf("%s: scope %v, want %s", tt.name, tok["scope"], want)
			}
		}
	})

	users := demoUserLine.FindAllStringSubmatch(p.demo, -1)
	secret := demoTOTPLine.FindStringSubmatch(p.demo)
	if len(users) != 2 || secret == nil || !strings.Contains(p.demo, "client_id=demo-app") {
		t.Fatalf("demo output:\n%s", p.demo)
	}
	if users[0][1] != demoPractitionerU || users[0][3] != "Practitioner/demo-practitioner" ||
		users[1][1] != demoPatientU || users[1][3] != "Patient/demo-patient" {
		t.Fatalf("demo users: %q", users)
	}

	t.Run("demo practitioner signs in", func(t *testing.T) {
		p := p.with(t)
		tok := p.codeFlow(login{
			clientID: demoClientID, redirectURI: demoRedirectURI, scope: "launch/patient patient/*.rs openid fhirUser",
			username: users[0][1], password: users[0][2], totp: totpCode(t, secret[1]), patientQuery: "paul DEMO",
		})
		if tok["patient"] != demoPatient {
			t.Errorf("patient %v, want the demo patient found in the picker", tok["patient"])
		}
		if c := claims(t, tok["id_token"].(string)); c["fhirUser"] != p.srv.baseURL+"/Practitioner/demo-practitioner" {
			t.Errorf("id_token fhirUser %v", c["fhirUser"])
		}
	})
	t.Run("demo patient signs in", func(t *testing.T) {
		p := p.with(t)
		tok := p.codeFlow(login{
			clientID: demoClientID, redirectURI: demoRedirectURI, scope: "patient/*.rs fhirUser openid",
			username: users[1][1], password: users[1][2],
		})
		if c := claims(t, tok["id_token"].(string)); c["fhirUser"] != p.srv.baseURL+"/Patient/demo-patient" {
			t.Errorf("id_token fhirUser %v", c["fhirUser"])
		}
	})
}

// TestDemoOnlyOnFreshStore restarts on the same data directories: the demo
// is made once, never with --demo=false, and, left to auto, not on a store
// that already holds resources.
func TestDemoOnlyOnFreshStore(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	first := startInProcess(t, nil, "--data", data)
	if !strings.Contains(first.demo, demoPractitionerU) {
		t.Fatalf("first start printed no demo:\n%s", first.demo)
	}
	first.stop()
	if again := startInProcess(t, nil, "--data", data, "--demo"); again.demo != "" {
		t.Errorf("second start printed the demo again:\n%s", again.demo)
	}

	withData := t.TempDir()
	off := startInProcess(t, nil, "--data", withData, "--demo=false")
	if off.demo != "" {
		t.Errorf("--demo=false printed:\n%s", off.demo)
	}
	if status, _ := off.token(url.Values{"grant_type": {"client_credentials"}}, demoClientID, ""); status != http.StatusUnauthorized {
		t.Errorf("demo client with --demo=false: token status %d, want 401 (unknown client)", status)
	}
	if _, _, err := off.srv.api.Create(context.Background(), "Patient", []byte(fmt.Sprintf(testPatient, "existing")), ""); err != nil {
		t.Fatalf("create a patient: %v", err)
	}
	off.stop()
	auto := startInProcess(t, nil, "--data", withData)
	if auto.demo != "" {
		t.Errorf("auto on a store with resources printed the demo:\n%s", auto.demo)
	}
	auto.stop()
	if forced := startInProcess(t, nil, "--data", withData, "--demo=true"); !strings.Contains(forced.demo, demoPatientU) {
		t.Errorf("--demo=true on a store with resources but no account printed no demo:\n%s", forced.demo)
	}
}

func TestDemoMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value, kind string
		want        bool
	}{
		{"", storeSQLite, true},
		{"auto", storeSQLite, true},
		{"auto", storeMongo, false},
		{"true", storeMongo, true},
		{"false", storeSQLite, false},
	}
	for _, tt := range tests {
		var d demoMode
		if tt.value != "" {
			if err := d.Set(tt.value); err != nil {
				t.Fatal(err)
			}
		}
		if got := d.enabled(tt.kind); got != tt.want {
			t.Errorf("--demo=%q on %s: %v, want %v", tt.value, tt.kind, got, tt.want)
		}
	}
	var d demoMode
	if err := d.Set("yes"); err == nil {
		t.Error("--demo=yes accepted")
	}
}

// TestFHIRNeedsToken checks the serve wiring of authentication: the FHIR
// API refuses a request without a token, serves it with a backend token of
// the right scope, refuses a write the scope does not grant, and
// --insecure-no-auth opens it (for development).
func TestFHIRNeedsToken(t *testing.T) {
	t.Parallel()
	p := startWithBootstrap(t, "--data", t.TempDir(), "--demo=false")
	get := func(path, bearer string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, p.srv.baseURL+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := p.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if status := get("/Patient", ""); status != http.StatusUnauthorized {
		t.Errorf("search without a token: %d, want 401", status)
	}
	if status := get("/metadata", ""); status != http.StatusOK {
		t.Errorf("metadata without a token: %d, want 200", status)
	}
	status, tok := p.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"}}, "backend", bootstrapSecret)
	if status != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", status, tok)
	}
	bearer, _ := tok["access_token"].(string)
	if status := get("/Patient", bearer); status != http.StatusOK {
		t.Errorf("search with a system/Patient.rs token: %d, want 200", status)
	}
	if status := get("/Observation", bearer); status != http.StatusForbidden {
		t.Errorf("search of Observation with a system/Patient.rs token: %d, want 403", status)
	}
	req, _ := http.NewRequest(http.MethodPost, p.srv.baseURL+"/Patient", strings.NewReader(fmt.Sprintf(testPatient, "no-write")))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	res, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("create with a read-only token: %d, want 403", res.StatusCode)
	}

	// The server's own tools get a token the same way.
	tool, err := p.srv.systemToken(context.Background(), "system/Patient.rs")
	if err != nil {
		t.Fatal(err)
	}
	if status := get("/Patient", tool); status != http.StatusOK {
		t.Errorf("search with a tool token: %d, want 200", status)
	}

	open := startInProcess(t, nil, "--data", t.TempDir(), "--demo=false", "--insecure-no-auth")
	req, _ = http.NewRequest(http.MethodGet, open.srv.baseURL+"/Patient", nil)
	res, err = open.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("--insecure-no-auth: search without a token: %d, want 200", res.StatusCode)
	}
}

// backendToken is an access token of the bootstrap client (started with
// TELEHUB_BOOTSTRAP_CLIENT=backend:bootstrapSecret) for scope.
func (p *inProcess) backendToken(scope string) string {
	p.t.Helper()
	status, tok := p.token(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, "backend", bootstrapSecret)
	if status != http.StatusOK {
		p.t.Fatalf("client_credentials for %s: %d %v", scope, status, tok)
	}
	return tok["access_token"].(string)
}

// fhir sends a FHIR request with token and returns its status and its JSON
// answer decoded.
func (p *inProcess) fhir(token, method, path, body string) (int, map[string]any) {
	p.t.Helper()
	req, _ := http.NewRequest(method, p.srv.baseURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/fhir+json")
	res, err := p.client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}
