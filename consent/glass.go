package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/store"
)

// glassKind is the store record kind of the once-per-token-and-patient
// marker of a break-the-glass access.
const glassKind = "consent.break-the-glass"

// breakGlass records each override not yet recorded for this token: the
// audit event, then the Communication to the patient. The marker is taken
// first so that concurrent requests (on any node) record once; it is
// released when recording fails, so that the next request tries again.
func (p *Policy) breakGlass(ctx context.Context, pr *authz.Principal, denied []denial, now time.Time) error {
	fresh := p.claim("glass", pr, denied, now)
	records, shared := store.As[store.Records](p.st)
	return p.recordAll(ctx, len(fresh), func(i int) error {
		d := fresh[i]
		key := strings.TrimPrefix(recordKey("", pr, d.patient), "|")
		if shared {
			err := records.PutRecord(ctx, store.Record{Kind: glassKind, Key: key, Version: 1, Value: []byte(d.consent), Expires: now.Add(recordedFor)})
			if errors.Is(err, store.ErrConflict) {
				return nil // another node or request recorded it
			}
			if err != nil {
				return fmt.Errorf("consent: break-the-glass marker: %w", err)
			}
		}
		err := p.recordGlass(ctx, pr, d, now)
		if err != nil && shared {
			// Best effort: a marker left behind would only skip a report.
			_ = records.DeleteRecord(context.WithoutCancel(ctx), glassKind, key)
		}
		return err
	}, func(i int) { p.release("glass", pr, fresh[i]) })
}

func (p *Policy) recordGlass(ctx context.Context, pr *authz.Principal, d denial, now time.Time) error {
	reason := fmt.Sprintf("purpose of use %s stated; overrides %s", authz.PurposeEmergency, d.consent)
	if err := p.opts.Auditor.Record(ctx, audit.BreakTheGlass(pr.Agent(), "Patient/"+d.patient, reason)); err != nil {
		return err
	}
	return p.notify(ctx, pr, d, now)
}

// notify writes the Communication that tells the patient of the access.
func (p *Policy) notify(ctx context.Context, pr *authz.Principal, d denial, now time.Time) error {
	who := pr.FHIRUser
	if name := p.displayName(ctx, pr.FHIRUser); name != "" {
		who = name + " (" + pr.FHIRUser + ")"
	}
	text := fmt.Sprintf("On %s UTC, %s accessed your health data under emergency access (break-the-glass), "+
		"setting aside your consent %s. This access is recorded in your audit trail.",
		now.UTC().Format("2006-01-02 at 15:04"), who, d.consent)
	patient := "Patient/" + d.patient
	doc := map[string]any{
		"resourceType": "Communication",
		"status":       "completed",
		"category": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/communication-category", "code": "notification"}}}},
		"subject":   map[string]any{"reference": patient},
		"topic":     map[string]any{"text": "Emergency access to your health data"},
		"sent":      now.UTC().Format("2006-01-02T15:04:05.000Z"),
		"recipient": []any{map[string]any{"reference": patient}},
		"sender":    map[string]any{"reference": pr.FHIRUser},
		"reasonCode": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": authz.PurposeEmergency, "display": "Emergency Treatment"}}}},
		"payload": []any{map[string]any{"contentString": text}},
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("consent: notify %s: %w", patient, err)
	}
	if p.resources == nil {
		return fmt.Errorf("consent: notify %s: no FHIR API to write through (UseResources)", patient)
	}
	if _, _, err := p.resources.Create(ctx, "Communication", body, ""); err != nil {
		return fmt.Errorf("consent: notify %s: %w", patient, err)
	}
	return nil
}

// displayName returns the name of a Practitioner (or of a
// PractitionerRole's Practitioner), or "".
func (p *Policy) displayName(ctx context.Context, ref string) string {
	typ, id, _ := strings.Cut(ref, "/")
	res, err := p.st.Read(ctx, typ, id)
	if err != nil || res.Deleted {
		return ""
	}
	if typ == "PractitionerRole" {
		refs := map[string]bool{}
		addRefs(refs, res.Body, "practitioner")
		for r := range refs {
			return p.displayName(ctx, r)
		}
		return ""
	}
	var doc struct {
		Name []struct {
			Text   string   `json:"text"`
			Family string   `json:"family"`
			Given  []string `json:"given"`
			Prefix []string `json:"prefix"`
		} `json:"name"`
	}
	if json.Unmarshal(res.Body, &doc) != nil || len(doc.Name) == 0 {
		return ""
	}
	n := doc.Name[0]
	if n.Text != "" {
		return n.Text
	}
	return strings.TrimSpace(strings.Join(append(append(n.Prefix, n.Given...), n.Family), " "))
}
