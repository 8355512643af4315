package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
)

// RunRecords runs the suite of store.Records against the stores open
// returns; it skips when the store does not implement store.Records.
func RunRecords(t *testing.T, open func(t *testing.T) store.Store) {
	records := func(t *testing.T) store.Records {
		t.Helper()
		r, ok := open(t).(store.Records)
		if !ok {
			t.Skip("store does not implement store.Records")
		}
		return r
	}
	t.Run("PutGet", func(t *testing.T) { testRecordPutGet(t, records(t)) })
	t.Run("CompareAndSet", func(t *testing.T) { testRecordCompareAndSet(t, records(t)) })
	t.Run("Delete", func(t *testing.T) { testRecordDelete(t, records(t)) })
	t.Run("Expiry", func(t *testing.T) { testRecordExpiry(t, records(t)) })
	t.Run("List", func(t *testing.T) { testRecordList(t, records(t)) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testRecordConcurrentWriters(t, records(t)) })
}

func mustPutRecord(t *testing.T, rs store.Records, r store.Record) {
	t.Helper()
	if err := rs.PutRecord(context.Background(), r); err != nil {
		t.Fatalf("PutRecord %s/%s v%d: %v", r.Kind, r.Key, r.Version, err)
	}
}

func testRecordPutGet(t *testing.T, rs store.Records) {
	ctx := context.Background()
	expires := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	mustPutRecord(t, rs, store.Record{Kind: "client", Key: "a", Version: 1, Value: []byte(`{"n":1}`)})
	mustPutRecord(t, rs, store.Record{Kind: "code", Key: "a", Version: 1, Value: []byte(`{"n":2}`), Expires: expires})
	tests := []struct {
		kind, key string
		want      string
		expires   time.Time
		wantErr   error
	}{
		{"client", "a", `{"n":1}`, time.Time{}, nil},
		{"code", "a", `{"n":2}`, expires, nil},
		{"client", "b", "", time.Time{}, store.ErrNotFound},
		{"other", "a", "", time.Time{}, store.ErrNotFound},
	}
	for _, tt := range tests {
		got, err := rs.GetRecord(ctx, tt.kind, tt.key)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("GetRecord %s/%s: error %v, want %v", tt.kind, tt.key, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if string(got.Value) != tt.want || got.Version != 1 || got.Kind != tt.kind || got.Key != tt.key {
			t.Errorf("GetRecord %s/%s = %+v, want value %s version 1", tt.kind, tt.key, got, tt.want)
		}
		if !got.Expires.Equal(tt.expires) {
			t.Errorf("GetRecord %s/%s expires %v, want %v", tt.kind, tt.key, got.Expires, tt.expires)
		}
	}
}

func testRecordCompareAndSet(t *testing.T, rs store.Records) {
	ctx := context.Background()
	mustPutRecord(t, rs, store.Record{Kind: "k", Key: "x", Version: 1, Value: []byte("v1")})
	tests := []struct {
		name    string
		version int64
		wantErr error
	}{
		{"create existing", 1, store.ErrConflict},
		{"skip a version", 3, store.ErrConflict},
		{"next version", 2, nil},
		{"same version again", 2, store.ErrConflict},
		{"next again", 3, nil},
		{"version zero", 0, nil}, // refused, but not as a conflict
	}
	for _, tt := range tests {
		err := rs.PutRecord(ctx, store.Record{Kind: "k", Key: "x", Version: tt.version, Value: []byte(tt.name)})
		switch {
		case tt.version == 0:
			if err == nil || errors.Is(err, store.ErrConflict) {
				t.Errorf("%s: PutRecord error %v, want a non-conflict error", tt.name, err)
			}
		case !errors.Is(err, tt.wantErr):
			t.Errorf("%s: PutRecord error %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	got, err := rs.GetRecord(ctx, "k", "x")
	if err != nil || got.Version != 3 || string(got.Value) != "next again" {
		t.Fatalf("GetRecord = %+v, %v; want version 3 %q", got, err, "next again")
	}
	if err := rs.PutRecord(ctx, store.Record{Kind: "k", Key: "new", Version: 2}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutRecord version 2 of an absent record: %v, want ErrConflict", err)
	}
}

func testRecordDelete(t *testing.T, rs store.Records) {
	ctx := context.Background()
	mustPutRecord(t, rs, store.Record{Kind: "k", Key: "x", Version: 1, Value: []byte("v")})
	for i := range 2 { // the second delete finds nothing and must not fail
		if err := rs.DeleteRecord(ctx, "k", "x"); err != nil {
			t.Fatalf("DeleteRecord #%d: %v", i+1, err)
		}
	}
	if _, err := rs.GetRecord(ctx, "k", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRecord after delete: %v, want ErrNotFound", err)
	}
	// A deleted record starts again at version 1.
	mustPutRecord(t, rs, store.Record{Kind: "k", Key: "x", Version: 1, Value: []byte("again")})
}

func testRecordExpiry(t *testing.T, rs store.Records) {
	ctx := context.Background()
	past := time.Now().Add(-time.Second)
	mustPutRecord(t, rs, store.Record{Kind: "k", Key: "gone", Version: 1, Value: []byte("old"), Expires: past})
	mustPutRecord(t, rs, store.Record{Kind: "k", Key: "live", Version: 1, Value: []byte("v"), Expires: time.Now().Add(time.Hour)})
	if _, err := rs.GetRecord(ctx, "k", "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRecord of an expired record: %v, want ErrNotFound", err)
	}
	if err := rs.PutRecord(ctx, store.Record{Kind: "k", Key: "gone", Version: 2, Value: []byte("x")}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutRecord version 2 over an expired record: %v, want ErrConflict", err)
	}
	list, err := rs.ListRecords(ctx, "k", "", 10)
	if err != nil {
		t.Fatalf("ListRecords: %v", err)
	}
	if len(list) != 1 || list[0].Key != "live" {
		t.Errorf("ListRecords = %v, want only the live record", recordKeys(list))
	}
	mustPutRecord(t, rs, store.Record{Kind: "k", Key: "gone", Version: 1, Value: []byte("new")})
	got, err := rs.GetRecord(ctx, "k", "gone")
	if err != nil || string(got.Value) != "new" || !got.Expires.IsZero() {
		t.Errorf("GetRecord after re-creating an expired record = %+v, %v", got, err)
	}
}

func recordKeys(list []store.Record) []string {
	keys := make([]string, len(list))
	for i, r := range list {
		keys[i] = r.Key
	}
	return keys
}

func testRecordList(t *testing.T, rs store.Records) {
	ctx := context.Background()
	for _, key := range []string{"c", "a", "e", "b", "d"} {
		mustPutRecord(t, rs, store.Record{Kind: "list", Key: key, Version: 1, Value: []byte(key)})
	}
	mustPutRecord(t, rs, store.Record{Kind: "list2", Key: "a0", Version: 1})
	tests := []struct {
		after string
		limit int
		want  string
	}{
		{"", 10, "[a b c d e]"},
		{"", 2, "[a b]"},
		{"b", 2, "[c d]"},
		{"a0", 10, "[b c d e]"},
		{"e", 10, "[]"},
		{"", 0, "[]"},
	}
	for _, tt := range tests {
		list, err := rs.ListRecords(ctx, "list", tt.after, tt.limit)
		if err != nil {
			t.Fatalf("ListRecords(%q, %d): %v", tt.after, tt.limit, err)
		}
		if got := fmt.Sprint(recordKeys(list)); got != tt.want {
			t.Errorf("ListRecords(%q, %d) = %s, want %s", tt.after, tt.limit, got, tt.want)
		}
		for _, r := range list {
			if string(r.Value) != r.Key || r.Kind != "list" || r.Version != 1 {
				t.Errorf("ListRecords: record %+v", r)
			}
		}
	}
}

// testRecordConcurrentWriters checks compare-and-set under contention: of
// writers racing for the same version exactly one wins, so a counter
// incremented by retrying writers loses no increment.
func testRecordConcurrentWriters(t *testing.T, rs store.Records) {
	ctx := context.Background()
	mustPutRecord(t, rs, store.Record{Kind: "counter", Key: "n", Version: 1, Value: []byte("0")})
	const writers, increments = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < increments; {
				r, err := rs.GetRecord(ctx, "counter", "n")
				if err != nil {
					errs <- err
					return
				}
				var n int
				fmt.Sscan(string(r.Value), &n)
				err = rs.PutRecord(ctx, store.Record{Kind: "counter", Key: "n", Version: r.Version + 1, Value: fmt.Append(nil, n+1)})
				if errors.Is(err, store.ErrConflict) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				done++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	r, err := rs.GetRecord(ctx, "counter", "n")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(writers * increments); string(r.Value) != want || r.Version != writers*increments+1 {
		t.Errorf("counter = %s at version %d, want %s at version %d", r.Value, r.Version, want, writers*increments+1)
	}
}
