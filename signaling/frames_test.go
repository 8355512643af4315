package signaling

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
)

// socketPair is the two ends of a real loopback TCP connection.
func socketPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// readFrame reads one frame as a client does, and checks it is a final,
// unmasked text frame.
func readFrame(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatal(err)
	}
	if h[0] != 0x81 || h[1]&0x80 != 0 {
		t.Fatalf("frame header % x, want a final unmasked text frame", h)
	}
	n := uint64(h[1])
	switch n {
	case 126:
		var ext [2]byte
		io.ReadFull(r, ext[:])
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		io.ReadFull(r, ext[:])
		n = binary.BigEndian.Uint64(ext[:])
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConnFrames: what is queued reaches the socket as WebSocket frames of
// every length encoding, in order, relayed messages with their "from".
func TestConnFrames(t *testing.T) {
	server, client := socketPair(t)
	c := newConn(nil, server, nil, 16, 1<<20)
	want := []string{
		`{"type":"pong"}`,
		`{"type":"candidate","candidate":"` + strings.Repeat("c", 200) + `"}`, // 16-bit length
		`{"type":"offer","sdp":"` + strings.Repeat("s", 70000) + `"}`,         // 64-bit length
	}
	for _, m := range want {
		if !c.enqueue([]byte(m)) {
			t.Fatalf("enqueue refused %.20q…", m)
		}
	}
	c.enqueueFrom([]byte(`{"type":"answer","to":"b","sdp":"x"}`), "a")
	want = append(want, `{"type":"answer","to":"b","sdp":"x","from":"a"}`)

	r := bufio.NewReader(client)
	for i, w := range want {
		if got := readFrame(t, r); got != w {
			t.Fatalf("message %d: got %.60q…, want %.60q…", i, got, w)
		}
	}
}

// TestDeliverBatch: a batch from another node is queued message by
// message; a lone message as itself; a malformed batch is reported, what
// came before its fault delivered.
func TestDeliverBatch(t *testing.T) {
	server, client := socketPair(t)
	c := newConn(nil, server, nil, 16, 1<<20)
	batch := []byte{batchMarker}
	for _, m := range []string{`{"n":1}`, `{"n":2}`} {
		batch = binary.AppendUvarint(batch, uint64(len(m)))
		batch = append(batch, m...)
	}
	if !deliverBatch(c, batch) {
		t.Fatal("a well-formed batch was refused")
	}
	if !deliverBatch(c, []byte(`{"n":3}`)) {
		t.Fatal("a lone message was refused")
	}
	bad := append(binary.AppendUvarint([]byte{batchMarker}, 7), `{"n":4}`...)
	bad = binary.AppendUvarint(bad, 100) // longer than what follows
	bad = append(bad, `{"n":5}`...)
	if deliverBatch(c, bad) {
		t.Fatal("a batch whose length overruns was accepted")
	}
	r := bufio.NewReader(client)
	for _, w := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`} {
		if got := readFrame(t, r); got != w {
			t.Fatalf("got %q, want %q", got, w)
		}
	}
}

// clientFrame is a masked frame as a browser sends it.
func clientFrame(op byte, fin bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(n))
	}
	b = append(b, 1, 2, 3, 4)
	for i, c := range payload {
		b = append(b, c^byte(i%4+1))
	}
	return b
}

// TestMessageBuffered: a whole message in one frame counts as arrived;
// part of one, a control frame or a first fragment does not.
func TestMessageBuffered(t *testing.T) {
	small := clientFrame(0x1, true, []byte(`{"type":"ping"}`))
	large := clientFrame(0x1, true, bytes.Repeat([]byte("x"), 300))
	for _, tc := range []struct {
		name string
		in   []byte
		want bool
	}{
		{"nothing", nil, false},
		{"a whole message", small, true},
		{"a whole message and part of the next", append(append([]byte{}, small...), large[:5]...), true},
		{"part of a message", small[:len(small)-1], false},
		{"a whole 16-bit-length message", large, true},
		{"part of a 16-bit-length message", large[:100], false},
		{"a header cut in its length", large[:3], false},
		{"a binary message", clientFrame(0x2, true, []byte("b")), true},
		{"a ping first", append(clientFrame(0x9, true, nil), small...), false},
		{"a first fragment", clientFrame(0x1, false, []byte("{")), false},
	} {
		r := bufio.NewReader(bytes.NewReader(tc.in))
		r.Peek(len(tc.in)) // buffer it all, as a read from the socket would
		if got := messageBuffered(r); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
