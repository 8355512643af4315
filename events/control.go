package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/smart"
)

// controlLoop reads the Subscription changes in order and activates,
// refuses or stops Subscriptions. A change is acknowledged once handled;
// one that fails for a passing reason (store or NATS down) is retried.
func (m *Subscriptions) controlLoop() {
	defer m.wg.Done()
	for m.ctx.Err() == nil {
		msg, err := m.control.Next(jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			if !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) && m.ctx.Err() == nil {
				m.log.Warn("subscriptions: control pull", "err", err)
				sleep(m.ctx, time.Second)
			}
			continue
		}
		e, err := decodeEvent(msg)
		if err != nil {
			m.log.Error("subscriptions: drop undecodable change", "err", err)
			_ = msg.Term()
			continue
		}
		if e.Internal {
			// The manager's own status change.
			_ = msg.DoubleAck(m.ctx)
			continue
		}
		// A change under way is finished even when Close is called.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), 30*time.Second)
		if err := m.control1(ctx, e); err != nil {
			m.log.Error("subscriptions: handle Subscription change; retrying", "subscription", e.ID, "err", err)
			_ = msg.NakWithDelay(time.Second)
		} else if err := msg.DoubleAck(ctx); err != nil {
			m.log.Warn("subscriptions: control ack", "err", err)
		}
		cancel()
		m.wakeReconcile()
	}
}

// control1 brings the delivery consumer of the changed Subscription in
// line with its current version: the change may be old (a replay after a
// restart), so the current resource decides, and the change's writer is
// recorded as the creator whose rights bound what the Subscription hears.
func (m *Subscriptions) control1(ctx context.Context, e *Event) error {
	name := consumerName(e.ID)
	cur, err := m.opts.FHIR.Read(ctx, "Subscription", e.ID)
	switch {
	case fhir.StatusOf(err) == http.StatusNotFound || fhir.StatusOf(err) == http.StatusGone:
		return m.removeConsumer(ctx, name)
	case err != nil:
		return err
	}
	sub, err := parseSubscription(e.ID, cur.VersionID, cur.Body)
	if err != nil {
		return m.refuse(ctx, e.ID, err.Error())
	}
	switch sub.Status {
	case statusRequested, statusActive:
	default:
		// off, or error set by the client: delivery stops.
		return m.removeConsumer(ctx, name)
	}
	if sub.expired(time.Now()) {
		if err := m.removeConsumer(ctx, name); err != nil {
			return err
		}
		return m.setStatus(ctx, e.ID, statusOff, "")
	}
	if problem := m.validate(ctx, sub, e.Writer); problem != "" {
		return m.refuse(ctx, e.ID, problem)
	}
	if err := m.ensureConsumer(ctx, sub, e); err != nil {
		return err
	}
	if sub.Status != statusActive {
		return m.setStatus(ctx, e.ID, statusActive, "")
	}
	return nil
}

// validate returns why sub cannot be delivered ("" when it can).
func (m *Subscriptions) validate(ctx context.Context, sub *subscription, w *Writer) string {
	typ, params, err := parseCriteria(sub.Criteria)
	if err != nil {
		return err.Error()
	}
	sub.Type, sub.Params = typ, params
	if err := checkChannel(sub.Channel, m.opts.AllowHTTP); err != nil {
		return err.Error()
	}
	// The search parser must understand every parameter: a probe search
	// that can match nothing answers 400 (or 404 for an unknown type) when
	// it does not.
	probe := cloneValues(params)
	probe.Set("_id", "telehub-subscription-probe")
	if _, err := m.opts.FHIR.Find(ctx, typ, probe, 1); err != nil {
		if s := fhir.StatusOf(err); s >= 400 && s < 500 {
			return fmt.Sprintf("criteria %q are not understood: %s", sub.Criteria, fhirMessage(err))
		}
		return fmt.Sprintf("criteria %q could not be checked: %v", sub.Criteria, err)
	}
	if w != nil {
		scopes, err := smart.ParseScopes(w.Scopes)
		if err != nil {
			return "the token that wrote this Subscription has unreadable scopes"
		}
		g := smart.Grants{Scopes: scopes, Patient: w.Patient}
		if !g.Allow(smart.Read, typ, nil).Allowed {
			return fmt.Sprintf("the token that wrote this Subscription may not read %s resources", typ)
		}
	}
	return ""
}

// refuse sets the Subscription to error and stops its delivery.
func (m *Subscriptions) refuse(ctx context.Context, id, problem string) error {
	if err := m.removeConsumer(ctx, consumerName(id)); err != nil {
		return err
	}
	return m.setStatus(ctx, id, statusError, problem)
}

// ensureConsumer creates the delivery consumer of sub, starting right after
// the change that activated it, or updates its creator when it exists with
// the same filter. A changed criteria type restarts it from this change.
func (m *Subscriptions) ensureConsumer(ctx context.Context, sub *subscription, e *Event) error {
	name := consumerName(sub.ID)
	meta := map[string]string{metaSubscription: sub.ID}
	if e.Writer != nil {
		w, err := json.Marshal(e.Writer)
		if err != nil {
			return err
		}
		meta[metaWriter] = string(w)
	}
	filter := SubjectPrefix + sub.Type
	existing, err := m.stream.Consumer(ctx, name)
	switch {
	case err == nil:
		cfg := existing.CachedInfo().Config
		if cfg.FilterSubject == filter {
			cfg.Metadata = meta
			_, err := m.stream.UpdateConsumer(ctx, cfg)
			return err
		}
		if err := m.removeConsumer(ctx, name); err != nil {
			return err
		}
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return err
	}
	_, err = m.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "TeleHub Subscription/" + sub.ID,
		FilterSubject: filter,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   e.Sequence + 1,
		AckPolicy:     jetstream.AckExplicitPolicy,
		// Long enough for one HTTP attempt; a slower delivery is redelivered.
		AckWait:       time.Minute,
		MaxAckPending: 1, // in order
		Metadata:      meta,
	})
	if err != nil && !errors.Is(err, jetstream.ErrConsumerExists) {
		return fmt.Errorf("events: create consumer %s: %w", name, err)
	}
	return nil
}

func (m *Subscriptions) removeConsumer(ctx context.Context, name string) error {
	err := m.stream.DeleteConsumer(ctx, name)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("events: delete consumer %s: %w", name, err)
	}
	return nil
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v)+1)
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// fhirMessage is the client-facing message of an in-process API error.
func fhirMessage(err error) string {
	var fe *fhir.Error
	if errors.As(err, &fe) {
		return fe.Message
	}
	return err.Error()
}
