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
func EventID(seq int64) string { return "audit-" + strconv.FormatInt(seq, 10) }

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
	// The envelope up to the hash extension's place; the hash covers it,
	// then "]" and content, and the stored body has the extension between.
	var head [320]byte
	envelope := append(head[:0], `{"resourceType":"AuditEvent","id":"`...)
	envelope = append(envelope, EventID(seq)...)
	envelope = append(envelope, `","meta":{"versionId":"1","lastUpdated":"`...)
	envelope = at.UTC().AppendFormat(envelope, "2006-01-02T15:04:05.000")
	envelope = append(envelope, `Z"},"extension":[{"url":"`+SequenceURL+`","valueDecimal":`...)
	envelope = strconv.AppendInt(envelope, seq, 10)
	envelope = append(envelope, '}')

	h := sha256.New()
	h.Write(prev.hash[:])
	h.Write(envelope)
	h.Write([]byte{']'})
	h.Write(content)
	next := link{seq: seq}
	h.Sum(next.hash[:0])

	ext := hashMember(next.hash)
	out := make([]byte, 0, len(envelope)+len(ext)+1+len(content))
	out = append(out, envelope...)
	out = append(out, ext...)
	out = append(out, ']')
	out = append(out, content...)
	return out, next
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
	return []byte(`,{"url":"` + HashURL + `","valueBase64Binary":"` + base64.StdEncoding.EncodeToString(hash[:]) + `"}`)
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
