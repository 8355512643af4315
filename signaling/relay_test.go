package signaling_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/telehub/telehub/signaling/signalingtest"
)

func encounterStatus(t *testing.T, env *signalingtest.Env, id string) (status string, period map[string]string) {
	t.Helper()
	res, err := env.Nodes[0].FHIR.Read(context.Background(), "Encounter", id)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Status string            `json:"status"`
		Period map[string]string `json:"period"`
	}
	if err := json.Unmarshal(res.Body, &e); err != nil {
		t.Fatal(err)
	}
	return e.Status, e.Period
}

func auditCount(t *testing.T, env *signalingtest.Env, encounterID string) int {
	t.Helper()
	found, err := env.Nodes[0].FHIR.Find(context.Background(), "AuditEvent", url.Values{"entity": {"Encounter/" + encounterID}}, 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(found)
}

// waitFor polls cond for up to 10 s: the relay's writes after a leave
// happen after the client saw its socket closed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestSession runs one teleconsultation: the practitioner joins by the
// Appointment, the patient by the Encounter; they see each other, exchange
// an offer, an answer and candidates, and the session starts and ends the
// Encounter, every join and leave audited.
func TestSession(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{})
	n := env.Nodes[0]
	encID, apptID := env.Encounter(t)
	drTok := n.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes)
	ptTok := n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes)

	dr, joined := join(t, n, "Appointment/"+apptID, drTok)
	if joined["room"] != "Encounter/"+encID || joined["mode"] != "one-to-one" || joined["max"] != 2.0 {
		t.Fatalf("joined = %v", joined)
	}
	if peers := joined["peers"].([]any); len(peers) != 0 {
		t.Fatalf("first joiner sees peers %v", peers)
	}
	drID := joined["peer"].(string)
	if status, period := encounterStatus(t, env, encID); status != "in-progress" || period["start"] == "" {
		t.Fatalf("after the first join: status %q period %v", status, period)
	}

	// The patient joins by the access_token query parameter.
	pt := dial(t, n, url.Values{"access_token": {ptTok}})
	pt.send(map[string]any{"type": "join", "room": "Encounter/" + encID})
	pj := pt.expect("joined")
	ptID := pj["peer"].(string)
	if peers := pj["peers"].([]any); len(peers) != 1 || peers[0].(map[string]any)["peer"] != drID ||
		peers[0].(map[string]any)["role"] != "practitioner" || peers[0].(map[string]any)["user"] != "Practitioner/"+signalingtest.PractitionerID {
		t.Fatalf("patient sees peers %v", pj["peers"])
	}
	if p := dr.expect("presence"); p["event"] != "join" || p["peer"].(map[string]any)["peer"] != ptID ||
		p["peer"].(map[string]any)["role"] != "patient" {
		t.Fatalf("presence = %v", p)
	}

	pt.send(map[string]any{"type": "offer", "to": drID, "sdp": map[string]string{"type": "offer", "sdp": "v=0"}})
	if m := dr.expect("offer"); m["from"] != ptID || m["sdp"].(map[string]any)["sdp"] != "v=0" {
		t.Fatalf("relayed offer = %v", m)
	}
	dr.send(map[string]any{"type": "answer", "to": ptID, "sdp": map[string]string{"type": "answer", "sdp": "v=0 answer"}})
	if m := pt.expect("answer"); m["from"] != drID {
		t.Fatalf("relayed answer = %v", m)
	}
	dr.send(map[string]any{"type": "candidate", "to": ptID, "candidate": map[string]any{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}})
	if m := pt.expect("candidate"); m["from"] != drID {
		t.Fatalf("relayed candidate = %v", m)
	}
	pt.send(map[string]any{"type": "ping"})
	pt.expect("pong")

	pt.send(map[string]any{"type": "leave"})
	if p := dr.expect("presence"); p["event"] != "leave" {
		t.Fatalf("presence = %v", p)
	}
	if status, _ := encounterStatus(t, env, encID); status != "in-progress" {
		t.Fatalf("one left, one stays: status %q", status)
	}
	dr.send(map[string]any{"type": "leave"})
	waitFor(t, "the Encounter finished", func() bool {
		status, period := encounterStatus(t, env, encID)
		return status == "finished" && period["end"] != ""
	})
	waitFor(t, "4 audit events (2 joins, 2 leaves)", func() bool { return auditCount(t, env, encID) == 4 })

	// A finished session cannot be joined again.
	late := dial(t, n, nil)
	late.send(map[string]any{"type": "join", "room": "Encounter/" + encID, "token": drTok})
	if _, code := late.expectClosed(); code != "session_ended" {
		t.Fatalf("join of a finished session: error %q, want session_ended", code)
	}
}

// TestPractitionerEnds: an explicit end closes every participant's socket
// and finishes the Encounter; a patient may not end the session.
func TestPractitionerEnds(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{})
	n := env.Nodes[0]
	encID, _ := env.Encounter(t)
	dr, _ := join(t, n, "Encounter/"+encID, n.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes))
	pt, _ := join(t, n, "Encounter/"+encID, n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes))
	dr.expect("presence")

	pt.send(map[string]any{"type": "end"})
	if _, code := pt.expectClosed(); code != "forbidden" {
		t.Fatalf("patient's end: %q, want forbidden", code)
	}
	if p := dr.expect("presence"); p["event"] != "away" {
		t.Fatalf("after the patient's socket closed: %v", p)
	}
	pt, _ = join(t, n, "Encounter/"+encID, n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes))
	dr.send(map[string]any{"type": "end"})
	if m := pt.expect("ended"); m["by"] == "" {
		t.Fatalf("ended = %v", m)
	}
	pt.expectClosed()
	waitFor(t, "the Encounter finished", func() bool { s, _ := encounterStatus(t, env, encID); return s == "finished" })
}

// TestResume: a dropped client comes back within the window with its resume
// token and keeps its peer id; the others see it away, then back.
func TestResume(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{})
	n := env.Nodes[0]
	encID, _ := env.Encounter(t)
	ptTok := n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes)
	drTok := n.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes)
	dr, _ := join(t, n, "Encounter/"+encID, drTok)
	pt, pj := join(t, n, "Encounter/"+encID, ptTok)
	dr.expect("presence")

	pt.ws.CloseNow() // the network drops
	if p := dr.expect("presence"); p["event"] != "away" {
		t.Fatalf("presence = %v", p)
	}
	again := dial(t, n, nil)
	again.send(map[string]any{"type": "join", "room": "Encounter/" + encID, "token": ptTok, "resume": pj["resume"]})
	back := again.expect("joined")
	if back["peer"] != pj["peer"] || back["resume"] == pj["resume"] {
		t.Fatalf("resumed as %v (was %v), resume token %v (was %v)", back["peer"], pj["peer"], back["resume"], pj["resume"])
	}
	if p := dr.expect("presence"); p["event"] != "back" {
		t.Fatalf("presence = %v", p)
	}
	dr.send(map[string]any{"type": "offer", "to": pj["peer"], "sdp": "v=0"})
	again.expect("offer")

	// Another user cannot take the place with the token.
	third := dial(t, n, nil)
	third.send(map[string]any{"type": "join", "room": "Encounter/" + encID,
		"token": drTok, "resume": back["resume"]})
	if _, code := third.expectClosed(); code != "room_full" {
		t.Fatalf("resume with another user's token: %q, want room_full", code)
	}
}

// TestResumeWindow: a client that does not come back in time leaves.
func TestResumeWindow(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{Relay: func(o *signalingOptions) { o.ResumeWindow = 300 * time.Millisecond }})
	n := env.Nodes[0]
	encID, _ := env.Encounter(t)
	dr, _ := join(t, n, "Encounter/"+encID, n.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes))
	pt, _ := join(t, n, "Encounter/"+encID, n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes))
	dr.expect("presence")
	pt.ws.CloseNow()
	for _, want := range []string{"away", "leave"} {
		if p := dr.expect("presence"); p["event"] != want {
			t.Fatalf("presence = %v, want %s", p, want)
		}
	}
}

// TestMeshRoom: an e-Staff Encounter takes up to 8 participants.
func TestMeshRoom(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{})
	n := env.Nodes[0]
	encID, _ := env.Encounter(t, "e-staff")
	tok := n.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes)
	var clients []*client
	for i := 0; i < 8; i++ {
		c, j := join(t, n, "Encounter/"+encID, tok)
		if j["mode"] != "mesh" || j["max"] != 8.0 || len(j["peers"].([]any)) != i {
			t.Fatalf("joiner %d: %v", i, j)
		}
		clients = append(clients, c)
	}
	ninth := dial(t, n, nil)
	ninth.send(map[string]any{"type": "join", "room": "Encounter/" + encID, "token": tok})
	if _, code := ninth.expectClosed(); code != "room_full" {
		t.Fatalf("ninth joiner: %q, want room_full", code)
	}
}

// TestTURN: credentials in the TURN REST API scheme, checkable with the secret.
func TestTURN(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{Relay: func(o *signalingOptions) {
		o.TURN = turnOptions{Secret: "s3cret", URIs: []string{"turn:turn.example:3478"}, STUN: []string{"stun:stun.example:3478"}, TTL: time.Hour}
	}})
	n := env.Nodes[0]
	tok := n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes)
	for _, tc := range []struct {
		name, header, query string
		status              int
	}{
		{"bearer header", "Bearer " + tok, "", http.StatusOK},
		{"query parameter", "", "?access_token=" + url.QueryEscape(tok), http.StatusOK},
		{"no token", "", "", http.StatusUnauthorized},
		{"bad token", "Bearer nope", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, n.URL+"/signaling/turn"+tc.query, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body map[string]any
			json.NewDecoder(res.Body).Decode(&body)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", res.StatusCode, tc.status, body)
			}
			if tc.status != http.StatusOK {
				if body["resourceType"] != "OperationOutcome" {
					t.Fatalf("error body %v, want an OperationOutcome", body)
				}
				return
			}
			user, _ := body["username"].(string)
			if body["credential"] != turnCredential("s3cret", user) || body["ttl"] != 3600.0 {
				t.Fatalf("credentials %v", body)
			}
			var expiry int64
			var who string
			if _, err := fmtSscanf(user, &expiry, &who); err != nil || expiry < time.Now().Unix()+3500 || who == "" {
				t.Fatalf("username %q: expiry %d user %q (%v)", user, expiry, who, err)
			}
			if ice := body["iceServers"].([]any); len(ice) != 2 {
				t.Fatalf("iceServers %v", ice)
			}
		})
	}
}

// TestWaitingRoom: a patient who leaves before any practitioner came does
// not end the session; the practitioner can still join.
func TestWaitingRoom(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{})
	n := env.Nodes[0]
	encID, _ := env.Encounter(t)
	pt, _ := join(t, n, "Encounter/"+encID, n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes))
	pt.send(map[string]any{"type": "leave"})
	pt.expectClosed()
	waitFor(t, "the leave audited", func() bool { return auditCount(t, env, encID) == 2 })
	if s, _ := encounterStatus(t, env, encID); s != "in-progress" {
		t.Fatalf("after the patient left the waiting room: %q, want in-progress", s)
	}
	join(t, n, "Encounter/"+encID, n.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes))
}

// TestTURNWithoutSecret: with only STUN configured, no credentials are made.
func TestTURNWithoutSecret(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{Relay: func(o *signalingOptions) {
		o.TURN = turnOptions{STUN: []string{"stun:stun.example:3478"}}
	}})
	n := env.Nodes[0]
	req, _ := http.NewRequest(http.MethodGet, n.URL+"/signaling/turn", nil)
	req.Header.Set("Authorization", "Bearer "+n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	ice, _ := body["iceServers"].([]any)
	if res.StatusCode != http.StatusOK || body["username"] != nil || body["credential"] != nil || len(ice) != 1 {
		t.Fatalf("status %d body %v", res.StatusCode, body)
	}
}

// TestOptions: the relay refuses to start without what it needs.
func TestOptions(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{})
	n := env.Nodes[0]
	auth := &authenticator{Verifier: n.Auth}
	for name, opts := range map[string]signalingOptions{
		"no FHIR":                    {Auth: auth, Audit: env.Audit},
		"no authenticator":           {FHIR: n.FHIR, Audit: env.Audit},
		"no audit":                   {FHIR: n.FHIR, Auth: auth},
		"TURN URIs without a secret": {FHIR: n.FHIR, Auth: auth, Audit: env.Audit, TURN: turnOptions{URIs: []string{"turn:turn.example"}}},
	} {
		if _, err := newRelay(opts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
