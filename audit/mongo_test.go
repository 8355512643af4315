package audit_test

import (
	"context"
	"testing"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/mongo"
	"github.com/telehub/telehub/store/mongo/mongotest"
)

// TestMongo runs two recorders on the Mongo backend without transactions
// (FerretDB in-process): events are written one by one, and the chain stays
// gapless and verifiable, and a deletion is detected.
func TestMongo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB; skipped with -short")
	}
	t.Parallel()
	st, err := mongo.Open(context.Background(), mongotest.Start(t)+"audit")
	if err != nil {
		t.Fatalf("open mongo store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if st.SupportsTransactions() {
		t.Log("this server supports transactions: the batch path is tested, not the one-by-one path")
	}
	a, b := newRecorder(t, st), newRecorder(t, st)
	recordConcurrently(t, []*audit.Recorder{a, b}, 10, 10)
	verifyOK(t, st, 100)

	w := store.Write{Type: "AuditEvent", ID: audit.EventID(42), Version: 2, Deleted: true, Method: "DELETE"}
	if err := st.Commit(context.Background(), []store.Write{w}); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Break.Sequence != 42 || rep.Break.Kind != audit.Missing {
		t.Errorf("Verify after deleting event 42: %+v %v", rep, rep.Break)
	}
}
