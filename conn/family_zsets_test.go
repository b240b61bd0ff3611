package conn

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func zsetsWant(t *testing.T, what string, got []redis.Z, err error, want ...redis.Z) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(want) == 0 {
		want = []redis.Z{}
	}
	if len(got) == 0 {
		got = []redis.Z{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func zsetsWantStrings(t *testing.T, what string, got []string, err error, want ...string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(want) == 0 {
		want = []string{}
	}
	if len(got) == 0 {
		got = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func TestGoRedisZSets(t *testing.T) {
	const shards = 8
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, shards)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()
			z := func(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }

			n, err := rdb.ZAdd(ctx, "z", z(1, "a"), z(2, "b"), z(3, "c"), z(math.Inf(1), "top"), z(math.Inf(-1), "bottom")).Result()
			if err != nil || n != 5 {
				t.Fatalf("ZADD = %d, %v", n, err)
			}
			if n, err := rdb.ZAddArgs(ctx, "z", redis.ZAddArgs{GT: true, Ch: true, Members: []redis.Z{z(0, "a"), z(5, "b"), z(4, "d")}}).Result(); err != nil || n != 2 {
				t.Fatalf("ZADD GT CH = %d, %v", n, err)
			}
			if n, err := rdb.ZAddArgs(ctx, "z", redis.ZAddArgs{NX: true, Members: []redis.Z{z(9, "a"), z(6, "e")}}).Result(); err != nil || n != 1 {
				t.Fatalf("ZADD NX = %d, %v", n, err)
			}
			if f, err := rdb.ZAddArgsIncr(ctx, "z", redis.ZAddArgs{Members: []redis.Z{z(0.5, "a")}}).Result(); err != nil || f != 1.5 {
				t.Fatalf("ZADD INCR = %v, %v", f, err)
			}
			if _, err := rdb.ZAddArgsIncr(ctx, "z", redis.ZAddArgs{XX: true, Members: []redis.Z{z(1, "nobody")}}).Result(); err != redis.Nil {
				t.Fatalf("ZADD XX INCR of a missing member: %v, want redis.Nil", err)
			}
			if f, err := rdb.ZIncrBy(ctx, "z", -0.25, "a").Result(); err != nil || f != 1.25 {
				t.Fatalf("ZINCRBY = %v, %v", f, err)
			}
			if _, err := rdb.ZIncrBy(ctx, "z", math.Inf(-1), "top").Result(); err == nil || err.Error() != "ERR resulting score is not a number (NaN)" {
				t.Fatalf("ZINCRBY to NaN: %v", err)
			}

			all := []redis.Z{z(math.Inf(-1), "bottom"), z(1.25, "a"), z(3, "c"), z(4, "d"), z(5, "b"), z(6, "e"), z(math.Inf(1), "top")}
			got, err := rdb.ZRangeWithScores(ctx, "z", 0, -1).Result()
			zsetsWant(t, "ZRANGE WITHSCORES", got, err, all...)
			members, err := rdb.ZRange(ctx, "z", -2, -1).Result()
			zsetsWantStrings(t, "ZRANGE -2 -1", members, err, "e", "top")
			got, err = rdb.ZRevRangeWithScores(ctx, "z", 0, 1).Result()
			zsetsWant(t, "ZREVRANGE WITHSCORES", got, err, all[6], all[5])
			got, err = rdb.ZRangeByScoreWithScores(ctx, "z", &redis.ZRangeBy{Min: "(1.25", Max: "+inf", Offset: 1, Count: 2}).Result()
			zsetsWant(t, "ZRANGEBYSCORE LIMIT", got, err, all[3], all[4])
			members, err = rdb.ZRevRangeByScore(ctx, "z", &redis.ZRangeBy{Min: "-inf", Max: "(5"}).Result()
			zsetsWantStrings(t, "ZREVRANGEBYSCORE", members, err, "d", "c", "a", "bottom")
			got, err = rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: "z", Start: "+inf", Stop: "(3", ByScore: true, Rev: true, Offset: 1, Count: 2}).Result()
			zsetsWant(t, "ZRANGE BYSCORE REV LIMIT", got, err, all[5], all[4])
			members, err = rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: "z", Start: 10, Stop: 20}).Result()
			zsetsWantStrings(t, "ZRANGE beyond the end", members, err)
			if _, err := rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: "z", Start: 0, Stop: 1, Offset: 0, Count: 1}).Result(); err == nil ||
				!strings.Contains(err.Error(), "LIMIT is only supported") {
				t.Fatalf("ZRANGE by rank with LIMIT: %v", err)
			}
			if _, err := rdb.ZRangeByScore(ctx, "z", &redis.ZRangeBy{Min: "x", Max: "1"}).Result(); err == nil || err.Error() != "ERR min or max is not a float" {
				t.Fatalf("ZRANGEBYSCORE x: %v", err)
			}

			// Lex ranges over equal scores.
			rdb.ZAdd(ctx, "lex", z(0, "a"), z(0, "b"), z(0, "c"), z(0, "d"))
			members, err = rdb.ZRangeByLex(ctx, "lex", &redis.ZRangeBy{Min: "(a", Max: "[c"}).Result()
			zsetsWantStrings(t, "ZRANGEBYLEX", members, err, "b", "c")
			members, err = rdb.ZRevRangeByLex(ctx, "lex", &redis.ZRangeBy{Min: "-", Max: "+", Offset: 1, Count: 2}).Result()
			zsetsWantStrings(t, "ZREVRANGEBYLEX LIMIT", members, err, "c", "b")
			if n, err := rdb.ZLexCount(ctx, "lex", "[b", "+").Result(); err != nil || n != 3 {
				t.Fatalf("ZLEXCOUNT = %d, %v", n, err)
			}

			// Point reads.
			if f, err := rdb.ZScore(ctx, "z", "top").Result(); err != nil || !math.IsInf(f, 1) {
				t.Fatalf("ZSCORE top = %v, %v", f, err)
			}
			if _, err := rdb.ZScore(ctx, "z", "nobody").Result(); err != redis.Nil {
				t.Fatalf("ZSCORE of a missing member: %v", err)
			}
			if fs, err := rdb.ZMScore(ctx, "z", "a", "nobody", "bottom").Result(); err != nil || fs[0] != 1.25 || fs[1] != 0 || !math.IsInf(fs[2], -1) {
				t.Fatalf("ZMSCORE = %v, %v", fs, err)
			}
			if r, err := rdb.ZRank(ctx, "z", "c").Result(); err != nil || r != 2 {
				t.Fatalf("ZRANK = %d, %v", r, err)
			}
			if r, err := rdb.ZRevRank(ctx, "z", "c").Result(); err != nil || r != 4 {
				t.Fatalf("ZREVRANK = %d, %v", r, err)
			}
			if _, err := rdb.ZRank(ctx, "z", "nobody").Result(); err != redis.Nil {
				t.Fatalf("ZRANK of a missing member: %v", err)
			}
			if n, err := rdb.ZCard(ctx, "z").Result(); err != nil || n != 7 {
				t.Fatalf("ZCARD = %d, %v", n, err)
			}
			if n, err := rdb.ZCount(ctx, "z", "(1.25", "5").Result(); err != nil || n != 3 {
				t.Fatalf("ZCOUNT = %d, %v", n, err)
			}

			// Random members.
			if m, err := rdb.ZRandMember(ctx, "lex", 10).Result(); err != nil || len(m) != 4 {
				t.Fatalf("ZRANDMEMBER 10 = %q, %v", m, err)
			}
			if zs, err := rdb.ZRandMemberWithScores(ctx, "lex", -6).Result(); err != nil || len(zs) != 6 {
				t.Fatalf("ZRANDMEMBER -6 WITHSCORES = %v, %v", zs, err)
			}

			// Pops and removals; emptied sets disappear.
			got, err = rdb.ZPopMin(ctx, "z").Result()
			zsetsWant(t, "ZPOPMIN", got, err, all[0])
			got, err = rdb.ZPopMax(ctx, "z", 2).Result()
			zsetsWant(t, "ZPOPMAX 2", got, err, all[6], all[5])
			key, got, err := rdb.ZMPop(ctx, "min", 2, "nokey", "z").Result()
			if key != "z" {
				t.Fatalf("ZMPOP popped from %q", key)
			}
			zsetsWant(t, "ZMPOP", got, err, all[1], all[2])
			if n, err := rdb.ZRem(ctx, "z", "d", "nobody").Result(); err != nil || n != 1 {
				t.Fatalf("ZREM = %d, %v", n, err)
			}
			if n, err := rdb.ZRemRangeByScore(ctx, "z", "-inf", "+inf").Result(); err != nil || n != 1 {
				t.Fatalf("ZREMRANGEBYSCORE = %d, %v", n, err)
			}
			if n, _ := rdb.Exists(ctx, "z").Result(); n != 0 {
				t.Fatal("an emptied sorted set still exists")
			}
			if n, err := rdb.ZRemRangeByLex(ctx, "lex", "[b", "[c").Result(); err != nil || n != 2 {
				t.Fatalf("ZREMRANGEBYLEX = %d, %v", n, err)
			}
			if n, err := rdb.ZRemRangeByRank(ctx, "lex", 0, 0).Result(); err != nil || n != 1 {
				t.Fatalf("ZREMRANGEBYRANK = %d, %v", n, err)
			}
			rdb.Set(ctx, "str", "x", 0)
			if _, err := rdb.ZAdd(ctx, "str", z(1, "a")).Result(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
				t.Fatalf("ZADD on a string: %v", err)
			}
		})
	}
}

// TestGoRedisZSetsAcrossShards runs the commands that read and write
// several keys with every key on a different shard.
func TestGoRedisZSetsAcrossShards(t *testing.T) {
	const shards = 8
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, shards)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()
			keys := keysOnDifferentShards(t, "zk", 6, shards)
			a, b, s, dst, dst2, dst3 := keys[0], keys[1], keys[2], keys[3], keys[4], keys[5]
			z := func(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }

			rdb.ZAdd(ctx, a, z(1, "x"), z(2, "y"), z(3, "z"))
			rdb.ZAdd(ctx, b, z(10, "y"), z(20, "z"), z(30, "w"))
			rdb.SAdd(ctx, s, "z", "w", "v")

			if n, err := rdb.ZUnionStore(ctx, dst, &redis.ZStore{Keys: []string{a, b, s}, Weights: []float64{1, 2, 3}}).Result(); err != nil || n != 5 {
				t.Fatalf("ZUNIONSTORE = %d, %v", n, err)
			}
			got, err := rdb.ZRangeWithScores(ctx, dst, 0, -1).Result()
			zsetsWant(t, "ZUNIONSTORE result", got, err, z(1, "x"), z(3, "v"), z(22, "y"), z(46, "z"), z(63, "w"))

			if n, err := rdb.ZInterStore(ctx, dst2, &redis.ZStore{Keys: []string{a, b}, Aggregate: "MAX"}).Result(); err != nil || n != 2 {
				t.Fatalf("ZINTERSTORE = %d, %v", n, err)
			}
			got, err = rdb.ZRangeWithScores(ctx, dst2, 0, -1).Result()
			zsetsWant(t, "ZINTERSTORE result", got, err, z(10, "y"), z(20, "z"))

			if n, err := rdb.ZDiffStore(ctx, dst3, a, b).Result(); err != nil || n != 1 {
				t.Fatalf("ZDIFFSTORE = %d, %v", n, err)
			}
			got, err = rdb.ZRangeWithScores(ctx, dst3, 0, -1).Result()
			zsetsWant(t, "ZDIFFSTORE result", got, err, z(1, "x"))

			// Reading forms.
			got, err = rdb.ZUnionWithScores(ctx, redis.ZStore{Keys: []string{a, b}, Aggregate: "MIN"}).Result()
			zsetsWant(t, "ZUNION", got, err, z(1, "x"), z(2, "y"), z(3, "z"), z(30, "w"))
			got, err = rdb.ZInterWithScores(ctx, &redis.ZStore{Keys: []string{a, b, s}}).Result()
			zsetsWant(t, "ZINTER", got, err, z(24, "z"))
			got, err = rdb.ZDiffWithScores(ctx, b, s).Result()
			zsetsWant(t, "ZDIFF", got, err, z(10, "y"))
			if n, err := rdb.ZInterCard(ctx, 0, a, b).Result(); err != nil || n != 2 {
				t.Fatalf("ZINTERCARD = %d, %v", n, err)
			}

			// ZRANGESTORE from one shard to another, and an empty result
			// deleting the destination.
			if n, err := rdb.ZRangeStore(ctx, dst2, redis.ZRangeArgs{Key: dst, Start: "+inf", Stop: 20, ByScore: true, Rev: true, Offset: 0, Count: 2}).Result(); err != nil || n != 2 {
				t.Fatalf("ZRANGESTORE = %d, %v", n, err)
			}
			got, err = rdb.ZRangeWithScores(ctx, dst2, 0, -1).Result()
			zsetsWant(t, "ZRANGESTORE result", got, err, z(46, "z"), z(63, "w"))
			if n, err := rdb.ZInterStore(ctx, dst3, &redis.ZStore{Keys: []string{a, "zk-missing"}}).Result(); err != nil || n != 0 {
				t.Fatalf("empty ZINTERSTORE = %d, %v", n, err)
			}
			if n, _ := rdb.Exists(ctx, dst3).Result(); n != 0 {
				t.Fatal("an empty result left its destination")
			}

			// ZMPOP takes the first non-empty key, on whichever shard.
			key, got, err := rdb.ZMPop(ctx, "max", 1, "zk-missing", b, a).Result()
			if key != b {
				t.Fatalf("ZMPOP popped from %q, want %q", key, b)
			}
			zsetsWant(t, "ZMPOP", got, err, z(30, "w"))

			// A wrong type anywhere fails the whole command.
			rdb.Set(ctx, dst3, "x", 0)
			if _, err := rdb.ZUnionStore(ctx, dst, &redis.ZStore{Keys: []string{a, dst3}}).Result(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
				t.Fatalf("ZUNIONSTORE over a string: %v", err)
			}
			if n, _ := rdb.ZCard(ctx, dst).Result(); n != 5 {
				t.Fatalf("a failed ZUNIONSTORE changed its destination: ZCARD = %d", n)
			}
		})
	}
}

// TestGoRedisZSetErrors checks the errors the connection gives before a
// shard runs the command.
func TestGoRedisZSetErrors(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	for _, tc := range []struct {
		args []any
		want string
	}{
		{[]any{"zadd", "k", "1"}, "ERR wrong number of arguments for 'zadd' command"},
		{[]any{"zmscore", "k"}, "ERR wrong number of arguments for 'zmscore' command"},
		{[]any{"zrangestore", "d", "s", "0"}, "ERR wrong number of arguments for 'zrangestore' command"},
		{[]any{"zunionstore", "d", "2", "a"}, "ERR syntax error"},
		{[]any{"zunion", "0", "a"}, "ERR at least 1 input key is needed for 'zunion' command"},
		{[]any{"zmpop", "0", "a", "min"}, "ERR numkeys should be greater than 0"},
	} {
		err := rdb.Do(ctx, tc.args...).Err()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
