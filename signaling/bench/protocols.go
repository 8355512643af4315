package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Client is one connected signaling client.
type Client struct {
	// ID is the client's peer id, by which others address it.
	ID   string
	Conn *Conn
	// prefix and suffix frame a message around the peer it is for and its
	// payload: the protocol's envelope.
	prefix, suffix []byte
}

// AppendMessage appends a message carrying payload (a JSON object) to peer to.
func (c *Client) AppendMessage(dst []byte, to string, payload []byte) []byte {
	dst = append(dst, c.prefix...)
	dst = append(dst, to...)
	dst = append(dst, c.suffix...)
	dst = append(dst, payload...)
	return append(dst, '}')
}

// TeleHub dials TeleHub's relay: client i connects to nodes[i % len(nodes)]
// (base URLs, "http://host:port") and joins rooms[room] with token.
func TeleHub(nodes []string, token string, rooms []string) Dialer {
	return func(ctx context.Context, i, room int) (*Client, error) {
		url := "ws" + strings.TrimPrefix(nodes[i%len(nodes)], "http") + "/signaling"
		ws, err := Dial(ctx, url)
		if err != nil {
			return nil, err
		}
		join, _ := json.Marshal(map[string]string{"type": "join", "room": rooms[room], "token": token, "name": "load " + strconv.Itoa(i)})
		ws.Text(join)
		if err := ws.Flush(); err != nil {
			ws.Close()
			return nil, err
		}
		for {
			_, b, err := ws.Next()
			if err != nil {
				ws.Close()
				return nil, err
			}
			var m struct{ Type, Peer, Message string }
			json.Unmarshal(b, &m)
			switch m.Type {
			case "joined":
				return &Client{ID: m.Peer, Conn: ws, prefix: []byte(`{"type":"candidate","to":"`), suffix: []byte(`","candidate":`)}, nil
			case "error":
				ws.Close()
				return nil, fmt.Errorf("join refused: %s", m.Message)
			}
		}
	}
}

// PeerJS dials a PeerJS server at base ("http://host:port", path "/",
// key "peerjs"); clients are named by their number.
func PeerJS(base, run string) Dialer {
	return func(ctx context.Context, i, room int) (*Client, error) {
		id := run + "-" + strconv.Itoa(i)
		url := "ws" + strings.TrimPrefix(base, "http") + "/peerjs?key=peerjs&id=" + id + "&token=t" + strconv.Itoa(i)
		ws, err := Dial(ctx, url)
		if err != nil {
			return nil, err
		}
		for {
			_, b, err := ws.Next()
			if err != nil {
				ws.Close()
				return nil, err
			}
			var m struct{ Type string }
			json.Unmarshal(b, &m)
			switch m.Type {
			case "OPEN":
				return &Client{ID: id, Conn: ws, prefix: []byte(`{"type":"CANDIDATE","dst":"`), suffix: []byte(`","payload":`)}, nil
			case "ERROR", "ID-TAKEN", "INVALID-KEY":
				ws.Close()
				return nil, fmt.Errorf("peerjs refused the client: %s", b)
			}
		}
	}
}
