package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/telehub/telehub/store"
)

// The full-text parameters (store.ParamText, store.ParamContent) are most of
// a resource's index entries: a vital-sign Observation has some 40 words
// against 40 other entries. As rows of idx_text each word cost two B-tree
// inserts spread over the whole index. Instead, a resource's words are one
// row of an FTS5 table, idx_words, whose rowid is the resource's rid: one
// column per parameter, the words joined by spaces. FTS5 buffers the terms of
// a transaction and writes them as one sorted segment at commit, merging
// segments in the background of later writes.
//
// The table is contentless (it keeps no copy of the words) with
// contentless_delete, so that a resource's row can be deleted by rid alone.
// The resource's idx_entries blob lists its words (entryWord), so that a
// partial write (store.Write.PartialIndex) can write its row again with
// the words it keeps.
// The ascii tokenizer splits on ASCII punctuation and spaces, folds ASCII
// upper case, and keeps every other character: the words arrive folded
// (lower-case, accents removed) and made only of letters and digits, so it
// splits exactly at the spaces that join them, and a word of any script
// stays one term. Any other ASCII character is escaped (ftsWord), so that
// whatever a word holds it stays one term, matched exactly.
const wordsSchema = `
CREATE VIRTUAL TABLE IF NOT EXISTS idx_words USING fts5(
	text_words, content_words,
	content = '', contentless_delete = 1, tokenize = 'ascii', detail = 'column'
);
`

// wordColumn returns the idx_words column of a full-text parameter.
func wordColumn(param string) string {
	if param == store.ParamText {
		return "text_words"
	}
	return "content_words"
}

// wordRow is the words of one resource waiting for flushIndex.
type wordRow struct {
	rid           int64
	text, content strings.Builder
}

// column returns the builder of param's words, ready for one more.
func (r *wordRow) column(param string) *strings.Builder {
	b := &r.content
	if param == store.ParamText {
		b = &r.text
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	return b
}

// ftsEscape starts an escaped character in a term: a non-ASCII character,
// which the tokenizer keeps in the term, followed by two hex digits.
const ftsEscape = '·'

// writeFTSWord writes word as one term of the ascii tokenizer: lower-case
// ASCII letters, digits and non-ASCII characters as they are, anything else
// (and the escape character itself) as ftsEscape and its byte in hex. The
// escaping is per character, so that a prefix of a word is a prefix of its
// term.
func writeFTSWord[S ~string | ~[]byte](b *strings.Builder, word S) {
	for _, r := range string(word) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r >= utf8.RuneSelf && r != ftsEscape:
			b.WriteRune(r)
		case r == ftsEscape:
			b.WriteString("·b7")
		default:
			fmt.Fprintf(b, "%c%02x", ftsEscape, r)
		}
	}
}

// wordMatch returns the condition on resources r of a full-text condition:
// an FTS5 query on the parameter's column, the word quoted (so that FTS5
// syntax in it is text) and, for OpPrefix, a prefix query.
func wordMatch(c store.Condition) (string, []any, error) {
	if c.Text == "" {
		return "", nil, fmt.Errorf("a full-text condition needs a word")
	}
	var q strings.Builder
	q.WriteString(wordColumn(c.Param) + ` : "`)
	writeFTSWord(&q, c.Text) // no quote is left in it
	q.WriteByte('"')
	query := q.String()
	switch c.Op {
	case store.OpExact:
	case store.OpPrefix:
		query += "*"
	default:
		return "", nil, fmt.Errorf("operator %q does not apply to full-text parameters (exact or prefix only)", c.Op)
	}
	return "r.rid IN (SELECT rowid FROM idx_words WHERE idx_words MATCH ?)", []any{query}, nil
}

// migrateWords moves the words of a schema version 2 file, rows of
// idx_text, into idx_words, in the caller's transaction.
func migrateWords(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT rid, param, text FROM idx_text WHERE param IN (?, ?) ORDER BY rid`,
		store.ParamText, store.ParamContent)
	if err != nil {
		return err
	}
	var all []*wordRow
	for rows.Next() {
		var e store.IndexEntry
		var rid int64
		if err := rows.Scan(&rid, &e.Param, &e.Text); err != nil {
			rows.Close()
			return err
		}
		if len(all) == 0 || all[len(all)-1].rid != rid {
			all = append(all, &wordRow{rid: rid})
		}
		writeFTSWord(all[len(all)-1].column(e.Param), e.Text)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, r := range all {
		if _, err := tx.ExecContext(ctx, `INSERT INTO idx_words (rowid, text_words, content_words) VALUES (?, ?, ?)`,
			r.rid, r.text.String(), r.content.String()); err != nil {
			return fmt.Errorf("words of %d: %w", r.rid, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM idx_text WHERE param IN (?, ?)`, store.ParamText, store.ParamContent); err != nil {
		return fmt.Errorf("delete word rows: %w", err)
	}
	return nil
}
