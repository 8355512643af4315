package mongo

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

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

// SetLimitsForTest lowers the store's search limits, so that tests reach
// them with a handful of resources.
func (s *Store) SetLimitsForTest(subQuery, inValues int) {
	s.limits = limits{SubQuery: subQuery, InValues: inValues}
}

// RangeEntriesForTest counts the range entries stored for a resource, of
// any version.
func (s *Store) RangeEntriesForTest(ctx context.Context, typ, id string) (int64, error) {
	return s.ranges.CountDocuments(ctx, bson.D{{Key: "r", Value: resourceKey(typ, id)}})
}
