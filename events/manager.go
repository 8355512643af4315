package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/store"
)

// SubscriptionOptions configures the Subscriptions manager.
type SubscriptionOptions struct {
	// Bus carries the change stream; required.
	Bus *Bus
	// FHIR is the in-process FHIR API: Subscription status changes and
	// criteria matching go through it; required. Its store must be the
	// Publish-decorated one.
	FHIR *fhir.Server
	// Store reads the notified version of a resource for payloads; required.
	Store store.Store
	// BaseURL is the public FHIR base ("https://…/fhir") that notification
	// Bundles' references start with; relative references when empty.
	BaseURL string
	// Consent, when set, keeps from a subscriber what its creator's
	// consent restrictions deny.
	Consent authz.ConsentPolicy
	Logger  *slog.Logger
	// HTTPClient posts rest-hook notifications (a client with a 10 s
	// timeout when nil).
	HTTPClient *http.Client
	// MaxFailures is how many failed attempts in a row turn a rest-hook
	// Subscription to status error (default 5).
	MaxFailures int
	// RetryBase and RetryMax bound the exponential back-off between
	// attempts to deliver one notification (defaults 1 s and 5 min).
	RetryBase, RetryMax time.Duration
	// AllowHTTP lets rest-hook endpoints use plain http on any host; by
	// default http is accepted on loopback addresses only, https elsewhere.
	AllowHTTP bool
	// Reconcile is how often the manager looks for Subscriptions activated
	// on other nodes (default 2 s).
	Reconcile time.Duration
}

// Subscriptions activates R4 Subscription resources and delivers their
// notifications. Create it with NewSubscriptions; Close it before the Bus.
//
// Its state lives in JetStream, not in memory: a control consumer
// (telehub-subscriptions) reads the Subscription changes, and each active
// Subscription is a durable consumer (sub_<id>) of the change stream,
// filtered on its criteria's type, whose metadata record the Subscription's
// creator. Every node running a manager pulls from the same consumers, one
// message in flight per consumer, so a notification is delivered once and
// in order whichever node takes it, and a restart resumes where the last
// acknowledgement left off. A node that dies holding a change (delivered,
// not yet acknowledged) delays that Subscription by the consumer's ack
// wait (one minute), after which another node, or the restarted one, gets
// it again: the subscriber may then see that change twice, with the same
// event number.
type Subscriptions struct {
	opts    SubscriptionOptions
	log     *slog.Logger
	stream  jetstream.Stream
	control jetstream.Consumer
	http    *http.Client

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	loops map[string]context.CancelFunc // consumer name → its delivery loop
	kick  chan struct{}

	sockets *hub
	pingSub *nats.Subscription
}

// ControlConsumer is the durable consumer of Subscription changes.
const ControlConsumer = "telehub-subscriptions"

// Consumer metadata keys of a Subscription's delivery consumer.
const (
	metaSubscription = "telehub.subscription"
	metaWriter       = "telehub.writer" // JSON Writer; absent for TeleHub's own
)

// fetchWait is how long a pull waits for a message before looking again
// (and noticing a shutdown).
const fetchWait = 2 * time.Second

// NewSubscriptions creates or resumes the control consumer and starts
// delivering every active Subscription.
func NewSubscriptions(ctx context.Context, opts SubscriptionOptions) (*Subscriptions, error) {
	if opts.Bus == nil || opts.FHIR == nil || opts.Store == nil {
		return nil, errors.New("events: new subscriptions: Bus, FHIR and Store are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = 5
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 5 * time.Minute
	}
	if opts.Reconcile <= 0 {
		opts.Reconcile = 2 * time.Second
	}
	control, err := opts.Bus.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       ControlConsumer,
		Description:   "TeleHub Subscriptions: activation of Subscription resources",
		FilterSubject: SubjectPrefix + "Subscription",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 1, // in order, across nodes
	})
	if err != nil {
		return nil, fmt.Errorf("events: control consumer: %w", err)
	}
	m := &Subscriptions{
		opts: opts, log: opts.Logger, stream: opts.Bus.stream, control: control, http: opts.HTTPClient,
		loops: map[string]context.CancelFunc{}, kick: make(chan struct{}, 1), sockets: newHub(),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.pingSub, err = opts.Bus.nc.Subscribe(pingPrefix+"*", m.sockets.fromNATS)
	if err != nil {
		m.cancel()
		return nil, fmt.Errorf("events: subscribe to websocket pings: %w", err)
	}
	if err := m.sweep(ctx); err != nil {
		m.log.Warn("subscriptions: check active Subscriptions", "err", err)
	}
	m.wg.Add(2)
	go m.controlLoop()
	go m.reconcileLoop()
	return m, nil
}

// maxSweep bounds the active Subscriptions checked at start.
const maxSweep = 10_000

// sweep sets to error the active Subscriptions that have no delivery
// consumer: their delivery state was lost (NATS data reset, a new external
// cluster). Their creator is unknown, so they cannot resume by themselves;
// a client resumes one by updating it with status requested.
func (m *Subscriptions) sweep(ctx context.Context) error {
	active, err := m.opts.FHIR.Find(ctx, "Subscription", url.Values{"status": {statusActive}}, maxSweep)
	if err != nil {
		return err
	}
	for _, r := range active {
		_, err := m.stream.Consumer(ctx, consumerName(r.ID))
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		if err := m.setStatus(ctx, r.ID, statusError,
			"its delivery state was lost (the change stream was reset); update it with status requested to resume"); err != nil {
			return err
		}
	}
	return nil
}

// Close stops every loop (in-flight deliveries finish first) and closes
// the websockets. It leaves the JetStream consumers: they are the state.
func (m *Subscriptions) Close() error {
	m.cancel()
	m.wg.Wait()
	err := m.pingSub.Unsubscribe()
	m.sockets.closeAll()
	return err
}

// consumerName is the delivery consumer of Subscription id (FHIR ids
// allow '.', NATS names do not; '_' is not allowed in ids, so it is
// one-to-one).
func consumerName(id string) string { return "sub_" + strings.ReplaceAll(id, ".", "_") }

// reconcileLoop runs one delivery loop per Subscription consumer, starting
// those created (here or by another node) and stopping those deleted.
func (m *Subscriptions) reconcileLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.opts.Reconcile)
	defer t.Stop()
	for {
		if err := m.reconcile(); err != nil && m.ctx.Err() == nil {
			m.log.Warn("subscriptions: list consumers", "err", err)
		}
		select {
		case <-m.ctx.Done():
			m.mu.Lock()
			for name, stop := range m.loops {
				stop()
				delete(m.loops, name)
			}
			m.mu.Unlock()
			return
		case <-t.C:
		case <-m.kick:
		}
	}
}

func (m *Subscriptions) wakeReconcile() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *Subscriptions) reconcile() error {
	ctx, cancel := context.WithTimeout(m.ctx, 10*time.Second)
	defer cancel()
	live := map[string]bool{}
	lister := m.stream.ListConsumers(ctx)
	for info := range lister.Info() {
		if info.Config.Metadata[metaSubscription] != "" {
			live[info.Name] = true
		}
	}
	if err := lister.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, stop := range m.loops {
		if !live[name] {
			stop()
			delete(m.loops, name)
		}
	}
	for name := range live {
		if _, ok := m.loops[name]; ok {
			continue
		}
		loopCtx, stop := context.WithCancel(m.ctx)
		m.loops[name] = stop
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.deliveryLoop(loopCtx, name)
			m.mu.Lock()
			// The loop ended by itself (consumer deleted): let the next
			// reconcile start it again if it comes back.
			if loopCtx.Err() == nil {
				delete(m.loops, name)
			}
			m.mu.Unlock()
			stop()
		}()
	}
	return nil
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// gone reports whether a pull error means the consumer no longer exists.
func gone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrConsumerDoesNotExist)
}
