package events

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// statusProfile is the backport's profile of the notification's status
// Parameters in R4.
const statusProfile = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"

// payload builds the body of a rest-hook notification and its content type:
//   - channel.payload empty: no body (the R4 "ping");
//   - channel.payload set, no backport content extension: the resource, as
//     the version the change made (R4);
//   - with the extension (none, id-only, full): a backport
//     subscription-notification Bundle (type history) whose first entry is
//     the status Parameters (eventsSinceSubscriptionStart and event-number
//     are the change's stream sequence), followed, for id-only and full, by
//     an entry for the resource (full: with the resource).
func (m *Subscriptions) payload(ctx context.Context, sub *subscription, e *Event) ([]byte, string, error) {
	if sub.Channel.Payload == "" {
		return nil, "", nil
	}
	ct := sub.Channel.Payload
	if sub.Channel.Content == "" {
		body, err := m.version(ctx, e)
		return body, ct, err
	}
	b, err := m.notificationBundle(ctx, sub, e)
	return b, ct, err
}

// version reads the version the change made.
func (m *Subscriptions) version(ctx context.Context, e *Event) ([]byte, error) {
	r, err := m.opts.Store.VRead(ctx, e.Type, e.ID, e.Version)
	if err != nil {
		return nil, fmt.Errorf("events: read %s/_history/%d: %w", e.Reference(), e.Version, err)
	}
	return r.Body, nil
}

func (m *Subscriptions) ref(typeAndID string) string {
	if m.opts.BaseURL == "" {
		return typeAndID
	}
	return m.opts.BaseURL + "/" + typeAndID
}

type param struct {
	Name           string          `json:"name"`
	ValueReference *reference      `json:"valueReference,omitempty"`
	ValueCode      string          `json:"valueCode,omitempty"`
	ValueString    string          `json:"valueString,omitempty"`
	ValueInstant   string          `json:"valueInstant,omitempty"`
	Part           []param         `json:"part,omitempty"`
	Resource       json.RawMessage `json:"resource,omitempty"`
}

type reference struct {
	Reference string `json:"reference"`
}

type entry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Request  *entryRequest   `json:"request,omitempty"`
	Response *entryResponse  `json:"response,omitempty"`
}

type entryRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

type entryResponse struct {
	Status string `json:"status"`
}

func (m *Subscriptions) notificationBundle(ctx context.Context, sub *subscription, e *Event) ([]byte, error) {
	seq := strconv.FormatUint(e.Sequence, 10)
	event := param{Name: "notification-event", Part: []param{
		{Name: "event-number", ValueString: seq},
		{Name: "timestamp", ValueInstant: e.LastUpdated.UTC().Format(time.RFC3339Nano)},
	}}
	if sub.Channel.Content != "none" {
		event.Part = append(event.Part, param{Name: "focus", ValueReference: &reference{m.ref(e.Reference())}})
	}
	status, err := json.Marshal(map[string]any{
		"resourceType": "Parameters",
		"meta":         map[string]any{"profile": []string{statusProfile}},
		"parameter": []param{
			{Name: "subscription", ValueReference: &reference{m.ref("Subscription/" + sub.ID)}},
			{Name: "status", ValueCode: sub.Status},
			{Name: "type", ValueCode: "event-notification"},
			{Name: "events-since-subscription-start", ValueString: seq},
			event,
		},
	})
	if err != nil {
		return nil, err
	}
	entries := []entry{{
		FullURL: "urn:uuid:" + uuidFromSeq(sub.ID, e.Sequence), Resource: status,
		Request:  &entryRequest{Method: "GET", URL: "Subscription/" + sub.ID + "/$status"},
		Response: &entryResponse{Status: "200"},
	}}
	if sub.Channel.Content != "none" {
		en := entry{FullURL: m.ref(e.Reference()), Response: &entryResponse{Status: "200"}}
		switch e.Interaction {
		case "create":
			en.Request = &entryRequest{Method: "POST", URL: e.Type}
			en.Response.Status = "201"
		default:
			en.Request = &entryRequest{Method: "PUT", URL: e.Reference()}
		}
		if sub.Channel.Content == "full" {
			body, err := m.version(ctx, e)
			if err != nil {
				return nil, err
			}
			en.Resource = body
		}
		entries = append(entries, en)
	}
	return json.Marshal(map[string]any{
		"resourceType": "Bundle",
		"type":         "history",
		"timestamp":    time.Now().UTC().Format(time.RFC3339Nano),
		"entry":        entries,
	})
}

// uuidFromSeq is a stable UUID for the notification of change seq to
// Subscription id, so that a redelivered Bundle is the same Bundle.
func uuidFromSeq(id string, seq uint64) string {
	h := sha256.Sum256([]byte(id + "#" + strconv.FormatUint(seq, 10)))
	h[6] = h[6]&0x0f | 0x50 // name-based
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
