package dicomweb

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/smart"
)

// access is what one request's caller may see: the ImagingStudy scopes of
// its token and the patients its consent policy closes.
type access struct {
	p        *authz.Principal
	decision smart.Decision
	// mayUpdate, for a store, says whether the token may also add to a
	// study that exists (an update of its ImagingStudy).
	mayUpdate  bool
	denied     []string
	overridden []string
}

// errForbidden carries a 403 reason up to the handler.
type errForbidden string

func (e errForbidden) Error() string { return string(e) }

// authorize checks the caller may do interaction on ImagingStudy, and
// gathers its consent restrictions.
func (s *Server) authorize(ctx context.Context, i smart.Interaction) (*access, error) {
	p := authz.FromContext(ctx)
	if p == nil {
		return nil, errForbidden("no authenticated caller")
	}
	a := &access{p: p, decision: p.Grants.Allow(i, "ImagingStudy", nil)}
	if i == smart.Create {
		a.mayUpdate = p.Grants.Allow(smart.Update, "ImagingStudy", nil).Allowed
	}
	if !a.decision.Allowed {
		verb := map[smart.Interaction]string{smart.Create: "store", smart.Read: "retrieve", smart.Search: "search"}[i]
		return nil, errForbidden(fmt.Sprintf("the access token grants no right to %s imaging studies (ImagingStudy scope)", verb))
	}
	if s.opts.Consent != nil && !p.Insecure {
		r, err := s.opts.Consent.Restrictions(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("consent restrictions: %w", err)
		}
		a.denied, a.overridden = r.DeniedPatients, r.Overridden
	}
	return a, nil
}

// seesPatient reports whether the caller may see the studies of patient (a
// FHIR Patient id; "" when the study is linked to none). A scope limited
// by a query (SMART v2 "ImagingStudy.rs?…") is not evaluated on DICOM data:
// it grants nothing here.
func (a *access) seesPatient(patient string) bool {
	if patient != "" && slices.Contains(a.denied, patient) && !slices.Contains(a.overridden, patient) {
		return false
	}
	if a.decision.Unrestricted {
		return true
	}
	for _, c := range a.decision.AnyOf {
		if c.Params == nil && c.Compartment != "" && c.Compartment == "Patient/"+patient {
			return true
		}
	}
	return false
}

// restricted reports whether some studies may be hidden from the caller.
func (a *access) restricted() bool { return !a.decision.Unrestricted || len(a.denied) > 0 }

// accessError answers the error of authorize.
func (s *Server) accessError(c echo.Context, err error) error {
	if f, ok := err.(errForbidden); ok {
		return fail(c, http.StatusForbidden, "%s", string(f))
	}
	return s.internal(c, "authorization", err)
}

// record audits an event, fail-closed: the caller answers 500 on error.
func (s *Server) record(ctx context.Context, e audit.Event) error {
	if err := s.opts.Audit.Record(detach(ctx), e); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

func patientRef(id string) string {
	if id == "" {
		return ""
	}
	return "Patient/" + id
}
