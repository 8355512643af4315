package dicomweb

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/telehub/telehub/store"
)

// pieceTable keeps the pieces of studyDoc tests, and counts their reads.
type pieceTable struct {
	bodies map[string][]byte
	reads  int
}

func (p *pieceTable) read(id string) ([]byte, error) {
	p.reads++
	b, ok := p.bodies[id]
	if !ok {
		return nil, fmt.Errorf("no piece %s", id)
	}
	return b, nil
}

// round merges instances (series "1", numbers given) into the stored
// body, keeps the pieces written and returns the new stored body and
// what the round added.
func (p *pieceTable) round(t *testing.T, stored []byte, numbers ...int) ([]byte, *studyDoc) {
	t.Helper()
	doc, err := readStudyDoc(stored, p.read)
	if err != nil {
		t.Fatal(err)
	}
	var added []*instanceRecord
	for _, n := range numbers {
		added = append(added, &instanceRecord{Study: "9", Series: "1", UID: fmt.Sprintf("9.1.%d", n), SOPClass: "1.2",
			Attrs: Dataset{tagInstanceNumber: {VR: "IS", Value: []any{fmt.Sprint(n)}}}})
	}
	if _, _, err := doc.merge(added, func(string) (Dataset, error) { return Dataset{}, nil }); err != nil {
		t.Fatal(err)
	}
	doc.setCounts()
	for _, piece := range doc.newPieces() {
		p.bodies[piece.id] = piece.data
	}
	return doc.spliced(), doc
}

// listed is the instance numbers the assembled body lists, and its
// numberOfInstances.
func (p *pieceTable) listed(t *testing.T, body []byte) string {
	t.Helper()
	whole, err := store.Assemble(context.Background(), body, func(_ context.Context, id string) ([]byte, error) { return p.read(id) })
	if err != nil {
		t.Fatal(err)
	}
	var is struct {
		NumberOfInstances int
		Series            []struct {
			NumberOfInstances int
			Instance          []struct{ Number int }
		}
	}
	if err := json.Unmarshal(whole, &is); err != nil {
		t.Fatalf("%v: %s", err, whole)
	}
	var numbers []string
	for _, in := range is.Series[0].Instance {
		numbers = append(numbers, fmt.Sprint(in.Number))
	}
	return fmt.Sprintf("%s (%d, %d)", strings.Join(numbers, ","), is.Series[0].NumberOfInstances, is.NumberOfInstances)
}

// TestStudyPieces: a round places the instances it adds in the piece
// before them while it has room, else in a piece of their own, and reads
// only the pieces their numbers fall among; the assembled body lists every
// instance in number order, with the counts.
func TestStudyPieces(t *testing.T) {
	p := &pieceTable{bodies: map[string][]byte{}}
	body, _ := p.round(t, nil, 3, 1, 2)
	if got := p.listed(t, body); got != "1,2,3 (3, 3)" {
		t.Fatalf("first round lists %s", got)
	}

	// In order: the instances join the piece before them, which is read.
	p.reads = 0
	body, doc := p.round(t, body, 4, 5)
	if len(doc.added) != 2 || doc.rewritten || p.reads != 1 || len(doc.series[0].pieces) != 1 {
		t.Errorf("in order: %d added, rewritten %v, %d pieces read, %d pieces", len(doc.added), doc.rewritten, p.reads, len(doc.series[0].pieces))
	}

	// A full piece is not read again: the next instances get their own.
	many := make([]int, 0, maxPiece)
	for n := 6; len(many) < maxPiece-5; n++ {
		many = append(many, n)
	}
	body, _ = p.round(t, body, many...)
	p.reads = 0
	body, doc = p.round(t, body, 1000)
	if p.reads != 0 || len(doc.series[0].pieces) != 2 {
		t.Errorf("after a full piece: %d pieces read, %d pieces", p.reads, len(doc.series[0].pieces))
	}

	// Among those of pieces (3 to 2000 spans both): they are read and
	// written again; an instance listed already with the same element is
	// not added.
	p.reads = 0
	body, doc = p.round(t, body, 2000, 999, 3)
	if p.reads != 2 || len(doc.added) != 2 || doc.rewritten {
		t.Errorf("among a piece's: %d pieces read, %d added, rewritten %v", p.reads, len(doc.added), doc.rewritten)
	}
	got := p.listed(t, body)
	want := fmt.Sprintf("%d instances, ending 999,1000,2000", maxPiece+3)
	if !strings.HasSuffix(got, fmt.Sprintf("999,1000,2000 (%d, %d)", maxPiece+3, maxPiece+3)) || !strings.HasPrefix(got, "1,2,3,4,5,6,") {
		t.Errorf("lists %s, want %s", got, want)
	}

	// Instances scattered over the series: only the pieces they fall in
	// are read, not those between.
	for n := 3000; n < 3000+3*maxPiece; n += maxPiece {
		batch := make([]int, maxPiece)
		for i := range batch {
			batch[i] = n + i
		}
		body, _ = p.round(t, body, batch...)
	}
	p.reads = 0
	body, doc = p.round(t, body, 2, 3000+maxPiece+7, 9000)
	if p.reads != 2 || len(doc.added) != 1 {
		t.Errorf("scattered: %d pieces read (want the two the instances fall in), %d added", p.reads, len(doc.added))
	}
	if got := p.listed(t, body); !strings.HasSuffix(got, fmt.Sprintf(",9000 (%d, %d)", 4*maxPiece+4, 4*maxPiece+4)) {
		t.Errorf("scattered: lists %s", got)
	}

	if _, err := readStudyDoc(body[:len(body)-1], p.read); err == nil {
		t.Error("a cut spliced body was read")
	}
}

// TestStudyPiecesFromInline: a body that lists its instances itself (a
// client's update) is split into pieces, and the doc marked rewritten.
func TestStudyPiecesFromInline(t *testing.T) {
	p := &pieceTable{bodies: map[string][]byte{}}
	inline := []byte(`{"resourceType":"ImagingStudy","id":"9","series":[{"instance":[{"number":2,"uid":"9.1.2"},{"number":1,"title":"Scout","uid":"9.1.1"}],"numberOfInstances":2,"uid":"1"}],"status":"available"}`)
	body, doc := p.round(t, inline, 3)
	if !doc.rewritten || len(doc.added) != 1 {
		t.Errorf("rewritten %v, %d added", doc.rewritten, len(doc.added))
	}
	if got := p.listed(t, body); got != "1,2,3 (3, 3)" {
		t.Errorf("lists %s", got)
	}
	whole, _ := store.Assemble(context.Background(), body, func(_ context.Context, id string) ([]byte, error) { return p.read(id) })
	if !strings.Contains(string(whole), `"title":"Scout"`) {
		t.Errorf("the client's title is lost: %s", whole)
	}
}

// TestStudyPiecesEmptySeries: a series a client listed without instances
// has no pieces, and the rounds after one that kept it go on.
func TestStudyPiecesEmptySeries(t *testing.T) {
	p := &pieceTable{bodies: map[string][]byte{}}
	inline := []byte(`{"resourceType":"ImagingStudy","id":"9","series":[{"instance":[{"number":1,"uid":"9.1.1"}],"uid":"1"},{"uid":"2"}],"status":"available"}`)
	body, _ := p.round(t, inline, 2)
	body, doc := p.round(t, body, 3)
	if len(doc.series) != 2 || len(doc.added) != 1 {
		t.Fatalf("%d series, %d added", len(doc.series), len(doc.added))
	}
	if got := p.listed(t, body); got != "1,2,3 (3, 3)" {
		t.Errorf("lists %s", got)
	}
}
