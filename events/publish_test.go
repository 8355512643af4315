package events

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telehub/telehub/store"
)

// readEvents reads every event of the stream after sequence from.
func readEvents(t *testing.T, bus *Bus, from uint64) []*Event {
	t.Helper()
	ctx := context.Background()
	info, err := bus.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	if last <= from {
		return nil
	}
	c, err := bus.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from + 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []*Event
	for uint64(len(out)) < last-from {
		m, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("read events: %v (have %d of %d)", err, len(out), last-from)
		}
		e, err := decodeEvent(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func lastSeq(t *testing.T, bus *Bus) uint64 {
	info, err := bus.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

func TestPublishAfterCommit(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	ctx := as(t, "user/*.cruds", "")
	start := lastSeq(t, n.bus)

	pat := n.create(ctx, "Patient", `{"resourceType":"Patient","name":[{"family":"Martin"}]}`)
	obs := n.create(ctx, "Observation", observation(pat.ID, "8867-4"))
	if _, err := n.fhir.Patch(ctx, "Observation", obs.ID, []byte(`[{"op":"replace","path":"/status","value":"amended"}]`), 0); err != nil {
		t.Fatal(err)
	}
	// A deletion carries no index entries: its patient comes from the
	// deleted version.
	if err := n.st.Commit(ctx, []store.Write{{Type: "Observation", ID: obs.ID, Version: 3, Deleted: true, Method: "DELETE", LastUpdated: time.Now().UTC()}}); err != nil {
		t.Fatal(err)
	}
	got := readEvents(t, n.bus, start)
	want := []struct {
		typ, id, interaction, patient string
		version                       int64
	}{
		{"Patient", pat.ID, "create", pat.ID, 1},
		{"Observation", obs.ID, "create", pat.ID, 1},
		{"Observation", obs.ID, "patch", pat.ID, 2},
		{"Observation", obs.ID, "delete", pat.ID, 3},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		e := got[i]
		if e.Type != w.typ || e.ID != w.id || e.Interaction != w.interaction || e.Patient != w.patient || e.Version != w.version {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
		if e.Writer == nil || e.Writer.ClientID != "app" || e.Writer.Scopes != "user/*.cruds" {
			t.Errorf("event %d writer = %+v, want the app's principal", i, e.Writer)
		}
		if e.Sequence != start+uint64(i)+1 {
			t.Errorf("event %d sequence %d, want %d", i, e.Sequence, start+uint64(i)+1)
		}
	}
}

func TestTransactionEventsInOrderAndRollbackPublishesNothing(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	body := func(id string) []byte {
		return []byte(`{"resourceType":"Basic","id":"` + id + `","code":{"text":"x"}}`)
	}
	start := lastSeq(t, n.bus)
	var writes []store.Write
	for _, id := range []string{"b1", "b2", "b3", "b4"} {
		writes = append(writes, store.Write{Type: "Basic", ID: id, Version: 1, Method: "POST", LastUpdated: now, Body: body(id)})
	}
	if err := n.st.Commit(ctx, writes); err != nil {
		t.Fatal(err)
	}
	got := readEvents(t, n.bus, start)
	if len(got) != 4 {
		t.Fatalf("transaction of 4 writes published %d events", len(got))
	}
	for i, e := range got {
		if e.ID != writes[i].ID || e.Writer != nil {
			t.Errorf("event %d = %s (writer %+v), want %s by no principal", i, e.Reference(), e.Writer, writes[i].ID)
		}
	}

	// b2 is at version 1: a write expecting it absent conflicts, and the
	// whole transaction, b5 included, rolls back.
	seq := lastSeq(t, n.bus)
	rolled := []store.Write{
		{Type: "Basic", ID: "b5", Version: 1, Method: "POST", LastUpdated: now, Body: body("b5")},
		{Type: "Basic", ID: "b2", Version: 1, Method: "PUT", LastUpdated: now, Body: body("b2")},
	}
	if err := n.st.Commit(ctx, rolled); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("conflicting transaction: %v, want ErrConflict", err)
	}
	if _, err := n.st.Read(ctx, "Basic", "b5"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rolled-back write is stored: %v", err)
	}
	if after := lastSeq(t, n.bus); after != seq {
		t.Fatalf("a rolled-back transaction published %d events", after-seq)
	}
}

// recordsless hides every method but store.Store's.
type recordsless struct{ store.Store }

func TestPublishKeepsRecords(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	rs, ok := n.st.(store.Records)
	if !ok {
		t.Fatal("Publish(sqlite) does not implement store.Records")
	}
	ctx := context.Background()
	if err := rs.PutRecord(ctx, store.Record{Kind: "test", Key: "k", Version: 1, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if r, err := n.raw.GetRecord(ctx, "test", "k"); err != nil || string(r.Value) != "v" {
		t.Fatalf("record through the decorator: %v %+v", err, r)
	}
	if _, ok := Publish(recordsless{n.raw}, n.bus).(store.Records); ok {
		t.Fatal("Publish of a store without Records implements Records")
	}
}

func TestEventJSON(t *testing.T) {
	e := Event{Type: "Observation", ID: "1", Version: 2, Interaction: "update", Patient: "p",
		Writer: &Writer{ClientID: "c", Scopes: "user/*.rs"}}
	data, err := json.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	var back Event
	if err := json.Unmarshal(data, &back); err != nil || back.Writer.ClientID != "c" || back.Patient != "p" {
		t.Fatalf("round trip: %v %+v", err, back)
	}
}

// The decorator must not hide the plan of a search (_explain=true).
func TestPublishKeepsExplain(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	ex, ok := store.As[store.Explainer](n.st)
	if !ok {
		t.Fatal("store.As finds no Explainer through Publish(sqlite)")
	}
	plan, err := ex.Explain(context.Background(), store.Query{Types: []string{"Patient"}, Count: 10})
	if err != nil || plan == "" {
		t.Fatalf("Explain through the decorator: %q %v", plan, err)
	}
	if _, ok := store.As[store.Explainer](Publish(recordsless{n.raw}, n.bus)); ok {
		// recordsless hides Explain, and Unwrap leads to recordsless only.
		t.Fatal("store.As found an Explainer the wrapped store does not have")
	}
}
