package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// runner holds what the phases share: the server, the payloads, and the ids
// of the Observations created so far (the read phase reads them back).
type runner struct {
	cfg    Config
	client *http.Client
	// authorization is the Authorization header of every request, made
	// once: the load generator's own cost is part of what it measures.
	authorization string
	patients      []string // "Patient/<id>" references the Observations point at
	bodies        [][]byte // Observation JSON, reused round-robin
	bundles       [][]byte // transaction Bundles of cfg.BundleSize Observations
	// ids of the Observations created; workers collect their own and merge
	// adds them between phases, so no lock is needed.
	ids []string
}

func newRunner(cfg Config) *runner {
	r := &runner{cfg: cfg, client: cfg.Client}
	if cfg.Token != "" {
		r.authorization = "Bearer " + cfg.Token
	}
	return r
}

// operation is one request of a phase; it returns how many resources it
// created or read.
type operation func(ctx context.Context, w *worker) (resources int, err error)

type phaseSpec struct {
	kind    string // one of PhaseKinds
	name    string
	clients int
	op      operation
}

func (r *runner) phases() []phaseSpec {
	tx := fmt.Sprintf("transaction (%d-entry Bundle)", r.cfg.BundleSize)
	all := []phaseSpec{
		{"create", "create (POST Observation)", 1, r.create},
		{"create", "create (POST Observation)", r.cfg.Concurrency, r.create},
		{"transaction", tx, 1, r.transaction},
		{"transaction", tx, r.cfg.Concurrency, r.transaction},
		{"read", "read (GET Observation/id)", r.cfg.Concurrency, r.read},
	}
	if len(r.cfg.Phases) == 0 {
		return all
	}
	return slices.DeleteFunc(all, func(p phaseSpec) bool { return !slices.Contains(r.cfg.Phases, p.kind) })
}

// worker is one client of a phase; nothing in it is shared.
type worker struct {
	rng       *rand.Rand
	next      int // round-robin index into the payloads
	created   []string
	latencies []time.Duration
	requests  int
	errors    int
	resources int
	firstErr  error
}

// run runs one phase: spec.clients workers issuing requests back to back
// until the phase's duration (or request budget) is spent.
func (r *runner) run(ctx context.Context, spec phaseSpec) (Phase, error) {
	phase, _, err := r.runFor(ctx, spec, r.cfg.Duration)
	return phase, err
}

// runFor runs spec for d and returns the phase with its latencies.
func (r *runner) runFor(ctx context.Context, spec phaseSpec, d time.Duration) (Phase, []time.Duration, error) {
	workers := make([]*worker, spec.clients)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{rng: rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(i))), next: i}
		workers[i] = w
		wg.Go(func() { r.loop(ctx, spec.op, w, deadline) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return Phase{}, nil, fmt.Errorf("bench: %s: %w", spec.name, err)
	}
	phase, latencies := r.merge(spec, workers, elapsed)
	if phase.Requests == 0 {
		return phase, nil, fmt.Errorf("bench: %s: no request succeeded: %s", spec.name, phase.FirstError)
	}
	return phase, latencies, nil
}

func (r *runner) loop(ctx context.Context, op operation, w *worker, deadline time.Time) {
	for i := 0; r.cfg.MaxRequests <= 0 || i < r.cfg.MaxRequests; i++ {
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return
		}
		t0 := time.Now()
		n, err := op(ctx, w)
		if err != nil {
			w.errors++
			if w.firstErr == nil {
				w.firstErr = err
			}
			continue
		}
		w.latencies = append(w.latencies, time.Since(t0))
		w.requests++
		w.resources += n
	}
}

// merge adds up the workers' counts and keeps the ids they created; it
// returns the phase and its latencies, sorted.
func (r *runner) merge(spec phaseSpec, workers []*worker, elapsed time.Duration) (Phase, []time.Duration) {
	phase := Phase{Name: spec.name, Clients: spec.clients, Elapsed: elapsed}
	var latencies []time.Duration
	for _, w := range workers {
		phase.Requests += w.requests
		phase.Errors += w.errors
		phase.Resources += w.resources
		if w.firstErr != nil && phase.FirstError == "" {
			phase.FirstError = w.firstErr.Error()
		}
		latencies = append(latencies, w.latencies...)
		r.ids = append(r.ids, w.created...)
	}
	phase.P50, phase.P99 = percentile(latencies, 50), percentile(latencies, 99)
	return phase, latencies
}

// percentile returns the p-th percentile (nearest rank) of ds, sorting it.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := (len(ds)*p + 99) / 100 // ceil(len*p/100)
	return ds[max(rank-1, 0)]
}
