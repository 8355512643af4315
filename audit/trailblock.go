package audit

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/telehub/telehub/store"
)

// block is a run of consecutive trail events: the open block (in memory,
// its events in the log) or a sealed one (a file). Its events are numbered
// from 0 (local ordinals); ords slices are sorted and free of duplicates.
type block interface {
	// first is the trail ordinal of the block's event 0.
	first() uint64
	count() int
	// lookup returns the events with a text entry param = text.
	lookup(param, text string) []uint32
	// scanTexts calls f for every text entry value of param starting
	// with prefix, with the events that hold it.
	scanTexts(param, prefix string, f func(text string, ords []uint32))
	// scanRanges calls f for every range entry of param, in event order.
	scanRanges(param string, f func(ord uint32, low, high float64, unit string))
	// event returns event i as stored (a record rendered).
	event(i int) (store.Resource, error)
	// content returns event i's frame content (a record, or JSON), which
	// may point into a mapping.
	content(i int) ([]byte, error)
	// lastUpdated returns event i's meta.lastUpdated, Unix milliseconds.
	lastUpdated(i int) int64
}

// rangeEntry is one range entry (date, number, quantity) of a block.
type rangeEntry struct {
	ord       uint32
	low, high float64
	unit      string
}

// openBlock is the block being filled: its events' frames in the log
// file, where it reads their bodies back, and their postings in memory.
//
// The postings are made on demand (catchUp), not as events are appended:
// appending is on every request's path, while the postings are needed
// only by a search of the trail and by the seal. Made in one pass, from
// the log's frames, they cost less than one event at a time between
// requests (their maps stay in the cache), and the garbage collector
// does not scan maps that no search needs.
type openBlock struct {
	start   uint64
	log     *blockLog
	frames  []int64 // offset of each event's frame in log, and the end as last element
	updated []int64
	ids     []string

	// indexMu serialises catchUp; the postings change only there, and
	// readers see them after it.
	indexMu sync.Mutex
	indexed int                            // events with their postings
	texts   map[string]map[string][]uint32 // param → text → events
	ranges  map[string][]rangeEntry
	// singles holds the postings of one event (most values: ids, targets)
	// a chunk at a time, each capped at its length: the first append to
	// one moves it out, so the chunk is never written twice.
	singles []uint32
	// sizes are a full block's texts per parameter and ranges per
	// parameter, the size its maps and slices start at, so that they do
	// not grow (and rehash) as the postings are made. Nil: none known.
	sizes map[string]int
}

// singlesChunk is how many one-event postings are allocated together.
const singlesChunk = 4096

func newOpenBlock(start uint64, log *blockLog, sizes map[string]int) *openBlock {
	return &openBlock{start: start, log: log, frames: []int64{0}, sizes: sizes,
		texts: map[string]map[string][]uint32{}, ranges: map[string][]rangeEntry{}}
}

// postingSizes returns the sizes the maps of a block like b start at.
func (b *openBlock) postingSizes() map[string]int {
	sizes := make(map[string]int, len(b.texts)+len(b.ranges))
	for param, values := range b.texts {
		sizes[param] = len(values)
	}
	for param, entries := range b.ranges {
		sizes[param] = len(entries)
	}
	return sizes
}

// reserve makes room for n events in the block's columns, so that they
// do not grow (and copy) as the block fills.
func (b *openBlock) reserve(n int) {
	b.ids = slices.Grow(b.ids, n)
	b.updated = slices.Grow(b.updated, n)
	b.frames = slices.Grow(b.frames, n)
}

func (b *openBlock) first() uint64 { return b.start }
func (b *openBlock) count() int    { return len(b.updated) }

// logged adds an event whose frame ends at end in the log, without its
// postings (see catchUp).
func (b *openBlock) logged(id string, updated int64, end int64) {
	b.ids = append(b.ids, id)
	b.updated = append(b.updated, updated)
	b.frames = append(b.frames, end)
}

// add adds an event with its index entries; the events before must have
// their postings.
func (b *openBlock) add(id string, updated int64, index []store.IndexEntry, end int64) {
	b.logged(id, updated, end)
	b.post(uint32(b.indexed), index)
	b.indexed++
}

// catchUp makes the postings of the events appended since the last call,
// from their frames in the log (as a restart does). No event may be
// appended meanwhile: the caller holds the trail's lock (shared), or the
// block is full.
func (b *openBlock) catchUp() error {
	b.indexMu.Lock()
	defer b.indexMu.Unlock()
	n := b.count()
	if b.indexed == n {
		return nil
	}
	from := b.frames[b.indexed]
	data, err := b.log.read(from, b.frames[n])
	if err != nil {
		return err
	}
	// data is this call's copy of the frames: the records' entries share
	// its memory, and post copies the strings it keeps.
	var records recordIndexer
	for i := b.indexed; i < n; i++ {
		frame := data[b.frames[i]-from : b.frames[i+1]-from]
		index, err := frameIndex(&records, frame)
		if err != nil {
			return fmt.Errorf("audit: trail log at %d: %w", b.frames[i], err)
		}
		b.post(uint32(i), index)
	}
	b.indexed = n
	return nil
}

// frameIndex returns the index entries of a logged event: those its frame
// holds, or for a record those records gives (valid until its next call).
// A record that no longer decodes (changed in place) has none: it stays
// unindexed, for Verify to report.
func frameIndex(records *recordIndexer, frame []byte) ([]store.IndexEntry, error) {
	p, err := decodePayload(frame[frameHeader:])
	if err != nil {
		return nil, err
	}
	if !isRecord(p.content) {
		return p.index, nil
	}
	index, err := records.index(p.content)
	if err != nil {
		return nil, nil
	}
	return index, nil
}

// post adds the postings of event ord. The strings of index may share
// memory that changes after the call (recordIndexer): those it keeps, as
// keys or units, are copied.
func (b *openBlock) post(ord uint32, index []store.IndexEntry) {
	for _, e := range index {
		if isRangeKind(e.Kind) {
			entries, ok := b.ranges[e.Param]
			if !ok {
				entries = make([]rangeEntry, 0, b.sizes[e.Param])
				e.Param = strings.Clone(e.Param)
			}
			b.ranges[e.Param] = append(entries, rangeEntry{ord: ord, low: e.Low, high: e.High, unit: strings.Clone(e.Text)})
			continue
		}
		values := b.texts[e.Param]
		if values == nil {
			values = make(map[string][]uint32, b.sizes[e.Param])
			b.texts[strings.Clone(e.Param)] = values
		}
		switch ords := values[e.Text]; {
		case len(ords) == 0:
			values[strings.Clone(e.Text)] = b.single(ord)
		case ords[len(ords)-1] != ord: // an event may repeat a value
			values[e.Text] = append(ords, ord)
		}
	}
}

// single returns a posting of ord alone, from the current chunk.
func (b *openBlock) single(ord uint32) []uint32 {
	if len(b.singles) == cap(b.singles) {
		b.singles = make([]uint32, 0, singlesChunk)
	}
	b.singles = append(b.singles, ord)
	n := len(b.singles)
	return b.singles[n-1 : n : n]
}

func (b *openBlock) lookup(param, text string) []uint32 { return b.texts[param][text] }

func (b *openBlock) scanTexts(param, prefix string, f func(string, []uint32)) {
	for text, ords := range b.texts[param] {
		if strings.HasPrefix(text, prefix) {
			f(text, ords)
		}
	}
}

func (b *openBlock) scanRanges(param string, f func(uint32, float64, float64, string)) {
	for _, r := range b.ranges[param] {
		f(r.ord, r.low, r.high, r.unit)
	}
}

func (b *openBlock) lastUpdated(i int) int64 { return b.updated[i] }

func (b *openBlock) event(i int) (store.Resource, error) {
	content, err := b.content(i)
	if err != nil {
		return store.Resource{}, err
	}
	return trailResource(b.ids[i], b.updated[i], content)
}

func (b *openBlock) content(i int) ([]byte, error) {
	frame, err := b.log.read(b.frames[i], b.frames[i+1])
	if err != nil {
		return nil, err
	}
	content, err := frameContent(frame)
	if err != nil {
		return nil, fmt.Errorf("audit: trail log at %d: %w", b.frames[i], err)
	}
	return content, nil
}

// trailResource is an event of the trail as stored: content is its frame's
// content, a record (rendered here) or the stored JSON.
func trailResource(id string, updated int64, content []byte) (store.Resource, error) {
	body := content
	if isRecord(content) {
		var err error
		if body, err = renderRecord(content); err != nil {
			return store.Resource{}, fmt.Errorf("audit: trail: AuditEvent/%s: %w", id, err)
		}
	}
	return store.Resource{Type: resourceType, ID: id, VersionID: 1, LastUpdated: millisTime(updated), Method: "POST", Body: body}, nil
}

func isRangeKind(k store.Kind) bool {
	return k == store.KindDate || k == store.KindNumber || k == store.KindQuantity
}

// A sealed block is its log, kept as it is (the events' frames), and a
// block file indexing it, all integers little-endian:
//
//	magic "THTRAIL2"
//	frame offsets: count+1 × uint64 (in the log)
//	lastUpdated: count × int64
//	ids: the events' ids one after the other, then count+1 × uint32
//	     offsets (from the ids' start)
//	texts: per key "param\x00text" in key order: uvarint key length, key,
//	       uvarint event count, the events as delta uvarints
//	text offsets: one uint32 per key (from the texts' start)
//	ranges: per param: uvarint param length, param, uvarint payload
//	        length, payload: per entry uvarint event delta, float64 low,
//	        float64 high, uvarint unit length, unit
//	footer: count, first, the offsets of frame offsets, lastUpdated, ids,
//	        id offsets, texts, text offsets and ranges, the key count
//	        (uint64 each), magic
const (
	blockMagic  = "THTRAIL2"
	blockFooter = 10*8 + len(blockMagic)
)

var errBadBlock = errors.New("audit: trail block file malformed")

// sealedBlock reads a block file and its log, both mapped in memory: the
// operating system keeps in memory what is read often, the trail only
// this header.
type sealedBlock struct {
	data, log  []byte
	unmap      []func() error
	n          int
	start      uint64
	frames     []byte // frame offsets section
	updated    []byte
	ids, idIdx []byte
	texts      []byte
	textIdx    []byte
	nKeys      int
	ranges     map[string][]byte // param → payload
}

// writeBlock writes the block file of b at path: a temporary file, synced,
// then renamed. b's log must be synced: the file points into it.
func writeBlock(path string, b *openBlock) error {
	return writeFileSynced(path, func(w *countingWriter) error {
		w.write([]byte(blockMagic))
		footer := []uint64{uint64(b.count()), b.start, w.n}
		column := make([]byte, 0, 8*len(b.frames))
		for _, o := range b.frames {
			column = binary.LittleEndian.AppendUint64(column, uint64(o))
		}
		w.write(column)
		footer = append(footer, w.n)
		column = column[:0]
		for _, u := range b.updated {
			column = binary.LittleEndian.AppendUint64(column, uint64(u))
		}
		w.write(column)
		footer = append(footer, w.n)
		column = column[:0]
		idIdx := make([]byte, 0, 4*(len(b.ids)+1))
		for _, id := range b.ids {
			idIdx = binary.LittleEndian.AppendUint32(idIdx, uint32(len(column)))
			column = append(column, id...)
		}
		idIdx = binary.LittleEndian.AppendUint32(idIdx, uint32(len(column)))
		w.write(column)
		footer = append(footer, w.n)
		w.write(idIdx)
		footer = append(footer, w.n)
		keys, textIdx := encodeTexts(b.texts)
		w.write(keys)
		footer = append(footer, w.n)
		w.write(textIdx)
		footer = append(footer, w.n)
		writeRanges(w, b.ranges)
		footer = append(footer, uint64(len(textIdx)/4))
		var tail []byte
		for _, v := range footer {
			tail = binary.LittleEndian.AppendUint64(tail, v)
		}
		w.write(append(tail, blockMagic...))
		return w.err
	})
}

// countingWriter buffers writes to a file, counting the bytes and keeping
// the first error.
type countingWriter struct {
	w   *bufio.Writer
	n   uint64
	err error
}

func (c *countingWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	_, c.err = c.w.Write(p)
	c.n += uint64(len(p))
}

// encodeTexts writes the text keys "param\x00text" in order with their
// postings. That order is the params' order, then the texts' within one
// ("\x00" sorts before any byte of a longer param), so the keys are never
// built as strings to be sorted.
func encodeTexts(texts map[string]map[string][]uint32) (keys, index []byte) {
	size, n := 0, 0
	for param, values := range texts {
		for text, ords := range values {
			size += 2*binary.MaxVarintLen32 + len(param) + 1 + len(text) + binary.MaxVarintLen32*len(ords)
		}
		n += len(values)
	}
	keys, index = make([]byte, 0, size), make([]byte, 0, 4*n)
	var sorted []posting
	for _, param := range slices.Sorted(maps.Keys(texts)) {
		sorted = sortedPostings(sorted[:0], texts[param])
		for _, p := range sorted {
			index = binary.LittleEndian.AppendUint32(index, uint32(len(keys)))
			keys = binary.AppendUvarint(keys, uint64(len(param)+1+len(p.text)))
			keys = append(append(append(keys, param...), 0), p.text...)
			keys = appendPostings(keys, p.ords)
		}
	}
	return keys, index
}

// posting is a text value and the events that hold it.
type posting struct {
	text string
	ords []uint32
}

// sortedPostings appends the postings of values to dst, sorted by text
// (taken with their events, rather than looked up again once sorted).
func sortedPostings(dst []posting, values map[string][]uint32) []posting {
	for text, ords := range values {
		dst = append(dst, posting{text, ords})
	}
	slices.SortFunc(dst, func(a, b posting) int { return strings.Compare(a.text, b.text) })
	return dst
}

// appendPostings appends ords as a count and delta uvarints.
func appendPostings(buf []byte, ords []uint32) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(ords)))
	prev := uint32(0)
	for _, o := range ords {
		buf = binary.AppendUvarint(buf, uint64(o-prev))
		prev = o
	}
	return buf
}

// writeRanges writes each parameter's range entries, in the parameters'
// order: the parameter and the entries' payload, each after its length,
// one entry being its ordinal's delta, low, high and unit.
func writeRanges(w *countingWriter, ranges map[string][]rangeEntry) {
	var payload []byte
	for _, param := range slices.Sorted(maps.Keys(ranges)) {
		entries := ranges[param]
		payload = slices.Grow(payload[:0], len(entries)*(binary.MaxVarintLen32+16+1))
		prev := uint32(0)
		for _, r := range entries {
			payload = binary.AppendUvarint(payload, uint64(r.ord-prev))
			prev = r.ord
			payload = binary.LittleEndian.AppendUint64(payload, math.Float64bits(r.low))
			payload = binary.LittleEndian.AppendUint64(payload, math.Float64bits(r.high))
			payload = binary.AppendUvarint(payload, uint64(len(r.unit)))
			payload = append(payload, r.unit...)
		}
		var head []byte
		head = binary.AppendUvarint(head, uint64(len(param)))
		head = append(head, param...)
		head = binary.AppendUvarint(head, uint64(len(payload)))
		w.write(head)
		w.write(payload)
	}
}

// writeFileSynced writes path through a synced temporary file and a
// rename, so that path holds either nothing or all that write wrote.
func writeFileSynced(path string, write func(*countingWriter) error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("audit: trail: %w", err)
	}
	w := &countingWriter{w: bufio.NewWriterSize(f, 1<<20)}
	err = write(w)
	if err == nil {
		err = w.w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("audit: trail: write %s: %w", path, err)
	}
	return nil
}

// openSealed maps a block file and its log, and reads the block's footer
// and range directory.
func openSealed(path, logPath string) (*sealedBlock, error) {
	data, unmapData, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: trail: %w", err)
	}
	log, unmapLog, err := mapFile(logPath)
	if err != nil {
		unmapData()
		return nil, fmt.Errorf("audit: trail: %w", err)
	}
	b, err := parseSealed(data)
	if err == nil && binary.LittleEndian.Uint64(b.frames[8*b.n:]) > uint64(len(log)) {
		err = fmt.Errorf("its log %s is shorter than the block says", logPath)
	}
	if err != nil {
		unmapData()
		unmapLog()
		return nil, fmt.Errorf("audit: trail: %s: %w", path, err)
	}
	b.log, b.unmap = log, []func() error{unmapData, unmapLog}
	return b, nil
}

func parseSealed(data []byte) (*sealedBlock, error) {
	size := len(data)
	if size < len(blockMagic)+blockFooter || string(data[:len(blockMagic)]) != blockMagic || string(data[size-len(blockMagic):]) != blockMagic {
		return nil, errBadBlock
	}
	var f [10]uint64
	footer := data[size-blockFooter:]
	for i := range f {
		f[i] = binary.LittleEndian.Uint64(footer[8*i:])
	}
	n, end := f[0], uint64(size-blockFooter)
	if !slices.IsSorted([]uint64{f[2], f[3], f[4], f[5], f[6], f[7], f[8], end}) ||
		f[3]-f[2] != 8*(n+1) || f[4]-f[3] != 8*n || f[6]-f[5] != 4*(n+1) || f[8]-f[7] != 4*f[9] {
		return nil, errBadBlock
	}
	b := &sealedBlock{data: data, n: int(n), start: f[1],
		frames: data[f[2]:f[3]], updated: data[f[3]:f[4]], ids: data[f[4]:f[5]], idIdx: data[f[5]:f[6]],
		texts: data[f[6]:f[7]], textIdx: data[f[7]:f[8]], nKeys: int(f[9]), ranges: map[string][]byte{}}
	for rest := data[f[8]:end]; len(rest) > 0; {
		d := decoder{buf: rest}
		param := d.bytes()
		payload := d.bytes()
		if d.err != nil {
			return nil, errBadBlock
		}
		b.ranges[string(param)] = payload
		rest = d.buf
	}
	return b, nil
}

func (b *sealedBlock) first() uint64 { return b.start }
func (b *sealedBlock) count() int    { return b.n }

func (b *sealedBlock) lastUpdated(i int) int64 {
	return int64(binary.LittleEndian.Uint64(b.updated[8*i:]))
}

func (b *sealedBlock) event(i int) (store.Resource, error) {
	content, err := b.content(i)
	if err != nil {
		return store.Resource{}, err
	}
	if !isRecord(content) {
		// The mappings end with the trail: callers keep bodies beyond it.
		content = bytes.Clone(content)
	}
	id := b.id(i)
	if id == "" {
		return store.Resource{}, errBadBlock
	}
	return trailResource(id, b.lastUpdated(i), content)
}

func (b *sealedBlock) content(i int) ([]byte, error) {
	from := binary.LittleEndian.Uint64(b.frames[8*i:])
	to := binary.LittleEndian.Uint64(b.frames[8*i+8:])
	if from+frameHeader > to || to > uint64(len(b.log)) {
		return nil, errBadBlock
	}
	content, err := frameContent(b.log[from:to])
	if err != nil {
		return nil, fmt.Errorf("audit: trail log at %d: %w", from, err)
	}
	return content, nil
}

// id returns event i's id ("" when the block's id offsets are out of place).
func (b *sealedBlock) id(i int) string {
	idFrom := binary.LittleEndian.Uint32(b.idIdx[4*i:])
	idTo := binary.LittleEndian.Uint32(b.idIdx[4*i+4:])
	if idFrom > idTo || int(idTo) > len(b.ids) {
		return ""
	}
	return string(b.ids[idFrom:idTo])
}

// key returns the key at index i and its postings, in the mapping.
func (b *sealedBlock) key(i int) ([]byte, []byte) {
	off := binary.LittleEndian.Uint32(b.textIdx[4*i:])
	d := decoder{buf: b.texts[off:]}
	key := d.bytes()
	return key, d.buf
}

// seek returns the index of the first key >= k.
func (b *sealedBlock) seek(k string) int {
	return sort.Search(b.nKeys, func(i int) bool {
		key, _ := b.key(i)
		return string(key) >= k // compared in place, without a copy
	})
}

func (b *sealedBlock) lookup(param, text string) []uint32 {
	k := param + "\x00" + text
	i := b.seek(k)
	if i == b.nKeys {
		return nil
	}
	key, postings := b.key(i)
	if string(key) != k {
		return nil
	}
	return decodePostings(postings)
}

func (b *sealedBlock) scanTexts(param, prefix string, f func(string, []uint32)) {
	p := param + "\x00" + prefix
	for i := b.seek(p); i < b.nKeys; i++ {
		key, postings := b.key(i)
		if !bytes.HasPrefix(key, []byte(p)) {
			return
		}
		f(string(key[len(param)+1:]), decodePostings(postings))
	}
}

func decodePostings(buf []byte) []uint32 {
	d := decoder{buf: buf}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(buf)) {
		return nil
	}
	ords := make([]uint32, n)
	prev := uint32(0)
	for i := range ords {
		prev += uint32(d.uvarint())
		ords[i] = prev
	}
	return ords
}

func (b *sealedBlock) scanRanges(param string, f func(uint32, float64, float64, string)) {
	d := decoder{buf: b.ranges[param]}
	ord := uint32(0)
	for len(d.buf) > 0 && d.err == nil {
		ord += uint32(d.uvarint())
		low, high := d.float(), d.float()
		unit := d.bytes()
		if d.err != nil {
			return
		}
		f(ord, low, high, string(unit))
	}
}

func (b *sealedBlock) close() error {
	var errs []error
	for _, unmap := range b.unmap {
		errs = append(errs, unmap())
	}
	return errors.Join(errs...)
}
