package conn

import (
	"bufio"
	"context"
	"io"
	"math/rand"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
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

// TestReviewTrackingStress: clients switching tracking on and off (BCAST,
// PREFIX, OPTIN, OPTOUT, NOLOOP, REDIRECT to each other), protocols, RESET,
// MULTI, scripts and short blocking pops, while writers change, expire and
// flush keys on 8 shards. Nothing may crash, race (run with -race) or
// hang: at the end every connection still answers.
func TestReviewTrackingStress(t *testing.T) {
	srv, addr := startServer(t, 8)
	const nClients, nWriters = 10, 3
	dur := 3 * time.Second
	if testing.Short() {
		dur = time.Second
	}
	clients := make([]*stressConn, nClients)
	for i := range clients {
		nc, br := dialBuffered(t, addr)
		io.WriteString(nc, resp("CLIENT", "ID"))
		v, err := readVal(br)
		if err != nil {
			t.Fatal(err)
		}
		c := &stressConn{nc: nc, id: v.str, done: make(chan struct{})}
		clients[i] = c
		go func() { // drain, keeping the tail to find the final marker
			defer close(c.done)
			buf := make([]byte, 64<<10)
			for {
				n, err := br.Read(buf)
				c.mu.Lock()
				c.seen = append(c.seen, buf[:n]...)
				if len(c.seen) > 1<<16 {
					c.seen = append(c.seen[:0], c.seen[len(c.seen)-4096:]...)
				}
				c.mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var wg sync.WaitGroup
	var targetMu sync.Mutex
	var targets []string
	key := func(r *rand.Rand) string { return "s:" + strconv.Itoa(r.Intn(40)) }
	for i, c := range clients {
		wg.Add(1)
		go func(i int, c *stressConn) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(i)))
			batch := 0
			for ctx.Err() == nil {
				var b strings.Builder
				for j := 0; j < 8; j++ {
					switch r.Intn(16) {
					case 0:
						b.WriteString(resp("HELLO", strconv.Itoa(2+r.Intn(2))))
					case 1:
						b.WriteString(resp("CLIENT", "TRACKING", "on"))
					case 2:
						b.WriteString(resp("CLIENT", "TRACKING", "off"))
					case 3:
						b.WriteString(resp("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "s:"+strconv.Itoa(r.Intn(4)), "NOLOOP"))
					case 4:
						id := clients[r.Intn(nClients)].id
						if r.Intn(2) == 0 {
							targetMu.Lock()
							if len(targets) > 0 {
								id = targets[r.Intn(len(targets))]
							}
							targetMu.Unlock()
						}
						b.WriteString(resp("CLIENT", "TRACKING", "on", "REDIRECT", id))
					case 5:
						b.WriteString(resp("CLIENT", "TRACKING", "on", "OPTIN") + resp("CLIENT", "CACHING", "yes"))
					case 6:
						b.WriteString(resp("CLIENT", "TRACKING", "on", "OPTOUT", "NOLOOP"))
					case 7:
						b.WriteString(resp("RESET"))
					case 8:
						b.WriteString(resp("MULTI") + resp("GET", key(r)) + resp("CLIENT", "TRACKING", "on") + resp("SET", key(r), "m") + resp("EXEC"))
					case 9:
						b.WriteString(resp("EVAL", "return redis.call('GET', KEYS[1])", "1", key(r)))
					case 10:
						b.WriteString(resp("BLPOP", key(r)+":l", "0.01"))
					case 11:
						b.WriteString(resp("MGET", key(r), key(r), key(r)))
					case 12:
						b.WriteString(resp("SET", key(r), "x"))
					case 13:
						b.WriteString(resp("SUBSCRIBE", "__redis__:invalidate") + resp("UNSUBSCRIBE"))
					default:
						b.WriteString(resp("GET", key(r)))
					}
				}
				batch++
				marker := "b-" + strconv.Itoa(i) + "-" + strconv.Itoa(batch)
				b.WriteString(resp("PING", marker)) // allowed in every mode
				if _, err := io.WriteString(c.nc, b.String()); err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				if !c.await(marker, 5*time.Second) {
					t.Errorf("client %d: no answer to batch %d within 5s; last bytes: %q", i, batch, c.tail())
					return
				}
			}
		}(i, c)
	}
	// Redirect targets without an output queue: fresh RESP3 connections
	// that block (woken by the pushes, which must not stop their socket
	// watcher) or sit idle, then hang up.
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(200 + g)))
			for ctx.Err() == nil {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(nc)
				io.WriteString(nc, resp("HELLO", "3")+resp("CLIENT", "ID"))
				readVal(br)
				v, err := readVal(br)
				if err != nil {
					t.Error(err)
					nc.Close()
					return
				}
				targetMu.Lock()
				targets = append(targets, v.str)
				if len(targets) > 8 {
					targets = targets[1:]
				}
				targetMu.Unlock()
				for j := 0; j < 5 && ctx.Err() == nil; j++ {
					if r.Intn(2) == 0 {
						io.WriteString(nc, resp("BLPOP", key(r)+":l", "0.05"))
					} else {
						time.Sleep(20 * time.Millisecond)
					}
					io.WriteString(nc, resp("PING", "t"))
					for {
						v, err := readVal(br)
						if err != nil {
							t.Errorf("redirect target: %v", err)
							nc.Close()
							return
						}
						if v.str == "t" {
							break
						}
					}
				}
				nc.Close()
			}
		}(g)
	}
	for w := 0; w < nWriters; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			defer rdb.Close()
			r := rand.New(rand.NewSource(int64(100 + w)))
			for ctx.Err() == nil {
				k := key(r)
				switch r.Intn(20) {
				case 0:
					rdb.FlushAll(ctx)
				case 1:
					rdb.Do(ctx, "config", "set", "tracking-table-max-keys", strconv.Itoa(r.Intn(20)))
				case 2:
					rdb.PExpire(ctx, k, time.Millisecond)
				case 3:
					rdb.MSet(ctx, k, 1, key(r), 2)
				case 4:
					rdb.RPush(ctx, k+":l", "e")
				case 5:
					rdb.Do(ctx, "client", "list")
				default:
					rdb.Set(ctx, k, r.Int(), 0)
				}
			}
		}(w)
	}
	wg.Wait()
	// Every connection still answers, in whatever protocol it ended in.
	for i, c := range clients {
		marker := "end-" + strconv.Itoa(i)
		io.WriteString(c.nc, resp("RESET")+resp("ECHO", marker))
		if !c.await(marker, 5*time.Second) {
			t.Fatalf("client %d does not answer after the stress; last bytes: %q", i, c.tail())
		}
	}
	if n := srv.tracking.nClients.Load(); n != 0 {
		t.Fatalf("tracking_clients = %d after every client reset", n)
	}
	for _, c := range clients {
		c.nc.Close()
		<-c.done
	}
}

// stressConn is a raw connection whose replies a goroutine drains,
// keeping the tail to find markers in.
type stressConn struct {
	nc   net.Conn
	id   string
	mu   sync.Mutex
	seen []byte
	done chan struct{}
}

func (c *stressConn) tail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.seen[max(0, len(c.seen)-600):])
}

// await waits until marker has arrived, or d passed.
func (c *stressConn) await(marker string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		ok := strings.Contains(string(c.seen), marker+"\r\n")
		c.mu.Unlock()
		if ok {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}
