package signaling

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir"
)

// Options configures a Relay. FHIR, Auth and Audit are required.
type Options struct {
	// FHIR reads the Encounters rooms belong to and records their start and end.
	FHIR *fhir.Server
	// Auth verifies the access tokens of joins and TURN requests.
	Auth *authz.Authenticator
	// Audit records every join and leave; a join is refused when its
	// record cannot be written.
	Audit authz.Auditor
	// NATS, when set, joins this relay with the relays of the other nodes
	// connected to the same NATS server or cluster.
	NATS *nats.Conn
	// NodeID names this node on NATS (random when empty).
	NodeID string
	// TURN configures /signaling/turn.
	TURN TURNOptions
	// OriginPatterns lists the other origins (host patterns, as
	// github.com/coder/websocket's AcceptOptions) whose pages may open a
	// signaling WebSocket; the relay's own origin always may.
	OriginPatterns []string
	// MaxMessageBytes bounds one message (default 64 KiB; an SDP offer with
	// several video tracks is about 10 KiB).
	MaxMessageBytes int
	// RateLimit is how many messages a second one connection may send on
	// average, RateBurst how many at once (defaults 50 and 100; kept below
	// SendQueue, so that a flood of pings is refused before its pongs pile up).
	RateLimit, RateBurst float64
	// Heartbeat is the interval of the relay's pings (default 15 s); a
	// connection that does not answer within another Heartbeat is dropped.
	Heartbeat time.Duration
	// ResumeWindow is how long the place of a dropped peer is kept for it
	// (default 60 s).
	ResumeWindow time.Duration
	// JoinTimeout bounds the wait for the first message (default 10 s).
	JoinTimeout time.Duration
	// SyncWait is how long a node that opens a room waits for the other
	// nodes' members (default 200 ms; only with NATS).
	SyncWait time.Duration
	// SendQueue is the number of messages queued for one slow connection
	// before it is dropped (default 128: a newcomer to a full mesh room gets
	// an offer and a few dozen candidates from each of 7 peers at once).
	SendQueue int
	Logger    *slog.Logger
}

// TURNOptions are the ICE servers the relay hands out.
type TURNOptions struct {
	// STUN lists STUN URLs ("stun:stun.example:3478").
	STUN []string
	// URIs lists TURN URLs ("turn:turn.example:3478?transport=udp",
	// "turns:turn.example:5349").
	URIs []string
	// Secret is the static-auth-secret shared with the TURN server
	// (coturn's use-auth-secret); without it no TURN credentials are made.
	Secret string
	// TTL is the credentials' lifetime (default 24 h).
	TTL time.Duration
}

func (o *Options) check() error {
	switch {
	case o.FHIR == nil:
		return errors.New("signaling: Options.FHIR is required")
	case o.Auth == nil:
		return errors.New("signaling: Options.Auth is required")
	case o.Audit == nil:
		return errors.New("signaling: Options.Audit is required (joins are audited, fail-closed)")
	case len(o.TURN.URIs) > 0 && o.TURN.Secret == "":
		return errors.New("signaling: TURN URIs need TURNOptions.Secret")
	}
	if o.NodeID == "" {
		o.NodeID = randomID(8)
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 64 << 10
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 50
	}
	if o.RateBurst <= 0 {
		o.RateBurst = 100
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.ResumeWindow <= 0 {
		o.ResumeWindow = 60 * time.Second
	}
	if o.JoinTimeout <= 0 {
		o.JoinTimeout = 10 * time.Second
	}
	if o.SyncWait <= 0 {
		o.SyncWait = 200 * time.Millisecond
	}
	if o.SendQueue <= 0 {
		o.SendQueue = 128
	}
	if o.TURN.TTL <= 0 {
		o.TURN.TTL = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// randomID returns n random bytes in hex: peer ids, resume tokens, node ids.
func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
