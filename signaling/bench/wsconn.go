package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Conn is the client side of a WebSocket (RFC 6455), cut to what a load
// generator needs and nothing it does not: text messages in single frames,
// no compression, no context or timer per read or write. Its frames are
// read from a buffer that takes in whatever the socket holds, and its
// frames to send are gathered and written together by Flush, so that a
// client that receives several messages in one read may answer them in one
// write. The generator spends less of the CPU it shares with the server on
// each message.
//
// A Conn is used by one goroutine at a time.
type Conn struct {
	nc   net.Conn
	in   []byte // received bytes; in[r:w] are not parsed yet
	r, w int
	out  []byte // frames gathered for the next Flush
	rng  *mrand.PCG
	max  int // largest message accepted
}

// Opcodes of the frames a Conn reads and writes.
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

const (
	readBuffer  = 4 << 10
	maxMessage  = 1 << 20
	websocketID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" // RFC 6455, 1.3
)

// errClosed is a close frame received from the server.
var errClosed = errors.New("bench: the server closed the WebSocket")

// Dial opens a WebSocket to rawURL ("ws://host:port/path?query").
func Dial(ctx context.Context, rawURL string) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("bench: %q: only ws:// URLs", rawURL)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	c, err := handshake(ctx, nc, u)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bench: WebSocket handshake with %s: %w", rawURL, err)
	}
	return c, nil
}

func handshake(ctx context.Context, nc net.Conn, u *url.URL) (*Conn, error) {
	if deadline, ok := ctx.Deadline(); ok {
		nc.SetDeadline(deadline)
		defer nc.SetDeadline(time.Time{})
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, readBuffer)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	sum := sha1.Sum([]byte(key + websocketID))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return nil, errors.New("not a WebSocket upgrade")
	}
	var seed [16]byte
	rand.Read(seed[:])
	c := &Conn{nc: nc, in: make([]byte, readBuffer), max: maxMessage,
		rng: mrand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))}
	// Frames the server sent right after its answer are in br already.
	c.w, _ = br.Read(c.in[:br.Buffered()])
	return c, nil
}

// Close closes the socket at once (no closing handshake: the run is over).
func (c *Conn) Close() error { return c.nc.Close() }

// Next returns the next data frame, answering pings on the way. It reads
// from the socket only when no whole frame is buffered, and then sends what
// Text gathered first; payload is valid until the next call.
func (c *Conn) Next() (opcode byte, payload []byte, err error) {
	for {
		f, err := c.frame()
		if err != nil {
			return 0, nil, err
		}
		if f.size == 0 {
			// The answers to pings go before the wait, which may be long.
			if err := c.Flush(); err != nil {
				return 0, nil, err
			}
			if err := c.fill(); err != nil {
				return 0, nil, err
			}
			continue
		}
		c.r += f.size
		switch f.op {
		case opPing:
			c.appendFrame(opPong, f.payload)
		case opPong:
		case opClose:
			return 0, nil, errClosed
		case opText, opBinary:
			if !f.fin {
				return 0, nil, errors.New("bench: fragmented messages are not supported")
			}
			return f.op, f.payload, nil
		default:
			return 0, nil, fmt.Errorf("bench: unexpected frame opcode %#x", f.op)
		}
	}
}

// frame is a frame at the head of the read buffer.
type frame struct {
	op      byte
	fin     bool
	payload []byte
	size    int // header and payload; 0 when the frame is not all there yet
}

// frame reads the frame at the head of the buffer without taking it.
func (c *Conn) frame() (frame, error) {
	b := c.in[c.r:c.w]
	if len(b) < 2 {
		return frame{}, nil
	}
	if b[1]&0x80 != 0 {
		return frame{}, errors.New("bench: the server sent a masked frame")
	}
	if b[0]&0x70 != 0 {
		return frame{}, errors.New("bench: the server sent a frame with reserved bits set (no extension was negotiated)")
	}
	n, head := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return frame{}, nil
		}
		n, head = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return frame{}, nil
		}
		n, head = binary.BigEndian.Uint64(b[2:]), 10
	}
	if n > uint64(c.max) {
		return frame{}, fmt.Errorf("bench: a message of %d bytes (more than %d)", n, c.max)
	}
	if uint64(len(b)-head) < n {
		return frame{}, nil
	}
	end := head + int(n)
	return frame{op: b[0] & 0x0f, fin: b[0]&0x80 != 0, payload: b[head:end], size: end}, nil
}

// fill reads what the socket holds, making room first: the parsed bytes
// are dropped, and the buffer grows for a frame larger than it.
func (c *Conn) fill() error {
	if c.r > 0 {
		c.w = copy(c.in, c.in[c.r:c.w])
		c.r = 0
	}
	if c.w == len(c.in) {
		c.in = append(c.in, make([]byte, len(c.in))...)
	}
	n, err := c.nc.Read(c.in[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// Text gathers a text message for the next Flush.
func (c *Conn) Text(payload []byte) { c.appendFrame(opText, payload) }

// appendFrame gathers a frame of payload.
func (c *Conn) appendFrame(op byte, payload []byte) {
	c.out = frameHeader(c.out, op, len(payload), c.maskKey())
	key := c.out[len(c.out)-4:]
	start := len(c.out)
	c.out = append(c.out, payload...)
	maskBytes(c.out[start:], key)
}

// Flush writes the gathered frames, in one system call.
func (c *Conn) Flush() error {
	if len(c.out) == 0 {
		return nil
	}
	_, err := c.nc.Write(c.out)
	c.out = c.out[:0]
	return err
}

// maskKey is a new masking key: a client masks every frame (RFC 6455, 5.3).
func (c *Conn) maskKey() uint32 { return uint32(c.rng.Uint64()) }

// frameHeader appends the header of a final, masked frame of n bytes.
func frameHeader(b []byte, op byte, n int, key uint32) []byte {
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return binary.LittleEndian.AppendUint32(b, key)
}

// maskBytes XORs b with the 4-byte key, eight bytes at a time.
func maskBytes(b, key []byte) {
	k4 := binary.LittleEndian.Uint32(key)
	k8 := uint64(k4) | uint64(k4)<<32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k8)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
}
