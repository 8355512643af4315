package signaling_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/telehub/telehub/signaling/signalingtest"
)

// pionPeer is a Go WebRTC peer speaking the relay's protocol.
type pionPeer struct {
	pc        *webrtc.PeerConnection
	sig       *client
	id        string
	mu        sync.Mutex
	remote    string
	pending   []webrtc.ICECandidateInit
	connected chan struct{}
	opened    chan string // messages received on the data channel
}

func newPionPeer(t *testing.T, sig *client, id string) *pionPeer {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	p := &pionPeer{pc: pc, sig: sig, id: id, connected: make(chan struct{}), opened: make(chan string, 4)}
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(p.connected) })
		}
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		p.mu.Lock()
		to := p.remote
		p.mu.Unlock()
		p.sig.send(map[string]any{"type": "candidate", "to": to, "candidate": c.ToJSON()})
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) { p.opened <- string(m.Data) })
	})
	return p
}

// handle acts on one relayed message.
func (p *pionPeer) handle(t *testing.T, m map[string]any) {
	raw, _ := json.Marshal(m)
	var msg struct {
		Type      string                    `json:"type"`
		From      string                    `json:"from"`
		SDP       webrtc.SessionDescription `json:"sdp"`
		Candidate webrtc.ICECandidateInit   `json:"candidate"`
	}
	if err := json.Unmarshal(raw, &msg); err != nil {
		t.Errorf("decode %s: %v", raw, err)
		return
	}
	switch msg.Type {
	case "offer":
		p.mu.Lock()
		p.remote = msg.From
		p.mu.Unlock()
		if err := p.pc.SetRemoteDescription(msg.SDP); err != nil {
			t.Errorf("set offer: %v", err)
			return
		}
		answer, err := p.pc.CreateAnswer(nil)
		if err != nil {
			t.Errorf("answer: %v", err)
			return
		}
		if err := p.pc.SetLocalDescription(answer); err != nil {
			t.Errorf("set answer: %v", err)
			return
		}
		p.sig.send(map[string]any{"type": "answer", "to": msg.From, "sdp": answer})
		p.flush(t)
	case "answer":
		if err := p.pc.SetRemoteDescription(msg.SDP); err != nil {
			t.Errorf("set answer: %v", err)
		}
		p.flush(t)
	case "candidate":
		if p.pc.RemoteDescription() == nil {
			p.pending = append(p.pending, msg.Candidate)
			return
		}
		if err := p.pc.AddICECandidate(msg.Candidate); err != nil {
			t.Errorf("add candidate: %v", err)
		}
	}
}

func (p *pionPeer) flush(t *testing.T) {
	for _, c := range p.pending {
		if err := p.pc.AddICECandidate(c); err != nil {
			t.Errorf("add candidate: %v", err)
		}
	}
	p.pending = nil
}

// run reads relayed messages until the socket closes.
func (p *pionPeer) run(t *testing.T) {
	for {
		m, err := p.sig.next(time.Minute)
		if err != nil {
			return
		}
		p.handle(t, m)
	}
}

// TestPionPeers: two Go WebRTC peers (pion) find each other through the
// relay — the practitioner on one node, the patient on another when
// nodes is 2 — and reach a connected RTCPeerConnection carrying a data
// channel message.
func TestPionPeers(t *testing.T) {
	t.Parallel()
	for _, nodes := range []int{1, 2} {
		t.Run(map[int]string{1: "one node", 2: "two nodes over NATS"}[nodes], func(t *testing.T) {
			env := signalingtest.Start(t, signalingtest.Config{Nodes: nodes})
			n1, n2 := env.Nodes[0], env.Nodes[len(env.Nodes)-1]
			encID, _ := env.Encounter(t)
			drSig, dj := join(t, n1, "Encounter/"+encID, n1.Token(t, signalingtest.PractitionerUser, signalingtest.PractitionerScopes))
			ptSig, pj := join(t, n2, "Encounter/"+encID, n2.Token(t, signalingtest.PatientUser, signalingtest.PatientScopes))
			if peers := pj["peers"].([]any); len(peers) != 1 {
				t.Fatalf("patient on node %d sees %v", len(env.Nodes), peers)
			}
			if p := drSig.expect("presence"); p["event"] != "join" {
				t.Fatalf("presence %v", p)
			}
			dr := newPionPeer(t, drSig, dj["peer"].(string))
			pt := newPionPeer(t, ptSig, pj["peer"].(string))
			go dr.run(t)
			go pt.run(t)

			// The later joiner offers.
			pt.remote = dr.id
			dc, err := pt.pc.CreateDataChannel("chat", nil)
			if err != nil {
				t.Fatal(err)
			}
			dc.OnOpen(func() { dc.SendText("bonjour docteur") })
			offer, err := pt.pc.CreateOffer(nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := pt.pc.SetLocalDescription(offer); err != nil {
				t.Fatal(err)
			}
			ptSig.send(map[string]any{"type": "offer", "to": dr.id, "sdp": offer})

			for _, p := range []*pionPeer{dr, pt} {
				select {
				case <-p.connected:
				case <-time.After(30 * time.Second):
					t.Fatalf("peer %s: not connected, state %s", p.id, p.pc.ConnectionState())
				}
			}
			select {
			case got := <-dr.opened:
				if got != "bonjour docteur" {
					t.Fatalf("data channel carried %q", got)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no data channel message")
			}
		})
	}
}
