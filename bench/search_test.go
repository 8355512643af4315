package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/bench"
	"github.com/telehub/telehub/population"
)

// searchFeatures are the rows of a search run, in order.
var searchFeatures = []string{"token", "string prefix", "date range", "chain", "_revinclude", "_sort, paging", "_summary=count"}

func TestRunSearchReportsEveryQuery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := startServer(t, true)
	pop := bench.Population{Seed: 1, Resources: 2000}
	summary, err := bench.LoadPopulation(ctx, base, "", pop, nil)
	if err != nil {
		t.Fatal(err)
	}
	if summary.Resources != int64(pop.Resources) {
		t.Fatalf("loaded %d resources, want %d", summary.Resources, pop.Resources)
	}

	res, err := bench.RunSearch(ctx, bench.SearchConfig{Config: bench.Config{
		URL: base, Duration: time.Second, Concurrency: 2, MaxRequests: 20,
	}})
	if err != nil {
		t.Fatal(err)
	}
	stats := populationStats(pop)
	if res.Patients != stats.patients {
		t.Errorf("the run found %d patients, the population has %d", res.Patients, stats.patients)
	}
	if len(res.Queries) != len(searchFeatures) {
		t.Fatalf("got %d rows, want %d: %+v", len(res.Queries), len(searchFeatures), res.Queries)
	}
	for i, q := range res.Queries {
		if q.Name != searchFeatures[i] {
			t.Errorf("row %d is %q, want %q", i, q.Name, searchFeatures[i])
		}
		if q.Failed() || q.Errors != 0 || q.Resources == 0 || q.P99 < q.P50 {
			t.Errorf("%s (%s): %d queries, %d errors (%s), %d entries", q.Name, q.Query, q.Requests, q.Errors, q.FirstError, q.Resources)
		}
	}
	// A paging walk reads ten pages of 20, or all the matches if fewer.
	if sorted := res.Queries[5]; !sorted.Failed() && sorted.Total > 0 {
		want := min(sorted.Total, 200)
		if got := int64(sorted.Resources / sorted.Requests); got != want {
			t.Errorf("paging read %d entries per walk, want %d", got, want)
		}
	}
	if count := res.Queries[6]; count.Total != stats.laboratory {
		t.Errorf("_summary=count returned %d, the population has %d laboratory Observations", count.Total, stats.laboratory)
	}

	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range append([]string{"feature", "queries/s", "p99", "server peak memory:"}, searchFeatures...) {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	t.Logf("\n%s", table.String())
}

// A server that answers every query with an error gives failed rows that
// carry its message, not a failed run.
func TestRunSearchReportsFailedQueries(t *testing.T) {
	t.Parallel()
	base := startServer(t, false)
	res, err := bench.RunSearch(context.Background(), bench.SearchConfig{
		Config:   bench.Config{URL: base, Duration: time.Second, Concurrency: 1, MaxRequests: 2},
		Patients: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Queries) != len(searchFeatures) {
		t.Fatalf("got %d rows, want %d", len(res.Queries), len(searchFeatures))
	}
	for _, q := range res.Queries {
		if !q.Failed() || q.Errors == 0 || !strings.Contains(q.FirstError, "HTTP 404") {
			t.Errorf("%s: %d queries, %d errors, first %q", q.Name, q.Requests, q.Errors, q.FirstError)
		}
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(table.String(), "FAILED"); got != len(searchFeatures) {
		t.Errorf("%d rows marked FAILED, want %d:\n%s", got, len(searchFeatures), table.String())
	}
}

func TestRunSearchNeedsPatients(t *testing.T) {
	t.Parallel()
	base := startServer(t, true)
	_, err := bench.RunSearch(context.Background(), bench.SearchConfig{Config: bench.Config{URL: base, Duration: time.Second}})
	if err == nil || !strings.Contains(err.Error(), "no Patient") {
		t.Fatalf("error %v, want one saying the server holds no Patient", err)
	}
}

func TestPopulationMarker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, ok, err := bench.LoadedPopulation(dir); ok || err != nil {
		t.Fatalf("empty directory: ok %v, error %v", ok, err)
	}
	want := bench.Population{Seed: 7, Resources: 123456}
	if err := bench.MarkLoaded(dir, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := bench.LoadedPopulation(dir)
	if !ok || err != nil || got != want {
		t.Fatalf("LoadedPopulation = %+v, %v, %v; want %+v", got, ok, err, want)
	}
}

type stats struct {
	patients   int
	laboratory int64
}

// populationStats counts what the queries should find in a population.
func populationStats(p bench.Population) stats {
	var s stats
	for r := range population.New(p.Seed, population.Options{Resources: p.Resources}).Resources() {
		switch r.Type {
		case "Patient":
			s.patients++
		case "Observation":
			var obs struct {
				Category []struct {
					Coding []struct{ Code string } `json:"coding"`
				} `json:"category"`
			}
			if err := json.Unmarshal(r.JSON, &obs); err != nil {
				panic(err)
			}
			for _, c := range obs.Category {
				if len(c.Coding) > 0 && c.Coding[0].Code == "laboratory" {
					s.laboratory++
				}
			}
		}
	}
	return s
}
