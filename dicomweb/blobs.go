package dicomweb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrBlobNotFound is returned by Blobs.Open and Blobs.Delete for a key that
// holds nothing.
var ErrBlobNotFound = errors.New("dicomweb: blob not found")

// Blobs stores the DICOM files, one blob per stored instance. Keys are
// chosen by the server: they are made of letters, digits, '.', '-' and '_'.
// Implementations are safe for concurrent use.
type Blobs interface {
	// Put stores everything r yields under key, and reports its size and
	// SHA-256 digest. It streams: r is never held in memory whole. A blob is
	// either stored complete or not at all. The server puts the content's
	// digest in its keys, so a key that already exists holds the same bytes:
	// an implementation may replace it (atomically) or keep it.
	Put(ctx context.Context, key string, r io.Reader) (BlobInfo, error)
	// Open returns the blob stored under key, or ErrBlobNotFound.
	Open(ctx context.Context, key string) (Blob, error)
	// Delete removes the blob under key; ErrBlobNotFound when there is none.
	Delete(ctx context.Context, key string) error
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Size   int64
	SHA256 string // lower-case hex
}

// Blob is an open blob, read from its start. Skip moves forward without
// reading into memory (frames are read from inside large files).
type Blob interface {
	io.ReadCloser
	Size() int64
	Skip(n int64) error
}

// validKey keeps keys to a character set every backend accepts as a file
// name or document id, and away from path traversal.
func validKey(key string) error {
	if key == "" || len(key) > 200 || strings.HasPrefix(key, ".") {
		return fmt.Errorf("dicomweb: invalid blob key %q", key)
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("dicomweb: invalid blob key %q", key)
		}
	}
	return nil
}

// DirBlobs stores blobs as files under a directory, two levels of
// sub-folders deep (by the digest-like tail of the key) so that no folder
// grows to millions of entries. Packs (see spool) live apart, in
// packs/<xx>/, and are created ahead of use (reservePacks).
type DirBlobs struct {
	dir string

	packMu    sync.Mutex
	freePacks []string // keys of reserved packs: empty files, their entries durable
}

// NewDirBlobs returns blobs stored under dir, creating it if needed.
func NewDirBlobs(dir string) (*DirBlobs, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("dicomweb: blobs folder: %w", err)
	}
	d := &DirBlobs{dir: dir}
	d.removeStale(time.Now().Add(-staleAfter))
	return d, nil
}

// staleAfter is the age past which a staged file is the leftover of a
// crash (an upload in progress is never that old).
const staleAfter = 24 * time.Hour

// removeStale removes the staged files last written before limit.
func (d *DirBlobs) removeStale(limit time.Time) {
	entries, _ := os.ReadDir(filepath.Join(d.dir, stagingFolder))
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !e.IsDir() && info.ModTime().Before(limit) {
			os.Remove(filepath.Join(d.dir, stagingFolder, e.Name()))
		}
	}
}

func (d *DirBlobs) path(key string) string {
	if isPack(key) {
		return filepath.Join(d.dir, packFolder, key[len(packPrefix):len(packPrefix)+2], key)
	}
	h := sha256.Sum256([]byte(key))
	sub := hex.EncodeToString(h[:2])
	return filepath.Join(d.dir, sub[:2], sub[2:], key)
}

// Put writes to a temporary file in the staging folder, syncs it, and
// renames it into place, then syncs the folder: a crash leaves the old
// blob or the new one, never half of one.
func (d *DirBlobs) Put(ctx context.Context, key string, r io.Reader) (BlobInfo, error) {
	if err := validKey(key); err != nil {
		return BlobInfo{}, err
	}
	tmp, err := d.stage()
	if err != nil {
		return BlobInfo{}, fmt.Errorf("dicomweb: put blob %s: %w", key, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // fails harmlessly once renamed
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err != nil {
		return BlobInfo{}, fmt.Errorf("dicomweb: put blob %s: %w", key, err)
	}
	folders, err := d.adopt(key, tmp)
	if err != nil {
		return BlobInfo{}, err
	}
	for _, folder := range folders {
		if err := syncDir(folder); err != nil {
			return BlobInfo{}, fmt.Errorf("dicomweb: put blob %s: %w", key, err)
		}
	}
	return BlobInfo{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// packFolder holds the packs, in 256 sub-folders named by the first two
// hex digits of their keys' random part.
const packFolder = "packs"

// packReserve is how many packs are created at once, in one folder whose
// entries are then synced once: sealing a pack then syncs its file only.
const packReserve = 16

// takePack returns a reserved pack, opened for writing: an empty file
// whose folder entry is durable, so that its content is made durable by
// syncing it alone. A pack that ends up holding nothing goes back
// (returnPack). A crash may leave reserved packs unused: empty files
// no index record names.
func (d *DirBlobs) takePack() (string, *os.File, error) {
	d.packMu.Lock()
	if len(d.freePacks) == 0 {
		if err := d.reservePacks(); err != nil {
			d.packMu.Unlock()
			return "", nil, fmt.Errorf("dicomweb: reserve packs: %w", err)
		}
	}
	key := d.freePacks[len(d.freePacks)-1]
	d.freePacks = d.freePacks[:len(d.freePacks)-1]
	d.packMu.Unlock()
	f, err := os.OpenFile(d.path(key), os.O_RDWR, 0)
	if err != nil {
		return "", nil, fmt.Errorf("dicomweb: open pack %s: %w", key, err)
	}
	return key, f, nil
}

// returnPack empties a pack that holds no instance and puts it back among
// the reserved ones.
func (d *DirBlobs) returnPack(key string, f *os.File) {
	defer f.Close()
	if err := f.Truncate(0); err != nil {
		os.Remove(f.Name())
		return
	}
	d.packMu.Lock()
	d.freePacks = append(d.freePacks, key)
	d.packMu.Unlock()
}

// reservePacks creates packReserve empty packs in one folder (created if
// needed, with its parents' entries) and syncs it. d.packMu is held.
func (d *DirBlobs) reservePacks() error {
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	sub := hex.EncodeToString(rnd[:1])
	folder := filepath.Join(d.dir, packFolder, sub)
	var folders []string
	if _, err := os.Stat(folder); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(filepath.Dir(folder)); errors.Is(err, os.ErrNotExist) {
			folders = append(folders, d.dir)
		}
		if err := os.MkdirAll(folder, 0o750); err != nil {
			return err
		}
		folders = append(folders, filepath.Dir(folder))
	}
	var keys []string
	for range packReserve {
		_, _ = rand.Read(rnd[1:])
		key := packPrefix + sub + hex.EncodeToString(rnd[1:])
		f, err := os.OpenFile(filepath.Join(folder, key), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
		if err != nil {
			return err
		}
		f.Close()
		keys = append(keys, key)
	}
	for _, dir := range append(folders, folder) {
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	d.freePacks = append(d.freePacks, keys...)
	return nil
}

// stagingFolder holds files being written; it sits inside dir so that a
// finished file is renamed into place, never copied. Keys never start
// with '.', so it cannot meet a blob.
const stagingFolder = ".staging"

// stage creates a temporary file in the staging folder, where Put writes
// a blob before it renames it into place.
func (d *DirBlobs) stage() (*os.File, error) {
	f, err := os.CreateTemp(filepath.Join(d.dir, stagingFolder), "put-*")
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Join(d.dir, stagingFolder), 0o750); err != nil {
			return nil, err
		}
		f, err = os.CreateTemp(filepath.Join(d.dir, stagingFolder), "put-*")
	}
	return f, err
}

// adopt syncs a staged file and renames it to key's place. It returns the
// folders whose entries changed, which the caller must sync (syncDir)
// before counting the blob as stored.
func (d *DirBlobs) adopt(key string, staged *os.File) (folders []string, err error) {
	if err := staged.Sync(); err != nil {
		return nil, fmt.Errorf("dicomweb: put blob %s: sync: %w", key, err)
	}
	return d.place(key, staged)
}

// place renames a synced staged file to key's place. A file already there
// holds the same bytes (keys name their content) and is replaced
// atomically. It returns the folders whose entries changed: the blob's,
// and those it created.
func (d *DirBlobs) place(key string, staged *os.File) (folders []string, err error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	final := d.path(key)
	folder := filepath.Dir(final)
	folders = []string{folder}
	if _, err := os.Stat(folder); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(folder, 0o750); err != nil {
			return nil, fmt.Errorf("dicomweb: put blob %s: %w", key, err)
		}
		// The new folders' own entries must last too.
		folders = append(folders, filepath.Dir(folder), d.dir)
	}
	if err := os.Rename(staged.Name(), final); err != nil {
		return nil, fmt.Errorf("dicomweb: put blob %s: %w", key, err)
	}
	return folders, nil
}

// syncDir makes the entries of a folder (a rename into it) durable.
func syncDir(folder string) error {
	f, err := os.Open(folder)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Open opens the blob's file.
func (d *DirBlobs) Open(ctx context.Context, key string) (Blob, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrBlobNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("dicomweb: open blob %s: %w", key, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dicomweb: open blob %s: %w", key, err)
	}
	return &fileBlob{File: f, size: info.Size()}, nil
}

// Delete removes the blob's file.
func (d *DirBlobs) Delete(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	err := os.Remove(d.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrBlobNotFound, key)
	}
	if err != nil {
		return fmt.Errorf("dicomweb: delete blob %s: %w", key, err)
	}
	return nil
}

type fileBlob struct {
	*os.File
	size int64
}

func (b *fileBlob) Size() int64 { return b.size }

func (b *fileBlob) Skip(n int64) error {
	_, err := b.Seek(n, io.SeekCurrent)
	return err
}

// ctxReader stops a long copy when the request is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// openInstance opens the bytes of a stored instance: its whole blob, or
// its range of a pack (see spool). The Blob returned reads that range
// only, and its Size is the instance's.
func (s *Server) openInstance(ctx context.Context, in *instanceRecord) (Blob, error) {
	blob, err := s.opts.Blobs.Open(ctx, in.Blob)
	if err != nil {
		return nil, err
	}
	return instanceIn(blob, in)
}

// instanceIn narrows an open blob to the instance's range, or closes it.
func instanceIn(blob Blob, in *instanceRecord) (Blob, error) {
	if err := in.fits(blob.Size()); err != nil {
		blob.Close()
		return nil, err
	}
	if err := blob.Skip(in.Offset); err != nil {
		blob.Close()
		return nil, fmt.Errorf("dicomweb: open instance %s in blob %s: %w", in.UID, in.Blob, err)
	}
	return &instanceBlob{Blob: blob, size: in.Size, left: in.Size}, nil
}

// fits checks that a blob of size bytes holds the instance as indexed: a
// blob of its own is exactly its size, a pack holds its range.
func (in *instanceRecord) fits(size int64) error {
	if size == in.Offset+in.Size || isPack(in.Blob) && size > in.Offset+in.Size {
		return nil
	}
	return fmt.Errorf("dicomweb: blob %s holds %d bytes, the index says instance %s takes %d from %d", in.Blob, size, in.UID, in.Size, in.Offset)
}

// instanceBlob is the range of a blob one instance occupies.
type instanceBlob struct {
	Blob
	size, left int64
}

func (b *instanceBlob) Size() int64 { return b.size }

func (b *instanceBlob) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.Blob.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *instanceBlob) Skip(n int64) error {
	if n > b.left {
		return io.ErrUnexpectedEOF
	}
	if err := b.Blob.Skip(n); err != nil {
		return err
	}
	b.left -= n
	return nil
}
