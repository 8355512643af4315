package events

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/smart"
)

// tokenServer is a real SMART authorization server beside the websocket
// route, issuing client_credentials tokens.
type tokenServer struct {
	t    *testing.T
	srv  *httptest.Server
	auth *smart.Server
}

func newWebSocketServer(t *testing.T, n *node) *tokenServer {
	t.Helper()
	e := echo.New()
	ts := &tokenServer{t: t, srv: httptest.NewServer(e)}
	t.Cleanup(ts.srv.Close)
	var err error
	ts.auth, err = smart.New(smart.Config{BaseURL: ts.srv.URL, Records: n.raw, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ts.auth.Mount(e)
	n.subs.Mount(e, &authz.Authenticator{Verifier: ts.auth, Realm: "telehub", Logger: quietLogger()})
	return ts
}

// token registers a backend client with scope and returns an access token.
func (ts *tokenServer) token(id, scope string) string {
	ts.t.Helper()
	const secret = "a-long-enough-client-secret"
	_, _, err := ts.auth.AddClient(context.Background(), smart.NewClient{
		ID: id, AuthMethod: smart.AuthSecretBasic, Secret: secret,
		Scopes: strings.Fields(scope), GrantTypes: []string{"client_credentials"},
	})
	if err != nil {
		ts.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, ts.srv.URL+ts.tokenPath(),
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		ts.t.Fatalf("token for %s: %s %v", id, resp.Status, err)
	}
	return tok.AccessToken
}

func (ts *tokenServer) tokenPath() string {
	u, _ := url.Parse(ts.auth.TokenURL())
	return u.Path
}

func (ts *tokenServer) wsURL() string {
	return "ws" + strings.TrimPrefix(ts.srv.URL, "http") + WebSocketPath
}

func dial(t *testing.T, u string, header http.Header) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: header})
	if c != nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, err
}

func send(t *testing.T, c *websocket.Conn, text string) {
	t.Helper()
	if err := c.Write(context.Background(), websocket.MessageText, []byte(text)); err != nil {
		t.Fatal(err)
	}
}

func next(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestWebSocketBindAndPing(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	ts := newWebSocketServer(t, n)
	ctx := as(t, "user/*.cruds", "")
	sub := n.create(ctx, "Subscription", `{"resourceType":"Subscription","status":"requested","reason":"r",`+
		`"criteria":"Observation?code=http://loinc.org|8867-4","channel":{"type":"websocket"}}`)
	n.waitStatus(sub.ID, "active")
	hook := n.create(ctx, "Subscription", restHook("Observation", "http://127.0.0.1:1/x", "", ""))
	n.waitStatus(hook.ID, "active")

	reader := ts.token("ws-reader", "system/Subscription.rs system/Observation.rs")

	// The token in the Authorization header.
	c, _, err := dial(t, ts.wsURL(), http.Header{"Authorization": {"Bearer " + reader}})
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, "bind "+sub.ID)
	if got := next(t, c); got != "bound "+sub.ID {
		t.Fatalf("bind answered %q", got)
	}
	// The token as a query parameter, as browsers send it.
	c2, _, err := dial(t, ts.wsURL()+"?access_token="+url.QueryEscape(reader), nil)
	if err != nil {
		t.Fatal(err)
	}
	send(t, c2, "bind "+sub.ID)
	if got := next(t, c2); got != "bound "+sub.ID {
		t.Fatalf("bind answered %q", got)
	}

	// Refused binds say why and keep the connection.
	for _, bad := range []struct{ msg, want string }{
		{"bind nope", "error nope no such Subscription"},
		{"bind " + hook.ID, "error " + hook.ID + " not a websocket Subscription"},
		{"subscribe " + sub.ID, "error unknown command"},
	} {
		send(t, c2, bad.msg)
		if got := next(t, c2); !strings.HasPrefix(got, bad.want) {
			t.Errorf("%q answered %q, want %q", bad.msg, got, bad.want)
		}
	}

	n.create(ctx, "Observation", observation("p", "9279-1")) // does not match
	n.create(ctx, "Observation", observation("p", "8867-4"))
	n.create(ctx, "Observation", observation("p", "8867-4"))
	for _, conn := range []*websocket.Conn{c, c2} {
		for i := range 2 {
			if got := next(t, conn); got != "ping "+sub.ID {
				t.Fatalf("notification %d: %q, want ping %s", i, got, sub.ID)
			}
		}
	}
}

func TestWebSocketNeedsToken(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	ts := newWebSocketServer(t, n)
	noSubs := ts.token("no-subs", "system/Patient.rs")
	cases := []struct {
		name   string
		url    string
		header http.Header
		status int
	}{
		{"no token", ts.wsURL(), nil, http.StatusUnauthorized},
		{"bad token", ts.wsURL(), http.Header{"Authorization": {"Bearer not-a-token"}}, http.StatusUnauthorized},
		{"bad query token", ts.wsURL() + "?access_token=nope", nil, http.StatusUnauthorized},
		{"may not read Subscriptions", ts.wsURL(), http.Header{"Authorization": {"Bearer " + noSubs}}, http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, resp, err := dial(t, c.url, c.header)
			if err == nil || resp == nil || resp.StatusCode != c.status {
				code := 0
				if resp != nil {
					code = resp.StatusCode
				}
				t.Fatalf("dial: %v, status %d, want %d", err, code, c.status)
			}
		})
	}
}
