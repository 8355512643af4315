package fhir

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
)

// trailKey is the echo context key of the request's audit trail, present
// only when an auditor is set.
const trailKey = "fhir.audit.trail"

// trail collects the audit entries of one request. Most interactions add
// none and get one entry described from the request and its answer; a
// batch or transaction adds one per Bundle entry.
type trail struct{ entries []auditEntry }

// auditEntry is one interaction to record.
type auditEntry struct {
	kind    string // read, create, update, delete, search
	target  audit.Target
	query   string // the search, for kind search
	patient string // "Patient/id" or ""
	status  int
}

// recordTrail records the request's audit events, in order.
func (s *Server) recordTrail(c echo.Context, tr *trail, status int, body []byte) error {
	entries := tr.entries
	if len(entries) == 0 {
		entries = []auditEntry{s.describe(c, status, body)}
	}
	ctx := c.Request().Context()
	agent := audit.Agent{Address: authz.ClientAddress(c.Request())}
	if p := authz.FromContext(ctx); p != nil {
		agent = p.Agent()
	}
	for _, e := range entries {
		if err := s.opts.Audit.Record(ctx, e.event(agent)); err != nil {
			return fmt.Errorf("fhir: audit %s: %w", e.kind, err)
		}
	}
	return nil
}

func (e auditEntry) event(agent audit.Agent) audit.Event {
	outcome := audit.OutcomeOf(e.status)
	switch e.kind {
	case "read":
		return audit.Read(agent, e.target, e.patient, outcome)
	case "create":
		return audit.Create(agent, e.target, e.patient, outcome)
	case "update":
		return audit.Update(agent, e.target, e.patient, outcome)
	case "delete":
		return audit.Delete(agent, e.target, e.patient, outcome)
	}
	return audit.Search(agent, e.target.Type, e.query, e.patient, outcome)
}

// describe makes the audit entry of a single interaction from the request
// and its answer.
func (s *Server) describe(c echo.Context, status int, body []byte) auditEntry {
	interaction, _ := c.Get(InteractionKey).(string)
	typ, id := c.Param("type"), c.Param("id")
	e := auditEntry{status: status, target: audit.Target{Type: typ, ID: id}}
	if isOperation(typ) || isOperation(id) {
		e.target = audit.Target{}
	}
	ok := status < 300
	switch interaction {
	case "read", "vread", "history-instance":
		e.kind = "read"
		if vid := c.Param("vid"); vid != "" { // not parsed when absent: its error allocates
			if v, err := strconv.ParseInt(vid, 10, 64); err == nil {
				e.target.Version = v
			}
		}
		if ok {
			e.patient = patientOf(typ, id, body)
		}
		if interaction == "history-instance" {
			e.patient = patientOf(typ, id, nil)
		}
		return e
	case "create", "update", "patch", "delete":
		e.kind = map[string]string{"create": "create", "update": "update", "patch": "update", "delete": "delete"}[interaction]
		if t, i, ok := locationTarget(c.Response().Header().Get("Content-Location")); ok {
			e.target.Type, e.target.ID = t, i
		}
		if ok {
			e.patient = patientOf(e.target.Type, e.target.ID, body)
		}
		return e
	}
	e.kind = "search"
	e.query = c.Request().URL.RawQuery
	if comp := c.Param("comp"); comp != "" || isOperation(id) {
		// A compartment search or an operation: name the path.
		e.query = strings.TrimPrefix(c.Request().URL.Path, "/fhir/") + "?" + c.Request().URL.RawQuery
		e.target = audit.Target{}
		if typ == "Patient" && id != "" && !isOperation(id) {
			e.patient = "Patient/" + id
		}
	} else if isOperation(typ) {
		e.query = typ + "?" + c.Request().URL.RawQuery
	}
	if e.patient == "" {
		e.patient = searchPatient(authz.FromContext(c.Request().Context()), typ, c.QueryParams())
	}
	e.target.ID = ""
	return e
}

// searchPatient is the patient a search is about: the token's patient
// context, or the patient a patient or subject parameter names.
func searchPatient(p *authz.Principal, typ string, q url.Values) string {
	if p != nil && p.Patient != "" {
		return "Patient/" + p.Patient
	}
	for _, name := range []string{"patient", "subject", "subject:Patient"} {
		v := q.Get(name)
		if v == "" || strings.Contains(v, ",") {
			continue
		}
		if strings.HasPrefix(v, "Patient/") {
			return v
		}
		if name != "subject" && !strings.Contains(v, "/") && validID(v) {
			return "Patient/" + v
		}
	}
	if typ == "Patient" {
		if v := q.Get("_id"); v != "" && validID(v) {
			return "Patient/" + v
		}
	}
	return ""
}

// locationTarget reads Type and id from a Location or Content-Location
// (".../Type/id/_history/n").
func locationTarget(loc string) (typ, id string, ok bool) {
	parts := strings.Split(loc, "/")
	if len(parts) < 4 || parts[len(parts)-2] != "_history" {
		return "", "", false
	}
	return parts[len(parts)-4], parts[len(parts)-3], true
}

// patientOf is the patient a resource is about: the Patient itself, or the
// patient its subject, patient or beneficiary element references.
func patientOf(typ, id string, body []byte) string {
	if typ == "Patient" && id != "" {
		return "Patient/" + id
	}
	if len(body) == 0 {
		return ""
	}
	refs, ok := scanPatientRefs(body)
	if !ok {
		refs, ok = decodePatientRefs(body)
	}
	if !ok || refs.resourceType != typ {
		return ""
	}
	for _, ref := range []string{refs.subject, refs.patient, refs.beneficiary} {
		if strings.HasPrefix(ref, "Patient/") {
			return ref
		}
	}
	return ""
}

// patientRefs are the members of a resource patientOf reads.
type patientRefs struct {
	resourceType, subject, patient, beneficiary string
}

// decodePatientRefs reads them with encoding/json; false when the body
// does not decode (a member of the wrong shape included).
func decodePatientRefs(body []byte) (patientRefs, bool) {
	var doc struct {
		ResourceType string                     `json:"resourceType"`
		Subject      struct{ Reference string } `json:"subject"`
		Patient      struct{ Reference string } `json:"patient"`
		Beneficiary  struct{ Reference string } `json:"beneficiary"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return patientRefs{}, false
	}
	return patientRefs{doc.ResourceType, doc.Subject.Reference, doc.Patient.Reference, doc.Beneficiary.Reference}, true
}

// noteSteps adds the audit entries of a batch or transaction's entries.
func noteSteps(c echo.Context, steps []*step) {
	tr, _ := c.Get(trailKey).(*trail)
	if tr == nil {
		return
	}
	for _, st := range steps {
		if st == nil {
			continue
		}
		e := auditEntry{kind: "read", target: audit.Target{Type: st.typ, ID: st.id}, status: http.StatusBadRequest}
		if r := st.out.Response; r != nil {
			if n, err := strconv.Atoi(strings.Fields(r.Status + " 0")[0]); err == nil {
				e.status = n
			}
			if t, i, ok := locationTarget(r.Location); ok {
				e.target = audit.Target{Type: t, ID: i}
			}
		}
		switch {
		case st.isWrite():
			e.kind = map[string]string{http.MethodPost: "create", http.MethodPut: "update", http.MethodPatch: "update", http.MethodDelete: "delete"}[st.cl.method]
			if e.target.Type == "" {
				e.target = audit.Target{Type: st.cl.typ, ID: st.cl.id}
			}
		case st.id == "":
			e.kind, e.query = "search", st.params.Encode()
			e.patient = searchPatient(authz.FromContext(c.Request().Context()), st.typ, st.params)
		}
		switch {
		case e.patient != "": // a search's, from its parameters
		case e.status < 300 && len(st.out.Resource) > 0:
			e.patient = patientOf(e.target.Type, e.target.ID, st.out.Resource)
		case e.target.Type == "Patient" && e.target.ID != "":
			e.patient = "Patient/" + e.target.ID
		}
		tr.entries = append(tr.entries, e)
	}
}
