package conn

import (
	"context"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// TestStringFamilyGoRedis drives the string, bitmap and HyperLogLog
// commands through go-redis in both protocols, with the keys of every
// multi-key command spread over shards.
func TestStringFamilyGoRedis(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, 8)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()
			k := keysOnDifferentShards(t, "fs", 4, 8)

			// Counters and APPEND.
			if n, err := rdb.Incr(ctx, k[0]).Result(); err != nil || n != 1 {
				t.Fatalf("INCR = %d, %v", n, err)
			}
			if n, err := rdb.IncrBy(ctx, k[0], 41).Result(); err != nil || n != 42 {
				t.Fatalf("INCRBY = %d, %v", n, err)
			}
			if n, err := rdb.DecrBy(ctx, k[0], 2).Result(); err != nil || n != 40 {
				t.Fatalf("DECRBY = %d, %v", n, err)
			}
			if f, err := rdb.IncrByFloat(ctx, k[0], 0.5).Result(); err != nil || f != 40.5 {
				t.Fatalf("INCRBYFLOAT = %v, %v", f, err)
			}
			if err := rdb.Incr(ctx, k[0]).Err(); err == nil || err.Error() != "ERR value is not an integer or out of range" {
				t.Fatalf("INCR of a float: %v", err)
			}
			if n, err := rdb.Append(ctx, k[1], "ohmy").Result(); err != nil || n != 4 {
				t.Fatalf("APPEND = %d, %v", n, err)
			}
			if n, err := rdb.Append(ctx, k[1], "text").Result(); err != nil || n != 8 {
				t.Fatalf("APPEND = %d, %v", n, err)
			}
			if err := rdb.RPush(ctx, "alist", "x").Err(); err != nil {
				t.Fatal(err)
			}
			if err := rdb.Append(ctx, "alist", "x").Err(); err == nil || err.Error() != shard.ErrWrongType {
				t.Fatalf("APPEND to a list: %v", err)
			}

			// GETEX, GETDEL, GETRANGE, SETRANGE.
			if v, err := rdb.GetEx(ctx, k[1], 100*time.Second).Result(); err != nil || v != "ohmytext" {
				t.Fatalf("GETEX EX = %q, %v", v, err)
			}
			if d, err := rdb.TTL(ctx, k[1]).Result(); err != nil || d != 100*time.Second {
				t.Fatalf("TTL after GETEX = %v, %v", d, err)
			}
			if v, err := rdb.GetEx(ctx, k[1], 0).Result(); err != nil || v != "ohmytext" {
				t.Fatalf("GETEX PERSIST = %q, %v", v, err)
			}
			if d, err := rdb.TTL(ctx, k[1]).Result(); err != nil || d != -1 {
				t.Fatalf("TTL after PERSIST = %v, %v", d, err)
			}
			if _, err := rdb.GetEx(ctx, "nosuch", time.Second).Result(); err != redis.Nil {
				t.Fatalf("GETEX of a missing key: %v", err)
			}
			if v, err := rdb.GetRange(ctx, k[1], -4, -1).Result(); err != nil || v != "text" {
				t.Fatalf("GETRANGE = %q, %v", v, err)
			}
			if n, err := rdb.SetRange(ctx, k[2], 2, "ab").Result(); err != nil || n != 4 {
				t.Fatalf("SETRANGE = %d, %v", n, err)
			}
			if v, err := rdb.GetDel(ctx, k[2]).Result(); err != nil || v != "\x00\x00ab" {
				t.Fatalf("GETDEL = %q, %v", v, err)
			}
			if _, err := rdb.GetDel(ctx, k[2]).Result(); err != redis.Nil {
				t.Fatalf("second GETDEL: %v", err)
			}

			// MSETNX and LCS across shards.
			if ok, err := rdb.MSetNX(ctx, k[2], "mynewtext", k[3], "x").Result(); err != nil || !ok {
				t.Fatalf("MSETNX = %v, %v", ok, err)
			}
			if ok, err := rdb.MSetNX(ctx, k[3], "y", "fresh", "z").Result(); err != nil || ok {
				t.Fatalf("MSETNX over an existing key = %v, %v", ok, err)
			}
			if n, _ := rdb.Exists(ctx, "fresh").Result(); n != 0 {
				t.Fatal("MSETNX set a key although another existed")
			}
			m, err := rdb.LCS(ctx, &redis.LCSQuery{Key1: k[1], Key2: k[2]}).Result()
			if err != nil || m.MatchString != "mytext" {
				t.Fatalf("LCS = %+v, %v", m, err)
			}
			m, err = rdb.LCS(ctx, &redis.LCSQuery{Key1: k[1], Key2: k[2], Len: true}).Result()
			if err != nil || m.Len != 6 {
				t.Fatalf("LCS LEN = %+v, %v", m, err)
			}
			m, err = rdb.LCS(ctx, &redis.LCSQuery{Key1: k[1], Key2: k[2], Idx: true, MinMatchLen: 4, WithMatchLen: true}).Result()
			if err != nil || m.Len != 6 || len(m.Matches) != 1 {
				t.Fatalf("LCS IDX = %+v, %v", m, err)
			}
			want := redis.LCSMatchedPosition{Key1: redis.LCSPosition{Start: 4, End: 7}, Key2: redis.LCSPosition{Start: 5, End: 8}, MatchLen: 4}
			if m.Matches[0] != want {
				t.Fatalf("LCS IDX match = %+v, want %+v", m.Matches[0], want)
			}

			// Bitmaps, BITOP across shards.
			b := keysOnDifferentShards(t, "bm", 4, 8)
			if old, err := rdb.SetBit(ctx, b[0], 7, 1).Result(); err != nil || old != 0 {
				t.Fatalf("SETBIT = %d, %v", old, err)
			}
			if v, err := rdb.GetBit(ctx, b[0], 7).Result(); err != nil || v != 1 {
				t.Fatalf("GETBIT = %d, %v", v, err)
			}
			rdb.Set(ctx, b[1], "\xff\xf0", 0)
			if n, err := rdb.BitOpOr(ctx, b[2], b[0], b[1], b[3]).Result(); err != nil || n != 2 {
				t.Fatalf("BITOP OR = %d, %v", n, err)
			}
			if v, _ := rdb.Get(ctx, b[2]).Result(); v != "\xff\xf0" {
				t.Fatalf("BITOP OR stored %q", v)
			}
			if n, err := rdb.BitOpAnd(ctx, b[2], b[0], b[1]).Result(); err != nil || n != 2 {
				t.Fatalf("BITOP AND = %d, %v", n, err)
			}
			if v, _ := rdb.Get(ctx, b[2]).Result(); v != "\x01\x00" {
				t.Fatalf("BITOP AND stored %q", v)
			}
			if n, err := rdb.BitCount(ctx, b[1], &redis.BitCount{Start: 4, End: 11, Unit: "BIT"}).Result(); err != nil || n != 8 {
				t.Fatalf("BITCOUNT BIT = %d, %v", n, err)
			}
			if n, err := rdb.BitPos(ctx, b[1], 0).Result(); err != nil || n != 12 {
				t.Fatalf("BITPOS = %d, %v", n, err)
			}
			vals, err := rdb.BitField(ctx, "bf", "OVERFLOW", "SAT", "INCRBY", "u8", "#1", 300, "GET", "i8", 8).Result()
			if err != nil || len(vals) != 2 || vals[0] != 255 || vals[1] != -1 {
				t.Fatalf("BITFIELD = %v, %v", vals, err)
			}
			if vals, err := rdb.BitFieldRO(ctx, "bf", "u4", "#2").Result(); err != nil || len(vals) != 1 || vals[0] != 15 {
				t.Fatalf("BITFIELD_RO = %v, %v", vals, err)
			}

			// HyperLogLog across shards.
			h := keysOnDifferentShards(t, "hll", 3, 8)
			if n, err := rdb.PFAdd(ctx, h[0], "a", "b", "c").Result(); err != nil || n != 1 {
				t.Fatalf("PFADD = %d, %v", n, err)
			}
			rdb.PFAdd(ctx, h[1], "c", "d")
			if n, err := rdb.PFCount(ctx, h[0], h[1]).Result(); err != nil || n != 4 {
				t.Fatalf("PFCOUNT union = %d, %v", n, err)
			}
			if err := rdb.PFMerge(ctx, h[2], h[0], h[1]).Err(); err != nil {
				t.Fatal(err)
			}
			if n, err := rdb.PFCount(ctx, h[2]).Result(); err != nil || n != 4 {
				t.Fatalf("PFCOUNT merged = %d, %v", n, err)
			}
			if typ, _ := rdb.Type(ctx, h[2]).Result(); typ != "string" {
				t.Fatalf("TYPE of a HyperLogLog = %q", typ)
			}
			if err := rdb.PFAdd(ctx, k[1], "x").Err(); err == nil || err.Error() != "WRONGTYPE Key is not a valid HyperLogLog string value." {
				t.Fatalf("PFADD to a plain string: %v", err)
			}
		})
	}
}

// TestStringFamilyConcurrentIncr checks that INCR, INCRBYFLOAT and PFADD
// from many clients lose no update, and that cross-shard BITOP and
// PFCOUNT run atomically alongside.
func TestStringFamilyConcurrentIncr(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	const clients, rounds = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2 + c%2})
			defer rdb.Close()
			for i := 0; i < rounds; i++ {
				pipe := rdb.Pipeline()
				pipe.Incr(ctx, "counter")
				pipe.IncrByFloat(ctx, "fcounter", 0.5)
				pipe.PFAdd(ctx, "hll:"+strconv.Itoa(c%3), strconv.Itoa(c*rounds+i))
				pipe.BitOpOr(ctx, "bits:dst", "bits:a", "bits:b")
				pipe.PFCount(ctx, "hll:0", "hll:1", "hll:2")
				if _, err := pipe.Exec(ctx); err != nil {
					errs <- err
					return
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rdb := newClient2(t, addr, 3)
	if n, _ := rdb.Get(ctx, "counter").Int64(); n != clients*rounds {
		t.Fatalf("counter = %d, want %d", n, clients*rounds)
	}
	if f, _ := rdb.Get(ctx, "fcounter").Float64(); f != clients*rounds*0.5 {
		t.Fatalf("fcounter = %v", f)
	}
	n, _ := rdb.PFCount(ctx, "hll:0", "hll:1", "hll:2").Result()
	if math.Abs(float64(n)-clients*rounds) > 0.02*clients*rounds {
		t.Fatalf("PFCOUNT = %d, want about %d", n, clients*rounds)
	}
}
