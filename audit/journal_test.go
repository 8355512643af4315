package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/store"
)

func newJournaled(tb testing.TB, st store.Store, dir string, opts audit.Options) *audit.Recorder {
	tb.Helper()
	opts.JournalDir = dir
	r, err := audit.NewRecorder(st, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

func syncOK(t *testing.T, r *audit.Recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// journalFiles lists the segment files left in dir.
func journalFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".journal") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestJournalConcurrent records from 100 goroutines through the journal
// (small segments, so that it rotates): after Sync every event is in the
// store once, the chain verifies, and the indexed segments are gone.
func TestJournalConcurrent(t *testing.T) {
	t.Run("synced per write", func(t *testing.T) { journalConcurrent(t, 0) })
	// Deferred syncs change when data reach the disk, not what is indexed.
	t.Run("deferred syncs", func(t *testing.T) { journalConcurrent(t, 5*time.Millisecond) })
}

func journalConcurrent(t *testing.T, syncInterval time.Duration) {
	t.Parallel()
	st := openStore(t)
	dir := t.TempDir()
	rec := newJournaled(t, st, dir, audit.Options{SegmentSize: 64 << 10, SyncInterval: syncInterval})
	const workers, perWorker = 100, 20
	recordConcurrently(t, []*audit.Recorder{rec}, workers, perWorker)
	syncOK(t, rec)
	if n := chainedEvents(t, st); n != workers*perWorker {
		t.Errorf("%d chained events stored, want %d", n, workers*perWorker)
	}
	verifyOK(t, st, workers*perWorker)
	if files := journalFiles(t, dir); len(files) != 1 {
		t.Errorf("segments left after indexing: %v, want only the current one", files)
	}
}

// TestJournalTwoNodes: two nodes, each with its own journal, share one store.
func TestJournalTwoNodes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.db")
	a := newJournaled(t, openPath(t, path), t.TempDir(), audit.Options{})
	b := newJournaled(t, openPath(t, path), t.TempDir(), audit.Options{})
	recordConcurrently(t, []*audit.Recorder{a, b}, 40, 25)
	syncOK(t, a)
	syncOK(t, b)
	st := openPath(t, path)
	if n := chainedEvents(t, st); n != 1000 {
		t.Errorf("%d chained events stored, want 1000", n)
	}
	verifyOK(t, st, 1000)
}

// TestJournalRecovery: events recorded while the store is unreachable wait
// in the journal (Record still succeeds: they are durable there); the next
// recorder on that journal indexes them, skipping a torn frame left by a
// crash.
func TestJournalRecovery(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.db")
	dir := t.TempDir()
	down := openPath(t, path)
	down.Close()
	first := newJournaled(t, down, dir, audit.Options{SegmentSize: 16 << 10})
	const events = 150
	for i := range events {
		if err := first.Record(context.Background(), readEvent(i)); err != nil {
			t.Fatalf("Record with the store down: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	if err := first.Sync(ctx); err == nil {
		t.Error("Sync succeeded with the store down")
	}
	cancel()
	first.Close()
	files := journalFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("segments %v: the test wants several", files)
	}
	// A crash in the middle of a write leaves half a frame at the end of a segment.
	torn, err := os.OpenFile(filepath.Join(dir, files[len(files)-1]), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	torn.Write([]byte{200, 1, 0, 0, 1, 2, 3, 4, '{'})
	torn.Close()

	st := openPath(t, path)
	second := newJournaled(t, st, dir, audit.Options{})
	if err := second.Record(context.Background(), readEvent(events)); err != nil {
		t.Fatal(err)
	}
	syncOK(t, second)
	if n := chainedEvents(t, st); n != events+1 {
		t.Errorf("%d chained events after recovery, want %d", n, events+1)
	}
	verifyOK(t, st, events+1)
}

// TestJournalLocked: two recorders cannot share one journal folder.
func TestJournalLocked(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	dir := t.TempDir()
	newJournaled(t, st, dir, audit.Options{})
	if r, err := audit.NewRecorder(st, audit.Options{JournalDir: dir}); err == nil {
		r.Close()
		t.Fatal("a second recorder opened a journal in use")
	}
}

// TestJournalBacklog: when the store has not taken events for long, Record
// fails rather than fill the disk.
func TestJournalBacklog(t *testing.T) {
	t.Parallel()
	down := openStore(t)
	down.Close()
	rec := newJournaled(t, down, t.TempDir(), audit.Options{MaxBacklog: 8 << 10, StallTimeout: 200 * time.Millisecond})
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = rec.Record(context.Background(), readEvent(i))
	}
	if !errors.Is(err, audit.ErrBacklog) {
		t.Errorf("Record with a full backlog: %v, want ErrBacklog", err)
	}
}

// TestJournalPacing: writers faster than the indexer wait for it once the
// backlog is over PaceBacklog, and none fails while the store takes events.
func TestJournalPacing(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	rec := newJournaled(t, st, t.TempDir(), audit.Options{MaxBacklog: 32 << 10, PaceBacklog: 4 << 10})
	const writers, each = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := rec.Record(context.Background(), readEvent(w*each+i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Record under a backlog the indexer takes: %v", err)
	}
	if err := rec.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := st.Search(context.Background(), store.Query{Types: []string{"AuditEvent"}, Total: true})
	if err != nil || res.Total != writers*each {
		t.Fatalf("AuditEvents stored: %v, err %v; want %d", res.Total, err, writers*each)
	}
}

// TestJournalClosed: Record after Close fails.
func TestJournalClosed(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	rec := newJournaled(t, st, t.TempDir(), audit.Options{})
	if err := rec.Record(context.Background(), readEvent(1)); err != nil {
		t.Fatal(err)
	}
	rec.Close()
	if err := rec.Record(context.Background(), readEvent(2)); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Record after Close: %v, want ErrClosed", err)
	}
	// Close indexed what the journal held.
	if n := chainedEvents(t, st); n != 1 {
		t.Errorf("%d events in the store after Close, want 1", n)
	}
}
