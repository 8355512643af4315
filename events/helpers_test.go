package events

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
)

const testBase = "http://telehub.test/fhir"

func quietLogger() *slog.Logger {
	if os.Getenv("TELEHUB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// node is one TeleHub process: a Bus, the SQLite store decorated by
// Publish, the FHIR server over it, and a Subscriptions manager.
type node struct {
	t    testing.TB
	dir  string
	bus  *Bus
	raw  *sqlite.Store
	st   store.Store
	fhir *fhir.Server
	subs *Subscriptions
}

// startNode opens (or reopens) a node on dir: embedded NATS in dir/nats
// unless natsURL is set, SQLite in dir/telehub.db.
func startNode(t testing.TB, dir, natsURL string) *node {
	t.Helper()
	ctx := context.Background()
	n := &node{t: t, dir: dir}
	var err error
	n.bus, err = OpenBus(ctx, BusOptions{URL: natsURL, DataDir: filepath.Join(dir, "nats"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	n.raw, err = sqlite.Open(ctx, filepath.Join(dir, "telehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	n.st = Publish(n.raw, n.bus)
	n.fhir, err = fhir.New(fhir.Options{Store: n.st, BaseURL: testBase, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	n.subs, err = NewSubscriptions(ctx, SubscriptionOptions{
		Bus: n.bus, FHIR: n.fhir, Store: n.st, BaseURL: testBase, Logger: quietLogger(),
		MaxFailures: 3, RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Reconcile: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	return n
}

// stop closes the node in the wiring's shutdown order; it may be called twice.
func (n *node) stop() {
	if n.subs != nil {
		n.subs.Close()
		n.subs = nil
	}
	if n.raw != nil {
		n.raw.Close()
		n.raw = nil
	}
	if n.bus != nil {
		n.bus.Close()
		n.bus = nil
	}
}

func scopes(t testing.TB, s string) []smart.Scope {
	t.Helper()
	sc, err := smart.ParseScopes(s)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// as is a request context of a client with the given scopes and patient context.
func as(t testing.TB, scope, patient string) context.Context {
	p := &authz.Principal{Subject: "app-user", ClientID: "app", Patient: patient,
		Grants: smart.Grants{Scopes: scopes(t, scope), Patient: patient}}
	return authz.NewContext(context.Background(), p)
}

func (n *node) create(ctx context.Context, typ, body string) *store.Resource {
	n.t.Helper()
	res, _, err := n.fhir.Create(ctx, typ, []byte(body), "")
	if err != nil {
		n.t.Fatalf("create %s: %v", typ, err)
	}
	return res
}

func observation(patient, code string) string {
	return `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"` + code +
		`"}]},"subject":{"reference":"Patient/` + patient + `"},"valueQuantity":{"value":72,"unit":"/min"}}`
}

// waitStatus waits for Subscription id to reach status and returns its JSON.
func (n *node) waitStatus(id, status string) map[string]any {
	n.t.Helper()
	var last map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := n.fhir.Read(context.Background(), "Subscription", id)
		if err != nil {
			n.t.Fatal(err)
		}
		last = map[string]any{}
		if err := json.Unmarshal(res.Body, &last); err != nil {
			n.t.Fatal(err)
		}
		if last["status"] == status {
			return last
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("Subscription/%s: status %v (error %v), want %s", id, last["status"], last["error"], status)
	return nil
}

// notification is one request a receiver got.
type received struct {
	number int
	header http.Header
	body   []byte
}

// receiver is a rest-hook endpoint: echo on httptest, answering 503
// while down.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []received
	down bool
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{}
	e := echo.New()
	e.POST("/hook", func(c echo.Context) error {
		body, _ := io.ReadAll(c.Request().Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.down {
			return c.NoContent(http.StatusServiceUnavailable)
		}
		n, _ := strconv.Atoi(c.Request().Header.Get(EventNumberHeader))
		r.got = append(r.got, received{number: n, header: c.Request().Header.Clone(), body: body})
		return c.NoContent(http.StatusOK)
	})
	r.srv = httptest.NewServer(e)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return r.srv.URL + "/hook" }

func (r *receiver) setDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// waitCount waits until the receiver holds at least n notifications.
func (r *receiver) waitCount(t testing.TB, n int) []received {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if got := r.all(); len(got) >= n {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("receiver got %d notifications, want %d", len(r.all()), n)
	return nil
}

func restHook(criteria, endpoint, payload string, extra string) string {
	p := ""
	if payload != "" {
		p = `,"payload":"` + payload + `"`
	}
	return `{"resourceType":"Subscription","status":"requested","reason":"test","criteria":"` + criteria +
		`","channel":{"type":"rest-hook","endpoint":"` + endpoint + `"` + p + extra + `}}`
}

func sleepMs(ms int) { time.Sleep(time.Duration(ms) * time.Millisecond) }

func itoa(n int) string { return strconv.Itoa(n) }

// denyPatients is a consent policy closing the listed patients to everyone.
type denyPatients []string

func (d denyPatients) Restrictions(context.Context, *authz.Principal) (authz.Restrictions, error) {
	return authz.Restrictions{DeniedPatients: d}, nil
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
