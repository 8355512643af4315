package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/telehub/telehub/store"
)

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit: recorder closed")

// Options configure a Recorder.
type Options struct {
	// MaxBatch bounds the events written in one Commit (default 512).
	MaxBatch int
	// MaxConflicts bounds the retries of one batch that lost the race
	// for its sequence numbers to another node (default 100).
	MaxConflicts int
	// Logger receives the writer's errors (default slog.Default()).
	Logger *slog.Logger
}

// Recorder writes events to a store as a hash chain, grouping concurrent
// events into one commit. It is safe for concurrent use; several Recorders
// (on several nodes) may share one store.
type Recorder struct {
	st      store.Store
	records store.Records
	opts    Options

	requests chan *pending
	quit     chan struct{}
	stopped  chan struct{}
	close    sync.Once
}

// pending is one event waiting for the writer.
type pending struct {
	content []byte // the event's JSON after resourceType: `,"type":…}`
	index   []store.IndexEntry
	done    chan error
}

// NewRecorder starts a recorder writing to st, which must also implement
// store.Records (it keeps the chain head).
func NewRecorder(st store.Store, opts Options) (*Recorder, error) {
	records, ok := st.(store.Records)
	if !ok {
		return nil, fmt.Errorf("audit: store %T keeps no records: the chain head needs store.Records", st)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.MaxConflicts <= 0 {
		opts.MaxConflicts = 100
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Recorder{
		st:       st,
		records:  records,
		opts:     opts,
		requests: make(chan *pending), // unbuffered: a send succeeds only into a running writer
		quit:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go r.run()
	return r, nil
}

// Record writes e and returns once it is durably committed, or the error
// that prevented it (the caller must then fail its request: audit is
// fail-closed). The event is serialised and indexed here, on the caller's
// goroutine, so that the single writer only chains and commits.
func (r *Recorder) Record(ctx context.Context, e Event) error {
	body, err := e.JSON()
	if err != nil {
		return err
	}
	index, err := e.Index()
	if err != nil {
		return fmt.Errorf("audit: index event: %w", err)
	}
	prefix := []byte(`{"resourceType":"AuditEvent"`)
	if !bytes.HasPrefix(body, prefix) {
		return fmt.Errorf("audit: event JSON does not start with its resourceType")
	}
	p := &pending{content: body[len(prefix):], index: index, done: make(chan error, 1)}
	select {
	case r.requests <- p:
	case <-r.quit:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("audit: record: %w", ctx.Err())
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The event may still be committed; the request fails either way.
		return fmt.Errorf("audit: record: %w", ctx.Err())
	}
}

// Close stops the writer once the batch in progress is written; later
// Records return ErrClosed. It does not close the store.
func (r *Recorder) Close() error {
	r.close.Do(func() { close(r.quit) })
	<-r.stopped
	return nil
}

// run is the writer goroutine: it takes the first waiting event, every
// other event already waiting (up to MaxBatch), and writes them together.
func (r *Recorder) run() {
	defer close(r.stopped)
	w := &writer{Recorder: r}
	ctx := context.Background()
	for {
		var batch []*pending
		select {
		case p := <-r.requests:
			batch = append(batch, p)
		case <-r.quit:
			return
		}
	drain:
		for len(batch) < r.opts.MaxBatch {
			select {
			case p := <-r.requests:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		err := w.persist(ctx, batch)
		if err != nil {
			// What was committed is uncertain: start the next batch from the store.
			w.loaded = false
			r.opts.Logger.Error("audit: write failed", "events", len(batch), "err", err)
		}
		for _, p := range batch {
			p.done <- err
		}
	}
}

// writer is the state of the writer goroutine: what it knows of the chain's tail.
type writer struct {
	*Recorder
	tail        link
	headVersion int64 // version of the head record as last read or written
	loaded      bool
}

// persist appends batch to the chain and advances the head.
func (w *writer) persist(ctx context.Context, batch []*pending) error {
	remaining := batch
	for conflicts := 0; len(remaining) > 0; {
		if !w.loaded {
			if err := w.loadTail(ctx); err != nil {
				return err
			}
		}
		writes, links := w.chain(remaining)
		n, err := w.commit(ctx, writes)
		if n > 0 {
			w.tail = links[n-1]
			remaining = remaining[n:]
		}
		if errors.Is(err, store.ErrConflict) {
			// Another node took these sequence numbers: catch up and retry.
			conflicts++
			if conflicts > w.opts.MaxConflicts {
				return fmt.Errorf("audit: append to chain: %d conflicts in a row: %w", conflicts, err)
			}
			w.loaded = false
			continue
		}
		if err != nil {
			return fmt.Errorf("audit: append to chain: %w", err)
		}
	}
	return w.saveHead(ctx)
}

// chain builds the writes of events after the current tail.
func (w *writer) chain(events []*pending) ([]store.Write, []link) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	writes := make([]store.Write, len(events))
	links := make([]link, len(events))
	prev := w.tail
	for i, p := range events {
		seq := prev.seq + 1
		body, next := chainedBody(prev, seq, now, p.content)
		index := make([]store.IndexEntry, 0, len(p.index)+1)
		index = append(append(index, p.index...), sequenceEntry(seq))
		writes[i] = store.Write{Type: resourceType, ID: EventID(seq), Version: 1, LastUpdated: now, Method: "POST", Body: body, Index: index}
		links[i] = next
		prev = next
	}
	return writes, links
}

// commit writes in one transaction when the store has them, else one by
// one; it returns how many writes were committed.
func (w *writer) commit(ctx context.Context, writes []store.Write) (int, error) {
	if w.st.SupportsTransactions() {
		if err := w.st.Commit(ctx, writes); err != nil {
			return 0, err
		}
		return len(writes), nil
	}
	for i := range writes {
		if err := w.st.Commit(ctx, writes[i:i+1]); err != nil {
			return i, err
		}
	}
	return len(writes), nil
}

// loadTail reads the head record, then rolls forward over events written
// after it (by a node that has not advanced the head yet, or crashed).
func (w *writer) loadTail(ctx context.Context) error {
	tail, version, err := readHead(ctx, w.records)
	if err != nil {
		return err
	}
	for {
		next, err := w.st.Read(ctx, resourceType, EventID(tail.seq+1))
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("audit: read chain tail: %w", err)
		}
		seq, stated, _, err := chainFields(next.Body)
		if next.Deleted || err != nil || seq != tail.seq+1 {
			return fmt.Errorf("audit: chain broken at sequence %d: run $verify-audit", tail.seq+1)
		}
		tail = link{seq: seq, hash: stated}
	}
	w.tail, w.headVersion, w.loaded = tail, version, true
	return nil
}

// readHead returns the chain head and its record version (0: no head yet).
func readHead(ctx context.Context, records store.Records) (link, int64, error) {
	rec, err := records.GetRecord(ctx, headKind, headKey)
	if errors.Is(err, store.ErrNotFound) {
		return genesis, 0, nil
	}
	if err != nil {
		return link{}, 0, fmt.Errorf("audit: read chain head: %w", err)
	}
	l, err := decodeHead(rec.Value)
	if err != nil {
		return link{}, 0, err
	}
	return l, rec.Version, nil
}

// saveHead advances the head record to the tail, compare-and-set; when
// another node moved it meanwhile, it keeps the further of the two.
func (w *writer) saveHead(ctx context.Context) error {
	for range w.opts.MaxConflicts {
		value, err := encodeHead(w.tail)
		if err != nil {
			return fmt.Errorf("audit: encode chain head: %w", err)
		}
		err = w.records.PutRecord(ctx, store.Record{Kind: headKind, Key: headKey, Version: w.headVersion + 1, Value: value})
		if err == nil {
			w.headVersion++
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("audit: write chain head: %w", err)
		}
		stored, version, err := readHead(ctx, w.records)
		if err != nil {
			return err
		}
		w.headVersion = version
		if stored.seq >= w.tail.seq {
			return nil // another node's head already covers our events
		}
	}
	return fmt.Errorf("audit: write chain head: too many conflicts: %w", store.ErrConflict)
}
