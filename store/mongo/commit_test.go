package mongo

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/telehub/telehub/store"
)

func testWrite(version int64, index ...store.IndexEntry) store.Write {
	return store.Write{
		Type: "Observation", ID: "o", Version: version, Method: "PUT",
		LastUpdated: time.Date(2024, 1, 1, 0, 0, int(version), 0, time.UTC),
		Body:        fmt.Appendf(nil, `{"v":%d}`, version), Index: index,
	}
}

func dateEntry(low, high float64) store.IndexEntry {
	return store.IndexEntry{Param: "date", Kind: store.KindDate, Low: low, High: high}
}

// A history document left by a writer that died before replacing the current
// document blocks its version only until it is old enough to be an orphan.
func TestOrphanedHistory(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		age      time.Duration
		wantErr  error
		wantBody string
	}{
		{"fresh: a writer may still be at work", time.Second, store.ErrConflict, `{"v":1}`},
		{"old: removed and replaced", 2 * orphanAge, nil, `{"v":2}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := OpenForTest(t)
			if err := s.Commit(ctx, []store.Write{testWrite(1)}); err != nil {
				t.Fatal(err)
			}
			_, orphan, _ := newDocs(testWrite(2), "dead", time.Now().Add(-tc.age))
			orphan.Body = []byte(`{"orphan":true}`)
			if _, err := s.history.InsertOne(ctx, orphan); err != nil {
				t.Fatal(err)
			}

			err := s.Commit(ctx, []store.Write{testWrite(2)})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("commit version 2: %v, want %v", err, tc.wantErr)
			}
			r, err := s.Read(ctx, "Observation", "o")
			if err != nil || string(r.Body) != tc.wantBody {
				t.Fatalf("read = %+v, %v; want body %s", r, err, tc.wantBody)
			}
			if tc.wantErr != nil {
				return
			}
			v, err := s.VRead(ctx, "Observation", "o", 2)
			if err != nil || string(v.Body) != tc.wantBody {
				t.Fatalf("vread 2 = %+v, %v; want body %s", v, err, tc.wantBody)
			}
		})
	}
}

// Range entries of superseded versions, and of refused writes, are dropped.
func TestRangeEntriesCleanedUp(t *testing.T) {
	ctx := context.Background()
	s := OpenForTest(t)
	count := func() int64 {
		t.Helper()
		n, err := s.ranges.CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, step := range []struct {
		name    string
		write   store.Write
		wantErr error
		want    int64
	}{
		{"create with two dates", testWrite(1, dateEntry(0, 10), dateEntry(20, 30)), nil, 2},
		{"update with one date", testWrite(2, dateEntry(5, 6)), nil, 1},
		{"refused update", testWrite(2, dateEntry(7, 8), dateEntry(9, 10)), store.ErrConflict, 1},
		{"update without dates", testWrite(3), nil, 0},
		{"update with a date again", testWrite(4, dateEntry(1, 2)), nil, 1},
		{"delete", store.Write{Type: "Observation", ID: "o", Version: 5, Deleted: true, Method: "DELETE",
			LastUpdated: time.Now(), Index: []store.IndexEntry{dateEntry(1, 2)}}, nil, 0},
	} {
		err := s.Commit(ctx, []store.Write{step.write})
		if !errors.Is(err, step.wantErr) {
			t.Fatalf("%s: commit: %v, want %v", step.name, err, step.wantErr)
		}
		if got := count(); got != step.want {
			t.Errorf("%s: %d range entries stored, want %d", step.name, got, step.want)
		}
	}
}

// The transaction path, forced on a server without transactions (FerretDB),
// fails at the first statement and leaves nothing behind: a multi-write
// commit is never partly applied.
func TestTransactionRefusedByServer(t *testing.T) {
	ctx := context.Background()
	s := OpenForTest(t)
	s.transactions = true
	other := testWrite(1)
	other.ID = "other"
	err := s.Commit(ctx, []store.Write{testWrite(1, dateEntry(0, 1)), other})
	if err == nil {
		t.Fatal("multi-write commit succeeded on a server without transactions")
	}
	if errors.Is(err, store.ErrConflict) {
		t.Fatalf("error %v is not a conflict", err)
	}
	for _, coll := range []string{resourcesCollection, historyCollection, rangesCollection} {
		n, err := s.resources.Database().Collection(coll).CountDocuments(ctx, bson.D{})
		if err != nil || n != 0 {
			t.Errorf("%s holds %d documents (%v) after the failed commit, want 0", coll, n, err)
		}
	}
}
