package searchclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telehub/telehub/load"
	"github.com/telehub/telehub/population"
)

// populationSeed and populationPatients size the loaded population: about
// three thousand resources, enough for multi-page results of every kind.
const (
	populationSeed     = 1
	populationPatients = 150
)

// result is what search.mjs prints for one query.
type result struct {
	Name  string `json:"name"`
	Pages []page `json:"pages"`
	Error string `json:"error"`
}

type page struct {
	Self     *string  `json:"self"`
	Next     *string  `json:"next"`
	Total    *int     `json:"total"`
	Matches  []string `json:"matches"`
	Includes []string `json:"includes"`
	Outcomes []string `json:"outcomes"`
}

// TestThirdPartyClientSearch loads a population, runs every query of
// queries with fhir-kit-client while a writer adds resources, and compares
// each answer with the one computed from the generated resources.
func TestThirdPartyClientSearch(t *testing.T) {
	node, nodeDir := nodeSetup(t)
	// The run takes well under a minute; under the race detector, several.
	// It stops a little before the test binary's own deadline, so that a
	// hung search fails with the client's output rather than a panic.
	deadline := time.Now().Add(10 * time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = d.Add(-15 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	gen := population.New(populationSeed, population.Options{Patients: populationPatients})
	pop := newModel()
	for r := range gen.Resources() {
		if err := pop.add(r.Type, r.ID, r.JSON); err != nil {
			t.Fatal(err)
		}
	}
	picked, err := choose(pop)
	if err != nil {
		t.Fatal(err)
	}
	qs := queries(picked)

	base := startServer(t)
	started := time.Now()
	summary, err := load.Run(ctx, load.Config{URL: base, Batch: 250, Concurrency: 2}, gen.Resources())
	if err != nil {
		t.Fatalf("load the population: %v", err)
	}
	loaded := time.Since(started)
	if summary.Resources != int64(gen.Total()) {
		t.Fatalf("loaded %d resources, the generator made %d", summary.Resources, gen.Total())
	}

	w := newWriter(base, populationSeed)
	if err := w.patient(ctx); err != nil {
		t.Fatal(err)
	}
	hook := httptest.NewServer(w)
	defer hook.Close()
	stop := make(chan struct{})
	var writers sync.WaitGroup
	var writeErr error
	writers.Go(func() { writeErr = w.background(ctx, stop, 20*time.Millisecond) })

	out, took := runClient(t, ctx, node, nodeDir, base, hook.URL, qs)
	close(stop)
	writers.Wait()
	if writeErr != nil {
		t.Fatalf("background writer: %v", writeErr)
	}
	written, hooks := w.snapshot()
	full := pop.clone()
	for _, r := range written {
		if err := full.add(r.typ, r.id, r.body); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("population: %d resources (%d patients, seed %d) loaded in %v (%.0f resources/s, inflated by machine load); client ran %d queries in %v; the writer added %d resources, %d hook calls between pages",
		gen.Total(), populationPatients, populationSeed, loaded.Round(time.Millisecond), summary.Rate(), len(qs), took.Round(time.Millisecond), len(written), hooks)

	checkAll(t, qs, out, pop, full)
	if hooks == 0 {
		t.Error("the client never called the writer hook between pages: the paging-under-writes check did not run")
	}

	// The queries the writer touched could only be bounded while it wrote;
	// now that it has stopped, their answers must be exactly those over
	// everything written.
	var again []query
	for _, q := range qs {
		touched := !slices.Equal(q.expect(pop).matches, q.expect(full).matches)
		if q.Hook && !touched {
			t.Errorf("%s: the writer added nothing this query finds, so paging under writes was not exercised", q.Name)
		}
		if touched {
			q.Name += " (after the writes)"
			q.Hook = false
			again = append(again, q)
		}
	}
	out, took = runClient(t, ctx, node, nodeDir, base, "", again)
	t.Logf("after the writes: %d queries the writer touched ran again in %v", len(again), took.Round(time.Millisecond))
	checkAll(t, again, out, full, full)
}

// checkAll checks the result of each query in a subtest of its own.
func checkAll(t *testing.T, qs []query, out []result, base, full *model) {
	t.Helper()
	results := map[string]result{}
	for _, r := range out {
		results[r.Name] = r
	}
	for _, q := range qs {
		t.Run(q.Name, func(t *testing.T) {
			r, ok := results[q.Name]
			if !ok {
				t.Fatal("the client printed no result for this query")
			}
			if q.knownBug == "" {
				checkResult(t, q, r, base, full)
				return
			}
			rec := &recorder{}
			checkResult(rec, q, r, base, full)
			if len(rec.errors) == 0 {
				t.Fatalf("the known server bug no longer shows (%s): remove the knownBug mark of this query", q.knownBug)
			}
			t.Skipf("known server bug: %s\n%s", q.knownBug, strings.Join(rec.errors, "\n"))
		})
	}
}

// runClient writes the queries to a file, runs search.mjs over them and
// returns its results and run time.
func runClient(t *testing.T, ctx context.Context, node, nodeDir, base, hookURL string, qs []query) ([]result, time.Duration) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "queries.json")
	b, err := json.Marshal(qs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repoRoot(t), "conformance", "searchclient", "search.mjs")
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(), "TELEHUB_FHIR_URL="+base, "SEARCHCLIENT_QUERIES="+file, "SEARCHCLIENT_HOOK="+hookURL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	err = cmd.Run()
	took := time.Since(started)
	if stderr.Len() > 0 {
		t.Logf("search.mjs stderr:\n%s", stderr.String())
	}
	if err != nil {
		t.Fatalf("node search.mjs: %v\n%s", err, stdout.String())
	}
	var out []result
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("search.mjs printed a line that is not a result (%v): %.300s", err, line)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out, took
}
