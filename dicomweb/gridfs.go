package dicomweb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// DefaultGridFSDatabase is the database OpenGridFSBlobs uses when the URI
// names none.
const DefaultGridFSDatabase = "telehub_dicom"

// GridFSBlobs stores blobs in a MongoDB GridFS bucket, the key being the
// file's _id (and its name), so that every TeleHub node of a deployment
// sees the same files.
type GridFSBlobs struct {
	bucket *mongo.GridFSBucket
	client *mongo.Client // set when OpenGridFSBlobs connected it, closed by Close

	// The driver's bucket creates its indexes on its first upload, behind
	// a flag it does not guard: uploads wait for a first one to succeed.
	firstMu sync.Mutex
	ready   atomic.Bool
}

// NewGridFSBlobs returns blobs in the GridFS bucket named bucket ("dicom"
// when empty) of db.
func NewGridFSBlobs(db *mongo.Database, bucket string) *GridFSBlobs {
	if bucket == "" {
		bucket = "dicom"
	}
	return &GridFSBlobs{bucket: db.GridFSBucket(options.GridFSBucket().SetName(bucket))}
}

// OpenGridFSBlobs connects to the MongoDB server at uri and returns blobs in
// the "dicom" bucket of the URI's database (DefaultGridFSDatabase when it
// names none). Close disconnects.
func OpenGridFSBlobs(ctx context.Context, uri string) (*GridFSBlobs, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, fmt.Errorf("dicomweb: gridfs: parse URI: %w", err)
	}
	name := cs.Database
	if name == "" {
		name = DefaultGridFSDatabase
	}
	client, err := mongo.Connect(options.Client().SetAppName("telehub-dicom").ApplyURI(uri))
	if err != nil {
		return nil, fmt.Errorf("dicomweb: gridfs: connect: %w", err)
	}
	if err := client.Ping(ctx, nil); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("dicomweb: gridfs: ping: %w", err)
	}
	b := NewGridFSBlobs(client.Database(name), "")
	b.client = client
	return b, nil
}

// Close disconnects the client OpenGridFSBlobs opened (nothing otherwise).
func (g *GridFSBlobs) Close() error {
	if g.client == nil {
		return nil
	}
	return g.client.Disconnect(context.Background())
}

// Put uploads r in chunks. An interrupted upload leaves no file: the driver
// removes the chunks already written. A key already stored is kept (keys
// name their content); r is still read through to report its digest.
func (g *GridFSBlobs) Put(ctx context.Context, key string, r io.Reader) (BlobInfo, error) {
	if err := validKey(key); err != nil {
		return BlobInfo{}, err
	}
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(ctxReader{ctx, r}, h)}
	exists, err := g.exists(ctx, key)
	if err != nil {
		return BlobInfo{}, err
	}
	if exists {
		if _, err := io.Copy(io.Discard, counted); err != nil {
			return BlobInfo{}, fmt.Errorf("dicomweb: put blob %s: %w", key, err)
		}
	} else if err := g.upload(ctx, key, counted); err != nil {
		if !mongo.IsDuplicateKeyError(err) {
			return BlobInfo{}, fmt.Errorf("dicomweb: put blob %s: %w", key, err)
		}
		// A concurrent writer stored the same content first.
		if _, err := io.Copy(io.Discard, counted); err != nil {
			return BlobInfo{}, fmt.Errorf("dicomweb: put blob %s: %w", key, err)
		}
	}
	return BlobInfo{Size: counted.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// upload streams r to a new file. It does not use the bucket's
// UploadFromStream, which reads every upload through one buffer of the
// bucket: concurrent uploads would mix their bytes.
func (g *GridFSBlobs) upload(ctx context.Context, key string, r io.Reader) error {
	us, err := g.openUpload(ctx, key)
	if err != nil {
		return err
	}
	buf := make([]byte, 255<<10) // one GridFS chunk
	if _, err := io.CopyBuffer(us, r, buf); err != nil {
		_ = us.Abort() // removes the chunks written
		return err
	}
	return us.Close()
}

func (g *GridFSBlobs) openUpload(ctx context.Context, key string) (*mongo.GridFSUploadStream, error) {
	if g.ready.Load() {
		return g.bucket.OpenUploadStreamWithID(ctx, key, key)
	}
	g.firstMu.Lock()
	defer g.firstMu.Unlock()
	us, err := g.bucket.OpenUploadStreamWithID(ctx, key, key)
	if err == nil {
		g.ready.Store(true)
	}
	return us, err
}

func (g *GridFSBlobs) exists(ctx context.Context, key string) (bool, error) {
	n, err := g.bucket.GetFilesCollection().CountDocuments(ctx, bson.D{{Key: "_id", Value: key}})
	if err != nil {
		return false, fmt.Errorf("dicomweb: gridfs: look up %s: %w", key, err)
	}
	return n > 0, nil
}

// Open opens a download stream on the file.
func (g *GridFSBlobs) Open(ctx context.Context, key string) (Blob, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	ds, err := g.bucket.OpenDownloadStream(ctx, key)
	if errors.Is(err, mongo.ErrFileNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrBlobNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("dicomweb: open blob %s: %w", key, err)
	}
	return &gridBlob{ds}, nil
}

// Delete removes the file and its chunks.
func (g *GridFSBlobs) Delete(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	err := g.bucket.Delete(ctx, key)
	if errors.Is(err, mongo.ErrFileNotFound) {
		return fmt.Errorf("%w: %s", ErrBlobNotFound, key)
	}
	if err != nil {
		return fmt.Errorf("dicomweb: delete blob %s: %w", key, err)
	}
	return nil
}

type gridBlob struct{ *mongo.GridFSDownloadStream }

func (b *gridBlob) Size() int64 { return b.GetFile().Length }

func (b *gridBlob) Skip(n int64) error {
	skipped, err := b.GridFSDownloadStream.Skip(n)
	if err == nil && skipped < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
