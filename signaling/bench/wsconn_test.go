package bench

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestConn: the load generator's WebSocket client against another
// implementation's server: messages of every length encoding echoed whole
// and in order, gathered ones sent together, a ping answered while it
// waits, and the server's close seen.
func TestConn(t *testing.T) {
	pinged := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ws.SetReadLimit(1 << 20)
		ctx := r.Context()
		for range 3 {
			typ, b, err := ws.Read(ctx)
			if err != nil || ws.Write(ctx, typ, b) != nil {
				return
			}
		}
		// The client now waits in Next: its answer to a ping must leave.
		ctx = ws.CloseRead(ctx)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = ws.Ping(pctx)
		cancel()
		pinged <- err
		ws.Write(ctx, websocket.MessageText, []byte("after the ping"))
		ws.Close(websocket.StatusNormalClosure, "done")
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := []string{"short", strings.Repeat("m", 300), strings.Repeat("l", 70000)} // 7-, 16- and 64-bit lengths
	for _, m := range sent {
		c.Text([]byte(m))
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, want := range sent {
		op, got, err := c.Next()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if op != opText || string(got) != want {
			t.Fatalf("message %d: opcode %d, %d bytes, want the %d bytes sent", i, op, len(got), len(want))
		}
	}
	_, got, err := c.Next()
	if err != nil || string(got) != "after the ping" {
		t.Fatalf("after the ping: %q, %v", got, err)
	}
	if err := <-pinged; err != nil {
		t.Fatalf("the server's ping went unanswered: %v", err)
	}
	if _, _, err := c.Next(); !errors.Is(err, errClosed) {
		t.Fatalf("after the server's close: %v, want errClosed", err)
	}
}

// TestDialRefused: a server that does not upgrade is an error, not a client.
func TestDialRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	if c, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/"); err == nil {
		c.Close()
		t.Fatal("Dial succeeded against a plain HTTP server")
	}
}
