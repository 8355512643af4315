package signaling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// conn is one WebSocket. Writes go through a queue drained by its own
// goroutine, so that a slow client never blocks the relay: when its queue is
// full it is dropped.
type conn struct {
	ws       *websocket.Conn
	send     chan []byte
	maxBytes int
	buf      []byte // the read buffer, owned by the reading goroutine

	mu          sync.Mutex
	closed      bool
	closeStatus websocket.StatusCode
	closeReason string
	done        chan struct{} // closed when the writer has finished
}

func newConn(ws *websocket.Conn, queue, maxBytes int) *conn {
	c := &conn{ws: ws, send: make(chan []byte, queue), maxBytes: maxBytes, done: make(chan struct{})}
	go c.writeLoop()
	return c
}

// enqueue queues b; it reports false when the connection is closing or too slow.
func (c *conn) enqueue(b []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	select {
	case c.send <- b:
		return true
	default:
		c.closeLocked(websocket.StatusTryAgainLater, "too slow to read its messages")
		return false
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
	close(c.send)
}

// fail sends a protocol error and, unless it keeps the connection open, closes it.
func (c *conn) fail(e *protocolError) {
	c.enqueue(e.frame())
	if !e.keepOpen {
		c.close(e.closeStatus(), e.code)
	}
}

const writeTimeout = 10 * time.Second

// maxKeptBuffer bounds the read buffer a connection keeps between messages:
// a large SDP offer once should not cost 64 KiB for the rest of the call.
const maxKeptBuffer = 4 << 10

func (c *conn) writeLoop() {
	defer close(c.done)
	// No deadline per message (a timer each, on the busiest path): a client
	// that stops reading stops answering pings too, and the heartbeat
	// closes its socket, which ends a blocked write.
	ctx := context.Background()
	for b := range c.send {
		if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
			c.close(websocket.StatusGoingAway, "write failed")
			for range c.send { // drain what enqueue added before close
			}
			c.ws.CloseNow()
			return
		}
	}
	c.mu.Lock()
	status, reason := c.closeStatus, c.closeReason
	c.mu.Unlock()
	// Close waits (up to 5 s) for the client's close frame; do it aside.
	go c.ws.Close(status, reason)
}

// abort closes the socket at once, without a close handshake.
func (c *conn) abort() {
	c.close(websocket.StatusGoingAway, "")
	c.ws.CloseNow()
}

// read returns the next message, decoded, and its bytes.
func (c *conn) read(ctx context.Context) (*inbound, []byte, error) {
	typ, rd, err := c.ws.Reader(ctx)
	if err != nil {
		return nil, nil, err
	}
	// One buffer per connection, reused: the bytes returned are only used
	// until the next read (a relayed message is copied on its way out).
	buf := bytes.NewBuffer(c.buf[:0])
	_, err = buf.ReadFrom(io.LimitReader(rd, int64(c.maxBytes)+1))
	data := buf.Bytes()
	if cap(data) <= maxKeptBuffer {
		c.buf = data[:0]
	}
	if err != nil {
		return nil, nil, err
	}
	if len(data) > c.maxBytes {
		return nil, nil, fail("too_big", "a message may not exceed "+itoa(c.maxBytes)+" bytes")
	}
	if typ != websocket.MessageText {
		return nil, nil, fail("malformed", "messages are JSON objects in text frames")
	}
	data = bytes.TrimSpace(data)
	var msg inbound
	if len(data) == 0 || data[0] != '{' {
		return nil, nil, fail("malformed", "a message is one JSON object")
	}
	if err := json.Unmarshal(data, &msg); err != nil {
		return nil, nil, fail("malformed", "a message is one JSON object: "+err.Error())
	}
	return &msg, data, nil
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
