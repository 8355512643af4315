package dicomweb

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/telehub/telehub/internal/e2e"
)

// requireTools skips the test when one of the tools is not on PATH, or
// fails it under TELEHUB_REQUIRE_E2E=1.
func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		e2e.Tool(t, tool)
	}
}

// run runs a tool in dir and fails the test with its output when it fails.
func run(t testing.TB, dir, tool string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out.Bytes())
	}
	return out.Bytes()
}
