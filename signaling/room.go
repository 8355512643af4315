package signaling

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
)

// room is the relay's view of one session: every member it knows of, held
// here or (with NATS) on another node. Guarded by Relay.mu.
type room struct {
	id      string // the Encounter's id
	mode    string
	max     int
	patient string
	members map[string]*member
	sub     *nats.Subscription
	ready   chan struct{} // closed once the other nodes' members are known
	ended   bool
	// practitioner is set once a practitioner has been in the room: a
	// patient who leaves the waiting room before anyone came does not end
	// the session.
	practitioner bool
}

// errRoomGone: the room closed between its lookup and the admission.
var errRoomGone = errors.New("signaling: room closed meanwhile")

// add records a member. Called with r.mu held.
func (rm *room) add(m *member) {
	rm.members[m.Peer] = m
	if m.Role == "practitioner" {
		rm.practitioner = true
	}
}

// member is a participant as the nodes share it.
type member struct {
	Peer       string `json:"peer"`
	User       string `json:"user,omitempty"`
	Name       string `json:"name,omitempty"`
	Role       string `json:"role"`
	Subject    string `json:"subject"`
	Node       string `json:"node"`
	ResumeHash string `json:"resume"`
	Away       bool   `json:"away,omitempty"`
	seen       time.Time
}

func (m *member) info() peerInfo {
	return peerInfo{Peer: m.Peer, User: m.User, Name: m.Name, Role: m.Role, Away: m.Away}
}

// session is a member held by this node: its principal and its current
// connection (nil while it is away).
type session struct {
	id        string
	room      *room
	principal *authz.Principal
	conn      *conn
	away      *time.Timer
	sub       *nats.Subscription
	gone      bool
}

func hashResume(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func roleOf(p *authz.Principal) string {
	switch {
	case p.IsProfessional():
		return "practitioner"
	case strings.HasPrefix(p.FHIRUser, "Patient/"):
		return "patient"
	}
	return "other"
}

// displayName keeps a client-chosen name printable and short.
func displayName(name, fallback string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(name))
	if name == "" {
		name = fallback
	}
	for len(name) > 80 || !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name[:min(len(name), 80)], "")
	}
	return name
}

// join admits the connection's client to the room its join names.
func (r *Relay) join(ctx context.Context, req *http.Request, c *conn, msg *inbound) (*session, error) {
	p, err := r.principal(req, msg.Token)
	if err != nil {
		return nil, err
	}
	enc, err := r.resolveRoom(ctx, msg.Room)
	if err != nil {
		return nil, err
	}
	if err := r.mayJoin(ctx, p, enc); err != nil {
		if pe, ok := isProtocol(err); ok && pe.code == "forbidden" {
			// A refused join is audited too, best effort: the refusal stands either way.
			if aerr := r.auditJoinLeave(ctx, p, enc.ID, enc.patientID(), true, audit.MinorFailure); aerr != nil {
				r.log.WarnContext(ctx, "audit refused join", "err", aerr)
			}
		}
		return nil, err
	}
	if ended(enc.Status) {
		return nil, fail("session_ended", "the session of Encounter/"+enc.ID+" is over (status "+enc.Status+")")
	}
	if err := r.auditJoinLeave(ctx, p, enc.ID, enc.patientID(), true, audit.Success); err != nil {
		r.log.ErrorContext(ctx, "audit join", "err", err)
		return nil, fail("audit_unavailable", "the join could not be recorded in the audit trail; try again")
	}
	var (
		rm     *room
		s      *session
		joined joinedMsg
		event  string
	)
	for attempt := 0; ; attempt++ {
		if rm, err = r.openRoom(ctx, enc); err != nil {
			return nil, err
		}
		s, joined, event, err = r.admit(rm, p, c, msg)
		if !errors.Is(err, errRoomGone) || attempt == 2 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	// The Encounter is in progress before anyone is told they joined.
	if enc.Status != "in-progress" {
		if err := r.setStatus(ctx, enc.ID, "in-progress"); err != nil {
			r.log.ErrorContext(ctx, "start the session", "encounter", enc.ID, "err", err)
		}
	}
	c.enqueue(mustJSON(joined))
	r.announce(rm, s.id, event)
	r.log.InfoContext(ctx, "joined the session", "encounter", rm.id, "peer", s.id, "user", p.FHIRUser, "event", event)
	return s, nil
}

// openRoom returns the open room of enc, opening it (and learning the other
// nodes' members) if needed.
func (r *Relay) openRoom(ctx context.Context, enc *encounter) (*room, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fail("unavailable", "the relay is shutting down")
	}
	rm := r.rooms[enc.ID]
	if rm == nil {
		mode, max := enc.mode()
		rm = &room{id: enc.ID, mode: mode, max: max, patient: enc.patientID(), members: map[string]*member{}, ready: make(chan struct{})}
		r.rooms[enc.ID] = rm
		r.mu.Unlock()
		r.sync(rm)
		close(rm.ready)
		return rm, nil
	}
	r.mu.Unlock()
	select {
	case <-rm.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return rm, nil
}

// admit adds the client to the room, or gives it back its place when it
// resumes. It returns the session, the joined message and the presence
// event to announce.
func (r *Relay) admit(rm *room, p *authz.Principal, c *conn, msg *inbound) (*session, joinedMsg, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rm.ended {
		return nil, joinedMsg{}, "", fail("session_ended", "the session of Encounter/"+rm.id+" is over")
	}
	if r.rooms[rm.id] != rm {
		return nil, joinedMsg{}, "", errRoomGone
	}
	var s *session
	event := "join"
	resume := randomID(24)
	if msg.Resume != "" {
		want := hashResume(msg.Resume)
		for _, m := range rm.members {
			if subtle.ConstantTimeCompare([]byte(m.ResumeHash), []byte(want)) == 1 && m.Subject == p.Subject {
				s = r.takeOver(rm, m, p)
				m.ResumeHash, m.Away, m.Node = hashResume(resume), false, r.opts.NodeID
				event = "back"
				break
			}
		}
	}
	if s == nil && len(rm.members) >= rm.max {
		// The same user coming back without its resume token (a reloaded
		// page) takes back its own place rather than find the room full.
		for _, m := range rm.members {
			if m.Away && m.Subject == p.Subject {
				s = r.takeOver(rm, m, p)
				m.ResumeHash, m.Away, m.Node = hashResume(resume), false, r.opts.NodeID
				event = "back"
				break
			}
		}
	}
	if s == nil {
		if len(rm.members) >= rm.max {
			return nil, joinedMsg{}, "", fail("room_full", "the room of Encounter/"+rm.id+" is full ("+itoa(rm.max)+" participants, "+rm.mode+")")
		}
		s = &session{id: randomID(8), room: rm, principal: p}
		rm.add(&member{
			Peer: s.id, User: p.FHIRUser, Name: displayName(msg.Name, p.Subject), Role: roleOf(p),
			Subject: p.Subject, Node: r.opts.NodeID, ResumeHash: hashResume(resume),
		})
		r.peers[s.id] = s
		r.subscribePeer(s)
	}
	s.conn = c
	joined := joinedMsg{Type: "joined", Room: "Encounter/" + rm.id, Peer: s.id, Resume: resume, Mode: rm.mode, Max: rm.max, Peers: []peerInfo{}}
	for id, m := range rm.members {
		if id != s.id {
			joined.Peers = append(joined.Peers, m.info())
		}
	}
	return s, joined, event, nil
}

// takeOver returns the session of a member that resumes, held here or on
// another node (which lets it go when it hears "back"). Called with r.mu held.
func (r *Relay) takeOver(rm *room, m *member, p *authz.Principal) *session {
	s := r.peers[m.Peer]
	if s == nil {
		s = &session{id: m.Peer, room: rm, principal: p}
		r.peers[s.id] = s
		r.subscribePeer(s)
		return s
	}
	if s.away != nil {
		s.away.Stop()
		s.away = nil
	}
	if s.conn != nil { // a half-open connection the client gave up on
		s.conn.close(websocket.StatusPolicyViolation, "resumed on another connection")
	}
	s.principal = p
	return s
}

// drop handles a connection that ended without a leave: its member is away
// until it resumes or the resume window ends.
func (r *Relay) drop(s *session, c *conn) {
	r.mu.Lock()
	m := s.room.members[s.id]
	if r.closed || s.gone || s.conn != c || m == nil {
		r.mu.Unlock()
		return
	}
	s.conn = nil
	m.Away = true
	s.away = time.AfterFunc(r.opts.ResumeWindow, func() { r.expire(s) })
	r.mu.Unlock()
	r.announce(s.room, s.id, "away")
}

// expire ends the place of a member that did not come back in time.
func (r *Relay) expire(s *session) {
	r.mu.RLock()
	stillAway := s.conn == nil && !s.gone
	r.mu.RUnlock()
	if stillAway {
		r.leave(s, "did not come back")
	}
}

// leave removes a member held here for good: announced, audited, and the
// session finished when the room is left empty.
func (r *Relay) leave(s *session, why string) {
	rm := s.room
	r.mu.Lock()
	if s.gone || r.closed {
		r.mu.Unlock()
		return
	}
	r.forget(s)
	m := rm.members[s.id]
	delete(rm.members, s.id)
	empty := len(rm.members) == 0
	finish := empty && !rm.ended && rm.practitioner
	if empty {
		r.closeRoom(rm)
	}
	r.mu.Unlock()

	if m != nil {
		r.publishPresence(rm, "leave", m)
	}
	ctx := context.Background()
	if err := r.auditJoinLeave(ctx, s.principal, rm.id, rm.patient, false, audit.Success); err != nil {
		r.log.Error("audit leave", "encounter", rm.id, "err", err)
	}
	r.log.Info("left the session", "encounter", rm.id, "peer", s.id, "why", why)
	if finish {
		if err := r.setStatus(ctx, rm.id, "finished"); err != nil {
			r.log.Error("finish the session", "encounter", rm.id, "err", err)
		}
	}
}

// forget drops a local session's resources. Called with r.mu held.
func (r *Relay) forget(s *session) {
	s.gone = true
	delete(r.peers, s.id)
	if s.away != nil {
		s.away.Stop()
	}
	if s.sub != nil {
		s.sub.Unsubscribe()
	}
}

// closeRoom forgets a room this node no longer has members in. Called with r.mu held.
func (r *Relay) closeRoom(rm *room) {
	if r.rooms[rm.id] == rm {
		delete(r.rooms, rm.id)
	}
	if rm.sub != nil {
		rm.sub.Unsubscribe()
	}
}

// end finishes the session for everyone, at a practitioner's request.
func (r *Relay) end(ctx context.Context, s *session) {
	rm := s.room
	if err := r.setStatus(ctx, rm.id, "finished"); err != nil {
		r.log.ErrorContext(ctx, "end the session", "encounter", rm.id, "err", err)
	}
	r.publish(rm, roomEvent{Kind: "ended", By: s.id})
	r.endHere(rm, s.id)
}

// endHere closes the members this node holds in an ended room.
func (r *Relay) endHere(rm *room, by string) {
	r.mu.Lock()
	rm.ended = true
	var local []*session
	for id := range rm.members {
		if s := r.peers[id]; s != nil && s.room == rm {
			local = append(local, s)
		}
	}
	r.mu.Unlock()
	msg := mustJSON(endedMsg{Type: "ended", By: by})
	for _, s := range local {
		r.mu.RLock()
		c := s.conn
		r.mu.RUnlock()
		if c != nil {
			c.enqueue(msg)
			c.close(websocket.StatusNormalClosure, "session ended")
		}
		r.leave(s, "session ended")
	}
}

// announce tells the room (here and on the other nodes) about a member's
// presence change.
func (r *Relay) announce(rm *room, peer, event string) {
	r.mu.RLock()
	m := rm.members[peer]
	var cp member
	if m != nil {
		cp = *m
	}
	r.mu.RUnlock()
	if m != nil {
		r.publishPresence(rm, event, &cp)
	}
}

func (r *Relay) publishPresence(rm *room, event string, m *member) {
	r.presenceHere(rm, event, m)
	r.publish(rm, roomEvent{Kind: event, Member: m})
}

// presenceHere sends a presence message to the members held here, but the member itself.
func (r *Relay) presenceHere(rm *room, event string, m *member) {
	msg := mustJSON(presenceMsg{Type: "presence", Event: event, Peer: m.info()})
	r.mu.RLock()
	var conns []*conn
	for id := range rm.members {
		if s := r.peers[id]; s != nil && s.room == rm && id != m.Peer && s.conn != nil {
			conns = append(conns, s.conn)
		}
	}
	r.mu.RUnlock()
	for _, c := range conns {
		c.enqueue(msg)
	}
}
