package dicomweb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
// grows to millions of entries.
type DirBlobs struct {
	dir string
}

// NewDirBlobs returns blobs stored under dir, creating it if needed.
func NewDirBlobs(dir string) (*DirBlobs, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("dicomweb: blobs folder: %w", err)
	}
	return &DirBlobs{dir: dir}, nil
}

func (d *DirBlobs) path(key string) string {
	h := sha256.Sum256([]byte(key))
	sub := hex.EncodeToString(h[:2])
	return filepath.Join(d.dir, sub[:2], sub[2:], key)
}

// Put writes to a temporary file in the target folder, syncs it, and renames
// it into place, then syncs the folder: a crash leaves the old blob or the
// new one, never half of one.
func (d *DirBlobs) Put(ctx context.Context, key string, r io.Reader) (BlobInfo, error) {
	if err := validKey(key); err != nil {
		return BlobInfo{}, err
	}
	final := d.path(key)
	folder := filepath.Dir(final)
	if err := os.MkdirAll(folder, 0o750); err != nil {
		return BlobInfo{}, fmt.Errorf("dicomweb: put blob %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(folder, ".put-*")
	if err != nil {
		return BlobInfo{}, fmt.Errorf("dicomweb: put blob %s: %w", key, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err != nil {
		return BlobInfo{}, fmt.Errorf("dicomweb: put blob %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return BlobInfo{}, fmt.Errorf("dicomweb: put blob %s: sync: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return BlobInfo{}, fmt.Errorf("dicomweb: put blob %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return BlobInfo{}, fmt.Errorf("dicomweb: put blob %s: %w", key, err)
	}
	done = true
	if f, err := os.Open(folder); err == nil {
		f.Sync()
		f.Close()
	}
	return BlobInfo{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
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
