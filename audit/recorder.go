package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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

	// Trail, when set, is where the recorder appends its events (a store
	// made with WithTrail over the trail is what NewRecorder takes): the
	// single writer chains each batch and appends it, and Record returns
	// once the trail has it, searchable at once. The chain head record is
	// written when the recorder closes. Not with JournalDir.
	Trail *Trail

	// JournalDir, when set, makes Record append to a journal in this
	// node-local folder and return once the event is synced there; a
	// background indexer then moves the events into the store (see the
	// package documentation). One process at a time may use a folder.
	JournalDir string
	// SegmentSize is the size after which the journal starts a new
	// segment file (default 64 MiB); indexed segments are removed.
	SegmentSize int64
	// MaxBacklog bounds the journaled bytes not yet in the store (default
	// 1 GiB); beyond it Record fails with ErrBacklog.
	MaxBacklog int64
	// PaceBacklog is the backlog (default 64 MiB, at most MaxBacklog)
	// beyond which Record waits for the indexer before it appends: under
	// a sustained load the trail is indexed more slowly than it is
	// journaled, and writers are slowed to the pace of the indexer instead
	// of failing once MaxBacklog is reached. Record fails with ErrBacklog
	// when the indexer has not moved for StallTimeout (default 30 s): the
	// store is not taking events.
	PaceBacklog  int64
	StallTimeout time.Duration
	// SyncInterval, when positive, lets Record return once the event is
	// written to the journal file (in the operating system's cache, so a
	// crash of the process loses nothing) and syncs the file to disk at
	// most this long after: the durability of an SQLite store in WAL mode
	// with synchronous=NORMAL, where a power loss may lose the last
	// moments of writes. Zero syncs before Record returns.
	SyncInterval time.Duration
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

	// journal and indexer are set when Options.JournalDir is.
	journal *journal
	indexer *indexer

	// inPlace is the writer when Record appends to the trail itself,
	// under inPlaceMu (a trail whose syncs are deferred: see NewRecorder).
	inPlace   *writer
	inPlaceMu sync.Mutex
	closed    bool // under inPlaceMu
	// inPlaceEvent is the event being appended in place, under inPlaceMu:
	// a copy, so that the caller's Event stays on its stack.
	inPlaceEvent   recipe
	inPlacePending [1]*pending
}

// pending is one event waiting for the writer.
type pending struct {
	recipe  *recipe // the event, for a trail
	content []byte  // the event's JSON after resourceType, for a store: `,"type":…}`
	index   []store.IndexEntry
	frame   []byte // the journal frame (journal mode only)
	done    chan error
}

// NewRecorder starts a recorder writing to st, which must also implement
// store.Records (it keeps the chain head), directly or through a journal
// when opts.JournalDir is set.
func NewRecorder(st store.Store, opts Options) (*Recorder, error) {
	records, ok := store.As[store.Records](st)
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
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = 64 << 20
	}
	if opts.MaxBacklog <= 0 {
		opts.MaxBacklog = 1 << 30
	}
	if opts.PaceBacklog <= 0 {
		opts.PaceBacklog = 64 << 20
	}
	opts.PaceBacklog = min(opts.PaceBacklog, opts.MaxBacklog)
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = 30 * time.Second
	}
	r := &Recorder{
		st:       st,
		records:  records,
		opts:     opts,
		requests: make(chan *pending), // unbuffered: a send succeeds only into a running writer
		quit:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	if opts.Trail != nil && opts.JournalDir != "" {
		return nil, fmt.Errorf("audit: a recorder appends to a trail or to a journal, not both")
	}
	if opts.Trail != nil && opts.Trail.opts.SyncInterval > 0 {
		// Nothing to group: an append is a write to the operating
		// system's cache. Record appends in place, under a lock, which
		// saves the two goroutine switches of a hand-off per event.
		r.inPlace = &writer{Recorder: r}
		close(r.stopped)
		return r, nil
	}
	if opts.JournalDir == "" {
		go r.run()
		return r, nil
	}
	close(r.stopped) // no direct writer
	j, err := openJournal(opts.JournalDir, opts.SegmentSize, opts.SyncInterval, backlogLimits{
		max: opts.MaxBacklog, pace: opts.PaceBacklog, stall: opts.StallTimeout,
	})
	if err != nil {
		return nil, err
	}
	ix, err := startIndexer(r, j)
	if err != nil {
		j.close()
		j.unlock()
		return nil, err
	}
	r.journal, r.indexer = j, ix
	return r, nil
}

// Record writes e and returns once it is durably committed (in the store,
// or with a journal in the journal: see Sync), or the error that prevented
// it (the caller must then fail its request: audit is fail-closed). The
// event is serialised and indexed here, on the caller's goroutine, so that
// the single writer only chains and commits; for a trail, which stores
// the event's recipe, there is nothing to serialise.
func (r *Recorder) Record(ctx context.Context, e Event) error {
	if e.recipe.built == builtNone {
		return errNoBuilder
	}
	if r.inPlace != nil {
		return r.appendInPlace(ctx, &e.recipe)
	}
	if r.opts.Trail != nil {
		rc := e.recipe // the writer keeps it: e stays on the caller's stack
		return handOff(ctx, r.requests, r.quit, &pending{recipe: &rc, done: make(chan error, 1)})
	}
	res, err := e.recipe.build()
	if err != nil {
		return err
	}
	buf := recordBuffers.Get().(*recordBuffer)
	body := res.appendJSON(buf.json[:0])
	index := res.appendIndex(buf.index[:0])
	defer func() {
		buf.json, buf.index = body[:0], index[:0]
		recordBuffers.Put(buf)
	}()
	content, err := eventContent(body)
	if err != nil {
		return err
	}
	if r.journal != nil {
		// The frame is all the journal keeps: the buffers go back to the pool.
		p := &pending{frame: encodeFrame(content, index), done: make(chan error, 1)}
		return r.journal.append(ctx, p)
	}
	// The writer keeps the event after Record returns (when ctx ends first).
	p := &pending{content: bytes.Clone(content), index: slices.Clone(index), done: make(chan error, 1)}
	return handOff(ctx, r.requests, r.quit, p)
}

// appendInPlace chains the event after the trail's tail and appends its
// record.
func (r *Recorder) appendInPlace(ctx context.Context, rc *recipe) error {
	r.inPlaceMu.Lock()
	defer r.inPlaceMu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.inPlaceEvent = *rc
	if r.inPlacePending[0] == nil {
		r.inPlacePending[0] = &pending{recipe: &r.inPlaceEvent}
	}
	if _, err := r.inPlace.persist(ctx, r.inPlacePending[:]); err != nil {
		r.inPlace.loaded = false // what was appended is uncertain: reload the tail
		return err
	}
	return nil
}

// handOff gives p to the writer goroutine reading requests and waits for
// its answer. When ctx ends first the event may still be written; the
// request fails either way.
func handOff(ctx context.Context, requests chan<- *pending, quit <-chan struct{}, p *pending) error {
	select {
	case requests <- p:
	case <-quit:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("audit: record: %w", ctx.Err())
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit: record: %w", ctx.Err())
	}
}

// Sync returns once every event recorded before the call is in the store
// (at once without a journal), indexed (a trail makes the postings of its
// open block, which appends leave to the next search: see "The trail
// store"). Searches of AuditEvent call it first, so that they see what was
// recorded.
func (r *Recorder) Sync(ctx context.Context) error {
	if r.opts.Trail != nil {
		return r.opts.Trail.index()
	}
	if r.indexer == nil {
		return nil
	}
	return r.indexer.sync(ctx)
}

// recordBuffer is what Record serialises and indexes an event into.
type recordBuffer struct {
	json  []byte
	index []store.IndexEntry
}

// recordBuffers recycles them: Record runs once per audited request.
var recordBuffers = sync.Pool{New: func() any { return new(recordBuffer) }}

// Close stops the writer once the batch in progress is written; later
// Records return ErrClosed. With a journal, it then indexes what the
// journal holds for up to 10 seconds (the rest is indexed at the next
// start). It does not close the store.
func (r *Recorder) Close() error {
	r.close.Do(func() {
		close(r.quit)
		if r.inPlace != nil {
			r.inPlaceMu.Lock()
			r.closed = true
			r.inPlace.closeTrail(context.Background())
			r.inPlaceMu.Unlock()
		}
		if r.journal != nil {
			r.journal.close()
			r.indexer.close()
			r.journal.unlock()
		}
	})
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
			w.closeTrail(ctx)
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
		_, err := w.persist(ctx, batch)
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
	headSaved   time.Time
	loaded      bool
}

// persist appends batch to the chain and advances the head. It returns
// how many events of batch (a prefix) are committed, also on error.
func (w *writer) persist(ctx context.Context, batch []*pending) (int, error) {
	if w.opts.Trail != nil {
		return w.persistTrail(ctx, batch)
	}
	remaining := batch
	committed := func() int { return len(batch) - len(remaining) }
	for conflicts := 0; len(remaining) > 0; {
		if !w.loaded {
			if err := w.loadTail(ctx); err != nil {
				return committed(), err
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
				return committed(), fmt.Errorf("audit: append to chain: %d conflicts in a row: %w", conflicts, err)
			}
			w.loaded = false
			continue
		}
		if err != nil {
			return committed(), fmt.Errorf("audit: append to chain: %w", err)
		}
	}
	return committed(), w.advanceHead(ctx)
}

// persistTrail chains batch and appends it to the trail, whose single
// writer this is: no other node takes its sequence numbers. The head
// record is saved at most once per trailHeadInterval.
func (w *writer) persistTrail(ctx context.Context, batch []*pending) (int, error) {
	if !w.loaded {
		if err := w.loadTail(ctx); err != nil {
			return 0, err
		}
	}
	tail, err := w.opts.Trail.appendChain(w.tail, time.Now().UTC().Truncate(time.Millisecond), batch)
	if err != nil {
		return 0, fmt.Errorf("audit: append to chain: %w", err)
	}
	w.tail = tail
	if time.Since(w.headSaved) < trailHeadInterval {
		return len(batch), nil // saved again within the interval, and on close (closeTrail)
	}
	return len(batch), w.advanceHead(ctx)
}

// advanceHead saves the head record at the tail.
func (w *writer) advanceHead(ctx context.Context) error {
	if err := w.saveHead(ctx); err != nil {
		return err
	}
	w.headSaved = time.Now()
	return nil
}

// trailHeadInterval is how often, at most, a recorder appending to a
// trail saves the chain head: an SQLite commit per append would cost more
// than the append, and a head at most this old still anchors all but the
// events of its last interval against a truncation of the trail.
const trailHeadInterval = time.Second

// closeTrail saves the chain head once the trail's writer stops: the
// trail's own files hold the chain; the head lets Verify tell the events
// removed from its end up to there.
func (w *writer) closeTrail(ctx context.Context) {
	if w.opts.Trail == nil || !w.loaded {
		return
	}
	if err := w.saveHead(ctx); err != nil {
		w.opts.Logger.Error("audit: save the chain head", "err", err)
	}
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
	if w.opts.Trail != nil {
		// The trail has one writer: its last chained event is the tail.
		last, err := w.opts.Trail.lastChained(ctx)
		if err != nil {
			return err
		}
		if last.seq < tail.seq {
			return fmt.Errorf("audit: the chain head names sequence %d, the trail ends at %d: run $verify-audit", tail.seq, last.seq)
		}
		w.tail, w.headVersion, w.loaded = last, version, true
		return nil
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
