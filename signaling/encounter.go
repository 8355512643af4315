package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir"
	"github.com/telehub/telehub/smart"
)

// encounter is what the relay reads of an Encounter.
type encounter struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Type   []struct {
		Coding []struct {
			Code string `json:"code"`
		} `json:"coding"`
	} `json:"type"`
	Subject     *reference `json:"subject"`
	Participant []struct {
		Individual *reference `json:"individual"`
	} `json:"participant"`
	version int64
}

type reference struct {
	Reference string `json:"reference"`
}

// ref returns a reference as "Type/id", whether it was written relative or absolute.
func (r *reference) ref() string {
	if r == nil {
		return ""
	}
	parts := strings.Split(strings.TrimRight(r.Reference, "/"), "/")
	if n := len(parts); n >= 2 {
		if n >= 4 && parts[n-2] == "_history" {
			return parts[n-4] + "/" + parts[n-3]
		}
		return parts[n-2] + "/" + parts[n-1]
	}
	return r.Reference
}

// meshTypes are the Encounter.type codes of multi-party sessions.
var meshTypes = map[string]bool{"e-staff": true, "rcp": true, "tele-expertise": true}

// Room sizes.
const (
	oneToOneMax = 2
	meshMax     = 8
)

// mode returns the room mode and capacity the Encounter calls for.
func (e *encounter) mode() (string, int) {
	for _, t := range e.Type {
		for _, c := range t.Coding {
			if meshTypes[strings.ToLower(c.Code)] {
				return "mesh", meshMax
			}
		}
	}
	return "one-to-one", oneToOneMax
}

// patientID is the id of the Encounter's subject when it is a Patient.
func (e *encounter) patientID() string {
	if s := e.Subject.ref(); strings.HasPrefix(s, "Patient/") {
		return strings.TrimPrefix(s, "Patient/")
	}
	return ""
}

// listed reports whether fhirUser is the Encounter's subject or one of its participants.
func (e *encounter) listed(fhirUser string) bool {
	if fhirUser == "" {
		return false
	}
	if e.Subject.ref() == fhirUser {
		return true
	}
	for _, p := range e.Participant {
		if p.Individual.ref() == fhirUser {
			return true
		}
	}
	return false
}

var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// resolveRoom finds the Encounter a join names ("Encounter/ID" or "Appointment/ID").
func (r *Relay) resolveRoom(ctx context.Context, room string) (*encounter, error) {
	typ, id, ok := strings.Cut(room, "/")
	if !ok || !fhirID.MatchString(id) {
		return nil, fail("bad_message", `"room" must be "Encounter/ID" or "Appointment/ID"`)
	}
	switch typ {
	case "Encounter":
	case "Appointment":
		found, err := r.opts.FHIR.Find(ctx, "Encounter", url.Values{"appointment": {"Appointment/" + id}}, 2)
		if err != nil {
			return nil, r.fhirError("find the Encounter of "+room, err)
		}
		if len(found) == 0 {
			return nil, fail("not_found", "no Encounter fulfils "+room)
		}
		id = found[0].ID
	default:
		return nil, fail("bad_message", `"room" must be "Encounter/ID" or "Appointment/ID"`)
	}
	return r.readEncounter(ctx, id)
}

func (r *Relay) readEncounter(ctx context.Context, id string) (*encounter, error) {
	res, err := r.opts.FHIR.Read(ctx, "Encounter", id)
	if err != nil {
		return nil, r.fhirError("read Encounter/"+id, err)
	}
	var e encounter
	if err := json.Unmarshal(res.Body, &e); err != nil {
		return nil, fmt.Errorf("signaling: decode Encounter/%s: %w", id, err)
	}
	e.version = res.VersionID
	return &e, nil
}

// fhirError turns an in-process FHIR error into the client's error, or a
// server error.
func (r *Relay) fhirError(what string, err error) error {
	switch fhir.StatusOf(err) {
	case http.StatusNotFound, http.StatusGone:
		return fail("not_found", "no such room: "+what+" found nothing")
	case http.StatusBadRequest:
		return fail("bad_message", what+": "+err.Error())
	}
	return fmt.Errorf("signaling: %s: %w", what, err)
}

// mayJoin checks that p may read the Encounter and is listed in it.
func (r *Relay) mayJoin(ctx context.Context, p *authz.Principal, e *encounter) error {
	if p.Insecure {
		return nil
	}
	d := p.Grants.Allow(smart.Read, "Encounter", nil)
	allowed := d.Unrestricted
	for _, c := range d.AnyOf {
		if allowed {
			break
		}
		if c.Compartment != "" && c.Compartment != e.Subject.ref() {
			continue
		}
		if c.Params == nil {
			allowed = true
			continue
		}
		q := url.Values{}
		for k, v := range c.Params {
			q[k] = v
		}
		q.Set("_id", e.ID)
		found, err := r.opts.FHIR.Find(ctx, "Encounter", q, 1)
		if err != nil && fhir.StatusOf(err) >= 500 {
			return fmt.Errorf("signaling: check scope query: %w", err)
		}
		allowed = err == nil && len(found) > 0
	}
	if !allowed {
		return fail("forbidden", "the access token may not read Encounter/"+e.ID)
	}
	if !e.listed(p.FHIRUser) {
		return fail("forbidden", "you are neither the subject nor a participant of Encounter/"+e.ID)
	}
	return nil
}

// ended reports whether an Encounter's session can no longer be joined.
func ended(status string) bool {
	return status == "finished" || status == "cancelled" || status == "entered-in-error"
}

// setStatus moves the Encounter to status, setting period.start (for
// "in-progress") or period.end (for "finished") to now. It is a
// compare-and-set on the version, retried when another node won the race;
// nothing is written when the Encounter is already there.
func (r *Relay) setStatus(ctx context.Context, id, status string) error {
	for attempt := 0; attempt < 5; attempt++ {
		res, err := r.opts.FHIR.Read(ctx, "Encounter", id)
		if err != nil {
			return fmt.Errorf("signaling: read Encounter/%s: %w", id, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(res.Body, &doc); err != nil {
			return fmt.Errorf("signaling: decode Encounter/%s: %w", id, err)
		}
		current, _ := doc["status"].(string)
		if current == status || ended(current) || (status == "in-progress" && current == "finished") {
			return nil
		}
		now := time.Now().UTC().Format(time.RFC3339)
		period, _ := doc["period"].(map[string]any)
		if period == nil {
			period = map[string]any{}
		}
		switch status {
		case "in-progress":
			period["start"] = now
			delete(period, "end")
		case "finished":
			if _, ok := period["start"]; !ok {
				period["start"] = now
			}
			period["end"] = now
		}
		doc["period"] = period
		doc["status"] = status
		delete(doc, "meta")
		body, _ := json.Marshal(doc)
		_, err = r.opts.FHIR.Update(ctx, "Encounter", id, body, res.VersionID)
		switch fhir.StatusOf(err) {
		case http.StatusPreconditionFailed, http.StatusConflict:
			continue
		}
		if err != nil {
			return fmt.Errorf("signaling: set Encounter/%s %s: %w", id, status, err)
		}
		return nil
	}
	return fmt.Errorf("signaling: set Encounter/%s %s: too many concurrent updates", id, status)
}
