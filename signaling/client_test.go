package signaling_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/telehub/telehub/signaling/signalingtest"
)

// client is a test's signaling client: a real WebSocket to a real relay.
type client struct {
	t  testing.TB
	ws *websocket.Conn
}

// wsURL is the signaling endpoint of a node, with query parameters.
func wsURL(n *signalingtest.Node, query url.Values) string {
	u := "ws" + strings.TrimPrefix(n.URL, "http") + "/signaling"
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u
}

func dial(t testing.TB, n *signalingtest.Node, query url.Values) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL(n, query), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &client{t: t, ws: ws}
}

// join dials and joins room with token, and returns the joined message.
func join(t testing.TB, n *signalingtest.Node, room, token string) (*client, map[string]any) {
	t.Helper()
	c := dial(t, n, nil)
	c.send(map[string]any{"type": "join", "room": room, "token": token, "name": "test"})
	return c, c.expect("joined")
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(websocket.MessageText, b)
}

func (c *client) sendRaw(typ websocket.MessageType, b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, typ, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next message, or nil and the close error.
func (c *client) next(timeout time.Duration) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("relay sent non-JSON %q", b)
	}
	return m, nil
}

// expect returns the next message of type typ, skipping presence messages
// unless typ is "presence".
func (c *client) expect(typ string) map[string]any {
	c.t.Helper()
	for {
		m, err := c.next(15 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for %q: %v", typ, err)
		}
		if m["type"] == typ {
			return m
		}
		if m["type"] != "presence" {
			c.t.Fatalf("got %v, want a %q message", m, typ)
		}
	}
}

// expectClosed reads until the relay closes the socket and returns the
// close status and the last error message seen.
func (c *client) expectClosed() (websocket.StatusCode, string) {
	c.t.Helper()
	code := ""
	for {
		m, err := c.next(15 * time.Second)
		if err != nil {
			status := websocket.CloseStatus(err)
			if status == -1 {
				c.t.Fatalf("connection not closed by the relay: %v", err)
			}
			return status, code
		}
		if m["type"] == "error" {
			code, _ = m["code"].(string)
		}
	}
}
