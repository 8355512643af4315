package search

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/telehub/telehub/store"
)

// Full-text and list parameters, which have no FHIRPath expression.
const (
	// paramText matches words of the narrative (text.div).
	paramText = store.ParamText
	// paramContent matches words of any string value of the resource.
	paramContent = store.ParamContent
	// paramList matches the resources a List holds (resolved by the caller).
	paramList = "_list"
)

// maxWordLen bounds an indexed word: longer runs (base64, hashes) are not words.
const maxWordLen = 64

// words appends the folded words of s to out: runs of letters and digits.
func words(s string, out []string) []string {
	s = Fold(s)
	start := -1
	for i, r := range s {
		word := r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') ||
			r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			out = appendWord(out, s[start:i])
			start = -1
		}
	}
	if start >= 0 {
		out = appendWord(out, s[start:])
	}
	return out
}

func appendWord(out []string, w string) []string {
	if len(w) > maxWordLen {
		return out
	}
	return append(out, w)
}

// distinct sorts words and drops the repeated ones, in place.
func distinct(ws []string) []string {
	slices.Sort(ws)
	return slices.Compact(ws)
}

// narrativeWords returns the words of an XHTML narrative, its tags and
// entities left out.
func narrativeWords(div string, out []string) []string {
	var b strings.Builder
	b.Grow(len(div))
	inTag := false
	for i := 0; i < len(div); i++ {
		switch c := div[i]; {
		case c == '<':
			inTag = true
			b.WriteByte(' ')
		case c == '>':
			inTag = false
		case inTag:
		case c == '&':
			if j := strings.IndexByte(div[i:], ';'); j > 0 && j < 10 {
				i += j
			}
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return words(b.String(), out)
}

// Keys whose strings are identifiers of things, not text, for _content.
var contentSkipped = map[string]bool{
	"resourceType": true, "id": true, "reference": true, "system": true, "url": true,
	"div": true, "fullUrl": true, "versionId": true, "lastUpdated": true, "profile": true,
	"data": true, "contentType": true, "status": true,
}

// contentWords collects the words of every string value of a resource
// except identifiers of things (references, systems, URLs) and the
// narrative, which _text covers.
func contentWords(d any, key string, out []string) []string {
	switch v := d.(type) {
	case string:
		if !contentSkipped[key] {
			out = words(v, out)
		}
	case map[string]any:
		for k, e := range v {
			if k != "text" || key != "" {
				out = contentWords(e, k, out)
			} else if _, narrative := e.(map[string]any); !narrative {
				out = contentWords(e, k, out)
			}
		}
	case []any:
		for _, e := range v {
			out = contentWords(e, key, out)
		}
	}
	return out
}

// textEntries appends the _text and _content entries of a resource.
func textEntries(resource map[string]any, out []store.IndexEntry) []store.IndexEntry {
	var ws []string
	if text, ok := resource["text"].(map[string]any); ok {
		if div, ok := text["div"].(string); ok {
			ws = narrativeWords(div, ws)
		}
	}
	for _, w := range distinct(ws) {
		out = append(out, store.IndexEntry{Param: paramText, Kind: store.KindString, Text: w})
	}
	ws = contentWords(resource, "", ws[:0])
	for _, w := range distinct(ws) {
		out = append(out, store.IndexEntry{Param: paramContent, Kind: store.KindString, Text: w})
	}
	return out
}

// wordClauses parses _text and _content: every word of the value must start
// a word of the resource (one clause per word); comma-separated values are
// alternatives, each then a single word.
func wordClauses(code, modifier, value string) ([]store.Clause, error) {
	if modifier != "" {
		return nil, fmt.Errorf("%s: modifier :%s is not supported", code, modifier)
	}
	alts := splitOr(value)
	if len(alts) == 1 {
		ws := distinct(words(unescape(alts[0]), nil))
		if len(ws) == 0 {
			return nil, fmt.Errorf("%s: no words in %q", code, value)
		}
		clauses := make([]store.Clause, len(ws))
		for i, w := range ws {
			clauses[i] = store.Clause{Any: []store.Condition{{Param: code, Op: store.OpPrefix, Text: w}}}
		}
		return clauses, nil
	}
	var clause store.Clause
	for _, alt := range alts {
		ws := words(unescape(alt), nil)
		if len(ws) != 1 {
			return nil, fmt.Errorf("%s: with several values separated by commas, each must be one word (%q)", code, alt)
		}
		clause.Any = append(clause.Any, store.Condition{Param: code, Op: store.OpPrefix, Text: ws[0]})
	}
	return []store.Clause{clause}, nil
}

// ApplyList applies a deferred _list once the caller has read the List:
// refs are its entries' references ("Type/id"). The results are restricted
// to those resources (none when refs is empty), and the _list issue and
// deferral are removed from the plan. It reports false when the plan has
// no _list.
func (p *Plan) ApplyList(refs []string) bool {
	i := slices.IndexFunc(p.Deferred, func(d Deferred) bool { return d.Param == paramList })
	if i < 0 {
		return false
	}
	value := p.Deferred[i].List
	p.Deferred = slices.Delete(p.Deferred, i, i+1)
	if j := slices.IndexFunc(p.Ignored, func(is Issue) bool { return is.Param == paramList }); j >= 0 {
		p.Ignored = slices.Delete(p.Ignored, j, j+1)
	}
	types := p.Query.Types
	clause := store.Clause{}
	for _, ref := range refs {
		typ, id, ok := strings.Cut(ref, "/")
		if !ok || (len(types) > 0 && !slices.Contains(types, typ)) {
			continue
		}
		clause.Any = append(clause.Any, store.Condition{Param: store.ParamID, Op: store.OpExact, Text: id})
	}
	if len(clause.Any) == 0 {
		// An empty list holds nothing: no resource has an empty id.
		clause.Any = []store.Condition{{Param: store.ParamID, Op: store.OpExact, Text: ""}}
	}
	p.Query.Clauses = append(p.Query.Clauses, clause)
	if p.Applied == nil {
		p.Applied = url.Values{}
	}
	p.Applied.Add(paramList, value)
	return true
}
