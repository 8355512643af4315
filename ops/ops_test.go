package ops_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	_ "modernc.org/sqlite"

	"github.com/telehub/telehub/ops"
)

const interactionKey = "fhir.interaction"

// logBuffer collects JSON log lines; handlers run on server goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// raw returns every log line as written.
func (b *logBuffer) raw() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

// lines decodes every log line written so far.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// dbPinger checks a real SQLite database, as the store's Ping does.
type dbPinger struct{ db *sql.DB }

func (p dbPinger) Ping(ctx context.Context) error { return p.db.PingContext(ctx) }

// newServer builds an echo server with the ops layer and a few test routes.
func newServer(t *testing.T, ready ops.Pinger) (*echo.Echo, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o, err := ops.New(ops.Options{Logger: logger, Ready: ready, InteractionKey: interactionKey})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	o.Register(e)
	e.GET("/fhir/Patient/:id", func(c echo.Context) error {
		c.Set(interactionKey, "read")
		ctx := c.Request().Context()
		ops.Logger(ctx).Info("handler ran")
		o.Logger().InfoContext(ctx, "handler ran with the server logger")
		ops.Logger(ctx).InfoContext(ctx, "handler ran with both")
		return c.String(http.StatusOK, "request id in context: "+ops.RequestID(c.Request().Context()))
	})
	e.GET("/fhir/missing", func(c echo.Context) error {
		c.Set(interactionKey, "read")
		return echo.NewHTTPError(http.StatusNotFound, "no such thing")
	})
	e.GET("/fhir/panic", func(c echo.Context) error {
		panic("boom")
	})
	return e, logs
}

func do(e *echo.Echo, method, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "ready.db"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestProbes(t *testing.T) {
	t.Parallel()
	up := openDB(t)
	t.Cleanup(func() { up.Close() })
	down := openDB(t)
	down.Close()

	tests := []struct {
		name       string
		path       string
		ready      ops.Pinger
		wantStatus int
		wantBody   string
	}{
		{"liveness", "/healthz", dbPinger{down}, http.StatusOK, `"status":"ok"`},
		{"ready with store up", "/readyz", dbPinger{up}, http.StatusOK, `"status":"ok"`},
		{"not ready with store down", "/readyz", dbPinger{down}, http.StatusServiceUnavailable, `"status":"unavailable"`},
		{"ready without a store to check", "/readyz", nil, http.StatusOK, `"status":"ok"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newServer(t, tt.ready)
			rec := do(e, http.MethodGet, tt.path, nil)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Fatalf("body %q, want it to contain %q", rec.Body.String(), tt.wantBody)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tests := []struct {
		name     string
		incoming string
		keep     bool
	}{
		{"none sent", "", false},
		{"sane id kept", "abc-123_X.y", true},
		{"128 characters kept", strings.Repeat("a", 128), true},
		{"129 characters replaced", strings.Repeat("a", 129), false},
		{"space replaced", "abc 123", false},
		{"log injection replaced", "abc\ninjected", false},
		{"non-ascii replaced", "hélène", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, logs := newServer(t, nil)
			header := http.Header{}
			if tt.incoming != "" {
				header.Set(ops.RequestIDHeader, tt.incoming)
			}
			rec := do(e, http.MethodGet, "/fhir/Patient/1", header)
			id := rec.Header().Get(ops.RequestIDHeader)
			if tt.keep && id != tt.incoming {
				t.Fatalf("response id %q, want the incoming %q", id, tt.incoming)
			}
			if !tt.keep && !generated.MatchString(id) {
				t.Fatalf("response id %q, want a generated one", id)
			}
			if want := "request id in context: " + id; rec.Body.String() != want {
				t.Fatalf("handler saw %q, want %q", rec.Body.String(), want)
			}
			lines := logs.lines(t)
			if len(lines) != 4 {
				t.Fatalf("got %d log lines, want the handler's three and the access log: %v", len(lines), lines)
			}
			for _, line := range lines {
				if line["request_id"] != id {
					t.Errorf("log line %v: request_id %v, want %q", line["msg"], line["request_id"], id)
				}
			}
			for _, raw := range logs.raw() {
				if n := strings.Count(raw, `"request_id"`); n != 1 {
					t.Errorf("request_id written %d times in %s", n, raw)
				}
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path            string
		wantStatus      float64
		wantInteraction string
		wantLevel       string
	}{
		{"/fhir/Patient/7", 200, "read", "INFO"},
		{"/fhir/missing", 404, "read", "INFO"},
		{"/nowhere", 404, "other", "INFO"},
		{"/fhir/panic", 500, "other", "ERROR"},
		{"/healthz", 200, "other", "DEBUG"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			e, logs := newServer(t, nil)
			rec := do(e, http.MethodGet, tt.path, nil)
			var access map[string]any
			for _, line := range logs.lines(t) {
				if line["msg"] == "request" {
					access = line
				}
			}
			if access == nil {
				t.Fatal("no access log line")
			}
			want := map[string]any{
				"level":       tt.wantLevel,
				"method":      "GET",
				"path":        tt.path,
				"status":      tt.wantStatus,
				"bytes":       float64(rec.Body.Len()),
				"interaction": tt.wantInteraction,
				"request_id":  rec.Header().Get(ops.RequestIDHeader),
			}
			for k, v := range want {
				if access[k] != v {
					t.Errorf("%s = %v, want %v", k, access[k], v)
				}
			}
			if _, ok := access["duration"]; !ok {
				t.Error("no duration")
			}
		})
	}
}

func TestPanicAnswersOperationOutcome(t *testing.T) {
	t.Parallel()
	e, logs := newServer(t, nil)
	rec := do(e, http.MethodGet, "/fhir/panic", http.Header{ops.RequestIDHeader: {"req-42"}})
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("content type %q", ct)
	}
	var outcome struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity    string `json:"severity"`
			Code        string `json:"code"`
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &outcome); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	if outcome.ResourceType != "OperationOutcome" || len(outcome.Issue) != 1 || outcome.Issue[0].Code != "exception" {
		t.Fatalf("outcome %+v", outcome)
	}
	if !strings.Contains(outcome.Issue[0].Diagnostics, "req-42") {
		t.Errorf("diagnostics %q do not name the request id", outcome.Issue[0].Diagnostics)
	}
	if strings.Contains(rec.Body.String(), "goroutine") || strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("the response leaks the panic: %s", rec.Body.String())
	}
	var logged bool
	for _, line := range logs.lines(t) {
		stack, _ := line["stack"].(string)
		if line["msg"] == "handler panic" && line["request_id"] == "req-42" && strings.Contains(stack, "goroutine") {
			logged = true
		}
	}
	if !logged {
		t.Error("the panic's stack was not logged with the request id")
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e, _ := newServer(t, nil)
	for _, path := range []string{"/fhir/Patient/1", "/fhir/Patient/2", "/fhir/missing", "/fhir/panic", "/nowhere"} {
		do(e, http.MethodGet, path, nil)
	}
	rec := do(e, http.MethodGet, "/metrics", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`telehub_http_requests_total{code="200",interaction="read"} 2`,
		`telehub_http_requests_total{code="404",interaction="read"} 1`,
		`telehub_http_requests_total{code="500",interaction="other"} 1`,
		`telehub_http_requests_total{code="404",interaction="other"} 1`,
		`telehub_http_request_duration_seconds_count{code="200",interaction="read"} 2`,
		`telehub_http_requests_in_flight 1`, // the scrape itself
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
