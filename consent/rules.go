package consent

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/telehub/telehub/fhir/search"
)

// The codes this package reads in Consents.
const (
	scopeSystem  = "http://terminology.hl7.org/CodeSystem/consentscope"
	scopePrivacy = "patient-privacy"
	// purposeTreatment is the purpose of use of a request that states none.
	purposeTreatment = "TREAT"
)

// rule is one active patient-privacy Consent reduced to what decides access.
type rule struct {
	ref     string // "Consent/id"
	patient string // the patient's id
	version int64
	root    provision
}

// provision is one node of a Consent's provision tree.
type provision struct {
	typ      string // "permit", "deny" or "" (inherits its parent's)
	from, to int64  // the period as [from, to) Unix milliseconds; 0: open
	actors   []string
	purposes []string // v3-ActReason codes
	// narrowed: the provision concerns only some data or actions.
	narrowed bool
	children []provision
}

// The JSON shapes read from a Consent.
type consentJSON struct {
	ID        string         `json:"id"`
	Status    string         `json:"status"`
	Scope     conceptJSON    `json:"scope"`
	Patient   *referenceJSON `json:"patient"`
	Provision *provisionJSON `json:"provision"`
}

type conceptJSON struct {
	Coding []codingJSON `json:"coding"`
}

type codingJSON struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type referenceJSON struct {
	Reference string `json:"reference"`
}

type provisionJSON struct {
	Type   string `json:"type"`
	Period *struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"period"`
	Actor []struct {
		Reference referenceJSON `json:"reference"`
	} `json:"actor"`
	Purpose       []codingJSON      `json:"purpose"`
	Action        []json.RawMessage `json:"action"`
	SecurityLabel []json.RawMessage `json:"securityLabel"`
	Class         []json.RawMessage `json:"class"`
	Code          []json.RawMessage `json:"code"`
	DataPeriod    json.RawMessage   `json:"dataPeriod"`
	Data          []json.RawMessage `json:"data"`
	Provision     []provisionJSON   `json:"provision"`
}

// parseRule reads a stored Consent. It returns nil (and no error) for a
// Consent that restricts nobody: not active, another scope, no patient or
// no provision.
func parseRule(body []byte, version int64) (*rule, error) {
	var c consentJSON
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("consent: read Consent: %w", err)
	}
	if c.Status != "active" || !c.Scope.has(scopeSystem, scopePrivacy) || c.Patient == nil || c.Provision == nil {
		return nil, nil
	}
	patient, ok := patientID(c.Patient.Reference)
	if !ok {
		return nil, nil
	}
	root, err := c.Provision.reduce()
	if err != nil {
		// A provision this package cannot read (a date it does not parse)
		// must not open the data: the Consent denies everyone.
		root = provision{typ: "deny"}
	}
	return &rule{ref: "Consent/" + c.ID, patient: patient, version: version, root: root}, nil
}

func (c conceptJSON) has(system, code string) bool {
	for _, x := range c.Coding {
		if x.Code == code && (x.System == system || x.System == "") {
			return true
		}
	}
	return false
}

func (p *provisionJSON) reduce() (provision, error) {
	out := provision{
		typ: p.Type,
		narrowed: len(p.Action) > 0 || len(p.SecurityLabel) > 0 || len(p.Class) > 0 || len(p.Code) > 0 ||
			len(p.DataPeriod) > 0 || len(p.Data) > 0,
	}
	if p.Period != nil {
		if p.Period.Start != "" {
			low, _, err := search.DateRange(p.Period.Start)
			if err != nil {
				return out, fmt.Errorf("provision period start: %w", err)
			}
			out.from = int64(low)
		}
		if p.Period.End != "" {
			_, high, err := search.DateRange(p.Period.End)
			if err != nil {
				return out, fmt.Errorf("provision period end: %w", err)
			}
			out.to = int64(high)
		}
	}
	for _, a := range p.Actor {
		if ref := relativeRef(a.Reference.Reference); ref != "" {
			out.actors = append(out.actors, ref)
		}
	}
	for _, c := range p.Purpose {
		out.purposes = append(out.purposes, c.Code)
	}
	for i := range p.Provision {
		child, err := p.Provision[i].reduce()
		if err != nil {
			return out, err
		}
		out.children = append(out.children, child)
	}
	return out, nil
}

// caller is what a provision is evaluated against.
type caller struct {
	identities map[string]bool // "Type/id" references
	purpose    string
	now        int64 // Unix milliseconds
}

// decision is the outcome of a provision tree for one caller.
type decision struct {
	set   bool // false: the Consent says nothing of the caller
	deny  bool
	named bool // an actor of a deciding provision named the caller
}

// outranks reports whether d wins over e (see the package documentation).
func (d decision) outranks(e decision) bool {
	if !e.set {
		return d.set
	}
	if !d.set {
		return false
	}
	if d.named != e.named {
		return d.named
	}
	return d.deny && !e.deny
}

// decide evaluates the tree for c: the most specific applicable provision wins.
func (r *rule) decide(c *caller) decision {
	return r.root.decide(c, "", false)
}

func (p *provision) decide(c *caller, inherited string, named bool) decision {
	matched, ok := p.applies(c)
	if !ok {
		return decision{}
	}
	typ := p.typ
	if typ == "" {
		typ = inherited
	}
	named = named || matched
	var best decision
	for i := range p.children {
		if d := p.children[i].decide(c, typ, named); d.outranks(best) {
			best = d
		}
	}
	if best.set {
		return best
	}
	if typ != "deny" && typ != "permit" {
		return decision{}
	}
	return decision{set: true, deny: typ == "deny", named: named}
}

// applies reports whether the provision concerns the caller now, and
// whether one of its actors named the caller.
func (p *provision) applies(c *caller) (named, ok bool) {
	if (p.from != 0 && c.now < p.from) || (p.to != 0 && c.now >= p.to) {
		return false, false
	}
	if p.narrowed && p.typ == "permit" {
		return false, false // a permit of some data only does not open the patient
	}
	if len(p.purposes) > 0 && !contains(p.purposes, c.purpose) {
		return false, false
	}
	if len(p.actors) == 0 {
		return false, true
	}
	for _, a := range p.actors {
		if c.identities[a] {
			return true, true
		}
	}
	return false, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// relativeRef reduces a reference to "Type/id": an absolute URL keeps its
// last two segments, a version is dropped; contained and urn references
// give "".
func relativeRef(ref string) string {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	if ref == "" || ref[0] == '#' || strings.HasPrefix(ref, "urn:") {
		return ""
	}
	parts := strings.Split(ref, "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

// patientID returns the id of a Patient reference.
func patientID(ref string) (string, bool) {
	typ, id, ok := strings.Cut(relativeRef(ref), "/")
	return id, ok && typ == "Patient" && id != ""
}

// millis is t as Unix milliseconds.
func millis(t time.Time) int64 { return t.UnixMilli() }
