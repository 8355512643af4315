package mongo

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/telehub/telehub/store/mongo/mongotest"
)

// testServerURI is the FerretDB every test of this package shares: starting
// one per test would dominate the run time.
var testServerURI string

func TestMain(m *testing.M) { mongotest.Main(m, &testServerURI) }

// OpenForTest opens a store on a fresh database of the shared test server
// and drops that database when the test ends. It exists only in tests.
func OpenForTest(t testing.TB) *Store {
	t.Helper()
	ctx := context.Background()
	db := "t" + strings.ToLower(rand.Text())
	s, err := Open(ctx, testServerURI+db)
	if err != nil {
		t.Fatalf("open %s: %v", db, err)
	}
	t.Cleanup(func() {
		if err := s.DropDatabase(ctx); err != nil {
			t.Errorf("drop %s: %v", db, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// ServerURIForTest is the shared test server's URI, without a database.
func ServerURIForTest() string { return testServerURI }
