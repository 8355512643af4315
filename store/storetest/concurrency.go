package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/telehub/telehub/store"
)

// testConcurrency races writers on one resource. Each writer reads the
// current version and commits current+1, retrying on ErrConflict, until it
// has landed its share of updates. Compare-and-set must lose no update and
// refuse a write only when another writer took that version.
func testConcurrency(t *testing.T, open func(t *testing.T) store.Store) {
	const (
		writers   = 32
		perWriter = 5
	)
	ctx := context.Background()
	s := open(t)
	commit(t, s, newWrite("Patient", "hot", 1, at(0), "POST"))

	type outcome struct {
		landed    []int64 // versions this writer created
		conflicts []int64 // versions this writer was refused
	}
	outcomes := make([]outcome, writers)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- runWriter(ctx, s, w, perWriter, &outcomes[w].landed, &outcomes[w].conflicts)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// Who wrote each version, from the bodies.
	final := mustRead(t, s, "Patient", "hot")
	wantVersions := int64(1 + writers*perWriter)
	if final.VersionID != wantVersions {
		t.Fatalf("current version = %d, want %d (one per successful commit)", final.VersionID, wantVersions)
	}
	h, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "hot"})
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	if int64(len(h.Versions)) != wantVersions || int64(h.Total) != wantVersions {
		t.Fatalf("history holds %d versions (total %d), want %d", len(h.Versions), h.Total, wantVersions)
	}
	authors := map[int64]string{}
	for i, v := range h.Versions {
		if want := wantVersions - int64(i); v.VersionID != want {
			t.Fatalf("history[%d] is version %d, want %d (versions must be gapless, newest first)", i, v.VersionID, want)
		}
		authors[v.VersionID] = string(v.Body)
	}
	for w, o := range outcomes {
		if len(o.landed) != perWriter {
			t.Errorf("writer %d landed %d updates, want %d", w, len(o.landed), perWriter)
		}
		for _, v := range o.landed {
			if authors[v] != string(writerBody(w, v)) {
				t.Errorf("writer %d committed version %d but history holds %s", w, v, authors[v])
			}
		}
		for _, v := range o.conflicts {
			if author, ok := authors[v]; !ok || author == string(writerBody(w, v)) {
				t.Errorf("writer %d was refused version %d, which no other writer stored (%q)", w, v, author)
			}
		}
	}
}

func writerBody(writer int, version int64) []byte {
	return fmt.Appendf(nil, `{"resourceType":"Patient","id":"hot","meta":{"versionId":"%d"},"writer":%d}`, version, writer)
}

// runWriter lands n updates of Patient/hot, recording the versions it
// created and the ones it was refused.
func runWriter(ctx context.Context, s store.Store, writer, n int, landed, conflicts *[]int64) error {
	for len(*landed) < n {
		cur, err := s.Read(ctx, "Patient", "hot")
		if err != nil {
			return fmt.Errorf("writer %d: read: %w", writer, err)
		}
		next := cur.VersionID + 1
		w := store.Write{
			Type: "Patient", ID: "hot", Version: next, LastUpdated: at(next), Method: "PUT",
			Body:  writerBody(writer, next),
			Index: []store.IndexEntry{token("writer", fmt.Sprint(writer))},
		}
		switch err := s.Commit(ctx, []store.Write{w}); {
		case err == nil:
			*landed = append(*landed, next)
		case errors.Is(err, store.ErrConflict):
			*conflicts = append(*conflicts, next)
		default:
			return fmt.Errorf("writer %d: commit version %d: %w", writer, next, err)
		}
	}
	return nil
}
