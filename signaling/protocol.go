package signaling

import (
	"encoding/json"

	"github.com/coder/websocket"
)

// inbound is a client's message. Only the envelope is decoded: of "sdp"
// and "candidate" the relay only notes the presence, and the relayed
// message is the client's own bytes.
type inbound struct {
	Type      string    `json:"type"`
	To        string    `json:"to"`
	From      string    `json:"from"`
	Room      string    `json:"room"`
	Token     string    `json:"token"`
	Resume    string    `json:"resume"`
	Name      string    `json:"name"`
	SDP       jsonValue `json:"sdp"`
	Candidate jsonValue `json:"candidate"`
	// toRaw is "to" as scanEnvelope read it, in place of To: the read
	// buffer's bytes (valid until the next read), not a string made for
	// every relayed message.
	toRaw []byte
}

// to is the peer a relayed message is for.
func (m *inbound) to() []byte {
	if m.toRaw != nil {
		return m.toRaw
	}
	return []byte(m.To)
}

// jsonValue notes that a member is present without keeping (copying) it.
type jsonValue struct {
	present bool // the member is there, null included
	empty   bool // it is null or ""
}

func (v *jsonValue) UnmarshalJSON(b []byte) error {
	s := string(b) // no allocation: compared, not kept
	v.present, v.empty = true, s == "null" || s == `""`
	return nil
}

// peerInfo is a member as the other clients see it.
type peerInfo struct {
	Peer string `json:"peer"`
	User string `json:"user,omitempty"`
	Name string `json:"name,omitempty"`
	Role string `json:"role"`
	Away bool   `json:"away,omitempty"`
}

type joinedMsg struct {
	Type   string     `json:"type"`
	Room   string     `json:"room"`
	Peer   string     `json:"peer"`
	Resume string     `json:"resume"`
	Mode   string     `json:"mode"`
	Max    int        `json:"max"`
	Peers  []peerInfo `json:"peers"`
}

type presenceMsg struct {
	Type  string   `json:"type"`
	Event string   `json:"event"`
	Peer  peerInfo `json:"peer"`
}

type endedMsg struct {
	Type string `json:"type"`
	By   string `json:"by,omitempty"`
}

type errorMsg struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

var pongMsg = []byte(`{"type":"pong"}`)

// protocolError is a client's fault: it is sent as an error message, and
// (unless keepOpen) the connection is closed.
type protocolError struct {
	code, message string
	keepOpen      bool
}

func (e *protocolError) Error() string { return "signaling: " + e.code + ": " + e.message }

func fail(code, message string) *protocolError { return &protocolError{code: code, message: message} }

// closeStatus is the WebSocket close code for a fatal error.
func (e *protocolError) closeStatus() websocket.StatusCode {
	switch e.code {
	case "too_big":
		return websocket.StatusMessageTooBig
	case "unavailable", "audit_unavailable":
		return websocket.StatusInternalError
	}
	return websocket.StatusPolicyViolation
}

func (e *protocolError) frame() []byte {
	b, _ := json.Marshal(errorMsg{Type: "error", Code: e.code, Message: e.message})
	return b
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the relay's own types are marshalled
	}
	return b
}
