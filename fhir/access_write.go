package fhir

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/smart"
	"github.com/telehub/telehub/store"
)

// writeInteraction is the SMART permission a write call needs; an update
// that creates the resource needs create.
func writeInteraction(ch *change) smart.Interaction {
	switch ch.call.method {
	case http.MethodPost:
		return smart.Create
	case http.MethodDelete:
		return smart.Delete
	case http.MethodPut:
		if ch.current == nil || ch.current.Deleted {
			return smart.Create
		}
	}
	return smart.Update
}

// callInteraction is the permission a write call's conditional search is
// checked with, before the change is resolved.
func callInteraction(method string) smart.Interaction {
	switch method {
	case http.MethodPost:
		return smart.Create
	case http.MethodDelete:
		return smart.Delete
	}
	return smart.Update
}

// protectedWrite refuses patching or deleting an AuditEvent: the audit
// trail is append-only, for every caller, open server included. (An update
// is refused once its target is known: see protectedChange.)
func protectedWrite(cl *call) error {
	if audit.IsProtected(cl.typ) && (cl.method == http.MethodPatch || cl.method == http.MethodDelete) {
		return newError(http.StatusMethodNotAllowed, codeNotSupported, "%s resources cannot be updated, patched or deleted", cl.typ)
	}
	return nil
}

// auditTrailIDs is the id prefix of the audit trail's own events
// (audit.EventID): a client may not take one, or the recorder's next
// event would fail to commit.
var auditTrailIDs = strings.TrimSuffix(audit.EventID(0), "0")

// protectedChange refuses an update of an existing AuditEvent; an update
// that creates one (other systems' events stored with their own id) is a
// create, except under the ids of the audit trail.
func protectedChange(ch *change) error {
	if err := protectedWrite(ch.call); err != nil {
		return err
	}
	if !audit.IsProtected(ch.call.typ) || ch.call.method != http.MethodPut {
		return nil
	}
	if ch.current != nil || strings.HasPrefix(ch.id, auditTrailIDs) {
		return newError(http.StatusMethodNotAllowed, codeNotSupported, "%s resources cannot be updated, patched or deleted", ch.call.typ)
	}
	return nil
}

// authorizeChange checks a built change against the request's token and
// consent, before it is committed: the version replaced (or deleted) must
// be one the token may change, and the version written must stay within
// the token's compartment and scope queries (checked on its index
// entries, which the store would match the same way).
func (s *Server) authorizeChange(ctx context.Context, ch *change) error {
	if err := protectedChange(ch); err != nil {
		return err
	}
	a := accessOf(ctx)
	if a == nil {
		return nil
	}
	cl := ch.call
	i := writeInteraction(ch)
	if cl.typ == "SearchParameter" {
		// A SearchParameter changes what every search of the server means.
		if err := a.requireSystem(i, cl.typ, "writing a SearchParameter"); err != nil {
			return err
		}
	}
	if ch.found != nil {
		// A conditional create that found its match writes nothing; the
		// match came from a search already restricted to the token.
		return nil
	}
	d, err := a.decide(i, cl.typ, nil)
	if err != nil {
		return err
	}
	clauses, none, err := s.scopeClauses(d, cl.typ)
	if err != nil {
		return err
	}
	if none {
		return forbidden("the access token may %s %s only in its compartment, which holds no %s", verbs[i], cl.typ, cl.typ)
	}
	replaced := ch.targets
	if len(replaced) == 0 && ch.current != nil && !ch.current.Deleted {
		replaced = []store.Resource{*ch.current}
	}
	for _, r := range replaced {
		if len(clauses) > 0 {
			found, err := s.exists(ctx, r.Type, r.ID, clauses)
			if err != nil {
				return err
			}
			if !found {
				return forbidden("%s/%s is outside what the access token may %s", r.Type, r.ID, verbs[i])
			}
		}
		if err := s.checkConsent(ctx, a, r.Type, r.ID); err != nil {
			return err
		}
	}
	for _, w := range ch.writes {
		if w.Deleted {
			continue
		}
		ok, err := s.writeMatches(ctx, w, clauses)
		if err != nil {
			return err
		}
		if !ok {
			return forbidden("the %s written would be outside what the access token may %s (its compartment or scope query)", w.Type, verbs[i])
		}
		if d := s.deniedPatientOf(ctx, a.denied, w); d != "" {
			return consentDenied(d)
		}
	}
	return nil
}

// writeMatches evaluates clauses on a written version's id and index
// entries as the store would. Only the conditions scope clauses are made of are
// evaluated (id, text operators); any other is refused as uncheckable.
func (s *Server) writeMatches(ctx context.Context, w store.Write, clauses []store.Clause) (bool, error) {
	for _, cl := range clauses {
		any := false
		for _, c := range cl.Any {
			ok, err := s.writeMatchesCondition(ctx, w, c)
			if err != nil {
				return false, err
			}
			if ok {
				any = true
				break
			}
		}
		if !any {
			return false, nil
		}
	}
	return true, nil
}

// writeMatchesCondition evaluates one condition of a clause on a written
// version. The entries of a PartialIndex write are its own and, for the
// parameters it keeps, the current version's too: a condition on one of
// those that its own entries do not meet asks the current version.
func (s *Server) writeMatchesCondition(ctx context.Context, w store.Write, c store.Condition) (bool, error) {
	found, err := conditionFound(c, w.ID, w.Index)
	if err != nil {
		return false, err
	}
	if !found && w.PartialIndex && keepsParam(w, c.Param) {
		c.Not = false
		if found, err = s.exists(ctx, w.Type, w.ID, []store.Clause{{Any: []store.Condition{c}}}); err != nil {
			return false, err
		}
	}
	return found != c.Not, nil
}

// keepsParam reports whether a PartialIndex write keeps the current
// version's entries of param.
func keepsParam(w store.Write, param string) bool {
	return param != store.ParamID && !store.IsFullText(param) && !slices.Contains(w.Replaced, param)
}

// conditionFound reports whether an entry of index (or the id) meets c,
// c.Not aside.
func conditionFound(c store.Condition, id string, index []store.IndexEntry) (bool, error) {
	if c.Chain != nil || c.Has != nil || c.Op == store.OpMissing || c.Param == store.ParamLastUpdated {
		return false, forbidden("the access token's scope query on parameter %q cannot be checked on a write", c.Param)
	}
	var match func(string) bool
	switch c.Op {
	case store.OpExact:
		match = func(t string) bool { return t == c.Text }
	case store.OpPrefix:
		match = func(t string) bool { return strings.HasPrefix(t, c.Text) }
	case store.OpContains:
		match = func(t string) bool { return strings.Contains(t, c.Text) }
	default:
		return false, forbidden("the access token's scope query on parameter %q cannot be checked on a write", c.Param)
	}
	if c.Param == store.ParamID {
		return match(id), nil
	}
	for _, e := range index {
		if e.Param == c.Param && match(e.Text) {
			return true, nil
		}
	}
	return false, nil
}

// deniedPatientOf returns the denied patient whose compartment a written
// version would be in ("" when none).
func (s *Server) deniedPatientOf(ctx context.Context, denied []string, w store.Write) string {
	for _, d := range denied {
		if w.Type == "Patient" && w.ID == d {
			return d
		}
		clause, ok := compartmentMembership("Patient/"+d, w.Type)
		if !ok {
			continue
		}
		if in, _ := s.writeMatches(ctx, w, []store.Clause{clause}); in {
			return d
		}
	}
	return ""
}
