package smart

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/store/sqlite"
)

// auditTrail records through a real audit.Recorder on the test's SQLite
// store, and keeps what it recorded for the test to look at.
type auditTrail struct {
	mu     sync.Mutex
	rec    *audit.Recorder
	events []map[string]any
}

func (a *auditTrail) start(t *testing.T, st *sqlite.Store) {
	t.Helper()
	rec, err := audit.NewRecorder(st, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	a.mu.Lock()
	a.rec = rec
	a.mu.Unlock()
}

func (a *auditTrail) Record(ctx context.Context, e audit.Event) error {
	a.mu.Lock()
	rec := a.rec
	a.mu.Unlock()
	if err := rec.Record(ctx, e); err != nil {
		return err
	}
	b, err := e.JSON()
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	a.mu.Lock()
	a.events = append(a.events, m)
	a.mu.Unlock()
	return nil
}

// subtypes lists the subtype codes recorded, in order.
func (a *auditTrail) subtypes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.events {
		out = append(out, subtypeOf(e))
	}
	return out
}

func subtypeOf(e map[string]any) string {
	st, _ := e["subtype"].([]any)
	if len(st) == 0 {
		return ""
	}
	c, _ := st[0].(map[string]any)
	code, _ := c["code"].(string)
	return code
}

// find returns the last event of subtype code.
func (a *auditTrail) find(t *testing.T, code string) map[string]any {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.events) - 1; i >= 0; i-- {
		if subtypeOf(a.events[i]) == code {
			return a.events[i]
		}
	}
	t.Fatalf("no %s event audited; have %d events", code, len(a.events))
	return nil
}

// verify checks that every event kept was durably chained in the store.
func (a *auditTrail) verify(t *testing.T, st *sqlite.Store) {
	t.Helper()
	rep, err := audit.Verify(context.Background(), st)
	if err != nil || !rep.OK() {
		t.Fatalf("audit chain: %v %+v", err, rep.Break)
	}
	a.mu.Lock()
	n := len(a.events)
	a.mu.Unlock()
	if rep.Verified != int64(n) {
		t.Errorf("audit chain holds %d events, %d were recorded", rep.Verified, n)
	}
}
