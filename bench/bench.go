// Package bench is the load generator behind `telehub bench`: it drives a
// running FHIR server over real HTTP through single creates, transaction
// Bundles and reads, and reports throughput, latency and the server's peak
// memory as a table.
package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Config says what to drive and how hard.
type Config struct {
	// URL is the FHIR base, e.g. "http://127.0.0.1:8080/fhir".
	URL string
	// Duration bounds each phase. Default 10s.
	Duration time.Duration
	// Concurrency is the number of clients of the concurrent phases. Default 16.
	Concurrency int
	// BundleSize is the number of entries of each transaction Bundle. Default 100.
	BundleSize int
	// MaxRequests, when positive, also bounds each worker of each phase.
	MaxRequests int
	// Memory reports the server's peak memory so far; it is sampled during the
	// run and at its end. Nil reads process_resident_memory_bytes from the
	// server's /metrics (see RemoteRSS).
	Memory MemoryProbe
	// Token, when set, is sent as a Bearer access token with every request
	// (a server that checks tokens needs one allowing system/Observation.cr
	// and system/Patient.c).
	Token string
	// Client overrides the HTTP client (nil: one sized for Concurrency).
	Client *http.Client
	// Phases, when not empty, keeps only the phases of these kinds: "create",
	// "transaction" and "read" (the read phase reads the Observations the
	// others created, so it needs one of them).
	Phases []string
}

// PhaseKinds are the kinds of phase Config.Phases selects from.
var PhaseKinds = []string{"create", "transaction", "read"}

// MemoryProbe reports the server's peak memory in bytes so far, and names the
// figure ("VmHWM", "process_resident_memory_bytes", …).
type MemoryProbe func(ctx context.Context) (bytes uint64, source string, err error)

func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, errors.New("bench: no server URL")
	}
	c.URL = strings.TrimRight(c.URL, "/")
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.BundleSize <= 0 {
		c.BundleSize = 100
	}
	for _, p := range c.Phases {
		if !slices.Contains(PhaseKinds, p) {
			return c, fmt.Errorf("bench: unknown phase %q (known: %s)", p, strings.Join(PhaseKinds, ", "))
		}
	}
	if c.Client == nil {
		c.Client = NewClient(c.Concurrency)
	}
	if c.Memory == nil {
		metricsURL, err := MetricsURL(c.URL)
		if err != nil {
			return c, err
		}
		c.Memory = RemoteRSS(c.Client, metricsURL)
	}
	return c, nil
}

// NewClient returns an HTTP client that keeps a connection per concurrent
// client alive, so that the figures measure the server, not TCP handshakes.
func NewClient(concurrency int) *http.Client {
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * concurrency,
		MaxIdleConnsPerHost: 2 * concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: transport, Timeout: time.Minute}
}

// Run drives the server through every phase, one after the other, and
// returns their figures. It fails when the server cannot be set up for the
// run or a phase has no successful request at all.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := newRunner(cfg)
	res := &Result{URL: cfg.URL, Duration: cfg.Duration}

	sampler := startMemorySampler(ctx, cfg.Memory)
	defer sampler.stop()

	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	for _, p := range r.phases() {
		phase, err := r.run(ctx, p)
		if err != nil {
			return nil, err
		}
		res.Phases = append(res.Phases, phase)
	}
	res.PeakMemory, res.MemorySource, res.MemoryErr = sampler.stop()
	return res, nil
}
