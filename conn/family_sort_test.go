package conn

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// sortTestOtherShard returns the first key prefix+i whose owner among
// shards is not avoid.
func sortTestOtherShard(t testing.TB, prefix string, avoid, shards int) string {
	t.Helper()
	for i := 0; i < 1000; i++ {
		k := prefix + strconv.Itoa(i)
		if shard.Owner([]byte(k), shards) != avoid {
			return k
		}
	}
	t.Fatalf("no key %s* off shard %d", prefix, avoid)
	return ""
}

func sortTestWant(t *testing.T, what string, got []string, err error, want ...string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

// SORT with BY and GET keys on other shards than the sorted key, and
// STORE to a key on yet another shard.
func TestGoRedisSort(t *testing.T) {
	const shards = 8
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, shards)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()

			const src = "sort:src"
			home := shard.Owner([]byte(src), shards)
			elems := []string{"a", "b", "c", "d", "e"}
			weights := map[string]string{"a": "30", "b": "10", "c": "20", "d": "5", "e": "15"}
			owners := map[int]bool{}
			for _, e := range elems {
				owners[shard.Owner([]byte("w:"+e), shards)] = true
				if err := rdb.Set(ctx, "w:"+e, weights[e], 0).Err(); err != nil {
					t.Fatal(err)
				}
				if err := rdb.HSet(ctx, "h:"+e, "name", "N"+e, "n", weights[e]).Err(); err != nil {
					t.Fatal(err)
				}
			}
			delete(owners, home)
			if len(owners) < 2 {
				t.Fatalf("the BY keys should live on at least two shards other than %d", home)
			}
			if err := rdb.RPush(ctx, src, "c", "a", "e", "b", "d").Err(); err != nil {
				t.Fatal(err)
			}

			got, err := rdb.Sort(ctx, src, &redis.Sort{Alpha: true}).Result()
			sortTestWant(t, "SORT ALPHA", got, err, "a", "b", "c", "d", "e")
			got, err = rdb.Sort(ctx, src, &redis.Sort{By: "w:*"}).Result()
			sortTestWant(t, "SORT BY w:*", got, err, "d", "b", "e", "c", "a")
			got, err = rdb.Sort(ctx, src, &redis.Sort{By: "h:*->n", Order: "DESC", Get: []string{"#", "h:*->name", "w:*"}}).Result()
			sortTestWant(t, "SORT BY h:*->n DESC GET", got, err,
				"a", "Na", "30", "c", "Nc", "20", "e", "Ne", "15", "b", "Nb", "10", "d", "Nd", "5")
			got, err = rdb.Sort(ctx, src, &redis.Sort{By: "w:*", Offset: 1, Count: 2, Get: []string{"nosuch:*"}}).Result()
			sortTestWant(t, "SORT LIMIT GET nosuch:*", got, err, "", "")
			got, err = rdb.SortRO(ctx, src, &redis.Sort{By: "nosort", Order: "DESC", Get: []string{"h:*->name"}}).Result()
			sortTestWant(t, "SORT_RO BY nosort DESC", got, err, "Nd", "Nb", "Ne", "Na", "Nc")

			// A GET that finds nothing is a nil in the reply.
			v, err := rdb.Do(ctx, "SORT", src, "BY", "w:*", "LIMIT", "0", "2", "GET", "#", "GET", "nosuch:*").Slice()
			if err != nil || len(v) != 4 || v[0] != "d" || v[1] != nil || v[2] != "b" || v[3] != nil {
				t.Fatalf("SORT GET nosuch:* = %#v, %v", v, err)
			}

			// STORE to a key on another shard, with patterns, and without.
			dst := sortTestOtherShard(t, "sort:dst", home, shards)
			if n, err := rdb.SortStore(ctx, src, dst, &redis.Sort{By: "w:*", Get: []string{"h:*->name"}}).Result(); err != nil || n != 5 {
				t.Fatalf("SORT STORE = %d, %v", n, err)
			}
			got, err = rdb.LRange(ctx, dst, 0, -1).Result()
			sortTestWant(t, "LRANGE after SORT BY STORE", got, err, "Nd", "Nb", "Ne", "Nc", "Na")
			if err := rdb.Set(ctx, dst, "old", time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			if n, err := rdb.SortStore(ctx, src, dst, &redis.Sort{Alpha: true, Order: "DESC", Offset: 0, Count: 3}).Result(); err != nil || n != 3 {
				t.Fatalf("SORT ALPHA STORE = %d, %v", n, err)
			}
			got, err = rdb.LRange(ctx, dst, 0, -1).Result()
			sortTestWant(t, "LRANGE after SORT ALPHA STORE", got, err, "e", "d", "c")
			if ttl, err := rdb.TTL(ctx, dst).Result(); err != nil || ttl != -1 {
				t.Fatalf("TTL after STORE = %v, %v; want -1 (no TTL)", ttl, err)
			}
			if n, err := rdb.SortStore(ctx, "sort:nosuch", dst, &redis.Sort{}).Result(); err != nil || n != 0 {
				t.Fatalf("SORT missing STORE = %d, %v", n, err)
			}
			if n, err := rdb.Exists(ctx, dst).Result(); err != nil || n != 0 {
				t.Fatalf("an empty STORE left the destination: EXISTS = %d, %v", n, err)
			}

			// Sets and sorted sets.
			if err := rdb.SAdd(ctx, "sort:set", "c", "a", "b").Err(); err != nil {
				t.Fatal(err)
			}
			got, err = rdb.Sort(ctx, "sort:set", &redis.Sort{By: "w:*", Order: "DESC"}).Result()
			sortTestWant(t, "SORT set BY", got, err, "a", "c", "b")
			if err := rdb.ZAdd(ctx, "sort:z", redis.Z{Score: 3, Member: "a"}, redis.Z{Score: 1, Member: "b"}, redis.Z{Score: 2, Member: "c"}).Err(); err != nil {
				t.Fatal(err)
			}
			got, err = rdb.Sort(ctx, "sort:z", &redis.Sort{By: "nosort", Offset: 1, Count: 5}).Result()
			sortTestWant(t, "SORT zset BY nosort LIMIT", got, err, "c", "a")
			got, err = rdb.Sort(ctx, "sort:z", &redis.Sort{By: "w:*", Get: []string{"w:*"}}).Result()
			sortTestWant(t, "SORT zset BY GET", got, err, "10", "20", "30")

			// Errors.
			if err := rdb.Sort(ctx, "w:a", &redis.Sort{}).Err(); err == nil || err.Error() != shard.ErrWrongType {
				t.Fatalf("SORT string: %v", err)
			}
			if err := rdb.Sort(ctx, src, &redis.Sort{}).Err(); err == nil || err.Error() != "ERR One or more scores can't be converted into double" {
				t.Fatalf("numeric SORT of letters: %v", err)
			}
			if err := rdb.Do(ctx, "SORT", src, "BY", "w:*", "BOGUS").Err(); err == nil || err.Error() != shard.ErrSyntax {
				t.Fatalf("SORT BOGUS: %v", err)
			}
			if err := rdb.Do(ctx, "SORT_RO", src, "STORE", dst).Err(); err == nil || err.Error() != shard.ErrSyntax {
				t.Fatalf("SORT_RO STORE: %v", err)
			}

			// The key positions Redis reports.
			keys, err := rdb.CommandGetKeys(ctx, "sort", src, "BY", "w:*", "GET", "#", "STORE", dst).Result()
			sortTestWant(t, "COMMAND GETKEYS sort", keys, err, src, dst)
			infos, err := rdb.Command(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			if in := infos["sort"]; in == nil || !slices.Equal(in.Flags, []string{"write", "denyoom", "movablekeys"}) ||
				in.Arity != -2 || in.FirstKeyPos != 1 || in.LastKeyPos != 1 || in.StepCount != 1 {
				t.Errorf("COMMAND INFO sort = %+v", in)
			}
			if in := infos["sort_ro"]; in == nil || !slices.Equal(in.Flags, []string{"readonly", "movablekeys"}) {
				t.Errorf("COMMAND INFO sort_ro = %+v", in)
			}
		})
	}
}

// A pipeline mixes SORTs that borrow every shard with commands batched
// to single shards; each reply must see exactly the writes before it.
func TestGoRedisSortPipelineOrder(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()

	pipe := rdb.Pipeline()
	pipe.RPush(ctx, "p:l", "x", "y", "z")
	pipe.MSet(ctx, "p:w:x", 3, "p:w:y", 2, "p:w:z", 1)
	s1 := pipe.Sort(ctx, "p:l", &redis.Sort{By: "p:w:*"})
	pipe.Set(ctx, "p:w:z", 9, 0)
	s2 := pipe.Sort(ctx, "p:l", &redis.Sort{By: "p:w:*", Get: []string{"p:w:*"}})
	pipe.Del(ctx, "p:w:x", "p:w:y")
	s3 := pipe.Sort(ctx, "p:l", &redis.Sort{By: "p:w:*"})
	pipe.RPush(ctx, "p:l", "a")
	s4 := pipe.Sort(ctx, "p:l", &redis.Sort{By: "nosort", Order: "DESC"})
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	sortTestWant(t, "first SORT", s1.Val(), s1.Err(), "z", "y", "x")
	sortTestWant(t, "second SORT", s2.Val(), s2.Err(), "2", "3", "9")
	sortTestWant(t, "third SORT", s3.Val(), s3.Err(), "x", "y", "z")
	sortTestWant(t, "fourth SORT", s4.Val(), s4.Err(), "a", "z", "y", "x")
}

// SORT ... STORE serves a client blocked on the destination, on another
// shard.
func TestGoRedisSortStoreWakesBlocked(t *testing.T) {
	const shards = 8
	_, addr := startServer(t, shards)
	ctx := context.Background()
	src := "b:src"
	dst := sortTestOtherShard(t, "b:dst", shard.Owner([]byte(src), shards), shards)
	rdb := newClient2(t, addr, 2)
	if err := rdb.RPush(ctx, src, "3", "1", "2").Err(); err != nil {
		t.Fatal(err)
	}
	blocked := newClient2(t, addr, 2)
	popped := make(chan []string, 1)
	go func() {
		v, _ := blocked.BLPop(ctx, 5*time.Second, dst).Result()
		popped <- v
	}()
	waitBlocked(t, rdb, 1)
	if n, err := rdb.SortStore(ctx, src, dst, &redis.Sort{}).Result(); err != nil || n != 3 {
		t.Fatalf("SORT STORE = %d, %v", n, err)
	}
	select {
	case v := <-popped:
		if !slices.Equal(v, []string{dst, "1"}) {
			t.Fatalf("BLPOP = %q, want [%s 1]", v, dst)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("BLPOP was not served")
	}
	got, err := rdb.LRange(ctx, dst, 0, -1).Result()
	sortTestWant(t, "LRANGE after the pop", got, err, "2", "3")
}

// Concurrent SORTs with patterns and writers to the pattern keys, for
// the race detector: every SORT must see a consistent snapshot.
func TestGoRedisSortConcurrent(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	var elems []any
	for i := 0; i < 20; i++ {
		elems = append(elems, strconv.Itoa(i))
	}
	if err := rdb.RPush(ctx, "c:l", elems...).Err(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := newClient2(t, addr, 2)
			for i := 0; i < 50; i++ {
				if w%2 == 0 {
					// Writers set every weight to the same value in one MSET.
					var kv []any
					for _, e := range elems {
						kv = append(kv, "c:w:"+e.(string), i)
					}
					if err := c.MSet(ctx, kv...).Err(); err != nil {
						errs <- err
						return
					}
					continue
				}
				got, err := c.Sort(ctx, "c:l", &redis.Sort{By: "c:w:*", Get: []string{"c:w:*"}, Count: 20}).Result()
				if err != nil {
					errs <- err
					return
				}
				for _, g := range got[1:] {
					if g != got[0] {
						t.Errorf("SORT saw a torn MSET: %q", got)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
