package conn

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestInPlaceWritesUnderEveryHolder has writers overwrite their keys'
// strings and hash values in place (same size class, over and over) while
// the old values travel: scripts and transactions that read them, COPY,
// RENAME and DUMP/RESTORE to other keys (other shards too), BGSAVE and
// BGREWRITEAOF in progress, a replica's full sync and stream, keyspace
// notifications. Every read sees the value of its moment, the copies keep
// theirs, and the replica, the dataset after DEBUG RELOAD and the model
// agree at the end.
func TestInPlaceWritesUnderEveryHolder(t *testing.T) {
	ctx := context.Background()
	m := startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync-delay", "0", "appendonly", "yes",
		"notify-keyspace-events", "KEA")
	r := startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync-delay", "0")
	mc := redis.NewClient(&redis.Options{Addr: m.addr, PoolSize: 12})
	defer mc.Close()
	rc := newClient2(t, r.addr, 2)

	sub := mc.PSubscribe(ctx, "__key*__:*")
	defer sub.Close()
	go func() {
		for range sub.Channel() {
		}
	}()

	const workers, rounds = 4, 1500
	var mu sync.Mutex
	model := map[string]string{} // string keys; hash fields as key\x00field
	set := func(k, v string) { mu.Lock(); model[k] = v; mu.Unlock() }
	errs := make(chan string, workers)
	fail := func(format string, a ...any) {
		select {
		case errs <- fmt.Sprintf(format, a...):
		default:
		}
	}
	var workersWG, saverWG sync.WaitGroup
	stop := make(chan struct{})
	// Saves and rewrites in the background, and a replica that joins
	// mid-way.
	saverWG.Add(1)
	go func() {
		defer saverWG.Done()
		for i := 0; ; i++ {
			if i == 1 { // a full sync while the writes go on
				host, port, _ := strings.Cut(m.addr, ":")
				rc.Do(ctx, "replicaof", host, port)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			switch i % 4 {
			case 0:
				mc.BgSave(ctx)
			case 2:
				mc.BgRewriteAOF(ctx)
			}
		}
	}()
	for w := 0; w < workers; w++ {
		workersWG.Add(1)
		go func(w int) {
			defer workersWG.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 5))
			name := func(kind string, j int) string { return "w" + strconv.Itoa(w) + ":" + kind + ":" + strconv.Itoa(j) }
			val := func(n int) string {
				c := string(rune('a' + rng.IntN(26)))
				return strings.Repeat(c, n+rng.IntN(8))
			}
			local := map[string]string{}
			put := func(k, v string) { local[k] = v; set(k, v) }
			hk := name("h", 0)
			for i := 0; i < rounds; i++ {
				k := name("s", rng.IntN(4))
				switch rng.IntN(10) {
				case 0, 1:
					v := val(1000)
					if err := mc.Set(ctx, k, v, 0).Err(); err != nil {
						fail("SET: %v", err)
						return
					}
					put(k, v)
				case 2:
					k2 := name("s", rng.IntN(4))
					v, v2 := val(100), val(100)
					if err := mc.MSet(ctx, k, v, k2, v2).Err(); err != nil {
						fail("MSET: %v", err)
						return
					}
					put(k, v)
					put(k2, v2)
				case 3:
					ck := name("counter-with-a-long-name", 0)
					n, err := mc.IncrBy(ctx, ck, 1_000_000_000+int64(rng.IntN(1000))).Result()
					if err != nil {
						fail("INCRBY: %v", err)
						return
					}
					put(ck, strconv.FormatInt(n, 10))
				case 4:
					f := "field-" + strconv.Itoa(rng.IntN(3))
					v := val(200)
					if err := mc.HSet(ctx, hk, f, v, "pad", strings.Repeat("p", 100)).Err(); err != nil {
						fail("HSET: %v", err)
						return
					}
					put(hk+"\x00"+f, v)
					put(hk+"\x00pad", strings.Repeat("p", 100))
					n, err := mc.HIncrBy(ctx, hk, "counter-field-name", 1_000_000_007).Result()
					if err != nil {
						fail("HINCRBY: %v", err)
						return
					}
					put(hk+"\x00counter-field-name", strconv.FormatInt(n, 10))
				case 5:
					// A script keeps GET's value across its own SETs.
					old, ok := local[k]
					v1, v2 := val(1000), val(1000)
					got, err := mc.Eval(ctx, `local a = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[1], ARGV[2])
return {a or '', redis.call('GET', KEYS[1])}`, []string{k}, v1, v2).StringSlice()
					if err != nil || len(got) != 2 || (ok && got[0] != old) || got[1] != v2 {
						fail("EVAL on %s: %v", k, err)
						return
					}
					put(k, v2)
				case 6:
					// A transaction reads between overwrites.
					v1, v2 := val(1000), val(1000)
					var g1, g2 *redis.StringCmd
					_, err := mc.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.Set(ctx, k, v1, 0)
						g1 = p.Get(ctx, k)
						p.Set(ctx, k, v2, 0)
						g2 = p.Get(ctx, k)
						return nil
					})
					if err != nil || g1.Val() != v1 || g2.Val() != v2 {
						fail("MULTI on %s: %v", k, err)
						return
					}
					put(k, v2)
				case 7:
					// COPY, then k is written over; DUMP, RENAME there and
					// back, written over again, RESTORE: the old values
					// moved to other keys keep theirs.
					v, ok := local[k]
					if !ok {
						continue
					}
					ck, rk, tk := name("copy", rng.IntN(3)), name("restored", rng.IntN(3)), name("tmp", 0)
					if err := mc.Copy(ctx, k, ck, 0, true).Err(); err != nil {
						fail("COPY: %v", err)
						return
					}
					nv := val(1000)
					mc.Set(ctx, k, nv, 0)
					if got, _ := mc.Get(ctx, ck).Result(); got != v {
						fail("the copy %s changed with %s", ck, k)
						return
					}
					cv := val(1000)
					mc.Set(ctx, ck, cv, 0)
					put(ck, cv)
					mc.Set(ctx, k, nv, 0) // owned again
					d, err := mc.Dump(ctx, k).Result()
					if err != nil {
						fail("DUMP: %v", err)
						return
					}
					if err := mc.Rename(ctx, k, tk).Err(); err != nil {
						fail("RENAME: %v", err)
						return
					}
					if err := mc.Rename(ctx, tk, k).Err(); err != nil {
						fail("RENAME back: %v", err)
						return
					}
					v2 := val(1000)
					mc.Set(ctx, k, v2, 0)
					if err := mc.RestoreReplace(ctx, rk, 0, d).Err(); err != nil {
						fail("RESTORE: %v", err)
						return
					}
					put(k, v2)
					put(rk, nv)
					// A hash's copy keeps its values when the source's
					// are written over.
					hc := name("hcopy", 0)
					old0, _ := mc.HGet(ctx, hk, "field-0").Result()
					if err := mc.Copy(ctx, hk, hc, 0, true).Err(); err == nil {
						mc.HSet(ctx, hk, "field-0", val(200))
						if got, _ := mc.HGet(ctx, hc, "field-0").Result(); got != old0 {
							fail("the copy of %s changed with it", hk)
							return
						}
						mc.Del(ctx, hc)
					}
					got, _ := mc.HGet(ctx, hk, "field-0").Result()
					put(hk+"\x00field-0", got)
				default:
					if v, ok := local[k]; ok {
						if got, err := mc.Get(ctx, k).Result(); err != nil || got != v {
							fail("GET %s: %d bytes, want %d (%v)", k, len(got), len(v), err)
							return
						}
					}
				}
			}
		}(w)
	}
	workersWG.Wait()
	close(stop)
	saverWG.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}

	// The model, the master, the replica, and the master after a reload.
	for k, v := range model {
		key, f, isHash := strings.Cut(k, "\x00")
		var got string
		var err error
		if isHash {
			got, err = mc.HGet(ctx, key, f).Result()
		} else {
			got, err = mc.Get(ctx, key).Result()
		}
		if err != nil || got != v {
			t.Fatalf("%q: %d bytes %.20q, want %d bytes %.20q (%v)", k, len(got), got, len(v), v, err)
		}
	}
	waitReplicaCaughtUp(t, mc, rc)
	want := keyspace(t, m.addr)
	if got := keyspace(t, r.addr); !slices.Equal(got, want) {
		t.Fatalf("the replica differs:\n%s", diffLines(got, want))
	}
	if err := mc.Do(ctx, "DEBUG", "RELOAD").Err(); err != nil {
		t.Fatal(err)
	}
	if got := keyspace(t, m.addr); !slices.Equal(got, want) {
		t.Fatalf("DEBUG RELOAD changed the dataset:\n%s", diffLines(got, want))
	}
}
