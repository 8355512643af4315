// Package mongotest starts a MongoDB-compatible server for tests: FerretDB,
// in-process, on its SQLite handler, so the Mongo backend's tests need no
// MongoDB binary. Only tests import it; FerretDB is a test-only dependency.
package mongotest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Start starts FerretDB on a free loopback port with its data in a temporary
// folder, and returns its URI ("mongodb://127.0.0.1:PORT/"). The server stops
// when the test (or benchmark) ends. FerretDB's logs are printed only when
// the test fails.
func Start(t testing.TB) (uri string) {
	t.Helper()
	logs := &buffer{}
	server, err := Launch(t.TempDir(), logs)
	if err != nil {
		t.Fatalf("mongotest: %v", err)
	}
	t.Cleanup(func() {
		if err := server.Stop(); err != nil {
			t.Errorf("mongotest: %v", err)
		}
		if t.Failed() {
			t.Logf("FerretDB logs:\n%s", logs.String())
		}
	})
	return server.URI
}

// Main runs a test binary's tests against one FerretDB shared by all of
// them, for packages whose tests open many databases; call it from TestMain:
//
//	func TestMain(m *testing.M) { mongotest.Main(m, &sharedURI) }
//
// It sets *uri before the tests run, and prints FerretDB's logs only when
// they fail. It does not return.
func Main(m *testing.M, uri *string) {
	os.Exit(runMain(m, uri))
}

func runMain(m *testing.M, uri *string) int {
	dir, err := os.MkdirTemp("", "mongotest-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "mongotest: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	logs := &buffer{}
	server, err := Launch(dir, logs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mongotest: %v\n", err)
		return 1
	}
	*uri = server.URI
	code := m.Run()
	if err := server.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "mongotest: %v\n", err)
		code = max(code, 1)
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "FerretDB logs:\n%s", logs.String())
	}
	return code
}

// Server is a running FerretDB.
type Server struct {
	// URI is the server's MongoDB URI, "mongodb://127.0.0.1:PORT/".
	URI string

	cancel context.CancelFunc
	done   chan error
}

// Launch starts FerretDB on a free loopback port, keeping its SQLite
// databases in dir and writing its logs to logs.
func Launch(dir string, logs io.Writer) (*Server, error) {
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fdb, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:   logger,
		Handler:  "sqlite",
		// Test data is thrown away: no fsync on commit.
		SQLiteURL: (&url.URL{Scheme: "file", Path: dir + "/", RawQuery: "_pragma=synchronous(off)"}).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("start FerretDB: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- fdb.Run(ctx) }()

	s.URI = fdb.MongoDBURI() // waits for the listener
	if err := waitListening(s.URI, 10*time.Second); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// Stop stops the server and waits for it to finish.
func (s *Server) Stop() error {
	s.cancel()
	if err := <-s.done; err != nil {
		return fmt.Errorf("FerretDB stopped with: %w", err)
	}
	return nil
}

// waitListening dials the server until it accepts connections.
func waitListening(uri string, timeout time.Duration) error {
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("parse FerretDB URI %q: %w", uri, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("FerretDB not listening on %s", u.Host), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// buffer collects log output, safely for the server's goroutines.
type buffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
