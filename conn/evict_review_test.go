package conn

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valkyrie-kv/valkyrie/shard"
)

// While CLIENT PAUSE holds the clients, the dataset stays as it is, as
// in Redis (isSafeToPerformEvictions): no key is evicted, neither by
// CONFIG SET maxmemory nor by the shards' ticks, until the pause ends.
func TestNoEvictionDuringClientPause(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	for i := 0; i < 500; i++ {
		must(t, rdb.Set(ctx, "k"+strconv.Itoa(i), "value", 0).Err())
	}
	must(t, rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-random").Err())
	must(t, rdb.Do(ctx, "client", "pause", "10000", "write").Err())
	must(t, rdb.ConfigSet(ctx, "maxmemory", "1").Err())
	time.Sleep(300 * time.Millisecond) // a few ticks
	if n := rdb.DBSize(ctx).Val(); n != 500 {
		t.Fatalf("%d keys left of 500 during the pause", n)
	}
	if e := infoStat(t, rdb, "stats", "evicted_keys"); e != 0 {
		t.Fatalf("%d keys evicted during the pause", e)
	}
	must(t, rdb.Do(ctx, "client", "unpause").Err())
	deadline := time.Now().Add(5 * time.Second)
	for rdb.DBSize(ctx).Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d keys left after the pause", rdb.DBSize(ctx).Val())
		}
		time.Sleep(10 * time.Millisecond)
	}
	must(t, rdb.ConfigSet(ctx, "maxmemory", "0").Err())
}

// With data above maxmemory (noeviction keeps it), the runtime's memory
// limit must stay above the live heap, or the collector runs back to back
// and every command pays for it. The cron moves the limit with the heap.
func TestGCLimitStaysAboveLiveHeap(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	val := strings.Repeat("v", 1<<20)
	for i := 0; i < 48; i++ {
		must(t, rdb.Set(ctx, "k"+strconv.Itoa(i), val, 0).Err())
	}
	must(t, rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())
	must(t, rdb.ConfigSet(ctx, "maxmemory", "1").Err())
	defer rdb.ConfigSet(ctx, "maxmemory", "0")
	runtime.GC()
	live := liveHeap()
	if live < 48<<20 {
		t.Fatalf("live heap %d with 48 MB of data", live)
	}
	deadline := time.Now().Add(3 * time.Second)
	for debug.SetMemoryLimit(-1) <= live {
		if time.Now().After(deadline) {
			t.Fatalf("runtime memory limit %d MB, live heap %d MB", debug.SetMemoryLimit(-1)>>20, live>>20)
		}
		time.Sleep(10 * time.Millisecond)
	}
	must(t, rdb.ConfigSet(ctx, "maxmemory", "0").Err())
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Fatalf("runtime memory limit %d without maxmemory", l)
	}
	must(t, rdb.FlushAll(ctx).Err())
	runtime.GC() // no 48 MB of garbage for the next server's base
}

// A command across shards that pushes memory over maxmemory notifies its
// own events before those of the evictions it causes, as Redis does
// (which evicts before the next command): the run's events used to be
// handed over after the evictions that End ran.
func TestEvictedEventsFollowTheRunsOwn(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	for i := 0; i < 200; i++ {
		must(t, rdb.Set(ctx, "p"+strconv.Itoa(i), strings.Repeat("v", 100), 0).Err())
	}
	a, b := "a", ""
	for i := 0; b == ""; i++ {
		if k := "b" + strconv.Itoa(i); shard.Owner([]byte(k), 8) != shard.Owner([]byte(a), 8) {
			b = k
		}
	}
	must(t, rdb.ConfigSet(ctx, "notify-keyspace-events", "E$e").Err())
	sub := rdb.PSubscribe(ctx, "__keyevent@0__:*")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-random").Err())
	must(t, rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(infoUsedMemory(t, rdb)+8<<10, 10)).Err())
	defer rdb.ConfigSet(ctx, "maxmemory", "0")
	val := strings.Repeat("x", 10<<10)
	must(t, rdb.MSet(ctx, a, val, b, val).Err())
	var got []string
	for len(got) < 3 {
		msg, err := sub.ReceiveMessage(ctx)
		must(t, err)
		got = append(got, strings.TrimPrefix(msg.Channel, "__keyevent@0__:")+" "+msg.Payload)
	}
	if !strings.HasPrefix(got[0], "set ") || !strings.HasPrefix(got[1], "set ") || !strings.HasPrefix(got[2], "evicted ") {
		t.Fatalf("events in the order %q, want MSET's two sets, then the evictions", got)
	}
}

// The warning that maxmemory is below the memory in use belongs to
// CONFIG SET maxmemory, as in Redis: a full server under noeviction must
// not log it again for every other parameter a client sets.
func TestMaxmemoryWarningOnlyOnMaxmemory(t *testing.T) {
	h, addr := stressStartServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	must(t, rdb.Set(ctx, "k", "v", 0).Err())
	must(t, rdb.ConfigSet(ctx, "maxmemory", "1").Err())
	defer rdb.ConfigSet(ctx, "maxmemory", "0")
	for i := 0; i < 3; i++ {
		must(t, rdb.ConfigSet(ctx, "slowlog-log-slower-than", strconv.Itoa(10000+i)).Err())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.first {
		if strings.Contains(m, "the new maxmemory value set via CONFIG SET") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d maxmemory warnings for one CONFIG SET maxmemory: %q", n, h.first)
	}
}

// DEBUG POPULATE fills the shards outside a batch: used_memory must show
// the keys as soon as it replies, as Redis's does (the suite's maxmemory
// tests populate and then read used_memory), not one tick later.
func TestPopulateShowsInUsedMemoryAtOnce(t *testing.T) {
	_, addr := startDebugServer(t, 8, "yes")
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	before := infoStat(t, rdb, "memory", "used_memory_dataset")
	must(t, rdb.Do(ctx, "debug", "populate", "10000", "key", "100").Err())
	if grown := infoStat(t, rdb, "memory", "used_memory_dataset") - before; grown < 10000*100 {
		t.Fatalf("used_memory_dataset grew by %d after DEBUG POPULATE of 1 MB", grown)
	}
}
