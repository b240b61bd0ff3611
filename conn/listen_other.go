//go:build !unix

package conn

import "net"

// v6Only reports whether an IPv6 listener accepts IPv6 clients only.
func v6Only(net.Listener) bool { return true }
