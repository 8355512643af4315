package fhir

import (
	"bytes"
	"strings"
)

// scanPatientRefs reads the members patientOf needs from a resource's
// JSON without decoding it: the answer of every audited read and write
// goes through patientOf, and decoding the whole resource with
// encoding/json cost more than building the AuditEvent. It reads the
// server's own JSON (canonical: exact member names, no duplicates); at
// anything it does not expect (an escaped string, a malformed document) it
// answers false and the caller decodes the body instead. A subject,
// patient or beneficiary that is not an object (an array, as
// Contract.subject) answers ok with no references, as the failed decoding
// answered no patient. It stops at a subject that is a Patient reference
// (with the resource type read): what follows cannot change patientOf's
// answer, and most of an Observation comes after its subject.
func scanPatientRefs(body []byte) (patientRefs, bool) {
	s := &jsonScan{b: body}
	var refs patientRefs
	if !s.consume('{') {
		return refs, false
	}
	if s.consume('}') {
		return refs, true
	}
	for {
		key, ok := s.raw()
		if !ok || !s.consume(':') {
			return refs, false
		}
		switch string(key) { // compared in place, not allocated
		case "resourceType":
			if refs.resourceType, ok = s.str(); !ok {
				return refs, false
			}
		case "subject", "patient", "beneficiary":
			ref, shaped, ok := s.reference()
			if !ok {
				return refs, false
			}
			if !shaped {
				return patientRefs{}, true
			}
			switch string(key) {
			case "subject":
				refs.subject = ref
			case "patient":
				refs.patient = ref
			default:
				refs.beneficiary = ref
			}
		default:
			if !s.skip() {
				return refs, false
			}
		}
		if refs.resourceType != "" && strings.HasPrefix(refs.subject, "Patient/") {
			// patientOf's answer whatever follows: a subject comes first.
			return refs, true
		}
		if s.consume('}') {
			s.space()
			return refs, s.i == len(s.b)
		}
		if !s.consume(',') {
			return refs, false
		}
	}
}

// jsonScan walks a JSON document.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// consume skips spaces and c, reporting whether c came.
func (s *jsonScan) consume(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// raw reads a string without escapes (false for one with escapes), as
// the bytes between its quotes.
func (s *jsonScan) raw() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	end := bytes.IndexByte(s.b[s.i:], '"')
	if end < 0 || bytes.IndexByte(s.b[s.i:s.i+end], '\\') >= 0 {
		return nil, false
	}
	v := s.b[s.i : s.i+end]
	s.i += end + 1
	return v, true
}

// str is raw as a string.
func (s *jsonScan) str() (string, bool) {
	v, ok := s.raw()
	return string(v), ok
}

// reference reads a Reference's "reference"; shaped is false when the
// value is neither an object nor null.
func (s *jsonScan) reference() (ref string, shaped, ok bool) {
	s.space()
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += len("null")
		return "", true, true
	}
	if !s.consume('{') {
		return "", false, s.skip()
	}
	if s.consume('}') {
		return "", true, true
	}
	for {
		key, ok := s.raw()
		if !ok || !s.consume(':') {
			return "", false, false
		}
		if string(key) == "reference" {
			if ref, ok = s.str(); !ok {
				return "", false, false
			}
		} else if !s.skip() {
			return "", false, false
		}
		if s.consume('}') {
			return ref, true, true
		}
		if !s.consume(',') {
			return "", false, false
		}
	}
}

// skip passes over one value: strings with their escapes, objects and
// arrays to their matching end, numbers and literals to the next
// delimiter.
func (s *jsonScan) skip() bool {
	s.space()
	depth := 0
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			end := stringEnd(s.b, s.i)
			if end < 0 {
				return false
			}
			s.i = end
			if depth == 0 {
				return true
			}
		case '{', '[':
			depth++
			s.i++
		case '}', ']':
			if depth == 0 {
				return true // the end of the enclosing object: a scalar just ended
			}
			depth--
			s.i++
			if depth == 0 {
				return true
			}
		case ',':
			if depth == 0 {
				return true
			}
			s.i++
		default:
			s.i++
		}
	}
	return depth == 0
}
