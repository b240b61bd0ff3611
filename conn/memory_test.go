package conn

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valkyrie-kv/valkyrie/osmem"
)

// heapInuse collects garbage and reports the bytes in live heap spans.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
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
	clients := make([]*redis.Client, conns)
	for i := range clients {
		clients[i] = redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, MaxRetries: -1})
		t.Cleanup(func() { clients[i].Close() })
		if err := clients[i].Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
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
