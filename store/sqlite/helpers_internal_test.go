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
