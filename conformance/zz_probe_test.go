package conformance

import (
	"os"
	"os/exec"
	"testing"
)

func TestZZProbe(t *testing.T) {
	for _, b := range backends {
		srv := startServer(t, b, defaultServerOptions)
		cmd := exec.Command("node", "zz_probe.mjs")
		cmd.Dir = "node"
		cmd.Env = append(os.Environ(), "TELEHUB_FHIR_URL="+srv.base)
		if !b.transactions {
			cmd.Env = append(cmd.Env, "TELEHUB_TRANSACTIONS=unsupported")
		}
		out, err := cmd.CombinedOutput()
		t.Logf("%s: %s %v", b.name, out, err)
	}
}
