package signaling_test

import (
	"strings"
	"testing"
	"time"

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
		o.Heartbeat = 300 * time.Millisecond
	}})
	n := env.Nodes[0]
	encID, _ := env.Encounter(t)
	_, dj := join(t, n, "Encounter/"+encID, n.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes))
	pt, _ := join(t, n, "Encounter/"+encID, n.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes))
	drID := dj["peer"].(string) // the practitioner's client reads nothing from now on

	away := make(chan struct{})
	go func() {
		for {
			m, err := pt.next(30 * time.Second)
			if err != nil {
				return
			}
			if p, _ := m["peer"].(map[string]any); m["type"] == "presence" && m["event"] == "away" && p["peer"] == drID {
				close(away)
				return
			}
		}
	}()
	big := strings.Repeat("x", 32<<10)
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-away:
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the client that reads nothing was not dropped")
		}
		pt.send(map[string]any{"type": "candidate", "to": drID, "candidate": map[string]any{"candidate": big}})
	}
}
