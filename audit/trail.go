package audit

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/telehub/telehub/store"
)

// Trail is the storage of AuditEvents of one node, apart from the
// resource store (see "The trail store" in the package documentation).
// It is safe for concurrent use; one process at a time may open a folder.
type Trail struct {
	dir    string
	opts   TrailOptions
	unlock func()

	// log is the open block's log, for the deferred sync; logMu keeps a
	// seal from closing it during a sync.
	log         atomic.Pointer[os.File]
	logMu       sync.Mutex
	syncPending atomic.Bool

	mu     sync.RWMutex
	sealed []*sealedBlock
	// sealing are full blocks whose files are being written, oldest first.
	sealing []*openBlock
	open    *openBlock
	closed  bool

	sealers sync.WaitGroup
	quit    chan struct{}
	sealErr atomic.Pointer[error] // the last failed seal's error
	// sizes are the posting sizes of the last block sealed (see
	// openBlock.sizes).
	sizes atomic.Pointer[map[string]int]
	// Scratch buffers of appendOpen, Append and appendChain, under mu.
	frameBuf  []byte
	indexBuf  []store.IndexEntry
	batchBuf  []trailEntry
	recordBuf []byte
}

// TrailEvent is one event to append: a stored AuditEvent version 1.
type TrailEvent struct {
	ID          string
	LastUpdated time.Time
	Body        []byte // canonical JSON, meta included
	Index       []store.IndexEntry
}

// DefaultBlockSize is how many events a trail block holds before it is sealed.
const DefaultBlockSize = 32 << 10

const (
	blockSuffix = ".block"
	logSuffix   = ".log"
)

// TrailOptions configure a Trail.
type TrailOptions struct {
	// BlockSize is how many events a block holds (default DefaultBlockSize).
	BlockSize int
	// SyncInterval, when positive, lets Append return once the events are
	// written to the log (in the operating system's cache: a crash of the
	// process loses nothing) and syncs the log at most this long after, as
	// Options.SyncInterval does for the journal. Zero syncs before Append
	// returns.
	SyncInterval time.Duration
}

// OpenTrail opens (or creates) the trail in dir: its sealed blocks are
// mapped and the open block rebuilt from its log.
func OpenTrail(dir string, opts TrailOptions) (*Trail, error) {
	if opts.BlockSize <= 0 {
		opts.BlockSize = DefaultBlockSize
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: trail: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: trail %s: %w", dir, err)
	}
	t := &Trail{dir: dir, opts: opts, unlock: unlock, quit: make(chan struct{})}
	if err := t.load(); err != nil {
		t.release()
		return nil, err
	}
	return t, nil
}

// load maps the sealed blocks and replays the logs without a block file,
// in the trail's order: a full log is a block whose seal was interrupted
// (blocks are sealed concurrently, so a later one may be sealed already),
// the last log is the open block.
func (t *Trail) load() error {
	blocks, err := numberedFiles(t.dir, blockSuffix)
	if err != nil {
		return fmt.Errorf("audit: trail: %w", err)
	}
	logs, err := numberedFiles(t.dir, logSuffix)
	if err != nil {
		return fmt.Errorf("audit: trail: %w", err)
	}
	next, used := uint64(0), 0
	for t.open == nil {
		n, err := t.loadBlock(next, slices.Contains(blocks, next), slices.Contains(logs, next))
		if err != nil {
			return err
		}
		if n < 0 {
			break
		}
		next += uint64(n)
		used++
	}
	if left := len(blocks) + len(logs) - used - len(t.sealed); left != 0 {
		return fmt.Errorf("audit: trail: %d files after event %d belong to no block: the trail's files are not as it left them", left, next)
	}
	if t.open == nil {
		f, err := createLog(t.dir, next)
		if err != nil {
			return err
		}
		t.open = newOpenBlock(next, openBlockLog(f, 0), nil)
	}
	t.log.Store(t.open.log.f)
	for _, b := range t.sealing {
		t.startSeal(b)
	}
	return nil
}

// loadBlock loads the block starting at first: sealed (its file and its
// log), or from its log alone. It returns how many events it holds, -1
// when there is none.
func (t *Trail) loadBlock(first uint64, sealed, logged bool) (int, error) {
	switch {
	case sealed:
		b, err := openSealed(filepath.Join(t.dir, numberedName(first, blockSuffix)), filepath.Join(t.dir, numberedName(first, logSuffix)))
		if err != nil {
			return 0, err
		}
		t.sealed = append(t.sealed, b)
		return b.count(), nil
	case logged:
		b, err := t.replay(first)
		if err != nil {
			return 0, err
		}
		if b.count() < t.opts.BlockSize {
			t.open = b
		} else {
			t.sealing = append(t.sealing, b)
		}
		return b.count(), nil
	}
	return -1, nil
}

func createLog(dir string, first uint64) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, numberedName(first, logSuffix)), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: trail: %w", err)
	}
	return f, nil
}

// replay opens the log of the block starting at first, creating it when
// absent, and indexes its frames. A frame whose write was torn by a crash
// (never acknowledged) can only be the last one: it is cut off. A frame
// whose CRC does not match with frames after it was changed in place: it
// is kept as it is, for Verify to report.
func (t *Trail) replay(first uint64) (*openBlock, error) {
	path := filepath.Join(t.dir, numberedName(first, logSuffix))
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: trail: %w", err)
	}
	b, err := replayLog(first, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

// replayLog indexes the frames of log f and cuts off a torn last frame.
func replayLog(first uint64, f *os.File) (*openBlock, error) {
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("audit: trail log: %w", err)
	}
	log := openBlockLog(f, 0)
	b := newOpenBlock(first, log, nil)
	var records recordIndexer
	end := 0
	for len(data)-end >= frameHeader {
		length, err := frameLength(data[end : end+frameHeader])
		if err != nil || end+length > len(data) {
			break
		}
		frame := data[end : end+length]
		last := end+length+frameHeader > len(data)
		if last && !intact(frame) {
			break
		}
		// data is not changed after: the entries may share its memory
		// (post copies what it keeps, and so is the id here).
		index, err := frameIndex(&records, frame)
		if err != nil && last {
			break
		}
		if err != nil {
			// Not a torn write: cutting here would lose the events after it.
			return nil, fmt.Errorf("audit: trail log %s: the frame at %d is corrupt, and events follow it", f.Name(), end)
		}
		end += length
		id, updated := trailIdentity(index)
		b.add(strings.Clone(id), updated, index, int64(end))
	}
	// What follows the last whole frame is a torn frame, or zeros the log
	// was allocated ahead with (see blockLog).
	log.end = int64(end)
	if end < len(data) {
		if err := log.cut(); err != nil {
			return nil, fmt.Errorf("audit: trail log: cut a torn frame: %w", err)
		}
	}
	return b, nil
}

// trailIdentity finds the id and lastUpdated of a logged event in its entries.
func trailIdentity(index []store.IndexEntry) (id string, updated int64) {
	for _, e := range index {
		switch e.Param {
		case store.ParamID:
			id = e.Text
		case store.ParamLastUpdated:
			updated = int64(e.Low)
		}
	}
	return id, updated
}

// Append writes events to the log in one write and one sync, then makes
// them searchable; when the open block is full, it is sealed. On error
// nothing of events is searchable (and a partly written frame is cut off
// at the next start).
func (t *Trail) Append(events []TrailEvent) error {
	return t.append(len(events), func(buf []byte, i int) ([]byte, trailEntry, error) {
		e := events[i]
		index := appendIdentity(append(t.indexBuf[:0], e.Index...), e.ID, e.LastUpdated)
		t.indexBuf = index
		return appendFrame(buf, e.Body, index), trailEntry{id: e.ID, updated: e.LastUpdated.UnixMilli()}, nil
	})
}

// appendChain chains events after prev, each stored at at, and appends
// their records (see recipe.go) as Append does. It returns the new tail
// of the chain; on error, what was appended is uncertain.
func (t *Trail) appendChain(prev link, at time.Time, events []*pending) (link, error) {
	updated := at.UnixMilli()
	err := t.append(len(events), func(buf []byte, i int) ([]byte, trailEntry, error) {
		seq := prev.seq + 1
		var content []byte
		content, prev = appendRecord(t.recordBuf[:0], prev, seq, at, events[i].recipe)
		t.recordBuf = content
		// The frame keeps no index entries: they follow from the record.
		return appendFrame(buf, content, nil), trailEntry{id: EventID(seq), updated: updated}, nil
	})
	return prev, err
}

// trailEntry is an event of a batch being appended: its id, lastUpdated
// (Unix milliseconds) and where its frame ends in the log.
type trailEntry struct {
	id      string
	updated int64
	end     int64
}

// frameEncoder appends event i's frame to buf; its index entries are in
// the frame, or follow from its record.
type frameEncoder func(buf []byte, i int) ([]byte, trailEntry, error)

// append writes n events, encoded by encode, block by block.
func (t *Trail) append(n int, encode frameEncoder) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	for done := 0; done < n; {
		k := min(n-done, t.opts.BlockSize-t.open.count())
		if err := t.appendOpen(done, k, encode); err != nil {
			return err
		}
		done += k
		if t.open.count() >= t.opts.BlockSize {
			if err := t.rotate(); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendOpen writes events [from, from+n) to the open block's log in one
// write. Their postings are made when a search or the seal needs them.
func (t *Trail) appendOpen(from, n int, encode frameEncoder) error {
	b := t.open
	start := b.frames[len(b.frames)-1]
	buf, batch := t.frameBuf[:0], t.batchBuf[:0]
	for i := range n {
		var e trailEntry
		var err error
		buf, e, err = encode(buf, from+i)
		if err != nil {
			return err // nothing of the batch is written
		}
		e.end = start + int64(len(buf))
		batch = append(batch, e)
	}
	t.frameBuf, t.batchBuf = buf, batch
	if err := b.log.append(buf); err != nil {
		return err
	}
	if err := t.syncLog(); err != nil {
		b.log.drop(start) // not acknowledged: the next batch goes in its place
		return err
	}
	for _, e := range batch {
		b.logged(e.id, e.updated, e.end)
	}
	return nil
}

// appendIdentity appends the entries of an event's id and lastUpdated.
func appendIdentity(index []store.IndexEntry, id string, updated time.Time) []store.IndexEntry {
	return append(index, store.IndexEntry{Param: store.ParamID, Kind: store.KindToken, Text: id}, lastUpdatedEntry(updated))
}

// syncLog syncs the log now, or schedules it when syncs are deferred.
func (t *Trail) syncLog() error {
	if t.opts.SyncInterval <= 0 {
		if err := t.open.log.sync(); err != nil {
			return fmt.Errorf("audit: trail log: %w", err)
		}
		return nil
	}
	if t.syncPending.CompareAndSwap(false, true) {
		time.AfterFunc(t.opts.SyncInterval, t.deferredSync)
	}
	return nil
}

// deferredSync syncs the current log; a sealed block's log needs none (the
// block file is synced before the log is dropped).
func (t *Trail) deferredSync() {
	t.logMu.Lock()
	defer t.logMu.Unlock()
	t.syncPending.Store(false)
	if f := t.log.Load(); f != nil {
		datasync(f) // a failure is the disk's: the next sealed block syncs again
	}
}

// lastUpdatedEntry is the range entry _lastUpdated conditions match: an
// instant covers [t, t+1ms).
func lastUpdatedEntry(t time.Time) store.IndexEntry {
	ms := float64(t.UnixMilli())
	return store.IndexEntry{Param: store.ParamLastUpdated, Kind: store.KindDate, Low: ms, High: ms + 1}
}

// rotate starts the next block's log and seals the full open block in
// the background: until its block file is in place, the full block is
// searched in memory, as the open block was.
func (t *Trail) rotate() error {
	full := t.open
	f, err := createLog(t.dir, full.start+uint64(full.count()))
	if err != nil {
		return err
	}
	if err := syncDir(t.dir); err != nil {
		f.Close()
		return fmt.Errorf("audit: trail: %w", err)
	}
	t.open = newOpenBlock(full.start+uint64(full.count()), openBlockLog(f, 0), t.postingSizes())
	t.open.reserve(t.opts.BlockSize)
	t.logMu.Lock()
	t.log.Store(f)
	t.logMu.Unlock()
	t.sealing = append(t.sealing, full)
	t.startSeal(full)
	return nil
}

// postingSizes returns the sizes a new block's postings start at: those
// of the last block sealed, nil before the first seal.
func (t *Trail) postingSizes() map[string]int {
	if sizes := t.sizes.Load(); sizes != nil {
		return *sizes
	}
	return nil
}

// sealRetry is how long a seal that failed (a full disk…) waits to retry.
const sealRetry = time.Second

// startSeal writes b's block file in the background, then puts the sealed
// block (the file and b's log, which it indexes) in b's place.
func (t *Trail) startSeal(b *openBlock) {
	t.sealers.Add(1)
	go func() {
		defer t.sealers.Done()
		for {
			err := t.seal(b)
			if err == nil {
				return
			}
			t.sealErr.Store(&err)
			select {
			case <-time.After(sealRetry):
			case <-t.quit:
				return // the log stays: the next start seals the block
			}
		}
	}()
}

func (t *Trail) seal(b *openBlock) error {
	// The log may hold writes not yet synced, and the block points into it.
	// The log is cut to its frames (b is full: its end is final; reads
	// before it go on through the mapping).
	if err := b.log.cut(); err != nil {
		return err
	}
	if err := b.log.sync(); err != nil {
		return fmt.Errorf("audit: trail log: %w", err)
	}
	// b is full: nothing is appended to it while it catches up.
	if err := b.catchUp(); err != nil {
		return err
	}
	sizes := b.postingSizes()
	t.sizes.Store(&sizes)
	path := filepath.Join(t.dir, numberedName(b.start, blockSuffix))
	if err := writeBlock(path, b); err != nil {
		return err
	}
	if err := syncDir(t.dir); err != nil {
		return fmt.Errorf("audit: trail: %w", err)
	}
	sealed, err := openSealed(path, b.log.name())
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.sealed = append(t.sealed, sealed) // seals may end out of order: see blocks
	t.sealing = slices.DeleteFunc(t.sealing, func(o *openBlock) bool { return o == b })
	t.mu.Unlock()
	// The mapping keeps the log's content; the descriptor is not needed.
	return b.log.close()
}

// Len returns how many events the trail holds.
func (t *Trail) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return int(t.open.start) + t.open.count()
}

// Close waits for the seals in progress, then releases the trail's
// files; events are durable once appended.
func (t *Trail) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.quit)
	t.mu.Unlock()
	t.sealers.Wait()
	var errs []error
	for _, b := range t.sealed {
		errs = append(errs, b.close())
	}
	for _, b := range t.sealing {
		errs = append(errs, b.log.cut(), b.log.close())
	}
	if err := t.sealErr.Load(); err != nil && len(t.sealing) > 0 {
		errs = append(errs, fmt.Errorf("%w (the next start seals the block again)", *err))
	}
	t.logMu.Lock()
	t.log.Store(nil)
	errs = append(errs, t.open.log.cut())
	if t.opts.SyncInterval > 0 {
		errs = append(errs, t.open.log.sync())
	}
	errs = append(errs, t.open.log.close())
	t.logMu.Unlock()
	t.unlock()
	return errors.Join(errs...)
}

// release closes what a failed OpenTrail opened.
func (t *Trail) release() {
	close(t.quit)
	t.sealers.Wait()
	for _, b := range t.sealed {
		b.close()
	}
	for _, b := range t.sealing {
		b.log.close()
	}
	if t.open != nil {
		t.open.log.close()
	}
	t.unlock()
}

// blocks returns the blocks, oldest first, with their postings (see
// openBlock.catchUp), or ErrClosed; the caller holds t.mu.
func (t *Trail) blocks() ([]block, error) {
	if t.closed {
		return nil, ErrClosed
	}
	out := make([]block, 0, len(t.sealed)+len(t.sealing)+1)
	for _, b := range t.sealed {
		out = append(out, b)
	}
	for _, b := range t.sealing {
		if err := b.catchUp(); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	// Blocks are sealed concurrently: one may be sealed before an older one.
	slices.SortFunc(out, func(a, b block) int { return cmp.Compare(a.first(), b.first()) })
	if err := t.open.catchUp(); err != nil {
		return nil, err
	}
	return append(out, t.open), nil
}

// index makes the postings of the events appended since the last search.
func (t *Trail) index() error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, err := t.blocks()
	return err
}

// Read returns the event with this id, or store.ErrNotFound.
func (t *Trail) Read(_ context.Context, id string) (*store.Resource, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	blocks, err := t.blocks()
	if err != nil {
		return nil, err
	}
	b, i, ok := latestWithID(blocks, id)
	if !ok {
		return nil, fmt.Errorf("%s/%s: %w", resourceType, id, store.ErrNotFound)
	}
	res, err := b.event(i)
	return &res, err
}

// latestWithID finds the latest event with this id among blocks (oldest
// first): its block and its ordinal there.
func latestWithID(blocks []block, id string) (block, int, bool) {
	for _, b := range slices.Backward(blocks) {
		if ords := b.lookup(store.ParamID, id); len(ords) > 0 {
			return b, int(ords[len(ords)-1]), true
		}
	}
	return nil, 0, false
}

// VRead returns version 1 of the event (events are never updated).
func (t *Trail) VRead(ctx context.Context, id string, version int64) (*store.Resource, error) {
	res, err := t.Read(ctx, id)
	if err != nil {
		return nil, err
	}
	if version != 1 {
		return nil, fmt.Errorf("%s/%s/_history/%d: %w", resourceType, id, version, store.ErrNotFound)
	}
	return res, nil
}

// History returns the versions of the events h selects, newest first:
// one event's (h.ID), or every event's. Each event has one version.
func (t *Trail) History(ctx context.Context, h store.HistoryQuery) (*store.HistoryResult, error) {
	if h.ID != "" {
		res, err := t.Read(ctx, h.ID)
		if errors.Is(err, store.ErrNotFound) {
			return &store.HistoryResult{}, nil
		}
		if err != nil {
			return nil, err
		}
		var versions []store.Resource
		if keptInHistory(*res, h) && h.Offset == 0 {
			versions = append(versions, *res)
		}
		return &store.HistoryResult{Versions: versions, Total: len(versions)}, nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	blocks, err := t.blocks()
	if err != nil {
		return nil, err
	}
	out := &store.HistoryResult{}
	for _, b := range slices.Backward(blocks) {
		for i := b.count() - 1; i >= 0; i-- {
			if !keptInHistoryAt(b.lastUpdated(i), h) {
				continue
			}
			out.Total++
			if out.Total <= h.Offset {
				continue
			}
			if h.Count > 0 && len(out.Versions) == h.Count {
				out.More = true
				continue
			}
			res, err := b.event(i)
			if err != nil {
				return nil, err
			}
			out.Versions = append(out.Versions, res)
		}
	}
	return out, nil
}

func keptInHistory(res store.Resource, h store.HistoryQuery) bool {
	return keptInHistoryAt(res.LastUpdated.UnixMilli(), h)
}

// keptInHistoryAt applies h's Since and At to a version of this time (an
// event, never updated, is current from its creation on).
func keptInHistoryAt(updated int64, h store.HistoryQuery) bool {
	if !h.Since.IsZero() && updated < h.Since.UnixMilli() {
		return false
	}
	return h.At.IsZero() || updated <= h.At.UnixMilli()
}

func millisTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// numberedName is the file name of the block or log starting at first.
func numberedName(first uint64, suffix string) string {
	return fmt.Sprintf("%020d%s", first, suffix)
}

// numberedFiles lists the numbers of dir's files with suffix, in order.
func numberedFiles(dir, suffix string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), suffix)
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(name, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// lastChained returns the link of the chained event with the highest
// sequence (genesis when there is none): one pass over the sequence
// entries, without collecting them.
func (t *Trail) lastChained(context.Context) (link, error) {
	t.mu.RLock()
	var (
		last    block
		lastOrd uint32
		highest = math.Inf(-1)
	)
	blocks, err := t.blocks()
	if err != nil {
		t.mu.RUnlock()
		return link{}, err
	}
	for _, b := range blocks {
		b.scanRanges(SequenceParam, func(o uint32, low, _ float64, _ string) {
			if low > highest {
				last, lastOrd, highest = b, o, low
			}
		})
	}
	if last == nil {
		t.mu.RUnlock()
		return genesis, nil
	}
	content, err := last.content(int(lastOrd))
	if err == nil {
		content = bytes.Clone(content)
	}
	t.mu.RUnlock()
	if err != nil {
		return link{}, err
	}
	l, _, err := chainedContent(content)
	if err != nil {
		return link{}, fmt.Errorf("audit: trail: the last chained event: %w", err)
	}
	return l, nil
}
