package dicomweb

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// spool is where a STOW request writes its parts as they come, each one
// after the parts kept before it, to be checked before it is stored.
//
// On a DirBlobs the spool is a pack: the instances of one index commit (up
// to batchSize), end to end in one file that is one blob, made durable
// before the commit (seal). Packs are created ahead of use, their folder
// entries synced a few at a time (DirBlobs.takePack), so storing ten
// instances syncs one file, where one file each cost ten files and their
// folders; and a study is read back from a few files. Each instance record
// names its pack and its range in it (instanceRecord.Offset, Size). A part
// that is refused is cut off the end of the pack (drop).
//
// On other blob stores the spool is a temporary file holding one part at
// a time, copied to the store (Blobs.Put) once checked.
type spool struct {
	dir     *DirBlobs // where packs are written and stored; nil: a temporary file in tempDir
	tempDir string
	f       *os.File // created at the first write after a seal
	key     string   // the blob key of the pack being written
	end     int64    // the length of the parts kept
}

// packPrefix starts the keys of packs. Other keys start with a SOP Instance
// UID, hence a digit.
const packPrefix = "pack-"

// isPack reports whether a blob key names a pack, a blob that holds several
// instances: deleting one of them must not delete it.
func isPack(key string) bool { return strings.HasPrefix(key, packPrefix) }

// packs reports whether kept parts stay in the spool as a pack.
func (sp *spool) packs() bool { return sp.dir != nil }

// fileWriters buffer the parts written to the spool: the multipart reader
// hands out a few KB at a time, and a large buffer in front of the file
// turns sixteen writes per 64 KB into one.
var fileWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 256<<10) }}

// errSpoolDisk wraps the errors of the spool's own file (the server's
// side), so that they are not taken for a client's truncated body.
var errSpoolDisk = errors.New("spool")

// write appends everything r yields after the kept parts, and returns
// where it starts, its length and its SHA-256 digest (lower-case hex).
// Until keep, the part is the spool's last and drop forgets it.
func (sp *spool) write(r io.Reader) (start, n int64, digest string, err error) {
	if sp.f == nil {
		if err := sp.open(); err != nil {
			return 0, 0, "", fmt.Errorf("%w: %w", errSpoolDisk, err)
		}
	}
	h := sha256.New()
	w := fileWriters.Get().(*bufio.Writer)
	defer func() {
		w.Reset(nil)
		fileWriters.Put(w)
	}()
	w.Reset(io.NewOffsetWriter(sp.f, sp.end))
	n, err = w.ReadFrom(io.TeeReader(r, h)) // read straight into the buffer
	if err != nil {
		return sp.end, n, "", err // most likely the client's body, cut short
	}
	if err := w.Flush(); err != nil {
		return sp.end, n, "", fmt.Errorf("%w: %w", errSpoolDisk, err)
	}
	if sp.packs() {
		// The part is written back while the next ones come, so that
		// sealing the pack waits for little more than the file system's
		// own commit.
		startWriteback(sp.f, sp.end, n)
	}
	return sp.end, n, hex.EncodeToString(h.Sum(nil)), nil
}

// open starts a new pack (or the temporary file).
func (sp *spool) open() error {
	var err error
	if sp.packs() {
		sp.key, sp.f, err = sp.dir.takePack()
	} else {
		sp.f, err = os.CreateTemp(sp.tempDir, "stow-*.dcm")
	}
	sp.end = 0
	return err
}

// section reads back n bytes written from start.
func (sp *spool) section(start, n int64) *io.SectionReader {
	return io.NewSectionReader(sp.f, start, n)
}

// keep makes the part written last, of n bytes, part of the pack.
func (sp *spool) keep(n int64) { sp.end += n }

// drop cuts what follows the kept parts (the part written last, unless
// kept) off the file.
func (sp *spool) drop() error {
	if sp.f == nil {
		return nil
	}
	return sp.f.Truncate(sp.end)
}

// seal makes the pack durable under its key (its folder entry already
// is, see DirBlobs.takePack: syncing the file is enough); the next write
// starts a new pack. It returns the key, "" when the pack holds nothing
// (it goes back to the reserved ones).
func (sp *spool) seal() (string, error) {
	if !sp.packs() || sp.f == nil {
		return "", nil
	}
	f, key, kept := sp.f, sp.key, sp.end
	sp.f, sp.key, sp.end = nil, "", 0
	if kept == 0 {
		sp.dir.returnPack(key, f)
		return "", nil
	}
	defer f.Close()
	err := f.Truncate(kept)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return key, fmt.Errorf("dicomweb: store pack %s: %w", key, err)
	}
	return key, nil
}

// close gives up what was not sealed: the pack being written goes back to
// the reserved ones, the temporary file is removed.
func (sp *spool) close() {
	switch {
	case sp.f == nil:
	case sp.packs():
		sp.dir.returnPack(sp.key, sp.f)
	default:
		sp.f.Close()
		os.Remove(sp.f.Name())
	}
	sp.f, sp.key, sp.end = nil, "", 0
}

// forgetPack deletes a sealed pack no index record names (its commit
// failed, or every instance in it turned out to be stored already).
func (s *Server) forgetPack(ctx context.Context, key string) {
	if key == "" {
		return
	}
	if err := s.opts.Blobs.Delete(ctx, key); err != nil && !errors.Is(err, ErrBlobNotFound) {
		s.log.WarnContext(ctx, "dicomweb: delete unindexed pack", "key", key, "err", err)
	}
}
