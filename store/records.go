package store

import (
	"context"
	"time"
)

// Records is a keyed document store beside the resources, for TeleHub's own
// state (OAuth clients, user accounts, authorization codes, refresh tokens,
// launch contexts, replay caches). Records are never visible through FHIR.
// A backend that can hold them implements Records besides Store; callers
// find out with a type assertion.
//
// An expired record behaves as absent: GetRecord and ListRecords skip it,
// and PutRecord with Version 1 replaces it.
type Records interface {
	// GetRecord returns the record, or ErrNotFound (also when it has expired).
	GetRecord(ctx context.Context, kind, key string) (*Record, error)
	// PutRecord writes r if the stored version is r.Version-1 (r.Version 1:
	// the record must not exist), else it fails with ErrConflict.
	PutRecord(ctx context.Context, r Record) error
	// DeleteRecord removes the record; deleting an absent record is no error.
	DeleteRecord(ctx context.Context, kind, key string) error
	// ListRecords returns up to limit unexpired records of kind whose key
	// sorts strictly after after, ordered by key.
	ListRecords(ctx context.Context, kind, after string, limit int) ([]Record, error)
}

// Record is one document of a Records store.
type Record struct {
	Kind    string // what the record is ("smart.client"); a namespace for Key
	Key     string
	Version int64 // 1 for the first write, then one more per write
	Value   []byte
	Expires time.Time // zero: never
}

// Expired reports whether the record has expired at now.
func (r *Record) Expired(now time.Time) bool {
	return !r.Expires.IsZero() && !now.Before(r.Expires)
}
