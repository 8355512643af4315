package store_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
)

// TestSplice: a spliced body reads back as written, stamping it shifts
// its slots, and a corrupt one is refused.
func TestSplice(t *testing.T) {
	outline := []byte(`{"id":"s","series":[{"instance":[],"uid":"1"},{"instance":[],"uid":"2"}]}`)
	at1 := bytes.Index(outline, []byte(`[]`)) + 1
	at2 := bytes.LastIndex(outline, []byte(`[]`)) + 1
	slots := []store.Slot{
		{At: at1, Pieces: []store.Piece{{ID: "a", Note: []byte{1, 0}}, {ID: "b"}}},
		{At: at2, Pieces: []store.Piece{{ID: "c", Note: []byte("note")}}},
	}
	body := store.Splice(outline, slots)
	if !store.IsSpliced(body) || store.IsSpliced(outline) || !bytes.Equal(store.Outline(body), outline) {
		t.Fatalf("IsSpliced or Outline wrong on %q", body)
	}
	got, gotSlots, ok, err := store.Unsplice(body)
	if err != nil || !ok || !bytes.Equal(got, outline) || len(gotSlots) != 2 || gotSlots[0].At != at1 ||
		gotSlots[0].Pieces[1].ID != "b" || string(gotSlots[1].Pieces[0].Note) != "note" || !bytes.Equal(gotSlots[0].Pieces[0].Note, []byte{1, 0}) {
		t.Fatalf("Unsplice: %q %+v %v %v", got, gotSlots, ok, err)
	}
	for cut := len(outline) + 1; cut < len(body); cut++ {
		if _, _, _, err := store.Unsplice(body[:cut]); err == nil {
			t.Errorf("a body cut at %d of %d read without error", cut, len(body))
		}
	}

	stamped, err := store.Restamp(body, func(o []byte) []byte {
		return bytes.Replace(o, []byte(`"id":"s"`), []byte(`"id":"s","meta":{"versionId":"2"}`), 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	assembled, err := store.Assemble(context.Background(), stamped, func(_ context.Context, id string) ([]byte, error) {
		return []byte(`"` + id + `"`), nil
	})
	want := `{"id":"s","meta":{"versionId":"2"},"series":[{"instance":["a","b"],"uid":"1"},{"instance":["c"],"uid":"2"}]}`
	if err != nil || string(assembled) != want {
		t.Errorf("stamped and assembled: %s, %v; want %s", assembled, err, want)
	}
	if _, err := store.Restamp(body, func(o []byte) []byte { return bytes.Replace(o, []byte(`"uid":"1"`), nil, 1) }); err == nil {
		t.Error("a stamp that moved a slot was accepted")
	}
}

// TestWithPieces: every read of a store WithPieces gives a spliced body
// assembled from its pieces (read, vread, search, history), except
// ReadStored; a missing piece fails the read.
func TestWithPieces(t *testing.T) {
	ctx := context.Background()
	open := func(name string) store.Store {
		st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	data, pieces := open("data.db"), open("pieces.db")
	st := store.WithPieces(data, pieces)
	put := func(id, body string) {
		t.Helper()
		if err := store.WritePieces(ctx, pieces, map[string][]byte{id: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put("p1", `{"uid":"1"},{"uid":"2"}`)
	put("p2", `{"uid":"3"}`)
	outline := `{"resourceType":"ImagingStudy","id":"s","series":[{"instance":[]}],"status":"available"}`
	at := strings.Index(outline, "[]") + 1
	write := func(version int64, ids ...string) {
		t.Helper()
		var ps []store.Piece
		for _, id := range ids {
			ps = append(ps, store.Piece{ID: id})
		}
		body := store.Splice([]byte(outline), []store.Slot{{At: at, Pieces: ps}})
		err := st.Commit(ctx, []store.Write{{Type: "ImagingStudy", ID: "s", Version: version, LastUpdated: time.UnixMilli(version), Method: "PUT", Body: body,
			Index: []store.IndexEntry{{Param: "status", Kind: store.KindToken, Text: "available"}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	write(1, "p1")
	write(2, "p1", "p2")
	first := `{"resourceType":"ImagingStudy","id":"s","series":[{"instance":[{"uid":"1"},{"uid":"2"}]}],"status":"available"}`
	second := `{"resourceType":"ImagingStudy","id":"s","series":[{"instance":[{"uid":"1"},{"uid":"2"},{"uid":"3"}]}],"status":"available"}`

	if r, err := st.Read(ctx, "ImagingStudy", "s"); err != nil || string(r.Body) != second {
		t.Errorf("read: %s, %v", r.Body, err)
	}
	if r, err := st.VRead(ctx, "ImagingStudy", "s", 1); err != nil || string(r.Body) != first {
		t.Errorf("vread 1: %s, %v", r.Body, err)
	}
	res, err := st.Search(ctx, store.Query{Types: []string{"ImagingStudy"}, Count: 5,
		Clauses: []store.Clause{{Any: []store.Condition{{Param: "status", Op: store.OpExact, Text: "available"}}}}})
	if err != nil || len(res.Resources) != 1 || string(res.Resources[0].Body) != second {
		t.Errorf("search: %+v, %v", res, err)
	}
	h, err := st.History(ctx, store.HistoryQuery{Type: "ImagingStudy", ID: "s", Count: 5})
	if err != nil || len(h.Versions) != 2 || string(h.Versions[0].Body) != second || string(h.Versions[1].Body) != first {
		t.Errorf("history: %+v, %v", h, err)
	}
	reader, ok := store.As[store.PieceReader](st)
	if !ok {
		t.Fatal("no PieceReader")
	}
	if r, err := reader.ReadStored(ctx, "ImagingStudy", "s"); err != nil || !store.IsSpliced(r.Body) {
		t.Errorf("read as stored: %q, %v", r.Body, err)
	}
	write(3, "p1", "missing")
	if _, err := st.Read(ctx, "ImagingStudy", "s"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("read with a missing piece: %v, want an error other than not found", err)
	}
}
