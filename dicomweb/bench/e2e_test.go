package bench

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// startOrthanc starts an Orthanc for a test, skipping when it is not
// installed unless TELEHUB_REQUIRE_E2E=1.
func startOrthanc(t *testing.T, peers map[string]Peer) *Orthanc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, err := StartOrthanc(ctx, OrthancConfig{Dir: t.TempDir(), Peers: peers})
	if errors.Is(err, ErrNoOrthanc) && os.Getenv("TELEHUB_REQUIRE_E2E") != "1" {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := o.Stop(); err != nil {
			t.Error(err)
		}
	})
	return o
}
