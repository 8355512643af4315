package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/telehub/telehub/store"
)

// A group is committed in one transaction without savepoints; when one of
// its requests fails, it is committed again with a savepoint per request:
// the failed one fails alone, with nothing of it stored, and the others
// are stored whole.
func TestCommitGroupFailsAlone(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	patient := func(id string, version int64) store.Write {
		return store.Write{
			Type: "Patient", ID: id, Version: version, LastUpdated: time.Now(), Method: "PUT",
			Body:  []byte(`{"resourceType":"Patient","id":"` + id + `"}`),
			Index: []store.IndexEntry{{Param: "identifier", Kind: store.KindToken, Text: "urn:oid:1.2.3|" + id}},
		}
	}
	request := func(writes ...store.Write) *commitRequest {
		return &commitRequest{ctx: ctx, writes: writes, done: make(chan error, 1)}
	}
	if err := s.Commit(ctx, []store.Write{patient("existing", 1)}); err != nil {
		t.Fatal(err)
	}

	together := []*commitRequest{request(patient("a", 1)), request(patient("b", 1), patient("c", 1))}
	s.commitGroup(together)
	for i, req := range together {
		if err := <-req.done; err != nil {
			t.Errorf("request %d of a group without conflict: %v", i, err)
		}
	}

	// The second request's first write is fine, its second conflicts.
	apart := []*commitRequest{request(patient("d", 1)), request(patient("e", 1), patient("existing", 1)), request(patient("f", 1))}
	s.commitGroup(apart)
	for i, want := range []error{nil, store.ErrConflict, nil} {
		if err := <-apart[i].done; !errors.Is(err, want) {
			t.Errorf("request %d: %v, want %v", i, err, want)
		}
	}
	for id, stored := range map[string]bool{"a": true, "b": true, "c": true, "d": true, "e": false, "f": true} {
		_, err := s.Read(ctx, "Patient", id)
		if stored != (err == nil) {
			t.Errorf("Patient/%s: read gives %v, want stored=%v", id, err, stored)
		}
	}
	res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Total: true,
		Clauses: []store.Clause{{Any: []store.Condition{{Param: "identifier", Op: store.OpExact, Text: "urn:oid:1.2.3|e"}}}}})
	if err != nil || res.Total != 0 {
		t.Errorf("the failed request's resource is indexed (%v, %v)", res, err)
	}
}
