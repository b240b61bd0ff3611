package conn

import (
	"context"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valkyrie-kv/valkyrie/shard/osmem"
)

// heapInuse collects garbage and reports the bytes in live heap spans.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// singleConnClients opens n clients of one connection each, already
// connected, closed when the test ends.
func singleConnClients(t *testing.T, addr string, n int) []*redis.Client {
	t.Helper()
	clients := make([]*redis.Client, n)
	for i := range clients {
		clients[i] = redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, MaxRetries: -1})
		t.Cleanup(func() { clients[i].Close() })
		if err := clients[i].Ping(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return clients
}

// A large reply must not pin its size in the connection's buffers: after
// several connections GET a big value and it is deleted, the heap goes
// back to where it was without the value, with the connections still open,
// and the freed memory is handed back to the OS.
func TestLargeReplyBuffersReleased(t *testing.T) {
	const size = 20 << 20
	const conns = 5
	_, addr := startServer(t, 8)
	ctx := context.Background()
	clients := singleConnClients(t, addr, conns)
	before := heapInuse()
	runsBefore := osmem.Runs()
	if err := clients[0].Set(ctx, "big", strings.Repeat("v", size), 0).Err(); err != nil {
		t.Fatal(err)
	}
	// The SET grew the reader's buffer; the next request lets it shrink.
	if err := clients[0].Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for _, rdb := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := rdb.Get(ctx, "big").Result()
			if err != nil || len(v) != size {
				t.Errorf("GET big: %d bytes, %v", len(v), err)
			}
			// A small command on the same connection afterwards.
			if err := rdb.Ping(ctx).Err(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := clients[0].Del(ctx, "big").Err(); err != nil {
		t.Fatal(err)
	}

	// Without the value the heap should be back where it started; allow
	// some slack, but less than one buffer of the value's size.
	limit := before + size/2
	var now uint64
	for deadline := time.Now().Add(3 * time.Second); ; {
		now = heapInuse()
		if now <= limit || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if now > limit {
		t.Fatalf("heap in use %d MB after SET, GETs and DEL, %d MB before: buffers were kept", now>>20, before>>20)
	}
	for deadline := time.Now().Add(3 * time.Second); osmem.Runs() == runsBefore; {
		if time.Now().After(deadline) {
			t.Fatal("released buffers were never returned to the OS")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, rdb := range clients { // still open and working
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// A client whose unparsed input passes client-query-buffer-limit is
// closed without a reply, as Redis does; other clients carry on.
func TestQueryBufferLimitClosesClient(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.ConfigSet(ctx, "client-query-buffer-limit", "1mb").Err(); err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, header string, blocked bool) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if blocked {
			// A blocked client's input is read while it waits: the limit
			// applies there too.
			if _, err := nc.Write([]byte("BLPOP nosuchlist 0\r\n")); err != nil {
				t.Fatal(err)
			}
		}
		// A partial request: a 3 MB bulk of which 2 MB arrive.
		go func() {
			nc.Write([]byte(header))
			nc.Write([]byte(strings.Repeat("x", 2<<20)))
		}()
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(nc)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %d bytes of a pending request", 2<<20)
		}
		if len(got) != 0 {
			t.Fatalf("got a reply %q, want the connection closed without one", got)
		}
		if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
			t.Fatalf("GET k = %q, %v", v, err)
		}
	}
	t.Run("bulk", func(t *testing.T) { check(t, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3145728\r\n", false) })
	t.Run("blocked", func(t *testing.T) { check(t, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3145728\r\n", true) })

	// Under the limit a request of the same shape is fine.
	if err := rdb.ConfigSet(ctx, "client-query-buffer-limit", "4mb").Err(); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("y", 3<<20)
	if err := rdb.Set(ctx, "k", big, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != big {
		t.Fatalf("GET k: %d bytes, %v", len(v), err)
	}
}

// client-query-buffer-limit bounds unparsed input, not a whole command: as
// in Redis, an MSET of three 600 KB values passes a 1 MB limit, since each
// argument leaves the query buffer once complete.
func TestQueryBufferLimitCountsArgumentsSeparately(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.ConfigSet(ctx, "client-query-buffer-limit", "1mb").Err(); err != nil {
		t.Fatal(err)
	}
	v := strings.Repeat("v", 600000)
	if err := rdb.MSet(ctx, "a", v, "b", v, "c", v).Err(); err != nil {
		t.Fatalf("MSET of 3 x 600 KB under a 1 MB limit: %v", err)
	}
	if n, err := rdb.StrLen(ctx, "c").Result(); err != nil || n != 600000 {
		t.Fatalf("STRLEN c = %d, %v", n, err)
	}
}
