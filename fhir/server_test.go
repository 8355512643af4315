package fhir

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
)

func TestContentNegotiation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("Format")
	path := "/fhir/Patient/" + id
	tests := []struct {
		name    string
		query   string
		headers []string
		status  int
	}{
		{"no accept", "", nil, http.StatusOK},
		{"fhir json", "", []string{"Accept", "application/fhir+json"}, http.StatusOK},
		{"plain json", "", []string{"Accept", "application/json"}, http.StatusOK},
		{"browser", "", []string{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8"}, http.StatusOK},
		{"xml only", "", []string{"Accept", "application/fhir+xml"}, http.StatusNotAcceptable},
		{"json refused", "", []string{"Accept", "application/fhir+json;q=0, application/xml"}, http.StatusNotAcceptable},
		{"_format json", "?_format=json", []string{"Accept", "application/fhir+xml"}, http.StatusOK},
		{"_format mime", "?_format=application/fhir%2Bjson", nil, http.StatusOK},
		{"_format unescaped plus", "?_format=application/fhir+json", nil, http.StatusOK},
		{"_format xml", "?_format=xml", nil, http.StatusNotAcceptable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(http.MethodGet, path+tt.query, "", tt.headers...).mustStatus(t, tt.status)
			if got := r.Header().Get("Content-Type"); got != contentTypeFHIR {
				t.Errorf("Content-Type %q", got)
			}
			if tt.status != http.StatusOK {
				r.isOutcome(t, codeNotSupported)
			}
		})
	}
	pretty := ts.do(http.MethodGet, path+"?_pretty=true", "").mustStatus(t, http.StatusOK)
	if !strings.Contains(pretty.Body.String(), "\n  \"") {
		t.Errorf("_pretty=true body is not indented: %s", pretty.Body.String())
	}
	compact := ts.do(http.MethodGet, path, "").mustStatus(t, http.StatusOK)
	if strings.Contains(compact.Body.String(), "\n") {
		t.Errorf("default body is not compact")
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{MaxBodyBytes: 512})
	id := ts.create("Routed")
	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string
	}{
		{"POST on an instance", http.MethodPost, "/fhir/Patient/" + id, patient("", "X"), nil, http.StatusMethodNotAllowed, codeNotSupported},
		{"PUT on a type without criteria", http.MethodPut, "/fhir/Patient", patient("", "X"), nil, http.StatusMethodNotAllowed, codeNotSupported},
		{"DELETE on the base", http.MethodDelete, "/fhir", "", nil, http.StatusMethodNotAllowed, codeNotSupported},
		{"POST on history", http.MethodPost, "/fhir/Patient/_history", "", nil, http.StatusMethodNotAllowed, codeNotSupported},
		{"unknown operation", http.MethodPost, "/fhir/Patient/$validate", patient("", "X"), nil, http.StatusNotFound, codeNotSupported},
		{"unknown path", http.MethodGet, "/fhir/Patient/" + id + "/x/y/z", "", nil, http.StatusNotFound, codeNotFound},
		{"unknown type on create", http.MethodPost, "/fhir/Nope", patient("", "X"), nil, http.StatusNotFound, codeNotSupported},
		{"body too large", http.MethodPost, "/fhir/Patient", `{"resourceType":"Patient","name":[{"family":"` + strings.Repeat("x", 600) + `"}]}`, nil, http.StatusRequestEntityTooLarge, codeTooLong},
		{"xml body", http.MethodPost, "/fhir/Patient", `<Patient/>`, []string{"Content-Type", "application/fhir+xml"}, http.StatusUnsupportedMediaType, codeNotSupported},
		{"body of another type", http.MethodPost, "/fhir/Observation", patient("", "X"), nil, http.StatusBadRequest, codeInvalid},
		{"unknown type in body", http.MethodPost, "/fhir/Patient", `{"resourceType":"Nope"}`, nil, http.StatusBadRequest, codeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts.do(tt.method, tt.path, tt.body, tt.headers...).mustStatus(t, tt.status).isOutcome(t, tt.code)
		})
	}
}

func TestInteractionKey(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	id := ts.create("Keyed")
	var got string
	ts.e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			got, _ = c.Get(InteractionKey).(string)
			return err
		}
	})
	tests := []struct{ method, path, body, want string }{
		{http.MethodGet, "/fhir/Patient/" + id, "", "read"},
		{http.MethodGet, "/fhir/Patient/" + id + "/_history/1", "", "vread"},
		{http.MethodGet, "/fhir/Patient/" + id + "/_history", "", "history-instance"},
		{http.MethodGet, "/fhir/Patient/_history", "", "history-type"},
		{http.MethodGet, "/fhir/_history", "", "history-system"},
		{http.MethodGet, "/fhir/Patient", "", "search-type"},
		{http.MethodGet, "/fhir?_type=Patient", "", "search-system"},
		{http.MethodGet, "/fhir/metadata", "", "capabilities"},
		{http.MethodPost, "/fhir/Patient", patient("", "K"), "create"},
		{http.MethodPut, "/fhir/Patient/" + id, patient(id, "K"), "update"},
		{http.MethodDelete, "/fhir/Patient/" + id, "", "delete"},
		{http.MethodPost, "/fhir", `{"resourceType":"Bundle","type":"batch"}`, "batch"},
		{http.MethodPost, "/fhir", `{"resourceType":"Bundle","type":"transaction"}`, "transaction"},
	}
	for _, tt := range tests {
		got = ""
		ts.do(tt.method, tt.path, tt.body)
		if got != tt.want {
			t.Errorf("%s %s: interaction %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestCapabilityStatement(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	r := ts.do(http.MethodGet, "/fhir/metadata", "").mustStatus(t, http.StatusOK)
	if _, err := model.Parse(r.Body.Bytes()); err != nil {
		t.Fatalf("CapabilityStatement does not validate: %v", err)
	}
	var cs capabilityStatement
	if err := json.Unmarshal(r.Body.Bytes(), &cs); err != nil {
		t.Fatal(err)
	}
	if cs.FHIRVersion != "4.0.1" || cs.Kind != "instance" || cs.Status != "active" || cs.Implementation["url"] != testBase {
		t.Errorf("header fields: %+v", cs)
	}
	if len(cs.Rest) != 1 || len(cs.Rest[0].Resource) != len(model.ResourceTypes()) {
		t.Fatalf("want one rest entry listing every resource type")
	}
	var system []string
	for _, i := range cs.Rest[0].Interaction {
		system = append(system, i.Code)
	}
	if got := strings.Join(system, ","); got != "transaction,batch,search-system,history-system" {
		t.Errorf("system interactions %s", got)
	}
	for _, res := range cs.Rest[0].Resource {
		if res.Type != "Patient" {
			continue
		}
		params := map[string]bool{}
		for _, p := range res.SearchParam {
			params[p.Name] = true
		}
		for _, want := range []string{"_id", "_lastUpdated", "identifier"} {
			if !params[want] {
				t.Errorf("Patient does not advertise %s", want)
			}
		}
		if res.ConditionalDelete != "multiple" || !res.UpdateCreate || res.Versioning != "versioned-update" {
			t.Errorf("Patient capabilities: %+v", res)
		}
	}
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{BaseURL: testBase}); err == nil {
		t.Errorf("New without a store succeeded")
	}
	ts := newTestServer(t, Options{})
	srv, err := New(Options{Store: ts.store, BaseURL: testBase + "/"})
	if err != nil {
		t.Fatal(err)
	}
	if srv.opts.BaseURL != testBase || srv.opts.MaxBodyBytes != 16<<20 || srv.opts.MaxConditionalDeletes != 100 ||
		srv.opts.DefaultPageSize != 20 || srv.opts.MaxPageSize != 1000 {
		t.Errorf("defaults not applied: %+v", srv.opts)
	}
}

// An internal failure must not leak its text: the store is closed under the server.
func TestInternalErrorHidden(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "closed.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Store: st, BaseURL: testBase, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	srv.Mount(e)
	st.Close()
	req := httptest.NewRequest(http.MethodGet, "/fhir/Patient/x", nil)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if body := rec.Body.String(); !strings.Contains(body, "internal server error") || strings.Contains(body, "sql") || strings.Contains(body, "store:") {
		t.Errorf("500 body leaks internals: %s", body)
	}
}

// noTransactions is a real store that, like MongoDB without a replica set,
// cannot commit several resources atomically.
type noTransactions struct{ store.Store }

func (noTransactions) SupportsTransactions() bool { return false }

func TestStoreWithoutTransactions(t *testing.T) {
	t.Parallel()
	base := newTestServer(t, Options{})
	srv, err := New(Options{Store: noTransactions{base.store}, BaseURL: testBase, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	srv.Mount(e)
	ts := &testServer{t: t, e: e, store: base.store}

	r := ts.do(http.MethodGet, "/fhir/metadata", "").mustStatus(t, http.StatusOK)
	if strings.Contains(r.Body.String(), `"transaction"`) {
		t.Errorf("CapabilityStatement advertises transaction on a store without transactions")
	}
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":` + patient("", "T") + `,"request":{"method":"POST","url":"Patient"}}]}`
	ts.do(http.MethodPost, "/fhir", tx).mustStatus(t, http.StatusBadRequest).isOutcome(t, codeNotSupported)
	batch := strings.Replace(tx, `"transaction"`, `"batch"`, 1)
	r = ts.do(http.MethodPost, "/fhir", batch).mustStatus(t, http.StatusOK)
	if status, _ := entryResponse(t, r, 0); status != "201 Created" {
		t.Errorf("batch entry status %q", status)
	}
	// A multiple conditional delete still works, one resource at a time.
	ts.create("Many")
	ts.create("Many")
	ts.do(http.MethodDelete, "/fhir/Patient?identifier="+mrn+"|Many", "").mustStatus(t, http.StatusOK)
	r = ts.do(http.MethodGet, "/fhir/Patient?identifier="+mrn+"|Many", "").mustStatus(t, http.StatusOK)
	if total := r.get("total"); total != float64(0) {
		t.Errorf("%v matches remain after the conditional delete", total)
	}
}
