package conn

import (
	"context"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// OBJECT IDLETIME and OBJECT FREQ through a real client on 8 shards: keys
// on every shard keep their access time or counter as Redis keeps them.
// RESTORE ... IDLETIME stands in for time passing.
func TestObjectIdleTimeAndFreq(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}

	if err := rdb.Set(ctx, "src", "bar", 0).Err(); err != nil {
		t.Fatal(err)
	}
	payload, err := rdb.Dump(ctx, "src").Result()
	if err != nil {
		t.Fatal(err)
	}
	idle := func(key string) int64 {
		t.Helper()
		n, err := rdb.ObjectIdleTime(ctx, key).Result()
		if err != nil {
			t.Fatalf("OBJECT IDLETIME %s: %v", key, err)
		}
		return int64(n.Seconds())
	}
	restoreIdle := func(key string) {
		t.Helper()
		if err := rdb.Do(ctx, "RESTORE", key, 0, payload, "REPLACE", "IDLETIME", 1000).Err(); err != nil {
			t.Fatalf("RESTORE %s IDLETIME 1000: %v", key, err)
		}
	}

	// Looks that do not touch.
	for _, k := range keys {
		restoreIdle(k)
		rdb.Type(ctx, k)
		rdb.TTL(ctx, k)
		rdb.PTTL(ctx, k)
		rdb.Exists(ctx, k)
		rdb.ObjectEncoding(ctx, k)
		rdb.Do(ctx, "OBJECT", "FREQ", k)
		rdb.MemoryUsage(ctx, k)
		if n := idle(k); n < 1000 || n > 1002 {
			t.Fatalf("IDLETIME %s after RESTORE IDLETIME 1000, TYPE, TTL, EXISTS, OBJECT = %d", k, n)
		}
	}
	// Accesses that do.
	for name, access := range map[string]func(k string) error{
		"GET":    func(k string) error { return rdb.Get(ctx, k).Err() },
		"SET":    func(k string) error { return rdb.Set(ctx, k, "x", 0).Err() },
		"TOUCH":  func(k string) error { return rdb.Touch(ctx, k).Err() },
		"EXPIRE": func(k string) error { return rdb.Expire(ctx, k, time.Hour).Err() },
		"APPEND": func(k string) error { return rdb.Append(ctx, k, "x").Err() },
	} {
		for _, k := range keys {
			restoreIdle(k)
			if err := access(k); err != nil {
				t.Fatalf("%s %s: %v", name, k, err)
			}
			if n := idle(k); n > 1 {
				t.Fatalf("IDLETIME %s after %s = %d, want 0", k, name, n)
			}
		}
	}
	if err := rdb.Do(ctx, "OBJECT", "FREQ", "a").Err(); err == nil || err.Error() != shard.ErrNoLFU {
		t.Fatalf("OBJECT FREQ without an LFU policy: %v", err)
	}

	// Under an LFU policy: a counter from 5, and IDLETIME refused.
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lfu").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigSet(ctx, "lfu-log-factor", "0").Err(); err != nil { // every access counts
		t.Fatal(err)
	}
	freq := func(key string) int64 {
		t.Helper()
		n, err := rdb.ObjectFreq(ctx, key).Result()
		if err != nil {
			t.Fatalf("OBJECT FREQ %s: %v", key, err)
		}
		return n
	}
	for _, k := range keys {
		rdb.Del(ctx, k)
		rdb.Set(ctx, k, "v", 0)
		if n := freq(k); n != 5 {
			t.Fatalf("FREQ of new key %s = %d, want 5", k, n)
		}
		for range 3 {
			rdb.Get(ctx, k)
			rdb.Exists(ctx, k)
		}
		if n := freq(k); n != 8 {
			t.Fatalf("FREQ of %s after 3 GETs = %d, want 8", k, n)
		}
		if err := rdb.Do(ctx, "RESTORE", k, 0, payload, "REPLACE", "FREQ", 100).Err(); err != nil {
			t.Fatal(err)
		}
		if n := freq(k); n != 100 {
			t.Fatalf("FREQ of %s after RESTORE FREQ 100 = %d", k, n)
		}
	}
	_, err = rdb.ObjectIdleTime(ctx, "a").Result()
	if err == nil || err.Error() != shard.ErrLFU {
		t.Fatalf("OBJECT IDLETIME under allkeys-lfu: %v", err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "volatile-lfu").Err(); err != nil {
		t.Fatal(err)
	}
	if n := freq("a"); n != 100 {
		t.Fatalf("FREQ under volatile-lfu = %d", n)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "volatile-lru").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Do(ctx, "OBJECT", "FREQ", "a").Err(); err == nil {
		t.Fatal("OBJECT FREQ under volatile-lru did not fail")
	}
}
