package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/telehub/telehub/bench"
)

type benchConfig struct {
	URL         string
	Duration    time.Duration
	Concurrency int
	BundleSize  int
	Requests    int
	CPUProfile  string
}

func parseBenchConfig(args []string, output io.Writer) (benchConfig, error) {
	var cfg benchConfig
	fs := flag.NewFlagSet("telehub bench", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.URL, "url", "",
		"FHIR base `URL` of a running server, e.g. http://localhost:8080/fhir (default: start an embedded server on a temporary data directory)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each phase runs")
	fs.IntVar(&cfg.Concurrency, "concurrency", 16, "clients of the concurrent phases")
	fs.IntVar(&cfg.BundleSize, "bundle-size", 100, "entries per transaction Bundle")
	fs.IntVar(&cfg.Requests, "requests", 0, "if positive, also bound each client of each phase to this many requests")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "",
		"write a CPU profile of the run (embedded server and load generator) to this `file`, for go tool pprof")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: telehub bench [flags]\n\n"+
			"Drives a FHIR server over HTTP: creates (1 and N clients), transaction Bundles (1 and N clients),\n"+
			"reads (N clients), and prints throughput, latency and the server's peak memory.\n"+
			"Without --url the load generator and the server share the machine, and so its CPUs.\n\nFlags:\n")
		printFlags(fs, nil)
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.Duration <= 0 || cfg.Concurrency <= 0 || cfg.BundleSize <= 0 {
		return cfg, errors.New("--duration, --concurrency and --bundle-size must be positive")
	}
	if cfg.CPUProfile != "" && cfg.URL != "" {
		return cfg, errors.New("--cpuprofile profiles the embedded server: it cannot be used with --url")
	}
	return cfg, nil
}

// runBench is `telehub bench`.
func runBench(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseBenchConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "telehub bench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := benchmark(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "telehub bench: %v\n", err)
		return 1
	}
	return 0
}

func benchmark(ctx context.Context, cfg benchConfig, stdout, stderr io.Writer) error {
	run := bench.Config{
		URL:         cfg.URL,
		Duration:    cfg.Duration,
		Concurrency: cfg.Concurrency,
		BundleSize:  cfg.BundleSize,
		MaxRequests: cfg.Requests,
	}
	if cfg.URL == "" {
		srv, cleanup, err := startEmbedded(ctx, stderr)
		if err != nil {
			return err
		}
		defer cleanup()
		run.URL = srv.baseURL
		run.Memory = bench.SelfPeakRSS
		fmt.Fprintf(stderr, "embedded server (SQLite on a temporary data directory) at %s\n", srv.baseURL)
	}
	if cfg.CPUProfile != "" {
		stopProfile, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	res, err := bench.Run(ctx, run)
	if err != nil {
		return err
	}
	return res.WriteTable(stdout)
}

// startEmbedded starts a server on a loopback port and a temporary data
// directory; cleanup shuts it down and removes the directory. It logs only
// warnings, so that logging does not weigh on the figures.
func startEmbedded(ctx context.Context, stderr io.Writer) (*server, func(), error) {
	dir, err := os.MkdirTemp("", "telehub-bench-")
	if err != nil {
		return nil, nil, fmt.Errorf("temporary data directory: %w", err)
	}
	cfg, err := parseServeConfig([]string{"--addr", "127.0.0.1:0", "--data", dir, "--log-level", "warn"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := startServer(ctx, cfg, logger)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	cleanup := func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := srv.shutdown(shutdownCtx); err != nil {
			fmt.Fprintf(stderr, "embedded server shutdown: %v\n", err)
		}
		os.RemoveAll(dir)
	}
	return srv, cleanup, nil
}

// startCPUProfile profiles the process into path until the returned function runs.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
