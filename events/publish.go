package events

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/store"
)

// Publish returns st decorated so that every successful Commit publishes
// one Event per write on bus, after the commit and in the order of the
// writes. A Commit that fails (ErrConflict, a rolled-back transaction)
// publishes nothing. When st also implements store.Records, so does the
// returned store (callers find it with store.As, or by type assertion).
//
// Delivery guarantee: the events of a Commit are published with JetStream
// acknowledgements before Commit returns. When NATS cannot take them (down,
// no quorum), Commit still succeeds (the data are committed and the write
// must not be reported failed), the failure is logged, and the events wait
// in an in-memory backlog that a background loop republishes in order (see
// Bus.retryLoop). What a crash of the process loses is that backlog: events
// of writes committed while NATS was unreachable. Closing that gap needs a
// transactional outbox: the store writing the events in the same
// transaction as the resources (a table or collection beside them), and a
// relay publishing and then deleting them, which store.Store does not
// offer yet.
func Publish(st store.Store, bus *Bus) store.Store {
	p := &publishing{Store: st, bus: bus}
	if rs, ok := st.(store.Records); ok {
		return &publishingRecords{publishing: p, Records: rs}
	}
	return p
}

type publishing struct {
	store.Store
	bus *Bus
}

// Unwrap returns the decorated store, for store.As.
func (p *publishing) Unwrap() store.Store { return p.Store }

// publishingRecords keeps the inner store's Records visible.
type publishingRecords struct {
	*publishing
	store.Records
}

// Commit commits writes, then publishes their events.
func (p *publishing) Commit(ctx context.Context, writes []store.Write) error {
	if err := p.Store.Commit(ctx, writes); err != nil {
		return err
	}
	// The commit is done: its events go out even when the caller gives up.
	ctx = context.WithoutCancel(ctx)
	writer := writerOf(authz.FromContext(ctx))
	internal := isInternal(ctx)
	events := make([]*Event, 0, len(writes))
	for i := range writes {
		w := &writes[i]
		e := &Event{
			Type: w.Type, ID: w.ID, Version: w.Version, Interaction: interactionOf(w),
			LastUpdated: w.LastUpdated, Writer: writer, Internal: internal,
		}
		switch {
		case w.Type == "Patient":
			e.Patient = w.ID
		case !w.Deleted:
			e.Patient = patientOfIndex(w.Index)
			if e.Patient == "" && w.PartialIndex {
				// Its entries of the parameters it keeps are the previous
				// version's, not in w.Index: the body names the patient.
				e.Patient = patientOfBody(store.Outline(w.Body))
			}
		case w.Version > 1:
			// A deletion has no index entries: the patient is in the
			// version it deletes.
			if prev, err := p.Store.VRead(ctx, w.Type, w.ID, w.Version-1); err == nil {
				e.Patient = patientOfBody(prev.Body)
			}
		}
		events = append(events, e)
	}
	p.bus.publish(ctx, events)
	return nil
}

type internalKey struct{}

// withInternal marks ctx as the Subscriptions manager's own writes.
func withInternal(ctx context.Context) context.Context {
	return context.WithValue(ctx, internalKey{}, true)
}

func isInternal(ctx context.Context) bool {
	v, _ := ctx.Value(internalKey{}).(bool)
	return v
}

// publishTimeout bounds the wait for JetStream acknowledgements.
const publishTimeout = 5 * time.Second

// maxBacklog bounds the events kept for republishing while NATS is
// unreachable; beyond it the oldest are dropped (and logged).
const maxBacklog = 100_000

// publisher republishes in the background what could not be published.
type publisher struct {
	mu      sync.Mutex
	backlog []*nats.Msg
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	// published counts events acknowledged by JetStream (for tests and
	// figures).
	published uint64
}

func newPublisher() *publisher {
	return &publisher{kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// publish sends the events of one commit, in order, and waits for their
// acknowledgements; what fails goes to the backlog.
func (b *Bus) publish(ctx context.Context, events []*Event) {
	msgs := make([]*nats.Msg, 0, len(events))
	for _, e := range events {
		m, err := e.message()
		if err != nil {
			b.log.Error("events: drop unencodable event", "resource", e.Reference(), "err", err)
			continue
		}
		msgs = append(msgs, m)
	}
	pub := b.pub
	pub.mu.Lock()
	// While NATS is unreachable, or events already wait, queue at once:
	// the write path must not wait for a publish timeout on every commit.
	waiting := len(pub.backlog) > 0 || !b.nc.IsConnected()
	if waiting {
		// Keep the order: these go after what is already waiting.
		pub.enqueue(b.log, msgs)
	}
	pub.mu.Unlock()
	if waiting {
		pub.wake()
		return
	}
	failed := b.publishNow(ctx, msgs)
	if len(failed) > 0 {
		b.log.Error("events: publish after commit failed; retrying in the background",
			"events", len(failed), "first", failed[0].Header.Get(jetstream.MsgIDHeader))
		pub.mu.Lock()
		pub.enqueue(b.log, failed)
		pub.mu.Unlock()
		pub.wake()
	}
}

// publishNow publishes msgs asynchronously (in order on the connection) and
// waits for every acknowledgement; it returns msgs from the first that
// failed on (republishing acknowledged ones is harmless: their message id
// deduplicates them).
func (b *Bus) publishNow(ctx context.Context, msgs []*nats.Msg) []*nats.Msg {
	if len(msgs) == 1 {
		ctx, cancel := context.WithTimeout(ctx, publishTimeout)
		defer cancel()
		if _, err := b.js.PublishMsg(ctx, msgs[0], jetstream.WithExpectStream(StreamName)); err != nil {
			b.log.Warn("events: publish", "err", err)
			return msgs
		}
		b.countPublished(1)
		return nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for i, m := range msgs {
		f, err := b.js.PublishMsgAsync(m, jetstream.WithExpectStream(StreamName))
		if err != nil {
			b.log.Warn("events: publish", "err", err)
			return b.firstFailed(msgs, futures, i)
		}
		futures = append(futures, f)
	}
	return b.firstFailed(msgs, futures, len(msgs))
}

// firstFailed waits for futures (the first n msgs) and returns msgs from
// the first that was not acknowledged.
func (b *Bus) firstFailed(msgs []*nats.Msg, futures []jetstream.PubAckFuture, n int) []*nats.Msg {
	timeout := time.After(publishTimeout)
	first := n
wait:
	for i, f := range futures {
		select {
		case <-f.Ok():
			continue
		case err := <-f.Err():
			b.log.Warn("events: publish", "err", err)
		case <-timeout:
			b.log.Warn("events: publish: no acknowledgement", "timeout", publishTimeout)
		}
		first = i
		break wait
	}
	b.countPublished(uint64(first))
	if first == len(msgs) {
		return nil
	}
	return msgs[first:]
}

func (b *Bus) countPublished(n uint64) {
	b.pub.mu.Lock()
	b.pub.published += n
	b.pub.mu.Unlock()
}

// enqueue appends msgs to the backlog; the caller holds mu.
func (p *publisher) enqueue(log *slog.Logger, msgs []*nats.Msg) {
	p.backlog = append(p.backlog, msgs...)
	if over := len(p.backlog) - maxBacklog; over > 0 {
		log.Error("events: backlog full, oldest change events dropped", "dropped", over)
		p.backlog = append([]*nats.Msg(nil), p.backlog[over:]...)
	}
}

func (p *publisher) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// retryLoop republishes the backlog, oldest first, with exponential back-off
// while NATS refuses, until the Bus closes.
func (b *Bus) retryLoop() {
	pub := b.pub
	defer close(pub.done)
	delay := 100 * time.Millisecond
	for {
		select {
		case <-pub.stop:
			return
		case <-pub.kick:
		case <-time.After(time.Second):
		}
		for b.drainBacklog() {
			select {
			case <-pub.stop:
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 30*time.Second)
		}
		delay = 100 * time.Millisecond
	}
}

// drainBacklog publishes the backlog one by one; it reports whether some
// remain (NATS still refuses).
func (b *Bus) drainBacklog() (remaining bool) {
	pub := b.pub
	for {
		pub.mu.Lock()
		if len(pub.backlog) == 0 {
			pub.mu.Unlock()
			return false
		}
		m := pub.backlog[0]
		pub.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		_, err := b.js.PublishMsg(ctx, m, jetstream.WithExpectStream(StreamName))
		cancel()
		if err != nil {
			b.log.Warn("events: republish", "waiting", b.Backlog(), "err", err)
			return true
		}
		pub.mu.Lock()
		pub.backlog = pub.backlog[1:]
		pub.published++
		pub.mu.Unlock()
	}
}

// Backlog is the number of committed changes whose events wait to be
// published (NATS unreachable); 0 in normal operation.
func (b *Bus) Backlog() int {
	b.pub.mu.Lock()
	defer b.pub.mu.Unlock()
	return len(b.pub.backlog)
}

// Published is the number of change events JetStream acknowledged through
// this Bus.
func (b *Bus) Published() uint64 {
	b.pub.mu.Lock()
	defer b.pub.mu.Unlock()
	return b.pub.published
}

// stopPublisher stops the retry loop after a last attempt to drain.
func (b *Bus) stopPublisher() {
	if b.pub == nil {
		return
	}
	close(b.pub.stop)
	<-b.pub.done
	if b.drainBacklog() {
		b.log.Error("events: change events lost at shutdown: NATS unreachable", "events", b.Backlog())
	}
}
