//go:build !linux

package conn

import "net"

func newArrivalReader(nc net.Conn) stampedReader { return &clockReader{nc: nc} }
