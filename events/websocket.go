package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/smart"
)

// WebSocketPath is where clients open the R4 websocket binding of
// Subscriptions, at the server's root (not under /fhir). Advertise it in
// the CapabilityStatement's extension
// http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket as
// ws(s)://<host>/subscriptions/websocket.
//
// Protocol (R4): the client sends "bind <id>" for a websocket Subscription
// it may read, the server answers "bound <id>", then sends "ping <id>" on
// each notification; "error <id> <reason>" refuses a bind. The upgrade
// needs a bearer token: in the Authorization header, or, for browsers that
// cannot set headers on a websocket, the access_token query parameter
// (which then shows in access logs: keep such tokens short-lived).
//
// A ping reaches the clients bound at that moment, on any node: it goes
// over core NATS (telehub.subscription.ping.<consumer>) to every node's
// bound sockets. A client not connected misses it, as R4 intends: pings
// only tell a client to search again.
const WebSocketPath = "/subscriptions/websocket"

// pingPrefix starts the core NATS subjects of websocket pings.
const pingPrefix = "telehub.subscription.ping."

// Mount adds the websocket route to e; auth verifies the upgrade's token.
func (m *Subscriptions) Mount(e *echo.Echo, auth *authz.Authenticator) {
	e.GET(WebSocketPath, m.WebSocketHandler(auth))
}

// WebSocketHandler serves the websocket binding (see WebSocketPath).
func (m *Subscriptions) WebSocketHandler(auth *authz.Authenticator) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		authReq := r
		if tok := r.URL.Query().Get("access_token"); tok != "" && r.Header.Get("Authorization") == "" {
			authReq = r.Clone(r.Context())
			authReq.Header.Set("Authorization", "Bearer "+tok)
		}
		p, err := auth.Authenticate(authReq)
		if err != nil {
			return auth.Unauthorized(c, err)
		}
		if !p.Grants.Allow(smart.Read, "Subscription", nil).Allowed {
			return authz.Forbidden(c, "this access token may not read Subscriptions")
		}
		// The token, not a cookie, authenticates: cross-origin pages may
		// connect, so the Origin check is off.
		conn, err := websocket.Accept(c.Response(), r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return nil // Accept has answered
		}
		m.serveSocket(r.Context(), conn, p)
		return nil
	}
}

// socket is one client connection.
type socket struct {
	send  chan string
	binds int
}

// maxBinds bounds the Subscriptions one connection may bind.
const maxBinds = 100

func (m *Subscriptions) serveSocket(ctx context.Context, conn *websocket.Conn, p *authz.Principal) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &socket{send: make(chan string, 64)}
	defer m.sockets.remove(s)
	go func() {
		// The writer: pings and replies, in order.
		for {
			select {
			case <-ctx.Done():
				return
			case <-m.ctx.Done():
				conn.Close(websocket.StatusGoingAway, "server shutting down")
				cancel()
				return
			case text := <-s.send:
				wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
				err := conn.Write(wctx, websocket.MessageText, []byte(text))
				wcancel()
				if err != nil {
					cancel()
					return
				}
			}
		}
	}()
	conn.SetReadLimit(4 << 10)
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			conn.CloseNow()
			return
		}
		if typ != websocket.MessageText {
			s.reply("error unsupported binary message")
			continue
		}
		verb, id, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
		id = strings.TrimSpace(id)
		if verb != "bind" || id == "" {
			s.reply("error unknown command (expected: bind <id>)")
			continue
		}
		if s.binds >= maxBinds {
			s.reply("error " + id + " too many Subscriptions bound on this connection")
			continue
		}
		if why := m.canBind(ctx, p, id); why != "" {
			s.reply("error " + id + " " + why)
			continue
		}
		m.sockets.add(id, s)
		s.binds++
		s.reply("bound " + id)
	}
}

func (s *socket) reply(text string) {
	select {
	case s.send <- text:
	default: // a client that reads nothing loses replies, not the server
	}
}

// canBind returns why p may not bind Subscription id ("" when it may): the
// Subscription must exist, be a websocket one that is active, and p must
// be allowed to read it: an unrestricted read of Subscriptions, or the
// token of its creator (same client and subject), or a patient context
// equal to its creator's.
func (m *Subscriptions) canBind(ctx context.Context, p *authz.Principal, id string) string {
	cur, err := m.opts.FHIR.Read(ctx, "Subscription", id)
	if err != nil {
		if s := fhir.StatusOf(err); s == http.StatusNotFound || s == http.StatusGone {
			return "no such Subscription"
		}
		return "the Subscription could not be read"
	}
	sub, err := parseSubscription(id, cur.VersionID, cur.Body)
	if err != nil || sub.Channel.Type != channelWebSocket {
		return "not a websocket Subscription"
	}
	if sub.Status != statusActive {
		return "the Subscription is " + sub.Status + ", not active"
	}
	cons, err := m.stream.Consumer(ctx, consumerName(id))
	if err != nil {
		return "the Subscription is not active yet"
	}
	d := p.Grants.Allow(smart.Read, "Subscription", nil)
	if d.Unrestricted {
		return ""
	}
	var w Writer
	if raw := cons.CachedInfo().Config.Metadata[metaWriter]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &w); err != nil {
			return "the Subscription's creator is unreadable"
		}
	}
	if w.ClientID != "" && w.ClientID == p.ClientID && w.Subject == p.Subject {
		return ""
	}
	for _, c := range d.AnyOf {
		if c.Compartment != "" && w.Patient != "" && c.Compartment == "Patient/"+w.Patient {
			return ""
		}
	}
	return "this access token may not read this Subscription"
}

// hub holds the sockets bound on this node, by Subscription id.
type hub struct {
	mu    sync.Mutex
	bound map[string]map[*socket]struct{}
}

func newHub() *hub { return &hub{bound: map[string]map[*socket]struct{}{}} }

func (h *hub) add(id string, s *socket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bound[id] == nil {
		h.bound[id] = map[*socket]struct{}{}
	}
	h.bound[id][s] = struct{}{}
}

func (h *hub) remove(s *socket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, set := range h.bound {
		delete(set, s)
		if len(set) == 0 {
			delete(h.bound, id)
		}
	}
}

// publish sends the ping of Subscription id to every node.
func (h *hub) publish(nc *nats.Conn, id string) error {
	if err := nc.Publish(pingPrefix+consumerName(id), []byte(id)); err != nil {
		return fmt.Errorf("events: publish websocket ping: %w", err)
	}
	return nil
}

// fromNATS forwards a ping to the sockets bound here.
func (h *hub) fromNATS(msg *nats.Msg) {
	id := string(msg.Data)
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.bound[id] {
		s.reply("ping " + id)
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.bound)
}
