package signaling

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
)

// Relay is the signaling relay. Create it with New, serve it with Mount (or
// as an http.Handler of the WebSocket endpoint), stop it with Close.
type Relay struct {
	opts Options
	log  *slog.Logger
	nc   *nats.Conn

	mu     sync.RWMutex
	rooms  map[string]*room    // open rooms by Encounter id: those with a member here
	peers  map[string]*session // the members held by this node, by peer id
	closed bool

	peerMsgs chan *nats.Msg // the messages of the members' subjects, for deliverLoop

	stop chan struct{}
	wg   sync.WaitGroup
}

// New returns a relay for opts.
func New(opts Options) (*Relay, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	r := &Relay{
		opts: opts, log: opts.Logger.With("component", "signaling", "node", opts.NodeID), nc: opts.NATS,
		rooms: map[string]*room{}, peers: map[string]*session{}, stop: make(chan struct{}),
	}
	if r.nc != nil {
		r.peerMsgs = make(chan *nats.Msg, peerQueue)
		r.wg.Add(2)
		go r.restateLoop()
		go r.deliverLoop()
	}
	return r, nil
}

// Mount serves the WebSocket endpoint at /signaling and the TURN
// credentials at /signaling/turn.
func (r *Relay) Mount(e *echo.Echo) {
	e.GET("/signaling", echo.WrapHandler(r))
	e.GET("/signaling/turn", echo.WrapHandler(http.HandlerFunc(r.ServeTURN)))
	e.OPTIONS("/signaling/turn", echo.WrapHandler(http.HandlerFunc(r.ServeTURN)))
}

// Close closes every connection (clients see close code 1001 and may resume
// on another node) and leaves the rooms without ending their sessions.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.stop)
	var conns []*conn
	for _, s := range r.peers {
		if s.away != nil {
			s.away.Stop()
		}
		if s.sub != nil {
			s.sub.Unsubscribe()
		}
		if s.conn != nil {
			conns = append(conns, s.conn)
		}
	}
	for _, rm := range r.rooms {
		if rm.sub != nil {
			rm.sub.Unsubscribe()
		}
	}
	r.mu.Unlock()
	for _, c := range conns {
		c.close(websocket.StatusGoingAway, "server shutting down")
	}
	r.wg.Wait()
	return nil
}

// ServeHTTP upgrades a request to a signaling WebSocket and serves it.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.RLock()
	closed := r.closed
	r.mu.RUnlock()
	if closed {
		http.Error(w, "signaling relay shutting down", http.StatusServiceUnavailable)
		return
	}
	uw := &upgradeWriter{ResponseWriter: w}
	ws, err := websocket.Accept(uw, req, &websocket.AcceptOptions{OriginPatterns: r.opts.OriginPatterns})
	if err != nil {
		return // Accept answered the client already
	}
	if uw.conn == nil { // not upgraded through our Hijack: cannot happen with net/http
		ws.Close(websocket.StatusInternalError, "")
		return
	}
	ws.SetReadLimit(int64(r.opts.MaxMessageBytes) + 1)
	c := newConn(ws, uw.conn, uw.in, r.opts.SendQueue, r.opts.MaxMessageBytes)
	r.wg.Add(1)
	// The connection outlives the request: net/http cancels the request's
	// context when ServeHTTP returns, which it does once the client has
	// joined. Its messages are then served by a goroutine of their own,
	// whose stack stays small, rather than by the request's, which the
	// join (token, FHIR, audit) grew: thousands of connections each keep
	// theirs for the whole call.
	ctx, cancel := context.WithCancel(context.WithoutCancel(req.Context()))
	s := r.open(ctx, req, c)
	if s == nil {
		cancel()
		r.finish(c)
		r.wg.Done()
		return
	}
	go func() {
		defer r.wg.Done()
		defer r.finish(c)
		defer cancel()
		r.serve(ctx, s, c)
	}()
}

// finish lets the writer flush what is queued (an error message), then
// closes the connection.
func (r *Relay) finish(c *conn) {
	c.close(websocket.StatusGoingAway, "")
	select {
	case <-c.done:
	case <-time.After(writeTimeout):
		c.ws.CloseNow()
	}
}

// open reads the connection's join and admits its client; nil when it
// could not (the client has been told why).
func (r *Relay) open(ctx context.Context, req *http.Request, c *conn) *session {
	// Not a context deadline: a cancelled read closes the socket at once,
	// and the client should learn why.
	late := time.AfterFunc(r.opts.JoinTimeout, func() { c.fail(fail("join_first", "no join message in time")) })
	msg := new(inbound)
	_, err := c.read(ctx, msg)
	c.recycle()
	late.Stop()
	if err != nil {
		if pe, ok := isProtocol(err); ok {
			c.fail(pe)
		} else {
			c.abort()
		}
		return nil
	}
	if msg.Type != "join" {
		c.fail(fail("join_first", `the first message must be {"type":"join",…}`))
		return nil
	}
	s, err := r.join(ctx, req, c, msg)
	if err != nil {
		if pe, ok := isProtocol(err); ok {
			c.fail(pe)
			return nil
		}
		r.log.ErrorContext(ctx, "join", "err", err)
		c.fail(fail("unavailable", "the session could not be joined; try again"))
		return nil
	}
	return s
}

// serve runs a joined connection: its messages until it leaves, fails or
// drops.
func (r *Relay) serve(ctx context.Context, s *session, c *conn) {
	msg := new(inbound)
	r.heartbeat(ctx, c)
	lim := newLimiter(r.opts.RateLimit, r.opts.RateBurst)
	remote := &peerBatch{r: r}
	defer remote.flush()
	// Reads take no cancellable context (coder/websocket arms a timer per
	// read for one): closing the socket, as Close and the heartbeat do, ends them.
	for {
		raw, err := c.read(context.Background(), msg)
		if err != nil {
			if pe, ok := isProtocol(err); ok {
				c.fail(pe)
			}
			r.drop(s, c)
			return
		}
		if !lim.allow() {
			c.fail(fail("rate_limited", "too many messages; the limit is "+itoa(int(r.opts.RateLimit))+" a second"))
			r.drop(s, c)
			return
		}
		if !relayed(msg.Type) {
			remote.flush() // what was relayed before goes before what this does
		}
		done, err := r.handle(ctx, s, c, msg, raw, remote)
		c.recycle()
		// Messages for peers on other nodes leave together, but never
		// wait for the network: only while the next message is here already.
		if !c.moreInput() {
			remote.flush()
		}
		if err != nil {
			pe, ok := isProtocol(err)
			if !ok {
				r.log.ErrorContext(ctx, "signaling message", "type", msg.Type, "err", err)
				pe = fail("unavailable", "the relay failed to handle the message")
			}
			c.fail(pe)
			if !pe.keepOpen {
				r.drop(s, c)
				return
			}
		}
		if done {
			return
		}
	}
}

// relayed reports whether messages of type typ are relayed to a peer.
func relayed(typ string) bool { return typ == "offer" || typ == "answer" || typ == "candidate" }

// handle acts on one message after the join; done means the connection is
// over. Messages for peers on other nodes are added to remote.
func (r *Relay) handle(ctx context.Context, s *session, c *conn, msg *inbound, raw []byte, remote *peerBatch) (done bool, err error) {
	switch msg.Type {
	case "offer", "answer", "candidate":
		return false, r.forward(s, msg, raw, remote)
	case "ping":
		c.enqueue(pongMsg)
		return false, nil
	case "leave":
		r.leave(s, "left")
		c.close(websocket.StatusNormalClosure, "left")
		return true, nil
	case "end":
		if !s.principal.IsProfessional() && !s.principal.Insecure {
			return false, fail("forbidden", "only a practitioner may end the session")
		}
		r.end(ctx, s)
		return true, nil
	case "join":
		return false, fail("already_joined", "this connection has joined its room already")
	case "":
		return false, fail("malformed", `a message needs a "type"`)
	}
	return false, fail("unknown_type", "unknown message type "+quote(msg.Type))
}

// forward relays an offer, answer or candidate to the peer it is addressed
// to: queued for its connection when it is held here, added to remote when
// another node holds it.
func (r *Relay) forward(s *session, msg *inbound, raw []byte, remote *peerBatch) error {
	to := msg.to()
	switch {
	case len(to) == 0 || string(to) == s.id:
		return fail("bad_message", `"to" must name another peer of the room`)
	case msg.From != "":
		return fail("bad_message", `"from" is set by the relay`)
	case msg.Type == "candidate" && !msg.Candidate.present:
		return fail("bad_message", `a candidate message needs "candidate"`)
	case msg.Type != "candidate" && (!msg.SDP.present || msg.SDP.empty):
		return fail("bad_message", "an "+msg.Type+` message needs "sdp"`)
	}
	r.mu.RLock()
	if t := r.peers[string(to)]; t != nil && t.room == s.room {
		tc := t.conn
		r.mu.RUnlock()
		if tc != nil {
			tc.enqueueFrom(raw, s.id)
		}
		return nil
	}
	m := s.room.members[string(to)]
	r.mu.RUnlock()
	if m == nil || r.nc == nil {
		return &protocolError{code: "peer_gone", message: "peer " + quote(string(to)) + " is not in the room", keepOpen: true}
	}
	remote.add(to, raw, s.id)
	return nil
}

// heartbeat pings c every Heartbeat until ctx ends; a ping not answered
// within another Heartbeat drops the connection (the read loop then sees
// it closed). It runs from timers rather than a goroutine per connection:
// a parked goroutine costs a stack for each of thousands of connections.
func (r *Relay) heartbeat(ctx context.Context, c *conn) {
	var ping func()
	ping = func() {
		if ctx.Err() != nil {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, r.opts.Heartbeat)
		err := c.ws.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				r.log.Info("connection missed its heartbeat", "err", err)
			}
			c.ws.CloseNow()
			return
		}
		time.AfterFunc(r.opts.Heartbeat, ping)
	}
	time.AfterFunc(r.opts.Heartbeat, ping)
}

// principal verifies the access token of a join or TURN request.
func (r *Relay) principal(req *http.Request, token string) (*authz.Principal, error) {
	if token == "" {
		token = req.URL.Query().Get("access_token")
	}
	if token == "" && !r.opts.Auth.Insecure {
		return nil, fail("unauthorized", "joining needs an access token (the join's \"token\" or the access_token query parameter)")
	}
	areq := req.Clone(req.Context())
	areq.Header.Set("Authorization", "Bearer "+token)
	p, err := r.opts.Auth.Authenticate(areq)
	switch {
	case errors.Is(err, authz.ErrNoToken), errors.Is(err, authz.ErrBadToken):
		return nil, fail("unauthorized", "the access token is invalid, expired or revoked")
	case err != nil:
		return nil, err
	}
	return p, nil
}

// auditJoinLeave records a join (a read of the Encounter: the session's
// record is opened) or a leave (an update: the session's state changed).
func (r *Relay) auditJoinLeave(ctx context.Context, p *authz.Principal, roomID, patient string, join bool, outcome audit.Outcome) error {
	target := audit.Target{Type: "Encounter", ID: roomID}
	ev := audit.Update(p.Agent(), target, patient, outcome)
	if join {
		ev = audit.Read(p.Agent(), target, patient, outcome)
	}
	return r.opts.Audit.Record(ctx, ev)
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
