package signaling

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// github.com/coder/websocket flushes every message to the socket on its
// own: a write system call per message, the largest single cost of the
// relay under load. A connection's writer usually finds several messages
// queued for it, though (the candidates of a peer come in bursts), so the
// relay holds the socket's writes while it writes the queued messages and
// lets them go in one system call: the batchConn below, put under the
// WebSocket by the hijack at its upgrade.

// maxBatch bounds the bytes a held socket gathers before it writes anyway.
const maxBatch = 32 << 10

// batchBuffers lends the buffers of batches: a connection holds one only
// while it writes, not for the rest of the call.
var batchBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// batchConn is a net.Conn whose writes can be held and then sent together.
type batchConn struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	pending *[]byte // the batch, from batchBuffers, while holding
	err     error
}

// Write sends p, or gathers it while the writes are held. A write of
// another goroutine (a ping, a close) during a batch joins the batch, in
// order.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if !b.holding {
		return b.Conn.Write(p)
	}
	*b.pending = append(*b.pending, p...)
	if len(*b.pending) >= maxBatch {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// hold gathers the writes until release.
func (b *batchConn) hold() {
	b.mu.Lock()
	b.holding = true
	b.pending = batchBuffers.Get().(*[]byte)
	b.mu.Unlock()
}

// release sends what was gathered since hold.
func (b *batchConn) release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.flushLocked()
	b.holding = false
	if cap(*b.pending) <= 2*maxBatch { // not one a huge message grew
		batchBuffers.Put(b.pending)
	}
	b.pending = nil
	return err
}

func (b *batchConn) flushLocked() error {
	if len(*b.pending) == 0 || b.err != nil {
		return b.err
	}
	_, err := b.Conn.Write(*b.pending)
	if err != nil {
		b.err = err
	}
	*b.pending = (*b.pending)[:0]
	return err
}

// wsWriteBuffer is the size of the WebSocket's write buffer (net/http's is 4 KiB).
const wsWriteBuffer = 512

// batchWriter is the response writer of a WebSocket upgrade whose hijacked
// connection is a batchConn.
type batchWriter struct {
	http.ResponseWriter
	conn *batchConn
}

func (w *batchWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *batchWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	// The switching-protocols response is written by now (Hijack flushes
	// it), so the WebSocket may write through a writer of its own. A small
	// one: the batches gather the bytes, and a larger message passes
	// through the writer without a copy.
	if err := brw.Writer.Flush(); err != nil {
		nc.Close()
		return nil, nil, err
	}
	w.conn = &batchConn{Conn: nc}
	return w.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(w.conn, wsWriteBuffer)), nil
}
