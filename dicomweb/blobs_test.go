package dicomweb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

// testBlobs: the Blobs contract, on the backend's implementation.
func testBlobs(t *testing.T, b backend) {
	_, _, blobs := b.open(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 100_000) // 1.6 MB: several GridFS chunks
	sum := sha256.Sum256(data)
	info, err := blobs.Put(ctx, "1.2.3-abc", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(data)) || info.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("info %+v", info)
	}
	// Putting the same key again is harmless.
	if _, err := blobs.Put(ctx, "1.2.3-abc", bytes.NewReader(data)); err != nil {
		t.Errorf("second put: %v", err)
	}
	blob, err := blobs.Open(ctx, "1.2.3-abc")
	if err != nil {
		t.Fatal(err)
	}
	if blob.Size() != int64(len(data)) {
		t.Errorf("size %d", blob.Size())
	}
	if err := blob.Skip(1_000_003); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(blob, head); err != nil || !bytes.Equal(head, data[1_000_003:1_000_013]) {
		t.Errorf("read after skip: %q %v", head, err)
	}
	blob.Close()
	if err := blobs.Delete(ctx, "1.2.3-abc"); err != nil {
		t.Fatal(err)
	}
	if _, err := blobs.Open(ctx, "1.2.3-abc"); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("open after delete: %v", err)
	}
	if err := blobs.Delete(ctx, "1.2.3-abc"); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("delete twice: %v", err)
	}
	for _, bad := range []string{"", "../x", ".hidden", "a/b", strings.Repeat("x", 201)} {
		if _, err := blobs.Put(ctx, bad, strings.NewReader("x")); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
	// A failed upload leaves nothing behind.
	if _, err := blobs.Put(ctx, "1.2.4-def", io.MultiReader(bytes.NewReader(data[:500_000]), failingReader{})); err == nil {
		t.Fatal("a failing reader was stored")
	}
	if _, err := blobs.Open(ctx, "1.2.4-def"); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("half upload visible: %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
