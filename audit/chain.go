package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/telehub/telehub/store"
)

// The chain's extension URLs (see the package documentation).
const (
	SequenceURL = "https://telehub.dev/fhir/StructureDefinition/audit-sequence"
	HashURL     = "https://telehub.dev/fhir/StructureDefinition/audit-hash"
)

// SequenceParam is the index entry (a number) every chained event carries
// with its sequence. It is not a FHIR search parameter: Verify uses it to
// find chained events beyond a gap.
const SequenceParam = "_audit-sequence"

// The chain head record in store.Records.
const (
	headKind = "audit.chain"
	headKey  = "head"
)

const resourceType = "AuditEvent"

// EventID is the id of the chained event at sequence seq.
func EventID(seq int64) string {
	var id [32]byte
	return string(appendEventID(id[:0], seq))
}

func appendEventID(dst []byte, seq int64) []byte {
	return strconv.AppendInt(append(dst, "audit-"...), seq, 10)
}

// IsReservedID reports whether id is of the form the chain's events take:
// the REST layer must refuse it to a client creating an AuditEvent by PUT,
// or the client would take a sequence number ahead of the chain and stop
// the recorder (fail-closed: every audited request would then fail).
func IsReservedID(id string) bool { return strings.HasPrefix(id, "audit-") }

// link is one position of the chain.
type link struct {
	seq  int64
	hash [sha256.Size]byte
}

// genesis is the (virtual) link before event 1.
var genesis = link{}

// head is the chain head record's value.
type head struct {
	Sequence int64  `json:"sequence"`
	Hash     string `json:"hash"` // base64
}

// chainedBody builds the stored JSON of the event at seq after prev: the
// envelope (id, meta, chain extensions) then content (the event's JSON
// members after resourceType, starting with a comma). It returns the body
// and the new link.
func chainedBody(prev link, seq int64, at time.Time, content []byte) ([]byte, link) {
	var scratch [envelopeSize]byte
	envelope, next := chainEnvelope(scratch[:0], prev, seq, at, content)
	out := make([]byte, 0, chainedBodyLen(envelope, content))
	return appendChainedBody(out, envelope, next, content), next
}

// envelopeSize is room enough for an envelope: callers keep it on the stack.
const envelopeSize = 320

// chainEnvelope appends to dst the envelope of the event at seq after prev,
// up to the hash extension's place, and hashes the event: the hash covers
// prev's hash, the envelope, then "]" and content; the stored body has the
// hash extension between (appendChainedBody).
func chainEnvelope(dst []byte, prev link, seq int64, at time.Time, content []byte) ([]byte, link) {
	envelope := appendEnvelope(dst, seq, at)
	h := sha256.New()
	h.Write(prev.hash[:])
	h.Write(envelope)
	h.Write([]byte{']'})
	h.Write(content)
	next := link{seq: seq}
	h.Sum(next.hash[:0])
	return envelope, next
}

// appendEnvelope appends the envelope of the event at seq stored at at:
// its id, meta and sequence extension, up to the hash extension's place.
func appendEnvelope(dst []byte, seq int64, at time.Time) []byte {
	envelope := appendEventID(append(dst, `{"resourceType":"AuditEvent","id":"`...), seq)
	envelope = append(envelope, `","meta":{"versionId":"1","lastUpdated":"`...)
	envelope = at.UTC().AppendFormat(envelope, "2006-01-02T15:04:05.000")
	envelope = append(envelope, `Z"},"extension":[{"url":"`+SequenceURL+`","valueDecimal":`...)
	envelope = strconv.AppendInt(envelope, seq, 10)
	return append(envelope, '}')
}

// chainedBodyLen is the length of the body appendChainedBody appends.
func chainedBodyLen(envelope, content []byte) int {
	return len(envelope) + hashMemberLen + 1 + len(content)
}

// appendChainedBody appends the stored body: envelope, the hash extension
// of next, "]", content.
func appendChainedBody(dst, envelope []byte, next link, content []byte) []byte {
	dst = append(dst, envelope...)
	dst = appendHashMember(dst, next.hash)
	dst = append(dst, ']')
	return append(dst, content...)
}

func chainHash(prev [sha256.Size]byte, withoutHash []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(withoutHash)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// hashMember is the hash extension as it appears in the extension array.
func hashMember(hash [sha256.Size]byte) []byte {
	return appendHashMember(make([]byte, 0, hashMemberLen), hash)
}

const (
	hashMemberPrefix = `,{"url":"` + HashURL + `","valueBase64Binary":"`
	hashMemberLen    = len(hashMemberPrefix) + (sha256.Size+2)/3*4 + len(`"}`)
)

func appendHashMember(dst []byte, hash [sha256.Size]byte) []byte {
	dst = append(dst, hashMemberPrefix...)
	dst = base64.StdEncoding.AppendEncode(dst, hash[:])
	return append(dst, `"}`...)
}

// errBadChainBody: a stored event's chain extensions are not what the
// Recorder writes.
var errBadChainBody = errors.New("chain extensions missing or malformed")

// chainFields reads the sequence and stated hash of a stored event, and
// the bytes its hash covers.
func chainFields(body []byte) (seq int64, stated [sha256.Size]byte, covered []byte, err error) {
	var doc struct {
		Extension []struct {
			URL               string      `json:"url"`
			ValueDecimal      json.Number `json:"valueDecimal"`
			ValueBase64Binary string      `json:"valueBase64Binary"`
		} `json:"extension"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return 0, stated, nil, fmt.Errorf("%w: %v", errBadChainBody, err)
	}
	var hashText string
	for _, x := range doc.Extension {
		switch x.URL {
		case SequenceURL:
			seq, err = strconv.ParseInt(string(x.ValueDecimal), 10, 64)
		case HashURL:
			hashText = x.ValueBase64Binary
		}
	}
	raw, derr := base64.StdEncoding.DecodeString(hashText)
	if err != nil || seq < 1 || derr != nil || len(raw) != sha256.Size {
		return 0, stated, nil, errBadChainBody
	}
	copy(stated[:], raw)
	member := hashMember(stated)
	if bytes.Count(body, member) != 1 {
		return 0, stated, nil, errBadChainBody
	}
	i := bytes.Index(body, member)
	covered = append(append(make([]byte, 0, len(body)), body[:i]...), body[i+len(member):]...)
	return seq, stated, covered, nil
}

// sequenceEntry is the index entry of a chained event's sequence.
func sequenceEntry(seq int64) store.IndexEntry {
	return store.IndexEntry{Param: SequenceParam, Kind: store.KindNumber, Low: float64(seq), High: float64(seq) + 1}
}

func encodeHead(l link) ([]byte, error) {
	return json.Marshal(head{Sequence: l.seq, Hash: base64.StdEncoding.EncodeToString(l.hash[:])})
}

func decodeHead(value []byte) (link, error) {
	var h head
	if err := json.Unmarshal(value, &h); err != nil {
		return link{}, fmt.Errorf("audit: chain head: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(h.Hash)
	if err != nil || len(raw) != sha256.Size || h.Sequence < 0 {
		return link{}, fmt.Errorf("audit: chain head: malformed hash or sequence")
	}
	l := link{seq: h.Sequence}
	copy(l.hash[:], raw)
	return l, nil
}
