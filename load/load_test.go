package load_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/load"
	"github.com/telehub/telehub/population"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
)

// noTransactions is the SQLite store with multi-resource transactions
// turned off, the situation of a MongoDB standalone server.
type noTransactions struct{ store.Store }

func (noTransactions) SupportsTransactions() bool { return false }

type serverOptions struct {
	transactions bool
	// front, when set, sees every request before the FHIR server does.
	front func(w http.ResponseWriter, r *http.Request) bool
}

// startServer runs the real FHIR API over a SQLite store on a loopback
// port and returns its base URL.
func startServer(t testing.TB, opts serverOptions) string {
	t.Helper()
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "load.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	var st store.Store = sq
	if !opts.transactions {
		st = noTransactions{sq}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String() + "/fhir"
	api, err := fhir.New(fhir.Options{Store: st, BaseURL: base, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	api.Mount(e)
	var handler http.Handler = e
	if opts.front != nil {
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !opts.front(w, r) {
				e.ServeHTTP(w, r)
			}
		})
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: handler}}
	srv.Start()
	t.Cleanup(srv.Close)
	return base
}

// countOf asks the server how many resources match a search ("Patient",
// "Patient?name=dup").
func countOf(t *testing.T, base, search string) int {
	t.Helper()
	sep := "?"
	if strings.Contains(search, "?") {
		sep = "&"
	}
	res, err := http.Get(base + "/" + search + sep + "_summary=count")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var bundle struct{ Total int }
	if err := json.NewDecoder(res.Body).Decode(&bundle); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("count %s: HTTP %d, %v", search, res.StatusCode, err)
	}
	return bundle.Total
}

func typeCounts(g *population.Generator) map[string]int {
	counts := map[string]int{}
	for r := range g.Resources() {
		counts[r.Type]++
	}
	return counts
}

func TestLoadIntoServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		transactions bool
		wantMode     string
	}{
		{"transactions", true, "transaction"},
		{"server refusing transactions", false, "batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := startServer(t, serverOptions{transactions: tt.transactions})
			g := population.New(42, population.Options{Patients: 12})
			var progressCalls atomic.Int64
			cfg := load.Config{URL: base, Batch: 40, Concurrency: 3, Progress: func(int64) { progressCalls.Add(1) }}
			// Twice: loading is idempotent, the same ids are updated.
			for round := 1; round <= 2; round++ {
				summary, err := load.Run(context.Background(), cfg, g.Resources())
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if summary.Resources != int64(g.Total()) || summary.Mode != tt.wantMode {
					t.Errorf("round %d: loaded %d resources in %s mode, want %d in %s mode",
						round, summary.Resources, summary.Mode, g.Total(), tt.wantMode)
				}
			}
			for typ, want := range typeCounts(g) {
				if got := countOf(t, base, typ); got != want {
					t.Errorf("server holds %d %s, want %d", got, typ, want)
				}
			}
			if progressCalls.Load() == 0 {
				t.Error("progress was never reported")
			}
		})
	}
}

// TestStopsOnClientError loads a stream with an invalid resource: the load
// stops with the server's OperationOutcome.
func TestStopsOnClientError(t *testing.T) {
	t.Parallel()
	base := startServer(t, serverOptions{transactions: true})
	bad := population.Resource{Type: "Patient", ID: "bad", JSON: []byte(`{"resourceType":"Patient","id":"bad","gender":"robot"}`)}
	stream := func(yield func(population.Resource) bool) {
		for r := range population.New(1, population.Options{Patients: 2}).Resources() {
			if !yield(r) {
				return
			}
		}
		yield(bad)
	}
	_, err := load.Run(context.Background(), load.Config{URL: base, Batch: 10, Concurrency: 2}, stream)
	var se *load.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a ServerError", err)
	}
	if se.Status < 400 || se.Status >= 500 || !bytes.Contains(se.Outcome, []byte("OperationOutcome")) {
		t.Errorf("status %d, outcome %s; want a 4xx with an OperationOutcome", se.Status, se.Outcome)
	}
	if !strings.Contains(err.Error(), "gender") {
		t.Errorf("error %q does not say what is wrong", err)
	}
}

// TestRetries puts a front in front of the server that answers 503 or 429
// to some requests: the load still completes.
func TestRetries(t *testing.T) {
	t.Parallel()
	var requests, refused atomic.Int64
	front := func(w http.ResponseWriter, r *http.Request) bool {
		n := requests.Add(1)
		switch n % 3 {
		case 1:
			refused.Add(1)
			http.Error(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient","diagnostics":"busy"}]}`, http.StatusServiceUnavailable)
			return true
		case 2:
			if n < 6 {
				refused.Add(1)
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
		}
		return false
	}
	base := startServer(t, serverOptions{transactions: true, front: front})
	g := population.New(3, population.Options{Resources: 200})
	summary, err := load.Run(context.Background(), load.Config{URL: base, Batch: 50, Concurrency: 2, RetryWait: 1}, g.Resources())
	if err != nil {
		t.Fatal(err)
	}
	if summary.Resources != 200 || refused.Load() == 0 {
		t.Errorf("loaded %d resources with %d refusals, want 200 and some refusals", summary.Resources, refused.Load())
	}
	if got := countOf(t, base, "Patient"); got != typeCounts(g)["Patient"] {
		t.Errorf("server holds %d patients, want %d", got, typeCounts(g)["Patient"])
	}
}

func TestGivesUpOnPersistentFailure(t *testing.T) {
	t.Parallel()
	front := func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusBadGateway)
		return true
	}
	base := startServer(t, serverOptions{front: front})
	_, err := load.Run(context.Background(), load.Config{URL: base, Retries: 3, RetryWait: 1},
		population.New(1, population.Options{Resources: 10}).Resources())
	var se *load.ServerError
	if !errors.As(err, &se) || se.Status != http.StatusBadGateway || !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("err = %v, want a 502 after 3 attempts", err)
	}
}

func TestCommand(t *testing.T) {
	t.Parallel()
	base := startServer(t, serverOptions{transactions: true})
	tests := []struct {
		name       string
		args       []string
		wantErr    bool
		wantStdout string
		wantStderr string
	}{
		{
			name:       "load by resource count",
			args:       []string{"--url", base, "--seed", "5", "--resources", "300", "--batch", "100", "--concurrency", "2"},
			wantStdout: "loaded 300 of 300 resources",
			wantStderr: "300/300 100.0%",
		},
		{
			name:       "load by patients",
			args:       []string{"-url", base, "-patients", "3"},
			wantStdout: "(transaction Bundles of 500, 8 workers)",
		},
		{name: "help", args: []string{"-h"}, wantErr: true, wantStderr: "-resources"},
		{name: "stray argument", args: []string{"--url", base, "now"}, wantErr: true},
		{name: "bad batch", args: []string{"--batch", "0"}, wantErr: true},
		{name: "bad URL", args: []string{"--url", "localhost:1", "--resources", "5"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := load.Command(context.Background(), tt.args, &stdout, &stderr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v\nstderr: %s", err, tt.wantErr, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantStderr)
			}
			if strings.Contains(stderr.String(), "\r") {
				t.Errorf("stderr is not a terminal but got a redrawn bar: %q", stderr.String())
			}
		})
	}
	var stderr bytes.Buffer
	if err := load.Command(context.Background(), []string{"-h"}, io.Discard, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want flag.ErrHelp", err)
	}
}

// TestCommandPrintsOutcome checks that a refused load shows the server's
// OperationOutcome.
func TestCommandPrintsOutcome(t *testing.T) {
	t.Parallel()
	front := func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","diagnostics":"scope user/*.write required"}]}`)
		return true
	}
	base := startServer(t, serverOptions{transactions: true, front: front})
	var stdout, stderr bytes.Buffer
	err := load.Command(context.Background(), []string{"--url", base, "--resources", "20", "--token", "abc"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "scope user/*.write required") {
		t.Errorf("err = %v, want the outcome's diagnostics", err)
	}
	if !strings.Contains(stderr.String(), `"code": "forbidden"`) {
		t.Errorf("stderr %q does not show the OperationOutcome", stderr.String())
	}
	if !strings.Contains(stdout.String(), "loaded 0 of 20 resources") {
		t.Errorf("stdout %q lacks the summary", stdout.String())
	}
}

// BenchmarkLoad measures the whole path (generation, Bundles, HTTP, the
// FHIR server and SQLite, all in this process) in resources per second,
// for a few Bundle sizes and worker counts.
func BenchmarkLoad(b *testing.B) {
	for _, batch := range []int{100, 500} {
		for _, concurrency := range []int{2, 4} {
			b.Run(fmt.Sprintf("batch=%d/concurrency=%d", batch, concurrency), func(b *testing.B) {
				base := startServer(b, serverOptions{transactions: true})
				g := population.New(1, population.Options{Resources: b.N})
				b.ResetTimer()
				summary, err := load.Run(context.Background(), load.Config{URL: base, Batch: batch, Concurrency: concurrency}, g.Resources())
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(summary.Rate(), "resources/s")
			})
		}
	}
}

// BenchmarkLoaderCeiling measures the loader alone (generation, Bundle
// encoding, HTTP) against an endpoint that reads and discards every
// Bundle: the most the loader can push on this machine.
func BenchmarkLoaderCeiling(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/fhir+json")
		io.WriteString(w, `{"resourceType":"Bundle","type":"transaction-response"}`)
	}))
	defer srv.Close()
	g := population.New(1, population.Options{Resources: b.N})
	b.ResetTimer()
	summary, err := load.Run(context.Background(), load.Config{URL: srv.URL + "/fhir"}, g.Resources())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(summary.Rate(), "resources/s")
}

func TestMainExitCodes(t *testing.T) {
	t.Parallel()
	var authorization atomic.Value
	front := func(w http.ResponseWriter, r *http.Request) bool {
		authorization.Store(r.Header.Get("Authorization"))
		return false
	}
	base := startServer(t, serverOptions{transactions: true, front: front})
	env := func(name string) string {
		if name == "TELEHUB_TOKEN" {
			return "from-env"
		}
		return ""
	}
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantToken string
	}{
		{"token from the environment", []string{"--url", base, "--resources", "10"}, 0, "Bearer from-env"},
		{"token flag wins", []string{"--url", base, "--resources", "10", "--token", "flag"}, 0, "Bearer flag"},
		{"help", []string{"-h"}, 0, ""},
		{"unknown flag", []string{"--nope"}, 2, ""},
		{"bad URL", []string{"--url", "ftp://x"}, 2, ""},
		{"server down", []string{"--url", "http://127.0.0.1:1/fhir", "--resources", "1"}, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authorization.Store("")
			var stderr bytes.Buffer
			if code := load.Main(context.Background(), tt.args, env, io.Discard, &stderr); code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.wantCode, stderr.String())
			}
			if tt.wantToken != "" && authorization.Load() != tt.wantToken {
				t.Errorf("server saw Authorization %q, want %q", authorization.Load(), tt.wantToken)
			}
		})
	}
}

// TestBundlesKeepRecordsTogether checks how the stream is cut: the
// directory goes first and alone, and every clinical resource travels in
// the Bundle of its patient.
func TestBundlesKeepRecordsTogether(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bundles [][]string // the ids of each Bundle, in arrival order
	front := func(w http.ResponseWriter, r *http.Request) bool {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		var b struct {
			Entry []struct {
				Request struct{ URL string }
			}
		}
		if err := json.Unmarshal(body, &b); err != nil {
			t.Error(err)
		}
		var ids []string
		for _, e := range b.Entry {
			ids = append(ids, e.Request.URL)
		}
		mu.Lock()
		bundles = append(bundles, ids)
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		return false
	}
	base := startServer(t, serverOptions{transactions: true, front: front})
	g := population.New(8, population.Options{Patients: 40})
	if _, err := load.Run(context.Background(), load.Config{URL: base, Batch: 25, Concurrency: 3}, g.Resources()); err != nil {
		t.Fatal(err)
	}
	directory := 0
	for _, ids := range bundles {
		patients := map[string]bool{}
		for _, id := range ids {
			typ, rest, _ := strings.Cut(id, "/")
			switch typ {
			case "Organization", "Practitioner", "PractitionerRole":
				directory++
				if len(patients) > 0 {
					t.Errorf("%s shares a Bundle with patients", id)
				}
			case "Patient":
				patients[strings.TrimPrefix(rest, "pat-")] = true
			default:
				// Clinical ids are <kind>-<patient number>-<n>.
				parts := strings.Split(rest, "-")
				if len(parts) != 3 || !patients[parts[1]] {
					t.Errorf("%s is not in the Bundle of its patient (%v)", id, ids)
				}
			}
		}
		if len(ids) > 25+60 {
			t.Errorf("a Bundle of %d entries, want at most Batch plus one record", len(ids))
		}
	}
	if want := typeCounts(g); directory != want["Organization"]+want["Practitioner"]+want["PractitionerRole"] {
		t.Errorf("%d directory resources sent, want %v", directory, want)
	}
}

// TestSearchesOnLoadedPopulation loads a population and runs the kind of
// searches it exists for, comparing the server's counts with the stream's.
func TestSearchesOnLoadedPopulation(t *testing.T) {
	t.Parallel()
	base := startServer(t, serverOptions{transactions: true})
	g := population.New(21, population.Options{Patients: 60})
	if _, err := load.Run(context.Background(), load.Config{URL: base, Batch: 200}, g.Resources()); err != nil {
		t.Fatal(err)
	}
	var ins []string
	dup, heartRates := 0, 0
	for r := range g.Resources() {
		if r.Type != "Patient" && r.Type != "Observation" {
			continue
		}
		var doc struct {
			Identifier []struct{ System, Value string }
			Name       []struct{ Family string }
			Code       struct{ Coding []struct{ Code string } }
		}
		if err := json.Unmarshal(r.JSON, &doc); err != nil {
			t.Fatal(err)
		}
		switch r.Type {
		case "Patient":
			for _, id := range doc.Identifier {
				if id.System == population.SystemINSNIR {
					ins = append(ins, id.Value)
				}
			}
			for _, n := range doc.Name {
				if strings.HasPrefix(n.Family, "Dup") {
					dup++
					break
				}
			}
		case "Observation":
			if len(doc.Code.Coding) > 0 && doc.Code.Coding[0].Code == "8867-4" {
				heartRates++
			}
		}
	}
	if len(ins) == 0 || dup == 0 || heartRates == 0 {
		t.Fatalf("the population lacks what is searched: %d INS, %d Dup… names, %d heart rates", len(ins), dup, heartRates)
	}
	tests := []struct {
		query string
		want  int
	}{
		{"Patient?identifier=" + population.SystemINSNIR + "|" + ins[0], 1},
		{"Patient?identifier=" + population.SystemINSNIR + "|" + ins[len(ins)-1], 1},
		{"Patient?name=dup", dup},
		{"Observation?code=http://loinc.org|8867-4", heartRates},
	}
	for _, tt := range tests {
		if got := countOf(t, base, tt.query); got != tt.want {
			t.Errorf("%s: %d matches, want %d", tt.query, got, tt.want)
		}
	}
}
