package smart_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
)

// hub is a TeleHub on a loopback port: the FHIR API, enforcing access
// tokens, and its authorization server, on a SQLite store.
type hub struct {
	base, fhirBase string
	auth           *smart.Server
	api            *fhir.Server
	store          *sqlite.Store

	// Seeded data.
	patientID, otherPatientID, practitionerID string
	observationIDs                            []string
}

// Accounts of the hub.
const (
	drUsername   = "dr-martin"
	drPassword   = "a long practitioner password"
	drTOTPSecret = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
	patUsername  = "paul"
	patPassword  = "a long patient password"
)

func startHub(t *testing.T) *hub {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "telehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hub{base: "http://" + l.Addr().String(), store: st}
	h.fhirBase = h.base + "/fhir"
	// Warnings and errors of the server go to the test log.
	logger := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir := &patientDirectory{st: st}
	if h.auth, err = smart.New(smart.Config{BaseURL: h.base, Records: st, Patients: dir, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	h.api, err = fhir.New(fhir.Options{Store: st, BaseURL: h.fhirBase, Logger: logger,
		Auth: &authz.Authenticator{Verifier: h.auth, Realm: "telehub", Logger: logger}})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	h.api.Mount(e)
	h.auth.Mount(e)
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	h.seed(t)
	return h
}

// seed stores two patients, a practitioner, observations, and the accounts.
func (h *hub) seed(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	create := func(typ, body string) string {
		res, _, err := h.api.Create(ctx, typ, []byte(body), "")
		if err != nil {
			t.Fatalf("seed %s: %v", typ, err)
		}
		return res.ID
	}
	h.patientID = create("Patient", `{"resourceType":"Patient","name":[{"family":"Martin","given":["Hélène"]}],"gender":"female","birthDate":"1980-04-12"}`)
	h.otherPatientID = create("Patient", `{"resourceType":"Patient","name":[{"family":"Dupont","given":["Paul"]}],"gender":"male","birthDate":"1975-02-01"}`)
	h.practitionerID = create("Practitioner", `{"resourceType":"Practitioner","name":[{"family":"Martin","given":["Claire"]}]}`)
	for i, v := range []int{72, 80} {
		h.observationIDs = append(h.observationIDs, create("Observation", fmt.Sprintf(`{"resourceType":"Observation","status":"final",
			"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},
			"subject":{"reference":"Patient/%s"},"effectiveDateTime":"2026-01-0%dT10:00:00Z",
			"valueQuantity":{"value":%d,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}}`, h.patientID, i+1, v)))
	}
	create("Observation", fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
		"subject":{"reference":"Patient/%s"},"valueQuantity":{"value":60,"unit":"beats/minute"}}`, h.otherPatientID))
	for _, u := range []smart.NewUser{
		{Username: drUsername, Password: drPassword, Name: "Dr Claire Martin", FHIRUser: "Practitioner/" + h.practitionerID, TOTPSecret: drTOTPSecret},
		{Username: patUsername, Password: patPassword, Name: "Paul Dupont", FHIRUser: "Patient/" + h.otherPatientID},
	} {
		if _, err := h.auth.AddUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
}

// addClient registers a client and returns its secret (if any).
func (h *hub) addClient(t *testing.T, nc smart.NewClient) string {
	t.Helper()
	_, secret, err := h.auth.AddClient(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// patientDirectory backs the patient picker with a name search in the
// store (what telehub serve wires).
type patientDirectory struct{ st store.Store }

func (d *patientDirectory) SearchPatients(ctx context.Context, text string, limit int) ([]smart.PatientSummary, error) {
	params := url.Values{}
	for _, word := range strings.Fields(text) {
		params.Add("name", strings.Trim(word, `,\|$`))
	}
	plan := search.Parse("Patient", params)
	q := plan.Query
	q.Count = limit
	res, err := d.st.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	found := res.Resources
	out := make([]smart.PatientSummary, 0, len(found))
	for _, r := range found {
		var p struct {
			Name []struct {
				Family string   `json:"family"`
				Given  []string `json:"given"`
			} `json:"name"`
			BirthDate string `json:"birthDate"`
			Gender    string `json:"gender"`
		}
		if err := json.Unmarshal(r.Body, &p); err != nil {
			return nil, err
		}
		s := smart.PatientSummary{ID: r.ID, BirthDate: p.BirthDate, Gender: p.Gender}
		if len(p.Name) > 0 {
			s.Name = strings.TrimSpace(strings.Join(p.Name[0].Given, " ") + " " + p.Name[0].Family)
		}
		out = append(out, s)
	}
	return out, nil
}

// here is this package's directory (the scripts and app pages).
func here() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// runNode runs a script of this directory with env, and decodes the JSON
// object it prints last on stdout into out. Its stderr goes to the log.
func runNode(t *testing.T, node, modules, script string, env map[string]string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(here(), script))
	cmd.Dir = here()
	cmd.Env = append(os.Environ(), "TELEHUB_NODE_MODULES="+modules)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if stderr.Len() > 0 {
		t.Logf("%s stderr:\n%s", script, stderr.String())
	}
	if err != nil {
		t.Fatalf("node %s: %v\nstdout:\n%s", script, err, stdout)
	}
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), out); err != nil {
		t.Fatalf("node %s: last line is not JSON: %v\n%s", script, err, stdout)
	}
}

// artifactDir is where screenshots go: the git-ignored artifacts/ folder
// at the repository root when it exists, else the test's temporary folder.
func artifactDir(t *testing.T) string {
	dir := filepath.Join(here(), "..", "..", "artifacts")
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return dir
	}
	return t.TempDir()
}

// testLog writes to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
