package smart_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/telehub/telehub/internal/e2e"
	"github.com/telehub/telehub/smart"
)

// TestFhirclientStandaloneLaunch: the fhirclient library, in headless
// Chromium, completes a standalone launch with PKCE against TeleHub as a
// practitioner (password and TOTP), picks a patient, and reads the patient
// and its observations, refreshing its token in between.
func TestFhirclientStandaloneLaunch(t *testing.T) {
	node, modules := e2e.Node(t, "fhirclient", "playwright-core")
	chromium := e2e.Chromium(t)
	h := startHub(t)

	// The app: its pages, the fhirclient browser build, and the TOTP code
	// of the practitioner (computed here when the script asks for it).
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServer(http.Dir(filepath.Join(here(), "app"))))
	mux.HandleFunc("GET /fhir-client.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(modules, "fhirclient", "build", "fhir-client.js"))
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /otp", func(w http.ResponseWriter, r *http.Request) {
		code, err := totp.GenerateCode(drTOTPSecret, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write([]byte(code))
	})
	app := httptest.NewServer(mux)
	t.Cleanup(app.Close)

	const scope = "launch/patient openid fhirUser offline_access patient/*.rs"
	h.addClient(t, smart.NewClient{
		ID: "fhirclient-app", Name: "fhirclient test app", AuthMethod: smart.AuthNone, RedirectURIs: []string{app.URL + "/app.html"},
		Scopes: strings.Fields(scope), GrantTypes: []string{smart.GrantAuthorizationCode, smart.GrantRefreshToken},
	})
	launch := app.URL + "/launch.html?" + url.Values{"server": {h.fhirBase}, "client": {"fhirclient-app"}, "scope": {scope}}.Encode()
	shots := artifactDir(t)
	var out struct {
		Steps  []string
		Result struct {
			Error             string
			PatientID         string
			Family            string
			Observations      []string
			FHIRUser          string
			UserType          string
			Scope             string
			NeedPatientBanner *bool
			TokenType         string
			HasIDToken        bool
			Refreshed         bool
		}
	}
	runNode(t, node, modules, "browser-launch.mjs", map[string]string{
		"LAUNCH_URL": launch, "USERNAME": drUsername, "PASSWORD": drPassword, "OTP_URL": app.URL + "/otp",
		"PATIENT_QUERY": "martin", "PATIENT_ID": h.patientID, "SCREENSHOT_DIR": shots, "CHROMIUM": chromium,
	}, &out)
	r := out.Result
	t.Logf("steps %v; screenshots in %s", out.Steps, shots)
	if r.Error != "" {
		t.Fatalf("the app failed after %v: %s", out.Steps, r.Error)
	}
	want := slices.Clone(h.observationIDs)
	slices.Sort(want)
	switch {
	case r.PatientID != h.patientID || r.Family != "Martin":
		t.Errorf("app read patient %s %q, want %s Martin", r.PatientID, r.Family, h.patientID)
	case !slices.Equal(r.Observations, want):
		t.Errorf("app found observations %v, want %v (the patient's only)", r.Observations, want)
	case r.FHIRUser != "Practitioner/"+h.practitionerID || r.UserType != "Practitioner":
		t.Errorf("app user %q (%s), want Practitioner/%s", r.FHIRUser, r.UserType, h.practitionerID)
	case r.NeedPatientBanner == nil || !*r.NeedPatientBanner || !strings.EqualFold(r.TokenType, "bearer") || !r.HasIDToken:
		t.Errorf("token response: banner %v, type %q, id_token %v", r.NeedPatientBanner, r.TokenType, r.HasIDToken)
	case !r.Refreshed:
		t.Error("the app did not refresh its token")
	}
	for _, s := range strings.Fields(scope) {
		if !slices.Contains(strings.Fields(r.Scope), s) {
			t.Errorf("granted scope %q lacks %s", r.Scope, s)
		}
	}
}
