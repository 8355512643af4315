// Package e2e holds what the tests that drive external tools share (Node.js
// and its npm packages, Chromium, Orthanc, dcmtk): finding the tools, and
// the rule that a missing one skips the test, unless the environment
// demands the end-to-end tests (TELEHUB_REQUIRE_E2E=1, as CI sets it), in
// which case it fails.
package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Required reports whether a missing tool must fail the test.
func Required() bool { return os.Getenv("TELEHUB_REQUIRE_E2E") == "1" }

// SkipOrFail skips the test for why, or fails it when Required.
func SkipOrFail(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s, and TELEHUB_REQUIRE_E2E=1", why)
	}
	t.Skip(why)
}

// Tool returns the path of the command name, or skips (fails) without it.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		SkipOrFail(t, name+" is not installed")
	}
	return path
}

// Node returns the node command and the node_modules folder of
// conformance/node, where the npm packages the tests use are installed
// (`npm ci` there), after checking that packages are.
func Node(t testing.TB, packages ...string) (node, modules string) {
	t.Helper()
	node = Tool(t, "node")
	modules = filepath.Join(repoRoot(), "conformance", "node", "node_modules")
	for _, p := range packages {
		if _, err := os.Stat(filepath.Join(modules, p)); err != nil {
			SkipOrFail(t, "conformance/node/node_modules/"+p+" is missing: run `npm ci` in conformance/node")
		}
	}
	return node, modules
}

// Chromium returns the Chromium binary: $TELEHUB_CHROMIUM, $CHROMIUM, or
// Debian's.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("TELEHUB_CHROMIUM"), os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	SkipOrFail(t, "chromium is not installed (set TELEHUB_CHROMIUM to its path)")
	return ""
}

// repoRoot is the repository's root folder, this file's grandparent.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
