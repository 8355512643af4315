//go:build unix

package consent

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) the test process has
// used: on a shared machine, a steadier cost measure than wall time.
func processCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
