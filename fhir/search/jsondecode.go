package search

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeJSON decodes a JSON document into the values encoding/json gives with
// UseNumber (map[string]any, []any, string, json.Number, bool, nil), about
// three times faster: extraction runs on every write, and decoding was most of
// its time. Invalid documents are rejected, as encoding/json would.
func decodeJSON(data []byte) (any, error) {
	return decodeJSONSkipping(data, "")
}

// decodeResource decodes a resource for extraction, leaving out its
// narrative ("text"): no indexed parameter reads it, and the XHTML is often
// the largest part of the document. The narrative is only scanned for its
// end (brackets balanced, strings terminated): the bodies reaching extraction
// have been parsed and validated before (package fhir).
func decodeResource(data []byte) (any, error) {
	return decodeJSONSkipping(data, "text")
}

func decodeJSONSkipping(data []byte, skip string) (any, error) {
	d := jsonDecoder{data: data, skip: skip}
	d.space()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.pos != len(d.data) {
		return nil, d.errorf("data after the document")
	}
	return v, nil
}

// maxJSONDepth bounds nesting so a hostile document cannot exhaust the stack.
const maxJSONDepth = 1000

type jsonDecoder struct {
	data []byte
	pos  int
	// skip is a member of the top-level object whose value is checked but
	// not kept.
	skip string
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", d.pos, fmt.Sprintf(format, args...))
}

func (d *jsonDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value(depth int) (any, error) {
	if d.pos >= len(d.data) {
		return nil, d.errorf("unexpected end")
	}
	if depth > maxJSONDepth {
		return nil, d.errorf("nested too deep")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		return d.string()
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, d.errorf("unexpected %q", d.data[d.pos])
}

func (d *jsonDecoder) literal(word string) error {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return d.errorf("invalid literal")
	}
	d.pos += len(word)
	return nil
}

func (d *jsonDecoder) object(depth int) (any, error) {
	d.pos++ // {
	m := map[string]any{}
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return m, nil
	}
	for {
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.errorf("want an object key")
		}
		key, err := d.string()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, d.errorf("want ':'")
		}
		d.pos++
		d.space()
		if depth == 0 && key == d.skip && d.skip != "" {
			if err := d.skipValue(); err != nil {
				return nil, err
			}
		} else {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[key] = v
		}
		d.space()
		if d.pos >= len(d.data) {
			return nil, d.errorf("unterminated object")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return m, nil
		default:
			return nil, d.errorf("want ',' or '}'")
		}
	}
}

func (d *jsonDecoder) array(depth int) (any, error) {
	d.pos++ // [
	a := []any{}
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return a, nil
	}
	for {
		d.space()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.space()
		if d.pos >= len(d.data) {
			return nil, d.errorf("unterminated array")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return a, nil
		default:
			return nil, d.errorf("want ',' or ']'")
		}
	}
}

// skipValue passes over a value without building it, checking that brackets
// balance, strings end and scalars are valid, not the full grammar.
func (d *jsonDecoder) skipValue() error {
	depth := 0
	for d.pos < len(d.data) {
		switch c := d.data[d.pos]; c {
		case '"':
			if err := d.skipString(); err != nil {
				return err
			}
		case '{', '[':
			depth++
			d.pos++
		case '}', ']':
			depth--
			d.pos++
		case ',', ':', ' ', '\t', '\n', '\r':
			d.pos++
		default:
			// A scalar: decoding it validates it and costs no allocation worth
			// avoiding, except for long strings, handled above.
			if _, err := d.value(maxJSONDepth); err != nil {
				return err
			}
		}
		if depth == 0 {
			return nil
		}
		if depth < 0 {
			return d.errorf("unbalanced brackets")
		}
	}
	return d.errorf("unexpected end")
}

// skipString passes over a string, checking its escapes.
func (d *jsonDecoder) skipString() error {
	d.pos++ // "
	for d.pos < len(d.data) {
		switch c := d.data[d.pos]; {
		case c == '"':
			d.pos++
			return nil
		case c == '\\':
			if d.pos+1 >= len(d.data) || strings.IndexByte(`"\\/bfnrtu`, d.data[d.pos+1]) < 0 {
				return d.errorf("%v", errBadEscape)
			}
			d.pos += 2
			continue
		case c < 0x20:
			return d.errorf("control character in string")
		}
		d.pos++
	}
	return d.errorf("unterminated string")
}

// number checks the JSON number grammar and keeps the text.
func (d *jsonDecoder) number() (any, error) {
	start := d.pos
	digits := func() int {
		n := 0
		for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
			d.pos++
			n++
		}
		return n
	}
	if d.data[d.pos] == '-' {
		d.pos++
	}
	intStart := d.pos
	if digits() == 0 || d.data[intStart] == '0' && d.pos-intStart > 1 {
		return nil, d.errorf("invalid number")
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if digits() == 0 {
			return nil, d.errorf("invalid number")
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if digits() == 0 {
			return nil, d.errorf("invalid number")
		}
	}
	return json.Number(d.data[start:d.pos]), nil
}

var errBadEscape = errors.New("invalid escape")

func (d *jsonDecoder) string() (string, error) {
	d.pos++ // "
	start := d.pos
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			s := string(d.data[start:d.pos])
			d.pos++
			if !utf8.ValidString(s) {
				return toValidUTF8(s), nil
			}
			return s, nil
		case c == '\\':
			return d.escapedString(start)
		case c < 0x20:
			return "", d.errorf("control character in string")
		}
		d.pos++
	}
	return "", d.errorf("unterminated string")
}

// escapedString finishes a string that has escapes, from its start.
func (d *jsonDecoder) escapedString(start int) (string, error) {
	buf := append([]byte(nil), d.data[start:d.pos]...)
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			return toValidUTF8(string(buf)), nil
		case c < 0x20:
			return "", d.errorf("control character in string")
		case c != '\\':
			buf = append(buf, c)
			d.pos++
			continue
		}
		if d.pos+1 >= len(d.data) {
			break
		}
		d.pos++
		switch e := d.data[d.pos]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, err := d.hex4(d.pos + 1)
			if err != nil {
				return "", err
			}
			d.pos += 4
			if utf16.IsSurrogate(r) {
				if r2, err := d.hex4(d.pos + 3); err == nil && d.data[d.pos+1] == '\\' && d.data[d.pos+2] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						d.pos += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", d.errorf("%v \\%c", errBadEscape, e)
		}
		d.pos++
	}
	return "", d.errorf("unterminated string")
}

func (d *jsonDecoder) hex4(at int) (rune, error) {
	if at+4 > len(d.data) {
		return 0, d.errorf("%v: short \\u", errBadEscape)
	}
	v, err := strconv.ParseUint(string(d.data[at:at+4]), 16, 32)
	if err != nil {
		return 0, d.errorf("%v: \\u%s", errBadEscape, d.data[at:at+4])
	}
	return rune(v), nil
}

// toValidUTF8 replaces invalid bytes by U+FFFD, as encoding/json does.
func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b []byte
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b = utf8.AppendRune(b, r)
		i += size
	}
	return string(b)
}
