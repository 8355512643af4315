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

var _ store.Records = (*Store)(nil)

// RecordsSchema creates the records table: TeleHub's own state beside the
// resources (store.Records). It only adds a table, so a file of schema
// version 2 without it stays readable; the store creates the table on first
// use when the file does not have it yet. Expires is Unix milliseconds, 0 for
// never.
const RecordsSchema = `
CREATE TABLE IF NOT EXISTS records (
	kind    TEXT    NOT NULL,
	key     TEXT    NOT NULL,
	version INTEGER NOT NULL,
	value   BLOB    NOT NULL,
	expires INTEGER NOT NULL,
	PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_by_expiry ON records (expires) WHERE expires > 0;
`

// withRecords runs op, and when it fails because the records table does not
// exist yet, creates it and runs op again.
func (s *Store) withRecords(ctx context.Context, op func() error) error {
	err := op()
	if err == nil || !strings.Contains(err.Error(), "no such table: records") {
		return err
	}
	if _, cerr := s.writer.ExecContext(ctx, RecordsSchema); cerr != nil {
		return fmt.Errorf("create records table: %w", cerr)
	}
	return op()
}

// GetRecord returns the unexpired record kind/key, or store.ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, kind, key string) (*store.Record, error) {
	r := store.Record{Kind: kind, Key: key}
	var expires int64
	err := s.withRecords(ctx, func() error {
		return s.reader.QueryRowContext(ctx,
			`SELECT version, value, expires FROM records WHERE kind = ? AND key = ? AND (expires = 0 OR expires > ?)`,
			kind, key, time.Now().UnixMilli()).Scan(&r.Version, &r.Value, &expires)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: get record %s/%s: %w", kind, key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get record %s/%s: %w", kind, key, err)
	}
	r.Expires = expiryFromMillis(expires)
	return &r, nil
}

// PutRecord writes r when the stored version is r.Version-1, else it fails
// with store.ErrConflict. A first write (Version 1) replaces an expired
// record, and sweeps the other expired records so that the table keeps only
// live state.
func (s *Store) PutRecord(ctx context.Context, r store.Record) error {
	if r.Version < 1 {
		return fmt.Errorf("store: put record %s/%s: version %d, want 1 or more", r.Kind, r.Key, r.Version)
	}
	if r.Value == nil {
		r.Value = []byte{}
	}
	now := time.Now().UnixMilli()
	expires := expiryMillis(r.Expires)
	var res sql.Result
	err := s.withRecords(ctx, func() error {
		var err error
		if r.Version == 1 {
			res, err = s.writer.ExecContext(ctx, `
INSERT INTO records (kind, key, version, value, expires) VALUES (?, ?, 1, ?, ?)
ON CONFLICT (kind, key) DO UPDATE SET version = 1, value = excluded.value, expires = excluded.expires
WHERE records.expires > 0 AND records.expires <= ?`, r.Kind, r.Key, r.Value, expires, now)
			return err
		}
		res, err = s.writer.ExecContext(ctx, `
UPDATE records SET version = ?, value = ?, expires = ?
WHERE kind = ? AND key = ? AND version = ? AND (expires = 0 OR expires > ?)`,
			r.Version, r.Value, expires, r.Kind, r.Key, r.Version-1, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put record %s/%s: %w", r.Kind, r.Key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: put record %s/%s: %w", r.Kind, r.Key, err)
	}
	if n == 0 {
		return fmt.Errorf("store: put record %s/%s version %d: %w", r.Kind, r.Key, r.Version, store.ErrConflict)
	}
	if r.Version == 1 {
		if _, err := s.writer.ExecContext(ctx, `DELETE FROM records WHERE expires > 0 AND expires <= ?`, now); err != nil {
			return fmt.Errorf("store: sweep expired records: %w", err)
		}
	}
	return nil
}

// DeleteRecord removes kind/key; an absent record is no error.
func (s *Store) DeleteRecord(ctx context.Context, kind, key string) error {
	err := s.withRecords(ctx, func() error {
		_, err := s.writer.ExecContext(ctx, `DELETE FROM records WHERE kind = ? AND key = ?`, kind, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete record %s/%s: %w", kind, key, err)
	}
	return nil
}

// ListRecords returns up to limit unexpired records of kind with keys after
// after, in key order.
func (s *Store) ListRecords(ctx context.Context, kind, after string, limit int) ([]store.Record, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Record
	err := s.withRecords(ctx, func() error {
		out = out[:0]
		rows, err := s.reader.QueryContext(ctx, `
SELECT key, version, value, expires FROM records
WHERE kind = ? AND key > ? AND (expires = 0 OR expires > ?)
ORDER BY key LIMIT ?`, kind, after, time.Now().UnixMilli(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r := store.Record{Kind: kind}
			var expires int64
			if err := rows.Scan(&r.Key, &r.Version, &r.Value, &expires); err != nil {
				return err
			}
			r.Expires = expiryFromMillis(expires)
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: list records %s: %w", kind, err)
	}
	return out, nil
}

func expiryMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixMilli(), 1)
}

func expiryFromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
