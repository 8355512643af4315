package signaling

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/http"
	"sync"
)

// The relay writes its WebSocket data frames itself, straight to the
// socket: github.com/coder/websocket would write each message on its own,
// through a mutex, a select and a flush of its own, a system call per
// message, the largest single cost of the relay under load. A connection's
// writer gathers the frames queued for it (the candidates of a peer come in
// bursts) and sends them in one write.
//
// coder/websocket keeps the rest: the upgrade, reading (with the pongs and
// the close handshake) and the control frames it writes (pings, pongs,
// close). Those go to the same socket, each in a single write of its own
// (every frame it writes is flushed whole from a buffer larger than a
// control frame), and a net.Conn never interleaves the bytes of two writes,
// so its frames and the relay's never mix. A server's frames are not
// masked (RFC 6455, 5.1): the relay's are a two-to-ten-byte header and the
// message.

// appendFrameHeader appends the header of a final, unmasked text frame of
// n bytes (RFC 6455, 5.2).
func appendFrameHeader(b []byte, n int) []byte {
	const finText = 0x81
	switch {
	case n < 126:
		return append(b, finText, byte(n))
	case n <= 0xffff:
		return append(b, finText, 126, byte(n>>8), byte(n))
	}
	return binary.BigEndian.AppendUint64(append(b, finText, 127), uint64(n))
}

// frameBuffers lends the buffers frames are gathered in: a connection
// holds one only while it has something to send, not for the rest of a call.
var frameBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// maxKeptFrames bounds the gathering buffers kept for reuse: a burst of
// large offers once should not keep its megabytes.
const maxKeptFrames = 64 << 10

func putFrameBuffer(b *[]byte) {
	if cap(*b) <= maxKeptFrames {
		*b = (*b)[:0]
		frameBuffers.Put(b)
	}
}

// wsWriteBuffer is the size of coder/websocket's own write buffer (net/http's
// is 4 KiB): it only writes control frames, of 131 bytes at most.
const wsWriteBuffer = 512

// upgradeWriter is the response writer of a WebSocket upgrade: it keeps the
// connection it hijacks, and the buffered reader coder/websocket reads from.
type upgradeWriter struct {
	http.ResponseWriter
	conn net.Conn
	in   *bufio.Reader
}

func (w *upgradeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	// The switching-protocols response is written by now (Hijack flushes
	// it), so the WebSocket may write through a writer of its own.
	if err := brw.Writer.Flush(); err != nil {
		nc.Close()
		return nil, nil, err
	}
	w.conn, w.in = nc, brw.Reader
	return nc, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(nc, wsWriteBuffer)), nil
}

// messageBuffered reports whether in holds a whole message from a client,
// in one frame: reading it will not wait for the network. A control frame
// first (a pong, say) or the first frame of a fragmented message counts as
// not: coder/websocket would read it and then wait for what follows.
func messageBuffered(in *bufio.Reader) bool {
	n := in.Buffered()
	if n < 2 {
		return false
	}
	h, _ := in.Peek(min(n, 10))
	const fin, text, bin = 0x80, 0x1, 0x2
	if op := h[0] &^ 0x70; op != fin|text && op != fin|bin {
		return false
	}
	size, head := int(h[1]&0x7f), 2
	switch size {
	case 126:
		if len(h) < 4 {
			return false
		}
		size, head = int(binary.BigEndian.Uint16(h[2:])), 4
	case 127:
		if len(h) < 10 {
			return false
		}
		v := binary.BigEndian.Uint64(h[2:])
		if v > uint64(n) {
			return false
		}
		size, head = int(v), 10
	}
	if h[1]&0x80 != 0 {
		head += 4 // the masking key
	}
	return n >= head+size
}
