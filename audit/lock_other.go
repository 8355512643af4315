//go:build !unix

package audit

// lockDir does not lock on this platform: run one process per journal.
func lockDir(dir string) (unlock func(), err error) { return func() {}, nil }
