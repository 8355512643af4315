//go:build !unix

package audit

import "os"

// mapFile reads the file at path whole (no mapping on this platform).
func mapFile(path string) ([]byte, func() error, error) {
	data, err := os.ReadFile(path)
	return data, func() error { return nil }, err
}
