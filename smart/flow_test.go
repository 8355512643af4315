package smart

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// TestAuthorizationCodeFlow drives the whole flow with a Go HTTP client:
// authorize, the login form (TOTP computed from the secret), the consent
// with the patient picker, the token exchange with PKCE, then checks the
// tokens and userinfo.
func TestAuthorizationCodeFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret := e.addAppClient("confidential-app", AuthSecretBasic)
	e.addAppClient("public-app", AuthNone)
	e.addUser("dr.house", "Practitioner/prac-1")
	e.addUser("helene", "Patient/p1")
	e.addUser("nurse", "PractitionerRole/role-1")
	tests := []struct {
		name, client, secret, user, scope string
		wantPatient, wantFHIRUser         string
		wantRefresh, wantIDToken          bool
	}{
		{"public app, professional, picker", "public-app", "", "dr.house",
			"launch/patient patient/Observation.rs openid fhirUser offline_access", "p1", "Practitioner/prac-1", true, true},
		{"confidential app, patient's own account", "confidential-app", secret, "helene",
			"launch/patient patient/*.read openid fhirUser", "p1", "Patient/p1", false, true},
		{"user scopes without openid", "confidential-app", secret, "nurse",
			"user/Observation.rs online_access", "", "PractitionerRole/role-1", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			tok := e.codeFlow(tt.client, tt.secret, tt.user, tt.scope)
			if tok["token_type"] != "Bearer" || tok["scope"] != tt.scope {
				t.Errorf("token_type %v scope %v, want Bearer %q", tok["token_type"], tok["scope"], tt.scope)
			}
			if got, _ := tok["patient"].(string); got != tt.wantPatient {
				t.Errorf("patient = %q, want %q", got, tt.wantPatient)
			}
			if _, ok := tok["refresh_token"]; ok != tt.wantRefresh {
				t.Errorf("refresh token present %v, want %v", ok, tt.wantRefresh)
			}
			if tt.wantPatient != "" && tok["need_patient_banner"] != true {
				t.Errorf("need_patient_banner = %v, want true", tok["need_patient_banner"])
			}
			at, err := e.srv.VerifyAccessToken(context.Background(), tok["access_token"].(string))
			if err != nil {
				t.Fatalf("VerifyAccessToken: %v", err)
			}
			if at.ClientID != tt.client || at.Patient != tt.wantPatient || at.FHIRUser != tt.wantFHIRUser {
				t.Errorf("access token = %+v", at)
			}
			idToken, ok := tok["id_token"].(string)
			if ok != tt.wantIDToken {
				t.Fatalf("id_token present %v, want %v", ok, tt.wantIDToken)
			}
			if !ok {
				return
			}
			claims := e.verifyIDToken(idToken, tt.client)
			if want := e.fhirBase() + "/" + tt.wantFHIRUser; claims["fhirUser"] != want || claims["nonce"] != "n-0S6" {
				t.Errorf("id_token fhirUser %v nonce %v, want %s n-0S6", claims["fhirUser"], claims["nonce"], want)
			}
			status, _, info := e.getJSON("/auth/userinfo", http.Header{"Authorization": {"Bearer " + tok["access_token"].(string)}})
			if status != http.StatusOK || info["fhirUser"] != e.fhirBase()+"/"+tt.wantFHIRUser || info["sub"] != claims["sub"] {
				t.Errorf("userinfo = %d %v", status, info)
			}
		})
	}
}

// verifyIDToken checks an id_token against the published JWKS.
func (e *testEnv) verifyIDToken(token, clientID string) map[string]any {
	e.t.Helper()
	set, err := jwk.Fetch(context.Background(), e.base+"/.well-known/jwks.json")
	if err != nil {
		e.t.Fatalf("fetch jwks: %v", err)
	}
	tok, err := jwt.Parse([]byte(token), jwt.WithKeySet(set), jwt.WithValidate(true), jwt.WithIssuer(e.base), jwt.WithAudience(clientID))
	if err != nil {
		e.t.Fatalf("id_token: %v", err)
	}
	claims, _ := tok.AsMap(context.Background())
	// The id_token must be RS256, OpenID Connect's default.
	parts := strings.Split(token, ".")
	hdr, _ := jwtSegment(parts[0])
	if hdr["alg"] != jwa.RS256.String() {
		e.t.Errorf("id_token alg %v, want RS256", hdr["alg"])
	}
	return claims
}

func jwtSegment(seg string) (map[string]any, error) {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// TestEHRLaunch binds an authorization to a launch context created by the
// EHR, which comes back in the token response.
func TestEHRLaunch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addAppClient("app", AuthNone)
	e.addUser("dr.who", "Practitioner/prac-2")
	launch, err := e.srv.CreateLaunch(context.Background(), LaunchContext{
		Patient: "p2", Encounter: "enc-9", NeedPatientBanner: false, SmartStyleURL: "https://ehr.example/style.json",
		FHIRContext: []json.RawMessage{json.RawMessage(`{"reference":"Appointment/a1"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	verifier, challenge := pkce()
	params := e.authorizeParams("app", "launch patient/Observation.rs user/Encounter.r", challenge)
	params.Set("launch", launch)
	b := e.browser()
	b.authorizeMethod = http.MethodPost
	resp, _ := b.login(params, "dr.who", testPassword, totpNow(t))
	back := b.consent(resp, nil, "")
	status, tok := e.post("/auth/token", url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}, "client_id": {"app"}}, "", "")
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}
	fc, _ := json.Marshal(tok["fhirContext"])
	if tok["patient"] != "p2" || tok["encounter"] != "enc-9" || tok["need_patient_banner"] != false ||
		tok["smart_style_url"] != "https://ehr.example/style.json" || string(fc) != `[{"reference":"Appointment/a1"}]` {
		t.Errorf("launch context in token response = %v", tok)
	}
	if back.Query().Get("state") != "st-app" || back.Query().Get("iss") != e.base {
		t.Errorf("redirect %s: want state st-app and iss %s", back, e.base)
	}

	// A launch made for one user cannot be taken by another.
	e.addUser("dr.other", "Practitioner/prac-3")
	bound, err := e.srv.CreateLaunch(context.Background(), LaunchContext{Patient: "p2", User: "dr.who"})
	if err != nil {
		t.Fatal(err)
	}
	params.Set("launch", bound)
	resp, _ = e.browser().login(params, "dr.other", testPassword, totpNow(t))
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "access_denied" {
		t.Errorf("launch of another user: %s %s, want a redirect with access_denied", resp.Status, resp.Header.Get("Location"))
	}

	// An unknown launch goes back to the app as an error.
	params.Set("launch", "no-such-launch")
	resp, _ = b.do(http.MethodGet, e.base+"/auth/authorize", params)
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("unknown launch: %s %s, want a redirect with invalid_request", resp.Status, resp.Header.Get("Location"))
	}
}

// TestConsentNarrowsScopes checks that unticked scopes are not granted and
// that a denial goes back to the app.
func TestConsentNarrowsScopes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addAppClient("app", AuthNone)
	e.addUser("helene", "Patient/p1")
	verifier, challenge := pkce()
	b := e.browser()
	resp, _ := b.login(e.authorizeParams("app", "launch/patient patient/Observation.rs patient/Condition.rs", challenge), "helene", testPassword, "")
	back := b.consent(resp, []string{"launch/patient", "patient/Observation.rs"}, "")
	status, tok := e.post("/auth/token", url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {testRedirect}, "code_verifier": {verifier}, "client_id": {"app"}}, "", "")
	if status != http.StatusOK || tok["scope"] != "launch/patient patient/Observation.rs" {
		t.Fatalf("token: %d scope %v, want the two ticked scopes", status, tok["scope"])
	}

	b = e.browser()
	resp, _ = b.login(e.authorizeParams("app", "patient/Observation.rs", challenge), "helene", testPassword, "")
	_, page := b.do(http.MethodGet, resp.Header.Get("Location"), nil)
	req := hiddenReq.FindStringSubmatch(page)[1]
	resp, _ = b.do(http.MethodPost, e.base+"/auth/consent", url.Values{"req": {req}, "decision": {"deny"}})
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "access_denied" {
		t.Errorf("deny: %s %s, want access_denied", resp.Status, resp.Header.Get("Location"))
	}
}
