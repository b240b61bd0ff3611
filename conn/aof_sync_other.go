//go:build !linux

package conn

import "os"

// syncData flushes f to disk.
func syncData(f *os.File) error { return f.Sync() }
