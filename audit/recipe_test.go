package audit

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/telehub/telehub/store"
)

// recipeEvents are builderEvents and the variants the index tells apart:
// a patient as the user, an address without a client, a vread, a search
// of the whole system, every outcome.
func recipeEvents() []Event {
	events := builderEvents()
	patient := Agent{User: "Patient/p7", UserName: "p7", Client: "app"}
	for _, o := range []Outcome{Success, MinorFailure, SeriousFailure, MajorFailure} {
		events = append(events,
			Read(patient, Target{Type: "Observation", ID: "o1"}, "Patient/p7", o),
			Read(Agent{Address: "192.0.2.1"}, Target{Type: "Observation", ID: "o1", Version: 3}, "", o),
			Search(patient, "", "_type=Observation", "Patient/p7", o),
			Update(Agent{UserName: "someone"}, Target{Type: "Patient", ID: "p7"}, "Patient/p7", o),
		)
	}
	return events
}

// TestRecipeIndex: the index entries a recipe gives without building its
// event are those of the event built.
func TestRecipeIndex(t *testing.T) {
	t.Parallel()
	for i, e := range recipeEvents() {
		res, err := e.recipe.build()
		if err != nil {
			t.Fatal(err)
		}
		want := res.appendIndex(nil)
		got, err := e.recipe.appendIndex(nil, e.recipe.what.reference())
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("event %d (%v): entries\n got %v (%v)\nwant %v", i, e.recipe.built, got, err, want)
		}
	}
}

// TestRecordIndexer: the entries a recordIndexer gives for a record are
// those of the event built, with its sequence, id and lastUpdated, record
// after record in one scratch buffer, and its strings are the record's
// bytes, not copies of them.
func TestRecordIndexer(t *testing.T) {
	t.Parallel()
	var x recordIndexer
	prev := link{seq: 99}
	stored := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for i, e := range recipeEvents() {
		content, next := appendRecord(nil, prev, prev.seq+1, stored, &e.recipe)
		prev = next
		res, err := e.recipe.build()
		if err != nil {
			t.Fatal(err)
		}
		want := appendIdentity(append(res.appendIndex(nil), sequenceEntry(next.seq)), EventID(next.seq), stored)
		got, err := x.index(content)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("event %d (%v): entries\n got %v (%v)\nwant %v", i, e.recipe.built, got, err, want)
		}
	}
	e := recipeEvents()[0]
	content, _ := appendRecord(nil, prev, prev.seq+1, stored, &e.recipe)
	entries, err := x.index(content)
	if err != nil {
		t.Fatal(err)
	}
	user := e.recipe.who.User
	at := bytes.Index(content, []byte(user))
	i := slices.IndexFunc(entries, func(en store.IndexEntry) bool { return en.Text == user })
	if user == "" || at < 0 || i < 0 || unsafe.StringData(entries[i].Text) != &content[at] {
		t.Errorf("the entry of the user %q is not a view of the record", user)
	}
}

// TestRecordRoundTrip: a record gives back its recipe, its place in the
// chain and a hash that follows from the previous one; rendered, it is
// the event's JSON in the envelope a store's chained event has, with the
// record's sequence and hash in its extensions.
func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	prev := link{seq: 41, hash: [32]byte{1, 2, 3}}
	stored := time.Date(2026, 11, 26, 10, 0, 0, 123e6, time.UTC)
	for i, e := range recipeEvents() {
		content, next := appendRecord([]byte("kept"), prev, 42, stored, &e.recipe)
		if string(content[:4]) != "kept" {
			t.Fatalf("event %d: appendRecord changed what was before", i)
		}
		content = content[4:]
		rec, err := decodeRecord(content)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if rec.recipe != e.recipe || rec.seq != 42 || rec.updated != stored.UnixMilli() {
			t.Errorf("event %d: decoded %+v, want %+v at 42", i, rec, e.recipe)
		}
		if next.seq != 42 || rec.stated != next.hash || chainHash(prev.hash, rec.covered) != next.hash {
			t.Errorf("event %d: the record's hash does not follow from the previous one", i)
		}

		body, err := renderRecord(content)
		if err != nil {
			t.Fatalf("event %d: render: %v", i, err)
		}
		if !json.Valid(body) {
			t.Fatalf("event %d: rendered body is not JSON: %s", i, body)
		}
		seq, hash, _, err := chainFields(body)
		if err != nil || seq != 42 || hash != next.hash {
			t.Errorf("event %d: rendered chain fields %d %x (%v), want 42 %x", i, seq, hash, err, next.hash)
		}
		eventJSON, err := e.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(body, eventJSON[len(jsonPrefix):]) {
			t.Errorf("event %d: rendered body does not end with the event's JSON:\n%s\n%s", i, body, eventJSON)
		}
	}
}

// TestRecordDamage: a record cut short does not decode; one with a byte
// changed either does not decode or no longer matches its hash.
func TestRecordDamage(t *testing.T) {
	t.Parallel()
	e := Read(Agent{User: "Practitioner/pr1", Client: "app", Address: "192.0.2.1"}, Target{Type: "Observation", ID: "o1"}, "Patient/p1", Success)
	content, next := appendRecord(nil, genesis, 1, time.Now(), &e.recipe)
	for n := range len(content) {
		if _, err := decodeRecord(content[:n]); err == nil {
			t.Errorf("a record cut to %d of its %d bytes decodes", n, len(content))
		}
	}
	for i := range len(content) - 32 {
		changed := bytes.Clone(content)
		changed[i] ^= 0x04
		rec, err := decodeRecord(changed)
		if err == nil && chainHash(genesis.hash, rec.covered) == next.hash {
			t.Errorf("a change at byte %d goes unnoticed", i)
		}
	}
}
