package searchclient

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/internal/e2e"
	"github.com/telehub/telehub/store/sqlite"
)

// startServer starts a TeleHub FHIR server on a fresh SQLite store on a
// loopback port and returns its FHIR base URL; it stops when the test ends.
func startServer(t *testing.T) string {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "telehub.db"))
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close sqlite store: %v", err)
		}
	})
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String() + "/fhir"
	logs := &testLog{t: t}
	t.Cleanup(logs.stop) // registered before ts.Close, so it runs after it
	api, err := fhir.New(fhir.Options{
		Store:           st,
		BaseURL:         base,
		DefaultPageSize: 50,
		MaxPageSize:     1000,
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
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
	return base
}

// testLog sends the server's warnings and errors to the test log, and drops
// them once the test is over (testing forbids logging after the end).
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

// nodeSetup returns the node binary and the folder holding the npm
// packages, or skips (fails under TELEHUB_REQUIRE_E2E=1) without them.
func nodeSetup(t *testing.T) (node, dir string) {
	t.Helper()
	node, modules := e2e.Node(t, "fhir-kit-client")
	return node, filepath.Dir(modules)
}

// repoRoot walks up from the working directory to the folder holding go.mod.
func repoRoot(t *testing.T) string {
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
