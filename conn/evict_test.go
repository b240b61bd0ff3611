package conn

import (
	"bufio"
	"context"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valkyrie-kv/valkyrie/shard"
)

// fillPast sets maxmemory 64 KB above used memory under policy, then
// writes keys (volatile ones when ttl) until used memory has passed the
// limit, twice over. It returns the limit.
func fillPast(t *testing.T, rdb *redis.Client, policy string, ttl bool, prefix string, n int) int64 {
	t.Helper()
	ctx := context.Background()
	limit := infoUsedMemory(t, rdb) + 64<<10
	must(t, rdb.ConfigSet(ctx, "maxmemory-policy", policy).Err())
	must(t, rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(limit, 10)).Err())
	val := strings.Repeat("v", 100)
	for i := 0; i < n; i++ {
		var err error
		if ttl {
			err = rdb.Set(ctx, prefix+strconv.Itoa(i), val, time.Hour).Err()
		} else {
			err = rdb.Set(ctx, prefix+strconv.Itoa(i), val, 0).Err()
		}
		if err != nil {
			t.Fatalf("%s: SET %d: %v", policy, i, err)
		}
	}
	return limit
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func infoStat(t *testing.T, rdb *redis.Client, section, field string) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), section).Result()
	must(t, err)
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			must(t, err)
			return n
		}
	}
	t.Fatalf("no %s in INFO %s", field, section)
	return 0
}

// Every evicting policy holds used memory at maxmemory (within one key)
// while keys keep coming, across 8 shards, and counts what it evicted.
func TestEvictionHoldsTheLimit(t *testing.T) {
	for _, policy := range []string{"allkeys-lru", "allkeys-lfu", "allkeys-random",
		"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"} {
		t.Run(policy, func(t *testing.T) {
			_, addr := startServer(t, 8)
			rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
			defer rdb.Close()
			limit := fillPast(t, rdb, policy, true, "k", 3000) // ~3000*150 bytes: 7 times the room
			if used := infoUsedMemory(t, rdb); used > limit+1024 {
				t.Fatalf("used_memory %d, maxmemory %d", used, limit)
			}
			n, _ := rdb.DBSize(context.Background()).Result() // evicts first, if over
			evicted := infoStat(t, rdb, "stats", "evicted_keys")
			if evicted == 0 || n+evicted != 3000 {
				t.Fatalf("%d keys left and %d evicted, of 3000", n, evicted)
			}
		})
	}
}

// Under noeviction, or a volatile policy with no key that has a TTL,
// writes are refused with OOM once memory is full, and no key goes.
func TestEvictionRefusesWhenNothingMayGo(t *testing.T) {
	for _, policy := range []string{"noeviction", "volatile-lru", "volatile-ttl"} {
		t.Run(policy, func(t *testing.T) {
			_, addr := startServer(t, 8)
			ctx := context.Background()
			rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
			defer rdb.Close()
			limit := infoUsedMemory(t, rdb) + 64<<10
			must(t, rdb.ConfigSet(ctx, "maxmemory-policy", policy).Err())
			must(t, rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(limit, 10)).Err())
			val := strings.Repeat("v", 100)
			var oom error
			i := 0
			for ; i < 5000 && oom == nil; i++ {
				oom = rdb.Set(ctx, "k"+strconv.Itoa(i), val, 0).Err()
			}
			if oom == nil || !strings.HasPrefix(oom.Error(), "OOM command not allowed when used memory > 'maxmemory'.") {
				t.Fatalf("after %d keys: %v", i, oom)
			}
			if n, _ := rdb.DBSize(ctx).Result(); n != int64(i-1) {
				t.Fatalf("%d keys, %d written", n, i-1)
			}
			if e := infoStat(t, rdb, "stats", "evicted_keys"); e != 0 {
				t.Fatalf("%d keys evicted", e)
			}
			must(t, rdb.Get(ctx, "k0").Err()) // reads go on
		})
	}
}

// The pooled policies evict the keys their ranking puts first: the idle
// ones under LRU, the rarely used under LFU, those expiring soonest under
// volatile-ttl. Half the keys are made worse candidates than the other
// half; eviction must take nearly all its victims from the better half.
func TestEvictionPicksByPolicy(t *testing.T) {
	cases := []struct {
		policy string
		old    func(rdb *redis.Client, key string, dump string) error // the half to go
	}{
		{"allkeys-lru", func(rdb *redis.Client, key, dump string) error {
			return rdb.Do(context.Background(), "restore", key, 0, dump, "replace", "idletime", 100000).Err()
		}},
		{"allkeys-lfu", func(rdb *redis.Client, key, dump string) error {
			return rdb.Do(context.Background(), "restore", key, 0, dump, "replace", "freq", 0).Err()
		}},
		{"volatile-ttl", func(rdb *redis.Client, key, dump string) error {
			return rdb.Expire(context.Background(), key, time.Minute).Err()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			_, addr := startServer(t, 8)
			ctx := context.Background()
			rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
			defer rdb.Close()
			must(t, rdb.ConfigSet(ctx, "maxmemory-policy", tc.policy).Err())
			val := strings.Repeat("v", 100)
			must(t, rdb.Set(ctx, "proto", val, 0).Err())
			dump, err := rdb.Dump(ctx, "proto").Result()
			must(t, err)
			must(t, rdb.Del(ctx, "proto").Err())
			const n = 2000
			for i := 0; i < n; i++ {
				key := "k" + strconv.Itoa(i)
				if i%2 == 0 {
					must(t, rdb.Set(ctx, key, val, 0).Err())
					must(t, tc.old(rdb, key, dump))
				} else {
					must(t, rdb.Set(ctx, key, val, time.Hour).Err())
					if tc.policy == "allkeys-lfu" {
						for j := 0; j < 20; j++ {
							rdb.Get(ctx, key)
						}
					}
				}
			}
			used := infoUsedMemory(t, rdb)
			// Make room for 80% of the keys: a fifth must go.
			limit := used - (used-infoStat(t, rdb, "memory", "used_memory_startup"))/5
			must(t, rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(limit, 10)).Err())
			oldGone, newGone := 0, 0
			for i := 0; i < n; i++ {
				if rdb.Exists(ctx, "k"+strconv.Itoa(i)).Val() == 0 {
					if i%2 == 0 {
						oldGone++
					} else {
						newGone++
					}
				}
			}
			if oldGone+newGone < n/10 || newGone*10 > oldGone {
				t.Fatalf("evicted %d of the worse half and %d of the better", oldGone, newGone)
			}
		})
	}
}

// Evicted keys notify "evicted", and a WATCH on one fails its EXEC.
func TestEvictionNotifiesAndTouchesWatches(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	must(t, rdb.ConfigSet(ctx, "notify-keyspace-events", "Ee").Err())
	sub := rdb.PSubscribe(ctx, "__keyevent@0__:evicted")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, rdb.Set(ctx, "w", "1", 0).Err())
	watcher := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1})
	defer watcher.Close()
	txErr := make(chan error, 1)
	go func() {
		txErr <- watcher.Watch(ctx, func(tx *redis.Tx) error {
			// Evict everything while the watch is on.
			if err := rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-random").Err(); err != nil {
				return err
			}
			if err := rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
				return err
			}
			if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
				return err
			}
			_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, "other", "x", 0)
				return nil
			})
			return err
		}, "w")
	}()
	if err := <-txErr; err != redis.TxFailedErr {
		t.Fatalf("EXEC after the watched key was evicted: %v", err)
	}
	msg, err := sub.ReceiveMessage(ctx)
	must(t, err)
	if msg.Payload != "w" {
		t.Fatalf("evicted notification for %q", msg.Payload)
	}
	must(t, rdb.ConfigSet(ctx, "maxmemory", "0").Err())
}

// A write load of 1 KiB values from many clients stays within maxmemory:
// used_memory never passes it by more than the keys in flight, and the Go
// heap after a collection stays within 1.5 times of it.
func TestEvictionUnderWriteLoad(t *testing.T) {
	srv, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	// Room for 16 MB of data above what the server holds empty, whose
	// base is the heap New found, garbage of earlier tests included.
	const room = 16 << 20
	limit := infoUsedMemory(t, rdb) + room
	must(t, rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err())
	must(t, rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(limit, 10)).Err())
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	val := strings.Repeat("x", 1024)
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	var peak int64
	var mu sync.Mutex
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1})
			defer c.Close()
			for i := 0; time.Now().Before(deadline) && i < 200000; i += 16 {
				_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					for j := 0; j < 16; j++ {
						p.Set(ctx, "g"+strconv.Itoa(g)+":"+strconv.Itoa(i+j), val, 0)
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				u := srv.mem.Used()
				mu.Lock()
				peak = max(peak, u)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if peak > limit+room/10 {
		t.Fatalf("used memory reached %d with maxmemory %d", peak, limit)
	}
	if e := infoStat(t, rdb, "stats", "evicted_keys"); e == 0 {
		t.Fatal("nothing was evicted")
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > room*3/2 {
		t.Fatalf("the live heap grew by %d MB with room for %d MB of data", grown>>20, room>>20)
	}
	must(t, rdb.ConfigSet(ctx, "maxmemory", "0").Err())
}

// A key evicted on another shard than the one a command goes to is
// evicted before the command runs, and its invalidation reaches a RESP3
// tracking client before the command's reply, as in Redis (Redis's
// unit/tracking "Tracking invalidation message of eviction keys should be
// before response", with its keys forced onto two shards).
func TestEvictionInvalidationPrecedesReplyAcrossShards(t *testing.T) {
	_, addr := startServer(t, 8)
	volatile, big := "volatile-key", ""
	for i := 0; big == ""; i++ {
		if k := "big-" + strconv.Itoa(i); shard.Owner([]byte(k), 8) != shard.Owner([]byte(volatile), 8) {
			big = k
		}
	}
	nc, err := net.Dial("tcp", addr)
	must(t, err)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	read := func() string {
		line, err := br.ReadString('\n')
		must(t, err)
		if line[0] == '>' {
			n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
			parts := []string{}
			for i := 0; i < n; i++ {
				p, err := readRESP(br)
				must(t, err)
				parts = append(parts, p)
			}
			return "push " + strings.Join(parts, " ")
		}
		return strings.TrimSpace(line)
	}
	call := func(args ...string) string {
		nc.Write(respCommand(args...))
		return read()
	}
	nc.Write(respCommand("HELLO", "3"))
	if _, err := readRESP3Map(br); err != nil {
		t.Fatal(err)
	}
	if r := call("CLIENT", "TRACKING", "on"); r != "+OK" {
		t.Fatal(r)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	used := infoUsedMemory(t, rdb)
	must(t, rdb.ConfigSet(context.Background(), "maxmemory-policy", "volatile-random").Err())
	must(t, rdb.ConfigSet(context.Background(), "maxmemory", strconv.FormatInt(used+100<<10, 10)).Err())
	if r := call("SETEX", volatile, "10000", "x"); r != "+OK" {
		t.Fatal(r)
	}
	nc.Write(respCommand("GET", volatile))
	read() // $1
	read() // x
	if r := call("SETBIT", big, "1600000", "0"); r != ":0" {
		t.Fatalf("SETBIT: %q", r)
	}
	if r := call("GETBIT", big, "0"); r != "push invalidate [volatile-key]" {
		t.Fatalf("after GETBIT, first came %q, want the invalidation", r)
	}
	if r := read(); r != ":0" {
		t.Fatalf("GETBIT: %q", r)
	}
}

// readRESP3Map skips a RESP3 map reply (HELLO's).
func readRESP3Map(br *bufio.Reader) (int, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	for i := 0; i < 2*n; i++ {
		l, err := br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		switch l[0] {
		case '$':
			if _, err := br.ReadString('\n'); err != nil {
				return 0, err
			}
		case '*':
			m, _ := strconv.Atoi(strings.TrimSpace(l[1:]))
			for j := 0; j < m; j++ {
				if _, err := br.ReadString('\n'); err != nil {
					return 0, err
				}
			}
		}
	}
	return n, nil
}
