package mongo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/storetest"
)

func TestRecords(t *testing.T) {
	storetest.RunRecords(t, func(t *testing.T) store.Store { return OpenForTest(t) })
}

// plantClaim inserts a claim on the current state of kind/key, written at
// at, as a writer that holds it (or died holding it) would have.
func plantClaim(t *testing.T, s *Store, kind, key string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	id, err := recordID(kind, key)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := s.currentRecord(ctx, id)
	if err != nil || cur == nil {
		t.Fatalf("current record %s: %v, %v", id, cur, err)
	}
	claim := claimDoc{ID: claimID(cur), Nonce: "planted", At: at}
	if _, err := s.recordClaims().InsertOne(ctx, claim); err != nil {
		t.Fatalf("plant claim: %v", err)
	}
}

// TestRecordClaims checks that a claim held by another writer stops
// writers, and that one abandoned by a writer that died does not.
func TestRecordClaims(t *testing.T) {
	past := time.Now().Add(-time.Minute)
	tests := []struct {
		name      string
		expires   time.Time // of the claimed record
		claimedAt time.Duration
		put       int64 // version written after the claim
		wantErr   error
	}{
		{"held: update refused", time.Time{}, 0, 2, store.ErrConflict},
		{"held: re-create over expired refused", past, 0, 1, store.ErrConflict},
		{"abandoned: update goes through", time.Time{}, -2 * orphanAge, 2, nil},
		{"abandoned: re-create over expired goes through", past, -2 * orphanAge, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := OpenForTest(t)
			ctx := context.Background()
			first := store.Record{Kind: "k", Key: "x", Version: 1, Value: []byte("first"), Expires: tt.expires}
			if err := s.PutRecord(ctx, first); err != nil {
				t.Fatal(err)
			}
			plantClaim(t, s, "k", "x", time.Now().Add(tt.claimedAt))
			err := s.PutRecord(ctx, store.Record{Kind: "k", Key: "x", Version: tt.put, Value: []byte("second")})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PutRecord version %d: %v, want %v", tt.put, err, tt.wantErr)
			}
			want, wantVersion := "second", tt.put
			if tt.wantErr != nil {
				want, wantVersion = "first", 1
			}
			got, err := s.GetRecord(ctx, "k", "x")
			switch {
			case tt.wantErr != nil && !tt.expires.IsZero():
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("GetRecord of the expired record: %+v, %v; want ErrNotFound", got, err)
				}
			case err != nil || string(got.Value) != want || got.Version != wantVersion:
				t.Errorf("GetRecord = %+v, %v; want %q at version %d", got, err, want, wantVersion)
			}
		})
	}
}

// TestDeleteRecordWaitsForClaim checks that a delete meeting a change in
// progress does not remove the record from under it: it waits, and gives up
// with its context.
func TestDeleteRecordWaitsForClaim(t *testing.T) {
	s := OpenForTest(t)
	ctx := context.Background()
	if err := s.PutRecord(ctx, store.Record{Kind: "k", Key: "x", Version: 1}); err != nil {
		t.Fatal(err)
	}
	plantClaim(t, s, "k", "x", time.Now())
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := s.DeleteRecord(short, "k", "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DeleteRecord while claimed: %v, want context.DeadlineExceeded", err)
	}
	if _, err := s.GetRecord(ctx, "k", "x"); err != nil {
		t.Fatalf("GetRecord after the refused delete: %v", err)
	}
}

func TestRecordKindSeparator(t *testing.T) {
	s := OpenForTest(t)
	ctx := context.Background()
	bad := "a\x1fb"
	checks := map[string]error{
		"put":    s.PutRecord(ctx, store.Record{Kind: bad, Key: "c", Version: 1}),
		"delete": s.DeleteRecord(ctx, bad, "c"),
	}
	_, checks["get"] = s.GetRecord(ctx, bad, "c")
	_, checks["list"] = s.ListRecords(ctx, bad, "", 10)
	for op, err := range checks {
		if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			t.Errorf("%s with kind %q: %v, want an invalid-kind error", op, bad, err)
		}
	}
	// The same bytes as kind "a" and key "b\x1fc" are a valid record.
	if err := s.PutRecord(ctx, store.Record{Kind: "a", Key: "b\x1fc", Version: 1}); err != nil {
		t.Errorf("PutRecord with 0x1f in the key: %v", err)
	}
}

// TestRecordExpiryPrecision checks that an expiry finer than the stored
// millisecond is rounded up, never down: a record must not expire early.
func TestRecordExpiryPrecision(t *testing.T) {
	s := OpenForTest(t)
	ctx := context.Background()
	expires := time.Now().Add(time.Hour).Truncate(time.Millisecond).Add(300 * time.Microsecond)
	if err := s.PutRecord(ctx, store.Record{Kind: "k", Key: "x", Version: 1, Expires: expires}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRecord(ctx, "k", "x")
	if err != nil {
		t.Fatal(err)
	}
	if want := expires.Truncate(time.Millisecond).Add(time.Millisecond); !got.Expires.Equal(want) {
		t.Errorf("Expires = %v, want %v", got.Expires, want)
	}
}

// TestRecordClaimsReleased checks that writes leave no claims behind.
func TestRecordClaimsReleased(t *testing.T) {
	s := OpenForTest(t)
	ctx := context.Background()
	steps := []func() error{
		func() error { return s.PutRecord(ctx, store.Record{Kind: "k", Key: "x", Version: 1}) },
		func() error { return s.PutRecord(ctx, store.Record{Kind: "k", Key: "x", Version: 2}) },
		func() error { return s.DeleteRecord(ctx, "k", "x") },
		func() error {
			return s.PutRecord(ctx, store.Record{Kind: "k", Key: "x", Version: 1, Expires: time.Now().Add(-time.Second)})
		},
		func() error { return s.PutRecord(ctx, store.Record{Kind: "k", Key: "x", Version: 1}) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
	}
	n, err := s.recordClaims().CountDocuments(ctx, bson.D{})
	if err != nil || n != 0 {
		t.Errorf("claims left: %d, %v; want 0", n, err)
	}
}

// TestRecordConcurrentCreate checks that of writers racing to create a
// record, absent or expired, exactly one wins.
func TestRecordConcurrentCreate(t *testing.T) {
	tests := []struct {
		name    string
		expired bool
	}{
		{"absent", false},
		{"expired", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := OpenForTest(t)
			ctx := context.Background()
			if tt.expired {
				old := store.Record{Kind: "k", Key: "x", Version: 1, Value: []byte("old"), Expires: time.Now().Add(-time.Second)}
				if err := s.PutRecord(ctx, old); err != nil {
					t.Fatal(err)
				}
			}
			const writers = 6
			errs := make([]error, writers)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.PutRecord(ctx, store.Record{Kind: "k", Key: "x", Version: 1, Value: fmt.Append(nil, i)})
				}()
			}
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Errorf("writers %d and %d both created the record", winner, i)
				case err == nil:
					winner = i
				case !errors.Is(err, store.ErrConflict):
					t.Errorf("writer %d: %v, want nil or ErrConflict", i, err)
				}
			}
			if winner < 0 {
				t.Fatal("no writer created the record")
			}
			got, err := s.GetRecord(ctx, "k", "x")
			if err != nil || string(got.Value) != fmt.Sprint(winner) {
				t.Errorf("GetRecord = %+v, %v; want the value of writer %d", got, err, winner)
			}
		})
	}
}

func BenchmarkRecords(b *testing.B) {
	s := OpenForTest(b)
	ctx := context.Background()
	value := make([]byte, 512)
	if err := s.PutRecord(ctx, store.Record{Kind: "bench", Key: "k", Version: 1, Value: value}); err != nil {
		b.Fatal(err)
	}
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.GetRecord(ctx, "bench", "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Update", func(b *testing.B) {
		version := int64(1)
		for b.Loop() {
			version++
			if err := s.PutRecord(ctx, store.Record{Kind: "bench", Key: "k", Version: version, Value: value}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CreateDelete", func(b *testing.B) {
		for b.Loop() {
			if err := s.PutRecord(ctx, store.Record{Kind: "bench", Key: "tmp", Version: 1, Value: value}); err != nil {
				b.Fatal(err)
			}
			if err := s.DeleteRecord(ctx, "bench", "tmp"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
