package signaling

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// The relay's busiest path is an offer, answer or candidate on its way to
// a peer: of such a message it only needs "type", "to" and the presence of
// "from", "sdp" and "candidate". scanEnvelope reads those in one pass over
// the bytes, validating the whole message as JSON on the way, without the
// reflection and copies of encoding/json. Anything it is not sure to read
// exactly as encoding/json would (escapes in the members it reads, keys
// that differ from them only by case, deep nesting, a join, a message in
// error) it leaves to encoding/json, so that both paths accept the same
// messages and report the same errors.

// maxFastDepth bounds the nesting the scanner follows; deeper messages go
// to encoding/json (whose own limit is 10,000).
const maxFastDepth = 64

// fastTypes are the message types the scanner decodes; their strings are
// shared, not copied out of the read buffer.
var fastTypes = map[string]string{"offer": "offer", "answer": "answer", "candidate": "candidate", "ping": "ping", "leave": "leave", "end": "end"}

// envelopeKeys are inbound's members; a key equal to one of them but for
// case is matched by encoding/json, so it sends the message the slow way.
var envelopeKeys = [...]string{"type", "to", "from", "room", "token", "resume", "name", "sdp", "candidate"}

// scanEnvelope decodes data (one JSON object) into msg; ok is false
// when the message must be decoded with encoding/json instead.
func scanEnvelope(data []byte, msg *inbound) (ok bool) {
	s := scanner{b: data}
	*msg = inbound{}
	var typ, to []byte
	s.ws()
	if !s.byte('{') {
		return false
	}
	s.ws()
	if s.peek() == '}' {
		s.i++
	} else {
		for {
			key, ok := s.plainString()
			if !ok {
				return false
			}
			s.ws()
			if !s.byte(':') {
				return false
			}
			s.ws()
			start := s.i
			if !s.value(1) {
				return false
			}
			val := s.b[start:s.i]
			switch string(key) {
			case "type":
				if typ, ok = stringValue(val); !ok {
					return false
				}
			case "to":
				if to, ok = stringValue(val); !ok || !isASCII(to) {
					return false
				}
			case "from":
				f, ok := stringValue(val)
				if !ok {
					return false
				}
				msg.From = ""
				if len(f) > 0 {
					msg.From = "set"
				}
			case "sdp":
				msg.SDP = jsonValue{present: true, empty: isEmptyValue(val)}
			case "candidate":
				msg.Candidate = jsonValue{present: true, empty: isEmptyValue(val)}
			case "room", "token", "resume", "name":
				return false // a join, or a stray join member: the full decoder
			default:
				for _, k := range envelopeKeys {
					if bytes.EqualFold(key, []byte(k)) {
						return false
					}
				}
			}
			s.ws()
			if s.byte('}') {
				break
			}
			if !s.byte(',') {
				return false
			}
			s.ws()
		}
	}
	if s.ws(); s.i != len(s.b) {
		return false
	}
	t, known := fastTypes[string(typ)]
	if !known {
		return false
	}
	msg.Type, msg.toRaw = t, to
	if to == nil {
		msg.toRaw = []byte{} // no "to": as empty as an empty one
	}
	return true
}

// stringValue returns the content of a JSON string without escapes; ok is
// false for any other value (null included: rare enough to leave aside).
func stringValue(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || bytes.IndexByte(v, '\\') >= 0 {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

// isASCII reports whether b is all ASCII: encoding/json decodes invalid
// UTF-8 as U+FFFD, so a "to" of other bytes is left to it (peer ids are
// ASCII). Other members need not: an invalid "type" is unknown either
// way, of "from" only the presence counts, and keys are compared by folding.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isEmptyValue(v []byte) bool { return string(v) == "null" || string(v) == `""` }

// scanner walks JSON text, accepting exactly what encoding/json accepts.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// plainString reads a string without escapes and returns its content.
func (s *scanner) plainString() ([]byte, bool) {
	start := s.i
	if !s.str() {
		return nil, false
	}
	v, ok := stringValue(s.b[start:s.i])
	return v, ok
}

func (s *scanner) value(depth int) bool {
	if depth > maxFastDepth {
		return false
	}
	switch s.peek() {
	case '"':
		return s.str()
	case '{':
		s.i++
		s.ws()
		if s.byte('}') {
			return true
		}
		for {
			if !s.str() {
				return false
			}
			s.ws()
			if !s.byte(':') {
				return false
			}
			s.ws()
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.byte('}') {
				return true
			}
			if !s.byte(',') {
				return false
			}
			s.ws()
		}
	case '[':
		s.i++
		s.ws()
		if s.byte(']') {
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.byte(']') {
				return true
			}
			if !s.byte(',') {
				return false
			}
			s.ws()
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

func (s *scanner) literal(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// str reads a string: no control characters, only JSON's escapes.
func (s *scanner) str() bool {
	if !s.byte('"') {
		return false
	}
	for s.i < len(s.b) {
		if s.i+8 <= len(s.b) {
			// Eight bytes at a time to the next one that is not plain:
			// most of an SDP or a candidate goes this way.
			special := specialBytes(binary.LittleEndian.Uint64(s.b[s.i:]))
			if special == 0 {
				s.i += 8
				continue
			}
			s.i += bits.TrailingZeros64(special) / 8
		}
		c := s.b[s.i]
		if plainByte[c] {
			s.i++
			continue
		}
		switch {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			s.i++
			switch s.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				s.i++
				for range 4 {
					if !isHex(s.peek()) {
						return false
					}
					s.i++
				}
			default:
				return false
			}
		default:
			s.i++
		}
	}
	return false
}

// plainByte marks the bytes a string holds as they are: not '"', not '\\',
// not a control character.
var plainByte = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

// specialBytes marks (with its high bit) the first of the eight bytes of w,
// in memory order, that is not a plain byte: a control character, '"' or
// '\\'; 0 when all are plain. Bytes after the first may be marked too, or
// not. (Each test is the classic "has a byte less than n" of eight bytes at
// once: subtracting n from every byte borrows, and sets its high bit, below
// n, and the borrow only runs towards later bytes; bytes of 0x80 and more
// are masked out by &^.)
func specialBytes(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := w^(ones*'"'), w^(ones*'\\')
	return ((w-ones*0x20)&^w | (quote-ones)&^quote | (backslash-ones)&^backslash) & highs
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	s.byte('-')
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return false
	}
	if s.byte('.') && s.digits() == 0 {
		return false
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}
