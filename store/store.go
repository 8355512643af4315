// Package store is TeleHub's persistence boundary: the Store interface every
// backend implements, and the value types that cross it.
//
// A store keeps every version of every resource (history is never rewritten),
// the canonical JSON of each version as it will be served, and the search index
// entries of the current version. Writes are compare-and-set on the version, so
// concurrent writers get ErrConflict instead of losing an update, and a Commit of
// several writes is all or nothing.
//
// The store does not parse FHIR: callers hand it bytes, index entries and
// versions computed above it (package fhir), and get bytes back. That keeps the
// read path free of any parsing.
//
// A version whose bulk grows with the data it is made from (an ImagingStudy
// listing every instance of its study) may be stored spliced: its outline
// and the names of pieces kept in another store, each written once (see
// Splice). The backends store such a body as they store any other;
// WithPieces gives the readers above them every body assembled.
//
// Backends: store/sqlite (embedded, the default) and store/mongo (production).
// Both pass the same conformance suite, store/storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors a backend returns, wrapped with context. Callers test them with errors.Is.
var (
	// ErrNotFound: no resource (or version) with that type and id has ever been stored.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a write's expected version did not match the stored one
	// (a concurrent writer won), or a create hit an id that already exists.
	ErrConflict = errors.New("store: version conflict")
	// ErrTransactionsUnsupported: the backend cannot commit several writes
	// atomically (MongoDB without a replica set).
	ErrTransactionsUnsupported = errors.New("store: multi-resource transactions are not supported by this backend")
	// ErrTooCostly: the backend refuses a search it cannot run within its
	// limits (callers answer 400 too-costly and ask for a more selective query).
	ErrTooCostly = errors.New("store: search too costly")
	// ErrIndexNotKept: the backend cannot keep the previous version's index
	// entries for a PartialIndex write (store/sqlite: a resource whose words
	// a program of an older layout indexed); the caller writes the whole
	// index instead.
	ErrIndexNotKept = errors.New("store: the previous version's index entries cannot be kept")
	// ErrUnsupported: the backend cannot run this search at all (a
	// combination it does not support, whatever the criteria); callers
	// answer 400 not-supported with the error's text.
	ErrUnsupported = errors.New("store: search not supported")
)

// Store is the only way to persistence. Implementations are safe for concurrent use.
type Store interface {
	// Read returns the current version of a resource. A deleted resource is
	// returned with Deleted set (callers answer 410); one never stored is ErrNotFound.
	Read(ctx context.Context, typ, id string) (*Resource, error)
	// VRead returns one version of a resource, or ErrNotFound.
	VRead(ctx context.Context, typ, id string, version int64) (*Resource, error)
	// Commit writes all writes atomically: every version with its index entries
	// and history, or nothing. Each write is compare-and-set: it fails with
	// ErrConflict (wrapped, naming the resource) unless the stored current version
	// is w.Version-1 (0 meaning "does not exist yet"). A backend that cannot make
	// several writes atomic returns ErrTransactionsUnsupported for len(writes) > 1.
	Commit(ctx context.Context, writes []Write) error
	// Search returns the current, non-deleted resources matching q.
	Search(ctx context.Context, q Query) (*SearchResult, error)
	// History returns versions, newest first, for one resource, one type or the
	// whole system, as h says.
	History(ctx context.Context, h HistoryQuery) (*HistoryResult, error)
	// Reindex replaces the index entries of the current version of a resource
	// without making a new version (a new or changed SearchParameter). It fails
	// with ErrConflict when the current version is no longer version, and
	// ErrNotFound when the resource does not exist; a deleted resource is left as is.
	Reindex(ctx context.Context, typ, id string, version int64, index []IndexEntry) error
	// SupportsTransactions reports whether Commit accepts several writes.
	SupportsTransactions() bool
	// Ping checks the backend is reachable (readiness).
	Ping(ctx context.Context) error
	// Close releases the backend; it waits for nothing but its own resources.
	Close() error
}

// Resource is one stored version.
type Resource struct {
	Type        string
	ID          string
	VersionID   int64
	LastUpdated time.Time // UTC, millisecond precision
	Deleted     bool
	// Method is the interaction that made this version: "POST", "PUT", "PATCH" or
	// "DELETE" (history Bundles report it in entry.request.method).
	Method string
	// Body is the canonical JSON of this version, meta.versionId and
	// meta.lastUpdated included. Empty for a deletion.
	Body []byte
}

// Write is one new version to store.
type Write struct {
	Type string
	ID   string
	// Version is the version this write creates: 1 for a new resource,
	// current+1 otherwise. It is the compare-and-set token (see Store.Commit).
	Version     int64
	LastUpdated time.Time
	Deleted     bool
	Method      string // "POST", "PUT", "PATCH", "DELETE"
	Body        []byte // canonical JSON, or spliced (see Splice); nil when Deleted
	// Index holds the search index entries of this version; they replace the
	// previous version's (unless PartialIndex). Ignored when Deleted (a
	// deleted resource matches nothing).
	Index []IndexEntry
	// PartialIndex makes Index a change to the previous version's entries
	// rather than all of them: the new version keeps the previous version's
	// entries of every parameter but those Replaced lists, and adds Index's
	// (an entry it already has is kept once). A version that adds a little
	// to a large resource (an ImagingStudy listing thousands of instances)
	// thus hands the store what it adds, not the whole index again. Without
	// a previous version (or after a deletion), Index is all the entries. A
	// backend that cannot keep them fails the Commit with ErrIndexNotKept.
	PartialIndex bool
	// Replaced lists the parameters whose previous entries a PartialIndex
	// write drops (Index holds all of their entries).
	Replaced []string
}

// Kind is the kind of a search parameter, as FHIR names them.
type Kind string

// The kinds of search parameter.
const (
	KindNumber    Kind = "number"
	KindDate      Kind = "date"
	KindString    Kind = "string"
	KindToken     Kind = "token"
	KindReference Kind = "reference"
	KindComposite Kind = "composite"
	KindQuantity  Kind = "quantity"
	KindURI       Kind = "uri"
	KindSpecial   Kind = "special"
)

// IndexEntry is one indexed value of one search parameter of a resource.
// Values are normalised before they reach the store (package fhir/search):
// tokens as "system|code" or "|code", and "code" (one entry each), or
// "system|" for a system without a code (a search for "system|" is an
// OpPrefix condition, which "system|code" entries answer);
// strings lower-cased and accent-folded; references as "Type/id"; uris as is.
type IndexEntry struct {
	Param string // the search parameter's code, e.g. "identifier"
	Kind  Kind
	// Text is the normalised value of token, string, reference and uri entries,
	// and the "system|code" unit of a quantity.
	Text string
	// Low and High bound a date (Unix milliseconds, High exclusive), a number or
	// a quantity value (its precision range). Zero for text kinds.
	Low, High float64
}

// Op is how a Condition matches an index entry.
type Op string

// Text operators compare Condition.Text with IndexEntry.Text.
const (
	OpExact    Op = "exact"    // equal
	OpPrefix   Op = "prefix"   // entry text starts with Text
	OpContains Op = "contains" // entry text contains Text
)

// Range operators compare the condition's [Low, High) with an entry's [low, high),
// following the FHIR search prefixes.
const (
	OpEq Op = "eq" // low >= Low && high <= High
	OpNe Op = "ne" // not eq
	OpGt Op = "gt" // high > High
	OpLt Op = "lt" // low < Low
	OpGe Op = "ge" // high > Low
	OpLe Op = "le" // low < High
	OpSa Op = "sa" // low >= High
	OpEb Op = "eb" // high <= Low
	// OpOverlap: the ranges intersect (used for "ap" once widened by the caller).
	OpOverlap Op = "overlap"
)

// OpMissing matches resources with no entry for Param (Text "true") or with at
// least one (Text "false").
const OpMissing Op = "missing"

// MissingWanted reads an OpMissing condition: true when it asks for
// resources without an entry, false for those with one.
func (c Condition) MissingWanted() (bool, error) {
	switch c.Text {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("missing takes true or false, not %q", c.Text)
}

// Special parameters the store resolves on the resource itself, not on index
// entries: "_id" (OpExact on the id) and "_lastUpdated" (range ops on lastUpdated).
const (
	ParamID          = "_id"
	ParamLastUpdated = "_lastUpdated"
)

// Full-text parameters: each of their entries is one word (KindString,
// folded as strings are), and a condition on them matches words: OpExact a
// whole word, OpPrefix the start of a word. No other operator applies. A
// backend may keep them apart from the other entries (store/sqlite keeps
// them in a full-text index, one row per resource).
const (
	ParamText    = "_text"    // the words of the narrative
	ParamContent = "_content" // the words of every string of the resource
)

// IsFullText reports whether param is a full-text parameter.
func IsFullText(param string) bool { return param == ParamText || param == ParamContent }

// Condition matches a resource when at least one of its index entries for
// Param satisfies Op (or, for the special params, the resource itself does).
type Condition struct {
	Param string
	Op    Op
	// Text is the value of a text operator. With a range operator, a non-empty
	// Text must also equal the entry's Text (a quantity's "system|code" unit,
	// the first component of a composite parameter), or, with TextPrefix,
	// begin the entry's Text (a composite's first component and "$": the
	// value with any unit).
	Text       string
	TextPrefix bool
	// Low and High: see IndexEntry.
	Low, High float64
	// Not negates the whole condition (":not" modifier: no entry matches).
	Not bool
	// Chain, when set, makes this a chained condition (subject:Patient.name=x):
	// it matches resources with a reference entry for Param whose Text
	// ("Type/id") names a current resource matching Chain. Chain.Types
	// restricts the target types; Chain.Sort, Count, Offset and Cursor are
	// ignored. Op and Text are ignored. Chains nest to any depth.
	Chain *Query
	// Has, when set, makes this a reverse-chain condition (_has): it matches
	// resources R such that some current resource matching Has.Query holds a
	// reference entry for Has.Param whose Text is "R.Type/R.id". Param, Op and
	// Text are ignored. Has.Query may itself hold Has conditions (nested _has).
	Has *Reverse
}

// RangeTextOp is how a range condition's non-empty Text compares with an
// entry's: OpExact, or OpPrefix with TextPrefix.
func (c Condition) RangeTextOp() Op {
	if c.TextPrefix {
		return OpPrefix
	}
	return OpExact
}

// Reverse is the target of a reverse-chain condition: resources matching
// Query that reference the candidate through their Param entries.
type Reverse struct {
	Param string
	Query Query
}

// Clause is a disjunction: it holds when any of its conditions does (the
// comma-separated values of one search parameter).
type Clause struct {
	Any []Condition
}

// SortKey orders results by a parameter's index value ("_id" and "_lastUpdated"
// included). Results are always ordered last by type then id, so that the
// order is total; with no sort keys that is the whole order.
type SortKey struct {
	Param      string
	Descending bool
	// Kind is the parameter's kind when the caller knows it (zero
	// otherwise). It never changes the order; a backend may use it to
	// choose how to sort (a date or number parameter has only range entries).
	Kind Kind
}

// Query is a backend-neutral search plan: resources of Type (all types when
// Types is empty) matching every clause.
type Query struct {
	Types   []string
	Clauses []Clause
	Sort    []SortKey
	// Count is the page size; 0 means only the total is wanted.
	Count  int
	Offset int
	// Cursor continues a search after the last resource of a previous page
	// (SearchResult.Next). Paging by cursor is stable while others write: a
	// page starts strictly after the previous page's last (sort values, type,
	// id), so resources that existed throughout are seen exactly once. Offset
	// must be 0 when Cursor is set. The cursor is opaque outside the backend
	// and valid only with the same Types, Clauses and Sort.
	Cursor string
	// Total asks for the number of matches across all pages. With a Cursor,
	// a backend may answer the total it counted for the first page, which
	// the cursor carries, rather than count again (paging by cursor reads
	// the matches as they were when it began).
	Total bool
}

// SearchResult is one page of matches.
type SearchResult struct {
	Resources []Resource
	// Total is the number of matches across pages, or -1 when not asked for.
	Total int
	// More reports that matches exist after this page.
	More bool
	// Next is the cursor of the page after this one ("" when !More).
	Next string
}

// HistoryQuery selects versions: of one resource (Type and ID), one type (Type),
// or every type (neither).
type HistoryQuery struct {
	Type string
	ID   string
	// Since keeps versions with LastUpdated >= Since (zero: no bound).
	Since time.Time
	// At keeps, per resource, the version that was current at At (zero: all versions).
	At     time.Time
	Count  int
	Offset int
}

// HistoryResult is one page of versions, newest first.
type HistoryResult struct {
	Versions []Resource
	Total    int
	More     bool
}

// Explainer is implemented by stores that can show how they would run a
// search (FHIR's _explain=true): the plan, in the backend's own terms,
// without running the search itself.
type Explainer interface {
	Explain(ctx context.Context, q Query) (string, error)
}

// Unwrapper is implemented by a decorator of a Store (events.Publish), so
// that the optional interfaces of the store it wraps (Explainer…) can still
// be found through it.
type Unwrapper interface {
	Unwrap() Store
}

// As finds, in st or in the stores it wraps, the first one that implements
// T, the way errors.As walks wrapped errors.
func As[T any](st Store) (T, bool) {
	for st != nil {
		if t, ok := st.(T); ok {
			return t, true
		}
		u, ok := st.(Unwrapper)
		if !ok {
			break
		}
		st = u.Unwrap()
	}
	var zero T
	return zero, false
}
