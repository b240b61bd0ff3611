//go:build unix

package conn

import (
	"net"
	"syscall"
)

// v6Only reports whether an IPv6 listener accepts IPv6 clients only.
func v6Only(l net.Listener) bool {
	tl, ok := l.(*net.TCPListener)
	if !ok {
		return true
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return true
	}
	only := 1
	rc.Control(func(fd uintptr) {
		if v, err := syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY); err == nil {
			only = v
		}
	})
	return only != 0
}
