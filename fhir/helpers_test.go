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

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/mongo"
	"github.com/telehub/telehub/store/mongo/mongotest"
	"github.com/telehub/telehub/store/sqlite"
)

const testBase = "http://fhir.test/fhir"

// testServer is a Server on a fresh SQLite store (with the AuditEvents in
// an audit trail, as the embedded deployment keeps them), mounted on echo.
type testServer struct {
	t     testing.TB
	e     *echo.Echo
	store store.Store
}

func newTestServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	st, _ := openTrailStore(t, audit.TrailOptions{})
	return newTestServerOn(t, st, opts)
}

// openTrailStore opens an SQLite store with the audit trail beside it, as
// the embedded deployment keeps them, closed when the test ends.
func openTrailStore(t testing.TB, trailOpts audit.TrailOptions) (store.Store, *audit.Trail) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	data, err := sqlite.Open(ctx, filepath.Join(dir, "fhir.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	trail, err := audit.OpenTrail(filepath.Join(dir, "audit-trail"), trailOpts)
	if err != nil {
		t.Fatalf("open audit trail: %v", err)
	}
	t.Cleanup(func() {
		trail.Close()
		data.Close()
	})
	st, err := audit.WithTrail(ctx, data, trail)
	if err != nil {
		t.Fatalf("open store with the audit trail: %v", err)
	}
	return st, trail
}

// newTestServerOn is a Server on st, mounted on echo.
func newTestServerOn(t testing.TB, st store.Store, opts Options) *testServer {
	t.Helper()
	opts.Store = st
	if opts.BaseURL == "" {
		opts.BaseURL = testBase
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	e := echo.New()
	srv.Mount(e)
	return &testServer{t: t, e: e, store: st}
}

// response is a recorded answer with its body decoded as JSON.
type response struct {
	*httptest.ResponseRecorder
	json map[string]any
}

// do sends a request; headers come as name, value pairs. A body without an
// explicit Content-Type is sent as application/fhir+json.
func (ts *testServer) do(method, path, body string, headers ...string) *response {
	ts.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	ts.e.ServeHTTP(rec, req)
	r := &response{ResponseRecorder: rec}
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &r.json); err != nil {
			ts.t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, rec.Body.String())
		}
	}
	return r
}

// mustStatus fails the test unless the response has the status.
func (r *response) mustStatus(t testing.TB, want int) *response {
	t.Helper()
	if r.Code != want {
		t.Fatalf("status %d, want %d; body: %s", r.Code, want, r.Body.String())
	}
	return r
}

// get walks the decoded body along a path of keys and indexes: get("issue", 0, "code").
func (r *response) get(path ...any) any {
	var v any = r.json
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[p]
		case int:
			a, ok := v.([]any)
			if !ok || p >= len(a) {
				return nil
			}
			v = a[p]
		}
	}
	return v
}

func (r *response) str(path ...any) string {
	s, _ := r.get(path...).(string)
	return s
}

// entries returns the Bundle's entries.
func (r *response) entries() []map[string]any {
	list, _ := r.get("entry").([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		out = append(out, e.(map[string]any))
	}
	return out
}

// link returns the url of a Bundle link relation, "" when absent.
func (r *response) link(relation string) string {
	list, _ := r.get("link").([]any)
	for _, l := range list {
		m := l.(map[string]any)
		if m["relation"] == relation {
			return m["url"].(string)
		}
	}
	return ""
}

// isOutcome checks the body is an OperationOutcome with the issue code
// (any code when code is "").
func (r *response) isOutcome(t testing.TB, code string) {
	t.Helper()
	if rt := r.str("resourceType"); rt != "OperationOutcome" {
		t.Fatalf("body is a %q, want an OperationOutcome: %s", rt, r.Body.String())
	}
	if got := r.str("issue", 0, "code"); got == "" || code != "" && got != code {
		t.Fatalf("issue code %q, want %q: %s", got, code, r.Body.String())
	}
}

func patient(id, family string) string {
	idPart := ""
	if id != "" {
		idPart = `"id":"` + id + `",`
	}
	return `{"resourceType":"Patient",` + idPart + `"identifier":[{"system":"http://example.org/mrn","value":"` + family + `"}],"name":[{"family":"` + family + `"}],"gender":"female"}`
}

// create stores a patient and returns its id.
func (ts *testServer) create(family string) string {
	ts.t.Helper()
	r := ts.do(http.MethodPost, "/fhir/Patient", patient("", family)).mustStatus(ts.t, http.StatusCreated)
	return r.str("id")
}

// newMongoTestServer is a Server on database of a FerretDB server started
// for the test (the Mongo backend); it skips with -short.
func newMongoTestServer(t *testing.T, database string, opts Options) *testServer {
	t.Helper()
	if testing.Short() {
		t.Skip("starts FerretDB; skipped with -short")
	}
	st, err := mongo.Open(context.Background(), mongotest.Start(t)+database)
	if err != nil {
		t.Fatalf("open mongo store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return newTestServerOn(t, st, opts)
}
