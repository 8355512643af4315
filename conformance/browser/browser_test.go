package browser

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/internal/e2e"
	"github.com/telehub/telehub/signaling/signalingtest"
	"github.com/telehub/telehub/web"
)

func here(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the test's folder")
	}
	return filepath.Dir(file)
}

// artifacts is where screenshots go: the repository's git-ignored
// artifacts/ folder when it exists, the test's temporary folder otherwise.
func artifacts(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(here(t), "..", "..", "artifacts")
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		dir = filepath.Join(dir, "browser", name)
		if err := os.MkdirAll(dir, 0o755); err == nil {
			return dir
		}
	}
	return t.TempDir()
}

type callResult struct {
	Listed       map[string]int `json:"listed"`
	Practitioner []peerStats    `json:"practitioner"`
	Patient      []peerStats    `json:"patient"`
	Chat         bool           `json:"chat"`
	ScreenShared bool           `json:"screenShared"`
	Photo        string         `json:"photo"`
	Document     string         `json:"document"`
	Ended        bool           `json:"ended"`
	SignedOut    bool           `json:"signedOut"`
	Error        string         `json:"error"`
}

type peerStats struct {
	Peer          string `json:"peer"`
	State         string `json:"state"`
	FramesDecoded int    `json:"framesDecoded"`
}

// TestConsultationInBrowsers: a practitioner (desktop viewport) and a
// patient (phone viewport) sign in to the web app, join their
// teleconsultation, and their browsers reach a connected RTCPeerConnection
// with video frames decoded on both sides; the practitioner shares their
// screen and stops, they chat, the practitioner saves a photo and the
// patient a document to the record, the practitioner ends the session and
// the patient signs out. Once on one node, once with each page on its own
// node.
func TestConsultationInBrowsers(t *testing.T) {
	node, modules := e2e.Node(t, "playwright-core")
	browserPath := e2e.Chromium(t)
	for _, nodes := range []int{1, 2} {
		name := map[int]string{1: "one node", 2: "two nodes over NATS"}[nodes]
		t.Run(name, func(t *testing.T) {
			env := signalingtest.Start(t, signalingtest.Config{Nodes: nodes, Mount: web.Mount})
			pro, pat := env.Nodes[0], env.Nodes[len(env.Nodes)-1]
			encID, _ := env.Encounter(t)
			shots := artifacts(t, strings.ReplaceAll(name, " ", "-"))

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, filepath.Join(here(t), "call.mjs"))
			cmd.Env = append(os.Environ(),
				"PRO_URL="+pro.URL, "PATIENT_URL="+pat.URL, "ROOM=Encounter/"+encID,
				"PRO_USER="+signalingtest.PractitionerUser, "PATIENT_USER="+signalingtest.PatientUser,
				"PASSWORD="+signalingtest.Password, "PRO_OTP="+signalingtest.TOTP(t),
				"SHOTS="+shots, "NODE_MODULES="+modules, "CHROMIUM="+browserPath)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			t.Logf("call.mjs log:\n%s", stderr.String())
			if err != nil {
				t.Fatalf("call.mjs: %v\n%s", err, out)
			}
			var res callResult
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
				t.Fatalf("call.mjs printed %q: %v", out, err)
			}
			if res.Error != "" {
				t.Fatalf("in the browsers: %s", res.Error)
			}
			if res.Listed["practitioner"] != 1 || res.Listed["patient"] != 1 {
				t.Errorf("today's list shows the consultation %v times, want once on each side", res.Listed)
			}
			for side, stats := range map[string][]peerStats{"practitioner": res.Practitioner, "patient": res.Patient} {
				if len(stats) != 1 || stats[0].State != "connected" || stats[0].FramesDecoded <= 0 {
					t.Errorf("%s's page: %+v, want one connected peer with decoded frames", side, stats)
				}
			}
			if !res.Chat || !res.ScreenShared || !res.Ended || !res.SignedOut {
				t.Errorf("chat %v, screen shared %v, ended %v, signed out %v", res.Chat, res.ScreenShared, res.Ended, res.SignedOut)
			}
			checkRecord(t, env, encID)
			t.Logf("screenshots in %s", shots)
		})
	}
}

// checkRecord checks what the session left in the FHIR store: the Encounter
// finished with its period, a Media and a DocumentReference linked to it.
func checkRecord(t *testing.T, env *signalingtest.Env, encID string) {
	t.Helper()
	ctx := context.Background()
	api := env.Nodes[0].FHIR
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := api.Read(ctx, "Encounter", encID)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Status string            `json:"status"`
			Period map[string]string `json:"period"`
		}
		json.Unmarshal(res.Body, &e)
		if e.Status == "finished" && e.Period["start"] != "" && e.Period["end"] != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Encounter after the session: status %q period %v", e.Status, e.Period)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for typ, param := range map[string]string{"Media": "encounter", "DocumentReference": "encounter"} {
		found, err := api.Find(ctx, typ, url.Values{param: {"Encounter/" + encID}}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 {
			t.Errorf("%s linked to the Encounter: %d, want 1", typ, len(found))
		}
	}
	audits, err := api.Find(ctx, "AuditEvent", url.Values{"entity": {"Encounter/" + encID}}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(audits) < 4 {
		t.Errorf("audit events of the session: %d, want at least 2 joins and 2 leaves", len(audits))
	}
}
