package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBacklog is returned by Record when the journal holds more unindexed
// events than Options.MaxBacklog allows (the store has been failing for a
// while): audit is fail-closed, and the disk is not filled.
var ErrBacklog = errors.New("audit: journal backlog full: the store is not taking audit events")

// position is a place in the journal: a segment and a byte offset in it.
type position struct {
	seg uint64
	off int64
}

func (p position) before(q position) bool {
	return p.seg < q.seg || (p.seg == q.seg && p.off < q.off)
}

// journal is the node-local, append-only file of events not yet in the
// store, split in segments "<seq>.journal". One goroutine appends (run);
// the indexer reads behind it.
type journal struct {
	dir     string
	segSize int64
	limits  backlogLimits
	unlock  func()

	requests chan *pending
	quit     chan struct{}
	stopped  chan struct{}

	// syncEvery, when positive, defers the file sync: a write returns once
	// in the operating system's cache, and the writer syncs at most this
	// long after (see Options.SyncInterval).
	syncEvery time.Duration

	// Owned by the writer goroutine.
	file  *os.File
	seg   uint64
	size  int64
	dirty bool // written since the last sync

	mu      sync.Mutex
	durable position      // everything before it is written (and on disk, unless syncs are deferred)
	grew    chan struct{} // closed and replaced when durable moves

	backlog atomic.Int64 // bytes written and not yet indexed
}

const segmentSuffix = ".journal"

func segmentName(seg uint64) string { return numberedName(seg, segmentSuffix) }

// segments lists the segment numbers in dir, in order.
func segments(dir string) ([]uint64, error) { return numberedFiles(dir, segmentSuffix) }

// openJournal locks dir and starts a new segment after the existing ones
// (a crash may have torn the last one's tail: it is never appended to).
func openJournal(dir string, segSize int64, syncEvery time.Duration, limits backlogLimits) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: journal: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: journal %s: %w", dir, err)
	}
	segs, err := segments(dir)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("audit: journal: %w", err)
	}
	j := &journal{
		dir: dir, segSize: segSize, limits: limits, unlock: unlock, syncEvery: syncEvery,
		requests: make(chan *pending), quit: make(chan struct{}), stopped: make(chan struct{}),
		grew: make(chan struct{}),
	}
	var backlog int64
	for _, s := range segs {
		if info, err := os.Stat(filepath.Join(dir, segmentName(s))); err == nil {
			backlog += info.Size()
		}
	}
	j.backlog.Store(backlog) // an upper bound until the indexer skips what it had indexed
	next := uint64(1)
	if len(segs) > 0 {
		next = segs[len(segs)-1] + 1
	}
	if err := j.startSegment(next); err != nil {
		unlock()
		return nil, err
	}
	j.durable = position{seg: next}
	go j.run()
	return j, nil
}

// startSegment creates segment seg and makes it the one appended to.
func (j *journal) startSegment(seg uint64) error {
	f, err := os.OpenFile(filepath.Join(j.dir, segmentName(seg)), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: journal: new segment: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return fmt.Errorf("audit: journal: new segment: %w", err)
	}
	if j.file != nil {
		j.file.Close()
	}
	j.file, j.seg, j.size = f, seg, 0
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// backlogLimits are Options.MaxBacklog, PaceBacklog and StallTimeout.
type backlogLimits struct {
	max, pace int64
	stall     time.Duration
}

// paceTick is how often a paced Record looks at the backlog again.
const paceTick = 2 * time.Millisecond

// append hands p (its frame encoded) to the writer and waits until it is on disk.
func (j *journal) append(ctx context.Context, p *pending) error {
	if err := j.room(ctx); err != nil {
		return err
	}
	return handOff(ctx, j.requests, j.quit, p)
}

// room returns once the backlog is under the pace limit, or ErrBacklog
// when it is over the maximum or the indexer has stopped taking it.
func (j *journal) room(ctx context.Context) error {
	backlog := j.backlog.Load()
	if backlog <= j.limits.pace {
		return nil
	}
	tick := time.NewTicker(paceTick)
	defer tick.Stop()
	lowest, moved := backlog, time.Now()
	for {
		switch {
		case backlog > j.limits.max:
			return ErrBacklog
		case backlog <= j.limits.pace:
			return nil
		case backlog < lowest:
			lowest, moved = backlog, time.Now()
		case time.Since(moved) > j.limits.stall:
			return ErrBacklog
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-j.quit:
			return ErrClosed
		case <-tick.C:
		}
		backlog = j.backlog.Load()
	}
}

// maxWrite bounds the bytes one group write takes.
const maxWrite = 4 << 20

// run is the writer goroutine: it takes every event waiting, appends their
// frames in one write, syncs the file once, and answers them all.
func (j *journal) run() {
	defer close(j.stopped)
	var tick <-chan time.Time
	if j.syncEvery > 0 {
		t := time.NewTicker(j.syncEvery)
		defer t.Stop()
		tick = t.C
	}
	var buf []byte
	for {
		var batch []*pending
		select {
		case p := <-j.requests:
			batch = append(batch, p)
		case <-tick:
			j.syncDeferred()
			continue
		case <-j.quit:
			j.syncDeferred()
			return
		}
		buf = append(buf[:0], batch[0].frame...)
	drain:
		for len(buf) < maxWrite {
			select {
			case p := <-j.requests:
				batch = append(batch, p)
				buf = append(buf, p.frame...)
			default:
				break drain
			}
		}
		err := j.write(buf)
		for _, p := range batch {
			p.done <- err
		}
	}
}

// syncDeferred syncs what deferred writes left in the cache. A failure is
// the next write's: the segment is abandoned as after a failed write.
func (j *journal) syncDeferred() {
	if !j.dirty || j.file == nil {
		return
	}
	if err := datasync(j.file); err != nil {
		j.file.Close()
		j.file = nil
	}
	j.dirty = false
}

// write appends buf to the current segment (a new one when it is full)
// and syncs it. After a failed write the segment may end with a partial
// frame, so the next write starts a new segment.
func (j *journal) write(buf []byte) error {
	if j.file == nil || (j.size > 0 && j.size+int64(len(buf)) > j.segSize) {
		j.syncDeferred()
		if err := j.startSegment(j.seg + 1); err != nil {
			return err
		}
	}
	_, err := j.file.Write(buf)
	if err == nil && j.syncEvery <= 0 {
		err = datasync(j.file)
	}
	j.dirty = j.syncEvery > 0
	if err != nil {
		j.file.Close()
		j.file = nil
		return fmt.Errorf("audit: journal write: %w", err)
	}
	j.size += int64(len(buf))
	j.backlog.Add(int64(len(buf)))
	j.mu.Lock()
	j.durable = position{seg: j.seg, off: j.size}
	close(j.grew)
	j.grew = make(chan struct{})
	j.mu.Unlock()
	return nil
}

// state returns the durable position and a channel closed when it moves.
func (j *journal) state() (position, <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.durable, j.grew
}

// close stops the writer; Records after it return ErrClosed.
func (j *journal) close() {
	close(j.quit)
	<-j.stopped
	if j.file != nil {
		j.file.Close()
	}
}
