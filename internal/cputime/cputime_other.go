//go:build !unix

package cputime

import "time"

// Process reports that this platform does not tell the process's CPU time.
func Process() (time.Duration, bool) { return 0, false }
