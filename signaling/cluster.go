package signaling

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
)

// NATS subjects. FHIR ids may hold '.', a subject's token separator, and
// never '_': dots become underscores.
const (
	roomSubjectPrefix = "telehub.signaling.room."
	peerSubjectPrefix = "telehub.signaling.peer."
)

func roomSubject(id string) string { return roomSubjectPrefix + strings.ReplaceAll(id, ".", "_") }
func peerSubject(id string) string { return peerSubjectPrefix + id }

// How often nodes restate their members, and how long a member not
// restated is kept (its node may have died).
const (
	restateEvery = 20 * time.Second
	staleAfter   = 3 * restateEvery
)

// roomEvent is what nodes tell each other on a room's subject.
type roomEvent struct {
	// Kind is "hello" (a node opened the room: answer with your members on
	// the reply subject), "roster" (a node's members), "join", "back",
	// "away", "leave" or "ended".
	Kind    string   `json:"kind"`
	Node    string   `json:"node"`
	Member  *member  `json:"member,omitempty"`
	Members []member `json:"members,omitempty"`
	By      string   `json:"by,omitempty"`
}

// sync subscribes to a room just opened here and learns the members the
// other nodes hold.
func (r *Relay) sync(rm *room) {
	if r.nc == nil {
		return
	}
	sub, err := r.nc.Subscribe(roomSubject(rm.id), func(msg *nats.Msg) { r.onRoomEvent(rm, msg) })
	if err != nil {
		r.log.Error("subscribe to room", "encounter", rm.id, "err", err)
		return
	}
	r.mu.Lock()
	rm.sub = sub
	r.mu.Unlock()

	inbox := r.nc.NewRespInbox()
	replies, err := r.nc.SubscribeSync(inbox)
	if err != nil {
		r.log.Error("subscribe to room roster", "encounter", rm.id, "err", err)
		return
	}
	defer replies.Unsubscribe()
	hello := mustJSON(roomEvent{Kind: "hello", Node: r.opts.NodeID})
	if err := r.nc.PublishRequest(roomSubject(rm.id), inbox, hello); err != nil {
		r.log.Error("ask for room roster", "encounter", rm.id, "err", err)
		return
	}
	deadline := time.Now().Add(r.opts.SyncWait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		msg, err := replies.NextMsg(left)
		if err != nil {
			return // timeout: every node that holds members has answered by now
		}
		var ev roomEvent
		if json.Unmarshal(msg.Data, &ev) == nil && ev.Kind == "roster" {
			r.mu.Lock()
			r.addRemote(rm, ev.Node, ev.Members)
			r.mu.Unlock()
		}
	}
}

// addRemote records members of another node. Called with r.mu held.
func (r *Relay) addRemote(rm *room, node string, ms []member) {
	now := time.Now()
	for i := range ms {
		m := ms[i]
		if node == r.opts.NodeID || m.Node != node || r.peers[m.Peer] != nil {
			continue
		}
		m.seen = now
		rm.add(&m)
	}
}

// roster is the members this node holds in rm. Called with r.mu held.
func (r *Relay) roster(rm *room) []member {
	var ms []member
	for id, m := range rm.members {
		if s := r.peers[id]; s != nil && s.room == rm {
			ms = append(ms, *m)
		}
	}
	return ms
}

// publish sends a room event to the other nodes.
func (r *Relay) publish(rm *room, ev roomEvent) {
	if r.nc == nil {
		return
	}
	ev.Node = r.opts.NodeID
	if err := r.nc.Publish(roomSubject(rm.id), mustJSON(ev)); err != nil {
		r.log.Warn("publish room event", "encounter", rm.id, "kind", ev.Kind, "err", err)
	}
}

// peerQueue bounds the messages for the members held here that wait for
// deliverLoop; NATS would drop those beyond (a slow consumer), but
// deliverLoop never blocks: it only queues them for their connections.
const peerQueue = 64 << 10

// subscribePeer routes the messages other nodes send to a member held here
// to deliverLoop: one goroutine for every member's subject rather than one
// each, woken once for many messages under load. Called with r.mu held.
func (r *Relay) subscribePeer(s *session) {
	if r.nc == nil {
		return
	}
	sub, err := r.nc.ChanSubscribe(peerSubject(s.id), r.peerMsgs)
	if err != nil {
		r.log.Error("subscribe to peer", "peer", s.id, "err", err)
		return
	}
	s.sub = sub
}

// deliverLoop queues the messages other nodes send to the members held here
// for their connections, until the relay closes.
func (r *Relay) deliverLoop() {
	defer r.wg.Done()
	for {
		select {
		case <-r.stop:
			return
		case msg := <-r.peerMsgs:
			r.deliver(msg)
		}
	}
}

// deliver queues msg, from another node, for the member whose subject it
// came on: dropped when it is no longer here, or away.
func (r *Relay) deliver(msg *nats.Msg) {
	id, ok := strings.CutPrefix(msg.Subject, peerSubjectPrefix)
	if !ok {
		return
	}
	r.mu.RLock()
	var c *conn
	if s := r.peers[id]; s != nil {
		c = s.conn
	}
	r.mu.RUnlock()
	if c != nil && !deliverBatch(c, msg.Data) {
		r.log.Warn("malformed batch of relayed messages", "peer", id, "bytes", len(msg.Data))
	}
}

// Messages for a peer held by another node go to its subject one by one
// (the message itself, a JSON object), or several together when a
// connection relays several to the same peer at once (a burst of
// candidates): a batch is batchMarker, then each message preceded by its
// length (an unsigned varint). One NATS message instead of several saves
// their parsing, routing and dispatch on the way, on both nodes and in the
// NATS server.
const batchMarker = 0

// Bounds of a batch: it is sent when it reaches either.
const (
	maxBatchMessages = 64
	maxBatchBytes    = 32 << 10
)

// batchBuffers lends the buffers batches are built in.
var batchBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2<<10); return &b }}

// peerBatch gathers the messages one connection relays to a peer held by
// another node, until flush publishes them. A connection's reader flushes
// it when the next message is not there yet, before anything else than a
// relayed message, and when the messages go to another peer: the order of
// the messages to each peer is kept.
type peerBatch struct {
	r             *Relay
	peer, subject string  // the peer of the batch (or the last one) and its subject
	buf           *[]byte // batchMarker, then each message's length and bytes; nil when empty
	n             int     // messages in buf
	first         int     // where the first message starts in buf
}

// add appends raw, relayed from peer from (see appendFrom), for peer to.
func (b *peerBatch) add(to, raw []byte, from string) {
	if b.n > 0 && (string(to) != b.peer || b.n == maxBatchMessages || len(*b.buf) >= maxBatchBytes) {
		b.flush()
	}
	if b.n == 0 {
		if string(to) != b.peer { // new strings only when the peer changes
			b.peer = string(to)
			b.subject = peerSubject(b.peer)
		}
		b.buf = batchBuffers.Get().(*[]byte)
		*b.buf = append((*b.buf)[:0], batchMarker)
	}
	*b.buf = binary.AppendUvarint(*b.buf, uint64(fromSize(raw, from)))
	if b.n == 0 {
		b.first = len(*b.buf)
	}
	*b.buf = appendFrom(*b.buf, raw, from)
	b.n++
}

// flush publishes the messages gathered: a lone message as itself.
func (b *peerBatch) flush() {
	if b.n == 0 {
		return
	}
	data := *b.buf
	if b.n == 1 {
		data = data[b.first:]
	}
	if err := b.r.nc.Publish(b.subject, data); err != nil {
		b.r.log.Warn("publish to peer", "peer", b.peer, "messages", b.n, "err", err)
	}
	if cap(*b.buf) <= 2*maxBatchBytes {
		batchBuffers.Put(b.buf)
	}
	b.buf, b.n = nil, 0
}

// deliverBatch queues for c the message or the batch of messages data
// holds (see peerBatch); false when a batch is malformed (what comes
// before the fault is delivered).
func deliverBatch(c *conn, data []byte) bool {
	if len(data) == 0 || data[0] != batchMarker {
		c.enqueue(data)
		return true
	}
	for rest := data[1:]; len(rest) > 0; {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return false
		}
		c.enqueue(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	return true
}

// onRoomEvent applies another node's room event.
func (r *Relay) onRoomEvent(rm *room, msg *nats.Msg) {
	var ev roomEvent
	if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.Node == r.opts.NodeID {
		return
	}
	switch ev.Kind {
	case "hello":
		r.mu.RLock()
		ms := r.roster(rm)
		r.mu.RUnlock()
		if msg.Reply != "" {
			_ = msg.Respond(mustJSON(roomEvent{Kind: "roster", Node: r.opts.NodeID, Members: ms}))
		}
	case "roster":
		r.mu.Lock()
		r.addRemote(rm, ev.Node, ev.Members)
		r.mu.Unlock()
	case "join", "back", "away", "leave":
		if ev.Member == nil || ev.Member.Node != ev.Node && ev.Kind != "leave" {
			return
		}
		m := *ev.Member
		m.seen = time.Now()
		var lost *session
		r.mu.Lock()
		if r.rooms[rm.id] != rm {
			r.mu.Unlock()
			return
		}
		if ev.Kind == "leave" {
			delete(rm.members, m.Peer)
		} else {
			rm.add(&m)
			if s := r.peers[m.Peer]; s != nil && ev.Kind == "back" {
				// The member resumed on another node: let it go here, silently.
				lost = s
				r.forget(s)
				if len(r.roster(rm)) == 0 {
					r.closeRoom(rm)
				}
			}
		}
		r.mu.Unlock()
		if lost != nil && lost.conn != nil {
			lost.conn.close(websocket.StatusPolicyViolation, "resumed on another connection")
		}
		r.presenceHere(rm, ev.Kind, &m)
	case "ended":
		r.endHere(rm, ev.By)
	}
}

// restateLoop restates this node's members every restateEvery and drops
// the members of other nodes that stopped restating theirs.
func (r *Relay) restateLoop() {
	defer r.wg.Done()
	t := time.NewTicker(restateEvery)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		type gone struct {
			rm *room
			m  *member
		}
		var stale []gone
		var restate []struct {
			rm *room
			ms []member
		}
		now := time.Now()
		r.mu.Lock()
		for _, rm := range r.rooms {
			for id, m := range rm.members {
				if m.Node != r.opts.NodeID && now.Sub(m.seen) > staleAfter {
					delete(rm.members, id)
					stale = append(stale, gone{rm, m})
				}
			}
			restate = append(restate, struct {
				rm *room
				ms []member
			}{rm, r.roster(rm)})
		}
		r.mu.Unlock()
		for _, g := range stale {
			r.presenceHere(g.rm, "leave", g.m)
		}
		for _, x := range restate {
			r.publish(x.rm, roomEvent{Kind: "roster", Members: x.ms})
		}
	}
}
