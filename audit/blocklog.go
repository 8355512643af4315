package audit

import (
	"errors"
	"fmt"
	"os"
)

// blockLog is the log of the block being filled: its events' frames, one
// after the other, in the file's first end bytes.
//
// Where the system allows it (Linux), appends are copied into a shared
// mapping of the file, which is allocated ahead of them a chunk at a time:
// a copy instead of a write(2) per event, and no change of the file's
// size to journal on each. The allocation (fallocate) makes sure that a
// copy never meets a full disk, which a mapping could only report by
// killing the process; fdatasync writes the mapping's pages as it writes
// written ones. Past end the file holds zeros until the log is cut (at the
// seal and on close); a replay after a crash stops at them, as at a torn
// frame. Elsewhere, or when the file system cannot allocate ahead, appends
// are written.
type blockLog struct {
	f   *os.File
	end int64
	// data maps the file's first len(data) bytes, allocated; nil when
	// appends are written.
	data []byte
	// writes: appends are written, not mapped (the system or the file
	// system cannot map them).
	writes bool
}

// logChunk is the least a log's mapping grows by; it doubles from there.
const logChunk = 1 << 20

func openBlockLog(f *os.File, end int64) *blockLog {
	return &blockLog{f: f, end: end}
}

func (l *blockLog) name() string { return l.f.Name() }

// append adds p after the log's frames. On error nothing of p is in the
// log's end (part of it may be in the file, past end).
func (l *blockLog) append(p []byte) error {
	if !l.writes && l.end+int64(len(p)) > int64(len(l.data)) {
		if err := l.grow(l.end + int64(len(p))); err != nil {
			return fmt.Errorf("audit: trail log: %w", err)
		}
	}
	if l.writes {
		if _, err := l.f.WriteAt(p, l.end); err != nil {
			return fmt.Errorf("audit: trail log: %w", err)
		}
	} else {
		copy(l.data[l.end:], p)
	}
	l.end += int64(len(p))
	return nil
}

// drop forgets the bytes after end, which the log's next appends replace.
func (l *blockLog) drop(end int64) { l.end = min(l.end, end) }

// grow allocates and maps the file to hold at least need bytes, or turns
// the log to writes when it cannot be mapped.
func (l *blockLog) grow(need int64) error {
	size := max(2*int64(len(l.data)), logChunk)
	for size < need {
		size *= 2
	}
	if err := l.unmap(); err != nil {
		return err
	}
	data, err := mapAhead(l.f, size)
	switch {
	case errors.Is(err, errCannotMap):
		l.writes = true
		return nil
	case err != nil:
		return err
	}
	l.data = data
	return nil
}

func (l *blockLog) unmap() error {
	if l.data == nil {
		return nil
	}
	data := l.data
	l.data = nil
	return unmapAhead(data)
}

// read returns a copy of the log's bytes [from, to).
func (l *blockLog) read(from, to int64) ([]byte, error) {
	if from < 0 || from > to || to > l.end {
		return nil, fmt.Errorf("audit: trail log: bytes %d to %d read past its end %d", from, to, l.end)
	}
	out := make([]byte, to-from)
	if l.data != nil {
		copy(out, l.data[from:to])
		return out, nil
	}
	if _, err := l.f.ReadAt(out, from); err != nil {
		return nil, fmt.Errorf("audit: trail log: %w", err)
	}
	return out, nil
}

func (l *blockLog) sync() error { return datasync(l.f) }

// cut gives the file the frames' length, dropping the zeros allocated past
// them; the mapping stays for reads before end.
func (l *blockLog) cut() error {
	if err := l.f.Truncate(l.end); err != nil {
		return fmt.Errorf("audit: trail log: %w", err)
	}
	return nil
}

// close unmaps and closes the log (cut it first to drop what was
// allocated ahead).
func (l *blockLog) close() error {
	return errors.Join(l.unmap(), l.f.Close())
}
