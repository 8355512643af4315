package audit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// indexer moves journaled events into the store, in batches, as a chain
// (writer.persist), and remembers how far it got in the journal's
// "position" file.
type indexer struct {
	j       *journal
	w       *writer
	rec     *Recorder
	posFile *os.File

	pos     position // the next frame to index
	file    *os.File // the segment being read
	fileSeg uint64
	buf     []byte

	quit    chan struct{}
	stopped chan struct{}
	kick    chan struct{} // Sync asks to index now, without lingering

	mu       sync.Mutex
	indexed  position
	advanced chan struct{} // closed and replaced when indexed moves
	failure  error         // the last persist error, nil once it succeeds
}

// readChunk is how much of a segment one read takes.
const readChunk = 1 << 20

// closeDrain bounds how long Close keeps indexing the journal's backlog.
const closeDrain = 10 * time.Second

// linger is how long the indexer, idle, lets events gather before it
// indexes them: a store commit has a fixed cost (a transaction, and one
// more for the chain head) that a batch of one event would pay alone.
// Under steady load the indexer is never idle and never lingers.
const linger = 50 * time.Millisecond

func startIndexer(r *Recorder, j *journal) (*indexer, error) {
	f, err := os.OpenFile(filepath.Join(j.dir, "position"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: journal position: %w", err)
	}
	ix := &indexer{j: j, w: &writer{Recorder: r}, rec: r, posFile: f,
		quit: make(chan struct{}), stopped: make(chan struct{}), advanced: make(chan struct{}), kick: make(chan struct{}, 1)}
	var raw [16]byte
	if n, _ := f.ReadAt(raw[:], 0); n == len(raw) {
		ix.pos = position{seg: binary.LittleEndian.Uint64(raw[0:8]), off: int64(binary.LittleEndian.Uint64(raw[8:16]))}
	}
	segs, err := segments(j.dir)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: journal: %w", err)
	}
	// Start at the recorded segment, or the first one after it that exists.
	start := position{seg: j.seg}
	for _, s := range segs {
		if s == ix.pos.seg {
			start = ix.pos
			break
		}
		if s > ix.pos.seg {
			start = position{seg: s}
			break
		}
	}
	ix.pos, ix.indexed = start, start
	j.backlog.Add(-start.off)
	// Segments before the start are indexed: a crash came between saving
	// the position and removing them.
	for _, s := range segs {
		if s < start.seg {
			name := filepath.Join(j.dir, segmentName(s))
			if info, err := os.Stat(name); err == nil {
				j.backlog.Add(-info.Size())
			}
			if err := os.Remove(name); err != nil {
				r.opts.Logger.Warn("audit: journal: remove indexed segment", "err", err)
			}
		}
	}
	go ix.run()
	return ix, nil
}

func (ix *indexer) run() {
	defer close(ix.stopped)
	defer ix.closeFile()
	backoff := 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	draining := false
	for {
		durable, grew := ix.j.state()
		if !ix.pos.before(durable) {
			if draining {
				return
			}
			select {
			case <-grew:
				select {
				case <-time.After(linger):
				case <-ix.kick:
				case <-ix.quit:
				}
				continue
			case <-ix.quit:
				// The writer has stopped: index what it wrote, then stop.
				draining = true
				time.AfterFunc(closeDrain, cancel)
				continue
			}
		}
		err := ix.step(ctx, durable)
		ix.mu.Lock()
		ix.failure = err
		ix.mu.Unlock()
		if err == nil {
			backoff = 100 * time.Millisecond
			continue
		}
		ix.rec.opts.Logger.Error("audit: indexing the journal failed; retrying", "err", err, "retry", backoff)
		if draining {
			return
		}
		select {
		case <-time.After(backoff):
			backoff = min(2*backoff, 5*time.Second)
		case <-ix.quit:
			draining = true
			time.AfterFunc(closeDrain, cancel)
		}
	}
}

// step indexes one batch of frames after pos (or moves to the next
// segment when the current one is done).
func (ix *indexer) step(ctx context.Context, durable position) error {
	limit, old := durable.off, ix.pos.seg < durable.seg
	if old {
		if err := ix.open(ix.pos.seg); err != nil {
			return err
		}
		info, err := ix.file.Stat()
		if err != nil {
			return fmt.Errorf("audit: journal: %w", err)
		}
		limit = info.Size()
	}
	batch, ends, err := ix.read(limit)
	if err != nil && !errors.Is(err, errBadFrame) {
		return err
	}
	if len(batch) == 0 {
		if !old {
			if err != nil {
				return fmt.Errorf("audit: journal segment %s at %d: %w", segmentName(ix.pos.seg), ix.pos.off, err)
			}
			return nil
		}
		if err != nil || ix.pos.off < limit {
			ix.rec.opts.Logger.Warn("audit: journal segment ends with a torn frame (a crash during its write: the event was never acknowledged)",
				"segment", segmentName(ix.pos.seg), "offset", ix.pos.off)
		}
		return ix.nextSegment(limit, durable.seg)
	}
	n, perr := ix.w.persist(ctx, batch)
	if n > 0 {
		start := ix.pos.off
		ix.pos.off = ends[n-1]
		ix.j.backlog.Add(start - ix.pos.off)
		if err := ix.save(); err != nil {
			return err
		}
	}
	if perr != nil {
		ix.w.loaded = false // what was committed is uncertain: reload the tail
	}
	return perr
}

// read decodes the frames from pos up to limit (at most MaxBatch of them),
// returning them and the offset after each.
func (ix *indexer) read(limit int64) ([]*pending, []int64, error) {
	if err := ix.open(ix.pos.seg); err != nil {
		return nil, nil, err
	}
	size := min(int64(readChunk), limit-ix.pos.off)
	if size <= 0 {
		return nil, nil, nil
	}
	if int64(cap(ix.buf)) < size {
		ix.buf = make([]byte, size)
	}
	buf := ix.buf[:size]
	n, err := ix.file.ReadAt(buf, ix.pos.off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("audit: journal read: %w", err)
	}
	buf = buf[:n]
	var batch []*pending
	var ends []int64
	for i := 0; len(batch) < ix.rec.opts.MaxBatch && len(buf)-i >= frameHeader; {
		length, err := frameLength(buf[i : i+frameHeader])
		if err != nil {
			return batch, ends, err
		}
		frame := buf[i:min(i+length, len(buf))]
		if len(frame) < length {
			if i > 0 || ix.pos.off+int64(length) > limit {
				break // the next read takes it, or it is torn
			}
			// A frame larger than a chunk: read it whole.
			frame = make([]byte, length)
			if _, err := ix.file.ReadAt(frame, ix.pos.off); err != nil {
				return nil, nil, fmt.Errorf("audit: journal read: %w", err)
			}
		}
		p, err := decodeFrame(frame)
		if err != nil {
			return batch, ends, err
		}
		// p.content points into the buffer, which the next read reuses:
		// step persists the batch before reading again, and chainedBody
		// copies the content into the stored body.
		i += length
		batch = append(batch, p)
		ends = append(ends, ix.pos.off+int64(i))
	}
	return batch, ends, nil
}

// nextSegment moves past a finished segment, removing it.
func (ix *indexer) nextSegment(size int64, current uint64) error {
	segs, err := segments(ix.j.dir)
	if err != nil {
		return fmt.Errorf("audit: journal: %w", err)
	}
	done := ix.pos.seg
	next := current
	for _, s := range segs {
		if s > done {
			next = s
			break
		}
	}
	ix.j.backlog.Add(ix.pos.off - size)
	ix.pos = position{seg: next}
	if err := ix.save(); err != nil {
		return err
	}
	ix.closeFile()
	if err := os.Remove(filepath.Join(ix.j.dir, segmentName(done))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit: journal: remove indexed segment: %w", err)
	}
	return nil
}

// save records pos in the position file and publishes it. The file is not
// synced: after a power loss the indexer may index the last batches again
// (the trail then holds them twice, never less).
func (ix *indexer) save() error {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[0:8], ix.pos.seg)
	binary.LittleEndian.PutUint64(raw[8:16], uint64(ix.pos.off))
	if _, err := ix.posFile.WriteAt(raw[:], 0); err != nil {
		return fmt.Errorf("audit: journal position: %w", err)
	}
	ix.mu.Lock()
	ix.indexed = ix.pos
	close(ix.advanced)
	ix.advanced = make(chan struct{})
	ix.mu.Unlock()
	return nil
}

func (ix *indexer) open(seg uint64) error {
	if ix.file != nil && ix.fileSeg == seg {
		return nil
	}
	ix.closeFile()
	f, err := os.Open(filepath.Join(ix.j.dir, segmentName(seg)))
	if err != nil {
		return fmt.Errorf("audit: journal: %w", err)
	}
	ix.file, ix.fileSeg = f, seg
	return nil
}

func (ix *indexer) closeFile() {
	if ix.file != nil {
		ix.file.Close()
		ix.file = nil
	}
}

// sync waits until every event durable when it is called is in the store.
func (ix *indexer) sync(ctx context.Context) error {
	target, _ := ix.j.state()
	select {
	case ix.kick <- struct{}{}:
	default:
	}
	for {
		ix.mu.Lock()
		indexed, advanced, failure := ix.indexed, ix.advanced, ix.failure
		ix.mu.Unlock()
		if !indexed.before(target) {
			return nil
		}
		select {
		case <-advanced:
		case <-ix.stopped:
			return ErrClosed
		case <-ctx.Done():
			if failure != nil {
				return fmt.Errorf("audit: sync: %w (indexing: %v)", ctx.Err(), failure)
			}
			return fmt.Errorf("audit: sync: %w", ctx.Err())
		}
	}
}

func (ix *indexer) close() {
	close(ix.quit)
	<-ix.stopped
	ix.posFile.Close()
}
