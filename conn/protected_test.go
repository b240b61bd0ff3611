package conn

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// remoteConn is one end of an in-memory pipe that says it comes from
// another machine.
type remoteConn struct {
	net.Conn
	from net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.from }

// dialFrom hands the server a connection "from" addr and returns the
// client's end.
func dialFrom(srv *Server, from string) (net.Conn, *bufio.Reader) {
	client, server := net.Pipe()
	addr, _ := net.ResolveTCPAddr("tcp", from)
	go srv.accept(remoteConn{Conn: server, from: addr})
	return client, bufio.NewReader(client)
}

// Protected mode: with no password for the default user, a client that is
// not on the loopback interface gets -DENIED and is closed; a password, or
// protected-mode no, lets it in; loopback clients are never refused.
func TestProtectedModeRefusesRemoteClients(t *testing.T) {
	srv, addr := startServer(t, 8)
	ctx := context.Background()
	local := newClient2(t, addr, 2)
	try := func() string {
		nc, br := dialFrom(srv, "10.1.2.3:4567")
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		go nc.Write([]byte("PING\r\n"))
		line, _ := br.ReadString('\n')
		return strings.TrimSpace(line)
	}
	before := infoLine(t, local, "stats", "rejected_connections")
	if got := try(); !strings.HasPrefix(got, "-DENIED Redis is running in protected mode") {
		t.Fatalf("remote client with protected mode on: %q", got)
	}
	if after := infoLine(t, local, "stats", "rejected_connections"); after == before {
		t.Fatalf("rejected_connections stayed %s", after)
	}
	if err := local.ConfigSet(ctx, "protected-mode", "no").Err(); err != nil {
		t.Fatal(err)
	}
	if got := try(); got != "+PONG" {
		t.Fatalf("protected-mode no: %q", got)
	}
	local.ConfigSet(ctx, "protected-mode", "yes")
	if err := local.Do(ctx, "acl", "setuser", "default", ">secret").Err(); err != nil {
		t.Fatal(err)
	}
	if got := try(); got != "-NOAUTH Authentication required." {
		t.Fatalf("with a password: %q, want the usual NOAUTH", got)
	}
	local.Do(ctx, "auth", "secret")
	local.Do(ctx, "acl", "setuser", "default", "nopass")
	if err := local.Ping(ctx).Err(); err != nil {
		t.Fatalf("a loopback client: %v", err)
	}
}

// Redis counts only 127.0.0.1 and ::1 as local (islocalClient compares the
// peer's text): another loopback address such as 127.0.0.2 is refused in
// protected mode, while ::ffff:127.0.0.1 (an IPv4 peer on a dual-stack
// listener) is 127.0.0.1 and let in.
func TestProtectedModeLoopbackAddresses(t *testing.T) {
	srv, _ := startServer(t, 8)
	try := func(from string) string {
		nc, br := dialFrom(srv, from)
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		go nc.Write([]byte("PING\r\n"))
		line, _ := br.ReadString('\n')
		return strings.TrimSpace(line)
	}
	for _, from := range []string{"127.0.0.1:4000", "[::1]:4000", "[::ffff:127.0.0.1]:4000"} {
		if got := try(from); got != "+PONG" {
			t.Errorf("from %s: %q, want +PONG", from, got)
		}
	}
	for _, from := range []string{"127.0.0.2:4000", "127.1.2.3:4000", "[::ffff:127.0.0.2]:4000"} {
		if got := try(from); !strings.HasPrefix(got, "-DENIED") {
			t.Errorf("from %s: %q, want -DENIED as Redis 7.0.15 answers", from, got)
		}
	}
}
