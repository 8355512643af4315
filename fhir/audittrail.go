package fhir

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// The audit trail is written by the audit recorder, which may index its
// events in the background (a journal first, with a shared store; the
// embedded trail has them searchable at once): reads and searches of
// AuditEvent, and $verify-audit, first wait until every event recorded so
// far is in the store, so that a client always sees its own accesses.
// The recorder indexes AuditEvents for a few parameters only (see
// audit.Searchable); the others are reported as unsupported rather than
// silently finding nothing. Type, subtype, action and outcome are indexed
// as one entry (audit.KindParam), which searches find but sorts cannot
// order by: sorting AuditEvents by them is reported as unsupported too.

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

// unsortableAuditKeys drops from the sort keys of a search of types those
// AuditEvents cannot be sorted by (audit.Sortable), as ignored issues.
func unsortableAuditKeys(types []string, keys []store.SortKey) ([]store.SortKey, []search.Issue) {
	if !slices.ContainsFunc(types, audit.IsProtected) {
		return keys, nil
	}
	var issues []search.Issue
	kept := keys[:0:0]
	for _, k := range keys {
		if audit.Sortable(k.Param) {
			kept = append(kept, k)
			continue
		}
		issues = append(issues, search.Issue{Param: "_sort", Message: fmt.Sprintf("AuditEvent cannot be sorted by %q on this server", k.Param)})
	}
	return kept, issues
}
