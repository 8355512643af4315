package dicomweb

import (
	"context"
	"encoding/json"
	"sync"
)

// studyLinks are the resources a study's ImagingStudy points to: its
// Patient, the Endpoint of this server, the ServiceRequest of its
// accession number ("" when none).
type studyLinks struct {
	patient, endpoint, basedOn string
}

// linkLookup is the look-up of a study's links, run while the instances
// of the STOWs that share it are committed.
type linkLookup struct {
	key   string // what it looks up from: the patient module and accession number
	users int    // STOWs in flight that use it (linkLookups.mu)
	done  chan struct{}
	links studyLinks
	err   error
}

func (l *linkLookup) wait() (studyLinks, error) {
	<-l.done
	return l.links, l.err
}

// linkLookups are the look-ups of the STOWs in flight, shared: a STOW
// into a study whose links another STOW in flight is looking up, or has
// looked up, from the same patient module and accession number, takes
// that look-up's answer instead of searching again (three FHIR searches).
// A look-up is forgotten when the last STOW using it ends, so that a
// Patient or ServiceRequest written meanwhile is found by the next
// STOWs, as it would have been by the concurrent ones had they come a
// little later.
type linkLookups struct {
	mu      sync.Mutex
	byStudy map[string]*linkLookup
}

// studyPrep is what a STOW prepares for its studies' ImagingStudy while
// its instances are made durable and committed.
type studyPrep struct {
	s      *Server
	links  map[string]*linkLookup // by study
	ticket *syncTicket            // its place in the study's next round, when it stores into one study
}

// prepareStudies starts finding (or creating) the links of every study a
// STOW stored a part of, from the study's last part (they do not depend on
// the index, so they are looked up while the request's instances are
// committed, not after), and announces the request to its study's next
// round (see studySyncs). end must be called.
func (s *Server) prepareStudies(ctx context.Context, results []*stowResult) *studyPrep {
	ctx = detach(ctx) // a client hanging up must not leave a Patient half created
	prep := &studyPrep{s: s, links: map[string]*linkLookup{}}
	studies := studiesOf(results)
	for _, study := range studies {
		prep.links[study.latest.study] = s.lookUpLinks(ctx, study.latest)
	}
	if len(studies) == 1 {
		prep.ticket = s.studySyncs.expect(studies[0].latest.study)
	}
	return prep
}

// lookUpLinks returns the look-up of r's study links, shared or started.
func (s *Server) lookUpLinks(ctx context.Context, r *stowResult) *linkLookup {
	patient, _ := json.Marshal(r.attrs)
	key := string(patient) + "\x00" + r.accession
	q := &s.linkLookups
	q.mu.Lock()
	defer q.mu.Unlock()
	if l := q.byStudy[r.study]; l != nil && l.key == key {
		l.users++
		return l
	}
	l := &linkLookup{key: key, users: 1, done: make(chan struct{})}
	if q.byStudy == nil {
		q.byStudy = map[string]*linkLookup{}
	}
	q.byStudy[r.study] = l // a look-up from other data is no longer shared
	go func() {
		defer close(l.done)
		l.links, l.err = s.findLinks(ctx, r.study, r.attrs, r.accession)
	}()
	return l
}

// end releases the request's look-ups and withdraws it from its study's
// next round if it did not join it (its instances failed).
func (p *studyPrep) end() {
	p.ticket.cancel()
	q := &p.s.linkLookups
	q.mu.Lock()
	defer q.mu.Unlock()
	for study, l := range p.links {
		if l.users--; l.users == 0 && q.byStudy[study] == l {
			delete(q.byStudy, study)
		}
	}
}

// findLinks finds the links of a study.
func (s *Server) findLinks(ctx context.Context, study string, attrs Dataset, accession string) (links studyLinks, err error) {
	if links.patient, err = s.ensurePatient(ctx, attrs, study); err != nil {
		return links, err
	}
	if links.endpoint, err = s.ensureEndpoint(ctx); err != nil {
		return links, err
	}
	links.basedOn, err = s.findServiceRequest(ctx, accession)
	return links, err
}
