package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/telehub/telehub/fhir/search"
	"github.com/telehub/telehub/store"
)

// The record that says the store's AuditEvents from before the trail were
// copied into it (its value: how many).
const (
	migratedKind = "audit.trail"
	migratedKey  = "migrated"
)

// migratePage is how many AuditEvents one step of the copy reads.
const migratePage = 500

// migrate copies the AuditEvents st holds into trail, oldest first, once,
// and returns how many versions of AuditEvent st holds. The copies are
// indexed by the extractor (their lean entries are not kept in the store)
// and keep their sequence entry, so that the chain goes on in the trail.
// An interrupted copy resumes at the next start: events already in the
// trail are skipped.
func migrate(ctx context.Context, st store.Store, records store.Records, trail *Trail) (int, error) {
	h, err := st.History(ctx, store.HistoryQuery{Type: resourceType, Count: 1})
	if err != nil {
		return 0, fmt.Errorf("audit: trail: count the store's AuditEvents: %w", err)
	}
	legacy := h.Total
	if legacy == 0 {
		return 0, nil
	}
	if _, err := records.GetRecord(ctx, migratedKind, migratedKey); err == nil {
		return legacy, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("audit: trail: %w", err)
	}
	extractor := search.NewExtractor(search.DefaultRegistry(), search.WithoutFullText())
	q := store.Query{Types: []string{resourceType}, Sort: []store.SortKey{{Param: store.ParamLastUpdated}}, Count: migratePage}
	copied := 0
	for {
		res, err := st.Search(ctx, q)
		if err != nil {
			return 0, fmt.Errorf("audit: trail: read the store's AuditEvents: %w", err)
		}
		var events []TrailEvent
		for _, r := range res.Resources {
			if _, err := trail.Read(ctx, r.ID); err == nil {
				continue // copied before an interruption
			}
			index, err := extractor.Extract(resourceType, r.Body)
			if err != nil {
				return 0, fmt.Errorf("audit: trail: index AuditEvent/%s: %w", r.ID, err)
			}
			if seq, _, _, err := chainFields(r.Body); err == nil {
				index = append(index, sequenceEntry(seq))
			}
			events = append(events, TrailEvent{ID: r.ID, LastUpdated: r.LastUpdated, Body: r.Body, Index: index})
		}
		if err := trail.Append(events); err != nil {
			return 0, err
		}
		copied += len(events)
		if !res.More {
			break
		}
		q.Cursor = res.Next
	}
	err = records.PutRecord(ctx, store.Record{Kind: migratedKind, Key: migratedKey, Version: 1, Value: []byte(strconv.Itoa(copied))})
	if err != nil {
		return 0, fmt.Errorf("audit: trail: record the copy: %w", err)
	}
	return legacy, nil
}
