//go:build !linux

package audit

import (
	"errors"
	"os"
)

// errCannotMap: the log cannot be mapped here; its appends are written.
var errCannotMap = errors.New("audit: the trail log cannot be mapped")

// mapAhead: logs are not mapped on this system (whether a file system
// writes a mapping's pages back on fsync is only known for Linux's).
func mapAhead(*os.File, int64) ([]byte, error) { return nil, errCannotMap }

func unmapAhead([]byte) error { return nil }
