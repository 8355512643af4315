package audit

import (
	"context"
	"fmt"

	"github.com/telehub/telehub/store"
)

// BreakKind says how the chain is broken.
type BreakKind string

// The breaks Verify reports.
const (
	// Modified: the event's bytes do not hash to its stated hash, its stated
	// hash does not follow from the previous event, or it was rewritten (a
	// version other than 1).
	Modified BreakKind = "modified"
	// Missing: no event (or a deleted one) at a sequence number the chain
	// reaches: the head names it, or a later chained event exists.
	Missing BreakKind = "missing"
	// Reordered: the event stored at this position states another sequence.
	Reordered BreakKind = "reordered"
	// HeadMismatch: the head names a hash its event does not have.
	HeadMismatch BreakKind = "head-mismatch"
)

// Report is the result of Verify.
type Report struct {
	// Verified is the number of events checked (the chain's length when OK).
	Verified int64
	// Head is the sequence the chain head names (0: no head yet). A head
	// below Verified is not a break: the node that wrote the later events
	// stopped before advancing it, and the next Recorder rolls it forward.
	Head int64
	// Break is the first break found, nil when the chain is intact.
	Break *Break
}

// OK reports whether the chain is intact.
func (r Report) OK() bool { return r.Break == nil }

// Break is the first place the chain is broken.
type Break struct {
	Sequence int64
	ID       string // the event's id
	Kind     BreakKind
	Detail   string
}

func (b *Break) String() string {
	return fmt.Sprintf("%s at sequence %d (AuditEvent/%s): %s", b.Kind, b.Sequence, b.ID, b.Detail)
}

// verifyPage is how many events Verify reads with one search.
const verifyPage = 256

// Verify walks the chain in sequence order, recomputing every hash, and
// reports the first break. The error is for a store that cannot be read;
// a broken chain is a Report with Break set.
//
// Through WithTrail it reads the trail's events as the trail keeps them:
// their records are hashed as stored, not as rendered.
//
// It streams: each step reads the next verifyPage events by id with one
// search (ids are derived from sequences, and an id lookup does not depend
// on the index entries a tamperer could have changed), so memory stays
// bounded however long the chain is.
func Verify(ctx context.Context, st store.Store) (Report, error) {
	records, ok := store.As[store.Records](st)
	if !ok {
		return Report{}, fmt.Errorf("audit: verify: store %T keeps no records", st)
	}
	headLink, _, err := readHead(ctx, records)
	if err != nil {
		return Report{}, err
	}
	read := func(ctx context.Context, from int64, n int) (map[string]storedEvent, error) {
		return readEvents(ctx, st, from, n)
	}
	if ts, ok := store.As[*trailStore](st); ok {
		read = ts.trail.chainPage
	}
	rep := Report{Head: headLink.seq}
	prev := genesis
	for base := int64(1); ; base += verifyPage {
		page, err := read(ctx, base, verifyPage)
		if err != nil {
			return rep, err
		}
		for seq := base; seq < base+verifyPage; seq++ {
			id := EventID(seq)
			ev, ok := page[id]
			if !ok { // never written, or deleted
				b, err := endOfChain(ctx, st, seq, headLink.seq)
				rep.Break = b
				return rep, err
			}
			next, b := checkEvent(ev, id, seq, prev)
			if b != nil {
				rep.Break = b
				return rep, nil
			}
			rep.Verified = seq
			if seq == headLink.seq && next.hash != headLink.hash {
				rep.Break = &Break{Sequence: seq, ID: id, Kind: HeadMismatch, Detail: "the chain head states another hash for this event"}
				return rep, nil
			}
			prev = next
		}
	}
}

// storedEvent is a chained event as stored: its JSON body, or in a trail
// its record (see recipe.go), and its version.
type storedEvent struct {
	content []byte
	version int64
}

// readEvents returns the current, non-deleted events at sequences
// [from, from+n), by id.
func readEvents(ctx context.Context, st store.Store, from int64, n int) (map[string]storedEvent, error) {
	ids := make([]store.Condition, n)
	for i := range ids {
		ids[i] = store.Condition{Param: store.ParamID, Op: store.OpExact, Text: EventID(from + int64(i))}
	}
	res, err := st.Search(ctx, store.Query{Types: []string{resourceType}, Clauses: []store.Clause{{Any: ids}}, Count: n})
	if err != nil {
		return nil, fmt.Errorf("audit: verify: read events %d to %d: %w", from, from+int64(n)-1, err)
	}
	page := make(map[string]storedEvent, len(res.Resources))
	for _, r := range res.Resources {
		page[r.ID] = storedEvent{content: r.Body, version: r.VersionID}
	}
	return page, nil
}

// checkEvent checks the stored event at seq, whose id is id, against the
// previous link.
func checkEvent(ev storedEvent, id string, seq int64, prev link) (link, *Break) {
	brk := func(kind BreakKind, detail string, args ...any) (link, *Break) {
		return link{}, &Break{Sequence: seq, ID: id, Kind: kind, Detail: fmt.Sprintf(detail, args...)}
	}
	stated, covered, err := chainedContent(ev.content)
	if err != nil {
		return brk(Modified, "%v", err)
	}
	if stated.seq != seq {
		return brk(Reordered, "the event states sequence %d", stated.seq)
	}
	if chainHash(prev.hash, covered) != stated.hash {
		return brk(Modified, "the hash does not match the event's content and the previous event's hash")
	}
	if ev.version != 1 {
		return brk(Modified, "version %d: chained events are written once", ev.version)
	}
	return stated, nil
}

// chainedContent reads the chain position a chained event states (a
// record's, or a JSON body's extensions), and the bytes its hash covers.
func chainedContent(content []byte) (link, []byte, error) {
	if isRecord(content) {
		rec, err := decodeRecord(content)
		return link{seq: rec.seq, hash: rec.stated}, rec.covered, err
	}
	seq, stated, covered, err := chainFields(content)
	return link{seq: seq, hash: stated}, covered, err
}

// endOfChain decides whether a missing event at seq is the chain's end or
// a deletion: it is a deletion when the head reaches it or a chained event
// exists after it.
func endOfChain(ctx context.Context, st store.Store, seq, head int64) (*Break, error) {
	missing := &Break{Sequence: seq, ID: EventID(seq), Kind: Missing}
	if seq <= head {
		missing.Detail = fmt.Sprintf("the chain head names sequence %d", head)
		return missing, nil
	}
	later, err := st.Search(ctx, store.Query{
		Types: []string{resourceType},
		Clauses: []store.Clause{{Any: []store.Condition{{
			Param: SequenceParam, Op: store.OpSa, Low: float64(seq), High: float64(seq) + 1,
		}}}},
		Count: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("audit: verify: look for events after %d: %w", seq, err)
	}
	if len(later.Resources) > 0 {
		missing.Detail = fmt.Sprintf("AuditEvent/%s comes later in the chain", later.Resources[0].ID)
		return missing, nil
	}
	return nil, nil
}
