package bench

import (
	"context"
	"fmt"
	"time"
)

// Session is a run held open between its phases: Open sets the server up
// as Run does, then each call of Phase runs the phases of one kind for a
// while. `telehub bench --security` interleaves the read phases of three
// servers through sessions, in short slices, so that a drift of the
// machine's speed falls on the three alike.
type Session struct {
	r      *runner
	totals map[string]*sessionTotal // by kind
}

// sessionTotal is every slice of one kind of phase: their figures added
// up, their latencies kept for the percentiles.
type sessionTotal struct {
	phase     Phase
	latencies []time.Duration
}

// Open sets up a session on the server of cfg (cfg.Phases and
// cfg.Duration are not used: Phase names both).
func Open(ctx context.Context, cfg Config) (*Session, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := newRunner(cfg)
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	return &Session{r: r, totals: map[string]*sessionTotal{}}, nil
}

// Phase runs the phases of kind (see PhaseKinds) for d each, and returns
// the last. The read phase reads the Observations the session created.
func (s *Session) Phase(ctx context.Context, kind string, d time.Duration) (Phase, error) {
	var last Phase
	found := false
	for _, spec := range s.r.phases() {
		if spec.kind != kind {
			continue
		}
		found = true
		phase, latencies, err := s.r.runFor(ctx, spec, d)
		if err != nil {
			return phase, err
		}
		s.add(kind, phase, latencies)
		last = phase
	}
	if !found {
		return Phase{}, fmt.Errorf("bench: no phase of kind %q", kind)
	}
	return last, nil
}

func (s *Session) add(kind string, phase Phase, latencies []time.Duration) {
	t := s.totals[kind]
	if t == nil {
		t = &sessionTotal{phase: Phase{Name: phase.Name, Clients: phase.Clients}}
		s.totals[kind] = t
	}
	t.phase.Requests += phase.Requests
	t.phase.Errors += phase.Errors
	t.phase.Resources += phase.Resources
	t.phase.Elapsed += phase.Elapsed
	if t.phase.FirstError == "" {
		t.phase.FirstError = phase.FirstError
	}
	t.latencies = append(t.latencies, latencies...)
}

// Total returns the phases of kind run so far as one phase: their counts
// and times added up, the percentiles of all their latencies (named after
// the first; a kind of one phase, such as "read", is that phase's slices).
func (s *Session) Total(kind string) (Phase, bool) {
	t := s.totals[kind]
	if t == nil {
		return Phase{}, false
	}
	phase := t.phase
	phase.P50, phase.P99 = percentile(t.latencies, 50), percentile(t.latencies, 99)
	return phase, true
}
