//go:build !linux || 386

package conn

import "net"

func newArrivalReader(nc net.Conn) stampedReader { return &clockReader{nc: nc} }
