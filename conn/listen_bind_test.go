package conn

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// startBoundServer serves on 127.0.0.1 with "port" and "bind" saying so,
// as cmd/valkyrie starts it; done receives what Serve returns.
func startBoundServer(t *testing.T) (srv *Server, port string, done chan error) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	cfg := config.New()
	if err := cfg.Load("port", port, "bind", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	srv = New(Options{Shards: 8, Config: cfg})
	done = make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, port, done
}

// haveIPv6Loopback reports whether ::1 can be bound here.
func haveIPv6Loopback() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// pingAt reports whether a new connection to addr answers PING.
func pingAt(addr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 2 * time.Second})
	defer rdb.Close()
	return rdb.Ping(context.Background()).Err()
}

// refused fails the test unless nothing listens on addr.
func refused(t *testing.T, addr string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		nc.Close()
		t.Fatalf("%s still accepts connections", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("%s: %v, want connection refused", addr, err)
	}
}

// CONFIG SET bind re-binds at run time, as in Redis 7.0.15: an address
// that cannot be bound fails with Redis's error and keeps the old
// listeners; optional ('-') addresses that are not available are skipped;
// "" closes every TCP listener while connected clients stay; a later bind
// (and a port change after it) listens again.
func TestConfigSetBind(t *testing.T) {
	if l, err := net.Listen("tcp4", "127.0.0.2:0"); err != nil {
		t.Skip("127.0.0.2 is not a loopback address here")
	} else {
		l.Close()
	}
	_, port, _ := startBoundServer(t)
	ctx := context.Background()
	v4 := "127.0.0.1:" + port
	rdb := newClient2(t, v4, 2)

	// 192.0.2.1 (TEST-NET-1) is on no interface: EADDRNOTAVAIL.
	err := rdb.ConfigSet(ctx, "bind", "192.0.2.1").Err()
	if err == nil || err.Error() != "ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses." {
		t.Fatalf("unbindable address: %v", err)
	}
	if got := rdb.ConfigGet(ctx, "bind").Val()["bind"]; got != "127.0.0.1" {
		t.Fatalf("bind after a failed CONFIG SET = %q", got)
	}
	if err := pingAt(v4); err != nil {
		t.Fatalf("old address after a failed CONFIG SET: %v", err)
	}
	// A new address that fails after another opened: both roll back.
	if err := rdb.ConfigSet(ctx, "bind", "127.0.0.1 127.0.0.2 192.0.2.1").Err(); err == nil {
		t.Fatal("CONFIG SET bind with an unbindable address passed")
	}
	refused(t, "127.0.0.2:"+port)

	if err := rdb.ConfigSet(ctx, "bind", "-192.0.2.1 127.0.0.1 127.0.0.2").Err(); err != nil {
		t.Fatalf("optional unavailable address: %v", err)
	}
	if err := pingAt(v4); err != nil {
		t.Fatal(err)
	}
	if err := pingAt("127.0.0.2:" + port); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigSet(ctx, "bind", "127.0.0.2").Err(); err != nil {
		t.Fatal(err)
	}
	refused(t, v4)
	if err := pingAt("127.0.0.2:" + port); err != nil {
		t.Fatal(err)
	}

	if err := rdb.ConfigSet(ctx, "bind", "").Err(); err != nil {
		t.Fatal(err)
	}
	refused(t, v4)
	refused(t, "127.0.0.2:"+port)
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("a connected client after bind \"\": %v", err)
	}
	if got := rdb.ConfigGet(ctx, "bind").Val()["bind"]; got != "" {
		t.Fatalf("bind = %q", got)
	}

	if err := rdb.ConfigSet(ctx, "bind", "127.0.0.1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := pingAt(v4); err != nil {
		t.Fatalf("bind again after \"\": %v", err)
	}
	// port after bind, then both at once.
	free, _ := net.Listen("tcp4", "127.0.0.1:0")
	port2 := strconv.Itoa(free.Addr().(*net.TCPAddr).Port)
	free.Close()
	if err := rdb.ConfigSet(ctx, "port", port2).Err(); err != nil {
		t.Fatal(err)
	}
	refused(t, v4)
	if err := pingAt("127.0.0.1:" + port2); err != nil {
		t.Fatalf("port after a bind change: %v", err)
	}
	if err := rdb.Do(ctx, "config", "set", "bind", "127.0.0.2", "port", port).Err(); err != nil {
		t.Fatal(err)
	}
	if err := pingAt("127.0.0.2:" + port); err != nil {
		t.Fatalf("bind and port together: %v", err)
	}
	refused(t, "127.0.0.1:"+port2)
	refused(t, v4)
	if haveIPv6Loopback() {
		if err := rdb.ConfigSet(ctx, "bind", "::1 127.0.0.2").Err(); err != nil {
			t.Fatal(err)
		}
		if err := pingAt("[::1]:" + port); err != nil {
			t.Fatalf("::1: %v", err)
		}
	}
}

// From a file without a bind directive, bind is Redis's default "* -::*",
// which CONFIG REWRITE leaves out; bind "" is written as such.
func TestConfigBindDefaultRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "redis.conf")
	os.WriteFile(path, []byte("# no bind directive\nmaxmemory 1mb\n"), 0o644)
	bindLines := func() (n int, text string) {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "bind ") {
				n++
			}
		}
		return n, string(b)
	}
	addr := startServerWithFile(t, path)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	if got := rdb.ConfigGet(ctx, "bind").Val()["bind"]; got != "* -::*" {
		t.Fatalf("default bind = %q", got)
	}
	if err := rdb.ConfigRewrite(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if n, text := bindLines(); n != 0 {
		t.Fatalf("the default bind was written:\n%s", text)
	}
	if err := rdb.ConfigSet(ctx, "bind", "").Err(); err != nil {
		t.Fatal(err)
	}
	refused(t, addr)
	if err := rdb.ConfigRewrite(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if n, text := bindLines(); n != 1 || !strings.Contains(text, "\nbind \"\"\n") {
		t.Fatalf("bind \"\" not written once:\n%s", text)
	}
}

// The tls-port listeners follow bind like the plain ones.
func TestConfigSetBindTLS(t *testing.T) {
	if !haveIPv6Loopback() {
		t.Skip("no ::1")
	}
	p := newTestPKI(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		os.WriteFile(path, b, 0o600)
		return path
	}
	pl, _ := net.Listen("tcp4", "127.0.0.1:0")
	tl, _ := net.Listen("tcp4", "127.0.0.1:0")
	port := strconv.Itoa(pl.Addr().(*net.TCPAddr).Port)
	tport := strconv.Itoa(tl.Addr().(*net.TCPAddr).Port)
	cfg := config.New()
	if err := cfg.Load("port", port, "tls-port", tport, "bind", "127.0.0.1",
		"tls-cert-file", write("s.crt", p.serverCert), "tls-key-file", write("s.key", p.serverKey),
		"tls-auth-clients", "no"); err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Shards: 8, Config: cfg})
	pdone, tdone := make(chan error, 1), make(chan error, 1)
	go func() { pdone <- srv.Serve(pl) }()
	go func() { tdone <- srv.ServeTLS(tl) }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		for _, d := range []chan error{pdone, tdone} {
			if err := <-d; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v", err)
			}
		}
	})
	tlsPing := func(addr string) error {
		rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, TLSConfig: p.clientTLS()})
		defer rdb.Close()
		return rdb.Ping(context.Background()).Err()
	}
	if err := tlsPing("127.0.0.1:" + tport); err != nil {
		t.Fatal(err)
	}
	rdb := newClient2(t, "127.0.0.1:"+port, 2)
	if err := rdb.ConfigSet(context.Background(), "bind", "::1").Err(); err != nil {
		t.Fatal(err)
	}
	refused(t, "127.0.0.1:"+tport)
	if err := tlsPing("[::1]:" + tport); err != nil {
		t.Fatalf("TLS on the new bind address: %v", err)
	}
	if err := pingAt("[::1]:" + port); err != nil {
		t.Fatal(err)
	}
}

// The bind entries parse as Redis reads them.
func TestResolveBind(t *testing.T) {
	for _, c := range []struct{ entry, network, ip string }{
		{"*", "tcp4", "0.0.0.0"},
		{"-*", "tcp4", "0.0.0.0"},
		{"::*", "tcp6", "::"},
		{"-::*", "tcp6", "::"},
		{"127.0.0.1", "tcp4", "127.0.0.1"},
		{"-::1", "tcp6", "::1"},
	} {
		b, err := resolveBind(c.entry, "6379")
		if err != nil || b.network != c.network || !b.addr.IP.Equal(net.ParseIP(c.ip)) || b.addr.Port != 6379 ||
			b.optional != strings.HasPrefix(c.entry, "-") {
			t.Errorf("%s: %+v %v", c.entry, b, err)
		}
	}
	// "*" and "::*" are separate sockets on one port: the IPv6 one is
	// IPv6-only (checked on ::1's family, not on the wildcard).
	l, err := ListenBind("-::1", "0")
	if err != nil {
		t.Skip("no ::1")
	}
	defer l.Close()
	if !v6Only(l) {
		t.Error("an IPv6 bind address must be IPv6-only")
	}
}

// Protected mode as unit/networking checks it: a client from another
// machine is refused whatever bind says; CONFIG SET requirepass lets it in
// (after AUTH) and clearing the password refuses it again; protected-mode
// no lets it in without one.
func TestProtectedModeBindAndRequirepass(t *testing.T) {
	srv, port, _ := startBoundServer(t)
	ctx := context.Background()
	local := newClient2(t, "127.0.0.1:"+port, 2)
	remote := func(cmds ...string) (replies []string) {
		nc, br := dialFrom(srv, "10.1.2.3:4567")
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		for _, c := range cmds {
			go nc.Write([]byte(c + "\r\n"))
			line, err := br.ReadString('\n')
			replies = append(replies, strings.TrimSpace(line))
			if err != nil {
				break
			}
		}
		return replies
	}
	denied := func(when string) {
		t.Helper()
		if got := remote("PING"); !strings.HasPrefix(got[0], "-DENIED Redis is running in protected mode") {
			t.Fatalf("%s: %q, want -DENIED", when, got)
		}
	}
	denied("default")
	if err := local.ConfigSet(ctx, "bind", "127.0.0.1 -::1").Err(); err != nil {
		t.Fatal(err)
	}
	denied("after CONFIG SET bind")
	if err := local.ConfigSet(ctx, "requirepass", "secret").Err(); err != nil {
		t.Fatal(err)
	}
	if got := remote("AUTH secret", "PING"); len(got) != 2 || got[0] != "+OK" || got[1] != "+PONG" {
		t.Fatalf("with requirepass: %q", got)
	}
	if err := local.Do(ctx, "auth", "secret").Err(); err != nil {
		t.Fatal(err)
	}
	if err := local.ConfigSet(ctx, "requirepass", "").Err(); err != nil {
		t.Fatal(err)
	}
	denied("requirepass cleared")
	if err := local.ConfigSet(ctx, "protected-mode", "no").Err(); err != nil {
		t.Fatal(err)
	}
	if got := remote("PING"); got[0] != "+PONG" {
		t.Fatalf("protected-mode no: %q", got)
	}
}

// Bind and port changes racing each other (and new connections) leave
// exactly the listeners the configuration says, every one served.
func TestConfigSetBindAndPortRacing(t *testing.T) {
	if l, err := net.Listen("tcp4", "127.0.0.2:0"); err != nil {
		t.Skip("127.0.0.2 is not a loopback address here")
	} else {
		l.Close()
	}
	srv, port, _ := startBoundServer(t)
	free, _ := net.Listen("tcp4", "127.0.0.1:0")
	port2 := strconv.Itoa(free.Addr().(*net.TCPAddr).Port)
	free.Close()
	ctx := context.Background()
	binds := []string{"127.0.0.1", "127.0.0.1 127.0.0.2", "127.0.0.2", "", "127.0.0.2 127.0.0.1"}
	errc := make(chan error, 3)
	run := func(f func(rdb *redis.Client, i int) error) {
		rdb := redis.NewClient(&redis.Options{Dialer: pipeDialer(srv)})
		defer rdb.Close()
		for i := range 40 {
			if err := f(rdb, i); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}
	go run(func(rdb *redis.Client, i int) error {
		err := rdb.ConfigSet(ctx, "bind", binds[i%len(binds)]).Err()
		if err != nil && strings.HasSuffix(err.Error(), "Failed to bind to specified addresses.") {
			// The other port may be someone's at that moment: a client's
			// ephemeral port (the dialer below) can take it between two
			// changes. Refusing then is right; the end state is checked.
			return nil
		}
		return err
	})
	go run(func(rdb *redis.Client, i int) error {
		p := port
		if i%2 == 0 {
			p = port2
		}
		rdb.ConfigSet(ctx, "port", p) // may fail if someone took the port
		return nil
	})
	go run(func(rdb *redis.Client, i int) error {
		for _, p := range []string{port, port2} {
			if nc, err := net.Dial("tcp4", "127.0.0.1:"+p); err == nil {
				nc.Close()
			}
		}
		return nil
	})
	for range 3 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	// Settle on two addresses, then check.
	ctl := redis.NewClient(&redis.Options{Dialer: pipeDialer(srv)})
	defer ctl.Close()
	var err error
	for range 20 { // see above: the port may be a client's for a moment
		if err = ctl.ConfigSet(ctx, "bind", "127.0.0.1 127.0.0.2").Err(); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	cur := ctl.ConfigGet(ctx, "port").Val()["port"]
	for _, a := range []string{"127.0.0.1:" + cur, "127.0.0.2:" + cur} {
		if err := pingAt(a); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	other := port
	if cur == port {
		other = port2
	}
	refused(t, "127.0.0.1:"+other)
	srv.mu.Lock()
	n := len(srv.loops(false))
	srv.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d TCP accept loops, want 2", n)
	}
}

// pipeDialer connects go-redis to srv through in-memory pipes, which no
// bind change closes.
func pipeDialer(srv *Server) func(context.Context, string, string) (net.Conn, error) {
	return func(context.Context, string, string) (net.Conn, error) {
		c, s := net.Pipe()
		go srv.accept(s)
		return c, nil
	}
}
