package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/telehub/telehub/store"
)

// Read returns the current version of a resource, deleted or not.
func (s *Store) Read(ctx context.Context, typ, id string) (*store.Resource, error) {
	r := &store.Resource{Type: typ, ID: id}
	err := scanVersion(s.stmts.read.QueryRowContext(ctx, typ, id), r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: read %s/%s: %w", typ, id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read %s/%s: %w", typ, id, err)
	}
	return r, nil
}

// VRead returns one version of a resource.
func (s *Store) VRead(ctx context.Context, typ, id string, version int64) (*store.Resource, error) {
	r := &store.Resource{Type: typ, ID: id}
	err := scanVersion(s.stmts.vread.QueryRowContext(ctx, typ, id, version), r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: vread %s/%s/_history/%d: %w", typ, id, version, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: vread %s/%s/_history/%d: %w", typ, id, version, err)
	}
	return r, nil
}

// scanVersion reads version, last_updated, deleted, method, body into r.
func scanVersion(row interface{ Scan(...any) error }, r *store.Resource) error {
	var millis int64
	if err := row.Scan(&r.VersionID, &millis, &r.Deleted, &r.Method, &r.Body); err != nil {
		return err
	}
	r.LastUpdated = fromMillis(millis)
	return nil
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// History returns versions newest first. A zero Count means no limit.
func (s *Store) History(ctx context.Context, h store.HistoryQuery) (*store.HistoryResult, error) {
	count, page, args, err := historySQL(h)
	if err != nil {
		return nil, fmt.Errorf("store: history %s: %w", describeHistory(h), err)
	}
	sn, stmts, err := s.snapshot(ctx, true, count, page)
	if err != nil {
		return nil, fmt.Errorf("store: history %s: %w", describeHistory(h), err)
	}
	defer sn.close()
	res := &store.HistoryResult{}
	if err := stmts[0].QueryRowContext(ctx, args...).Scan(&res.Total); err != nil {
		return nil, fmt.Errorf("store: history %s: count: %w", describeHistory(h), err)
	}
	limit := -1
	if h.Count > 0 {
		limit = h.Count + 1 // one more tells whether a next page exists
	}
	rows, err := stmts[1].QueryContext(ctx, append(args, limit, max(h.Offset, 0))...)
	if err != nil {
		return nil, fmt.Errorf("store: history %s: %w", describeHistory(h), err)
	}
	defer rows.Close()
	for rows.Next() {
		var r store.Resource
		var millis int64
		if err := rows.Scan(&r.Type, &r.ID, &r.VersionID, &millis, &r.Deleted, &r.Method, &r.Body); err != nil {
			return nil, fmt.Errorf("store: history %s: %w", describeHistory(h), err)
		}
		r.LastUpdated = fromMillis(millis)
		res.Versions = append(res.Versions, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: history %s: %w", describeHistory(h), err)
	}
	if h.Count > 0 && len(res.Versions) > h.Count {
		res.Versions, res.More = res.Versions[:h.Count], true
	}
	return res, nil
}

// historySQL returns the count and page queries of h and their arguments
// (the page query takes a limit and an offset more).
func historySQL(h store.HistoryQuery) (count, page string, args []any, err error) {
	var where []string
	switch {
	case h.Type != "" && h.ID != "":
		where, args = append(where, "v.type = ? AND v.id = ?"), append(args, h.Type, h.ID)
	case h.Type != "":
		where, args = append(where, "v.type = ?"), append(args, h.Type)
	case h.ID != "":
		return "", "", nil, fmt.Errorf("id %q without a type", h.ID)
	}
	if !h.Since.IsZero() {
		where, args = append(where, "v.last_updated >= ?"), append(args, h.Since.UnixMilli())
	}
	if !h.At.IsZero() {
		// The version current at At: the newest written at or before At.
		at := h.At.UnixMilli()
		where = append(where, `v.last_updated <= ? AND NOT EXISTS (
			SELECT 1 FROM versions n WHERE n.type = v.type AND n.id = v.id
			AND n.version > v.version AND n.last_updated <= ?)`)
		args = append(args, at, at)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	count = "SELECT count(*) FROM versions v" + cond
	page = `SELECT v.type, v.id, v.version, v.last_updated, v.deleted, v.method, v.body
		FROM versions v` + cond + ` ORDER BY v.last_updated DESC, v.seq DESC LIMIT ? OFFSET ?`
	return count, page, args, nil
}

func describeHistory(h store.HistoryQuery) string {
	switch {
	case h.ID != "":
		return h.Type + "/" + h.ID
	case h.Type != "":
		return h.Type
	}
	return "of the system"
}
