package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A spliced body is how a resource whose bulk grows with the data it is
// made from (an ImagingStudy lists every instance of its study) is kept
// without writing its whole body at every version. Such a version's body
// is its outline, the resource's JSON with its bulk's lists left empty,
// followed by a zero byte and its slots: where in the outline a list goes,
// and the pieces, kept apart, that fill it. A piece is written once, as a
// resource of type PieceType of a store of pieces, and named by every
// later version that still holds it: a version that adds instances to a
// study writes its outline and a piece of the instances it adds, not the
// instances before them again.
//
// Canonical JSON never holds a zero byte (a string escapes it), so a body
// holding one is spliced. WithPieces returns a store whose reads (read,
// vread, search, history) give every body assembled, as stored JSON is
// given; only the writer of spliced bodies reads them as they are
// (PieceReader).

// PieceType is the resource type of the pieces of spliced bodies in their
// store. A piece's body is JSON values separated by commas: some items of
// one list.
const PieceType = "SplicedPiece"

// Slot is where a list of a spliced body goes in its outline.
type Slot struct {
	// At is the offset in the outline between the brackets of the empty
	// list that the pieces fill.
	At int
	// Pieces fill the list, in order.
	Pieces []Piece
}

// Piece names a piece of a slot. Note is the writer's own description of
// it (how many items, their first and last keys), kept with the name so
// that the next version can be written without reading the piece.
type Piece struct {
	ID   string
	Note []byte
}

var errBadSplice = errors.New("store: corrupt spliced body")

// Splice returns the spliced body of outline and slots, which must be in
// order of At.
func Splice(outline []byte, slots []Slot) []byte {
	n := len(outline) + 16
	for _, s := range slots {
		for _, p := range s.Pieces {
			n += len(p.ID) + len(p.Note) + 8
		}
	}
	b := append(make([]byte, 0, n), outline...)
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(len(slots)))
	for _, s := range slots {
		b = binary.AppendUvarint(b, uint64(s.At))
		b = binary.AppendUvarint(b, uint64(len(s.Pieces)))
		for _, p := range s.Pieces {
			b = appendBytes(b, []byte(p.ID))
			b = appendBytes(b, p.Note)
		}
	}
	return b
}

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// IsSpliced reports whether body is a spliced body.
func IsSpliced(body []byte) bool { return bytes.IndexByte(body, 0) >= 0 }

// Outline returns the outline of a spliced body, or body itself.
func Outline(body []byte) []byte {
	if i := bytes.IndexByte(body, 0); i >= 0 {
		return body[:i]
	}
	return body
}

// Unsplice reads a spliced body: its outline and slots. ok is false for a
// body that is not spliced.
func Unsplice(body []byte) (outline []byte, slots []Slot, ok bool, err error) {
	i := bytes.IndexByte(body, 0)
	if i < 0 {
		return body, nil, false, nil
	}
	outline, rest := body[:i], body[i+1:]
	next := func() (uint64, bool) {
		v, w := binary.Uvarint(rest)
		if w <= 0 {
			return 0, false
		}
		rest = rest[w:]
		return v, true
	}
	field := func() ([]byte, bool) {
		n, ok := next()
		if !ok || uint64(len(rest)) < n {
			return nil, false
		}
		v := rest[:n]
		rest = rest[n:]
		return v, true
	}
	count, ok := next()
	if !ok || count > uint64(len(rest)) {
		return nil, nil, true, errBadSplice
	}
	slots = make([]Slot, 0, count)
	last := 0
	for range count {
		at, ok1 := next()
		pieces, ok2 := next()
		if !ok1 || !ok2 || at > uint64(len(outline)) || int(at) < last || pieces > uint64(len(rest)) {
			return nil, nil, true, errBadSplice
		}
		s := Slot{At: int(at), Pieces: make([]Piece, 0, pieces)}
		for range pieces {
			id, ok1 := field()
			note, ok2 := field()
			if !ok1 || !ok2 {
				return nil, nil, true, errBadSplice
			}
			s.Pieces = append(s.Pieces, Piece{ID: string(id), Note: note})
		}
		slots, last = append(slots, s), s.At
	}
	if len(rest) > 0 {
		return nil, nil, true, errBadSplice
	}
	return outline, slots, true, nil
}

// Restamp carries the slots of a spliced body over to its outline
// rewritten by stamp (meta stamped), which must change only what comes
// before the first slot: the rest is shifted whole.
func Restamp(body []byte, stamp func(outline []byte) []byte) ([]byte, error) {
	outline, slots, ok, err := Unsplice(body)
	if err != nil || !ok {
		return stamp(body), err
	}
	stamped := stamp(outline)
	if len(slots) == 0 {
		return Splice(stamped, nil), nil
	}
	shift := len(stamped) - len(outline)
	from := slots[0].At - 1
	if from < 0 || from+shift < 0 || !bytes.Equal(stamped[from+shift:], outline[from:]) {
		return nil, fmt.Errorf("store: stamping a spliced body changed its slots")
	}
	for i := range slots {
		slots[i].At += shift
	}
	return Splice(stamped, slots), nil
}

// PieceReader is implemented by the store WithPieces returns: the writer of
// spliced bodies reads a version as stored, and its pieces.
type PieceReader interface {
	// ReadStored is Read without assembling a spliced body.
	ReadStored(ctx context.Context, typ, id string) (*Resource, error)
	// Piece returns the body of a piece.
	Piece(ctx context.Context, id string) ([]byte, error)
	// PieceStore is the store the pieces are read from.
	PieceStore() Store
}

// WithPieces returns st giving the bodies it stores spliced assembled,
// from the pieces kept in pieces.
func WithPieces(st, pieces Store) Store {
	return &withPieces{Store: st, pieces: pieces}
}

type withPieces struct {
	Store
	pieces Store
}

// Unwrap returns the store wrapped, for As.
func (w *withPieces) Unwrap() Store { return w.Store }

func (w *withPieces) Read(ctx context.Context, typ, id string) (*Resource, error) {
	res, err := w.Store.Read(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	return res, w.assemble(ctx, res)
}

func (w *withPieces) VRead(ctx context.Context, typ, id string, version int64) (*Resource, error) {
	res, err := w.Store.VRead(ctx, typ, id, version)
	if err != nil {
		return nil, err
	}
	return res, w.assemble(ctx, res)
}

func (w *withPieces) Search(ctx context.Context, q Query) (*SearchResult, error) {
	res, err := w.Store.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	if err := w.assembleAll(ctx, res.Resources); err != nil {
		return nil, err
	}
	return res, nil
}

func (w *withPieces) History(ctx context.Context, h HistoryQuery) (*HistoryResult, error) {
	res, err := w.Store.History(ctx, h)
	if err != nil {
		return nil, err
	}
	if err := w.assembleAll(ctx, res.Versions); err != nil {
		return nil, err
	}
	return res, nil
}

// assembleAll assembles each of resources in place.
func (w *withPieces) assembleAll(ctx context.Context, resources []Resource) error {
	for i := range resources {
		if err := w.assemble(ctx, &resources[i]); err != nil {
			return err
		}
	}
	return nil
}

func (w *withPieces) ReadStored(ctx context.Context, typ, id string) (*Resource, error) {
	return w.Store.Read(ctx, typ, id)
}

func (w *withPieces) PieceStore() Store { return w.pieces }

func (w *withPieces) Piece(ctx context.Context, id string) ([]byte, error) {
	return ReadPiece(ctx, w.pieces, id)
}

// assemble replaces a spliced body by the JSON it stands for.
func (w *withPieces) assemble(ctx context.Context, res *Resource) error {
	body, err := Assemble(ctx, res.Body, w.Piece)
	if err != nil {
		return fmt.Errorf("store: assemble %s/%s: %w", res.Type, res.ID, err)
	}
	res.Body = body
	return nil
}

// ReadPiece returns the body of a piece kept in pieces.
func ReadPiece(ctx context.Context, pieces Store, id string) ([]byte, error) {
	res, err := pieces.Read(ctx, PieceType, id)
	if errors.Is(err, ErrNotFound) {
		// Not the resource's absence: its body is corrupt.
		return nil, fmt.Errorf("store: piece %s of a spliced body is missing", id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: piece %s: %w", id, err)
	}
	return res.Body, nil
}

// WritePieces stores new pieces (their ids and bodies) in pieces, before
// the version that names them: in one commit when the store has
// transactions, else one by one.
func WritePieces(ctx context.Context, pieces Store, bodies map[string][]byte) error {
	now := time.Now()
	writes := make([]Write, 0, len(bodies))
	for id, body := range bodies {
		writes = append(writes, Write{Type: PieceType, ID: id, Version: 1, LastUpdated: now, Method: "POST", Body: body})
	}
	if len(writes) == 0 {
		return nil
	}
	if pieces.SupportsTransactions() {
		if err := pieces.Commit(ctx, writes); err != nil {
			return fmt.Errorf("store: write pieces: %w", err)
		}
		return nil
	}
	for _, w := range writes {
		if err := pieces.Commit(ctx, []Write{w}); err != nil {
			return fmt.Errorf("store: write piece %s: %w", w.ID, err)
		}
	}
	return nil
}

// Assemble returns the JSON a spliced body stands for, its pieces read
// with piece; any other body as it is.
func Assemble(ctx context.Context, body []byte, piece func(ctx context.Context, id string) ([]byte, error)) ([]byte, error) {
	outline, slots, ok, err := Unsplice(body)
	if err != nil || !ok {
		return body, err
	}
	parts := make([][]byte, 0, 8)
	size := len(outline)
	for _, s := range slots {
		for _, p := range s.Pieces {
			data, err := piece(ctx, p.ID)
			if err != nil {
				return nil, err
			}
			parts = append(parts, data)
			size += len(data) + 1
		}
	}
	out := make([]byte, 0, size)
	from := 0
	for _, s := range slots {
		out = append(out, outline[from:s.At]...)
		for i := range s.Pieces {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, parts[0]...)
			parts = parts[1:]
		}
		from = s.At
	}
	return append(out, outline[from:]...), nil
}
