package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/smart"
)

// EventNumberHeader numbers each rest-hook notification with the change's
// sequence in the change stream: increasing, not contiguous, and the same
// on a redelivery, so a subscriber recognises a notification it already
// has.
const EventNumberHeader = "X-Subscription-Event-Number"

// deliveryLoop pulls the changes of one Subscription's consumer, one at a
// time, until ctx ends or the consumer is deleted.
//
// Failures: a rest-hook attempt that fails (network error, non-2xx) is
// retried with exponential back-off (RetryBase doubling up to RetryMax)
// through JetStream redelivery, holding back the later changes so that
// order is kept. After MaxFailures attempts in a row the Subscription turns
// to status error, with the reason, but delivery keeps being attempted at
// the longest back-off; the first success sets it back to active. Nothing
// is dropped unless the stream's limits (BusOptions.MaxAge, MaxBytes)
// expire it first.
func (m *Subscriptions) deliveryLoop(ctx context.Context, name string) {
	cons, err := m.stream.Consumer(ctx, name)
	if err != nil {
		if !gone(err) && ctx.Err() == nil {
			m.log.Warn("subscriptions: open consumer", "consumer", name, "err", err)
		}
		return
	}
	for ctx.Err() == nil {
		msg, err := cons.Next(jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			switch {
			case gone(err):
				return
			case errors.Is(err, jetstream.ErrNoMessages), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			default:
				if ctx.Err() == nil {
					m.log.Warn("subscriptions: pull", "consumer", name, "err", err)
					sleep(ctx, time.Second)
				}
			}
			continue
		}
		// The consumer's metadata (the creator) may have changed since
		// the loop started.
		info, err := cons.Info(ctx)
		if err != nil {
			_ = msg.NakWithDelay(time.Second)
			if gone(err) {
				return
			}
			continue
		}
		m.handle(ctx, info, msg)
	}
}

// handle delivers one change to one Subscription, or skips it, and
// acknowledges it; or asks for a redelivery after a failed attempt.
func (m *Subscriptions) handle(ctx context.Context, info *jetstream.ConsumerInfo, msg jetstream.Msg) {
	id := info.Config.Metadata[metaSubscription]
	e, err := decodeEvent(msg)
	if err != nil {
		m.log.Error("subscriptions: drop undecodable change", "subscription", id, "err", err)
		_ = msg.Term()
		return
	}
	// An attempt under way finishes even when Close is called: cutting it
	// would count as a failure of the subscriber.
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.HTTPClient.Timeout+30*time.Second)
	defer cancel()
	n, err := m.notify(nctx, id, info, e)
	if err == nil {
		if err := msg.DoubleAck(nctx); err != nil {
			m.log.Warn("subscriptions: ack", "subscription", id, "event", e.Sequence, "err", err)
		}
		return
	}
	if errors.Is(err, errPending) {
		_ = msg.NakWithDelay(100 * time.Millisecond)
		return
	}
	var fail *deliveryError
	if !errors.As(err, &fail) {
		// Our side failed (store, NATS): retry soon.
		m.log.Warn("subscriptions: notify; retrying", "subscription", id, "event", e.Sequence, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	md, _ := msg.Metadata()
	attempts := uint64(1)
	if md != nil {
		attempts = md.NumDelivered
	}
	m.log.Warn("subscriptions: delivery failed", "subscription", id, "event", e.Sequence,
		"attempt", attempts, "err", fail.err)
	if attempts >= uint64(m.opts.MaxFailures) && n.sub != nil && n.sub.Status != statusError {
		if err := m.setStatus(nctx, id, statusError, fmt.Sprintf("delivery failed %d times: %v", attempts, fail.err)); err != nil {
			m.log.Warn("subscriptions: set status error", "subscription", id, "err", err)
		}
	}
	_ = msg.NakWithDelay(m.backoff(attempts))
}

// backoff is the wait after the attempt-th failed attempt.
func (m *Subscriptions) backoff(attempt uint64) time.Duration {
	d := m.opts.RetryBase
	for i := uint64(1); i < attempt && d < m.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, m.opts.RetryMax)
}

// errPending holds a change back until the Subscription is validated.
var errPending = errors.New("events: Subscription awaiting validation")

// deliveryError is a failure of the subscriber's endpoint (retried with
// back-off), as opposed to one of TeleHub's own.
type deliveryError struct{ err error }

func (e *deliveryError) Error() string { return e.err.Error() }

// notification is what one delivery needs.
type notification struct {
	sub   *subscription
	event *Event
}

// notify checks the change against the Subscription (status, criteria,
// the creator's rights and consent) and delivers it when it passes.
func (m *Subscriptions) notify(ctx context.Context, id string, info *jetstream.ConsumerInfo, e *Event) (notification, error) {
	n := notification{event: e}
	if e.Internal || e.Interaction == "delete" {
		// A deleted resource matches no search criteria: R4 Subscriptions
		// do not notify deletions.
		return n, nil
	}
	cur, err := m.opts.FHIR.Read(ctx, "Subscription", id)
	if err != nil {
		if s := fhir.StatusOf(err); s == http.StatusNotFound || s == http.StatusGone {
			// Normally the control loop removes the consumer; this one
			// outlived its Subscription (a store restored from backup).
			return n, m.removeConsumer(ctx, info.Name)
		}
		return n, err
	}
	sub, err := parseSubscription(id, cur.VersionID, cur.Body)
	if err != nil {
		return n, nil
	}
	n.sub = sub
	switch sub.Status {
	case statusActive, statusError:
	case statusRequested:
		// Updated by its client and not yet re-validated by the control
		// loop: hold the change until it is.
		return n, errPending
	default:
		return n, nil
	}
	if sub.expired(time.Now()) {
		// Past its end: off. The control loop ignores the manager's own
		// writes, so the consumer goes here; this loop then ends.
		if err := m.setStatus(ctx, id, statusOff, ""); err != nil {
			return n, err
		}
		return n, m.removeConsumer(ctx, info.Name)
	}
	typ, params, err := parseCriteria(sub.Criteria)
	if err != nil || typ != e.Type {
		return n, nil // criteria changed since; the control loop catches up
	}
	sub.Type, sub.Params = typ, params
	var writer *Writer
	if raw := info.Config.Metadata[metaWriter]; raw != "" {
		writer = new(Writer)
		if err := json.Unmarshal([]byte(raw), writer); err != nil {
			return n, fmt.Errorf("events: consumer %s: creator: %w", info.Name, err)
		}
	}
	ok, err := m.matches(ctx, sub, e)
	if err != nil || !ok {
		return n, err
	}
	if ok, err := m.allowed(ctx, id, writer, e); err != nil || !ok {
		return n, err
	}
	switch sub.Channel.Type {
	case channelRestHook:
		return n, m.postRestHook(ctx, sub, e)
	case channelWebSocket:
		return n, m.sockets.publish(m.opts.Bus.nc, sub.ID)
	}
	return n, nil
}

// matches reports whether the changed resource matches the criteria now.
// The match is made on the current version: a resource changed again
// since this event is matched (and notified) as it is now.
func (m *Subscriptions) matches(ctx context.Context, sub *subscription, e *Event) (bool, error) {
	q := cloneValues(sub.Params)
	q.Set("_id", e.ID)
	found, err := m.opts.FHIR.Find(ctx, e.Type, q, 1)
	if err != nil {
		if s := fhir.StatusOf(err); s >= 400 && s < 500 {
			// The criteria stopped being understood (a custom
			// SearchParameter was retired): nothing can match.
			return false, m.setStatus(ctx, sub.ID, statusError,
				fmt.Sprintf("criteria %q are no longer understood: %s", sub.Criteria, fhirMessage(err)))
		}
		return false, err
	}
	return len(found) > 0, nil
}

// allowed reports whether the Subscription's creator may read the changed
// resource: its scopes must allow reading the type (with their
// constraints), a creator in a patient context hears only of that
// patient's data, and the consent policy must not deny the patient.
// A Subscription written by TeleHub itself (no creator) hears everything.
func (m *Subscriptions) allowed(ctx context.Context, subID string, w *Writer, e *Event) (bool, error) {
	if w == nil {
		return true, nil
	}
	if w.Patient != "" && e.Patient != w.Patient {
		return false, nil
	}
	scopes, err := smart.ParseScopes(w.Scopes)
	if err != nil {
		return false, nil
	}
	g := smart.Grants{Scopes: scopes, Patient: w.Patient}
	d := g.Allow(smart.Read, e.Type, nil)
	if !d.Allowed {
		return false, nil
	}
	if !d.Unrestricted {
		ok := false
		for _, c := range d.AnyOf {
			if c.Compartment != "" && c.Compartment != "Patient/"+e.Patient {
				continue
			}
			if c.Params != nil {
				q := cloneValues(c.Params)
				q.Set("_id", e.ID)
				found, err := m.opts.FHIR.Find(ctx, e.Type, q, 1)
				if err != nil {
					if fhir.StatusOf(err) < 500 {
						continue // a constraint the parser refuses grants nothing
					}
					return false, err
				}
				if len(found) == 0 {
					continue
				}
			}
			ok = true
			break
		}
		if !ok {
			return false, nil
		}
	}
	if m.opts.Consent != nil && e.Patient != "" {
		// The creator's identity, as of a token of its own: consent
		// policies cache per token, and a Subscription never breaks the
		// glass (no purpose of use).
		p := &authz.Principal{TokenID: "Subscription/" + subID, Subject: w.Subject, ClientID: w.ClientID,
			FHIRUser: w.FHIRUser, Patient: w.Patient, Grants: g}
		r, err := m.opts.Consent.Restrictions(ctx, p)
		if err != nil {
			return false, fmt.Errorf("events: consent restrictions: %w", err)
		}
		if slices.Contains(r.DeniedPatients, e.Patient) && !slices.Contains(r.Overridden, e.Patient) {
			return false, nil
		}
	}
	return true, nil
}

// postRestHook POSTs one notification; a non-2xx answer or a network
// error is a deliveryError. Success sets an errored Subscription back to
// active.
func (m *Subscriptions) postRestHook(ctx context.Context, sub *subscription, e *Event) error {
	body, contentType, err := m.payload(ctx, sub, e)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Channel.Endpoint, bytes.NewReader(body))
	if err != nil {
		return &deliveryError{err}
	}
	for _, h := range sub.Channel.Header {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set(EventNumberHeader, strconv.FormatUint(e.Sequence, 10))
	resp, err := m.http.Do(req)
	if err != nil {
		return &deliveryError{err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &deliveryError{fmt.Errorf("%s answered %s", sub.Channel.Endpoint, resp.Status)}
	}
	if sub.Status == statusError {
		if err := m.setStatus(ctx, sub.ID, statusActive, ""); err != nil {
			m.log.Warn("subscriptions: set status active", "subscription", sub.ID, "err", err)
		}
	}
	return nil
}
