package signaling_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/signaling"
	"github.com/telehub/telehub/signaling/signalingtest"
)

// TestTwoNodes: a practitioner on one node and a patient on another share
// a room; the patient drops and resumes on the first node; the
// practitioner's end reaches everyone.
func TestTwoNodes(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{Nodes: 2, SharedIssuer: true})
	n1, n2 := env.Nodes[0], env.Nodes[1]
	encID, _ := env.Encounter(t)
	room := "Encounter/" + encID
	dr, dj := join(t, n1, room, n1.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes))
	ptTok := n2.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes)
	pt, pj := join(t, n2, room, ptTok)
	if peers := pj["peers"].([]any); len(peers) != 1 || peers[0].(map[string]any)["peer"] != dj["peer"] {
		t.Fatalf("the patient on node 2 sees %v", peers)
	}
	if p := dr.expect("presence"); p["event"] != "join" {
		t.Fatalf("presence on node 1: %v", p)
	}

	// A third participant is refused on either node: the room is one-to-one.
	third := dial(t, n2, nil)
	third.send(map[string]any{"type": "join", "room": room, "token": n2.Token(t, signalingtest.OtherPatientUser, signalingtest.PatientScopes)})
	if _, code := third.expectClosed(); code != "forbidden" {
		t.Fatalf("a patient of another Encounter: %q, want forbidden", code)
	}

	pt.ws.CloseNow()
	if p := dr.expect("presence"); p["event"] != "away" {
		t.Fatalf("presence: %v", p)
	}
	back := dial(t, n1, nil)
	back.send(map[string]any{"type": "join", "room": room, "token": ptTok, "resume": pj["resume"]})
	bj := back.expect("joined")
	if bj["peer"] != pj["peer"] {
		t.Fatalf("resumed on node 1 as %v, was %v", bj["peer"], pj["peer"])
	}
	if p := dr.expect("presence"); p["event"] != "back" {
		t.Fatalf("presence: %v", p)
	}
	dr.send(map[string]any{"type": "offer", "to": pj["peer"], "sdp": "v=0"})
	if m := back.expect("offer"); m["from"] != dj["peer"] {
		t.Fatalf("offer after the resume: %v", m)
	}
	dr.send(map[string]any{"type": "end"})
	back.expect("ended")
	waitFor(t, "the Encounter finished", func() bool { s, _ := encounterStatus(t, env, encID); return s == "finished" })
}

// TestHeartbeat: a client that stops answering pings is shown away.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{Relay: func(o *signalingOptions) { o.Heartbeat = 300 * time.Millisecond }})
	n := env.Nodes[0]
	encID, _ := env.Encounter(t)
	// Tokens first: a client answers pings only while it reads, and the
	// practitioner's client reads only in expect.
	drTok := n.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes)
	ptTok := n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes)
	dr, _ := join(t, n, "Encounter/"+encID, drTok)
	// The patient joins, then never reads again: its pings go unanswered.
	join(t, n, "Encounter/"+encID, ptTok)
	for _, want := range []string{"join", "away"} {
		if p := dr.expect("presence"); p["event"] != want {
			t.Fatalf("presence %v, want %s", p, want)
		}
	}
}

// TestAuditFailClosed: no join without its audit record.
func TestAuditFailClosed(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{})
	n := env.Nodes[0]
	encID, _ := env.Encounter(t)
	broken, err := audit.NewRecorder(env.Store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	broken.Close() // a recorder that can no longer write
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	relay, err := signaling.New(signaling.Options{FHIR: n.FHIR, Auth: &authz.Authenticator{Verifier: n.Auth}, Audit: broken, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	e := echo.New()
	relay.Mount(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	c := dial(t, &signalingtest.Node{URL: srv.URL}, nil)
	c.send(map[string]any{"type": "join", "room": "Encounter/" + encID, "token": n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes)})
	if _, code := c.expectClosed(); code != "audit_unavailable" {
		t.Fatalf("join without audit: %q, want audit_unavailable", code)
	}
	if s, _ := encounterStatus(t, env, encID); s != "planned" {
		t.Fatalf("Encounter %q after a refused join, want planned", s)
	}
}
