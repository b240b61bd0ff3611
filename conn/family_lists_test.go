package conn

import (
	"context"
	"errors"
	"math/rand"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

func listsWantRange(t *testing.T, rdb *redis.Client, key string, want ...string) {
	t.Helper()
	got, err := rdb.LRange(context.Background(), key, 0, -1).Result()
	if err != nil {
		t.Fatalf("LRANGE %s: %v", key, err)
	}
	if len(want) == 0 {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("LRANGE %s = %q, want %q", key, got, want)
	}
}

func TestGoRedisLists(t *testing.T) {
	const shards = 8
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, shards)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()

			// Push, pop, range on one key.
			if n, err := rdb.RPush(ctx, "l", "b", "c").Result(); err != nil || n != 2 {
				t.Fatalf("RPUSH = %d, %v", n, err)
			}
			if n, err := rdb.LPush(ctx, "l", "a", "z").Result(); err != nil || n != 4 {
				t.Fatalf("LPUSH = %d, %v", n, err)
			}
			listsWantRange(t, rdb, "l", "z", "a", "b", "c")
			if n, _ := rdb.LPushX(ctx, "nolist", "x").Result(); n != 0 {
				t.Fatalf("LPUSHX on a missing key = %d", n)
			}
			if v, err := rdb.LPop(ctx, "l").Result(); err != nil || v != "z" {
				t.Fatalf("LPOP = %q, %v", v, err)
			}
			if v, err := rdb.RPop(ctx, "l").Result(); err != nil || v != "c" {
				t.Fatalf("RPOP = %q, %v", v, err)
			}
			if v, err := rdb.LIndex(ctx, "l", -1).Result(); err != nil || v != "b" {
				t.Fatalf("LINDEX -1 = %q, %v", v, err)
			}
			if _, err := rdb.LIndex(ctx, "l", 5).Result(); err != redis.Nil {
				t.Fatalf("LINDEX out of range: %v, want redis.Nil", err)
			}
			if n, _ := rdb.LLen(ctx, "l").Result(); n != 2 {
				t.Fatalf("LLEN = %d", n)
			}
			if _, err := rdb.LPop(ctx, "nolist").Result(); err != redis.Nil {
				t.Fatalf("LPOP missing: %v, want redis.Nil", err)
			}
			if _, err := rdb.LPopCount(ctx, "nolist", 2).Result(); err != redis.Nil {
				t.Fatalf("LPOP missing with count: %v, want redis.Nil", err)
			}
			if vs, err := rdb.RPopCount(ctx, "l", 5).Result(); err != nil || !slices.Equal(vs, []string{"b", "a"}) {
				t.Fatalf("RPOP 5 = %q, %v", vs, err)
			}
			if n, _ := rdb.Exists(ctx, "l").Result(); n != 0 {
				t.Fatal("an emptied list still exists")
			}
			rdb.RPush(ctx, "p", "a", "b", "a", "c", "a")
			if i, err := rdb.LPos(ctx, "p", "a", redis.LPosArgs{Rank: -1}).Result(); err != nil || i != 4 {
				t.Fatalf("LPOS RANK -1 = %d, %v", i, err)
			}
			if is, err := rdb.LPosCount(ctx, "p", "a", 0, redis.LPosArgs{Rank: 2}).Result(); err != nil || !slices.Equal(is, []int64{2, 4}) {
				t.Fatalf("LPOS COUNT 0 RANK 2 = %v, %v", is, err)
			}
			if _, err := rdb.LPos(ctx, "p", "zz", redis.LPosArgs{}).Result(); err != redis.Nil {
				t.Fatalf("LPOS no match: %v, want redis.Nil", err)
			}
			if n, _ := rdb.LRem(ctx, "p", 0, "a").Result(); n != 3 {
				t.Fatalf("LREM = %d", n)
			}
			if n, _ := rdb.LInsertAfter(ctx, "p", "b", "x").Result(); n != 3 {
				t.Fatalf("LINSERT = %d", n)
			}
			if err := rdb.LSet(ctx, "p", -1, "C").Err(); err != nil {
				t.Fatal(err)
			}
			if err := rdb.LSet(ctx, "nolist", 0, "C").Err(); err == nil || err.Error() != shard.ErrNoSuchKey {
				t.Fatalf("LSET missing: %v", err)
			}
			if err := rdb.LTrim(ctx, "p", 1, -1).Err(); err != nil {
				t.Fatal(err)
			}
			listsWantRange(t, rdb, "p", "x", "C")
			rdb.Set(ctx, "str", "v", 0)
			if err := rdb.LPush(ctx, "str", "a").Err(); err == nil || err.Error() != shard.ErrWrongType {
				t.Fatalf("LPUSH on a string: %v", err)
			}

			// LMOVE and RPOPLPUSH between keys on different shards.
			k := keysOnDifferentShards(t, "lk:", 3, shards)
			src, dst, third := k[0], k[1], k[2]
			rdb.RPush(ctx, src, "1", "2", "3")
			if v, err := rdb.LMove(ctx, src, dst, "LEFT", "RIGHT").Result(); err != nil || v != "1" {
				t.Fatalf("LMOVE across shards = %q, %v", v, err)
			}
			if v, err := rdb.RPopLPush(ctx, src, dst).Result(); err != nil || v != "3" {
				t.Fatalf("RPOPLPUSH across shards = %q, %v", v, err)
			}
			listsWantRange(t, rdb, src, "2")
			listsWantRange(t, rdb, dst, "3", "1")
			if v, _ := rdb.LMove(ctx, src, dst, "RIGHT", "RIGHT").Result(); v != "2" {
				t.Fatalf("LMOVE = %q", v)
			}
			if n, _ := rdb.Exists(ctx, src).Result(); n != 0 {
				t.Fatal("the drained source still exists")
			}
			if _, err := rdb.LMove(ctx, src, dst, "LEFT", "LEFT").Result(); err != redis.Nil {
				t.Fatalf("LMOVE from an empty source: %v, want redis.Nil", err)
			}
			if v, _ := rdb.LMove(ctx, dst, dst, "LEFT", "RIGHT").Result(); v != "3" {
				t.Fatalf("LMOVE rotation = %q", v)
			}
			listsWantRange(t, rdb, dst, "1", "2", "3")
			strKey := keysOnDifferentShards(t, "str:", shards, shards)
			for _, sk := range strKey {
				if shard.Owner([]byte(sk), shards) != shard.Owner([]byte(dst), shards) {
					rdb.Set(ctx, sk, "v", 0)
					if err := rdb.LMove(ctx, dst, sk, "LEFT", "LEFT").Err(); err == nil || err.Error() != shard.ErrWrongType {
						t.Fatalf("LMOVE to a string on another shard: %v", err)
					}
					listsWantRange(t, rdb, dst, "1", "2", "3")
					break
				}
			}

			// LMPOP across shards: the first non-empty key answers.
			rdb.RPush(ctx, third, "t1", "t2", "t3")
			key, vals, err := rdb.LMPop(ctx, "right", 2, src, third, dst).Result()
			if err != nil || key != third || !slices.Equal(vals, []string{"t3", "t2"}) {
				t.Fatalf("LMPOP = %q %q %v", key, vals, err)
			}
			key, vals, err = rdb.LMPop(ctx, "left", 10, src, third, dst).Result()
			if err != nil || key != third || !slices.Equal(vals, []string{"t1"}) {
				t.Fatalf("LMPOP = %q %q %v", key, vals, err)
			}
			key, vals, err = rdb.LMPop(ctx, "left", 10, src, third, dst).Result()
			if err != nil || key != dst || !slices.Equal(vals, []string{"1", "2", "3"}) {
				t.Fatalf("LMPOP = %q %q %v", key, vals, err)
			}
			if _, _, err := rdb.LMPop(ctx, "left", 1, src, third, dst).Result(); err != redis.Nil {
				t.Fatalf("LMPOP of empty keys: %v, want redis.Nil", err)
			}
			if n, _ := rdb.DBSize(ctx).Result(); n != 3 {
				t.Fatalf("DBSIZE = %d, want 3 (p, str and one string key)", n)
			}
		})
	}
}

// TestGoRedisListRingConcurrent moves elements around a ring of four lists
// on different shards from many clients at once, with LMOVE, RPOPLPUSH,
// rotations and LMPOP followed by a push back. Nothing may be lost or
// duplicated.
func TestGoRedisListRingConcurrent(t *testing.T) {
	const shards, perList, workers, iters = 8, 25, 16, 150
	_, addr := startServer(t, shards)
	rdb := newClient2(t, addr, 3)
	ctx := context.Background()
	ring := keysOnDifferentShards(t, "ring:", 4, shards)
	var all []string
	for i, k := range ring {
		var vals []any
		for j := 0; j < perList; j++ {
			v := k + "/" + strconv.Itoa(j)
			vals = append(vals, v)
			all = append(all, v)
		}
		if err := rdb.RPush(ctx, k, vals...).Err(); err != nil {
			t.Fatalf("RPUSH ring %d: %v", i, err)
		}
	}
	sides := []string{"LEFT", "RIGHT"}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for it := 0; it < iters; it++ {
				i := rng.Intn(len(ring))
				from, to := ring[i], ring[(i+1)%len(ring)]
				var err error
				switch op := rng.Intn(10); {
				case op < 5:
					err = rdb.LMove(ctx, from, to, sides[rng.Intn(2)], sides[rng.Intn(2)]).Err()
				case op < 7:
					err = rdb.RPopLPush(ctx, from, to).Err()
				case op < 8:
					err = rdb.LMove(ctx, from, from, "LEFT", "RIGHT").Err()
				default:
					// Pop from two lists at once, then put the elements back
					// on a third; they are in flight only in between.
					var vals []string
					_, vals, err = rdb.LMPop(ctx, sides[rng.Intn(2)], int64(1+rng.Intn(3)), from, to).Result()
					if err == nil {
						args := make([]any, len(vals))
						for j, v := range vals {
							args[j] = v
						}
						err = rdb.RPush(ctx, ring[(i+2)%len(ring)], args...).Err()
					}
				}
				if err != nil && !errors.Is(err, redis.Nil) {
					errs <- err
					return
				}
			}
		}(int64(w))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var got []string
	for _, k := range ring {
		vals, err := rdb.LRange(ctx, k, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, vals...)
	}
	slices.Sort(got)
	slices.Sort(all)
	if !slices.Equal(got, all) {
		t.Fatalf("ring holds %d elements after the moves, want the original %d exactly", len(got), len(all))
	}
}
