package conn

import (
	"context"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Writes answer OOM once the data grows past maxmemory, reads go on, and
// writes work again once memory is freed: the limit follows the heap, not
// a flag set by CONFIG SET alone.
func TestMaxmemoryRefusesWritesWhileOver(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	limit := s[0].Value.Uint64() + 32<<20
	if err := rdb.ConfigSet(ctx, "maxmemory", strconv.FormatUint(limit, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	val := strings.Repeat("v", 1<<20)
	oom := false
	for i := 0; i < 200 && !oom; i++ { // at most 200 MB
		err := rdb.Set(ctx, "k"+strconv.Itoa(i), val, 0).Err()
		switch {
		case err == nil:
			time.Sleep(2 * time.Millisecond) // let the sampler see the growth
		case strings.HasPrefix(err.Error(), "OOM command not allowed when used memory > 'maxmemory'."):
			oom = true
		default:
			t.Fatal(err)
		}
	}
	if !oom {
		t.Fatal("200 MB written past a limit 32 MB above the heap, and no OOM")
	}
	if err := rdb.Get(ctx, "k0").Err(); err != nil {
		t.Fatalf("a read while over maxmemory: %v", err)
	}
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatalf("FLUSHALL while over maxmemory: %v", err)
	}
	runtime.GC()
	deadline := time.Now().Add(3 * time.Second)
	for rdb.Set(ctx, "after", "x", 0).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("writes still refused after the data was freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rdb.ConfigSet(ctx, "maxmemory", "0")
}
