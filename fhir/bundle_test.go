package fhir

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// entryResponse returns entry i's response.status and the entry itself.
func entryResponse(t *testing.T, r *response, i int) (string, map[string]any) {
	t.Helper()
	entries := r.entries()
	if i >= len(entries) {
		t.Fatalf("no entry %d in %s", i, r.Body.String())
	}
	resp, _ := entries[i]["response"].(map[string]any)
	status, _ := resp["status"].(string)
	return status, entries[i]
}

func TestTransactionReferences(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	org := ts.create("OrgOwner")
	existing := ts.create("Existing")
	bundle := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a","resource":` + patient("", "TxPatient") + `,
	  "request":{"method":"POST","url":"Patient"}},
	 {"fullUrl":"urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059","resource":{"resourceType":"Observation","status":"final","code":{"text":"weight"},
	   "subject":{"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},
	   "performer":[{"reference":"Patient?identifier=` + mrn + `|Existing"}],
	   "extension":[{"url":"http://example.org/ext","valueReference":{"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}}],
	   "component":[{"code":{"text":"c"},"valueQuantity":{"value":72.50}}]},
	  "request":{"method":"POST","url":"Observation"}},
	 {"resource":` + patient(org, "OrgOwner") + `,"request":{"method":"PUT","url":"Patient/` + org + `"}},
	 {"request":{"method":"GET","url":"Patient?identifier=` + mrn + `|TxPatient"}}
	]}`
	r := ts.do(http.MethodPost, "/fhir", bundle).mustStatus(t, http.StatusOK)
	if r.str("type") != "transaction-response" {
		t.Fatalf("type %q", r.str("type"))
	}
	wantStatus := []string{"201 Created", "201 Created", "200 OK", "200 OK"}
	for i, want := range wantStatus {
		if got, _ := entryResponse(t, r, i); got != want {
			t.Errorf("entry %d status %q, want %q", i, got, want)
		}
	}
	_, pe := entryResponse(t, r, 0)
	patientID := pe["resource"].(map[string]any)["id"].(string)
	loc := pe["response"].(map[string]any)["location"].(string)
	if loc != "Patient/"+patientID+"/_history/1" {
		t.Errorf("location %q", loc)
	}
	_, oe := entryResponse(t, r, 1)
	obsID := oe["resource"].(map[string]any)["id"].(string)
	obs := ts.do(http.MethodGet, "/fhir/Observation/"+obsID, "").mustStatus(t, http.StatusOK)
	refs := map[string]string{
		"subject":   obs.str("subject", "reference"),
		"extension": obs.str("extension", 0, "valueReference", "reference"),
		"performer": obs.str("performer", 0, "reference"),
	}
	want := map[string]string{"subject": "Patient/" + patientID, "extension": "Patient/" + patientID, "performer": "Patient/" + existing}
	for k, v := range want {
		if refs[k] != v {
			t.Errorf("%s reference %q, want %q", k, refs[k], v)
		}
	}
	if !strings.Contains(obs.Body.String(), "72.50") {
		t.Errorf("decimal precision lost in rewriting: %s", obs.Body.String())
	}
	_, ge := entryResponse(t, r, 3)
	if total := ge["resource"].(map[string]any)["total"]; total != float64(1) {
		t.Errorf("GET entry after the writes found %v, want 1", total)
	}
}

func TestTransactionRollback(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("Stable")
	ts.create("Twin")
	ts.create("Twin")
	before := ts.do(http.MethodGet, "/fhir/_history", "").mustStatus(t, http.StatusOK).get("total")
	good := `{"resource":` + patient("", "New") + `,"request":{"method":"POST","url":"Patient"}}`
	tests := []struct {
		name, bad string
		status    int
	}{
		{"invalid resource", `{"resource":{"resourceType":"Patient","gender":"sometimes"},"request":{"method":"POST","url":"Patient"}}`, http.StatusBadRequest},
		{"stale ifMatch", `{"resource":` + patient(id, "X") + `,"request":{"method":"PUT","url":"Patient/` + id + `","ifMatch":"W/\"9\""}}`, http.StatusPreconditionFailed},
		{"conditional reference matches two", `{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=` + mrn + `|Twin"}},"request":{"method":"POST","url":"Observation"}}`, http.StatusPreconditionFailed},
		{"conditional reference matches none", `{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=` + mrn + `|Nobody"}},"request":{"method":"POST","url":"Observation"}}`, http.StatusPreconditionFailed},
		{"same resource twice", `{"resource":` + patient(id, "A") + `,"request":{"method":"PUT","url":"Patient/` + id + `"}},{"request":{"method":"DELETE","url":"Patient/` + id + `"}}`, http.StatusBadRequest},
		{"missing request", `{"resource":` + patient("", "A") + `}`, http.StatusBadRequest},
		{"unknown type in url", `{"resource":` + patient("", "A") + `,"request":{"method":"POST","url":"Nope"}}`, http.StatusBadRequest},
		{"type mismatch", `{"resource":` + patient("", "A") + `,"request":{"method":"POST","url":"Observation"}}`, http.StatusBadRequest},
		{"conditional create matches two", `{"resource":` + patient("", "A") + `,"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=` + mrn + `|Twin"}}`, http.StatusPreconditionFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"resourceType":"Bundle","type":"transaction","entry":[` + good + `,` + tt.bad + `]}`
			r := ts.do(http.MethodPost, "/fhir", body).mustStatus(t, tt.status)
			r.isOutcome(t, "")
			if !strings.Contains(r.str("issue", 0, "diagnostics"), "Bundle.entry[") {
				t.Errorf("diagnostics do not name the entry: %s", r.Body.String())
			}
			after := ts.do(http.MethodGet, "/fhir/_history", "").mustStatus(t, http.StatusOK).get("total")
			if after != before {
				t.Errorf("history total %v after a failed transaction, was %v", after, before)
			}
		})
	}
}

func TestTransactionOrderAndConditionals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	doomed := ts.create("Doomed")
	known := ts.create("Known")
	patch := base64.StdEncoding.EncodeToString([]byte(`[{"op":"replace","path":"/gender","value":"other"}]`))
	// Listed out of order: the GET must see the writes, the DELETE goes first.
	body := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"request":{"method":"GET","url":"Patient/` + known + `"}},
	 {"resource":` + patient("", "Known") + `,"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=` + mrn + `|Known"}},
	 {"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"` + patch + `"},"request":{"method":"PATCH","url":"Patient/` + known + `"}},
	 {"resource":` + patient("", "Cond") + `,"request":{"method":"PUT","url":"Patient?identifier=` + mrn + `|Cond"}},
	 {"request":{"method":"DELETE","url":"Patient?identifier=` + mrn + `|Doomed"}}
	]}`
	r := ts.do(http.MethodPost, "/fhir", body).mustStatus(t, http.StatusOK)
	want := []string{"200 OK", "200 OK", "200 OK", "201 Created", "204 No Content"}
	for i, w := range want {
		if got, _ := entryResponse(t, r, i); got != w {
			t.Errorf("entry %d status %q, want %q", i, got, w)
		}
	}
	_, read := entryResponse(t, r, 0)
	if g := read["resource"].(map[string]any)["gender"]; g != "other" {
		t.Errorf("GET entry saw gender %v, want the patched value", g)
	}
	_, cc := entryResponse(t, r, 1)
	if id := cc["resource"].(map[string]any)["id"]; id != known {
		t.Errorf("conditional create answered %v, want the existing %s", id, known)
	}
	ts.do(http.MethodGet, "/fhir/Patient/"+doomed, "").mustStatus(t, http.StatusGone)
}

func TestBatch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("Batched")
	body := `{"resourceType":"Bundle","type":"batch","entry":[
	 {"resource":` + patient("", "B1") + `,"request":{"method":"POST","url":"Patient"}},
	 {"resource":{"resourceType":"Patient","gender":"sometimes"},"request":{"method":"POST","url":"Patient"}},
	 {"request":{"method":"GET","url":"Patient/` + id + `"}},
	 {"request":{"method":"GET","url":"Patient/absent"}},
	 {"resource":` + patient(id, "B2") + `,"request":{"method":"PUT","url":"Patient/` + id + `","ifMatch":"W/\"5\""}},
	 {"resource":{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.gender"},{"name":"value","valueCode":"other"}]}]},"request":{"method":"PATCH","url":"Patient/` + id + `"}},
	 {"request":{"method":"DELETE","url":"Patient/` + id + `"}},
	 {"request":{"method":"POST","url":"Nope"}}
	]}`
	r := ts.do(http.MethodPost, "/fhir", body).mustStatus(t, http.StatusOK)
	if r.str("type") != "batch-response" {
		t.Fatalf("type %q", r.str("type"))
	}
	want := []struct {
		status  string
		outcome bool
	}{
		{"201 Created", false}, {"400 Bad Request", true}, {"200 OK", false}, {"404 Not Found", true},
		{"412 Precondition Failed", true}, {"200 OK", false}, {"204 No Content", false}, {"400 Bad Request", true},
	}
	for i, w := range want {
		got, e := entryResponse(t, r, i)
		if got != w.status {
			t.Errorf("entry %d status %q, want %q", i, got, w.status)
		}
		_, hasOutcome := e["response"].(map[string]any)["outcome"]
		if hasOutcome != w.outcome {
			t.Errorf("entry %d outcome present=%v, want %v", i, hasOutcome, w.outcome)
		}
	}
	_, patched := entryResponse(t, r, 5)
	if g := patched["resource"].(map[string]any)["gender"]; g != "other" {
		t.Errorf("FHIRPath Patch entry gave gender %v", g)
	}
	ts.do(http.MethodGet, "/fhir/Patient/"+id, "").mustStatus(t, http.StatusGone)
}

func TestBundleRejected(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	tests := []struct {
		name, body string
		status     int
	}{
		{"not a bundle", patient("", "X"), http.StatusBadRequest},
		{"collection", `{"resourceType":"Bundle","type":"collection"}`, http.StatusBadRequest},
		{"malformed", `{"resourceType":"Bundle",`, http.StatusBadRequest},
		{"patch entry carrying a Patient", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":` + patient("1", "X") + `,"request":{"method":"PATCH","url":"Patient/1"}}]}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts.do(http.MethodPost, "/fhir", tt.body).mustStatus(t, tt.status).isOutcome(t, "")
		})
	}
}
