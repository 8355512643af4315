package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// openTemp opens a store in a new file of the test's temporary folder,
// closed when the test ends.
func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "telehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openClosable opens a store in a new file of the test's temporary folder
// and returns it with the file's path, for a test that closes it (reopen).
func openClosable(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "telehub.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

// reopen leaves the file as a program of an older layout would have: it
// runs statements on the store's writer, closes the store and opens the
// file again, closed when the test ends.
func reopen(t *testing.T, s *Store, path string, statements ...string) *Store {
	t.Helper()
	ctx := context.Background()
	for _, q := range statements {
		if _, err := s.writer.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("open the file of an older layout: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pragma returns the writer's value of an integer pragma.
func pragma(t *testing.T, s *Store, name string) int64 {
	t.Helper()
	var v int64
	if err := s.writer.QueryRowContext(context.Background(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
