package conn

import (
	"os"
	"syscall"
)

// syncData flushes f's data to disk with fdatasync, as Redis's
// redis_fsync does on Linux: the file's size is flushed too, its times are
// not.
func syncData(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return f.Sync()
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
