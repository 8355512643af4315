package signaling_test

import (
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/telehub/telehub/signaling/signalingtest"
)

// TestBadInput: every bad message gets an error message and (but for a
// message to a peer that left) its connection closed, while a session in
// another room goes on undisturbed.
func TestBadInput(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{Relay: func(o *signalingOptions) {
		o.JoinTimeout = 500 * time.Millisecond
		o.MaxMessageBytes = 4096
	}})
	n := env.Nodes[0]
	drTok := n.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes)
	ptTok := n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes)
	otherTok := n.Token(t, signalingtest.OtherPatientUser, signalingtest.PatientScopes)
	meetingID, _ := env.Encounter(t, "e-staff")
	meeting := "Encounter/" + meetingID

	// The bystanders: a teleconsultation in progress in another room.
	consultID, _ := env.Encounter(t)
	dr, _ := join(t, n, "Encounter/"+consultID, drTok)
	pt, pj := join(t, n, "Encounter/"+consultID, ptTok)
	dr.expect("presence")

	text := func(s string) func(*client) { return func(c *client) { c.sendRaw(websocket.MessageText, []byte(s)) } }
	joinAs := func(room, token string) func(*client) {
		return func(c *client) { c.send(map[string]any{"type": "join", "room": room, "token": token}) }
	}
	joined := func(then ...map[string]any) func(*client) {
		return func(c *client) {
			c.send(map[string]any{"type": "join", "room": meeting, "token": drTok})
			c.expect("joined")
			for _, m := range then {
				c.send(m)
			}
		}
	}
	cases := []struct {
		name   string
		do     func(*client)
		code   string
		status websocket.StatusCode
	}{
		{"join without a token", text(`{"type":"join","room":"` + meeting + `"}`), "unauthorized", websocket.StatusPolicyViolation},
		{"join with a forged token", joinAs(meeting, "eyJhbGciOiJub25lIn0.e30."), "unauthorized", websocket.StatusPolicyViolation},
		{"join of someone else's Encounter", joinAs(meeting, otherTok), "forbidden", websocket.StatusPolicyViolation},
		{"join of no Encounter", joinAs("Encounter/does-not-exist", drTok), "not_found", websocket.StatusPolicyViolation},
		{"join of an Appointment no Encounter fulfils", joinAs("Appointment/nope", drTok), "not_found", websocket.StatusPolicyViolation},
		{"join of another resource type", joinAs("Observation/1", drTok), "bad_message", websocket.StatusPolicyViolation},
		{"join of a malformed room", joinAs("Encounter/../../x", drTok), "bad_message", websocket.StatusPolicyViolation},
		{"first message not a join", text(`{"type":"offer","to":"x","sdp":"v=0"}`), "join_first", websocket.StatusPolicyViolation},
		{"no message at all", func(*client) {}, "join_first", websocket.StatusPolicyViolation},
		{"malformed JSON", text(`{"type":"join",`), "malformed", websocket.StatusPolicyViolation},
		{"JSON but not an object", text(`["join"]`), "malformed", websocket.StatusPolicyViolation},
		{"wrong member types", text(`{"type":42}`), "malformed", websocket.StatusPolicyViolation},
		{"binary frame", func(c *client) { c.sendRaw(websocket.MessageBinary, []byte(`{"type":"join"}`)) }, "malformed", websocket.StatusPolicyViolation},
		{"oversized message", text(`{"type":"join","name":"` + strings.Repeat("x", 5000) + `"}`), "too_big", websocket.StatusMessageTooBig},
		{"unknown type", joined(map[string]any{"type": "shout"}), "unknown_type", websocket.StatusPolicyViolation},
		{"no type", joined(map[string]any{"to": "x"}), "malformed", websocket.StatusPolicyViolation},
		{"second join", joined(map[string]any{"type": "join", "room": meeting, "token": drTok}), "already_joined", websocket.StatusPolicyViolation},
		{"offer to nobody", joined(map[string]any{"type": "offer", "sdp": "v=0"}), "bad_message", websocket.StatusPolicyViolation},
		{"offer with a forged from", joined(map[string]any{"type": "offer", "to": "x", "from": "y", "sdp": "v=0"}), "bad_message", websocket.StatusPolicyViolation},
		{"offer without sdp", joined(map[string]any{"type": "offer", "to": "x"}), "bad_message", websocket.StatusPolicyViolation},
		{"oversized message after the join", joined(map[string]any{"type": "offer", "to": "x", "sdp": strings.Repeat("a", 5000)}), "too_big", websocket.StatusMessageTooBig},
		{"flood", func(c *client) {
			joined()(c)
			for i := 0; i < 400; i++ {
				if err := c.ws.Write(t.Context(), websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
					return // closed by the relay already
				}
			}
		}, "rate_limited", websocket.StatusPolicyViolation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, n, nil)
			c.t = t
			tc.do(c)
			status, code := c.expectClosed()
			if code != tc.code || status != tc.status {
				t.Fatalf("error %q, close status %v; want %q, %v", code, status, tc.code, tc.status)
			}
		})
	}

	t.Run("message to a peer not in the room", func(t *testing.T) {
		c := dial(t, n, nil)
		c.t = t
		joined(map[string]any{"type": "offer", "to": "gone", "sdp": "v=0"})(c)
		if m := c.expect("error"); m["code"] != "peer_gone" {
			t.Fatalf("error %v, want peer_gone", m)
		}
		// A peer of another room is no peer of this one.
		c.send(map[string]any{"type": "offer", "to": pj["peer"], "sdp": "v=0"})
		if m := c.expect("error"); m["code"] != "peer_gone" {
			t.Fatalf("error %v, want peer_gone", m)
		}
		c.send(map[string]any{"type": "ping"})
		c.expect("pong")
	})

	// The other room went on.
	dr.send(map[string]any{"type": "offer", "to": pj["peer"], "sdp": "v=0"})
	if m := pt.expect("offer"); m["sdp"] != "v=0" {
		t.Fatalf("bystander got %v", m)
	}
}
