package events

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
)

// TestSubscriptionLifecycle: deletion and a past end stop delivery; a
// client's update records its writer as the new creator.
func TestSubscriptionLifecycle(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	admin := as(t, "system/*.cruds", "")

	t.Run("delete", func(t *testing.T) {
		sub := n.create(admin, "Subscription", restHook("Observation", "http://127.0.0.1:1/x", "", ""))
		n.waitStatus(sub.ID, "active")
		cur, err := n.fhir.Read(admin, "Subscription", sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		del := store.Write{Type: "Subscription", ID: sub.ID, Version: cur.VersionID + 1, Deleted: true, Method: "DELETE", LastUpdated: time.Now().UTC()}
		if err := n.st.Commit(admin, []store.Write{del}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, n, sub.ID)
	})

	t.Run("end passed", func(t *testing.T) {
		body := strings.Replace(restHook("Observation", "http://127.0.0.1:1/x", "", ""), `"reason"`, `"end":"2020-01-01T00:00:00Z","reason"`, 1)
		sub := n.create(admin, "Subscription", body)
		n.waitStatus(sub.ID, "off")
		waitGone(t, n, sub.ID)
	})

	t.Run("new writer", func(t *testing.T) {
		recv := newReceiver(t)
		sub := n.create(admin, "Subscription", restHook("Observation", recv.url(), "application/fhir+json", ""))
		n.waitStatus(sub.ID, "active")
		// A patient app takes it over: it now hears of its patient only.
		patientCtx := as(t, "patient/*.rs patient/Subscription.u", "alice")
		cur, err := n.fhir.Read(admin, "Subscription", sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.fhir.Update(patientCtx, "Subscription", sub.ID, cur.Body, cur.VersionID); err != nil {
			t.Fatal(err)
		}
		waitWriter(t, n, sub.ID, "alice")
		n.create(admin, "Observation", observation("bob", "1"))
		alices := n.create(admin, "Observation", observation("alice", "1"))
		got := recv.waitCount(t, 1)
		checkSequence(t, got, []string{alices.ID})
	})
}

// waitWriter waits for the consumer of Subscription id to record a creator
// in patient's context.
func waitWriter(t *testing.T, n *node, id, patient string) {
	t.Helper()
	for range 1500 {
		c, err := n.bus.stream.Consumer(context.Background(), consumerName(id))
		if err == nil {
			var w Writer
			if json.Unmarshal([]byte(c.CachedInfo().Config.Metadata[metaWriter]), &w) == nil && w.Patient == patient {
				return
			}
		}
		sleepMs(20)
	}
	t.Fatalf("the consumer of Subscription/%s never recorded a creator of patient %s", id, patient)
}

// TestPublishRetriesWhileNATSIsDown: a commit made while the NATS server
// is down succeeds; its event waits in the backlog and is published, in
// order, once the server is back.
func TestPublishRetriesWhileNATSIsDown(t *testing.T) {
	natsDir := filepath.Join(t.TempDir(), "nats")
	cluster, err := OpenBus(context.Background(), BusOptions{DataDir: natsDir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	url := cluster.ClientURL()
	n := startNode(t, t.TempDir(), url)
	start := lastSeq(t, cluster)
	addr := cluster.server.Addr().String()
	cluster.Close()

	ctx := context.Background()
	now := time.Now().UTC()
	for _, id := range []string{"d1", "d2", "d3"} {
		if err := n.st.Commit(ctx, []store.Write{basicWrite(id, now)}); err != nil {
			t.Fatalf("commit while NATS is down: %v", err)
		}
	}
	if n.bus.Backlog() != 3 {
		t.Fatalf("backlog %d, want 3", n.bus.Backlog())
	}
	_, portStr, _ := strings.Cut(addr, ":")
	cluster, err = OpenBus(context.Background(), BusOptions{DataDir: natsDir, Port: atoi(t, portStr), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	for i := 0; n.bus.Backlog() > 0; i++ {
		if i > 3000 {
			t.Fatalf("backlog still %d", n.bus.Backlog())
		}
		sleepMs(20)
	}
	events := readEvents(t, cluster, start)
	if len(events) != 3 || events[0].ID != "d1" || events[2].ID != "d3" {
		t.Fatalf("events after NATS came back: %d", len(events))
	}
}

// TestLostDeliveryState: an active Subscription whose consumer is gone at
// start turns to error; updating it with status requested resumes it.
func TestLostDeliveryState(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	recv := newReceiver(t)
	ctx := as(t, "user/*.cruds", "")
	sub := n.create(ctx, "Subscription", restHook("Observation", recv.url(), "application/fhir+json", ""))
	n.waitStatus(sub.ID, "active")
	n.subs.Close()
	if err := n.bus.stream.DeleteConsumer(context.Background(), consumerName(sub.ID)); err != nil {
		t.Fatal(err)
	}
	subs, err := NewSubscriptions(context.Background(), n.subs.opts)
	if err != nil {
		t.Fatal(err)
	}
	n.subs = subs
	got := n.waitStatus(sub.ID, "error")
	if msg, _ := got["error"].(string); !strings.Contains(msg, "lost") {
		t.Errorf("error %q", msg)
	}
	cur, err := n.fhir.Read(ctx, "Subscription", sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(cur.Body), `"status":"error"`, `"status":"requested"`, 1)
	if _, err := n.fhir.Update(ctx, "Subscription", sub.ID, []byte(body), cur.VersionID); err != nil {
		t.Fatal(err)
	}
	n.waitStatus(sub.ID, "active")
	obs := n.create(ctx, "Observation", observation("p", "1"))
	checkSequence(t, recv.waitCount(t, 1), []string{obs.ID})
}
