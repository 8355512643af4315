package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// Event is one committed write: a new version of a resource.
type Event struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Version int64  `json:"version"`
	// Interaction is "create", "update", "patch" or "delete".
	Interaction string    `json:"interaction"`
	LastUpdated time.Time `json:"lastUpdated"`
	// Patient is the id of the patient the resource belongs to: a Patient's
	// own id, else the Patient its "patient" or "subject" reference names;
	// empty when none.
	Patient string `json:"patient,omitempty"`
	// Writer is who made the write; nil for writes of TeleHub itself
	// (in-process callers with no request principal).
	Writer *Writer `json:"writer,omitempty"`
	// Internal marks the Subscription status changes the Subscriptions
	// manager writes itself; it acts on them no further.
	Internal bool `json:"internal,omitempty"`

	// Sequence is the event's sequence number in the change stream, set on
	// events read from it: stable across redeliveries.
	Sequence uint64 `json:"-"`
}

// Writer is the principal of the request that made a write.
type Writer struct {
	Subject  string `json:"subject,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	FHIRUser string `json:"fhirUser,omitempty"`
	// Patient is the token's patient context (an id).
	Patient string `json:"patient,omitempty"`
	// Scopes are the token's scopes, space-separated.
	Scopes string `json:"scopes,omitempty"`
}

// Subject is the NATS subject of the event.
func (e *Event) Subject() string { return SubjectPrefix + e.Type }

// Reference is "Type/id".
func (e *Event) Reference() string { return e.Type + "/" + e.ID }

// writerOf turns a request principal into a Writer (nil for none).
func writerOf(p *authz.Principal) *Writer {
	if p == nil {
		return nil
	}
	return &Writer{
		Subject: p.Subject, ClientID: p.ClientID, FHIRUser: p.FHIRUser,
		Patient: p.Patient, Scopes: smart.FormatScopes(p.Grants.Scopes),
	}
}

// interactionOf names the interaction that made w.
func interactionOf(w *store.Write) string {
	switch {
	case w.Deleted || w.Method == "DELETE":
		return "delete"
	case w.Version == 1:
		return "create" // POST, or PUT/PATCH creating the resource
	case w.Method == "PATCH":
		return "patch"
	default:
		return "update"
	}
}

// patientOfIndex finds the patient of a resource in its index entries:
// the "patient" reference first, then "subject".
func patientOfIndex(index []store.IndexEntry) string {
	subject := ""
	for _, e := range index {
		if e.Kind != store.KindReference || !strings.HasPrefix(e.Text, "Patient/") {
			continue
		}
		switch e.Param {
		case "patient":
			return strings.TrimPrefix(e.Text, "Patient/")
		case "subject":
			if subject == "" {
				subject = strings.TrimPrefix(e.Text, "Patient/")
			}
		}
	}
	return subject
}

// patientOfBody finds the patient of a resource in its JSON, for deletions
// (which carry no index entries): the "patient" then "subject" reference.
func patientOfBody(body []byte) string {
	var r struct {
		Patient struct{ Reference string } `json:"patient"`
		Subject struct{ Reference string } `json:"subject"`
	}
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	for _, ref := range []string{r.Patient.Reference, r.Subject.Reference} {
		if id, ok := strings.CutPrefix(ref, "Patient/"); ok && id != "" && !strings.Contains(id, "/") {
			return id
		}
	}
	return ""
}

// message is the JetStream message of e, with its id for deduplication.
func (e *Event) message() (*nats.Msg, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("events: encode %s: %w", e.Reference(), err)
	}
	m := nats.NewMsg(e.Subject())
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s/%s/_history/%d", e.Type, e.ID, e.Version))
	return m, nil
}

// decodeEvent reads an event from a stream message.
func decodeEvent(m jetstream.Msg) (*Event, error) {
	var e Event
	if err := json.Unmarshal(m.Data(), &e); err != nil {
		return nil, fmt.Errorf("events: decode %s: %w", m.Subject(), err)
	}
	if e.Type == "" || e.ID == "" {
		return nil, fmt.Errorf("events: decode %s: no type or id", m.Subject())
	}
	if md, err := m.Metadata(); err == nil {
		e.Sequence = md.Sequence.Stream
	}
	return &e, nil
}
