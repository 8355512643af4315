package events

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
)

func idsOf(t *testing.T, got []received) []string {
	t.Helper()
	ids := make([]string, len(got))
	for i, r := range got {
		var res struct{ ID string }
		if err := json.Unmarshal(r.body, &res); err != nil {
			t.Fatalf("notification %d: %v", i, err)
		}
		ids[i] = res.ID
	}
	return ids
}

func checkSequence(t *testing.T, got []received, want []string) {
	t.Helper()
	ids := idsOf(t, got)
	if len(ids) != len(want) {
		t.Fatalf("got %d notifications %v, want %d %v", len(ids), ids, len(want), want)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("notification %d is %s, want %s (got %v, want %v)", i, ids[i], want[i], ids, want)
		}
	}
}

// TestNoLossAcrossRestart: changes made while the endpoint is down, before
// and after a restart of the manager and of the embedded NATS server on the
// same data directory, are delivered once, in order, when it comes back;
// the Subscription goes to error meanwhile and back to active.
func TestNoLossAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, "")
	recv := newReceiver(t)
	ctx := as(t, "user/*.cruds", "")
	sub := n.create(ctx, "Subscription", restHook("Observation", recv.url(), "application/fhir+json", ""))
	n.waitStatus(sub.ID, "active")

	var want []string
	for range 3 {
		want = append(want, n.create(ctx, "Observation", observation("p", "1")).ID)
	}
	recv.waitCount(t, 3)

	recv.setDown(true)
	for range 4 {
		want = append(want, n.create(ctx, "Observation", observation("p", "1")).ID)
	}
	got := n.waitStatus(sub.ID, "error")
	t.Logf("while down: status error, %q", got["error"])

	n.stop()
	n = startNode(t, dir, "")
	for range 2 {
		want = append(want, n.create(ctx, "Observation", observation("p", "1")).ID)
	}
	recv.setDown(false)
	checkSequence(t, recv.waitCount(t, len(want)), want)
	n.waitStatus(sub.ID, "active")

	// And the manager alone restarting (NATS staying up) loses nothing.
	recv.setDown(true)
	want = append(want, n.create(ctx, "Observation", observation("p", "1")).ID)
	n.subs.Close()
	subs, err := NewSubscriptions(context.Background(), n.subs.opts)
	if err != nil {
		t.Fatal(err)
	}
	n.subs = subs
	want = append(want, n.create(ctx, "Observation", observation("p", "1")).ID)
	recv.setDown(false)
	checkSequence(t, recv.waitCount(t, len(want)), want)
}

// TestTwoNodesOneNATS: two nodes, each with its Bus joined to one external
// NATS server and its own manager, over one database, deliver every change
// once and in order, whichever node made it.
func TestTwoNodesOneNATS(t *testing.T) {
	cluster, err := OpenBus(context.Background(), BusOptions{DataDir: filepath.Join(t.TempDir(), "nats"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	dir := t.TempDir()
	a := startNode(t, dir, cluster.ClientURL())
	b := startNode(t, dir, cluster.ClientURL())
	if a.bus.server != nil || b.bus.server != nil {
		t.Fatal("a node joined to an external URL started its own server")
	}
	recv := newReceiver(t)
	ctx := as(t, "user/*.cruds", "")
	sub := a.create(ctx, "Subscription", restHook("Observation", recv.url(), "application/fhir+json", ""))
	b.waitStatus(sub.ID, "active")

	start := lastSeq(t, cluster)
	var want []string
	for i := range 12 {
		n := a
		if i%2 == 1 {
			n = b
		}
		want = append(want, n.create(ctx, "Observation", observation("p", "1")).ID)
	}
	checkSequence(t, recv.waitCount(t, len(want)), want)
	if events := readEvents(t, cluster, start); len(events) != len(want) {
		t.Fatalf("the stream holds %d events of the 12 writes", len(events))
	}

	// A websocket bound on node b hears of a change made on node a,
	// whichever node delivers it.
	ws := a.create(ctx, "Subscription", `{"resourceType":"Subscription","status":"requested","reason":"r",`+
		`"criteria":"Patient","channel":{"type":"websocket"}}`)
	b.waitStatus(ws.ID, "active")
	ts := newWebSocketServer(t, b)
	c, _, err := dial(t, ts.wsURL(), http.Header{"Authorization": {"Bearer " + ts.token("ws-b", "system/Subscription.rs")}})
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, "bind "+ws.ID)
	if got := next(t, c); got != "bound "+ws.ID {
		t.Fatalf("bind answered %q", got)
	}
	a.create(ctx, "Patient", `{"resourceType":"Patient"}`)
	if got := next(t, c); got != "ping "+ws.ID {
		t.Fatalf("node b's socket got %q, want ping %s", got, ws.ID)
	}
}
