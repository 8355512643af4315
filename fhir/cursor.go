package fhir

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/telehub/telehub/store"
)

// A _cursor in a next link is the store's cursor (SearchResult.Next) behind a
// fingerprint of the query it belongs to. A store cursor is valid only with
// the same types, clauses and sort; the fingerprint lets the server refuse a
// cursor replayed with other criteria (400) before the store sees it.
const cursorSep = "."

// queryFingerprint identifies what a cursor depends on: types, clauses and sort.
func queryFingerprint(q store.Query) string {
	key, err := json.Marshal(struct {
		Types   []string
		Clauses []store.Clause
		Sort    []store.SortKey
	}{q.Types, q.Clauses, q.Sort})
	if err != nil {
		// Plain strings and numbers always marshal.
		panic(err)
	}
	sum := sha256.Sum256(key)
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// wrapCursor makes the _cursor value of a next link.
func wrapCursor(q store.Query, next string) string {
	if next == "" {
		return ""
	}
	return queryFingerprint(q) + cursorSep + next
}

// unwrapCursor returns the store cursor of a _cursor value, checking it was
// made for q.
func unwrapCursor(q store.Query, cursor string) (string, error) {
	fp, next, ok := strings.Cut(cursor, cursorSep)
	if !ok || next == "" || fp != queryFingerprint(q) {
		return "", badRequest(codeValue, "_cursor does not belong to this search (follow the next link as given)")
	}
	return next, nil
}
