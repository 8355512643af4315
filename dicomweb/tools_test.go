package dicomweb

import (
	"io"
	"os"
)

// testLogOutput is where the servers under test log: nowhere, unless
// TELEHUB_TEST_LOG=1.
func testLogOutput() io.Writer {
	if os.Getenv("TELEHUB_TEST_LOG") == "1" {
		return os.Stderr
	}
	return io.Discard
}
