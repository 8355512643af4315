package fhir

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/fhir/search"
)

// The audit trail is written by the audit recorder, which may index its
// events in the background (a journal first): reads and searches of
// AuditEvent, and $verify-audit, first wait until every event recorded so
// far is in the store, so that a client always sees its own accesses.
// The recorder indexes AuditEvents for a few parameters only (see
// audit.Searchable); the others are reported as unsupported rather than
// silently finding nothing.

// syncer is an auditor whose events may reach the store after Record returns.
type syncer interface {
	Sync(ctx context.Context) error
}

// syncAuditTrail waits for the recorder before AuditEvent is read.
func (s *Server) syncAuditTrail(ctx context.Context, types ...string) error {
	sy, ok := s.opts.Audit.(syncer)
	if !ok {
		return nil
	}
	for _, t := range types {
		if t == "" || audit.IsProtected(t) {
			if err := sy.Sync(ctx); err != nil {
				return fmt.Errorf("fhir: wait for the audit trail: %w", err)
			}
			return nil
		}
	}
	return nil
}

// unsearchableAuditParams moves the AuditEvent search parameters the audit
// trail does not index out of criteria, as ignored issues.
func (s *Server) unsearchableAuditParams(typ string, criteria url.Values) []search.Issue {
	if !audit.IsProtected(typ) {
		return nil
	}
	var ignored []search.Issue
	for k := range criteria {
		code, _, _ := strings.Cut(k, ":")
		code, _, _ = strings.Cut(code, ".")
		if audit.Searchable(code) {
			continue
		}
		if _, known := s.registry.Lookup(typ, code); !known {
			continue // result parameters (_count, _sort…) and unknown ones are handled as for any type
		}
		delete(criteria, k)
		ignored = append(ignored, search.Issue{Param: k, Message: "AuditEvent is not searchable by this parameter on this server"})
	}
	return ignored
}
