package conn

import (
	"context"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/redis/go-redis/v9"
)

// expectPush reads from c until an invalidation of key arrives, failing
// after d.
func expectPush(t *testing.T, c *trackConn, key string, d time.Duration) {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	defer c.nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		v, err := c.readOne()
		if err != nil {
			t.Fatalf("no invalidation of %q within %v: %v", key, d, err)
		}
		if keys, ok := invalidated(v); ok && (keys == nil || (len(keys) == 1 && keys[0] == key)) {
			return
		}
		t.Fatalf("unexpected reply %v while waiting for the invalidation of %q", v, key)
	}
}

// A RESP3 tracking client blocked in BLPOP still gets its invalidations,
// as in Redis: a blocked client's cache must not go stale for the length
// of the block. They used to wait in the held buffer until BLPOP returned
// (and past 32 MB of them the connection was closed).
func TestReviewTrackingBlockedClientGetsInvalidation(t *testing.T) {
	_, addr := startServer(t, 8)
	a := dialTrack(t, addr)
	a.call("HELLO", "3")
	if r := a.call("CLIENT", "TRACKING", "on"); r.str != "OK" {
		t.Fatalf("CLIENT TRACKING: %v", r)
	}
	a.call("GET", "foo")
	io.WriteString(a.nc, resp("BLPOP", "review:list", "0"))
	time.Sleep(100 * time.Millisecond)
	w := newClient2(t, addr, 2)
	if err := w.Set(context.Background(), "foo", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	expectPush(t, a, "foo", 2*time.Second)
	// The BLPOP is still served afterwards.
	w.RPush(context.Background(), "review:list", "x")
	a.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	v, err := a.readOne()
	if err != nil || len(v.arr) != 2 || v.arr[1].str != "x" {
		t.Fatalf("BLPOP reply = %v, %v", v, err)
	}
}

// A RESP3 connection without an output queue that another client's
// tracking redirects to, blocked in BLPOP, gets the invalidation while it
// waits (Redis sends it at once), and when it then hangs up the server
// still notices: the element pushed afterwards must stay in the list, not
// be popped for a dead connection. The wake (a read deadline in the past)
// used to stop the blocked wait's socket watcher: the push waited until
// BLPOP returned, and a hang-up during the wait went unnoticed.
func TestReviewTrackingBlockedRedirectTarget(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	target := dialTrack(t, addr)
	target.call("HELLO", "3")
	id := target.call("CLIENT", "ID").str
	a := dialTrack(t, addr)
	if r := a.call("CLIENT", "TRACKING", "on", "REDIRECT", id); r.str != "OK" {
		t.Fatalf("CLIENT TRACKING: %v", r)
	}
	a.call("GET", "foo")
	io.WriteString(target.nc, resp("BLPOP", "review:list", "0"))
	time.Sleep(100 * time.Millisecond)
	w := newClient2(t, addr, 2)
	if err := w.Set(ctx, "foo", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	expectPush(t, target, "foo", 2*time.Second)

	target.nc.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		n, _ := w.Do(ctx, "info", "clients").Text()
		if strings.Contains(n, "blocked_clients:0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hang-up of a blocked redirect target went unnoticed: it is still blocked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.RPush(ctx, "review:list", "x")
	if n, _ := w.LLen(ctx, "review:list").Result(); n != 1 {
		t.Fatalf("LLEN = %d after the blocked client hung up: the element was popped for nobody", n)
	}
}

// A tracking client is a normal client (Redis's output buffer class is
// "normal", no limit by default). Its replies go through the pub/sub
// output queue, so the pubsub class limit closed it on a large reply: with
// the default limit (32 MB hard), GET of a 40 MB value; here a 2 MB value
// under a 1 MB limit.
func TestReviewTrackingLargeReplyNotDisconnected(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	w := newClient2(t, addr, 2)
	if err := w.ConfigSet(ctx, "client-output-buffer-limit", "pubsub 1mb 0 0").Err(); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 2<<20)
	if err := w.Set(ctx, "big", big, 0).Err(); err != nil {
		t.Fatal(err)
	}
	a := dialTrack(t, addr)
	if r := a.call("CLIENT", "TRACKING", "on"); r.str != "OK" {
		t.Fatalf("CLIENT TRACKING: %v", r)
	}
	io.WriteString(a.nc, resp("GET", "big"))
	a.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	v, err := a.readOne()
	if err != nil || len(v.str) != len(big) {
		t.Fatalf("GET big with tracking on: %d bytes, %v (closed by the pubsub output limit)", len(v.str), err)
	}
}

// A connection that read a key with tracking on and hung up must not stay
// in memory (its read buffer, batches, output queue...) for as long as
// the key is unchanged: Redis's table keeps client IDs. Here the shards'
// table keeps *Tracker, whose sink points at the *client.
func TestReviewTrackingClosedClientNotRetained(t *testing.T) {
	srv, addr := startServer(t, 8)
	a := dialTrack(t, addr)
	id, _ := strconv.ParseInt(a.call("CLIENT", "ID").str, 10, 64)
	srv.mu.Lock()
	wp := weak.Make(srv.clients[id])
	srv.mu.Unlock()
	if r := a.call("CLIENT", "TRACKING", "on"); r.str != "OK" {
		t.Fatalf("CLIENT TRACKING: %v", r)
	}
	a.call("GET", "never-written")
	a.nc.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		srv.mu.Lock()
		n := len(srv.clients)
		srv.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("connection not forgotten")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 0; i < 5 && wp.Value() != nil; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if wp.Value() != nil {
		t.Fatal("a closed tracking connection is still reachable (from the shards' tracking table)")
	}
}

// Two CONFIG SET port in one pipeline: the second runs before the accept
// loop has switched to the first's listener. It must end on the second
// port with the first one released.
func TestReviewConfigSetPortTwice(t *testing.T) {
	_, addr := startServer(t, 8)
	ports := make([]string, 2)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	nc, br := dialBuffered(t, addr)
	io.WriteString(nc, resp("CONFIG", "SET", "port", ports[0])+resp("CONFIG", "SET", "port", ports[1]))
	for i := 0; i < 2; i++ {
		if v, err := readVal(br); err != nil || v.str != "OK" {
			t.Fatalf("CONFIG SET port: %v %v", v, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	ctx := context.Background()
	c1 := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + ports[1], MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer c1.Close()
	if err := c1.Ping(ctx).Err(); err != nil {
		t.Fatalf("second port: %v", err)
	}
	if l, err := net.Listen("tcp", "127.0.0.1:"+ports[0]); err != nil {
		t.Fatalf("first port still bound after moving on: %v", err)
	} else {
		l.Close()
	}
}
