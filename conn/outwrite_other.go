//go:build !linux

package conn

import "net"

// rawWriter is the non-blocking socket write of Linux; elsewhere
// connections block in Write.
type rawWriter struct{}

func newRawWriter(nc net.Conn) *rawWriter { return nil }

func (w *rawWriter) write(bufs [][]byte) (int, [][]byte, error) { panic("unreachable") }
