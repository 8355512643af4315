package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/bench"
)

// The cost of security: `telehub bench --security` reads the same way from
// three embedded servers, each on a fresh data directory: without token
// checks and without audit (the FHIR path alone), with token checks, and
// as `telehub serve` runs (token checks and an AuditEvent per read), and
// prints the overhead of each against the first.

// securitySetup is one of the three servers.
type securitySetup struct {
	name           string
	tokens, audits bool
}

var securitySetups = []securitySetup{
	{"no token check, no audit", false, false},
	{"token check", true, false},
	{"token check and audit (as served)", true, true},
}

// discardAudit records nothing: the baseline of the comparison, and never
// a configuration `telehub serve` can be given.
type discardAudit struct{}

func (discardAudit) Record(context.Context, audit.Event) error { return nil }

func benchmarkSecurity(ctx context.Context, cfg benchConfig, stdout, stderr io.Writer) error {
	var rows []bench.Phase
	for _, setup := range securitySetups {
		phase, err := securityRun(ctx, cfg, setup, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", setup.name, err)
		}
		rows = append(rows, phase)
	}
	fmt.Fprintf(stdout, "TeleHub bench --security: reads (GET Observation/id), %d clients, %s each, embedded server\n\n", cfg.Concurrency, cfg.Duration)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "server\treads/s\tp50\tp99\toverhead\terrors")
	base := rows[0].PerSecond()
	for i, p := range rows {
		overhead := "-"
		if i > 0 && base > 0 {
			overhead = fmt.Sprintf("%.0f%%", 100*(1-p.PerSecond()/base))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%d\n", securitySetups[i].name, p.PerSecond(), p.P50.Round(10e3), p.P99.Round(10e3), overhead, p.Errors)
	}
	return tw.Flush()
}

// securityRun loads a few resources, then runs the read phase, on a server
// of setup.
func securityRun(ctx context.Context, cfg benchConfig, setup securitySetup, stderr io.Writer) (bench.Phase, error) {
	dir, err := os.MkdirTemp("", "telehub-bench-")
	if err != nil {
		return bench.Phase{}, err
	}
	defer os.RemoveAll(dir)
	args := []string{"--addr", "127.0.0.1:0", "--data", dir, "--log-level", "warn"}
	if !setup.tokens {
		args = append(args, "--insecure-no-auth")
	}
	scfg, err := parseServeConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		return bench.Phase{}, err
	}
	scfg.withoutAudit = !setup.audits
	srv, shutdown, err := startBenchServer(ctx, scfg, stderr)
	if err != nil {
		return bench.Phase{}, err
	}
	defer shutdown()
	run := bench.Config{URL: srv.baseURL, Duration: cfg.Duration, Concurrency: cfg.Concurrency, BundleSize: cfg.BundleSize,
		Phases: []string{"create", "read"}, MaxRequests: cfg.Requests}
	if setup.tokens {
		if run.Token, err = srv.systemToken(ctx, "system/*.cruds"); err != nil {
			return bench.Phase{}, err
		}
	}
	res, err := bench.Run(ctx, run)
	if err != nil {
		return bench.Phase{}, err
	}
	for _, p := range res.Phases {
		if strings.HasPrefix(p.Name, "read") {
			return p, nil
		}
	}
	return bench.Phase{}, fmt.Errorf("no read phase in the run")
}
