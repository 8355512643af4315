package signaling

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// recordingConn is a real socket pair's one end, noting each write.
type recordingConn struct {
	net.Conn
	writes int
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

// TestBatchConn: held writes go out in one write, in order, and writes
// outside a batch pass straight through.
func TestBatchConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- nil
			return
		}
		b, _ := io.ReadAll(c)
		received <- b
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingConn{Conn: nc}
	b := &batchConn{Conn: rec}

	var want bytes.Buffer
	write := func(s string) {
		t.Helper()
		if n, err := b.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
		want.WriteString(s)
	}
	write("alone;")
	if rec.writes != 1 {
		t.Fatalf("a write outside a batch made %d socket writes, want 1", rec.writes)
	}
	b.hold()
	for range 100 {
		write("held;")
	}
	if rec.writes != 1 {
		t.Fatalf("held writes reached the socket (%d writes)", rec.writes)
	}
	if err := b.release(); err != nil {
		t.Fatal(err)
	}
	if rec.writes != 2 {
		t.Fatalf("a batch of 100 made %d socket writes, want 1", rec.writes-1)
	}
	// A batch larger than maxBatch goes out in parts as it grows.
	b.hold()
	big := string(bytes.Repeat([]byte("x"), maxBatch/4))
	for range 8 {
		write(big)
	}
	if err := b.release(); err != nil {
		t.Fatal(err)
	}
	if n := rec.writes - 2; n < 2 || n > 3 {
		t.Fatalf("a batch of %d bytes made %d socket writes, want 2 or 3", 2*maxBatch, n)
	}
	nc.Close()
	if got := <-received; !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("received %d bytes, not the %d written in order", len(got), want.Len())
	}
	// After the socket failed, writes fail rather than gather.
	b.hold()
	b.Write([]byte("late"))
	if err := b.release(); err == nil {
		t.Fatal("release on a closed socket succeeded")
	}
	if _, err := b.Write([]byte("later")); err == nil {
		t.Fatal("a write after a failed batch succeeded")
	}
}
