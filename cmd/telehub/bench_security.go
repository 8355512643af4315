package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/bench"
	"github.com/telehub/telehub/internal/cputime"
)

// The cost of security: `telehub bench --security` reads the same way from
// three embedded servers, each on a fresh data directory: without token
// checks and without audit (the FHIR path alone), with token checks, and
// as `telehub serve` runs (token checks and an AuditEvent per read), and
// prints the overhead of each against the first.
//
// Beside throughput and latency it prints the CPU time per read: the
// process's CPU time (server and load generator, the same client work for
// the three) over the read phase, until the audit trail has indexed the
// events of the reads, divided by the reads. On a machine shared with
// other work the reads/s move with the load; the CPU per read does not,
// so its overhead is the figure to compare there. The servers run one
// after the other, so a drift of the machine's speed lands on the
// comparison; --rounds runs them in turn several times and prints each
// one's medians.

// securitySetup is one of the three servers.
type securitySetup struct {
	name string
	embedding
}

var securitySetups = []securitySetup{
	{"no token check, no audit", embedding{}},
	{"token check", embedding{tokens: true}},
	{"token check and audit (as served)", embedding{tokens: true, audits: true}},
}

// discardAudit records nothing: the baseline of the comparison, and never
// a configuration `telehub serve` can be given.
type discardAudit struct{}

func (discardAudit) Record(context.Context, audit.Event) error { return nil }

func benchmarkSecurity(ctx context.Context, cfg benchConfig, stdout, stderr io.Writer) error {
	runs := make([][]securityRow, len(securitySetups)) // per setup, one per round
	for round := range max(cfg.Rounds, 1) {
		for i, setup := range securitySetups {
			row, err := securityRun(ctx, cfg, setup, stderr)
			if err != nil {
				return fmt.Errorf("%s: %w", setup.name, err)
			}
			if cfg.Rounds > 1 {
				fmt.Fprintf(stderr, "round %d, %s: %.0f reads/s, %s of CPU per read\n", round+1, setup.name, row.phase.PerSecond(), row.cpuPerRead.Round(100*time.Nanosecond))
			}
			runs[i] = append(runs[i], row)
		}
	}
	rows := make([]securityRow, len(runs))
	for i, r := range runs {
		rows[i] = medianRow(r)
	}
	fmt.Fprintf(stdout, "TeleHub bench --security: reads (GET Observation/id), %d clients, %s each, embedded server", cfg.Concurrency, cfg.Duration)
	if cfg.Rounds > 1 {
		fmt.Fprintf(stdout, ", median of %d rounds", cfg.Rounds)
	}
	fmt.Fprint(stdout, "\n\n")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "server\treads/s\tp50\tp99\toverhead\tCPU/read\tCPU overhead\terrors")
	base := rows[0]
	for i, r := range rows {
		overhead, cpuOverhead, cpu := "-", "-", "-"
		if i > 0 && base.phase.PerSecond() > 0 {
			overhead = fmt.Sprintf("%.0f%%", 100*(1-r.phase.PerSecond()/base.phase.PerSecond()))
		}
		if r.cpuPerRead > 0 {
			cpu = r.cpuPerRead.Round(100 * time.Nanosecond).String()
			if i > 0 && base.cpuPerRead > 0 {
				cpuOverhead = fmt.Sprintf("%.0f%%", 100*(float64(r.cpuPerRead)/float64(base.cpuPerRead)-1))
			}
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\n", securitySetups[i].name, r.phase.PerSecond(), r.phase.P50.Round(10e3), r.phase.P99.Round(10e3),
			overhead, cpu, cpuOverhead, r.phase.Errors)
	}
	return tw.Flush()
}

// securityRow is the read phase of one server, and its CPU time per read
// (0 when the system does not tell the process's CPU time).
type securityRow struct {
	phase      bench.Phase
	cpuPerRead time.Duration
}

// medianRow is the run of median reads/s among rows, with the median CPU
// time per read of all of them (the two medians may come from different
// runs: each is the steadier figure of its kind).
func medianRow(rows []securityRow) securityRow {
	byRate := slices.Clone(rows)
	slices.SortFunc(byRate, func(a, b securityRow) int { return cmp.Compare(a.phase.PerSecond(), b.phase.PerSecond()) })
	median := byRate[len(byRate)/2]
	cpu := make([]time.Duration, len(rows))
	for i, r := range rows {
		cpu[i] = r.cpuPerRead
	}
	slices.Sort(cpu)
	median.cpuPerRead = cpu[len(cpu)/2]
	return median
}

// securityRun loads a few resources, then runs the read phase, on a server
// of setup.
//
// Everything the run starts carries the profiler label "server" (the
// setup's name), so that a --cpuprofile of the three runs can be split
// with go tool pprof -tagfocus.
func securityRun(ctx context.Context, cfg benchConfig, setup securitySetup, stderr io.Writer) (securityRow, error) {
	defer pprof.SetGoroutineLabels(ctx)
	ctx = pprof.WithLabels(ctx, pprof.Labels("server", setup.name))
	pprof.SetGoroutineLabels(ctx)
	srv, cleanup, err := startEmbedded(ctx, setup.embedding, stderr)
	if err != nil {
		return securityRow{}, err
	}
	defer cleanup()
	run := bench.Config{URL: srv.baseURL, Duration: cfg.Duration, Concurrency: cfg.Concurrency, BundleSize: cfg.BundleSize,
		Phases: []string{"create", "read"}, MaxRequests: cfg.Requests}
	if setup.tokens {
		if run.Token, err = srv.systemToken(ctx, "system/*.cruds"); err != nil {
			return securityRow{}, err
		}
	}
	cpu := startCPUSampler()
	res, err := bench.Run(ctx, run)
	end := time.Now()
	if err == nil && srv.auditor != nil {
		// The reads' events are indexed in the background: their
		// indexing is part of what the reads cost.
		err = srv.auditor.Sync(ctx)
	}
	cpuEnd, _ := processCPU()
	cpu.stop()
	if err != nil {
		return securityRow{}, err
	}
	for _, p := range res.Phases {
		if strings.HasPrefix(p.Name, "read") {
			row := securityRow{phase: p}
			// The read phase is the run's last: it began Elapsed before the end.
			if start, ok := cpu.at(end.Add(-p.Elapsed)); ok && p.Resources > 0 {
				row.cpuPerRead = (cpuEnd - start) / time.Duration(p.Resources)
			}
			return row, nil
		}
	}
	return securityRow{}, fmt.Errorf("no read phase in the run")
}

// cpuSampler records the process's CPU time every few milliseconds, so
// that the CPU time at the start of a phase can be looked up afterwards.
type cpuSampler struct {
	mu      sync.Mutex
	samples []cpuSample
	done    chan struct{}
	stopped sync.WaitGroup
}

type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

// cpuSampleEvery is the sampling period: a phase's start is placed within
// it, a few milliseconds of CPU against the seconds a phase uses.
const cpuSampleEvery = 5 * time.Millisecond

func startCPUSampler() *cpuSampler {
	c := &cpuSampler{done: make(chan struct{})}
	c.sample()
	c.stopped.Add(1)
	go func() {
		defer c.stopped.Done()
		tick := time.NewTicker(cpuSampleEvery)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				c.sample()
			case <-c.done:
				return
			}
		}
	}()
	return c
}

func (c *cpuSampler) sample() {
	cpu, ok := processCPU()
	if !ok {
		return
	}
	c.mu.Lock()
	c.samples = append(c.samples, cpuSample{at: time.Now(), cpu: cpu})
	c.mu.Unlock()
}

func (c *cpuSampler) stop() {
	close(c.done)
	c.stopped.Wait()
}

// at returns the CPU time of the last sample taken at or before t.
func (c *cpuSampler) at(t time.Time) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var found cpuSample
	ok := false
	for _, s := range c.samples {
		if s.at.After(t) {
			break
		}
		found, ok = s, true
	}
	return found.cpu, ok
}

// processCPU is the CPU time (user and system) the process has used so
// far, and false where the system does not tell it.
var processCPU = cputime.Process
