package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/mongo"
	"github.com/telehub/telehub/store/sqlite"
)

// backend is one storage backend every test runs against.
type backend struct {
	name string
	// open returns a fresh, empty store that lives until the test ends.
	open func(t *testing.T) store.Store
	// transactions reports whether transaction Bundles must work; when false
	// they must be refused with an OperationOutcome and change nothing.
	transactions bool
}

var backends = []backend{
	{name: "sqlite", open: openSQLite, transactions: true},
	{name: "mongo", open: openMongo, transactions: false},
}

// openSQLite opens the store of the embedded deployment: SQLite, with the
// AuditEvents in an audit trail of their own.
func openSQLite(t *testing.T) store.Store {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "telehub.db"))
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	trail, err := audit.OpenTrail(filepath.Join(dir, "audit-trail"), audit.TrailOptions{})
	if err != nil {
		t.Fatalf("open audit trail: %v", err)
	}
	t.Cleanup(func() {
		if err := trail.Close(); err != nil {
			t.Errorf("close audit trail: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close sqlite store: %v", err)
		}
	})
	withTrail, err := audit.WithTrail(ctx, st, trail)
	if err != nil {
		t.Fatalf("open sqlite store with the audit trail: %v", err)
	}
	return withTrail
}

func openMongo(t *testing.T) store.Store {
	t.Helper()
	base, err := ferret.uri()
	if err != nil {
		t.Fatalf("start FerretDB: %v", err)
	}
	uri := strings.TrimSuffix(base, "/") + "/test_" + randomHex(t, 8)
	st, err := mongo.Open(context.Background(), uri)
	if err != nil {
		t.Fatalf("open mongo store at %s: %v", uri, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close mongo store: %v", err)
		}
	})
	return st
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// serverOptions are the limits the test servers run with.
type serverOptions struct {
	maxBodyBytes          int64
	maxConditionalDeletes int
}

// defaultServerOptions admit the largest specification example (2.5 MB).
var defaultServerOptions = serverOptions{maxBodyBytes: 4 << 20, maxConditionalDeletes: 1}

// server is a full TeleHub FHIR server on a loopback port.
type server struct {
	backend backend
	store   store.Store
	// base is the FHIR base URL, "http://127.0.0.1:PORT/fhir".
	base   string
	client *http.Client
}

// startServer starts a server on a fresh store of backend b; it stops when
// the test ends.
func startServer(t *testing.T, b backend, opts serverOptions) *server {
	t.Helper()
	st := b.open(t)
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String() + "/fhir"
	logs := &testLog{t: t}
	t.Cleanup(logs.stop) // registered before ts.Close, so it runs after it
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	api, err := fhir.New(fhir.Options{
		Store:                 st,
		BaseURL:               base,
		MaxBodyBytes:          opts.maxBodyBytes,
		MaxConditionalDeletes: opts.maxConditionalDeletes,
		DefaultPageSize:       50,
		MaxPageSize:           1000,
		Logger:                logger,
	})
	if err != nil {
		t.Fatalf("fhir.New: %v", err)
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	api.Mount(e)
	ts.Config.Handler = e
	ts.Start()
	t.Cleanup(ts.Close)
	return &server{
		backend: b,
		store:   st,
		base:    base,
		client:  &http.Client{Timeout: 2 * time.Minute},
	}
}

// testLog sends the server's warnings and errors to the test log, so a
// failing test shows what the server said about it. Once the test is over
// it drops them: testing forbids logging after the end of a test.
type testLog struct {
	t       *testing.T
	mu      sync.Mutex
	stopped bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (l *testLog) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
}

// response is one HTTP answer, body read.
type response struct {
	method, url string
	status      int
	header      http.Header
	body        []byte
}

func (r response) String() string {
	body := string(r.body)
	if len(body) > 600 {
		body = body[:600] + "…"
	}
	return fmt.Sprintf("%s %s → %d %s", r.method, r.url, r.status, body)
}

// request is one HTTP request to the server; path is relative to the FHIR
// base ("Patient/1"; "" is the base itself), or absolute ("http://…").
type request struct {
	method  string
	path    string
	body    []byte
	headers map[string]string
}

// do sends req. A JSON body gets Content-Type application/fhir+json unless
// the request sets its own; every request accepts application/fhir+json
// unless it says otherwise.
func (s *server) do(t testing.TB, req request) response {
	t.Helper()
	resp, err := s.try(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// try is do for goroutines that must not call t.Fatal.
func (s *server) try(req request) (response, error) {
	url := req.path
	switch {
	case url == "":
		url = s.base
	case !strings.HasPrefix(url, "http://"):
		url = s.base + "/" + strings.TrimPrefix(url, "/")
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequest(req.method, url, body)
	if err != nil {
		return response{}, fmt.Errorf("build %s %s: %w", req.method, url, err)
	}
	hr.Header.Set("Accept", "application/fhir+json")
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/fhir+json")
	}
	for k, v := range req.headers {
		if v == "" {
			hr.Header.Del(k)
			continue
		}
		hr.Header.Set(k, v)
	}
	res, err := s.client.Do(hr)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", req.method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read body: %w", req.method, url, err)
	}
	return response{method: req.method, url: url, status: res.StatusCode, header: res.Header, body: b}, nil
}

func (s *server) get(t testing.TB, path string) response {
	t.Helper()
	return s.do(t, request{method: http.MethodGet, path: path})
}

// put stores a resource (a value marshalled to JSON) and fails the test
// unless the server answers 200 or 201.
func (s *server) put(t testing.TB, path string, resource any) response {
	t.Helper()
	resp := s.do(t, request{method: http.MethodPut, path: path, body: mustJSON(t, resource)})
	if resp.status != http.StatusOK && resp.status != http.StatusCreated {
		t.Fatalf("seed: %v", resp)
	}
	return resp
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	if b, ok := v.([]byte); ok {
		return b
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// decode parses a JSON document keeping numbers as written (json.Number), so
// "1.50" and "1.5" stay different, as FHIR decimals are.
func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("trailing data after the JSON document")
	}
	return v, nil
}

// object decodes a response body that must be one JSON object.
func (r response) object(t testing.TB) map[string]any {
	t.Helper()
	v, err := decode(r.body)
	if err != nil {
		t.Fatalf("response is not JSON (%v): %v", err, r)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("response is not a JSON object: %v", r)
	}
	return m
}

// outcomeProblem says what is wrong with doc as an error OperationOutcome,
// or "" when it is one: resourceType OperationOutcome, at least one issue,
// every issue with a severity and a code.
func outcomeProblem(doc map[string]any) string {
	if doc["resourceType"] != "OperationOutcome" {
		return fmt.Sprintf("resourceType is %v, want OperationOutcome", doc["resourceType"])
	}
	issues, _ := doc["issue"].([]any)
	if len(issues) == 0 {
		return "OperationOutcome has no issue"
	}
	for i, raw := range issues {
		issue, _ := raw.(map[string]any)
		if s, _ := issue["severity"].(string); s == "" {
			return fmt.Sprintf("issue %d has no severity", i)
		}
		if c, _ := issue["code"].(string); c == "" {
			return fmt.Sprintf("issue %d has no code", i)
		}
	}
	return ""
}

// requireOutcome fails the test unless the response body is an OperationOutcome
// with at least one issue carrying a severity and a code.
func (r response) requireOutcome(t testing.TB) map[string]any {
	t.Helper()
	v, err := decode(r.body)
	doc, _ := v.(map[string]any)
	if err != nil || doc == nil {
		t.Errorf("error body is not a JSON object: %v", r)
		return nil
	}
	if p := outcomeProblem(doc); p != "" {
		t.Errorf("%s: %v", p, r)
	}
	return doc
}

// field walks a decoded JSON document along keys and array indexes.
func field(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k < 0 || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// str is field for string leaves ("" when absent or not a string).
func str(v any, path ...any) string {
	s, _ := field(v, path...).(string)
	return s
}

// num is field for number leaves (-1 when absent or not an integer).
func num(v any, path ...any) int64 {
	n, ok := field(v, path...).(json.Number)
	if !ok {
		return -1
	}
	i, err := n.Int64()
	if err != nil {
		return -1
	}
	return i
}

// repoRoot walks up from the working directory to the folder holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
