package conn

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// infoOf reads one INFO field as a number.
func infoOf(t *testing.T, rdb *redis.Client, section, name string) int64 {
	t.Helper()
	return infoField(t, rdb.Info(context.Background(), section).Val(), name)
}

// UNLINK of a big value, FLUSHALL ASYNC and (with lazyfree-lazy-user-del)
// DEL hand what they drop to the lazy-free worker, which sees it collected:
// lazyfree_pending_objects goes back to 0, lazyfreed_objects counts it, and
// used_memory falls without any other allocation to start a collection.
// Small values are freed at once and not counted.
func TestLazyFree(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	settle := func(freed int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for infoOf(t, rdb, "memory", "lazyfree_pending_objects") != 0 || infoOf(t, rdb, "stats", "lazyfreed_objects") != freed {
			if time.Now().After(deadline) {
				t.Fatalf("pending %d, freed %d, want 0 and %d", infoOf(t, rdb, "memory", "lazyfree_pending_objects"),
					infoOf(t, rdb, "stats", "lazyfreed_objects"), freed)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	fill := func(key string) {
		members := make([]any, 100000)
		for i := range members {
			members[i] = i
		}
		if err := rdb.SAdd(ctx, key, members...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	fill("big")
	peak := infoOf(t, rdb, "memory", "used_memory")
	rdb.Set(ctx, "small", "x", 0)
	rdb.Unlink(ctx, "big", "small")
	settle(1)
	if used := infoOf(t, rdb, "memory", "used_memory"); used >= peak {
		t.Fatalf("used_memory %d after UNLINK, %d before", used, peak)
	}

	rdb.ConfigSet(ctx, "lazyfree-lazy-user-del", "yes")
	fill("big2")
	rdb.Del(ctx, "big2")
	settle(2)
	rdb.ConfigSet(ctx, "lazyfree-lazy-user-del", "no")
	fill("big3")
	rdb.Del(ctx, "big3")
	settle(2)

	for i := range 10 {
		rdb.Set(ctx, "k"+strconv.Itoa(i), "v", 0)
	}
	rdb.FlushAllAsync(ctx)
	settle(12)
	rdb.ConfigResetStat(ctx)
	if n := infoOf(t, rdb, "stats", "lazyfreed_objects"); n != 0 {
		t.Fatalf("lazyfreed_objects %d after RESETSTAT", n)
	}
}
