package audit

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"slices"

	"github.com/telehub/telehub/store"
)

// A journal frame is one event: a 4-byte little-endian payload length, the
// CRC-32C of the payload, then the payload: the event's content (its JSON
// after resourceType) and its index entries, each field length-prefixed
// (uvarint). The CRC finds a frame torn by a crash.

const frameHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadFrame: the bytes at this position are not a whole, intact frame.
var errBadFrame = errors.New("audit: journal frame torn or corrupt")

// maxFrame bounds a frame's payload: an event is a few kilobytes.
const maxFrame = 16 << 20

// encodeFrame returns the frame of one event.
func encodeFrame(content []byte, index []store.IndexEntry) []byte {
	return appendFrame(nil, content, index)
}

// appendFrame appends the frame of one event to buf.
func appendFrame(buf, content []byte, index []store.IndexEntry) []byte {
	start := len(buf)
	buf = beginFrame(buf, len(content), index)
	buf = append(buf, content...)
	return endFrame(buf, start, index)
}

// beginFrame appends to buf a frame's header (filled by endFrame) and the
// length of its content, which the caller appends next.
func beginFrame(buf []byte, contentLen int, index []store.IndexEntry) []byte {
	size := binary.MaxVarintLen64*(2+3*len(index)) + contentLen
	for _, e := range index {
		size += len(e.Param) + len(e.Kind) + len(e.Text) + 16
	}
	buf = slices.Grow(buf, frameHeader+size)
	buf = append(buf, make([]byte, frameHeader)...)
	return binary.AppendUvarint(buf, uint64(contentLen))
}

// endFrame appends the index entries of the frame begun at start, after
// its content, and fills its header.
func endFrame(buf []byte, start int, index []store.IndexEntry) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(index)))
	for _, e := range index {
		buf = appendBytes(buf, []byte(e.Param))
		buf = appendBytes(buf, []byte(e.Kind))
		buf = appendBytes(buf, []byte(e.Text))
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(e.Low))
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(e.High))
	}
	frame := buf[start:]
	payload := frame[frameHeader:]
	binary.LittleEndian.PutUint32(frame[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(frame[4:8], crc32.Checksum(payload, castagnoli))
	return buf
}

func appendBytes(buf, b []byte) []byte {
	return append(binary.AppendUvarint(buf, uint64(len(b))), b...)
}

// frameLength reads a frame header: the whole frame's length, or an error
// when the header is impossible.
func frameLength(header []byte) (int, error) {
	n := binary.LittleEndian.Uint32(header[0:4])
	if n == 0 || n > maxFrame {
		return 0, errBadFrame
	}
	return frameHeader + int(n), nil
}

// decodeFrame reads a whole frame back into a pending event.
func decodeFrame(frame []byte) (*pending, error) {
	if !intact(frame) {
		return nil, errBadFrame
	}
	p, err := decodePayload(frame[frameHeader:])
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// intact reports whether a whole frame's payload matches its CRC.
func intact(frame []byte) bool {
	return crc32.Checksum(frame[frameHeader:], castagnoli) == binary.LittleEndian.Uint32(frame[4:8])
}

// frameContent returns the content of a whole frame (its event's JSON),
// without checking its CRC: the CRC tells a torn write at the end of a
// log when it is replayed; a change to a logged event is the chain's to
// find, and Verify must read the event to report it.
func frameContent(frame []byte) ([]byte, error) {
	d := decoder{buf: frame[frameHeader:]}
	content := d.bytes()
	return content, d.err
}

// decodePayload reads a frame's payload, whatever its CRC says. It
// allocates only the index entries the frame holds (a record's, none).
func decodePayload(payload []byte) (pending, error) {
	d := decoder{buf: payload}
	p := pending{content: d.bytes()}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(payload)) {
		return pending{}, errBadFrame
	}
	p.index = make([]store.IndexEntry, 0, n)
	for range n {
		e := store.IndexEntry{Param: string(d.bytes()), Kind: store.Kind(d.bytes()), Text: string(d.bytes())}
		e.Low, e.High = d.float(), d.float()
		p.index = append(p.index, e)
	}
	if d.err != nil || len(d.buf) != 0 {
		return pending{}, errBadFrame
	}
	return p, nil
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.err = errBadFrame
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// varint reads a signed varint (zigzag-coded, as binary.AppendVarint
// writes it).
func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// take returns the next n bytes.
func (d *decoder) take(n int) []byte {
	if d.err != nil || len(d.buf) < n {
		d.err = errBadFrame
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.buf)) {
		d.err = errBadFrame
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) float() float64 {
	if d.err != nil || len(d.buf) < 8 {
		d.err = errBadFrame
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.buf))
	d.buf = d.buf[8:]
	return v
}
