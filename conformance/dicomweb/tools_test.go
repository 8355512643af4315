package dicomweb

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// requireTools skips the test when one of the tools is not on PATH, or
// fails it under TELEHUB_REQUIRE_E2E=1.
func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("TELEHUB_REQUIRE_E2E") == "1" {
				t.Fatalf("%s is required (TELEHUB_REQUIRE_E2E=1) but not installed: %v", tool, err)
			}
			t.Skipf("skipping: %s is not installed (Debian package dcmtk, orthanc or nodejs)", tool)
		}
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
