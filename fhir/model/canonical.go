package model

import (
	"bytes"
	"encoding/json"
	"iter"
	"slices"
	"strconv"
	"time"
)

// The canonical JSON of a resource is the client's own JSON, compacted, with
// resourceType, id and meta moved to the front and meta's versionId and
// lastUpdated replaced by the server's. Parse has validated the body with
// the library and the strict pre-check, which refuses duplicate members,
// empty and null values and misnamed elements, so the client's bytes say
// exactly what the parsed resource says: serialising the proto again would
// only cost time (a fifth of a Patient write's server CPU).

// versionMeta is what SetMeta stamps: meta.versionId and meta.lastUpdated.
type versionMeta struct {
	versionID   int64
	lastUpdated time.Time
}

// member is one member of a JSON object: its name as written (without the
// quotes) and its value's bytes.
type member struct {
	name, value []byte
}

var (
	keyID          = []byte("id")
	keyMeta        = []byte("meta")
	keyVersionID   = []byte("versionId")
	keyLastUpdated = []byte("lastUpdated")
)

// canonical builds the canonical JSON from the client's body.
func (r *Resource) canonical() []byte {
	return canonicalJSON(r.typ, r.ID(), r.body, r.stamp)
}

// Stamp returns the canonical JSON of a body the server built itself, with
// id and meta.versionId and lastUpdated set, without parsing it: body must
// be a compact JSON object that holds a valid resource of typ (the caller
// proves it, e.g. by parsing an outline of it; see fhir.Generated).
func Stamp(typ, id string, body []byte, versionID int64, lastUpdated time.Time) []byte {
	return canonicalJSON(typ, id, body, &versionMeta{versionID: versionID, lastUpdated: lastUpdated.UTC().Truncate(time.Millisecond)})
}

// canonicalJSON is body, compact, with resourceType, id and meta first,
// meta stamped when stamp is not nil.
func canonicalJSON(typ, id string, body []byte, stamp *versionMeta) []byte {
	top := objectMembers(body)
	out := make([]byte, 0, len(body)+96)
	out = append(out, `{"resourceType":`...)
	out = strconv.AppendQuote(out, typ)
	if id != "" {
		out = append(out, `,"id":`...)
		out = appendJSONString(out, id)
	}
	var clientMeta []byte
	for _, m := range top {
		if bytes.Equal(m.name, keyMeta) {
			clientMeta = m.value
		}
	}
	if meta := metaJSON(clientMeta, stamp); meta != nil {
		out = append(out, `,"meta":`...)
		out = append(out, meta...)
	}
	out = appendMembersExcept(out, top, keyType, keyID, keyMeta)
	return append(out, '}')
}

// metaJSON returns the meta to write: the client's, with versionId and
// lastUpdated first and replaced by the stamped ones when there is a
// stamp. It returns nil when there is no meta at all.
func metaJSON(client []byte, stamp *versionMeta) []byte {
	if stamp == nil {
		return client
	}
	out := []byte(`{"versionId":"`)
	out = strconv.AppendInt(out, stamp.versionID, 10)
	out = append(out, `","lastUpdated":"`...)
	out = stamp.lastUpdated.AppendFormat(out, "2006-01-02T15:04:05.000")
	out = append(out, `Z"`...)
	out = appendMembersExcept(out, objectMembers(client), keyVersionID, keyLastUpdated)
	return append(out, '}')
}

// appendMembersExcept appends `,"name":value` for each member but the
// skipped ones, in their order.
func appendMembersExcept(out []byte, members []member, skip ...[]byte) []byte {
	for _, m := range members {
		if slices.ContainsFunc(skip, func(k []byte) bool { return bytes.Equal(m.name, k) }) {
			continue
		}
		out = append(out, ',', '"')
		out = append(out, m.name...)
		out = append(out, '"', ':')
		out = append(out, m.value...)
	}
	return out
}

// appendJSONString appends s as a JSON string. Ids are plain ASCII, so
// this is quoting; the escaping is only there to stay valid JSON whatever
// a caller passes.
func appendJSONString(out []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(out, b...)
}

// Members yields the members of a compact JSON object, such as a stored
// resource's canonical JSON, without decoding it: each name (as written,
// without the quotes) and value are sub-slices of obj. obj must be valid;
// nil or an empty object yields no members.
func Members(obj []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func(name, value []byte) bool) {
		if len(obj) < 2 {
			return
		}
		pos := 1 // after {
		for pos < len(obj) && obj[pos] != '}' {
			nameEnd := skipJSONString(obj, pos)
			valueStart := nameEnd + 1 // after :
			valueEnd := skipJSONValue(obj, valueStart)
			if !yield(obj[pos+1:nameEnd-1], obj[valueStart:valueEnd]) {
				return
			}
			pos = valueEnd
			if pos < len(obj) && obj[pos] == ',' {
				pos++
			}
		}
	}
}

// Items yields the items of a compact JSON array, as Members does the
// members of an object.
func Items(arr []byte) iter.Seq[[]byte] {
	return func(yield func(value []byte) bool) {
		if len(arr) < 2 {
			return
		}
		pos := 1 // after [
		for pos < len(arr) && arr[pos] != ']' {
			end := skipJSONValue(arr, pos)
			if !yield(arr[pos:end]) {
				return
			}
			pos = end
			if pos < len(arr) && arr[pos] == ',' {
				pos++
			}
		}
	}
}

// objectMembers splits a compact JSON object into its members (see
// Members).
func objectMembers(obj []byte) []member {
	var members []member
	for name, value := range Members(obj) {
		members = append(members, member{name: name, value: value})
	}
	return members
}

// skipJSONString returns the offset just past the string starting at pos.
func skipJSONString(data []byte, pos int) int {
	pos++ // opening quote
	for data[pos] != '"' {
		if data[pos] == '\\' {
			pos++
		}
		pos++
	}
	return pos + 1
}

// skipJSONValue returns the offset just past the compact value at pos.
func skipJSONValue(data []byte, pos int) int {
	depth := 0
	for pos < len(data) {
		switch data[pos] {
		case '"':
			pos = skipJSONString(data, pos)
			if depth == 0 {
				return pos
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return pos // the end of the enclosing object
			}
			depth--
			if depth == 0 {
				return pos + 1
			}
		case ',':
			if depth == 0 {
				return pos
			}
		}
		pos++
	}
	return pos
}
