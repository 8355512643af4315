package fhir

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/smart"
)

// opVerifyAudit is the administration operation that checks the audit
// trail's hash chain.
const opVerifyAudit = "$verify-audit"

// guardedReindex starts a $reindex: it rewrites the index of every
// resource of the server, so only a system scope may ask for it.
func (s *Server) guardedReindex(c echo.Context) error {
	if err := accessOf(c.Request().Context()).requireSystem(smart.Update, "SearchParameter", "$reindex"); err != nil {
		return err
	}
	return s.startReindex(c)
}

// verifyAudit answers GET|POST [base]/$verify-audit: it walks the audit
// trail's chain and answers the report as Parameters. Only a token that
// reads AuditEvent without restriction (system/AuditEvent.rs) may ask.
func (s *Server) verifyAudit(c echo.Context) error {
	c.Set(InteractionKey, "operation")
	ctx := c.Request().Context()
	if a := accessOf(ctx); a != nil {
		if d := a.p.Grants.Allow(smart.Read, "AuditEvent", nil); !d.Unrestricted && !a.p.Insecure {
			return forbidden("%s needs a token that reads every AuditEvent (system/AuditEvent.rs)", opVerifyAudit)
		}
	}
	if c.Request().Method == http.MethodPost {
		// Parameters are not read; the body is drained within the size limit.
		if _, err := s.readBody(c.Request()); err != nil {
			return err
		}
	}
	if err := s.syncAuditTrail(ctx, ""); err != nil {
		return err
	}
	report, err := audit.Verify(ctx, s.store)
	if err != nil {
		return fmt.Errorf("fhir: %s: %w", opVerifyAudit, err)
	}
	body, err := report.Parameters()
	if err != nil {
		return fmt.Errorf("fhir: %s: %w", opVerifyAudit, err)
	}
	return send(c, http.StatusOK, body)
}
