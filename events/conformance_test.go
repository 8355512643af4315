package events

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/sqlite"
	"github.com/telehub/telehub/store/storetest"
)

// TestDecoratedStoreConformance runs the store conformance suite through
// Publish: the decorator changes nothing a store's user can observe.
func TestDecoratedStoreConformance(t *testing.T) {
	bus, err := OpenBus(context.Background(), BusOptions{DataDir: filepath.Join(t.TempDir(), "nats"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	open := func(t *testing.T) store.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "telehub.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return Publish(st, bus)
	}
	storetest.Run(t, open)
	storetest.RunRecords(t, open)
}
