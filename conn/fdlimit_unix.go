//go:build unix

package conn

import "syscall"

func getNofile() (cur, hard uint64, err error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, 0, err
	}
	return uint64(r.Cur), uint64(r.Max), nil
}

func setNofile(cur, hard uint64) error {
	var r syscall.Rlimit
	setRlim(&r.Cur, cur)
	setRlim(&r.Max, hard)
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
}

// setRlim stores v in an Rlimit field, which is int64 on some systems.
func setRlim[T int64 | uint64](f *T, v uint64) { *f = T(v) }
