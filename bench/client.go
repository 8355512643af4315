package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
)

const (
	fhirJSON = "application/fhir+json"
	// patientCount is how many Patients the Observations are spread over.
	patientCount = 10
	// bodyCount and bundleCount bound the payloads prepared up front, so that
	// building them costs nothing during the timed phases.
	bodyCount   = 256
	bundleCount = 8
)

// setUp creates the Patients the Observations refer to and prepares the payloads.
func (r *runner) setUp(ctx context.Context) error {
	for i := range patientCount {
		body, err := newPatient(i)
		if err != nil {
			return fmt.Errorf("bench: patient: %w", err)
		}
		id, err := r.post(ctx, "Patient", body)
		if err != nil {
			return fmt.Errorf("bench: set-up: %w", err)
		}
		r.patients = append(r.patients, "Patient/"+id)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range bodyCount {
		body, err := newObservation(rng, r.patients[rng.IntN(len(r.patients))])
		if err != nil {
			return fmt.Errorf("bench: observation: %w", err)
		}
		r.bodies = append(r.bodies, body)
	}
	for i := range bundleCount {
		entries := make([][]byte, r.cfg.BundleSize)
		for j := range entries {
			entries[j] = r.bodies[(i*r.cfg.BundleSize+j)%len(r.bodies)]
		}
		bundle, err := newTransaction(entries)
		if err != nil {
			return fmt.Errorf("bench: bundle: %w", err)
		}
		r.bundles = append(r.bundles, bundle)
	}
	return nil
}

// create posts one Observation.
func (r *runner) create(ctx context.Context, w *worker) (int, error) {
	body := r.bodies[w.next%len(r.bodies)]
	w.next++
	id, err := r.post(ctx, "Observation", body)
	if err != nil {
		return 0, err
	}
	w.created = append(w.created, id)
	return 1, nil
}

// transaction posts one transaction Bundle of Observations.
func (r *runner) transaction(ctx context.Context, w *worker) (int, error) {
	bundle := r.bundles[w.next%len(r.bundles)]
	w.next++
	status, _, body, err := r.do(ctx, http.MethodPost, r.cfg.URL, bundle)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, unexpected("transaction", status, body)
	}
	var response struct {
		Entry []struct {
			Response struct {
				Status   string `json:"status"`
				Location string `json:"location"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &response); err != nil {
		return 0, fmt.Errorf("transaction response: %w", err)
	}
	created := 0
	for _, e := range response.Entry {
		if !strings.HasPrefix(e.Response.Status, "201") {
			continue
		}
		if id := idFromLocation(e.Response.Location, "Observation"); id != "" {
			w.created = append(w.created, id)
		}
		created++
	}
	if created != r.cfg.BundleSize {
		return 0, fmt.Errorf("transaction created %d of %d entries", created, r.cfg.BundleSize)
	}
	return created, nil
}

// read reads back one of the Observations created, at random.
func (r *runner) read(ctx context.Context, w *worker) (int, error) {
	if len(r.ids) == 0 {
		return 0, fmt.Errorf("no Observation to read: the create phases created none")
	}
	id := r.ids[w.rng.IntN(len(r.ids))]
	status, _, body, err := r.do(ctx, http.MethodGet, r.cfg.URL+"/Observation/"+id, nil)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, unexpected("read Observation/"+id, status, body)
	}
	return 1, nil
}

// post creates a resource and returns the id the server gave it.
func (r *runner) post(ctx context.Context, typ string, resource []byte) (string, error) {
	status, header, body, err := r.do(ctx, http.MethodPost, r.cfg.URL+"/"+typ, resource)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", unexpected("create "+typ, status, body)
	}
	if id := idFromLocation(header.Get("Location"), typ); id != "" {
		return id, nil
	}
	var created struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &created) == nil && created.ID != "" {
		return created.ID, nil
	}
	return "", fmt.Errorf("create %s: no id in the Location header nor the body", typ)
}

// do sends one request and reads the whole response, so the connection is reused.
func (r *runner) do(ctx context.Context, method, url string, body []byte) (int, http.Header, []byte, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, reader)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Accept", fhirJSON)
	if r.authorization != "" {
		req.Header.Set("Authorization", r.authorization)
	}
	if body != nil {
		req.Header.Set("Content-Type", fhirJSON)
		req.Header.Set("Prefer", "return=minimal")
	}
	res, err := r.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: reading the response: %w", method, url, err)
	}
	return res.StatusCode, res.Header, data, nil
}

// idFromLocation extracts the id from ".../Type/id/_history/v" or "Type/id".
func idFromLocation(location, typ string) string {
	i := strings.LastIndex(location, typ+"/")
	if i < 0 {
		return ""
	}
	rest := location[i+len(typ)+1:]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func unexpected(what string, status int, body []byte) error {
	const keep = 300
	if len(body) > keep {
		body = body[:keep]
	}
	return fmt.Errorf("%s: HTTP %d: %s", what, status, bytes.TrimSpace(body))
}
