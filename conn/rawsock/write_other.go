//go:build !linux

package rawsock

import "net"

// Writer is the non-blocking socket write of Linux; elsewhere callers
// block in Write.
type Writer struct{}

// New returns nil: no socket can be written without waiting here.
func New(nc net.Conn) *Writer { return nil }

// Write is never called: New gives no Writer.
func (w *Writer) Write(bufs [][]byte) (int, [][]byte, error) { panic("unreachable") }
