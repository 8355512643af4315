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
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
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
	Phases      string
	Token       string
	Security    bool
	Rounds      int
	NoAudit     bool
}

func parseBenchConfig(args []string, env func(string) string, output io.Writer) (benchConfig, error) {
	var cfg benchConfig
	fs := flag.NewFlagSet("telehub bench", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.URL, "url", "",
		"FHIR base `URL` of a running server, e.g. http://localhost:8080/fhir (default: start an embedded server on a temporary data directory)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each phase runs")
	fs.IntVar(&cfg.Concurrency, "concurrency", 16, "clients of the concurrent phases")
	fs.IntVar(&cfg.BundleSize, "bundle-size", 100, "entries per transaction Bundle")
	fs.IntVar(&cfg.Requests, "requests", 0, "if positive, also bound each client of each phase to this many requests")
	benchTokenFlag(fs, &cfg.Token)
	fs.StringVar(&cfg.Phases, "phases", "",
		"comma-separated `kinds` of phase to run: create, transaction, read (default: all; read needs create or transaction)")
	fs.BoolVar(&cfg.Security, "security", false,
		"measure the cost of security: reads from embedded servers without token checks nor audit, with token checks,\n"+
			"and with both (as served), and print the overhead of each")
	fs.IntVar(&cfg.Rounds, "rounds", 1,
		"with --security, run the three servers this many times, one after the other in turn, and print each one's median:\n"+
			"the machine's drift then falls on all three")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", cpuProfileUsage)
	fs.BoolVar(&cfg.NoAudit, "no-audit", false, noAuditUsage)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: telehub bench [flags]\n       telehub bench search [flags]   (search latency on a synthetic population: see its -h)\n"+
			"       telehub bench dicom [flags]    (DICOMweb beside Orthanc: see its -h)\n\n"+
			"Drives a FHIR server over HTTP: creates (1 and N clients), transaction Bundles (1 and N clients),\n"+
			"reads (N clients), and prints throughput, latency and the server's peak memory.\n"+
			"Without --url the load generator and the server share the machine, and so its CPUs.\n\nFlags:\n")
		printFlags(fs, benchTokenEnv)
	}
	if err := parseWithEnv(fs, args, benchTokenEnv, env); err != nil {
		return cfg, err
	}
	if cfg.Duration <= 0 || cfg.Concurrency <= 0 || cfg.BundleSize <= 0 {
		return cfg, errors.New("--duration, --concurrency and --bundle-size must be positive")
	}
	if cfg.Phases != "" {
		for _, p := range strings.Split(cfg.Phases, ",") {
			if !slices.Contains(bench.PhaseKinds, p) {
				return cfg, fmt.Errorf("unknown phase %q in --phases (known: %s)", p, strings.Join(bench.PhaseKinds, ", "))
			}
		}
	}
	if cfg.Rounds < 1 || cfg.Rounds > 1 && !cfg.Security {
		return cfg, errors.New("--rounds is a positive number of rounds of --security")
	}
	if cfg.Security && cfg.URL != "" {
		return cfg, errors.New("--security starts its own embedded servers: it cannot be used with --url")
	}
	if cfg.CPUProfile != "" && cfg.URL != "" {
		return cfg, errors.New("--cpuprofile profiles the embedded server: it cannot be used with --url")
	}
	if cfg.NoAudit && (cfg.URL != "" || cfg.Security) {
		return cfg, errors.New("--no-audit is for the embedded server of the FHIR API phases: it cannot be used with --url or --security")
	}
	return cfg, nil
}

// cpuProfileUsage describes --cpuprofile.
const cpuProfileUsage = "write a CPU profile of the run (embedded server and load generator) to this `file`, for go tool pprof"

// noAuditUsage describes --no-audit, a measuring aid: the figures as served
// are those with the audit trail.
const noAuditUsage = "run the embedded server without its audit trail, to tell the cost of the audit trail from the rest\n" +
	"(the figures as served are those without this flag)"

// runBench is `telehub bench`, `telehub bench search` (see
// benchmarkSearch) and `telehub bench dicom` (see benchmarkDICOM).
func runBench(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "search" {
		return runBenchCommand(ctx, "telehub bench search", args[1:], env, stderr, parseBenchSearchConfig,
			func(ctx context.Context, cfg benchSearchConfig) error {
				return benchmarkSearch(ctx, cfg, stdout, stderr)
			})
	}
	if len(args) > 0 && args[0] == "dicom" {
		return runBenchCommand(ctx, "telehub bench dicom", args[1:], env, stderr, parseBenchDICOMConfig,
			func(ctx context.Context, cfg benchDICOMConfig) error { return benchmarkDICOM(ctx, cfg, stdout, stderr) })
	}
	return runBenchCommand(ctx, "telehub bench", args, env, stderr, parseBenchConfig,
		func(ctx context.Context, cfg benchConfig) error { return benchmark(ctx, cfg, stdout, stderr) })
}

// benchTokenEnv: each bench command's --token may come from the environment.
var benchTokenEnv = []envFlag{{"token", "TELEHUB_BENCH_TOKEN"}}

// benchTokenFlag declares a bench command's --token.
func benchTokenFlag(fs *flag.FlagSet, token *string) {
	fs.StringVar(token, "token", "",
		"Bearer access `token` sent with every request to --url, e.g. from client_credentials with system/*.cruds")
}

// runBenchCommand parses a bench command's flags (-h exits 0, a bad flag
// 2) and runs it until it ends or is interrupted (a failure exits 1).
func runBenchCommand[C any](ctx context.Context, name string, args []string, env func(string) string, stderr io.Writer,
	parse func([]string, func(string) string, io.Writer) (C, error), run func(context.Context, C) error) int {
	cfg, err := parse(args, env, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

func benchmark(ctx context.Context, cfg benchConfig, stdout, stderr io.Writer) error {
	if cfg.Security {
		if cfg.CPUProfile != "" {
			stopProfile, err := startCPUProfile(cfg.CPUProfile)
			if err != nil {
				return err
			}
			defer stopProfile()
		}
		return benchmarkSecurity(ctx, cfg, stdout, stderr)
	}
	run := bench.Config{
		URL:         cfg.URL,
		Duration:    cfg.Duration,
		Concurrency: cfg.Concurrency,
		BundleSize:  cfg.BundleSize,
		MaxRequests: cfg.Requests,
		Token:       cfg.Token,
	}
	if cfg.Phases != "" {
		run.Phases = strings.Split(cfg.Phases, ",")
	}
	if cfg.URL == "" {
		// The load generator holds no token, so the server checks none:
		// the figures are those of the FHIR path itself.
		srv, cleanup, err := startEmbedded(ctx, embedding{audits: !cfg.NoAudit}, stderr)
		if err != nil {
			return err
		}
		defer cleanup()
		run.URL = srv.baseURL
		run.Memory = bench.SelfMemory()
		fmt.Fprintf(stderr, "embedded server (SQLite on a temporary data directory) at %s\n", srv.baseURL)
	}
	if cfg.CPUProfile != "" {
		stopProfile, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	cpuStart, _ := processCPU()
	res, err := bench.Run(ctx, run)
	if err != nil {
		return err
	}
	if cfg.URL == "" {
		resources := 0
		for _, p := range res.Phases {
			resources += p.Resources
		}
		writeCPUPerResource(stderr, cpuStart, resources)
	}
	return res.WriteTable(stdout)
}

// writeCPUPerResource prints the process's CPU time since start (server and
// load generator) per resource written or read: on a shared machine, a
// steadier figure than resources/s.
func writeCPUPerResource(w io.Writer, start time.Duration, resources int) {
	end, ok := processCPU()
	if !ok || resources == 0 {
		return
	}
	cpu := end - start
	fmt.Fprintf(w, "process CPU time: %.1f s, %.0f µs per resource (server and load generator)\n",
		cpu.Seconds(), float64(cpu.Microseconds())/float64(resources))
}

// embedding says how an embedded server checks and records requests:
// tokens (without, --insecure-no-auth) and an AuditEvent per request
// (without, no audit trail). Both are how `telehub serve` runs.
type embedding struct{ tokens, audits bool }

// startEmbedded starts a server on a loopback port and a temporary data
// directory; cleanup shuts it down and removes the directory. It logs only
// warnings, so that logging does not weigh on the figures.
func startEmbedded(ctx context.Context, e embedding, stderr io.Writer) (*server, func(), error) {
	dir, err := os.MkdirTemp("", "telehub-bench-")
	if err != nil {
		return nil, nil, fmt.Errorf("temporary data directory: %w", err)
	}
	srv, shutdown, err := startEmbeddedOn(ctx, dir, e, stderr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return srv, func() { shutdown(); os.RemoveAll(dir) }, nil
}

// startEmbeddedOn starts a server on a loopback port and the data directory
// dir, which it leaves in place; shutdown stops the server.
func startEmbeddedOn(ctx context.Context, dir string, e embedding, stderr io.Writer) (*server, func(), error) {
	args := []string{"--addr", "127.0.0.1:0", "--data", dir, "--log-level", "warn"}
	if !e.tokens {
		args = append(args, "--insecure-no-auth")
	}
	cfg, err := parseServeConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		return nil, nil, err
	}
	cfg.withoutAudit = !e.audits
	return startBenchServer(ctx, cfg, stderr)
}

// startBenchServer starts a server of cfg; shutdown stops it.
func startBenchServer(ctx context.Context, cfg serveConfig, stderr io.Writer) (*server, func(), error) {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := startServer(ctx, cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	shutdown := func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := srv.shutdown(shutdownCtx); err != nil {
			fmt.Fprintf(stderr, "embedded server shutdown: %v\n", err)
		}
	}
	return srv, shutdown, nil
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

type benchSearchConfig struct {
	URL         string
	DataDir     string
	Keep        bool
	NoLoad      bool
	NoAudit     bool
	CPUProfile  string
	Population  bench.Population
	Duration    time.Duration
	Concurrency int
	Token       string
}

func parseBenchSearchConfig(args []string, env func(string) string, output io.Writer) (benchSearchConfig, error) {
	var cfg benchSearchConfig
	fs := flag.NewFlagSet("telehub bench search", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.URL, "url", "",
		"FHIR base `URL` of a running server (default: start an embedded server on --data)")
	benchTokenFlag(fs, &cfg.Token)
	fs.IntVar(&cfg.Population.Resources, "resources", 1_000_000, "size of the synthetic population, in resources")
	fs.Int64Var(&cfg.Population.Seed, "seed", 1, "random seed of the population")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each kind of query runs")
	fs.IntVar(&cfg.Concurrency, "concurrency", 4, "clients issuing queries at once")
	fs.StringVar(&cfg.DataDir, "data", "",
		"data `directory` of the embedded server, kept after the run (default: a temporary one, removed unless --keep)")
	fs.BoolVar(&cfg.Keep, "keep", false,
		"without --data, use and keep a data directory named for the seed and size in the temporary directory, so the next run skips the load")
	fs.BoolVar(&cfg.NoLoad, "no-load", false, "with --url, do not load: the server already holds the population")
	fs.BoolVar(&cfg.NoAudit, "no-audit", false, noAuditUsage)
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", cpuProfileUsage)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: telehub bench search [flags]\n\n"+
			"Loads a synthetic population (skipped when the data directory already holds it), then measures\n"+
			"p50/p99 latency and throughput of token, string prefix, date range, chained, _revinclude,\n"+
			"_sort with paging and _summary=count searches, and the server's peak memory.\n\nFlags:\n")
		printFlags(fs, benchTokenEnv)
	}
	if err := parseWithEnv(fs, args, benchTokenEnv, env); err != nil {
		return cfg, err
	}
	if cfg.Duration <= 0 || cfg.Concurrency <= 0 || cfg.Population.Resources <= 0 {
		return cfg, errors.New("--duration, --concurrency and --resources must be positive")
	}
	if cfg.URL != "" && (cfg.DataDir != "" || cfg.Keep) {
		return cfg, errors.New("--data and --keep are for the embedded server: they cannot be used with --url")
	}
	if cfg.URL == "" && cfg.NoLoad {
		return cfg, errors.New("--no-load is for a running server (--url); the embedded one detects a loaded --data")
	}
	if cfg.URL != "" && (cfg.NoAudit || cfg.CPUProfile != "") {
		return cfg, errors.New("--no-audit and --cpuprofile are for the embedded server: they cannot be used with --url")
	}
	return cfg, nil
}

func benchmarkSearch(ctx context.Context, cfg benchSearchConfig, stdout, stderr io.Writer) error {
	run := bench.SearchConfig{Config: bench.Config{URL: cfg.URL, Duration: cfg.Duration, Concurrency: cfg.Concurrency, Token: cfg.Token}}
	loaded := cfg.NoLoad
	dir := ""
	if cfg.URL == "" {
		var cleanup func()
		var err error
		dir, cleanup, err = searchDataDir(cfg)
		if err != nil {
			return err
		}
		defer cleanup()
		if loaded, err = alreadyLoaded(dir, cfg.Population); err != nil {
			return err
		}
		srv, shutdown, err := startEmbeddedOn(ctx, dir, embedding{audits: !cfg.NoAudit}, stderr)
		if err != nil {
			return err
		}
		defer shutdown()
		run.URL = srv.baseURL
		run.Memory = bench.SelfMemory()
		fmt.Fprintf(stderr, "embedded server (SQLite in %s) at %s\n", dir, srv.baseURL)
	}
	if cfg.CPUProfile != "" {
		stopProfile, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	if loaded {
		fmt.Fprintf(stdout, "population (seed %d, %d resources) already loaded: load skipped\n",
			cfg.Population.Seed, cfg.Population.Resources)
	} else if err := loadForSearch(ctx, run.URL, run.Token, dir, cfg.Population, stdout, stderr); err != nil {
		return err
	}
	res, err := bench.RunSearch(ctx, run)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	return res.WriteTable(stdout)
}

// searchDataDir chooses the embedded server's data directory: --data as
// given, a directory named for the population with --keep, or a temporary
// one that cleanup removes.
func searchDataDir(cfg benchSearchConfig) (dir string, cleanup func(), err error) {
	switch {
	case cfg.DataDir != "":
		return cfg.DataDir, func() {}, os.MkdirAll(cfg.DataDir, 0o750)
	case cfg.Keep:
		dir = filepath.Join(os.TempDir(),
			fmt.Sprintf("telehub-bench-search-%d-%d", cfg.Population.Seed, cfg.Population.Resources))
		return dir, func() {}, os.MkdirAll(dir, 0o750)
	}
	dir, err = os.MkdirTemp("", "telehub-bench-search-")
	if err != nil {
		return "", nil, fmt.Errorf("temporary data directory: %w", err)
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// alreadyLoaded reports whether dir holds p; a directory loaded with
// another population is refused rather than mixed with p.
func alreadyLoaded(dir string, p bench.Population) (bool, error) {
	got, ok, err := bench.LoadedPopulation(dir)
	switch {
	case err != nil:
		return false, err
	case !ok:
		return false, nil
	case got != p:
		return false, fmt.Errorf("%s holds another population (seed %d, %d resources): choose another --data",
			dir, got.Seed, got.Resources)
	}
	return true, nil
}

// loadForSearch loads p, reporting progress every tenth on stderr and the
// rate on stdout, and records the load in dir (if any) once complete.
func loadForSearch(ctx context.Context, url, token, dir string, p bench.Population, stdout, stderr io.Writer) error {
	fmt.Fprintf(stderr, "loading %d resources (seed %d) into %s\n", p.Resources, p.Seed, url)
	var tenths atomic.Int64
	start := time.Now()
	progress := func(done, total int64) {
		tenth := 10 * done / max(total, 1)
		if old := tenths.Load(); tenth > old && tenths.CompareAndSwap(old, tenth) {
			fmt.Fprintf(stderr, "  %3d%%  %d resources  %.0f s\n", 10*tenth, done, time.Since(start).Seconds())
		}
	}
	cpuStart, _ := processCPU()
	summary, err := bench.LoadPopulation(ctx, url, token, p, progress)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loaded %d resources in %.1f s: %.0f resources/s (%s Bundles)\n",
		summary.Resources, summary.Elapsed.Seconds(), summary.Rate(), summary.Mode)
	if dir != "" { // an embedded server: the process's CPU time is the server's
		writeCPUPerResource(stderr, cpuStart, int(summary.Resources))
	}
	if dir == "" {
		return nil
	}
	return bench.MarkLoaded(dir, p)
}
