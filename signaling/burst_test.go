package signaling_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/signaling/bench"
	"github.com/telehub/telehub/signaling/signalingtest"
)

// TestBurst: a burst of candidates, gathered and written to the receiving
// socket together, arrives whole, in order, each with its "from", and
// pings answered in the midst of it keep their place.
func TestBurst(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{Relay: func(o *signalingOptions) {
		o.RateLimit, o.RateBurst = 1e6, 1e6
		o.SendQueue = 1024
	}})
	n := env.Nodes[0]
	encID, _ := env.Encounter(t)
	dr, dj := join(t, n, "Encounter/"+encID, n.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes))
	pt, pj := join(t, n, "Encounter/"+encID, n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes))
	dr.expect("presence")
	drID, ptID := dj["peer"].(string), pj["peer"].(string)

	const burst = 500
	for i := range burst {
		pt.send(map[string]any{"type": "candidate", "to": drID, "candidate": map[string]any{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMLineIndex": i}})
		if i%100 == 0 {
			dr.send(map[string]any{"type": "ping"})
		}
	}
	pongs := 0
	for i := 0; i < burst; {
		m, err := dr.next(15 * time.Second)
		if err != nil {
			t.Fatalf("after %d candidates: %v", i, err)
		}
		if m["type"] == "pong" {
			pongs++
			continue
		}
		c, _ := m["candidate"].(map[string]any)
		if m["type"] != "candidate" || m["from"] != ptID || c == nil || c["sdpMLineIndex"] != float64(i) {
			t.Fatalf("message %d = %v", i, m)
		}
		i++
	}
	for pongs < (burst+99)/100 {
		dr.expect("pong")
		pongs++
	}
}

// TestSlowReader: a client that stops reading is dropped (shown "away")
// once its socket and its queue are full, while its peer, which sends it
// all that, is never held up.
func TestSlowReader(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{Relay: func(o *signalingOptions) {
		o.RateLimit, o.RateBurst = 1e6, 1e6
		o.SendQueue = 8
		o.Heartbeat = time.Second // short, but not so short that a loaded machine misses it
	}})
	n := env.Nodes[0]
	encID, _ := env.Encounter(t)
	_, dj := join(t, n, "Encounter/"+encID, n.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes))
	pt, _ := join(t, n, "Encounter/"+encID, n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes))
	drID := dj["peer"].(string) // the practitioner's client reads nothing from now on

	// The sender waits for a pong after each candidate: its own socket
	// never holds a backlog that would delay its answers to the relay's
	// pings (on a slow machine, by more than the short heartbeat).
	big := strings.Repeat("x", 32<<10)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("the client that reads nothing was not dropped")
		}
		pt.send(map[string]any{"type": "candidate", "to": drID, "candidate": map[string]any{"candidate": big}})
		pt.send(map[string]any{"type": "ping"})
		for {
			m, err := pt.next(10 * time.Second)
			if err != nil {
				t.Fatalf("the sender was held up: %v", err)
			}
			if p, _ := m["peer"].(map[string]any); m["type"] == "presence" && m["event"] == "away" && p["peer"] == drID {
				return
			}
			if m["type"] == "pong" {
				break
			}
		}
	}
}

// TestBurstAcrossNodes: a burst a client sends in one write, to two peers
// held by another node, reaches each of them whole and in order (the relay
// batches the messages for a peer on another node), a ping in the midst of
// it is answered, and a message for a peer that is gone is refused on its
// own while the rest goes on.
func TestBurstAcrossNodes(t *testing.T) {
	t.Parallel()
	env := signalingtest.Start(t, signalingtest.Config{Nodes: 2, SharedIssuer: true, Relay: func(o *signalingOptions) {
		o.RateLimit, o.RateBurst = 1e6, 1e6
		o.SendQueue = 1024
	}})
	n1, n2 := env.Nodes[0], env.Nodes[1]
	encID, _ := env.Encounter(t, "e-staff")
	room := "Encounter/" + encID
	tok := n1.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes)
	a, aj := join(t, n1, room, tok)
	b, bj := join(t, n1, room, tok)
	aID, bID := aj["peer"].(string), bj["peer"].(string)

	// The sender writes its frames itself, so that the whole burst leaves
	// in one write and arrives together.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := bench.Dial(ctx, wsURL(n2, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Text([]byte(`{"type":"join","room":"` + room + `","token":"` + tok + `"}`))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	var sID string
	for sID == "" {
		_, m, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		var joined struct{ Type, Peer string }
		json.Unmarshal(m, &joined)
		if joined.Type == "joined" {
			sID = joined.Peer
		}
	}
	a.expect("presence")
	b.expect("presence")

	// Runs of 7 candidates to a, then to b, a ping and a message for a
	// peer that is not there among them.
	const perPeer = 140
	sent := map[string]int{}
	for len(sent) < 2 || sent[aID] < perPeer || sent[bID] < perPeer {
		to := aID
		if (sent[aID]+sent[bID])/7%2 == 1 {
			to = bID
		}
		s.Text(fmt.Appendf(nil, `{"type":"candidate","to":%q,"candidate":{"sdpMLineIndex":%d}}`, to, sent[to]))
		sent[to]++
		if sent[aID]+sent[bID] == 100 {
			s.Text([]byte(`{"type":"ping"}`))
			s.Text([]byte(`{"type":"candidate","to":"nobody","candidate":{}}`))
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, rc := range []struct {
		c     *client
		count int
	}{{a, sent[aID]}, {b, sent[bID]}} {
		for i := range rc.count {
			m := rc.c.expect("candidate")
			c, _ := m["candidate"].(map[string]any)
			if m["from"] != sID || c == nil || c["sdpMLineIndex"] != float64(i) {
				t.Fatalf("message %d = %v", i, m)
			}
		}
	}
	var got []string
	for len(got) < 2 {
		_, m, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Type, Code string }
		json.Unmarshal(m, &v)
		if v.Type != "presence" {
			got = append(got, v.Type+" "+v.Code)
		}
	}
	if got[0] != "pong " || got[1] != "error peer_gone" {
		t.Fatalf("the sender got %q, want a pong then a peer_gone error", got)
	}
}
