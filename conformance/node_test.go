package conformance

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/telehub/telehub/internal/e2e"
)

// TestNodeFHIRClient runs node/crud.mjs, which drives the server with
// fhir-kit-client (a third-party FHIR client from npm) through create, read,
// versioned update, vread, history, conditional create/update/delete,
// search, JSON Patch, transaction, batch and delete.
func TestNodeFHIRClient(t *testing.T) {
	node, modules := e2e.Node(t, "fhir-kit-client")
	dir := filepath.Dir(modules)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			srv := startServer(t, b, defaultServerOptions)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "crud.mjs")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "TELEHUB_FHIR_URL="+srv.base)
			if !b.transactions {
				cmd.Env = append(cmd.Env, "TELEHUB_TRANSACTIONS=unsupported")
			}
			out, err := cmd.CombinedOutput()
			t.Logf("node crud.mjs against %s:\n%s", b.name, out)
			if err != nil {
				t.Fatalf("node crud.mjs: %v", err)
			}
		})
	}
}
