package fhir

import (
	"net/http"
	"testing"
)

const mrn = "http://example.org/mrn"

func TestConditionalCreate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	existing := ts.create("Unique")
	ts.create("Twin")
	ts.create("Twin")
	tests := []struct {
		name, criteria string
		status         int
		sameID         bool // answered with the existing resource
	}{
		{"no match creates", "identifier=" + mrn + "|Nobody", http.StatusCreated, false},
		{"one match returns it", "identifier=" + mrn + "|Unique", http.StatusOK, true},
		{"type-prefixed criteria", "Patient?identifier=" + mrn + "|Unique", http.StatusOK, true},
		{"two matches fail", "identifier=" + mrn + "|Twin", http.StatusPreconditionFailed, false},
		{"unknown parameter refused", "shoe-size=42", http.StatusBadRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(http.MethodPost, "/fhir/Patient", patient("", "Other"), "If-None-Exist", tt.criteria).mustStatus(t, tt.status)
			if tt.sameID && r.str("id") != existing {
				t.Errorf("answered %q, want the existing %q", r.str("id"), existing)
			}
		})
	}
}

func TestConditionalUpdate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	existing := ts.create("Known")
	ts.create("Twin")
	ts.create("Twin")
	tests := []struct {
		name, query, body string
		status            int
		wantID            string // "" for any
		wantVersion       string
	}{
		{"one match updates it", "identifier=" + mrn + "|Known", patient("", "Known"), http.StatusOK, existing, "2"},
		{"match with same id in body", "identifier=" + mrn + "|Known", patient(existing, "Known"), http.StatusOK, existing, "3"},
		{"match with other id in body", "identifier=" + mrn + "|Known", patient("other", "Known"), http.StatusBadRequest, "", ""},
		{"no match creates with server id", "identifier=" + mrn + "|Fresh", patient("", "Fresh"), http.StatusCreated, "", "1"},
		{"no match creates with client id", "identifier=" + mrn + "|Mine", patient("mine", "Mine"), http.StatusCreated, "mine", "1"},
		{"no match but the body's id exists", "identifier=" + mrn + "|Nobody", patient(existing, "Nobody"), http.StatusConflict, "", ""},
		{"several matches fail", "identifier=" + mrn + "|Twin", patient("", "Twin"), http.StatusPreconditionFailed, "", ""},
		{"only result parameters", "_count=3", patient("", "X"), http.StatusBadRequest, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(http.MethodPut, "/fhir/Patient?"+tt.query, tt.body).mustStatus(t, tt.status)
			if tt.wantVersion == "" {
				r.isOutcome(t, "")
				return
			}
			if tt.wantID != "" && r.str("id") != tt.wantID {
				t.Errorf("id %q, want %q", r.str("id"), tt.wantID)
			}
			if got := r.str("meta", "versionId"); got != tt.wantVersion {
				t.Errorf("versionId %q, want %q", got, tt.wantVersion)
			}
		})
	}
	ts.do(http.MethodPut, "/fhir/Patient", patient("", "X")).mustStatus(t, http.StatusMethodNotAllowed)
}

func TestConditionalDelete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{MaxConditionalDeletes: 2})
	single := ts.create("Single")
	a, b := ts.create("Pair"), ts.create("Pair")
	for range 3 {
		ts.create("Crowd")
	}
	tests := []struct {
		name, query string
		status      int
		gone        []string
	}{
		{"single", "identifier=" + mrn + "|Single", http.StatusOK, []string{single}},
		{"multiple within the limit", "identifier=" + mrn + "|Pair", http.StatusOK, []string{a, b}},
		{"over the limit", "identifier=" + mrn + "|Crowd", http.StatusPreconditionFailed, nil},
		{"no match", "identifier=" + mrn + "|Nobody", http.StatusOK, nil},
		{"unknown parameter", "colour=blue", http.StatusBadRequest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts.do(http.MethodDelete, "/fhir/Patient?"+tt.query, "").mustStatus(t, tt.status)
			for _, id := range tt.gone {
				ts.do(http.MethodGet, "/fhir/Patient/"+id, "").mustStatus(t, http.StatusGone)
			}
		})
	}
	r := ts.do(http.MethodGet, "/fhir/Patient?identifier="+mrn+"|Crowd", "").mustStatus(t, http.StatusOK)
	if total := r.get("total"); total != float64(3) {
		t.Errorf("after a refused delete %v Crowd patients remain, want 3", total)
	}
}

func TestPatch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("Patchy")
	gone := ts.create("Gone")
	ts.do(http.MethodDelete, "/fhir/Patient/"+gone, "").mustStatus(t, http.StatusOK)
	const jp = "application/json-patch+json"
	tests := []struct {
		name, path, patch string
		headers           []string
		status            int
		family            string
	}{
		{"replace", "/fhir/Patient/" + id, `[{"op":"replace","path":"/name/0/family","value":"Patched"}]`, nil, http.StatusOK, "Patched"},
		{"if-match ok", "/fhir/Patient/" + id, `[{"op":"replace","path":"/name/0/family","value":"Pinned"}]`, []string{"If-Match", `W/"2"`}, http.StatusOK, "Pinned"},
		{"if-match stale", "/fhir/Patient/" + id, `[{"op":"replace","path":"/name/0/family","value":"No"}]`, []string{"If-Match", `W/"1"`}, http.StatusPreconditionFailed, ""},
		{"failing test op", "/fhir/Patient/" + id, `[{"op":"test","path":"/gender","value":"male"}]`, nil, http.StatusUnprocessableEntity, ""},
		{"result invalid", "/fhir/Patient/" + id, `[{"op":"replace","path":"/gender","value":"sometimes"}]`, nil, http.StatusUnprocessableEntity, ""},
		{"changes the id", "/fhir/Patient/" + id, `[{"op":"replace","path":"/id","value":"other"}]`, nil, http.StatusUnprocessableEntity, ""},
		{"absent", "/fhir/Patient/nobody", `[]`, nil, http.StatusNotFound, ""},
		{"deleted", "/fhir/Patient/" + gone, `[]`, nil, http.StatusGone, ""},
		{"conditional", "/fhir/Patient?identifier=" + mrn + "|Patchy", `[{"op":"replace","path":"/name/0/family","value":"ByQuery"}]`, nil, http.StatusOK, "ByQuery"},
		{"fhirpath patch", "/fhir/Patient/" + id, `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.name.family"},{"name":"value","valueString":"ByFHIRPath"}]}]}`, []string{"Content-Type", "application/fhir+json"}, http.StatusOK, "ByFHIRPath"},
		{"fhirpath patch failing", "/fhir/Patient/" + id, `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"explode"}]}]}`, []string{"Content-Type", "application/fhir+json"}, http.StatusUnprocessableEntity, ""},
		{"xml patch refused", "/fhir/Patient/" + id, `<Parameters/>`, []string{"Content-Type", "application/fhir+xml"}, http.StatusUnsupportedMediaType, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := append([]string{"Content-Type", jp}, tt.headers...)
			r := ts.do(http.MethodPatch, tt.path, tt.patch, headers...).mustStatus(t, tt.status)
			if tt.family == "" {
				r.isOutcome(t, "")
				return
			}
			if got := r.str("name", 0, "family"); got != tt.family {
				t.Errorf("family %q, want %q", got, tt.family)
			}
			if r.str("id") != id {
				t.Errorf("patched id %q", r.str("id"))
			}
		})
	}
	r := ts.do(http.MethodGet, "/fhir/Patient/"+id+"/_history", "").mustStatus(t, http.StatusOK)
	if got := r.str("entry", 0, "request", "method"); got != "PATCH" {
		t.Errorf("history records method %q for a patch, want PATCH", got)
	}
}
