package bench

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

func TestIDFromLocation(t *testing.T) {
	t.Parallel()
	tests := []struct{ location, typ, want string }{
		{"http://localhost:8080/fhir/Observation/abc/_history/1", "Observation", "abc"},
		{"Observation/abc/_history/1", "Observation", "abc"},
		{"Observation/abc", "Observation", "abc"},
		{"http://localhost:8080/fhir/Patient/p-1/_history/3", "Patient", "p-1"},
		{"http://localhost:8080/fhir/Patient/p-1", "Observation", ""},
		{"", "Observation", ""},
	}
	for _, tt := range tests {
		if got := idFromLocation(tt.location, tt.typ); got != tt.want {
			t.Errorf("idFromLocation(%q, %q) = %q, want %q", tt.location, tt.typ, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(ns ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range ns {
			ds = append(ds, time.Duration(n)*time.Millisecond)
		}
		return ds
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100 … 1, unsorted
	}
	tests := []struct {
		name string
		ds   []time.Duration
		p    int
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of three", ms(3, 1, 2), 50, 2 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 of 1..100", ms(hundred...), 100, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.ds, tt.p); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestPayloads(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 1))
	var bodies [][]byte
	for range 50 {
		body, err := newObservation(rng, "Patient/p1")
		if err != nil {
			t.Fatal(err)
		}
		if len(body) < 800 || len(body) > 1400 {
			t.Errorf("Observation of %d bytes, want about 1 KB", len(body))
		}
		var obs struct {
			ResourceType string `json:"resourceType"`
			Code         struct {
				Coding []struct{ System string } `json:"coding"`
			} `json:"code"`
			Subject struct{ Reference string } `json:"subject"`
		}
		if err := json.Unmarshal(body, &obs); err != nil {
			t.Fatal(err)
		}
		if obs.ResourceType != "Observation" || obs.Code.Coding[0].System != "http://loinc.org" || obs.Subject.Reference != "Patient/p1" {
			t.Errorf("observation %s", body)
		}
		bodies = append(bodies, body)
	}
	bundle, err := newTransaction(bodies)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Type  string `json:"type"`
		Entry []struct {
			FullURL string `json:"fullUrl"`
			Request struct{ Method, URL string }
		} `json:"entry"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range b.Entry {
		if seen[e.FullURL] || e.Request.Method != "POST" || e.Request.URL != "Observation" {
			t.Errorf("entry %+v (duplicate: %v)", e, seen[e.FullURL])
		}
		seen[e.FullURL] = true
	}
	if b.Type != "transaction" || len(b.Entry) != len(bodies) {
		t.Errorf("bundle of type %q with %d entries", b.Type, len(b.Entry))
	}
}
