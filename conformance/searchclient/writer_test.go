package searchclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// writer adds resources to the server while the client pages: a Patient
// first, then pairs of an Encounter and a heart-rate Observation of that
// patient, dated at random over the population's five years, so that they
// sort before and after whatever page a date-sorted search is reading. It
// writes in the background, and on demand between two pages (hook).
type writer struct {
	base   string
	client *http.Client

	mu      sync.Mutex
	rng     *rand.Rand
	n       int
	written []written
	hooks   int // hook calls served
}

// written is one resource the server acknowledged.
type written struct {
	typ, id string
	body    []byte
}

const writerPatient = "wrt-pat-01"

func newWriter(base string, seed uint64) *writer {
	return &writer{
		base:   base,
		client: &http.Client{Timeout: time.Minute},
		rng:    rand.New(rand.NewPCG(seed, 0x77726974)),
	}
}

// put stores one resource with PUT and records it once acknowledged.
func (w *writer) put(ctx context.Context, typ, id string, body map[string]any) error {
	body["resourceType"], body["id"] = typ, id
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("writer: encode %s/%s: %w", typ, id, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, w.base+"/"+typ+"/"+id, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	res, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("writer: PUT %s/%s: %w", typ, id, err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		return fmt.Errorf("writer: PUT %s/%s: %d %s", typ, id, res.StatusCode, answer)
	}
	w.written = append(w.written, written{typ, id, b})
	return nil
}

// patient writes the patient the other resources belong to.
func (w *writer) patient(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.put(ctx, "Patient", writerPatient, map[string]any{
		"active":    true,
		"name":      []any{map[string]any{"use": "official", "family": "Écrivain", "given": []any{"Wanda"}}},
		"gender":    "female",
		"birthDate": "1990-05-05",
	})
}

// step writes one Encounter and its heart-rate Observation.
func (w *writer) step(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	from := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	at := from.Add(time.Duration(w.rng.Int64N(int64(5 * 365 * 24 * time.Hour)))).Truncate(time.Second)
	enc := fmt.Sprintf("wrt-enc-%04d", w.n)
	subject := map[string]any{"reference": "Patient/" + writerPatient}
	if err := w.put(ctx, "Encounter", enc, map[string]any{
		"status":  "finished",
		"class":   map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR", "display": "virtual"},
		"subject": subject,
		"period":  map[string]any{"start": at.Format(time.RFC3339), "end": at.Add(20 * time.Minute).Format(time.RFC3339)},
	}); err != nil {
		return err
	}
	return w.put(ctx, "Observation", fmt.Sprintf("wrt-obs-%04d", w.n), map[string]any{
		"status": "final",
		"category": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs",
		}}}},
		"code":              map[string]any{"coding": []any{map[string]any{"system": loinc, "code": heartRate, "display": "Heart rate"}}},
		"subject":           subject,
		"encounter":         map[string]any{"reference": "Encounter/" + enc},
		"effectiveDateTime": at.Add(5 * time.Minute).Format(time.RFC3339),
		"valueQuantity":     map[string]any{"value": 50 + w.rng.IntN(60), "unit": "beats/minute", "system": ucum, "code": "/min"},
	})
}

// background writes a pair every interval until stop is closed, and
// returns the first error. Stopping lets the pair in flight finish, so that
// everything the server stored is recorded.
func (w *writer) background(ctx context.Context, stop <-chan struct{}, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-t.C:
			if err := w.step(ctx); err != nil {
				return err
			}
		}
	}
}

// ServeHTTP is the hook the client calls between two pages: it answers
// once two more pairs are stored, so those writes land between the pages.
func (w *writer) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	for range 2 {
		if err := w.step(r.Context()); err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.mu.Lock()
	w.hooks++
	w.mu.Unlock()
	rw.WriteHeader(http.StatusNoContent)
}

// snapshot returns what was written and the number of hook calls served.
func (w *writer) snapshot() ([]written, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]written(nil), w.written...), w.hooks
}
