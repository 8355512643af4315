package dicomweb

import (
	"context"
	"sync"
)

// studySyncs brings ImagingStudy resources in step for concurrent STOWs,
// one round at a time per study on this node, and shares rounds: a round
// merges the instances of every STOW into the study that is waiting for
// it, in one update. A PACS sending a study over several connections thus
// costs one ImagingStudy version per round, not one per request (each
// version is a validated FHIR write of the whole, growing resource), and
// no request answers before a round that holds its instances has been
// written: an ImagingStudy read after a STOW's answer shows its instances.
//
// A round does not start before the STOWs into its study that were
// already committing their instances when it was due have joined it
// (expect): they are a few milliseconds away, and sharing their round
// spares a round of their own. Only requests into a single study are
// waited for, so that no request is both waited for in a study and
// waiting in another's round.
//
// Rounds on other nodes are kept lossless by syncStudy's If-Match.
type studySyncs struct {
	mu       sync.Mutex
	active   map[string]*studyQueue   // studies with a round running
	incoming map[string][]*syncTicket // STOWs committing instances of a study, to join its next round
}

// studyQueue is a study whose round is running, and the STOWs waiting for
// the next.
type studyQueue struct {
	waiting []*studyWaiter
}

// studyWaiter is one STOW's share of a round: what it brings, and what
// the round answers.
type studyWaiter struct {
	links studyLinks
	added []*instanceRecord
	done  chan struct{}
	lead  bool // woken to run the next round rather than with a result

	id  string
	err error
}

// syncTicket announces a STOW that will join a study's next round.
type syncTicket struct {
	syncs   *studySyncs
	study   string
	arrived chan struct{} // closed once it joined, or gave up
}

// expect announces a STOW whose instances of study are being committed.
// The ticket must be handed to syncStudyShared or ended with cancel.
func (q *studySyncs) expect(study string) *syncTicket {
	t := &syncTicket{syncs: q, study: study, arrived: make(chan struct{})}
	q.mu.Lock()
	if q.incoming == nil {
		q.incoming = map[string][]*syncTicket{}
	}
	q.incoming[study] = append(q.incoming[study], t)
	q.mu.Unlock()
	return t
}

// cancel ends a ticket that will not join (or has joined: then it does
// nothing).
func (t *syncTicket) cancel() {
	if t == nil {
		return
	}
	t.syncs.mu.Lock()
	t.arriveLocked()
	t.syncs.mu.Unlock()
}

// arriveLocked removes the ticket from the study's incoming STOWs; mu is
// held.
func (t *syncTicket) arriveLocked() {
	list := t.syncs.incoming[t.study]
	for i, other := range list {
		if other == t {
			list = append(list[:i:i], list[i+1:]...)
			if len(list) == 0 {
				delete(t.syncs.incoming, t.study)
			} else {
				t.syncs.incoming[t.study] = list
			}
			close(t.arrived)
			return
		}
	}
}

// syncStudyShared is syncStudy in rounds shared with the concurrent STOWs
// into the same study (see studySyncs). ticket is the request's, from
// expect, or nil.
func (s *Server) syncStudyShared(ctx context.Context, study string, links studyLinks, added []*instanceRecord, ticket *syncTicket) (id string, err error) {
	me := &studyWaiter{links: links, added: added, done: make(chan struct{})}
	q := &s.studySyncs
	q.mu.Lock()
	if ticket != nil {
		ticket.arriveLocked()
	}
	if q.active == nil {
		q.active = map[string]*studyQueue{}
	}
	if sq, running := q.active[study]; running {
		sq.waiting = append(sq.waiting, me)
		q.mu.Unlock()
		<-me.done
		if !me.lead {
			return me.id, me.err
		}
	} else {
		q.active[study] = &studyQueue{waiting: []*studyWaiter{me}}
		q.mu.Unlock()
	}
	// Wait for the STOWs already on their way, then take everyone waiting.
	q.mu.Lock()
	expected := append([]*syncTicket(nil), q.incoming[study]...)
	q.mu.Unlock()
	for _, t := range expected {
		<-t.arrived
	}
	q.mu.Lock()
	round := q.active[study].waiting
	q.active[study].waiting = nil
	q.mu.Unlock()

	var all []*instanceRecord
	for _, w := range round {
		all = append(all, w.added...)
	}
	// The latest request speaks for the study's links, as its instances
	// do for the study record (see batchWrites).
	id, err = s.syncStudy(ctx, study, round[len(round)-1].links, all)
	for _, w := range round {
		if w != me {
			w.id, w.err = id, err
			close(w.done)
		}
	}

	q.mu.Lock()
	if next := q.active[study].waiting; len(next) > 0 {
		next[0].lead = true
		close(next[0].done)
	} else {
		delete(q.active, study)
	}
	q.mu.Unlock()
	return id, err
}
