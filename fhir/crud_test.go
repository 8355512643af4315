package fhir

import (
	"net/http"
	"strings"
	"testing"
)

func TestCreateRead(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	r := ts.do(http.MethodPost, "/fhir/Patient", patient("client-id", "Smith")).mustStatus(t, http.StatusCreated)
	id := r.str("id")
	if id == "" || id == "client-id" || !validID(id) {
		t.Fatalf("created id %q: want a fresh server-assigned id", id)
	}
	wantLoc := testBase + "/Patient/" + id + "/_history/1"
	if got := r.Header().Get("Location"); got != wantLoc {
		t.Errorf("Location %q, want %q", got, wantLoc)
	}
	if got := r.Header().Get("ETag"); got != `W/"1"` {
		t.Errorf("ETag %q, want W/\"1\"", got)
	}
	if got := r.Header().Get("Content-Type"); got != "application/fhir+json; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if r.str("meta", "versionId") != "1" || r.str("meta", "lastUpdated") == "" {
		t.Errorf("meta not set by the server: %s", r.Body.String())
	}

	read := ts.do(http.MethodGet, "/fhir/Patient/"+id, "").mustStatus(t, http.StatusOK)
	if read.Body.String() != r.Body.String() {
		t.Errorf("read body differs from the created one:\n%s\n%s", read.Body.String(), r.Body.String())
	}
	if read.Header().Get("Last-Modified") == "" || read.Header().Get("ETag") != `W/"1"` {
		t.Errorf("read headers: %v", read.Header())
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("Gone")
	ts.do(http.MethodDelete, "/fhir/Patient/"+id, "").mustStatus(t, http.StatusOK)
	tests := []struct {
		name, path string
		status     int
		code       string
	}{
		{"absent", "/fhir/Patient/nope", http.StatusNotFound, codeNotFound},
		{"deleted", "/fhir/Patient/" + id, http.StatusGone, codeDeleted},
		{"vread deleted version", "/fhir/Patient/" + id + "/_history/2", http.StatusGone, codeDeleted},
		{"vread absent version", "/fhir/Patient/" + id + "/_history/9", http.StatusNotFound, codeNotFound},
		{"vread bad version", "/fhir/Patient/" + id + "/_history/x", http.StatusNotFound, codeNotFound},
		{"unknown type", "/fhir/Patientx/1", http.StatusNotFound, codeNotSupported},
		{"invalid id", "/fhir/Patient/a_b", http.StatusBadRequest, codeValue},
		{"too long id", "/fhir/Patient/" + strings.Repeat("a", 65), http.StatusBadRequest, codeValue},
		{"unknown route", "/fhir/Patient/1/foo/bar/baz", http.StatusNotFound, codeNotFound},
		{"bad _summary", "/fhir/Patient/" + id + "/_history/1?_summary=nope", http.StatusBadRequest, codeValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(http.MethodGet, tt.path, "").mustStatus(t, tt.status)
			r.isOutcome(t, tt.code)
		})
	}
}

func TestVRead(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("One")
	ts.do(http.MethodPut, "/fhir/Patient/"+id, patient(id, "Two")).mustStatus(t, http.StatusOK)
	for _, tt := range []struct{ version, family string }{{"1", "One"}, {"2", "Two"}} {
		r := ts.do(http.MethodGet, "/fhir/Patient/"+id+"/_history/"+tt.version, "").mustStatus(t, http.StatusOK)
		if got := r.str("name", 0, "family"); got != tt.family {
			t.Errorf("version %s: family %q, want %q", tt.version, got, tt.family)
		}
		if got := r.Header().Get("ETag"); got != `W/"`+tt.version+`"` {
			t.Errorf("version %s: ETag %q", tt.version, got)
		}
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("Before")
	tests := []struct {
		name    string
		path    string
		body    string
		headers []string
		status  int
		code    string // issue code of an error
		version string // meta.versionId of a success
	}{
		{"update", "/fhir/Patient/" + id, patient(id, "After"), nil, http.StatusOK, "", "2"},
		{"if-match ok", "/fhir/Patient/" + id, patient(id, "Again"), []string{"If-Match", `W/"2"`}, http.StatusOK, "", "3"},
		{"if-match stale", "/fhir/Patient/" + id, patient(id, "Stale"), []string{"If-Match", `W/"1"`}, http.StatusPreconditionFailed, codeConflict, ""},
		{"if-match malformed", "/fhir/Patient/" + id, patient(id, "Bad"), []string{"If-Match", `W/"x"`}, http.StatusBadRequest, codeValue, ""},
		{"update as create", "/fhir/Patient/client-chosen", patient("client-chosen", "New"), nil, http.StatusCreated, "", "1"},
		{"id mismatch", "/fhir/Patient/" + id, patient("other", "X"), nil, http.StatusBadRequest, codeInvalid, ""},
		{"no id in body", "/fhir/Patient/" + id, patient("", "X"), nil, http.StatusBadRequest, codeRequired, ""},
		{"type mismatch", "/fhir/Observation/" + id, patient(id, "X"), nil, http.StatusBadRequest, codeInvalid, ""},
		{"invalid resource", "/fhir/Patient/" + id, `{"resourceType":"Patient","id":"` + id + `","gender":"sometimes"}`, nil, http.StatusBadRequest, codeInvalid, ""},
		{"unknown element", "/fhir/Patient/" + id, `{"resourceType":"Patient","id":"` + id + `","colour":"blue"}`, nil, http.StatusBadRequest, codeInvalid, ""},
		{"malformed JSON", "/fhir/Patient/" + id, `{"resourceType":"Patient",`, nil, http.StatusBadRequest, codeStructure, ""},
		{"unsupported body type", "/fhir/Patient/" + id, patient(id, "X"), []string{"Content-Type", "application/fhir+xml"}, http.StatusUnsupportedMediaType, codeNotSupported, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(http.MethodPut, tt.path, tt.body, tt.headers...).mustStatus(t, tt.status)
			if tt.code != "" {
				r.isOutcome(t, tt.code)
				return
			}
			if got := r.str("meta", "versionId"); got != tt.version {
				t.Errorf("versionId %q, want %q", got, tt.version)
			}
			if got := r.Header().Get("ETag"); got != `W/"`+tt.version+`"` {
				t.Errorf("ETag %q", got)
			}
			loc := r.Header().Get("Location")
			if (tt.status == http.StatusCreated) != (loc != "") {
				t.Errorf("Location %q on status %d", loc, tt.status)
			}
			if r.Header().Get("Content-Location") == "" {
				t.Errorf("no Content-Location")
			}
		})
	}
}

func TestParseErrorExpression(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	r := ts.do(http.MethodPost, "/fhir/Patient", `{"resourceType":"Patient","birthDate":"not-a-date"}`).mustStatus(t, http.StatusBadRequest)
	expr, _ := r.get("issue", 0, "expression", 0).(string)
	if !strings.Contains(expr, "birthDate") {
		t.Errorf("expression %q does not name birthDate: %s", expr, r.Body.String())
	}
	// Every problem found is reported, each with its path.
	r = ts.do(http.MethodPost, "/fhir/Patient", `{"resourceType":"Patient","birthDate":"not-a-date","gender":"sometimes"}`).mustStatus(t, http.StatusBadRequest)
	issues, _ := r.get("issue").([]any)
	if len(issues) < 2 {
		t.Errorf("%d issues for two problems: %s", len(issues), r.Body.String())
	}
	if strings.Contains(r.Body.String(), "proto") || strings.Contains(r.Body.String(), "google.fhir") {
		t.Errorf("outcome leaks library internals: %s", r.Body.String())
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("ToDelete")
	pinned := ts.create("Pinned")

	r := ts.do(http.MethodDelete, "/fhir/Patient/"+id, "").mustStatus(t, http.StatusOK)
	r.isOutcome(t, codeInformation)
	if got := r.Header().Get("ETag"); got != `W/"2"` {
		t.Errorf("delete ETag %q, want W/\"2\"", got)
	}
	// Deleting again, or something never stored, writes nothing.
	ts.do(http.MethodDelete, "/fhir/Patient/"+id, "").mustStatus(t, http.StatusOK)
	ts.do(http.MethodDelete, "/fhir/Patient/never", "", "Prefer", "return=minimal").mustStatus(t, http.StatusNoContent)
	h := ts.do(http.MethodGet, "/fhir/Patient/"+id+"/_history", "").mustStatus(t, http.StatusOK)
	if total := h.get("total"); total != float64(2) {
		t.Errorf("history total %v after delete twice, want 2", total)
	}
	ts.do(http.MethodGet, "/fhir/Patient/never/_history", "").mustStatus(t, http.StatusNotFound)

	ts.do(http.MethodDelete, "/fhir/Patient/"+pinned, "", "If-Match", `W/"7"`).mustStatus(t, http.StatusPreconditionFailed)
	ts.do(http.MethodDelete, "/fhir/Patient/"+pinned, "", "If-Match", `W/"1"`).mustStatus(t, http.StatusOK)

	// A deleted resource comes back with update, as a new version.
	r = ts.do(http.MethodPut, "/fhir/Patient/"+id, patient(id, "Back")).mustStatus(t, http.StatusCreated)
	if got := r.str("meta", "versionId"); got != "3" {
		t.Errorf("revived versionId %q, want 3", got)
	}
}

func TestPreferReturn(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	tests := []struct {
		prefer  string
		status  int
		resType string // "" for no body
	}{
		{"return=minimal", http.StatusCreated, ""},
		{"return=representation", http.StatusCreated, "Patient"},
		{"return=OperationOutcome", http.StatusCreated, "OperationOutcome"},
		{"", http.StatusCreated, "Patient"},
	}
	for _, tt := range tests {
		t.Run(tt.prefer, func(t *testing.T) {
			r := ts.do(http.MethodPost, "/fhir/Patient", patient("", "P"), "Prefer", tt.prefer).mustStatus(t, tt.status)
			if got := r.str("resourceType"); got != tt.resType {
				t.Errorf("body %q, want %q", got, tt.resType)
			}
			if r.Header().Get("Location") == "" {
				t.Errorf("no Location")
			}
		})
	}
}

func TestConditionalRead(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("Cached")
	path := "/fhir/Patient/" + id
	lastModified := ts.do(http.MethodGet, path, "").Header().Get("Last-Modified")
	tests := []struct {
		name    string
		headers []string
		status  int
	}{
		{"if-none-match current", []string{"If-None-Match", `W/"1"`}, http.StatusNotModified},
		{"if-none-match star", []string{"If-None-Match", `*`}, http.StatusNotModified},
		{"if-none-match old", []string{"If-None-Match", `W/"0"`}, http.StatusOK},
		{"if-modified-since same", []string{"If-Modified-Since", lastModified}, http.StatusNotModified},
		{"if-modified-since past", []string{"If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(http.MethodGet, path, "", tt.headers...).mustStatus(t, tt.status)
			if tt.status == http.StatusNotModified && r.Body.Len() != 0 {
				t.Errorf("304 with a body")
			}
		})
	}
}
