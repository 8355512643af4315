package audit

import (
	"errors"
	"os"
	"syscall"
)

// errCannotMap: the log cannot be mapped here; its appends are written.
var errCannotMap = errors.New("audit: the trail log cannot be mapped")

// mapAhead allocates f's first size bytes on disk and maps them.
func mapAhead(f *os.File, size int64) ([]byte, error) {
	conn, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var data []byte
	var serr error
	if err := conn.Control(func(fd uintptr) {
		for {
			serr = syscall.Fallocate(int(fd), 0, 0, size)
			if serr != syscall.EINTR {
				break
			}
		}
		if errors.Is(serr, syscall.EOPNOTSUPP) || errors.Is(serr, syscall.ENOSYS) {
			serr = errCannotMap // a file system that cannot allocate ahead
			return
		}
		if serr != nil {
			return
		}
		data, serr = syscall.Mmap(int(fd), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		if serr != nil {
			serr = errors.Join(errCannotMap, serr)
		}
	}); err != nil {
		return nil, err
	}
	return data, serr
}

func unmapAhead(data []byte) error { return syscall.Munmap(data) }
