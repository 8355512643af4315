package fhir

import (
	"bytes"
	"net/http"
	"slices"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/fhir/model"
)

// publicInteractions need no token: clients discover the server with them.
var publicInteractions = []string{"capabilities"}

// guard runs one interaction for its caller: it authenticates the bearer
// token (401), works out what the token and the patients' consents let it
// see, and, when an auditor is set, records the interaction's AuditEvent
// before the answer leaves (fail-closed: 500 when it cannot be recorded).
func (s *Server) guard(c echo.Context, rh routeHandler) error {
	if slices.Contains(publicInteractions, rh.interaction) {
		return s.serve(c, rh)
	}
	if s.opts.Audit == nil {
		return s.authorized(c, rh)
	}
	return s.audited(c, func() error { return s.authorized(c, rh) })
}

// authorized authenticates the request and runs the interaction with its
// access in the context.
func (s *Server) authorized(c echo.Context, rh routeHandler) error {
	if s.opts.Auth == nil {
		return s.serve(c, rh)
	}
	p, err := s.opts.Auth.Authenticate(c.Request())
	if err != nil {
		return s.opts.Auth.Unauthorized(c, err)
	}
	a := &access{p: p}
	ctx := authz.NewContext(c.Request().Context(), p)
	if s.opts.Consent != nil {
		r, err := s.opts.Consent.Restrictions(ctx, p)
		if err != nil {
			return s.fail(c, err)
		}
		for _, d := range r.DeniedPatients {
			if !slices.Contains(r.Overridden, d) {
				a.denied = append(a.denied, d)
			}
		}
	}
	c.SetRequest(c.Request().WithContext(withAccess(ctx, a)))
	return s.serve(c, rh)
}

// serve checks the request's form and runs the interaction, turning errors
// into OperationOutcomes.
func (s *Server) serve(c echo.Context, rh routeHandler) error {
	if err := checkFormat(c.Request()); err != nil {
		return s.fail(c, err)
	}
	if typ := c.Param("type"); typ != "" && !model.IsResourceType(typ) && !isOperation(typ) {
		return s.fail(c, newError(http.StatusNotFound, codeNotSupported, "unknown resource type %q", typ))
	}
	if op := operation(c); op != "" && !servedOperation(c.Request().Method, op) {
		return s.fail(c, newError(http.StatusNotFound, codeNotSupported, "operation %s is not supported", op))
	}
	if id := c.Param("id"); id != "" && !isOperation(id) && !validID(id) {
		return s.fail(c, badRequest(codeValue, "invalid resource id %q", id))
	}
	if err := rh.handle(c); err != nil {
		return s.fail(c, err)
	}
	return nil
}

// heldResponse keeps an answer back until its audit event is recorded:
// headers go to the real writer's map, the status and body wait.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header         { return h.header }
func (h *heldResponse) WriteHeader(status int)      { h.status = status }
func (h *heldResponse) Write(b []byte) (int, error) { return h.body.Write(b) }

// heldResponses recycles held answers: one per audited request.
var heldResponses = sync.Pool{New: func() any { return new(heldResponse) }}

// maxPooledBody is the largest held body whose buffer is recycled: a
// search's page may be megabytes, which the pool should not keep.
const maxPooledBody = 64 << 10

// audited runs fn with its answer held, records the audit events of the
// interaction, then sends the answer; when recording fails the answer is
// dropped and the request fails with 500.
func (s *Server) audited(c echo.Context, fn func() error) error {
	res := c.Response()
	real := res.Writer
	held := heldResponses.Get().(*heldResponse)
	held.header, held.status = real.Header(), 0
	defer func() {
		res.Writer = real // also after a panic, which the recovery answers
		held.header = nil
		if held.body.Cap() <= maxPooledBody {
			held.body.Reset()
			heldResponses.Put(held)
		}
	}()
	res.Writer = held
	tr := &trail{}
	c.Set(trailKey, tr)
	err := fn()
	res.Writer = real
	if err != nil {
		// An error echo itself answers: nothing was held.
		return err
	}
	status := held.status
	if status == 0 {
		status = http.StatusOK
	}
	if rerr := s.recordTrail(c, tr, status, held.body.Bytes()); rerr != nil {
		s.log.ErrorContext(c.Request().Context(), "fhir: audit record failed; request refused", "error", rerr)
		for k := range real.Header() {
			delete(real.Header(), k)
		}
		res.Committed, res.Status, res.Size = false, 0, 0
		return send(c, http.StatusInternalServerError, outcomeJSON(issue{
			Severity: "error", Code: codeException, Diagnostics: "the access could not be recorded in the audit trail; nothing was returned",
		}))
	}
	real.WriteHeader(status)
	_, werr := real.Write(held.body.Bytes())
	return werr
}
