package fhir

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
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
	h := sha256.New()
	writeQuery(h, q)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:9])
}

// writeQuery writes the types, clauses and sort of q, chains and _has
// included, in a form where different queries differ.
func writeQuery(w io.Writer, q store.Query) {
	fmt.Fprintf(w, "types%q sort%v clauses%d", q.Types, q.Sort, len(q.Clauses))
	for _, c := range q.Clauses {
		fmt.Fprintf(w, "[%d", len(c.Any))
		for _, cond := range c.Any {
			fmt.Fprintf(w, "(%q %q %q %v %v %t", cond.Param, cond.Op, cond.Text, cond.Low, cond.High, cond.Not)
			if cond.Chain != nil {
				fmt.Fprint(w, " chain ")
				writeQuery(w, *cond.Chain)
			}
			if cond.Has != nil {
				fmt.Fprintf(w, " has %q ", cond.Has.Param)
				writeQuery(w, cond.Has.Query)
			}
			fmt.Fprint(w, ")")
		}
		fmt.Fprint(w, "]")
	}
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
