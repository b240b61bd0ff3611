package conn

import (
	"context"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

func famSorted(t *testing.T, what string, got []string, err error, want ...string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	got = slices.Clone(got)
	slices.Sort(got)
	slices.Sort(want)
	if len(want) == 0 {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func TestGoRedisKeysFamily(t *testing.T) {
	const shards = 8
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, shards)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()
			k := keysOnDifferentShards(t, "k", 3, shards) // three different shards
			if shard.Owner([]byte(k[0]), shards) == shard.Owner([]byte(k[1]), shards) {
				t.Fatal("keys share a shard")
			}

			// RENAME across shards keeps the TTL.
			if err := rdb.Set(ctx, k[0], "v", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			if err := rdb.Rename(ctx, k[0], k[1]).Err(); err != nil {
				t.Fatalf("RENAME: %v", err)
			}
			if n, _ := rdb.Exists(ctx, k[0], k[1]).Result(); n != 1 {
				t.Fatalf("EXISTS after RENAME = %d", n)
			}
			if ttl, err := rdb.TTL(ctx, k[1]).Result(); err != nil || ttl <= 50*time.Second || ttl > time.Minute {
				t.Fatalf("TTL after RENAME = %v, %v", ttl, err)
			}
			if err := rdb.Rename(ctx, k[0], k[2]).Err(); err == nil || err.Error() != "ERR no such key" {
				t.Fatalf("RENAME of a missing key: %v", err)
			}
			if ok, err := rdb.RenameNX(ctx, k[1], k[2]).Result(); err != nil || !ok {
				t.Fatalf("RENAMENX = %v, %v", ok, err)
			}

			// EXPIRE, TTL, PERSIST.
			if ok, err := rdb.Expire(ctx, k[2], 100*time.Second).Result(); err != nil || !ok {
				t.Fatalf("EXPIRE = %v, %v", ok, err)
			}
			if ttl, _ := rdb.TTL(ctx, k[2]).Result(); ttl != 100*time.Second {
				t.Fatalf("TTL = %v", ttl)
			}
			if ok, _ := rdb.ExpireGT(ctx, k[2], 50*time.Second).Result(); ok {
				t.Fatal("EXPIRE GT with a smaller TTL succeeded")
			}
			if ok, _ := rdb.Persist(ctx, k[2]).Result(); !ok {
				t.Fatal("PERSIST failed")
			}
			if ttl, _ := rdb.TTL(ctx, k[2]).Result(); ttl != -1 {
				t.Fatalf("TTL after PERSIST = %v", ttl)
			}
			if ttl, _ := rdb.PTTL(ctx, "nokey").Result(); ttl != -2 {
				t.Fatalf("PTTL of a missing key = %v", ttl)
			}

			// COPY a hash across shards: a deep copy.
			h := keysOnDifferentShards(t, "h", 2, shards)
			if err := rdb.HSet(ctx, h[0], "f", "v", "g", "w").Err(); err != nil {
				t.Fatal(err)
			}
			if ok, err := rdb.Copy(ctx, h[0], h[1], 0, false).Result(); err != nil || ok != 1 {
				t.Fatalf("COPY = %v, %v", ok, err)
			}
			rdb.HSet(ctx, h[0], "x", "y")
			got, err := rdb.HGetAll(ctx, h[1]).Result()
			if err != nil || !reflect.DeepEqual(got, map[string]string{"f": "v", "g": "w"}) {
				t.Fatalf("HGETALL of the copy = %v, %v", got, err)
			}
			if typ, _ := rdb.Type(ctx, h[1]).Result(); typ != "hash" {
				t.Fatalf("TYPE of the copy = %q", typ)
			}
			// HGETALL's raw shape: a map in RESP3, a flat array in RESP2.
			raw, err := rdb.Do(ctx, "HGETALL", h[1]).Result()
			if err != nil {
				t.Fatal(err)
			}
			if proto == 3 {
				if m, ok := raw.(map[any]any); !ok || len(m) != 2 || m["f"] != "v" || m["g"] != "w" {
					t.Fatalf("HGETALL RESP3 = %#v", raw)
				}
			} else if a, ok := raw.([]any); !ok || len(a) != 4 {
				t.Fatalf("HGETALL RESP2 = %#v", raw)
			}

			// Sets across shards.
			s := keysOnDifferentShards(t, "s", 3, shards)
			rdb.SAdd(ctx, s[0], "a", "b", "c")
			rdb.SAdd(ctx, s[1], "c", "d")
			if ok, err := rdb.SMove(ctx, s[0], s[1], "a").Result(); err != nil || !ok {
				t.Fatalf("SMOVE = %v, %v", ok, err)
			}
			v, err := rdb.SMembers(ctx, s[1]).Result()
			famSorted(t, "SMEMBERS after SMOVE", v, err, "a", "c", "d")
			if n, err := rdb.SUnionStore(ctx, s[2], s[0], s[1]).Result(); err != nil || n != 4 {
				t.Fatalf("SUNIONSTORE = %d, %v", n, err)
			}
			v, err = rdb.SMembers(ctx, s[2]).Result()
			famSorted(t, "SMEMBERS of the union", v, err, "a", "b", "c", "d")
			if n, err := rdb.SDiffStore(ctx, s[2], s[1], s[0]).Result(); err != nil || n != 2 {
				t.Fatalf("SDIFFSTORE = %d, %v", n, err)
			}
			v, err = rdb.SMembers(ctx, s[2]).Result()
			famSorted(t, "SMEMBERS of the difference", v, err, "a", "d")
			if n, err := rdb.SInterCard(ctx, 0, s[0], s[1]).Result(); err != nil || n != 1 {
				t.Fatalf("SINTERCARD = %d, %v", n, err)
			}
			v, err = rdb.SInter(ctx, s[0], s[1]).Result()
			famSorted(t, "SINTER", v, err, "c")
			if n, _ := rdb.SInterStore(ctx, s[2], s[0], "nokey").Result(); n != 0 {
				t.Fatalf("SINTERSTORE with a missing key = %d", n)
			}
			if n, _ := rdb.Exists(ctx, s[2]).Result(); n != 0 {
				t.Fatal("an empty SINTERSTORE left its destination")
			}
			// SMEMBERS is a set in RESP3.
			raw, err = rdb.Do(ctx, "SMEMBERS", s[0]).Result()
			if err != nil {
				t.Fatal(err)
			}
			if a, ok := raw.([]any); !ok || len(a) != 2 {
				t.Fatalf("SMEMBERS raw = %#v", raw)
			}

			// OBJECT runs on the key's shard.
			enc := keysOnDifferentShards(t, "o", shards, shards)
			for _, key := range enc {
				rdb.SAdd(ctx, key, "1", "2")
				if e, err := rdb.ObjectEncoding(ctx, key).Result(); err != nil || e != "intset" {
					t.Fatalf("OBJECT ENCODING %s (shard %d) = %q, %v", key, shard.Owner([]byte(key), shards), e, err)
				}
			}
			rdb.Del(ctx, enc...)
		})
	}
}

func TestGoRedisKeysRandomSwap(t *testing.T) {
	const shards = 8
	_, addr := startServer(t, shards)
	rdb := newClient2(t, addr, 3)
	ctx := context.Background()
	if _, err := rdb.RandomKey(ctx).Result(); err != redis.Nil {
		t.Fatalf("RANDOMKEY on an empty db: %v", err)
	}
	var keys []string
	owners := map[int]bool{}
	for i := 0; i < 64; i++ {
		k := "fam:" + strconv.Itoa(i)
		keys = append(keys, k)
		owners[shard.Owner([]byte(k), shards)] = true
		rdb.Set(ctx, k, i, 0)
	}
	if len(owners) != shards {
		t.Fatalf("keys cover %d of %d shards", len(owners), shards)
	}
	rdb.Set(ctx, "other", "x", 0)
	got, err := rdb.Keys(ctx, "fam:*").Result()
	famSorted(t, "KEYS fam:*", got, err, keys...)
	got, err = rdb.Keys(ctx, "fam:1?").Result()
	famSorted(t, "KEYS fam:1?", got, err, "fam:10", "fam:11", "fam:12", "fam:13", "fam:14", "fam:15", "fam:16", "fam:17", "fam:18", "fam:19")
	seen := map[string]bool{}
	for i := 0; i < 300; i++ {
		k, err := rdb.RandomKey(ctx).Result()
		if err != nil || (k != "other" && !slices.Contains(keys, k)) {
			t.Fatalf("RANDOMKEY = %q, %v", k, err)
		}
		seen[k] = true
	}
	if len(seen) < 30 {
		t.Fatalf("RANDOMKEY saw only %d distinct keys in 300 draws", len(seen))
	}

	// SWAPDB moves every shard's database at once.
	if err := rdb.Do(ctx, "SWAPDB", 0, 1).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.DBSize(ctx).Result(); n != 0 {
		t.Fatalf("DBSIZE of db 0 after SWAPDB = %d", n)
	}
	db1 := redis.NewClient(&redis.Options{Addr: addr, DB: 1})
	t.Cleanup(func() { db1.Close() })
	if n, _ := db1.DBSize(ctx).Result(); n != 65 {
		t.Fatalf("DBSIZE of db 1 after SWAPDB = %d", n)
	}
	if v, _ := db1.Get(ctx, "fam:7").Result(); v != "7" {
		t.Fatalf("GET in db 1 = %q", v)
	}
	if err := rdb.Do(ctx, "SWAPDB", 0, 16).Err(); err == nil || err.Error() != "ERR DB index is out of range" {
		t.Fatalf("SWAPDB 0 16: %v", err)
	}
	// MOVE and COPY ... DB into another database of the key's shard.
	if ok, err := db1.Move(ctx, "fam:3", 0).Result(); err != nil || !ok {
		t.Fatalf("MOVE = %v, %v", ok, err)
	}
	if n, err := db1.Copy(ctx, "fam:4", "fam:4", 0, false).Result(); err != nil || n != 1 {
		t.Fatalf("COPY DB 0 = %v, %v", n, err)
	}
	got, err = rdb.Keys(ctx, "*").Result()
	famSorted(t, "KEYS * in db 0", got, err, "fam:3", "fam:4")
}

// TestRenameAtomicAcrossShards moves one value back and forth between two
// keys on different shards while readers check, with one cross-shard
// EXISTS, that exactly one of them exists at every instant; and moves set
// members between two sets while readers check nothing is lost or doubled.
func TestRenameAtomicAcrossShards(t *testing.T) {
	const (
		shards  = 8
		writers = 4
		readers = 4
		rounds  = 300
		members = 20
	)
	_, addr := startServer(t, shards)
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: writers + readers + 2})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	k := keysOnDifferentShards(t, "r", 2, shards)
	s := keysOnDifferentShards(t, "m", 2, shards)
	rdb.Set(ctx, k[0], "payload", 0)
	for i := 0; i < members; i++ {
		rdb.SAdd(ctx, s[0], "m"+strconv.Itoa(i))
	}

	var wg sync.WaitGroup
	errs := make(chan string, writers+readers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				for _, p := range [][2]string{{k[0], k[1]}, {k[1], k[0]}} {
					if err := rdb.Rename(ctx, p[0], p[1]).Err(); err != nil && err.Error() != "ERR no such key" {
						errs <- "RENAME: " + err.Error()
						return
					}
				}
				m := "m" + strconv.Itoa((i+w)%members)
				if err := rdb.SMove(ctx, s[i%2], s[1-i%2], m).Err(); err != nil {
					errs <- "SMOVE: " + err.Error()
					return
				}
			}
		}(w)
	}
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				n, err := rdb.Exists(ctx, k[0], k[1]).Result()
				if err != nil || n != 1 {
					errs <- "EXISTS saw " + strconv.FormatInt(n, 10) + " keys"
					return
				}
				u, err := rdb.SUnion(ctx, s[0], s[1]).Result()
				if err != nil || len(u) != members {
					errs <- "SUNION saw " + strconv.Itoa(len(u)) + " members"
					return
				}
				if c, err := rdb.SInterCard(ctx, 0, s[0], s[1]).Result(); err != nil || c != 0 {
					errs <- "SINTERCARD saw " + strconv.FormatInt(c, 10) + " members in both"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	vals, err := rdb.MGet(ctx, k[0], k[1]).Result()
	if err != nil || (vals[0] == nil) == (vals[1] == nil) || (vals[0] != "payload" && vals[1] != "payload") {
		t.Fatalf("after the transfers MGET = %v, %v", vals, err)
	}
}
