package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/bench"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/ops"
	"github.com/telehub/telehub/store/sqlite"
)

// startServer runs a real TeleHub HTTP stack (SQLite store, FHIR API and
// the operational endpoints) on a loopback port and returns its FHIR base.
func startServer(t *testing.T, withFHIR bool) string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bench.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String() + "/fhir"
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	e := echo.New()
	o, err := ops.New(ops.Options{Logger: logger, Ready: st, InteractionKey: fhir.InteractionKey})
	if err != nil {
		t.Fatal(err)
	}
	o.Register(e)
	if withFHIR {
		api, err := fhir.New(fhir.Options{Store: st, BaseURL: base, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		api.Mount(e)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: e}}
	srv.Start()
	t.Cleanup(srv.Close)
	return base
}

func TestRunReportsEveryPhase(t *testing.T) {
	t.Parallel()
	base := startServer(t, true)
	res, err := bench.Run(context.Background(), bench.Config{
		URL:         base,
		Duration:    time.Second,
		Concurrency: 4,
		BundleSize:  10,
		MaxRequests: 15,
	})
	if err != nil {
		t.Fatal(err)
	}
	wantPhases := []struct {
		name    string
		clients int
	}{
		{"create (POST Observation)", 1},
		{"create (POST Observation)", 4},
		{"transaction (10-entry Bundle)", 1},
		{"transaction (10-entry Bundle)", 4},
		{"read (GET Observation/id)", 4},
	}
	if len(res.Phases) != len(wantPhases) {
		t.Fatalf("got %d phases, want %d: %+v", len(res.Phases), len(wantPhases), res.Phases)
	}
	for i, want := range wantPhases {
		p := res.Phases[i]
		if p.Name != want.name || p.Clients != want.clients {
			t.Errorf("phase %d: %s with %d clients, want %s with %d", i, p.Name, p.Clients, want.name, want.clients)
		}
		if p.Requests == 0 || p.Resources == 0 || p.Errors != 0 || p.PerSecond() <= 0 || p.P99 < p.P50 {
			t.Errorf("phase %d (%s, %d clients): %+v", i, p.Name, p.Clients, p)
		}
	}
	if tx := res.Phases[2]; tx.Resources != 10*tx.Requests {
		t.Errorf("transaction phase: %d resources from %d Bundles of 10", tx.Resources, tx.Requests)
	}
	if res.PeakMemory == 0 || !strings.Contains(res.MemorySource, "process_resident_memory_bytes") {
		t.Errorf("memory: %d bytes from %q (%v)", res.PeakMemory, res.MemorySource, res.MemoryErr)
	}

	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"phase", "resources/s", "p99", "create (POST Observation)",
		"transaction (10-entry Bundle)", "read (GET Observation/id)", "server peak memory:"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	t.Logf("\n%s", table.String())
}

func TestRunFailsClearly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{"no FHIR API behind the URL", startServer(t, false), "HTTP 404"},
		{"nothing listening", "http://127.0.0.1:1/fhir", "connection refused"},
		{"no URL", "", "no server URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := bench.Run(context.Background(), bench.Config{URL: tt.url, Duration: time.Second})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestMetricsURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ base, want string }{
		{"http://localhost:8080/fhir", "http://localhost:8080/metrics"},
		{"http://localhost:8080/fhir/", "http://localhost:8080/metrics"},
		{"https://hub.example.org/telehub/fhir", "https://hub.example.org/telehub/metrics"},
		{"http://localhost:8080", "http://localhost:8080/metrics"},
	}
	for _, tt := range tests {
		got, err := bench.MetricsURL(tt.base)
		if err != nil || got != tt.want {
			t.Errorf("MetricsURL(%q) = %q, %v; want %q", tt.base, got, err, tt.want)
		}
	}
	if _, err := bench.MetricsURL("localhost:8080/fhir"); err == nil {
		t.Error("a URL without scheme and host was accepted")
	}
}

func TestSelfMemory(t *testing.T) {
	t.Parallel()
	probe := bench.SelfMemory()
	first, _, err := probe(context.Background())
	if err != nil || first == 0 {
		t.Fatalf("SelfMemory = %d, %v", first, err)
	}
	second, source, err := probe(context.Background())
	if err != nil || second < first || !strings.Contains(source, "anonymous") || !strings.Contains(source, "file-backed") {
		t.Errorf("SelfMemory after %d = %d, %q, %v; want a peak that never falls, and its parts", first, second, source, err)
	}
}

// TestRunSelectedPhases checks that Config.Phases keeps only the phases of
// the kinds it names, and refuses a kind it does not know.
func TestRunSelectedPhases(t *testing.T) {
	t.Parallel()
	base := startServer(t, true)
	cfg := bench.Config{URL: base, Duration: time.Second, Concurrency: 2, BundleSize: 5, MaxRequests: 3,
		Phases: []string{"transaction", "read"}}
	res, err := bench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range res.Phases {
		names = append(names, p.Name)
		if p.Errors != 0 || p.Requests == 0 {
			t.Errorf("phase %s: %+v", p.Name, p)
		}
	}
	want := "[transaction (5-entry Bundle) transaction (5-entry Bundle) read (GET Observation/id)]"
	if got := fmt.Sprint(names); got != want {
		t.Errorf("phases %s, want %s", got, want)
	}
	cfg.Phases = []string{"transactions"}
	if _, err := bench.Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "unknown phase") {
		t.Errorf("unknown phase kind: err = %v", err)
	}
}

// TestSessionSlices runs a session's phases in slices, as the security
// benchmark interleaves servers: the reads read what the session created,
// and Total adds the slices up.
func TestSessionSlices(t *testing.T) {
	t.Parallel()
	base := startServer(t, true)
	ctx := context.Background()
	s, err := bench.Open(ctx, bench.Config{URL: base, Concurrency: 2, MaxRequests: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Phase(ctx, "read", 100*time.Millisecond); err == nil {
		t.Error("a read before any create succeeded")
	}
	if _, err := s.Phase(ctx, "create", time.Second); err != nil {
		t.Fatal(err)
	}
	var sum bench.Phase
	for range 3 {
		p, err := s.Phase(ctx, "read", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if p.Requests == 0 || p.Errors != 0 {
			t.Fatalf("a read slice: %+v", p)
		}
		sum.Requests += p.Requests
		sum.Resources += p.Resources
		sum.Elapsed += p.Elapsed
	}
	total, ok := s.Total("read")
	if !ok || total.Requests != sum.Requests || total.Resources != sum.Resources || total.Elapsed != sum.Elapsed || total.Errors != 0 || total.P99 < total.P50 || total.P50 <= 0 {
		t.Errorf("read total %+v (%v), the slices add up to %+v", total, ok, sum)
	}
	if _, err := s.Phase(ctx, "nope", time.Second); err == nil {
		t.Error("a phase of an unknown kind ran")
	}
}
