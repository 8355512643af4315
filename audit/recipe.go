package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/telehub/telehub/store"
)

// builder names the function an event was built by: with the builder's
// inputs (a recipe), it gives the whole AuditEvent back.
type builder uint8

const (
	builtNone builder = iota
	builtRead
	builtCreate
	builtUpdate
	builtDelete
	builtSearch
	builtLogin
	builtTokenIssued
	builtTokenRevoked
	builtConsentDecision
	builtBreakTheGlass
	builtEnd // one past the last
)

// recipe is what a builder was given. The builders are pure functions of
// it, so the recipe is the event: the trail stores it in a record of a
// hundred-odd bytes instead of two kilobytes of JSON (see "Records" in the
// package documentation).
type recipe struct {
	built   builder
	at      time.Time // recorded: UTC, to the millisecond
	who     Agent
	what    Target // for a search, what.Type is the type searched
	patient string
	outcome Outcome
	// text is the search's query, the login's reason, the token's scopes
	// or id, the consent's reference or the break-the-glass reason.
	text string
	// permit is the consent decision.
	permit bool
}

func newRecipe(built builder, who Agent, what Target, patient string, outcome Outcome, text string, permit bool) Event {
	return Event{recipe: recipe{built: built, at: time.Now().UTC().Truncate(time.Millisecond), who: who, what: what,
		patient: patient, outcome: outcome, text: text, permit: permit}}
}

// errNoBuilder: an Event not made by one of the builders (its zero value).
var errNoBuilder = errors.New("audit: the event was not made by a builder (Read, Search, Login…)")

// build returns the AuditEvent the recipe's builder makes.
func (r recipe) build() (auditEvent, error) {
	code, action := r.restful()
	switch r.built {
	case builtRead:
		return restful(r.at, code, action, r.who, r.what, r.patient, r.outcome, roleRecipient), nil
	case builtCreate, builtUpdate, builtDelete:
		return restful(r.at, code, action, r.who, r.what, r.patient, r.outcome, roleAuthor), nil
	case builtSearch:
		return searchEvent(r.at, code, r.who, r.what.Type, r.text, r.patient, r.outcome), nil
	case builtLogin:
		return login(r.at, r.outcome, r.who, r.text), nil
	case builtTokenIssued:
		return tokenIssued(r.at, r.who, r.text, r.patient), nil
	case builtTokenRevoked:
		return tokenRevoked(r.at, r.who, r.text), nil
	case builtConsentDecision:
		return consentDecision(r.at, r.who, r.patient, r.text, r.what, r.permit), nil
	case builtBreakTheGlass:
		return breakTheGlass(r.at, r.who, r.patient, r.text), nil
	}
	return auditEvent{}, errNoBuilder
}

// A record is a chained event as the trail stores it: its recipe, its
// place in the chain and its hash, in this order:
//
//	version byte (recordVersion)
//	uvarint sequence
//	varint meta.lastUpdated, Unix milliseconds
//	varint recorded - lastUpdated, milliseconds
//	builder byte, permit byte (0 or 1), uvarint target version
//	strings, each a uvarint length then its UTF-8 bytes: outcome, user,
//	  user name, client, address, target type, target id, patient, text
//	the hash: SHA-256(previous event's hash || every byte above)
//
// The first byte tells a record from a JSON body, which starts with "{".
const recordVersion = 1

// recordFields are the record's strings, in order.
func (r *recipe) recordFields() [9]*string {
	return [9]*string{(*string)(&r.outcome), &r.who.User, &r.who.UserName, &r.who.Client, &r.who.Address,
		&r.what.Type, &r.what.ID, &r.patient, &r.text}
}

// isRecord reports whether a trail frame's content is a record.
func isRecord(content []byte) bool { return len(content) > 0 && content[0] == recordVersion }

// appendRecord appends the record of r at seq after prev, stored at
// updated, and returns the new link.
func appendRecord(dst []byte, prev link, seq int64, updated time.Time, r *recipe) ([]byte, link) {
	start := len(dst)
	dst = append(dst, recordVersion)
	dst = binary.AppendUvarint(dst, uint64(seq))
	ms := updated.UnixMilli()
	dst = binary.AppendVarint(dst, ms)
	dst = binary.AppendVarint(dst, r.at.UnixMilli()-ms)
	permit := byte(0)
	if r.permit {
		permit = 1
	}
	dst = append(dst, byte(r.built), permit)
	dst = binary.AppendUvarint(dst, uint64(max(r.what.Version, 0)))
	for _, f := range r.recordFields() {
		dst = binary.AppendUvarint(dst, uint64(len(*f)))
		dst = append(dst, *f...)
	}
	next := link{seq: seq, hash: chainHash(prev.hash, dst[start:])}
	return append(dst, next.hash[:]...), next
}

// record is a record read back.
type record struct {
	recipe
	seq     int64
	updated int64 // Unix milliseconds
	stated  [sha256.Size]byte
	covered []byte // the bytes the hash covers (in the record)
}

// errBadRecord: a record that does not decode, or decodes to an event
// no builder makes.
var errBadRecord = errors.New("audit: trail record malformed")

func decodeRecord(content []byte) (record, error) {
	return decodeRecordStrings(content, func(b []byte) string { return string(b) })
}

// viewRecord is decodeRecord without copying the record's strings: they
// share content's memory, which must not change while they are in use
// (see recordIndexer).
func viewRecord(content []byte) (record, error) {
	return decodeRecordStrings(content, view)
}

// view returns b's bytes as a string without copying them.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func decodeRecordStrings(content []byte, str func([]byte) string) (record, error) {
	if !isRecord(content) || len(content) < 1+sha256.Size {
		return record{}, errBadRecord
	}
	body := content[:len(content)-sha256.Size]
	d := decoder{buf: body[1:]}
	var rec record
	rec.covered = body
	copy(rec.stated[:], content[len(body):])
	rec.seq = int64(d.uvarint())
	rec.updated = d.varint()
	rec.at = millisTime(rec.updated + d.varint())
	flags := d.take(2)
	version := d.uvarint()
	for _, f := range rec.recordFields() {
		// Not checked as UTF-8: the JSON encoder replaces what is not, as
		// it did for the event before it was stored.
		*f = str(d.bytes())
	}
	if d.err != nil || len(d.buf) != 0 || len(flags) != 2 || rec.seq < 1 || version > 1<<62 {
		return record{}, errBadRecord
	}
	rec.built, rec.permit, rec.what.Version = builder(flags[0]), flags[1] == 1, int64(version)
	if rec.built == builtNone || rec.built >= builtEnd || flags[1] > 1 {
		return record{}, errBadRecord
	}
	return rec, nil
}

// recordIndexer makes the index entries of logged records: the
// builder's (as Recorder.Record gives them to a store), the sequence, id
// and lastUpdated. It does not allocate: their strings share the
// memory of the record (viewRecord) or of the indexer's scratch buffer
// (the event's id, its target's reference). The entries are valid until
// the next call, and their strings as long as the record is unchanged:
// whoever keeps one copies it (openBlock.post).
type recordIndexer struct {
	entries []store.IndexEntry
	scratch []byte
}

func (x *recordIndexer) index(content []byte) ([]store.IndexEntry, error) {
	rec, err := viewRecord(content)
	if err != nil {
		return nil, err
	}
	x.scratch = rec.what.appendReference(x.scratch[:0])
	target := len(x.scratch)
	x.scratch = appendEventID(x.scratch, rec.seq)
	// The views are taken once the scratch buffer has stopped growing.
	x.entries, err = rec.appendIndex(x.entries[:0], view(x.scratch[:target]))
	if err != nil {
		return nil, err
	}
	x.entries = append(x.entries, sequenceEntry(rec.seq))
	x.entries = appendIdentity(x.entries, view(x.scratch[target:]), millisTime(rec.updated))
	return x.entries, nil
}

// appendIndex appends the entries build().appendIndex gives, without
// building the event for the RESTful interactions, which are most events
// (TestRecipeIndex holds the two together); target is r.what.reference().
func (r *recipe) appendIndex(dst []store.IndexEntry, target string) ([]store.IndexEntry, error) {
	code, action := r.restful()
	var kind string
	known := false
	if code != "" {
		subtype := [1]coding{restfulSubtype(code)}
		kind, known = kindOf(&auditEvent{Type: typeREST, Subtype: subtype[:], Action: action, Outcome: r.outcome})
	}
	if !known {
		res, err := r.build()
		if err != nil {
			return dst, err
		}
		return res.appendIndex(dst), nil
	}
	x := &indexBuilder{entries: dst}
	x.text(KindParam, store.KindToken, kind)
	// The agents (see agents): the user, then the client.
	if r.who.User != "" {
		x.referenceWithPatient("agent", &reference{Reference: r.who.User})
	}
	if r.who.Client != "" {
		x.reference("agent", &reference{Identifier: &identifier{System: ClientIDSystem, Value: r.who.Client}})
	}
	at := float64(r.at.UnixMilli())
	x.add(store.IndexEntry{Param: "date", Kind: store.KindDate, Low: at, High: at + 1})
	// The entities: the patient, then the target (a search has its query).
	if r.patient != "" {
		x.referenceWithPatient("entity", &reference{Reference: r.patient})
	}
	if r.built != builtSearch && r.what.Type != "" {
		x.referenceWithPatient("entity", &reference{Reference: target})
	}
	return x.entries, nil
}

// restful returns the subtype code (restful-interaction) and action of
// a RESTful interaction's recipe, "" for the other events.
func (r *recipe) restful() (code, action string) {
	switch r.built {
	case builtRead:
		if r.what.Version > 0 {
			return "vread", "R"
		}
		return "read", "R"
	case builtCreate:
		return "create", "C"
	case builtUpdate:
		return "update", "U"
	case builtDelete:
		return "delete", "D"
	case builtSearch:
		if r.what.Type == "" {
			return "search-system", "E"
		}
		return "search-type", "E"
	}
	return "", ""
}

// renderRecord returns the stored JSON of a record's event: what the
// recorder of a store writes for it (the envelope, the chain extensions
// with the record's hash, the builder's event), so that the trail's
// AuditEvents read as the store's do.
func renderRecord(content []byte) ([]byte, error) {
	rec, err := decodeRecord(content)
	if err != nil {
		return nil, err
	}
	res, err := rec.build()
	if err != nil {
		return nil, err
	}
	var scratch [envelopeSize]byte
	envelope := appendEnvelope(scratch[:0], rec.seq, millisTime(rec.updated))
	// The event's members after resourceType follow the envelope.
	content, err = eventContent(res.appendJSON(make([]byte, 0, 2048)))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, chainedBodyLen(envelope, content))
	return appendChainedBody(out, envelope, link{hash: rec.stated}, content), nil
}

// jsonPrefix is how an event's JSON starts, before its other members.
const jsonPrefix = `{"resourceType":"AuditEvent"`

// eventContent returns an event's JSON members after resourceType: what
// follows a chained event's envelope.
func eventContent(json []byte) ([]byte, error) {
	content, ok := bytes.CutPrefix(json, []byte(jsonPrefix))
	if !ok {
		return nil, fmt.Errorf("audit: event JSON does not start with its resourceType")
	}
	return content, nil
}
