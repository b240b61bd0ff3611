package conn

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// SLOWLOG merges the shards' rings and the connection's into one log:
// newest first, IDs in the order commands ran, at most slowlog-max-len
// entries overall, each with the client's address and name, arguments
// trimmed as Redis trims them and MIGRATE's credentials redacted.
func TestSlowlogAcrossShards(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	do := func(args ...any) {
		t.Helper()
		rdb.Do(ctx, args...)
	}
	do("config", "set", "slowlog-log-slower-than", "0")
	do("config", "set", "slowlog-max-len", "5")
	do("client", "setname", "tester")
	do("slowlog", "reset")
	for i := range 20 { // keys on every shard
		do("set", fmt.Sprintf("k%d", i), "v")
	}
	do("ping")
	entries, err := rdb.SlowLogGet(ctx, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, e := range entries {
		got = append(got, strings.Join(e.Args, " "))
		if e.ClientName != "tester" || !strings.HasPrefix(e.ClientAddr, "127.0.0.1:") {
			t.Fatalf("entry %d: client %q %q", i, e.ClientName, e.ClientAddr)
		}
		if i > 0 && e.ID >= entries[i-1].ID {
			t.Fatalf("IDs not newest first: %v", entries)
		}
	}
	want := "ping|set k19 v|set k18 v|set k17 v|set k16 v"
	if strings.Join(got, "|") != want {
		t.Fatalf("slowlog %q, want %q", strings.Join(got, "|"), want)
	}
	if n := rdb.SlowLogLen(ctx).Val(); n != 5 {
		t.Fatalf("SLOWLOG LEN %d, want 5", n)
	}

	do("slowlog", "reset")
	long := strings.Repeat("A", 129)
	args := []any{"sadd", "s", long}
	for i := range 40 {
		args = append(args, i)
	}
	do(args...)
	do("migrate", "127.0.0.1", "1", "", "0", "10", "auth2", "user", "secret", "keys", "x")
	entries = rdb.SlowLogGet(ctx, 2).Val()
	if len(entries) != 2 {
		t.Fatalf("%d entries", len(entries))
	}
	if a := strings.Join(entries[0].Args, " "); a != "migrate 127.0.0.1 1  0 10 auth2 (redacted) (redacted) keys x" {
		t.Fatalf("migrate logged as %q", a)
	}
	sadd := entries[1].Args
	if len(sadd) != 32 || sadd[31] != "... (12 more arguments)" || sadd[2] != strings.Repeat("A", 128)+"... (1 more bytes)" {
		t.Fatalf("sadd logged as %q", sadd)
	}
	if err := rdb.Do(ctx, "slowlog", "get", "-2").Err(); err == nil || err.Error() != "ERR count should be greater than or equal to -1" {
		t.Fatalf("SLOWLOG GET -2: %v", err)
	}
	do("config", "set", "slowlog-log-slower-than", "-1")
	do("slowlog", "reset")
	do("set", "x", "y")
	if n := rdb.SlowLogLen(ctx).Val(); n != 0 {
		t.Fatalf("disabled log has %d entries", n)
	}
}

// SLOWLOG GET with a count, and SLOWLOG LEN, do not copy every shard's
// whole ring: with a long log, or full rings that have wrapped, they
// allocate next to nothing.
func TestSlowlogGetCopiesOnlyWhatItReturns(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	for _, maxLen := range []int64{100000, 3001} {
		rdb.ConfigSet(ctx, "slowlog-max-len", fmt.Sprint(maxLen))
		rdb.ConfigSet(ctx, "slowlog-log-slower-than", "0")
		for b := 0; b < 8; b++ {
			rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := range 10000 {
					p.Set(ctx, fmt.Sprintf("k%d", i), "v", 0)
				}
				return nil
			})
		}
		rdb.ConfigSet(ctx, "slowlog-log-slower-than", "-1")
		want := min(maxLen, 80000)
		if n := rdb.SlowLogLen(ctx).Val(); n < want {
			t.Fatalf("SLOWLOG LEN %d, want at least %d", n, want)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 5 {
			got := rdb.SlowLogGet(ctx, 2).Val()
			n := rdb.SlowLogLen(ctx).Val()
			if len(got) != 2 || n < want || got[0].ID <= got[1].ID {
				t.Fatalf("SLOWLOG GET 2 = %v, LEN %d", got, n)
			}
		}
		runtime.ReadMemStats(&after)
		if a := after.TotalAlloc - before.TotalAlloc; a > 2<<20 {
			t.Errorf("slowlog-max-len %d: 5 SLOWLOG GET 2 and LEN allocated %d bytes", maxLen, a)
		}
	}
}
