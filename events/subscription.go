package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/telehub/telehub/fhir"
)

// The R4 Subscription statuses.
const (
	statusRequested = "requested"
	statusActive    = "active"
	statusError     = "error"
	statusOff       = "off"
)

// The channel types TeleHub delivers.
const (
	channelRestHook  = "rest-hook"
	channelWebSocket = "websocket"
)

// contentExtension is the R4 backport's payload content extension
// (http://hl7.org/fhir/uv/subscriptions-backport): none, id-only or full.
const contentExtension = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content"

// subscription is what delivery needs of a Subscription resource.
type subscription struct {
	ID       string
	Version  int64
	Status   string
	Criteria string
	// End is when the Subscription turns off (zero: never).
	End     time.Time
	Channel channel
	// Type and Params are the parsed criteria.
	Type   string
	Params url.Values
}

type channel struct {
	Type     string   `json:"type"`
	Endpoint string   `json:"endpoint"`
	Payload  string   `json:"payload"`
	Header   []string `json:"header"`
	// Content is the backport extension's code ("" without it).
	Content string `json:"-"`
}

var resourceType = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)

// parseSubscription reads a Subscription resource's JSON. Criteria are
// parsed but not checked against the search parser (see manager.validate).
func parseSubscription(id string, version int64, body []byte) (*subscription, error) {
	var r struct {
		ResourceType string `json:"resourceType"`
		Status       string `json:"status"`
		Criteria     string `json:"criteria"`
		End          string `json:"end"`
		Channel      struct {
			channel
			PayloadExt struct {
				Extension []struct {
					URL       string `json:"url"`
					ValueCode string `json:"valueCode"`
				} `json:"extension"`
			} `json:"_payload"`
		} `json:"channel"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("Subscription/%s is not valid JSON: %w", id, err)
	}
	if r.ResourceType != "Subscription" {
		return nil, fmt.Errorf("Subscription/%s has resourceType %q", id, r.ResourceType)
	}
	s := &subscription{ID: id, Version: version, Status: r.Status, Criteria: r.Criteria, Channel: r.Channel.channel}
	if r.End != "" {
		end, err := time.Parse(time.RFC3339Nano, r.End)
		if err != nil {
			return nil, fmt.Errorf("Subscription/%s: end %q is not an instant", id, r.End)
		}
		s.End = end
	}
	for _, ext := range r.Channel.PayloadExt.Extension {
		if ext.URL == contentExtension {
			s.Channel.Content = ext.ValueCode
		}
	}
	return s, nil
}

// expired reports whether the Subscription's end has passed.
func (s *subscription) expired(now time.Time) bool { return !s.End.IsZero() && !now.Before(s.End) }

// parseCriteria splits "Observation?code=x" into its type and parameters.
func parseCriteria(criteria string) (string, url.Values, error) {
	criteria = strings.TrimSpace(criteria)
	if criteria == "" {
		return "", nil, errors.New("the Subscription has no criteria")
	}
	typ, query, _ := strings.Cut(criteria, "?")
	if !resourceType.MatchString(typ) {
		return "", nil, fmt.Errorf("criteria %q do not start with a resource type (e.g. Observation?code=…)", criteria)
	}
	params, err := url.ParseQuery(query)
	if err != nil {
		return "", nil, fmt.Errorf("criteria %q: malformed query: %v", criteria, err)
	}
	for name := range params {
		switch name {
		case "_id", "_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total":
			// _id would be overwritten by the match query; the others
			// shape a result page and select nothing.
			return "", nil, fmt.Errorf("criteria %q: parameter %s is not allowed in Subscription criteria", criteria, name)
		}
	}
	return typ, params, nil
}

// checkChannel reports what is wrong with a channel TeleHub cannot deliver to.
// Health data leave only over TLS: a rest-hook endpoint must be https,
// or http on a loopback address, unless allowHTTP.
func checkChannel(c channel, allowHTTP bool) error {
	switch c.Type {
	case channelRestHook:
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("channel.endpoint %q is not an http(s) URL", c.Endpoint)
		}
		if u.Scheme == "http" && !allowHTTP && !loopback(u.Hostname()) {
			return fmt.Errorf("channel.endpoint %q must use https", c.Endpoint)
		}
		for _, h := range c.Header {
			name, value, ok := strings.Cut(h, ":")
			name = strings.TrimSpace(name)
			if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
				return fmt.Errorf("channel.header %q is not a \"Name: value\" HTTP header", h)
			}
		}
	case channelWebSocket:
	case "":
		return errors.New("the Subscription has no channel.type")
	default:
		return fmt.Errorf("channel type %q is not supported (rest-hook and websocket are)", c.Type)
	}
	switch c.Payload {
	case "", "application/fhir+json", "application/json":
	default:
		return fmt.Errorf("channel.payload %q is not supported (empty or application/fhir+json)", c.Payload)
	}
	switch c.Content {
	case "", "none", "id-only", "full":
	default:
		return fmt.Errorf("payload content %q is not none, id-only or full", c.Content)
	}
	return nil
}

// setStatus writes the Subscription's status (and error text, removed
// when empty) as a new version, through the FHIR API, marked internal.
func (m *Subscriptions) setStatus(ctx context.Context, id, status, errText string) error {
	ctx = withInternal(ctx)
	for attempt := 0; ; attempt++ {
		cur, err := m.opts.FHIR.Read(ctx, "Subscription", id)
		if err != nil {
			return fmt.Errorf("events: read Subscription/%s: %w", id, err)
		}
		var body map[string]any
		if err := json.Unmarshal(cur.Body, &body); err != nil {
			return fmt.Errorf("events: Subscription/%s: %w", id, err)
		}
		old, _ := body["error"].(string)
		if body["status"] == status && old == errText {
			return nil
		}
		body["status"] = status
		if errText != "" {
			body["error"] = errText
		} else {
			delete(body, "error")
		}
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		_, err = m.opts.FHIR.Update(ctx, "Subscription", id, data, cur.VersionID)
		if err == nil {
			m.log.Info("subscription status", "subscription", id, "status", status, "error", errText)
			return nil
		}
		if fhir.StatusOf(err) != http.StatusPreconditionFailed || attempt == 3 {
			return fmt.Errorf("events: set Subscription/%s %s: %w", id, status, err)
		}
	}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
