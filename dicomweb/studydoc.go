package dicomweb

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/fhir/model"
	"github.com/telehub/telehub/store"
)

// An ImagingStudy lists every instance of its study: 874 KB of JSON at
// 5,700 instances. A round that read it, merged what a STOW added and wrote
// it whole again held and wrote megabytes that grew with the study at
// every STOW, and so did the process's memory. A round writes its
// ImagingStudy spliced (store.Splice) instead: the outline (the resource
// with an empty instance list in each series) names, for each series, the
// pieces that hold its instances, each piece written once to the DICOM
// index's store. A round reads the outline as stored (fhir.ReadStored),
// writes a piece of the instances it adds, and the new outline naming it:
// what it reads and writes grows with what it adds, not with the study.
//
// The instances of a series are in order of number, then UID. A piece's
// note says how many instances it holds and its first and last, so that a
// round places its instances among the others without reading them: in
// the piece before them when it has room (maxPiece), else in a piece of
// their own; a round whose instances fall among those of pieces already
// written (concurrent STOWs of one series) reads those pieces only, and
// writes their merge. A round thus reads and writes maxPiece instances at
// most, besides its own.
//
// The FHIR layer parses and validates the outline as any update
// (fhir.UpdateGenerated); a round that only adds instances (the usual one)
// hands those it adds apart (fhir.Growth), and the FHIR layer indexes them
// and the outline's changes only, the store keeping the previous version's
// entries (store.Write.PartialIndex).
//
// Members are written in the order encoding/json gives a map (sorted),
// resourceType, id and meta first as the canonical form has them, so that
// the JSON of an unchanged member is the same bytes from round to round.

// studyDoc is an ImagingStudy as a round changes it.
type studyDoc struct {
	// members are the resource's members but series, as JSON (meta without
	// versionId and lastUpdated; see setStudyElements).
	members map[string]json.RawMessage
	series  []*seriesDoc
	// pieces reads the body of a piece written before.
	pieces func(id string) ([]byte, error)
	// unchecked is set when an instance element was built from a record
	// that does not make a valid one: the resource must then be validated
	// whole (see validInstance).
	unchecked bool
	// added are the instances merge added to those the resource listed;
	// rewritten is set when it changed one of those, or the instances were
	// listed otherwise than in pieces, or rebuild replaced them. Unless
	// rewritten, the new version's instances are the previous version's and
	// added, and its index grows by theirs (fhir.Growth).
	added     []instanceDoc
	rewritten bool
}

// seriesDoc is an ImagingStudy.series element.
type seriesDoc struct {
	uid    string
	number int
	// members are the element's members but instance and
	// numberOfInstances, as JSON.
	members map[string]json.RawMessage
	// pieces hold its instances, in order.
	pieces []*pieceDoc
}

// pieceDoc is a piece of a series' instances: its name and note, and the
// instances' JSON when this round writes it.
type pieceDoc struct {
	id          string
	count       int
	first, last instanceKey
	data        []byte // nil for a piece written before
}

// instances returns the piece's instances: from its data when it is of
// this round (not stored yet), else as read.
func (p *pieceDoc) instances(read func(id string) ([]byte, error)) ([]instanceDoc, error) {
	data := p.data
	if data == nil {
		var err error
		if data, err = read(p.id); err != nil {
			return nil, err
		}
	}
	instances, err := pieceInstances(data)
	if err != nil {
		return nil, fmt.Errorf("piece %s: %w", p.id, err)
	}
	return instances, nil
}

// instanceKey orders the instances of a series.
type instanceKey struct {
	number int
	uid    string
}

func (a instanceKey) compare(b instanceKey) int {
	return cmp.Or(cmp.Compare(a.number, b.number), strings.Compare(a.uid, b.uid))
}

// instanceDoc is an ImagingStudy.series.instance element: its JSON, and
// what orders and identifies it.
type instanceDoc struct {
	key  instanceKey
	json []byte
}

// maxPiece is the most instances a round puts in one piece: a merge of
// pieces of interleaved STOWs reads and writes no more than a few.
const maxPiece = 256

// readStudyDoc reads a stored ImagingStudy (or nothing, for one to
// create), its pieces read with pieces. Its members are sub-slices of body.
// A body that lists its instances itself (written before pieces, or by a
// client) is split into pieces, and the doc marked rewritten.
func readStudyDoc(body []byte, pieces func(id string) ([]byte, error)) (*studyDoc, error) {
	doc := &studyDoc{members: map[string]json.RawMessage{}, pieces: pieces}
	outline, slots, _, err := store.Unsplice(body)
	if err != nil {
		return nil, err
	}
	var series []byte
	for name, value := range model.Members(outline) {
		if string(name) == "series" {
			series = value
		} else {
			doc.members[string(name)] = value
		}
	}
	for item := range model.Items(series) {
		se, inline, err := readSeriesDoc(item)
		if err != nil {
			return nil, err
		}
		// The slot within the item's instance list is the series' (none
		// for a series that lists no instance).
		at := cap(outline) - cap(item)
		if i := slices.IndexFunc(slots, func(s store.Slot) bool { return s.At > at && s.At < at+len(item) }); i >= 0 {
			if se.pieces, err = readPieces(slots[i].Pieces); err != nil {
				return nil, fmt.Errorf("imaging study series %s: %w", se.uid, err)
			}
		}
		if len(inline) > 0 {
			se.pieces, doc.rewritten = newPieces(inline), true
		}
		doc.series = append(doc.series, se)
	}
	return doc, nil
}

// readSeriesDoc reads a series element, and the instances it lists itself.
func readSeriesDoc(item []byte) (*seriesDoc, []instanceDoc, error) {
	se := &seriesDoc{members: map[string]json.RawMessage{}}
	var instances []byte
	for name, value := range model.Members(item) {
		switch string(name) {
		case "instance":
			instances = value
		case "numberOfInstances": // written from the instances
		default:
			se.members[string(name)] = value
		}
	}
	uid, number, err := uidAndNumber(item)
	if err != nil {
		return nil, nil, fmt.Errorf("imaging study series: %w", err)
	}
	se.uid, se.number = string(uid), number
	inline, err := readInstances(instances)
	if err != nil {
		return nil, nil, fmt.Errorf("imaging study series %s: %w", se.uid, err)
	}
	sortInstanceDocs(inline)
	return se, inline, nil
}

// readInstances reads a JSON list of instance elements.
func readInstances(list []byte) ([]instanceDoc, error) {
	var out []instanceDoc
	for item := range model.Items(list) {
		uid, number, err := uidAndNumber(item)
		if err != nil {
			return nil, err
		}
		out = append(out, instanceDoc{key: instanceKey{number, string(uid)}, json: item})
	}
	return out, nil
}

// pieceInstances reads the instances of a piece's body.
func pieceInstances(data []byte) ([]instanceDoc, error) {
	return readInstances(append(append([]byte{'['}, data...), ']'))
}

// sortInstanceDocs orders instance elements by number, then UID.
func sortInstanceDocs(instances []instanceDoc) {
	slices.SortStableFunc(instances, func(a, b instanceDoc) int { return a.key.compare(b.key) })
}

// A piece's note: how many instances, then the first's and the last's
// number and UID.
func (p *pieceDoc) note() []byte {
	b := binary.AppendUvarint(nil, uint64(p.count))
	for _, k := range []instanceKey{p.first, p.last} {
		b = binary.AppendVarint(b, int64(k.number))
		b = binary.AppendUvarint(b, uint64(len(k.uid)))
		b = append(b, k.uid...)
	}
	return b
}

var errBadNote = errors.New("corrupt piece note")

func readPieces(pieces []store.Piece) ([]*pieceDoc, error) {
	out := make([]*pieceDoc, 0, len(pieces))
	for _, p := range pieces {
		note := p.Note
		count, n := binary.Uvarint(note)
		if n <= 0 {
			return nil, errBadNote
		}
		note = note[n:]
		var keys [2]instanceKey
		for i := range keys {
			number, n := binary.Varint(note)
			if n <= 0 {
				return nil, errBadNote
			}
			note = note[n:]
			size, n := binary.Uvarint(note)
			if n <= 0 || uint64(len(note)-n) < size {
				return nil, errBadNote
			}
			keys[i] = instanceKey{int(number), string(note[n : n+int(size)])}
			note = note[n+int(size):]
		}
		out = append(out, &pieceDoc{id: p.ID, count: int(count), first: keys[0], last: keys[1]})
	}
	return out, nil
}

// newPieces puts sorted instances in new pieces of maxPiece at most.
func newPieces(instances []instanceDoc) []*pieceDoc {
	var out []*pieceDoc
	for chunk := range slices.Chunk(instances, maxPiece) {
		data := make([]byte, 0, len(chunk)*128)
		for i, in := range chunk {
			if i > 0 {
				data = append(data, ',')
			}
			data = append(data, in.json...)
		}
		out = append(out, &pieceDoc{id: rand.Text(), count: len(chunk), first: chunk[0].key, last: chunk[len(chunk)-1].key, data: data})
	}
	return out
}

// uidAndNumber reads the uid and number members of a series or instance
// element (0 without a number). The uid is a sub-slice of element unless
// it has escapes (a UID has none): a round reads every instance the
// resource lists.
func uidAndNumber(element []byte) (uid []byte, number int, err error) {
	for name, value := range model.Members(element) {
		switch string(name) {
		case "uid":
			if len(value) >= 2 && value[0] == '"' && bytes.IndexByte(value, '\\') < 0 {
				uid = value[1 : len(value)-1]
				continue
			}
			var s string
			err = json.Unmarshal(value, &s)
			uid = []byte(s)
		case "number":
			number, err = strconv.Atoi(string(value))
		}
		if err != nil {
			return nil, 0, err
		}
	}
	return uid, number, nil
}

// newSeriesDoc is the element of a series the resource does not list yet,
// from its record's attributes.
func newSeriesDoc(uid string, attrs Dataset) (*seriesDoc, error) {
	modality := attrs.First(tagModality)
	if modality == "" {
		modality = "OT"
	}
	item := map[string]any{"uid": uid, "modality": map[string]string{"system": systemDCM, "code": modality}}
	number := -1
	if n := atoi(attrs.First(tagSeriesNumber)); n >= 0 && attrs.First(tagSeriesNumber) != "" {
		item["number"], number = n, n
	}
	if d := attrs.First(tagSeriesDescription); d != "" {
		item["description"] = d
	}
	if b := attrs.First(tagBodyPartExamined); b != "" {
		item["bodySite"] = map[string]string{"display": b}
	}
	se := &seriesDoc{uid: uid, number: max(number, 0), members: make(map[string]json.RawMessage, len(item))}
	for k, v := range item {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		se.members[k] = raw
	}
	return se, nil
}

// newInstanceDoc is the element of an instance record.
func newInstanceDoc(in *instanceRecord) instanceDoc {
	// The members of encoding/json's map order: number, sopClass, uid.
	b := make([]byte, 0, 96+len(in.UID))
	b = append(b, '{')
	number := 0
	if n := in.Attrs.First(tagInstanceNumber); n != "" && atoi(n) >= 0 {
		number = atoi(n)
		b = append(b, `"number":`...)
		b = strconv.AppendInt(b, int64(number), 10)
		b = append(b, ',')
	}
	code, _ := json.Marshal("urn:oid:" + in.SOPClass) // a string always marshals
	uid, _ := json.Marshal(in.UID)
	b = append(b, `"sopClass":{"code":`...)
	b = append(b, code...)
	b = append(b, `,"system":"urn:ietf:rfc:3986"},"uid":`...)
	b = append(b, uid...)
	b = append(b, '}')
	return instanceDoc{key: instanceKey{number, in.UID}, json: b}
}

// Outside the outline the FHIR layer validates are the instance elements
// only: those a round builds are checked here (an instance UID is an R4
// id, its SOP class a code), and those it keeps were validated when first
// written.
var (
	fhirID   = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	fhirCode = regexp.MustCompile(`^[^\s]+( [^\s]+)*$`) // an R4 code, without "urn:oid:"
)

// validInstance reports whether an instance record makes a valid
// ImagingStudy.series.instance element.
func validInstance(in *instanceRecord) bool {
	return fhirID.MatchString(in.UID) && fhirCode.MatchString(in.SOPClass) &&
		atoi(in.Attrs.First(tagInstanceNumber)) <= math.MaxInt32 // an unsignedInt
}

// merge adds instances to the series the resource lists (replacing those
// of the same UID), describing a series it does not list yet with
// seriesAttrs, and returns how many instances it then lists and whether
// anything changed.
func (d *studyDoc) merge(added []*instanceRecord, seriesAttrs func(uid string) (Dataset, error)) (total int, changed bool, err error) {
	bySeries := map[string][]instanceDoc{}
	var order []string
	for _, in := range added {
		if _, ok := bySeries[in.Series]; !ok {
			order = append(order, in.Series)
		}
		d.unchecked = d.unchecked || !validInstance(in)
		bySeries[in.Series] = append(bySeries[in.Series], newInstanceDoc(in))
	}
	for _, uid := range order {
		i := slices.IndexFunc(d.series, func(se *seriesDoc) bool { return se.uid == uid })
		if i < 0 {
			attrs, err := seriesAttrs(uid)
			if err != nil {
				return 0, false, err
			}
			se, err := newSeriesDoc(uid, attrs)
			if err != nil {
				return 0, false, err
			}
			d.series, i, changed = append(d.series, se), len(d.series), true
		}
		more, replaced, err := d.series[i].insert(bySeries[uid], d.pieces)
		if err != nil {
			return 0, false, err
		}
		d.added = append(d.added, more...)
		d.rewritten = d.rewritten || replaced
		changed = changed || replaced || len(more) > 0
	}
	d.sortSeries()
	return d.instanceCount(), changed, nil
}

// insert adds instances to the series, each run of them that falls in
// one piece, or between two, apart (see insertRun). It returns those the
// series did not list, and whether it replaced one it listed otherwise.
func (se *seriesDoc) insert(instances []instanceDoc, pieces func(id string) ([]byte, error)) (added []instanceDoc, replaced bool, err error) {
	sortInstanceDocs(instances)
	instances = slices.CompactFunc(instances, func(a, b instanceDoc) bool { return a.key == b.key }) // the first of a UID sent twice
	for _, run := range se.runs(instances) {
		more, rep, err := se.insertRun(run, pieces)
		if err != nil {
			return nil, false, err
		}
		added, replaced = append(added, more...), replaced || rep
	}
	return added, replaced, nil
}

// runs splits sorted instances where they fall in another piece, or
// between other pieces: a STOW of a few instances scattered over a long
// series reads the pieces they fall in, not all those between them.
func (se *seriesDoc) runs(instances []instanceDoc) [][]instanceDoc {
	region := func(k instanceKey) int {
		i := slices.IndexFunc(se.pieces, func(p *pieceDoc) bool { return p.last.compare(k) >= 0 })
		if i < 0 {
			return 2 * len(se.pieces)
		}
		if se.pieces[i].first.compare(k) <= 0 {
			return 2*i + 1 // in piece i
		}
		return 2 * i // before piece i
	}
	var runs [][]instanceDoc
	start := 0
	for i := 1; i <= len(instances); i++ {
		if i == len(instances) || region(instances[i].key) != region(instances[start].key) {
			runs = append(runs, instances[start:i])
			start = i
		}
	}
	return runs
}

// insertRun adds sorted instances to the series: in a piece of their own
// placed among the others (or in the piece before them, while it has
// room), or merged with the pieces their keys fall among.
func (se *seriesDoc) insertRun(instances []instanceDoc, pieces func(id string) ([]byte, error)) (added []instanceDoc, replaced bool, err error) {
	first, last := instances[0].key, instances[len(instances)-1].key
	from := slices.IndexFunc(se.pieces, func(p *pieceDoc) bool { return p.last.compare(first) >= 0 })
	if from < 0 {
		from = len(se.pieces)
	}
	to := from
	for to < len(se.pieces) && se.pieces[to].first.compare(last) <= 0 {
		to++
	}
	if from == to && from > 0 && se.pieces[from-1].count+len(instances) <= maxPiece {
		// Instances that come after a piece not yet full join it: a study
		// sent in order is some instances/maxPiece pieces, not a piece a
		// STOW, which its outline names and its readers read one by one.
		from--
	}
	if from == to {
		se.pieces = slices.Insert(se.pieces, from, newPieces(instances)...)
		return instances, false, nil
	}
	var listed []instanceDoc
	for _, p := range se.pieces[from:to] {
		more, err := p.instances(pieces)
		if err != nil {
			return nil, false, err
		}
		listed = append(listed, more...)
	}
	for _, in := range instances {
		i := slices.IndexFunc(listed, func(l instanceDoc) bool { return l.key.uid == in.key.uid })
		switch {
		case i < 0:
			listed = append(listed, in)
			added = append(added, in)
		case !bytes.Equal(listed[i].json, in.json):
			listed[i], replaced = in, true
		}
	}
	if len(added) == 0 && !replaced {
		return nil, false, nil
	}
	sortInstanceDocs(listed)
	se.pieces = slices.Replace(se.pieces, from, to, newPieces(listed)...)
	return added, replaced, nil
}

func (d *studyDoc) sortSeries() {
	slices.SortStableFunc(d.series, func(a, b *seriesDoc) int {
		return cmpOrdered(a.number, b.number, a.uid, b.uid)
	})
}

func cmpOrdered(a, b int, uidA, uidB string) int {
	return cmp.Or(cmp.Compare(a, b), strings.Compare(uidA, uidB))
}

// rebuild replaces the series by those of the index.
func (d *studyDoc) rebuild(series []*seriesRecord, instances []*instanceRecord) error {
	byseries := map[string][]*instanceRecord{}
	for _, in := range instances {
		byseries[in.Series] = append(byseries[in.Series], in)
	}
	d.series, d.rewritten = d.series[:0], true
	for _, rec := range series {
		ins := byseries[rec.UID]
		if len(ins) == 0 {
			continue
		}
		se, err := newSeriesDoc(rec.UID, rec.Attrs)
		if err != nil {
			return err
		}
		docs := make([]instanceDoc, len(ins))
		for i, in := range ins {
			d.unchecked = d.unchecked || !validInstance(in)
			docs[i] = newInstanceDoc(in)
		}
		sortInstanceDocs(docs)
		se.pieces = newPieces(docs)
		d.series = append(d.series, se)
	}
	d.sortSeries()
	return nil
}

// count is how many instances the series lists.
func (se *seriesDoc) count() int {
	n := 0
	for _, p := range se.pieces {
		n += p.count
	}
	return n
}

// instanceCount is how many instances the resource lists.
func (d *studyDoc) instanceCount() int {
	n := 0
	for _, se := range d.series {
		n += se.count()
	}
	return n
}

// setCounts sets numberOfSeries and numberOfInstances.
func (d *studyDoc) setCounts() {
	d.members["numberOfSeries"] = strconv.AppendInt(nil, int64(len(d.series)), 10)
	d.members["numberOfInstances"] = strconv.AppendInt(nil, int64(d.instanceCount()), 10)
}

// newPieces returns the pieces this round writes, to be stored before the
// resource that names them.
func (d *studyDoc) newPieces() []*pieceDoc {
	var out []*pieceDoc
	for _, se := range d.series {
		for _, p := range se.pieces {
			if p.data != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// generated is the resource for fhir.UpdateGenerated. previous is the
// version the doc was read from (0 for none), with its outline: unless the
// round rewrote instances, the new version grew from it by those added.
func (d *studyDoc) generated(previous int64, previousOutline []byte) fhir.Generated {
	g := fhir.Generated{
		Outline: d.outline(),
		Body:    d.spliced(),
		Bulk:    d.instanceParts(),
	}
	if previous > 0 && !d.rewritten {
		g.Growth = &fhir.Growth{Version: previous, Outline: previousOutline, Added: instanceParts(slices.Values([][]instanceDoc{d.added}))}
	}
	return g
}

// spliced is the resource's spliced body: its JSON with an empty instance
// list in each series, where the series' pieces go.
func (d *studyDoc) spliced() []byte {
	var slots []store.Slot
	outline := d.appendJSONWith(nil, func(b []byte, se *seriesDoc) []byte {
		b = append(b, '[')
		pieces := make([]store.Piece, len(se.pieces))
		for i, p := range se.pieces {
			pieces[i] = store.Piece{ID: p.id, Note: p.note()}
		}
		slots = append(slots, store.Slot{At: len(b), Pieces: pieces})
		return append(b, ']')
	})
	return store.Splice(outline, slots)
}

// outline is the resource's JSON without its instances.
func (d *studyDoc) outline() []byte { return d.appendJSONWith(nil, nil) }

// appendJSONWith appends the resource's JSON, each series' instance list
// written by instances (left out when nil).
func (d *studyDoc) appendJSONWith(b []byte, instances func([]byte, *seriesDoc) []byte) []byte {
	b = append(b, '{')
	first := true
	for _, k := range []string{"resourceType", "id", "meta"} {
		if v, ok := d.members[k]; ok {
			b, first = appendMember(b, first, k, v), false
		}
	}
	for _, k := range sortedKeys(d.members, "series") {
		switch k {
		case "resourceType", "id", "meta":
		case "series":
			if len(d.series) == 0 {
				continue
			}
			b, first = appendKey(b, first, k), false
			b = append(b, '[')
			for i, se := range d.series {
				if i > 0 {
					b = append(b, ',')
				}
				b = se.appendJSON(b, instances)
			}
			b = append(b, ']')
		default:
			b, first = appendMember(b, first, k, d.members[k]), false
		}
	}
	return append(b, '}')
}

func (se *seriesDoc) appendJSON(b []byte, instances func([]byte, *seriesDoc) []byte) []byte {
	b = append(b, '{')
	first := true
	for _, k := range sortedKeys(se.members, "instance", "numberOfInstances") {
		switch k {
		case "instance":
			if instances != nil && len(se.pieces) > 0 {
				b, first = appendKey(b, first, k), false
				b = instances(b, se)
			}
		case "numberOfInstances":
			b, first = appendKey(b, first, k), false
			b = strconv.AppendInt(b, int64(se.count()), 10)
		default:
			b, first = appendMember(b, first, k, se.members[k]), false
		}
	}
	return append(b, '}')
}

// instancePartSize is how many instances a part of the bulk holds: the
// index extraction of a part decodes it into maps and holds its
// intermediate results, some 10 KB an instance, so parts are small; their
// repeated entries (their SOP classes) cost a sort at the end.
const instancePartSize = 32

// instanceParts yields the instances, read piece by piece, as
// ImagingStudies of one series holding up to instancePartSize of them
// each, in one reused buffer. A piece that cannot be read ends the parts
// with a part that is not JSON, which the index refuses.
func (d *studyDoc) instanceParts() iter.Seq[[]byte] {
	return instanceParts(func(yield func([]instanceDoc) bool) {
		for _, se := range d.series {
			for _, p := range se.pieces {
				instances, err := p.instances(d.pieces)
				if err != nil {
					yield([]instanceDoc{{json: []byte("unreadable piece " + p.id)}})
					return
				}
				if !yield(instances) {
					return
				}
			}
		}
	})
}

// instanceParts yields lists of instances as ImagingStudies of one series
// holding up to instancePartSize of them each, in one reused buffer.
func instanceParts(lists iter.Seq[[]instanceDoc]) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		var b []byte
		for instances := range lists {
			for part := range slices.Chunk(instances, instancePartSize) {
				b = append(b[:0], `{"resourceType":"ImagingStudy","series":[{"instance":`...)
				b = appendInstances(b, part)
				b = append(b, "}]}"...)
				if !yield(b) {
					return
				}
			}
		}
	}
}

func appendInstances(b []byte, instances []instanceDoc) []byte {
	b = append(b, '[')
	for i, in := range instances {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, in.json...)
	}
	return append(b, ']')
}

func appendKey(b []byte, first bool, k string) []byte {
	if !first {
		b = append(b, ',')
	}
	b = strconv.AppendQuote(b, k)
	return append(b, ':')
}

func appendMember(b []byte, first bool, k string, v []byte) []byte {
	return append(appendKey(b, first, k), v...)
}

// sortedKeys are the keys of m and extra, sorted, once each.
func sortedKeys(m map[string]json.RawMessage, extra ...string) []string {
	keys := make([]string, 0, len(m)+len(extra))
	for k := range m {
		keys = append(keys, k)
	}
	keys = append(keys, extra...)
	slices.Sort(keys)
	return slices.Compact(keys)
}
