// Package signalingtest starts real TeleHub nodes for the tests of the
// signaling relay and of the web app: the FHIR API and the SMART
// authorization server over one SQLite store, the audit recorder, the relay,
// and (for several nodes) an in-process NATS server they share. It seeds a
// practitioner, a patient, their accounts, the web app's client and
// teleconsultation Encounters, and signs users in through the real
// authorization code flow.
package signalingtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/signaling"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store/sqlite"
)

// The seeded accounts and resources.
const (
	PractitionerID   = "pract-1"
	PatientID        = "patient-1"
	OtherPatientID   = "patient-2"
	PractitionerUser = "dr.martin"
	PatientUser      = "helene"
	OtherPatientUser = "jules"
	Password         = "correct horse battery staple"
	// TOTPSecret is the practitioner's second factor (base32).
	TOTPSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	// WebClientID is the web app's public SMART client.
	WebClientID = "telehub-web"
)

// Scopes the web app asks for, by kind of user.
const (
	PractitionerScopes = "openid fhirUser profile user/Encounter.rs user/Appointment.rs user/Patient.rs user/Practitioner.rs user/Media.c user/DocumentReference.c"
	PatientScopes      = "openid fhirUser profile patient/Encounter.rs patient/Appointment.rs patient/Patient.r patient/Media.c patient/DocumentReference.c"
)

// TB is what the environment needs of a test: *testing.T and *testing.B
// are TBs, and so is a program that runs an environment outside a test
// (the signaling benchmark runs its server in a process of its own).
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// Config shapes an Env.
type Config struct {
	// Nodes is the number of TeleHub nodes (default 1); with more than one,
	// they share a NATS server.
	Nodes int
	// Relay adjusts each node's relay options (FHIR, Auth, Audit and NATS are set).
	Relay func(*signaling.Options)
	// Mount adds routes to each node (the web app, for instance).
	Mount func(*echo.Echo)
	// Logger receives the nodes' logs (discarded when nil).
	Logger *slog.Logger
	// SharedIssuer makes every node issue and accept the tokens of the
	// first node's address, as nodes behind one public URL do; otherwise
	// each node is its own issuer and accepts only its own tokens.
	SharedIssuer bool
}

// Node is one TeleHub node.
type Node struct {
	URL    string // http://127.0.0.1:port
	Issuer string // the base URL of the tokens it issues and accepts
	FHIR   *fhir.Server
	Auth   *smart.Server
	Relay  *signaling.Relay
	HTTP   *httptest.Server
}

// Env is a set of nodes sharing one store.
type Env struct {
	Nodes   []*Node
	Store   *sqlite.Store
	Audit   *audit.Recorder
	NATSURL string
}

// Start starts the nodes and seeds them; everything stops at the end of t.
func Start(t TB, cfg Config) *Env {
	t.Helper()
	if cfg.Nodes <= 0 {
		cfg.Nodes = 1
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "telehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec, err := audit.NewRecorder(st, audit.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	env := &Env{Store: st, Audit: rec}
	if cfg.Nodes > 1 {
		env.NATSURL = startNATS(t)
	}
	issuer := ""
	for i := 0; i < cfg.Nodes; i++ {
		n := env.startNode(t, cfg, logger, i, issuer)
		if cfg.SharedIssuer {
			issuer = n.Issuer
		}
		env.Nodes = append(env.Nodes, n)
	}
	env.seed(t)
	return env
}

func startNATS(t TB) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

func (env *Env) startNode(t TB, cfg Config, logger *slog.Logger, i int, issuer string) *Node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	if issuer == "" {
		issuer = base
	}
	api, err := fhir.New(fhir.Options{Store: env.Store, BaseURL: base + "/fhir", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := smart.New(smart.Config{BaseURL: issuer, FHIRBaseURL: issuer + "/fhir", Records: env.Store, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	opts := signaling.Options{
		FHIR: api, Auth: &authz.Authenticator{Verifier: auth, Realm: "TeleHub", Logger: logger}, Audit: env.Audit,
		NodeID: fmt.Sprintf("node%d", i+1), Logger: logger,
	}
	if env.NATSURL != "" {
		nc, err := nats.Connect(env.NATSURL, nats.Name(opts.NodeID))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		opts.NATS = nc
	}
	if cfg.Relay != nil {
		cfg.Relay(&opts)
	}
	relay, err := signaling.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	api.Mount(e)
	auth.Mount(e)
	relay.Mount(e)
	if cfg.Mount != nil {
		cfg.Mount(e)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: e}}
	srv.Start()
	t.Cleanup(func() {
		relay.Close()
		srv.CloseClientConnections()
		srv.Close()
	})
	return &Node{URL: base, Issuer: issuer, FHIR: api, Auth: auth, Relay: relay, HTTP: srv}
}

// WebRedirectURI is the web app's redirect URI on a node.
func (n *Node) WebRedirectURI() string { return n.URL + "/app/" }

// seed writes the people, accounts and clients every test uses.
func (env *Env) seed(t TB) {
	t.Helper()
	ctx := context.Background()
	n := env.Nodes[0]
	for _, r := range []struct{ typ, id, body string }{
		{"Practitioner", PractitionerID, `{"resourceType":"Practitioner","id":"pract-1","active":true,"name":[{"family":"Martin","given":["Claire"],"prefix":["Dr"]}]}`},
		{"Patient", PatientID, `{"resourceType":"Patient","id":"patient-1","active":true,"name":[{"family":"Durand","given":["Hélène"]}],"birthDate":"1980-04-12"}`},
		{"Patient", OtherPatientID, `{"resourceType":"Patient","id":"patient-2","active":true,"name":[{"family":"Petit","given":["Jules"]}]}`},
	} {
		if _, err := n.FHIR.Update(ctx, r.typ, r.id, []byte(r.body), 0); err != nil {
			t.Fatalf("seed %s/%s: %v", r.typ, r.id, err)
		}
	}
	for _, u := range []smart.NewUser{
		{Username: PractitionerUser, Password: Password, Name: "Claire Martin", FHIRUser: "Practitioner/" + PractitionerID, TOTPSecret: TOTPSecret},
		{Username: PatientUser, Password: Password, Name: "Hélène Durand", FHIRUser: "Patient/" + PatientID},
		{Username: OtherPatientUser, Password: Password, Name: "Jules Petit", FHIRUser: "Patient/" + OtherPatientID},
	} {
		if _, err := n.Auth.AddUser(ctx, u); err != nil {
			t.Fatalf("seed user %s: %v", u.Username, err)
		}
	}
	var redirects []string
	for _, node := range env.Nodes {
		redirects = append(redirects, node.WebRedirectURI())
	}
	if _, _, err := n.Auth.AddClient(ctx, WebClient(redirects...)); err != nil {
		t.Fatalf("seed client: %v", err)
	}
}

// WebClient is the registration of the web app's public client for the
// given redirect URIs (<base>/app/).
func WebClient(redirectURIs ...string) smart.NewClient {
	return smart.NewClient{
		ID: WebClientID, Name: "TeleHub consultations", AuthMethod: smart.AuthNone,
		RedirectURIs: redirectURIs,
		Scopes:       append(strings.Fields(PractitionerScopes), strings.Fields(PatientScopes)[3:]...),
		GrantTypes:   []string{smart.GrantAuthorizationCode, smart.GrantRefreshToken},
	}
}

// Encounter creates a planned teleconsultation Encounter (fulfilling a new
// Appointment) between the seeded practitioner and patient, with extra
// Encounter.type codes, and returns its id and the Appointment's.
func (env *Env) Encounter(t TB, typeCodes ...string) (encounterID, appointmentID string) {
	t.Helper()
	ctx := context.Background()
	api := env.Nodes[0].FHIR
	now := time.Now().UTC()
	appt := fmt.Sprintf(`{"resourceType":"Appointment","status":"booked","start":%q,"end":%q,`+
		`"participant":[{"actor":{"reference":"Patient/%s"},"status":"accepted"},{"actor":{"reference":"Practitioner/%s"},"status":"accepted"}]}`,
		now.Format(time.RFC3339), now.Add(30*time.Minute).Format(time.RFC3339), PatientID, PractitionerID)
	a, _, err := api.Create(ctx, "Appointment", []byte(appt), "")
	if err != nil {
		t.Fatalf("create Appointment: %v", err)
	}
	types := ""
	for i, c := range typeCodes {
		if i > 0 {
			types += ","
		}
		types += fmt.Sprintf(`{"coding":[{"system":"https://telehub.dev/fhir/CodeSystem/session-type","code":%q}]}`, c)
	}
	enc := fmt.Sprintf(`{"resourceType":"Encounter","status":"planned",`+
		`"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"VR","display":"virtual"},`+
		`"type":[%s],"subject":{"reference":"Patient/%s"},`+
		`"participant":[{"individual":{"reference":"Practitioner/%s"}}],"appointment":[{"reference":"Appointment/%s"}],`+
		`"period":{"start":%q}}`, types, PatientID, PractitionerID, a.ID, now.Format(time.RFC3339))
	if len(typeCodes) == 0 {
		enc = strings.Replace(enc, `"type":[],`, "", 1)
	}
	e, _, err := api.Create(ctx, "Encounter", []byte(enc), "")
	if err != nil {
		t.Fatalf("create Encounter: %v", err)
	}
	return e.ID, a.ID
}
