package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/coder/websocket"
)

type client struct {
	id string
	ws *websocket.Conn
	// prefix and suffix frame a message around its payload.
	prefix, suffix []byte
}

func (c *client) ID() string            { return c.id }
func (c *client) Conn() *websocket.Conn { return c.ws }
func (c *client) Message(to string, payload []byte) []byte {
	out := make([]byte, 0, len(c.prefix)+len(to)+len(payload)+len(c.suffix)+8)
	out = append(out, c.prefix...)
	out = append(out, to...)
	out = append(out, c.suffix...)
	out = append(out, payload...)
	return append(out, '}')
}

func dial(ctx context.Context, url string) (*websocket.Conn, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	return ws, nil
}

// TeleHub dials TeleHub's relay: client i connects to nodes[i % len(nodes)]
// (base URLs, "http://host:port") and joins rooms[room] with token.
func TeleHub(nodes []string, token string, rooms []string) Dialer {
	return func(ctx context.Context, i, room int) (Client, error) {
		url := "ws" + strings.TrimPrefix(nodes[i%len(nodes)], "http") + "/signaling"
		ws, err := dial(ctx, url)
		if err != nil {
			return nil, err
		}
		join, _ := json.Marshal(map[string]string{"type": "join", "room": rooms[room], "token": token, "name": "load " + strconv.Itoa(i)})
		if err := ws.Write(ctx, websocket.MessageText, join); err != nil {
			ws.CloseNow()
			return nil, err
		}
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				ws.CloseNow()
				return nil, err
			}
			var m struct{ Type, Peer, Message string }
			json.Unmarshal(b, &m)
			switch m.Type {
			case "joined":
				return &client{id: m.Peer, ws: ws, prefix: []byte(`{"type":"candidate","to":"`), suffix: []byte(`","candidate":`)}, nil
			case "error":
				ws.CloseNow()
				return nil, fmt.Errorf("join refused: %s", m.Message)
			}
		}
	}
}

// PeerJS dials a PeerJS server at base ("http://host:port", path "/",
// key "peerjs"); clients are named by their number.
func PeerJS(base, run string) Dialer {
	return func(ctx context.Context, i, room int) (Client, error) {
		id := run + "-" + strconv.Itoa(i)
		url := "ws" + strings.TrimPrefix(base, "http") + "/peerjs?key=peerjs&id=" + id + "&token=t" + strconv.Itoa(i)
		ws, err := dial(ctx, url)
		if err != nil {
			return nil, err
		}
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				ws.CloseNow()
				return nil, err
			}
			var m struct{ Type string }
			json.Unmarshal(b, &m)
			switch m.Type {
			case "OPEN":
				return &client{id: id, ws: ws, prefix: []byte(`{"type":"CANDIDATE","dst":"`), suffix: []byte(`","payload":`)}, nil
			case "ERROR", "ID-TAKEN", "INVALID-KEY":
				ws.CloseNow()
				return nil, fmt.Errorf("peerjs refused the client: %s", b)
			}
		}
	}
}
