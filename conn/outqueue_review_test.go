package conn

import (
	"context"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Review of the normal clients' output queue.

// A client whose replies wait in its output queue and that subscribes (or
// turns CLIENT TRACKING on) inside a transaction must not hold the shards
// the transaction borrowed until its client reads: the connection waited
// for its queue to drain (startQueue) with the shard of k lent to it, so
// every other client of that shard hung.
func TestSubscribeInExecWithQueuedRepliesHoldsNoShard(t *testing.T) {
	for _, sub := range [][]string{{"SUBSCRIBE", "ch"}, {"CLIENT", "TRACKING", "ON"}} {
		t.Run(sub[0], func(t *testing.T) {
			_, addr := startServer(t, 8)
			ctx := context.Background()
			admin := newClient2(t, addr, 2)
			admin.Set(ctx, "big", strings.Repeat("x", 100<<10), 0)
			nc := slowReader(t, addr, "slow")
			if !growOmem(t, admin, nc, "slow", 2<<20) {
				t.Fatalf("omem never passed 2 MB: %v", clientLineOf(t, admin, "slow"))
			}
			io.WriteString(nc, resp("MULTI")+resp("SET", "k", "1")+resp(sub...)+resp("EXEC"))
			time.Sleep(200 * time.Millisecond)
			other := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 3 * time.Second, MaxRetries: -1})
			defer other.Close()
			if err := other.Set(ctx, "k", "2", 0).Err(); err != nil {
				t.Fatalf("SET k from another client: %v (the shard of k is still lent)", err)
			}
		})
	}
}

// dialRaw dials addr with a 4 KB receive buffer and never reads.
func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return nil
	}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// runningWriters counts the connections whose output queue writer runs.
func runningWriters(srv *Server) (n int) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, c := range srv.clients {
		c.oq.mu.Lock()
		if c.oq.running {
			n++
		}
		c.oq.mu.Unlock()
	}
	return n
}

// Many clients that do not read, each with replies queued for its socket,
// leave by every way there is (CLIENT KILL, their own close, QUIT, a
// subscription taken with replies queued, an EXEC that subscribes, client
// eviction): every writer goroutine ends and the clients' memory returns
// to where it was.
func TestNonReadingClientsLeaveNoGoroutineOrMemory(t *testing.T) {
	n := 200 // 1000 with VALKYRIE_OQ_CLIENTS=1000
	if v, err := strconv.Atoi(os.Getenv("VALKYRIE_OQ_CLIENTS")); err == nil && v > 0 {
		n = v
	} else if testing.Short() {
		n = 10
	}
	srv, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	admin.Do(ctx, "CLIENT", "NO-EVICT", "on")
	admin.Set(ctx, "big", strings.Repeat("x", 32<<10), 0)
	time.Sleep(50 * time.Millisecond)
	baseG := runtime.NumGoroutine()
	baseM := srv.clientMemory()

	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dialRaw(t, addr)
		io.WriteString(conns[i], strings.Repeat(resp("GET", "big"), 8))
	}
	ids := map[int]int64{}
	byAddr := map[string]*client{}
	waitFor(t, func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for _, c := range srv.clients {
			byAddr[c.ident.Addr] = c
		}
		return len(srv.clients) == n+1
	})
	// Until the socket takes no more and the writer runs: 200 sockets'
	// worth of 32 KB replies, which under -race on one loaded core took
	// more than 20 s (84 writers of 200 ran then).
	for d := time.Now().Add(90 * time.Second); time.Now().Before(d); {
		more := 0
		for i, nc := range conns {
			c := byAddr[nc.LocalAddr().String()]
			ids[i] = c.id
			c.oq.mu.Lock()
			running := c.oq.running
			c.oq.mu.Unlock()
			if !running {
				more++
				io.WriteString(nc, strings.Repeat(resp("GET", "big"), 8))
			}
		}
		if more <= n/10 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Most writers run by now; on a loaded machine (-race in CI) some
	// sockets may still be taking bytes, which the checks below cover too.
	if w := runningWriters(srv); w < n/2 {
		t.Fatalf("%d writers running of %d", w, n)
	}
	var evictable []int
	for i, nc := range conns {
		switch i % 6 {
		case 0:
			admin.Do(ctx, "CLIENT", "KILL", "ID", strconv.FormatInt(ids[i], 10))
		case 1:
			nc.Close()
		case 2:
			io.WriteString(nc, resp("QUIT"))
			nc.Close()
		case 3:
			io.WriteString(nc, resp("SUBSCRIBE", "ch"))
			evictable = append(evictable, i)
		case 4:
			io.WriteString(nc, resp("MULTI")+resp("SET", "k"+strconv.Itoa(i), "1")+resp("SUBSCRIBE", "ch2")+resp("EXEC"))
			admin.Do(ctx, "CLIENT", "KILL", "ID", strconv.FormatInt(ids[i], 10))
		case 5:
			evictable = append(evictable, i)
		}
	}
	admin.Publish(ctx, "ch", "hello")
	// Client eviction takes the rest.
	admin.ConfigSet(ctx, "maxmemory-clients", "1")
	deadline := time.Now().Add(15 * time.Second)
	for {
		srv.mu.Lock()
		left := len(srv.clients)
		srv.mu.Unlock()
		g, m := runtime.NumGoroutine(), srv.clientMemory()
		if left == 1 && g <= baseG && m <= baseM+64<<10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("clients left %d, goroutines %d (base %d), client memory %d (base %d), evicted %d of %d",
				left, g, baseG, m, baseM, srv.stats.evictedClients.Load(), len(evictable))
		}
		time.Sleep(20 * time.Millisecond)
	}
	admin.ConfigSet(ctx, "maxmemory-clients", "0")
	if err := admin.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}

// A transaction on one shard reuses the shard's batch without setting its
// output limit (Batch.OutLimit): one left from an earlier command, under
// a hard limit since removed, cut HRANDFIELD's reply short inside EXEC,
// and the client got an array shorter than its header said.
func TestRandomCountInExecNoStaleOutputLimit(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	admin.HSet(ctx, "h", "f1", strings.Repeat("v", 1000), "f2", strings.Repeat("w", 1000))
	admin.ConfigSet(ctx, "client-output-buffer-limit", "normal 102400 0 0")
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, ReadTimeout: 5 * time.Second, MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.HLen(ctx, "h").Err(); err != nil { // the batch of h's shard gets the limit
		t.Fatal(err)
	}
	admin.ConfigSet(ctx, "client-output-buffer-limit", "normal 0 0 0")
	var res *redis.KeyValueSliceCmd
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		res = p.HRandFieldWithValues(ctx, "h", -500)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Val()); n != 500 {
		t.Fatalf("HRANDFIELD h -500 WITHVALUES in EXEC: %d pairs", n)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}
