package signaling

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// conn is one WebSocket. Messages to send are framed at once into a buffer
// that a writer goroutine sends, all it holds in one write (see frames.go),
// so that a slow client never blocks the relay: when it has too many
// messages waiting it is dropped. The writer runs only while there is
// something to write: an idle connection (most of a call) costs no
// goroutine, no stack, no buffer.
type conn struct {
	ws       *websocket.Conn
	sock     net.Conn      // the socket under ws, where the frames go
	in       *bufio.Reader // what ws reads from
	maxQueue int
	maxBytes int
	buf      *[]byte // the read buffer while a message is handled, from readBuffers

	mu          sync.Mutex
	pending     *[]byte // frames waiting for the writer, from frameBuffers; nil when none
	queued      int     // messages in pending
	writing     bool    // a writer goroutine is running
	closed      bool
	closeStatus websocket.StatusCode
	closeReason string
	done        chan struct{} // closed when the writer has finished for good
}

func newConn(ws *websocket.Conn, sock net.Conn, in *bufio.Reader, queue, maxBytes int) *conn {
	return &conn{ws: ws, sock: sock, in: in, maxQueue: queue, maxBytes: maxBytes, done: make(chan struct{})}
}

// fromMember is what a relayed message gets before its sender's id.
const fromMember = `,"from":"`

// enqueue queues the message b; it reports false when the connection is
// closing or too slow.
func (c *conn) enqueue(b []byte) bool { return c.push(b, "") }

// enqueueFrom queues raw, a client's message (a JSON object) relayed from
// peer from: raw with "from" appended. The last member wins in JSON
// decoders, and the relay has checked that raw has no "from" of its own.
func (c *conn) enqueueFrom(raw []byte, from string) bool { return c.push(raw, from) }

// appendFrom appends raw with "from" appended, as enqueueFrom sends it.
func appendFrom(b, raw []byte, from string) []byte {
	b = append(b, raw[:len(raw)-1]...)
	b = append(b, fromMember...)
	b = append(b, from...)
	return append(b, '"', '}')
}

func fromSize(raw []byte, from string) int { return len(raw) + len(fromMember) + len(from) + 1 }

// push frames b, with "from" appended unless from is empty, into the
// pending frames, and starts the writer unless it runs.
func (c *conn) push(b []byte, from string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if c.queued >= c.maxQueue {
		c.closeLocked(websocket.StatusTryAgainLater, "too slow to read its messages")
		return false
	}
	if c.pending == nil {
		c.pending = frameBuffers.Get().(*[]byte)
	}
	if from == "" {
		*c.pending = append(appendFrameHeader(*c.pending, len(b)), b...)
	} else {
		*c.pending = appendFrom(appendFrameHeader(*c.pending, fromSize(b, from)), b, from)
	}
	c.queued++
	c.wakeLocked()
	return true
}

// wakeLocked starts the writer unless it runs. Called with c.mu held.
func (c *conn) wakeLocked() {
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

// close sends what is queued, then closes the socket with status.
func (c *conn) close(status websocket.StatusCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(status, reason)
}

func (c *conn) closeLocked(status websocket.StatusCode, reason string) {
	if c.closed {
		return
	}
	c.closed = true
	c.closeStatus, c.closeReason = status, reason
	c.wakeLocked() // the writer flushes the queue, then closes the socket
}

// fail sends a protocol error and, unless it keeps the connection open, closes it.
func (c *conn) fail(e *protocolError) {
	c.enqueue(e.frame())
	if !e.keepOpen {
		c.close(e.closeStatus(), e.code)
	}
}

const writeTimeout = 10 * time.Second

// maxKeptBuffer bounds the read buffers kept for reuse: a large SDP offer
// once should not keep 64 KiB.
const maxKeptBuffer = 4 << 10

// writeLoop writes the queued frames, all that is pending at a time, until
// nothing is (then it ends) or the connection is closed (then it closes
// the socket).
func (c *conn) writeLoop() {
	for {
		c.mu.Lock()
		frames := c.pending
		c.pending, c.queued = nil, 0
		if frames == nil {
			if !c.closed {
				c.writing = false
				c.mu.Unlock()
				return
			}
			status, reason := c.closeStatus, c.closeReason
			c.mu.Unlock()
			close(c.done)
			// Close waits (up to 5 s) for the client's close frame; do it aside.
			go c.ws.Close(status, reason)
			return
		}
		c.mu.Unlock()

		// No deadline (a timer each, on the busiest path): a client that
		// stops reading stops answering pings too, and the heartbeat
		// closes its socket, which ends a blocked write.
		_, err := c.sock.Write(*frames)
		putFrameBuffer(frames)
		if err != nil {
			c.mu.Lock()
			c.closed = true // no more writes: enqueue refuses, close is a no-op
			if c.pending != nil {
				putFrameBuffer(c.pending)
				c.pending = nil
			}
			c.mu.Unlock()
			c.ws.CloseNow()
			close(c.done)
			return
		}
	}
}

// moreInput reports whether the next message has arrived whole already:
// reading it will not wait. Only the connection's reader calls it, between
// reads, and never once the connection is closing: coder/websocket's Close
// reads the socket too, for the client's close frame (the writer starts it
// after it has seen closed, under c.mu).
func (c *conn) moreInput() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed && c.in != nil && messageBuffered(c.in)
}

// abort closes the socket at once, without a close handshake.
func (c *conn) abort() {
	c.close(websocket.StatusGoingAway, "")
	c.ws.CloseNow()
}

// read decodes the next message into msg and returns its bytes.
func (c *conn) read(ctx context.Context, msg *inbound) ([]byte, error) {
	typ, rd, err := c.ws.Reader(ctx)
	if err != nil {
		return nil, err
	}
	// A buffer lent for the message: the bytes returned are only used
	// until recycle (a relayed message is copied on its way out).
	if c.buf == nil {
		c.buf = readBuffers.Get().(*[]byte)
	}
	data, err := readAll(rd, (*c.buf)[:0], c.maxBytes+1)
	if cap(data) <= maxKeptBuffer {
		*c.buf = data[:0]
	}
	if err != nil {
		return nil, err
	}
	if len(data) > c.maxBytes {
		return nil, fail("too_big", "a message may not exceed "+itoa(c.maxBytes)+" bytes")
	}
	if typ != websocket.MessageText {
		return nil, fail("malformed", "messages are JSON objects in text frames")
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, fail("malformed", "a message is one JSON object")
	}
	if scanEnvelope(data, msg) {
		return data, nil
	}
	*msg = inbound{}
	if err := json.Unmarshal(data, msg); err != nil {
		return nil, fail("malformed", "a message is one JSON object: "+err.Error())
	}
	return data, nil
}

// readBuffers lends the read buffers: a connection waiting for its next
// message (most of the time) holds none.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1<<10); return &b }}

// recycle gives the read buffer back once the message read last is handled.
func (c *conn) recycle() {
	if c.buf != nil {
		readBuffers.Put(c.buf)
		c.buf = nil
	}
}

// readAll appends what rd holds to buf, up to limit bytes: io.ReadAll
// without its allocations when buf is large enough.
func readAll(rd io.Reader, buf []byte, limit int) ([]byte, error) {
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// isProtocol returns err as a protocol error, if it is one.
func isProtocol(err error) (*protocolError, bool) {
	var pe *protocolError
	ok := errors.As(err, &pe)
	return pe, ok
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// limiter is a token bucket: rate tokens a second, up to burst.
type limiter struct {
	rate, burst, tokens float64
	last                time.Time
}

func newLimiter(rate, burst float64) *limiter {
	return &limiter{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

func (l *limiter) allow() bool {
	now := time.Now()
	l.tokens += now.Sub(l.last).Seconds() * l.rate
	l.last = now
	if l.tokens > l.burst {
		l.tokens = l.burst
	}
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
