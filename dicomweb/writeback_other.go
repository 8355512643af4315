//go:build !linux

package dicomweb

import "os"

// startWriteback does nothing where sync_file_range(2) does not exist.
func startWriteback(f *os.File, off, n int64) {}
