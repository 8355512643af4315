package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// SearchConfig says which server to search and how hard. The server is
// expected to hold a synthetic population (package population): patients
// pat-000001 to pat-N with their clinical records.
type SearchConfig struct {
	// URL, Duration, Concurrency, MaxRequests, Memory and Client mean what
	// they mean for Run; BundleSize is not used.
	Config
	// Patients is the number of patients of the population. Zero asks the
	// server (Patient?_summary=count).
	Patients int
}

// SearchResult is the outcome of a search run.
type SearchResult struct {
	URL      string
	Duration time.Duration
	Patients int
	Queries  []QueryPhase
	// PeakMemory is the largest figure the memory probe reported, in bytes.
	PeakMemory   uint64
	MemorySource string
	MemoryErr    error
}

// QueryPhase is the outcome of one kind of query, repeated for a phase.
// Phase.Requests counts the queries that succeeded (a paging query is the
// whole walk to its last page) and Phase.Resources the entries they returned
// (for _summary=count, the counts).
type QueryPhase struct {
	Phase
	// Query is the query, abridged (Phase.Name says what it measures).
	Query string
	// Total is the largest Bundle.total a successful query reported, -1 when
	// none reported one.
	Total int64
}

// QueriesPerSecond is the phase's throughput in successful queries per second.
func (q QueryPhase) QueriesPerSecond() float64 {
	if q.Elapsed <= 0 {
		return 0
	}
	return float64(q.Requests) / q.Elapsed.Seconds()
}

// Failed reports whether no query of the phase succeeded.
func (q QueryPhase) Failed() bool { return q.Requests == 0 }

// The codes the queries use, all present in the population's records.
const (
	heartRate          = "http://loinc.org|8867-4"
	laboratoryCategory = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	// sortPages is how many pages the paging query reads (the first, then
	// Bundle.link "next" until this one).
	sortPages = 10
)

// The population's clinical dates spread over the five years before
// 2026-01-01 (population.Options.Until's default); the date query picks one
// of those months.
var populationStart = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)

const populationMonths = 60

// searchSpec is one kind of query: its printed shape and what one query does.
type searchSpec struct {
	// kind names the feature measured; shape is the query, abridged.
	kind, shape string
	// query returns the path and query string of one query (after the base).
	query func(w *worker) string
	// pages is how many pages to read, following "next"; 0 means 1.
	pages int
	// count marks a _summary=count query: it must report a total.
	count bool
}

func (s *searcher) specs() []searchSpec {
	return []searchSpec{
		{kind: "token", shape: "Observation?code=8867-4&patient=<random>", query: func(w *worker) string {
			return "Observation?code=" + url.QueryEscape(heartRate) + "&patient=" + s.randomPatient(w)
		}},
		{kind: "string prefix", shape: "Patient?name=dup", query: func(*worker) string {
			return "Patient?name=dup"
		}},
		{kind: "date range", shape: "Observation?date=ge<month>&date=lt<month+1>", query: func(w *worker) string {
			from := populationStart.AddDate(0, w.rng.IntN(populationMonths), 0)
			return "Observation?date=ge" + from.Format(time.DateOnly) + "&date=lt" + from.AddDate(0, 1, 0).Format(time.DateOnly)
		}},
		{kind: "chain", shape: "Observation?subject:Patient.name=dup&code=8867-4", query: func(*worker) string {
			return "Observation?subject:Patient.name=dup&code=" + url.QueryEscape(heartRate)
		}},
		{kind: "_revinclude", shape: "Patient?_id=<random>&_revinclude=Observation:subject", query: func(w *worker) string {
			return "Patient?_id=" + strings.TrimPrefix(s.randomPatient(w), "Patient/") + "&_revinclude=Observation:subject"
		}},
		{kind: "_sort, paging", shape: fmt.Sprintf("Observation?code=8867-4&_sort=-date&_count=20, pages 1-%d", sortPages), query: func(*worker) string {
			return "Observation?code=" + url.QueryEscape(heartRate) + "&_sort=-date&_count=20"
		}, pages: sortPages},
		{kind: "_summary=count", shape: "Observation?category=laboratory&_summary=count", query: func(*worker) string {
			return "Observation?category=" + url.QueryEscape(laboratoryCategory) + "&_summary=count"
		}, count: true},
	}
}

// searcher runs the search phases; it reuses the runner's phase loop.
type searcher struct {
	*runner
	patients int
}

// RunSearch measures each kind of query for cfg.Duration, one after the
// other, and returns their figures. A kind of query the server fails on is
// reported as a failed row with the server's message, not as an error: the
// error is for a run that could not start or was cancelled.
func RunSearch(ctx context.Context, cfg SearchConfig) (*SearchResult, error) {
	base, err := cfg.Config.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &searcher{runner: newRunner(base), patients: cfg.Patients}
	sampler := startMemorySampler(ctx, base.Memory)
	defer sampler.stop()

	if s.patients <= 0 {
		if s.patients, err = s.countPatients(ctx); err != nil {
			return nil, err
		}
	}
	res := &SearchResult{URL: base.URL, Duration: base.Duration, Patients: s.patients}
	for _, spec := range s.specs() {
		q, err := s.runQuery(ctx, spec)
		if err != nil {
			return nil, err
		}
		res.Queries = append(res.Queries, q)
	}
	res.PeakMemory, res.MemorySource, res.MemoryErr = sampler.stop()
	return res, nil
}

// countPatients asks the server how many patients it holds.
func (s *searcher) countPatients(ctx context.Context) (int, error) {
	b, err := s.get(ctx, s.cfg.URL+"/Patient?_summary=count")
	if err != nil {
		return 0, fmt.Errorf("bench: count the patients: %w", err)
	}
	if b.Total == nil || *b.Total <= 0 {
		return 0, errors.New("bench: the server holds no Patient: load a population first")
	}
	return int(*b.Total), nil
}

func (s *searcher) randomPatient(w *worker) string {
	return fmt.Sprintf("Patient/pat-%06d", 1+w.rng.IntN(s.patients))
}

// runQuery runs one kind of query for a phase with the configured clients.
func (s *searcher) runQuery(ctx context.Context, spec searchSpec) (QueryPhase, error) {
	var total atomic.Int64
	total.Store(-1)
	op := func(ctx context.Context, w *worker) (int, error) {
		entries, t, err := s.search(ctx, spec, spec.query(w))
		for cur := total.Load(); err == nil && t > cur; cur = total.Load() {
			if total.CompareAndSwap(cur, t) {
				break
			}
		}
		return entries, err
	}
	phase, err := s.run(ctx, phaseSpec{name: spec.kind, clients: s.cfg.Concurrency, op: op})
	if err != nil && ctx.Err() != nil {
		return QueryPhase{}, err
	}
	// A phase with no successful query is a failed row, not a failed run.
	return QueryPhase{Phase: phase, Query: spec.shape, Total: total.Load()}, nil
}

// search runs one query, following "next" links for a paging query up to
// its last page, and returns the entries read and the first page's total
// (-1 if absent).
func (s *searcher) search(ctx context.Context, spec searchSpec, query string) (entries int, total int64, err error) {
	total = -1
	next := s.cfg.URL + "/" + query
	for page := 1; page <= max(spec.pages, 1) && next != ""; page++ {
		b, err := s.get(ctx, next)
		if err != nil {
			return entries, total, err
		}
		if page == 1 && b.Total != nil {
			total = *b.Total
		}
		entries += b.matches()
		next = b.link("next")
	}
	// Fewer pages than asked for is the end of the matches, unless the
	// server said there were more.
	if next == "" && spec.pages > 1 && total > int64(entries) {
		return entries, total, fmt.Errorf("%s: no next link after %d of %d matches", query, entries, total)
	}
	if spec.count {
		if total < 0 {
			return 0, total, fmt.Errorf("%s: no Bundle.total", query)
		}
		entries = int(total)
	}
	return entries, total, nil
}

// searchset is the part of a search Bundle the bench looks at.
type searchset struct {
	ResourceType string `json:"resourceType"`
	Total        *int64 `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		Search struct {
			Mode string `json:"mode"`
		} `json:"search"`
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

func (b *searchset) link(relation string) string {
	for _, l := range b.Link {
		if l.Relation == relation {
			return l.URL
		}
	}
	return ""
}

// matches counts the entries that are results (matches and includes).
func (b *searchset) matches() int {
	n := 0
	for _, e := range b.Entry {
		if e.Search.Mode != "outcome" {
			n++
		}
	}
	return n
}

// outcome returns the diagnostics of an OperationOutcome entry: the server
// ignored part of the query, so the figures would not measure it.
func (b *searchset) outcome() string {
	for _, e := range b.Entry {
		if e.Search.Mode != "outcome" {
			continue
		}
		var oo struct {
			Issue []struct {
				Diagnostics string `json:"diagnostics"`
			} `json:"issue"`
		}
		if json.Unmarshal(e.Resource, &oo) == nil && len(oo.Issue) > 0 {
			return oo.Issue[0].Diagnostics
		}
		return string(e.Resource)
	}
	return ""
}

// get reads one search page and checks it is a searchset the server fully applied.
func (s *searcher) get(ctx context.Context, target string) (*searchset, error) {
	status, _, body, err := s.do(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	what := "GET " + strings.TrimPrefix(target, s.cfg.URL+"/")
	if status != http.StatusOK {
		return nil, unexpected(what, status, body)
	}
	var b searchset
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if b.ResourceType != "Bundle" {
		return nil, fmt.Errorf("%s: a %q, not a Bundle", what, b.ResourceType)
	}
	if msg := b.outcome(); msg != "" {
		return nil, fmt.Errorf("%s: the server did not apply the whole query: %s", what, msg)
	}
	return &b, nil
}

// WriteTable prints the result as an aligned text table, then the first
// error of each failed or partly failed query and the server's peak memory.
func (r *SearchResult) WriteTable(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "TeleHub search bench against %s (%d patients), %s per query\n\n",
		r.URL, r.Patients, r.Duration); err != nil {
		return err
	}
	kindWidth, queryWidth := len("feature"), len("query")
	for _, q := range r.Queries {
		kindWidth, queryWidth = max(kindWidth, len(q.Name)), max(queryWidth, len(q.Query))
	}
	// As in Result.WriteTable: numbers align right, the text columns are
	// padded here so that they stay on the left.
	tw := tabwriter.NewWriter(w, 0, 0, 0, ' ', tabwriter.AlignRight)
	row := func(kind, query string, cells ...string) {
		fmt.Fprintf(tw, "%-*s  %-*s\t", kindWidth, kind, queryWidth, query)
		for _, c := range cells {
			fmt.Fprintf(tw, "  %s\t", c)
		}
		fmt.Fprintln(tw)
	}
	row("feature", "query", "clients", "queries", "errors", "queries/s", "p50", "p99", "max total", "entries/query")
	for _, q := range r.Queries {
		if q.Failed() {
			row(q.Name, q.Query, strconv.Itoa(q.Clients), "0", strconv.Itoa(q.Errors), "FAILED", "-", "-", "-", "-")
			continue
		}
		total := "-"
		if q.Total >= 0 {
			total = strconv.FormatInt(q.Total, 10)
		}
		row(q.Name, q.Query, strconv.Itoa(q.Clients), strconv.Itoa(q.Requests), strconv.Itoa(q.Errors),
			fmt.Sprintf("%.1f", q.QueriesPerSecond()), formatLatency(q.P50), formatLatency(q.P99),
			total, fmt.Sprintf("%.1f", float64(q.Resources)/float64(q.Requests)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, q := range r.Queries {
		if q.FirstError != "" {
			fmt.Fprintf(w, "\n%s (%s): %d errors, first: %s", q.Name, q.Query, q.Errors, q.FirstError)
		}
	}
	return writeMemory(w, r.PeakMemory, r.MemorySource, r.MemoryErr)
}
