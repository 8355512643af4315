package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The library is lenient where FHIR JSON is not: it accepts "BirthDate" for
// birthDate, duplicate members (the last wins), and empty strings, arrays
// and objects (which it silently drops). checkStrict rejects those before the
// library sees the body, in one pass over bytes already known to be valid
// JSON, and checks the narrative's outer element.

// strictScanner walks a syntactically valid JSON document without
// allocating on the success path: names are slices of the input and the
// element path is only spelled out when there is an error to report.
type strictScanner struct {
	data []byte
	pos  int
	path []segment

	resourceType []byte // the root's resourceType value, as written
	nulls        []int  // offsets of the nulls found in arrays

	arrayNulls []int // indices of the direct nulls of the array just scanned
}

// segment is one step of the element path: a member name, and the index
// within it when the member is an array (-1 otherwise).
type segment struct {
	name  []byte
	index int
}

var (
	keyDiv  = []byte("div")
	keyText = []byte("text")
	keyType = []byte("resourceType")
)

// strictResult is what checkStrict learnt about a body.
type strictResult struct {
	resourceType []byte // the root's resourceType value (JSON), nil when absent
	nulls        []int  // offsets of the nulls in primitive arrays
}

// checkStrict applies the FHIR JSON rules the library does not to a body
// that json.Valid accepted. The error's Path is relative to the root
// (".name[0]"), for the caller to prefix with the type.
func checkStrict(body []byte) (strictResult, *Error) {
	s := &strictScanner{data: body}
	s.skipSpace()
	if s.pos == len(s.data) || s.data[s.pos] != '{' {
		return strictResult{}, newError("", "a resource must be a JSON object", true)
	}
	err := s.object(nil, true)
	return strictResult{resourceType: s.resourceType, nulls: s.nulls}, err
}

// withoutArrayNulls returns body with the nulls of primitive arrays
// ("given": ["a", null], "_given": [null, {...}]) replaced by empty
// objects. The library fails on those nulls, but reads an empty object in
// a primitive array as "no value" (given) or "no extension" (_given), which
// is what the null means. The replacement has the same length, so offsets
// stay valid.
func withoutArrayNulls(body []byte, nulls []int) []byte {
	if len(nulls) == 0 {
		return body
	}
	out := append([]byte(nil), body...)
	for _, at := range nulls {
		copy(out[at:], "{}  ")
	}
	return out
}

func (s *strictScanner) fail(format string, args ...any) *Error {
	var b strings.Builder
	for _, seg := range s.path {
		b.WriteByte('.')
		b.Write(seg.name)
		if seg.index >= 0 {
			b.WriteString("[" + strconv.Itoa(seg.index) + "]")
		}
	}
	return &Error{Path: b.String(), Message: fmt.Sprintf(format, args...)}
}

func (s *strictScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value checks the value at pos; key is the member it belongs to, parentKey
// the member holding the enclosing object.
func (s *strictScanner) value(key, parentKey []byte, inArray bool) *Error {
	switch s.data[s.pos] {
	case '{':
		return s.object(key, false)
	case '[':
		return s.array(key)
	case '"':
		start := s.pos
		s.skipString()
		if s.pos-start == 2 {
			return s.fail("empty string (omit the element instead)")
		}
		if bytes.Equal(key, keyDiv) && bytes.Equal(parentKey, keyText) {
			return s.narrative(s.data[start:s.pos])
		}
		return nil
	case 'n':
		if !inArray {
			return s.fail("null (omit the element instead)")
		}
		s.nulls = append(s.nulls, s.pos)
		s.pos += len("null")
		return nil
	default: // true, false, number
		for s.pos < len(s.data) && !isDelimiter(s.data[s.pos]) {
			s.pos++
		}
		return nil
	}
}

func (s *strictScanner) object(key []byte, root bool) *Error {
	s.pos++ // {
	s.skipSpace()
	if s.data[s.pos] == '}' {
		s.pos++
		if root {
			return nil
		}
		return s.fail("empty object (omit the element instead)")
	}
	var seenBuf [16][]byte
	seen := seenBuf[:0]
	var seenSet map[string]bool  // replaces the linear search in big objects
	var nullMembers []nullMember // members whose arrays hold nulls
	for {
		s.skipSpace()
		start := s.pos
		s.skipString()
		name := s.data[start+1 : s.pos-1]
		s.path = append(s.path, segment{name: name, index: -1})
		if seenBefore(seen, &seenSet, name) {
			return s.fail("element %q appears more than once", name)
		}
		seen = append(seen, name)
		if len(name) == 0 {
			return s.fail("empty element name")
		}
		if bytes.IndexByte(name, '\\') >= 0 {
			return s.fail("unknown element %q (element names are plain letters, without escapes)", name)
		}
		if bare := bytes.TrimPrefix(name, []byte("_")); len(bare) > 0 && bare[0] >= 'A' && bare[0] <= 'Z' {
			return s.fail("unknown element %q (element names are case-sensitive)", name)
		}
		s.skipSpace()
		s.pos++ // :
		s.skipSpace()
		valueStart := s.pos
		if err := s.value(name, key, false); err != nil {
			return err
		}
		if s.data[valueStart] == '[' && len(s.arrayNulls) > 0 {
			nullMembers = append(nullMembers, nullMember{name: name, indices: s.arrayNulls})
		}
		if root && bytes.Equal(name, keyType) {
			s.resourceType = s.data[valueStart:s.pos]
		}
		s.path = s.path[:len(s.path)-1]
		s.skipSpace()
		if s.data[s.pos] == '}' {
			s.pos++
			return s.checkNullPartners(seen, nullMembers)
		}
		s.pos++ // ,
	}
}

// seenBefore reports whether name is among the members seen so far,
// switching to a set once an object is too big for a linear search.
func seenBefore(seen [][]byte, set *map[string]bool, name []byte) bool {
	const linearLimit = 32
	if len(seen) < linearLimit {
		return containsName(seen, name)
	}
	if *set == nil {
		*set = make(map[string]bool, 2*len(seen))
		for _, n := range seen {
			(*set)[string(n)] = true
		}
	}
	if (*set)[string(name)] {
		return true
	}
	(*set)[string(name)] = true
	return false
}

// nullMember is an array member of an object with the indices of its nulls.
type nullMember struct {
	name    []byte
	indices []int
}

// checkNullPartners accepts the nulls of this object's arrays only in a
// primitive array paired with its extension array (given/_given), which is
// the one place FHIR JSON allows null, and never at the same index in both.
func (s *strictScanner) checkNullPartners(members [][]byte, nullMembers []nullMember) *Error {
	for _, m := range nullMembers {
		partner := []byte("_" + string(m.name))
		if m.name[0] == '_' {
			partner = m.name[1:]
		}
		if !containsName(members, partner) {
			s.path = append(s.path, segment{name: m.name, index: -1})
			return s.fail("null in an array is only allowed where %q aligns it with %q", m.name, partner)
		}
		for _, other := range nullMembers {
			if !bytes.Equal(other.name, partner) {
				continue
			}
			if i, ok := commonIndex(m.indices, other.indices); ok {
				s.path = append(s.path, segment{name: m.name, index: i})
				return s.fail("null in both %q and %q: the item has neither a value nor an extension", m.name, partner)
			}
		}
	}
	return nil
}

// commonIndex returns the first index two ascending lists share.
func commonIndex(a, b []int) (int, bool) {
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0] == b[0]:
			return a[0], true
		case a[0] < b[0]:
			a = a[1:]
		default:
			b = b[1:]
		}
	}
	return 0, false
}

func containsName(names [][]byte, name []byte) bool {
	for _, n := range names {
		if bytes.Equal(n, name) {
			return true
		}
	}
	return false
}

func (s *strictScanner) array(key []byte) *Error {
	s.pos++ // [
	s.skipSpace()
	if s.data[s.pos] == ']' {
		s.pos++
		return s.fail("empty array (omit the element instead)")
	}
	last := len(s.path) - 1 // an index: nested appends may move the slice
	var nulls []int
	for i := 0; ; i++ {
		s.path[last].index = i
		s.skipSpace()
		if s.data[s.pos] == 'n' {
			nulls = append(nulls, i)
		}
		if err := s.value(key, nil, true); err != nil {
			return err
		}
		s.skipSpace()
		if s.data[s.pos] == ']' {
			s.pos++
			s.path[last].index = -1
			s.arrayNulls = nulls
			return nil
		}
		s.pos++ // ,
	}
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// skipString moves past the string starting at pos (valid JSON assumed).
func (s *strictScanner) skipString() {
	s.pos++ // opening quote
	for s.data[s.pos] != '"' {
		if s.data[s.pos] == '\\' {
			s.pos++
		}
		s.pos++
	}
	s.pos++
}

// narrative checks Narrative.div (txt-1, txt-2): a single XHTML div, without
// the active content the spec forbids.
func (s *strictScanner) narrative(quoted []byte) *Error {
	var div string
	if err := json.Unmarshal(quoted, &div); err != nil {
		return s.fail("bad string: %v", err)
	}
	div = strings.TrimSpace(div)
	if !strings.HasPrefix(div, "<div") || !strings.HasSuffix(div, "</div>") && !strings.HasSuffix(div, "/>") {
		return s.fail("the narrative must be a single XHTML <div> element")
	}
	open, _, _ := strings.Cut(div, ">")
	if !strings.Contains(open, `xmlns="http://www.w3.org/1999/xhtml"`) && !strings.Contains(open, `xmlns='http://www.w3.org/1999/xhtml'`) {
		return s.fail("the narrative <div> must declare the XHTML namespace")
	}
	lower := strings.ToLower(div)
	for _, banned := range []string{"<script", "<iframe", "<object", "<embed", "<form", "<applet", "javascript:"} {
		if strings.Contains(lower, banned) {
			return s.fail("the narrative contains forbidden active content (%s)", strings.TrimPrefix(banned, "<"))
		}
	}
	return nil
}
