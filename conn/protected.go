package conn

import (
	"net"
	"time"
)

// Protected mode, as in Redis 7.0: while protected-mode is yes and the
// default user has no password, a connection from anywhere but the
// loopback interface (or a unix socket) gets Redis's -DENIED explanation
// and is closed before it can send anything.

const errProtected = "-DENIED Redis is running in protected mode because protected " +
	"mode is enabled and no password is set for the default user. " +
	"In this mode connections are only accepted from the loopback interface. " +
	"If you want to connect from external computers to Redis you " +
	"may adopt one of the following solutions: " +
	"1) Just disable protected mode sending the command " +
	"'CONFIG SET protected-mode no' from the loopback interface " +
	"by connecting to Redis from the same host the server is " +
	"running, however MAKE SURE Redis is not publicly accessible " +
	"from internet if you do so. Use CONFIG REWRITE to make this " +
	"change permanent. " +
	"2) Alternatively you can just disable the protected mode by " +
	"editing the Redis configuration file, and setting the protected " +
	"mode option to 'no', and then restarting the server. " +
	"3) If you started the server manually just for testing, restart " +
	"it with the '--protected-mode no' option. " +
	"4) Setup a an authentication password for the default user. " +
	"NOTE: You only need to do one of the above things in order for " +
	"the server to start accepting connections from the outside.\r\n"

// refuseUnprotected answers and closes nc, and reports true, when
// protected mode turns it away.
func (s *Server) refuseUnprotected(nc net.Conn) bool {
	if isLocalAddr(nc.RemoteAddr()) || !s.cfg.Bool("protected-mode") || !s.acl.def.state().nopass {
		return false
	}
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write([]byte(errProtected))
	nc.Close()
	s.stats.rejected.Add(1)
	return true
}

// isLocalAddr reports whether a peer is local as Redis's islocalClient
// decides: a unix socket, or exactly 127.0.0.1 or ::1 (an IPv4-mapped
// ::ffff:127.0.0.1 is 127.0.0.1); other loopback addresses such as
// 127.0.0.2 are not.
func isLocalAddr(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.Equal(net.IPv4(127, 0, 0, 1)) || a.IP.Equal(net.IPv6loopback)
	case *net.UnixAddr:
		return true
	case nil:
		return true
	}
	return a.Network() == "pipe" // in-memory connections in tests
}
