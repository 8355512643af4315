package fhir

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Concurrent updates without If-Match either succeed or answer 409 once the
// retries are spent, and none is lost: the final version counts them all.
func TestConcurrentUpdates(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("Racy")
	const writers = 8
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		status = map[int]int{}
	)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodPut, "/fhir/Patient/"+id, strings.NewReader(patient(id, fmt.Sprint("W", i))))
			req.Header.Set("Content-Type", "application/fhir+json")
			rec := httptest.NewRecorder()
			ts.e.ServeHTTP(rec, req)
			mu.Lock()
			status[rec.Code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if status[http.StatusOK]+status[http.StatusConflict] != writers {
		t.Fatalf("statuses %v: want only 200 and 409", status)
	}
	r := ts.do(http.MethodGet, "/fhir/Patient/"+id, "").mustStatus(t, http.StatusOK)
	if got, want := r.str("meta", "versionId"), fmt.Sprint(1+status[http.StatusOK]); got != want {
		t.Errorf("final version %s after %d successful updates, want %s", got, status[http.StatusOK], want)
	}
}

func BenchmarkRead(b *testing.B) {
	ts := newTestServer(b, Options{})
	const n = 100
	ids := make([]string, n)
	for i := range ids {
		ids[i] = ts.create(fmt.Sprint("Bench", i))
	}
	paths := make([]string, n)
	for i, id := range ids {
		paths[i] = "/fhir/Patient/" + id
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, paths[i%n], nil)
			rec := httptest.NewRecorder()
			ts.e.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
			i++
		}
	})
}

// transactionBundle is a transaction of n Patients with an Observation each
// referencing it by urn:uuid (n entries in all, n even).
func transactionBundle(round, n int) string {
	var sb strings.Builder
	sb.WriteString(`{"resourceType":"Bundle","type":"transaction","entry":[`)
	for i := 0; i < n/2; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		urn := fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%06d%06d", round, i)
		fmt.Fprintf(&sb, `{"fullUrl":%q,"resource":%s,"request":{"method":"POST","url":"Patient"}},`, urn, patient("", fmt.Sprint("T", round, "-", i)))
		fmt.Fprintf(&sb, `{"resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},"subject":{"reference":%q},"valueQuantity":{"value":72.5,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}},"request":{"method":"POST","url":"Observation"}}`, urn)
	}
	sb.WriteString(`]}`)
	return sb.String()
}

func BenchmarkTransaction100(b *testing.B) {
	ts := newTestServer(b, Options{})
	bodies := make([]string, b.N)
	for i := range bodies {
		bodies[i] = transactionBundle(i, 100)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/fhir", strings.NewReader(bodies[i]))
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Prefer", "return=minimal")
		rec := httptest.NewRecorder()
		ts.e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "resources/s")
}

// searchBench is a server holding rounds×50 Patients with one Observation each.
func searchBench(b *testing.B, rounds int) *testServer {
	return loadBench(b, newTestServer(b, Options{}), rounds)
}

// loadBench stores rounds×50 Patients and their Observations with two
// batches a round (a batch, not a transaction: every backend takes it).
func loadBench(b *testing.B, ts *testServer, rounds int) *testServer {
	for round := range rounds {
		for _, body := range batchBundles(round, 50) {
			req := httptest.NewRequest(http.MethodPost, "/fhir", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("Prefer", "return=minimal")
			rec := httptest.NewRecorder()
			ts.e.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"status":"4`) {
				b.Fatalf("load: status %d: %s", rec.Code, rec.Body.String())
			}
		}
	}
	return ts
}

// batchBundles are a batch of n Patients (ids pR-I, identifier mrn|TR-I)
// and a batch of their Observations.
func batchBundles(round, n int) []string {
	var patients, observations []string
	for i := range n {
		id := fmt.Sprintf("p%d-%d", round, i)
		patients = append(patients, fmt.Sprintf(`{"resource":%s,"request":{"method":"PUT","url":"Patient/%s"}}`, patient(id, fmt.Sprint("T", round, "-", i)), id))
		observations = append(observations, fmt.Sprintf(`{"resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},"subject":{"reference":"Patient/%s"},"valueQuantity":{"value":72.5,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}},"request":{"method":"POST","url":"Observation"}}`, id))
	}
	batch := func(entries []string) string {
		return `{"resourceType":"Bundle","type":"batch","entry":[` + strings.Join(entries, ",") + `]}`
	}
	return []string{batch(patients), batch(observations)}
}

// benchSearch runs one search path b.N times and checks it matches want entries.
func benchSearch(b *testing.B, ts *testServer, path func(i int) string, want int) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodGet, path(i), nil)
		rec := httptest.NewRecorder()
		ts.e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		if n := strings.Count(rec.Body.String(), `"search":{"mode":"`); n != want {
			b.Fatalf("%d entries, want %d: %s", n, want, rec.Body.String())
		}
	}
}

// A page of 20 Patients with their Observations (_revinclude), out of 1,000.
func BenchmarkSearchRevInclude(b *testing.B) {
	benchRevInclude(b, searchBench(b, 20))
}

func benchRevInclude(b *testing.B, ts *testServer) {
	benchSearch(b, ts, func(int) string {
		return "/fhir/Patient?_count=20&_revinclude=Observation:subject"
	}, 40)
}

// A page of 20 Observations with their Patients (_include), out of 1,000.
func BenchmarkSearchInclude(b *testing.B) {
	ts := searchBench(b, 20)
	benchSearch(b, ts, func(int) string {
		return "/fhir/Observation?_count=20&_include=Observation:subject"
	}, 40)
}

// A selective chained search: the Observation of one Patient, by identifier, out of 1,000.
func BenchmarkSearchChain(b *testing.B) {
	benchChain(b, searchBench(b, 20))
}

func benchChain(b *testing.B, ts *testServer) {
	benchSearch(b, ts, func(i int) string {
		return "/fhir/Observation?subject:Patient.identifier=" + url.QueryEscape(fmt.Sprintf("%s|T%d-%d", mrn, i%20, i%50))
	}, 1)
}

// A reverse chain: the Patients with an Observation of a code, 20 per page,
// out of 1,000; with the total (which counts all 1,000) and without.
func BenchmarkSearchHas(b *testing.B) {
	ts := searchBench(b, 20)
	for _, total := range []string{"accurate", "none"} {
		b.Run("total="+total, func(b *testing.B) {
			benchSearch(b, ts, func(int) string {
				return "/fhir/Patient?_count=20&_total=" + total + "&_has:Observation:subject:code=http://loinc.org|29463-7"
			}, 20)
		})
	}
}

// Walking a search page by page by cursor: one page of 20 (the deepest pages cost as much as the first).
func BenchmarkSearchCursorPage(b *testing.B) {
	ts := searchBench(b, 20)
	var next []string
	path := "/fhir/Patient?_count=20"
	for path != "" {
		next = append(next, path)
		req := httptest.NewRequest(http.MethodGet, path, nil)
		rec := httptest.NewRecorder()
		ts.e.ServeHTTP(rec, req)
		path = ""
		if i := strings.Index(rec.Body.String(), `"relation":"next","url":"`); i >= 0 {
			rest := rec.Body.String()[i+len(`"relation":"next","url":"`):]
			path = "/fhir" + strings.TrimPrefix(rest[:strings.IndexByte(rest, '"')], testBase)
		}
	}
	if len(next) != 50 {
		b.Fatalf("%d pages, want 50", len(next))
	}
	benchSearch(b, ts, func(i int) string { return next[i%len(next)] }, 20)
}
