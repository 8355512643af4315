package fhir

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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
