package conn

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valkyrie-kv/valkyrie/shard/osmem"
)

// memFill creates key as a collection of typ ("string", "list", "hash",
// "set", "zset") with n elements of elemLen bytes each.
func memFill(t *testing.T, rdb *redis.Client, typ, key string, n, elemLen int) {
	t.Helper()
	ctx := context.Background()
	elem := func(i int) string {
		s := strconv.Itoa(i)
		return s + strings.Repeat("x", max(0, elemLen-len(s)))
	}
	pipe := rdb.Pipeline()
	pipe.Del(ctx, key)
	for i := 0; i < n; i++ {
		switch typ {
		case "string":
			pipe.Append(ctx, key, elem(i))
		case "list":
			pipe.RPush(ctx, key, elem(i))
		case "hash":
			pipe.HSet(ctx, key, elem(i), elem(i))
		case "set":
			pipe.SAdd(ctx, key, elem(i))
		case "zset":
			pipe.ZAdd(ctx, key, redis.Z{Score: float64(i), Member: elem(i)})
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// MEMORY USAGE gives a figure for every type that grows with the value and
// is at least the bytes stored, and nil for a missing key.
func TestMemoryUsage(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, 8)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()

			if err := rdb.MemoryUsage(ctx, "nosuch").Err(); !errors.Is(err, redis.Nil) {
				t.Fatalf("MEMORY USAGE nosuch: %v, want nil", err)
			}
			for _, typ := range []string{"string", "list", "hash", "set", "zset"} {
				prev := int64(0)
				for _, n := range []int{1, 10, 100, 1000, 5000} {
					key := typ + ":" + strconv.Itoa(n)
					memFill(t, rdb, typ, key, n, 16)
					got, err := rdb.MemoryUsage(ctx, key, 0).Result()
					if err != nil {
						t.Fatalf("%s of %d: %v", typ, n, err)
					}
					raw := int64(len(key) + n*16)
					if typ == "hash" {
						raw += int64(n * 16)
					}
					// At least the bytes themselves; at most a generous
					// overhead per element (Go maps and the sorted set's
					// tree cost about 100 bytes an element).
					if got < raw || got > raw+int64(n)*160+1024 {
						t.Errorf("%s of %d elements: usage %d, stored bytes %d", typ, n, got, raw)
					}
					if got <= prev {
						t.Errorf("%s of %d elements: usage %d, not above %d for fewer", typ, n, got, prev)
					}
					prev = got
					// Equal elements: any sample gives the same estimate,
					// but for the sorted set's tree leaves, which are not
					// all equally full.
					close := func(est int64) bool {
						if typ == "zset" {
							return est*10 > got*9 && est*10 < got*11
						}
						return est == got
					}
					for _, s := range []int{1, 5} {
						if est, err := rdb.MemoryUsage(ctx, key, s).Result(); err != nil || !close(est) {
							t.Errorf("%s of %d, SAMPLES %d: %d, %v; SAMPLES 0 gave %d", typ, n, s, est, err, got)
						}
					}
					if est, err := rdb.MemoryUsage(ctx, key).Result(); err != nil || !close(est) {
						t.Errorf("%s of %d, default samples: %d, %v; SAMPLES 0 gave %d", typ, n, est, err, got)
					}
				}
			}

			// Longer elements, a bigger figure.
			memFill(t, rdb, "hash", "short", 50, 8)
			memFill(t, rdb, "hash", "long", 50, 200)
			short, _ := rdb.MemoryUsage(ctx, "short").Result()
			long, _ := rdb.MemoryUsage(ctx, "long").Result()
			if long < short+50*2*(200-8) {
				t.Errorf("hash of 200-byte elements: %d; of 8-byte ones: %d", long, short)
			}

			// A TTL costs its entry in the expires map.
			rdb.Set(ctx, "plain", "v", 0)
			rdb.Set(ctx, "volatile", "v", time.Hour)
			p, _ := rdb.MemoryUsage(ctx, "plain").Result()
			v, _ := rdb.MemoryUsage(ctx, "volatile").Result()
			if v <= p+int64(len("volatile")-len("plain")) {
				t.Errorf("with a TTL %d, without %d", v, p)
			}
			if err := rdb.Del(ctx, "plain").Err(); err != nil {
				t.Fatal(err)
			}
			if err := rdb.MemoryUsage(ctx, "plain").Err(); !errors.Is(err, redis.Nil) {
				t.Errorf("MEMORY USAGE of a deleted key: %v", err)
			}
		})
	}
}

// SAMPLES picks how many elements are measured: the list's first five are
// short, the rest long, so the default underestimates and SAMPLES 0 does
// not.
func TestMemoryUsageSamples(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	rdb.RPush(ctx, "l", "a", "b", "c", "d", "e")
	long := strings.Repeat("y", 1000)
	for i := 0; i < 100; i++ {
		rdb.RPush(ctx, "l", long)
	}
	dflt, err1 := rdb.MemoryUsage(ctx, "l").Result()
	five, err2 := rdb.MemoryUsage(ctx, "l", 5).Result()
	all, err3 := rdb.MemoryUsage(ctx, "l", 0).Result()
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if dflt != five || all < 100*1000 || dflt >= all/10 {
		t.Errorf("default %d, SAMPLES 5 %d, SAMPLES 0 %d", dflt, five, all)
	}
	if six, _ := rdb.MemoryUsage(ctx, "l", 6).Result(); six <= five || six >= all {
		t.Errorf("SAMPLES 6 %d, want between %d and %d", six, five, all)
	}
	// The last SAMPLES wins.
	if got, err := rdb.Do(ctx, "memory", "usage", "l", "samples", "0", "samples", "5").Int64(); err != nil || got != five {
		t.Errorf("SAMPLES 0 SAMPLES 5 = %d, %v; want %d", got, err, five)
	}

	for _, tc := range []struct {
		args []any
		want string
	}{
		{[]any{"memory", "usage", "l", "samples"}, "ERR syntax error"},
		{[]any{"memory", "usage", "nosuch", "samples", "-1"}, "ERR syntax error"},
		{[]any{"memory", "usage", "l", "samples", "x"}, "ERR value is not an integer or out of range"},
		{[]any{"memory", "usage", "l", "count", "5"}, "ERR syntax error"},
		{[]any{"memory", "usage"}, "ERR wrong number of arguments for 'memory|usage' command"},
		{[]any{"memory"}, "ERR wrong number of arguments for 'memory' command"},
		{[]any{"memory", "nosuch"}, "ERR unknown subcommand 'nosuch'. Try MEMORY HELP."},
		{[]any{"memory", "stats", "x"}, "ERR wrong number of arguments for 'memory|stats' command"},
	} {
		if err := rdb.Do(ctx, tc.args...).Err(); err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// MEMORY USAGE runs from a script, for declared and undeclared keys on
// every shard, and in a transaction.
func TestMemoryUsageFromScript(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	for i := 0; i < 16; i++ {
		key := "k" + strconv.Itoa(i)
		rdb.Set(ctx, key, strings.Repeat("v", i*10), 0)
		want, err := rdb.MemoryUsage(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		got, err := rdb.Eval(ctx, "return redis.call('memory','usage',KEYS[1])", []string{key}).Int64()
		if err != nil || got != want {
			t.Errorf("%s from a script: %d, %v; want %d", key, got, err, want)
		}
		got, err = rdb.Eval(ctx, "return redis.call('MEMORY','USAGE',ARGV[1],'SAMPLES','0')", nil, key).Int64()
		if err != nil || got != want {
			t.Errorf("%s, undeclared, from a script: %d, %v; want %d", key, got, err, want)
		}
	}
	if v, err := rdb.Eval(ctx, "return redis.call('memory','usage',KEYS[1])", []string{"nosuch"}).Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("missing key from a script: %v, %v", v, err)
	}
	err := rdb.Eval(ctx, "return redis.call('memory','usage',KEYS[1],'samples','-1')", []string{"k1"}).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "ERR syntax error script:") {
		t.Errorf("bad SAMPLES from a script: %v", err)
	}
	if n, err := rdb.Eval(ctx, "return #redis.call('memory','stats')", nil).Int(); err != nil || n < 30 {
		t.Errorf("MEMORY STATS from a script: %d fields, %v", n, err)
	}

	want, _ := rdb.MemoryUsage(ctx, "k3").Result()
	cmds, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.MemoryUsage(ctx, "k3")
		p.MemoryUsage(ctx, "nosuch")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	if got, err := cmds[0].(*redis.IntCmd).Result(); err != nil || got != want {
		t.Errorf("in MULTI: %d, %v; want %d", got, err, want)
	}
	if err := cmds[1].Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("missing key in MULTI: %v", err)
	}
}

// COMMAND knows MEMORY USAGE's key, as Redis's key spec says.
func TestMemoryCommandInfo(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	keys, err := rdb.CommandGetKeys(ctx, "memory", "usage", "k", "samples", "5").Result()
	if err != nil || !reflect.DeepEqual(keys, []string{"k"}) {
		t.Errorf("GETKEYS MEMORY USAGE k = %q, %v", keys, err)
	}
	if err := rdb.CommandGetKeys(ctx, "memory", "stats").Err(); err == nil || err.Error() != "ERR The command has no key arguments" {
		t.Errorf("GETKEYS MEMORY STATS: %v", err)
	}
	v, err := rdb.Do(ctx, "command", "info", "memory|usage", "memory").Slice()
	if err != nil || len(v) != 2 {
		t.Fatalf("COMMAND INFO: %v, %v", v, err)
	}
	usage, _ := v[0].([]any)
	if len(usage) < 6 || usage[0] != "memory|usage" || usage[1] != int64(-3) ||
		!reflect.DeepEqual(usage[2], []any{"readonly"}) || usage[3] != int64(2) || usage[4] != int64(2) || usage[5] != int64(1) {
		t.Errorf("COMMAND INFO memory|usage = %v", usage)
	}
	parent, _ := v[1].([]any)
	if len(parent) < 10 || parent[0] != "memory" || parent[1] != int64(-2) {
		t.Fatalf("COMMAND INFO memory = %v", parent)
	}
	var subs []string
	for _, s := range parent[9].([]any) {
		subs = append(subs, s.([]any)[0].(string))
	}
	want := []string{"memory|doctor", "memory|help", "memory|malloc-stats", "memory|purge", "memory|stats", "memory|usage"}
	if !reflect.DeepEqual(subs, want) {
		t.Errorf("MEMORY subcommands %q, want %q", subs, want)
	}
}

// MEMORY STATS reports the heap and counts every shard's keys in every
// database; DOCTOR, MALLOC-STATS, PURGE and HELP answer.
func TestMemoryStats(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, 8)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()
			for i := 0; i < 40; i++ {
				rdb.Set(ctx, "s"+strconv.Itoa(i), "v", 0)
			}
			rdb.Expire(ctx, "s1", time.Hour)
			db2 := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto, DB: 2})
			t.Cleanup(func() { db2.Close() })
			for i := 0; i < 5; i++ {
				db2.RPush(ctx, "l"+strconv.Itoa(i), "a")
			}

			v, err := rdb.Do(ctx, "memory", "stats").Result()
			if err != nil {
				t.Fatal(err)
			}
			m := cmdTestMap(t, v)
			if m["keys.count"] != int64(45) {
				t.Errorf("keys.count = %v, want 45", m["keys.count"])
			}
			if a, ok := m["total.allocated"].(int64); !ok || a <= 0 {
				t.Errorf("total.allocated = %v", m["total.allocated"])
			}
			for _, f := range []string{"allocator-fragmentation.ratio", "allocator-rss.ratio", "rss-overhead.ratio", "fragmentation"} {
				var x float64
				switch y := m[f].(type) {
				case float64: // RESP3 double
					x = y
				case string:
					x, err = strconv.ParseFloat(y, 64)
				}
				if err != nil || x <= 0 {
					t.Errorf("%s = %v", f, m[f])
				}
			}
			for _, f := range []string{"replication.backlog", "clients.slaves", "cluster.links", "aof.buffer",
				"allocator.allocated", "allocator.active", "allocator.resident", "allocator-fragmentation.bytes",
				"allocator-rss.bytes", "rss-overhead.bytes", "fragmentation.bytes"} {
				if _, ok := m[f].(int64); !ok {
					t.Errorf("%s = %v, want an integer", f, m[f])
				}
			}
			// What Valkyrie cannot measure is left out, not made up.
			for _, f := range []string{"peak.allocated", "startup.allocated", "dataset.bytes", "db.1"} {
				if _, ok := m[f]; ok {
					t.Errorf("%s reported", f)
				}
			}
			for db, wantTTL := range map[string]bool{"db.0": true, "db.2": false} {
				d := cmdTestMap(t, m[db])
				if n, _ := d["overhead.hashtable.main"].(int64); n <= 0 {
					t.Errorf("%s overhead.hashtable.main = %v", db, d["overhead.hashtable.main"])
				}
				if n, _ := d["overhead.hashtable.expires"].(int64); (n > 0) != wantTTL {
					t.Errorf("%s overhead.hashtable.expires = %v", db, d["overhead.hashtable.expires"])
				}
			}

			if s, err := rdb.Do(ctx, "memory", "doctor").Text(); err != nil || !strings.HasSuffix(s, "\n") || len(s) < 20 {
				t.Errorf("MEMORY DOCTOR = %q, %v", s, err)
			}
			if s, err := rdb.Do(ctx, "memory", "malloc-stats").Text(); err != nil || s != "Stats not supported for the current allocator" {
				t.Errorf("MEMORY MALLOC-STATS = %q, %v", s, err)
			}
			help, err := rdb.Do(ctx, "memory", "help").StringSlice()
			if err != nil || len(help) != 14 || !strings.HasPrefix(help[0], "MEMORY <subcommand>") {
				t.Errorf("MEMORY HELP = %q, %v", help, err)
			}
		})
	}
}

// MEMORY PURGE answers at once and has the memory returned to the OS
// shortly after.
func TestMemoryPurge(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	before := osmem.Runs()
	if s, err := rdb.Do(context.Background(), "memory", "purge").Text(); err != nil || s != "OK" {
		t.Fatalf("MEMORY PURGE = %q, %v", s, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for osmem.Runs() == before {
		if time.Now().After(deadline) {
			t.Fatal("no memory returned after MEMORY PURGE")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
