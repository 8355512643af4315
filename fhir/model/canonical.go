package model

import (
	"bytes"
	"encoding/json"
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
	top := objectMembers(r.body)
	out := make([]byte, 0, len(r.body)+96)
	out = append(out, `{"resourceType":`...)
	out = strconv.AppendQuote(out, r.typ)
	if id := r.ID(); id != "" {
		out = append(out, `,"id":`...)
		out = appendJSONString(out, id)
	}
	var clientMeta []byte
	for _, m := range top {
		if bytes.Equal(m.name, keyMeta) {
			clientMeta = m.value
		}
	}
	if meta := r.metaJSON(clientMeta); meta != nil {
		out = append(out, `,"meta":`...)
		out = append(out, meta...)
	}
	out = appendMembersExcept(out, top, keyType, keyID, keyMeta)
	return append(out, '}')
}

// metaJSON returns the meta to write: the client's, with versionId and
// lastUpdated first and replaced by the stamped ones when SetMeta was
// called. It returns nil when there is no meta at all.
func (r *Resource) metaJSON(client []byte) []byte {
	if r.stamp == nil {
		return client
	}
	out := []byte(`{"versionId":"`)
	out = strconv.AppendInt(out, r.stamp.versionID, 10)
	out = append(out, `","lastUpdated":"`...)
	out = r.stamp.lastUpdated.AppendFormat(out, "2006-01-02T15:04:05.000")
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

// objectMembers splits a compact JSON object into its members. The object
// is known to be valid (Parse checked it); nil or an empty object yields
// no members.
func objectMembers(obj []byte) []member {
	if len(obj) < 2 {
		return nil
	}
	var members []member
	pos := 1 // after {
	for pos < len(obj) && obj[pos] != '}' {
		nameEnd := skipJSONString(obj, pos)
		name := obj[pos+1 : nameEnd-1]
		valueStart := nameEnd + 1 // after :
		valueEnd := skipJSONValue(obj, valueStart)
		members = append(members, member{name: name, value: obj[valueStart:valueEnd]})
		pos = valueEnd
		if pos < len(obj) && obj[pos] == ',' {
			pos++
		}
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
