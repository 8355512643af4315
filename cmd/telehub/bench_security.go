package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
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
// the three) over the reads, until the audit trail has indexed the events
// of the reads, divided by the reads. On a machine shared with other work
// the reads/s move with the load; the CPU per read less so, so its
// overhead is the figure to compare there.
//
// The three servers run at once, and their read phases are interleaved
// in slices of a second (each round in a rotated order), so that a drift
// of the machine's speed falls on the three alike: run one after the
// other, a drift of a few seconds moved the overhead by five points
// either way. --rounds starts three new servers per round and prints
// each one's medians. The overheads are the medians of each round's own
// (a server against the first of the same round, which read beside it):
// the speed of the machine moves from round to round, and a ratio of
// medians from different rounds carries that move.

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
		rows, err := securityRound(ctx, cfg, stderr)
		if err != nil {
			return err
		}
		for i, row := range rows {
			if cfg.Rounds > 1 {
				fmt.Fprintf(stderr, "round %d, %s: %.0f reads/s, %s of CPU per read\n", round+1, securitySetups[i].name, row.phase.PerSecond(), row.cpuPerRead.Round(100*time.Nanosecond))
			}
			runs[i] = append(runs[i], row)
		}
	}
	fmt.Fprintf(stdout, "TeleHub bench --security: reads (GET Observation/id), %d clients, %s each (interleaved), embedded servers", cfg.Concurrency, cfg.Duration)
	if cfg.Rounds > 1 {
		fmt.Fprintf(stdout, ", medians of %d rounds", cfg.Rounds)
	}
	fmt.Fprint(stdout, "\n\n")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "server\treads/s\tp50\tp99\toverhead\tCPU/read\tCPU overhead\terrors")
	for i, rounds := range runs {
		r := medianRow(rounds)
		overhead, cpuOverhead, cpu := "-", "-", "-"
		if i > 0 {
			overhead, cpuOverhead = pairedOverheads(runs[0], rounds)
		}
		if r.cpuPerRead > 0 {
			cpu = r.cpuPerRead.Round(100 * time.Nanosecond).String()
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\n", securitySetups[i].name, r.phase.PerSecond(), r.phase.P50.Round(10e3), r.phase.P99.Round(10e3),
			overhead, cpu, cpuOverhead, r.phase.Errors)
	}
	return tw.Flush()
}

// pairedOverheads returns the median over the rounds of a server's
// overhead against the base server of the same round, in reads/s and in
// CPU per read ("-" when no round tells).
func pairedOverheads(base, rows []securityRow) (reads, cpu string) {
	var rate, perRead []float64
	for round, r := range rows {
		b := base[round]
		if b.phase.PerSecond() > 0 {
			rate = append(rate, 1-r.phase.PerSecond()/b.phase.PerSecond())
		}
		if b.cpuPerRead > 0 && r.cpuPerRead > 0 {
			perRead = append(perRead, float64(r.cpuPerRead)/float64(b.cpuPerRead)-1)
		}
	}
	return medianPercent(rate), medianPercent(perRead)
}

func medianPercent(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	slices.Sort(xs)
	return fmt.Sprintf("%.0f%%", 100*xs[len(xs)/2])
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

// contender is one of the servers of a round.
type contender struct {
	setup   securitySetup
	srv     *server
	session *bench.Session
	labeled context.Context // carries the profiler label of its server
	cpu     time.Duration   // the process's CPU time during its reads
}

// securitySlice is how long one server reads before the next one does.
const securitySlice = time.Second

// securityRound starts the three servers, loads a few resources into each,
// then interleaves their read phases, and returns their rows in the order
// of securitySetups.
//
// Everything a server runs carries the profiler label "server" (the
// setup's name), its load generator's slices included, so that a
// --cpuprofile can be split with go tool pprof -tagfocus.
func securityRound(ctx context.Context, cfg benchConfig, stderr io.Writer) ([]securityRow, error) {
	defer pprof.SetGoroutineLabels(ctx)
	contenders := make([]*contender, len(securitySetups))
	for i, setup := range securitySetups {
		c, cleanup, err := startContender(ctx, cfg, setup, stderr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", setup.name, err)
		}
		defer cleanup()
		contenders[i] = c
	}
	slice := min(securitySlice, cfg.Duration)
	for i := range max(1, int(cfg.Duration/slice)) {
		for k := range contenders {
			c := contenders[(i+k)%len(contenders)]
			if err := c.read(ctx, slice); err != nil {
				return nil, fmt.Errorf("%s: %w", c.setup.name, err)
			}
		}
	}
	rows := make([]securityRow, len(contenders))
	for i, c := range contenders {
		phase, ok := c.session.Total("read")
		if !ok {
			return nil, fmt.Errorf("%s: no read phase in the run", c.setup.name)
		}
		rows[i] = securityRow{phase: phase}
		if c.cpu > 0 && phase.Resources > 0 {
			rows[i].cpuPerRead = c.cpu / time.Duration(phase.Resources)
		}
	}
	return rows, nil
}

// startContender starts the server of setup and loads its resources.
func startContender(ctx context.Context, cfg benchConfig, setup securitySetup, stderr io.Writer) (*contender, func(), error) {
	labeled := pprof.WithLabels(ctx, pprof.Labels("server", setup.name))
	pprof.SetGoroutineLabels(labeled)
	srv, cleanup, err := startEmbedded(labeled, setup.embedding, stderr)
	if err != nil {
		return nil, nil, err
	}
	run := bench.Config{URL: srv.baseURL, Concurrency: cfg.Concurrency, BundleSize: cfg.BundleSize, MaxRequests: cfg.Requests}
	if setup.tokens {
		if run.Token, err = srv.systemToken(labeled, "system/*.cruds"); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	session, err := bench.Open(labeled, run)
	if err == nil {
		_, err = session.Phase(labeled, "create", cfg.Duration)
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return &contender{setup: setup, srv: srv, session: session, labeled: labeled}, cleanup, nil
}

// read runs one slice of the server's read phase and adds the process's
// CPU time over it to the server's, with the indexing of the slice's
// events (part of what the reads cost).
func (c *contender) read(ctx context.Context, d time.Duration) error {
	pprof.SetGoroutineLabels(c.labeled)
	defer pprof.SetGoroutineLabels(ctx)
	start, _ := processCPU()
	if _, err := c.session.Phase(c.labeled, "read", d); err != nil {
		return err
	}
	if c.srv.auditor != nil {
		if err := c.srv.auditor.Sync(c.labeled); err != nil {
			return err
		}
	}
	if end, ok := processCPU(); ok {
		c.cpu += end - start
	}
	return nil
}

// processCPU is the CPU time (user and system) the process has used so
// far, and false where the system does not tell it.
var processCPU = cputime.Process
