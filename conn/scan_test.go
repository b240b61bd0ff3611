package conn

import (
	"bufio"
	"context"
	"io"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestScanSeesKeysAddedAfterEarlierScans pins issue 7 item 4: on several
// shards, a SCAN after keys were added must return them, however many
// scans ran before. Each shard's snapshot used to be rebuilt only for
// cursor 0, which only ever reaches shard 0, so the other shards kept
// serving the keys of the first SCAN ever made.
func TestScanSeesKeysAddedAfterEarlierScans(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()

	all := func() map[string]bool {
		t.Helper()
		seen := map[string]bool{}
		it := rdb.Scan(ctx, 0, "", 50).Iterator()
		for it.Next(ctx) {
			seen[it.Val()] = true
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		return seen
	}
	for i := 0; i < 100; i++ {
		rdb.Set(ctx, "old:"+strconv.Itoa(i), "v", 0)
	}
	if got := len(all()); got != 100 {
		t.Fatalf("first SCAN returned %d keys, want 100", got)
	}
	pipe := rdb.Pipeline()
	for i := 0; i < 2000; i++ {
		pipe.Set(ctx, "new:"+strconv.Itoa(i), "v", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(all()); got != 2100 {
		t.Fatalf("SCAN after adding 2000 keys returned %d keys, want 2100", got)
	}
}

// TestScanInterleavedScannersWithChurn runs several clients' SCAN
// iterations interleaved call by call while keys are added and deleted
// between calls: each must return every key present throughout its
// iteration.
func TestScanInterleavedScannersWithChurn(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rng := rand.New(rand.NewSource(4))
	admin := newClient2(t, addr, 2)

	stable := map[string]bool{}
	pipe := admin.Pipeline()
	for i := 0; i < 3000; i++ {
		k := "s:" + strconv.Itoa(i)
		stable[k] = true
		pipe.Set(ctx, k, "v", 0)
		if i%3 == 0 { // some keys of other types, to check TYPE too
			pipe.HSet(ctx, "h:"+strconv.Itoa(i), "f", "v")
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	type scanner struct {
		rdb     *redis.Client
		cursor  uint64
		started bool
		done    bool
		seen    map[string]bool
		stable  map[string]bool // keys present when it started
	}
	var scanners []*scanner
	for i := 0; i < 4; i++ {
		scanners = append(scanners, &scanner{rdb: newClient2(t, addr, 2), seen: map[string]bool{}})
	}
	churn := 0
	for round := 0; ; round++ {
		if round > 100000 {
			t.Fatal("the scans did not finish")
		}
		active := 0
		for i, sc := range scanners {
			// Scanners start at different times, so their cursors are at
			// different places in the keyspace.
			if sc.done || round < i*40 {
				if !sc.done {
					active++
				}
				continue
			}
			active++
			if !sc.started {
				sc.started = true
				sc.stable = map[string]bool{}
				for k := range stable {
					sc.stable[k] = true
				}
			}
			keys, next, err := sc.rdb.Scan(ctx, sc.cursor, "", int64(5+rng.Intn(20))).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				sc.seen[k] = true
			}
			sc.cursor = next
			if next == 0 {
				sc.done = true
			}
		}
		if active == 0 {
			break
		}
		// Between calls: add new keys, and delete keys that then stop
		// being stable for every scanner.
		pipe := admin.Pipeline()
		for j := 0; j < 10; j++ {
			churn++
			pipe.Set(ctx, "added:"+strconv.Itoa(churn), "v", 0)
		}
		for j := 0; j < 3; j++ {
			k := "s:" + strconv.Itoa(rng.Intn(3000))
			if stable[k] {
				delete(stable, k)
				for _, sc := range scanners {
					delete(sc.stable, k)
				}
				pipe.Del(ctx, k)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, sc := range scanners {
		missed := 0
		for k := range sc.stable {
			if !sc.seen[k] {
				missed++
			}
		}
		if missed > 0 {
			t.Errorf("scanner %d missed %d of %d keys present throughout its iteration", i, missed, len(sc.stable))
		}
	}

	// A last full iteration with go-redis's iterator and a TYPE filter
	// sees every key that exists now.
	want := int(admin.DBSize(ctx).Val())
	seen := map[string]bool{}
	it := admin.ScanType(ctx, 0, "", 100, "string").Iterator()
	for it.Next(ctx) {
		seen[it.Val()] = true
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	const hashes = 1000 // h:0, h:3, ... h:2997
	if len(seen) != want-hashes {
		t.Fatalf("SCAN TYPE string returned %d keys, want %d", len(seen), want-hashes)
	}
}

// TestCollectionScanInterleaved checks HSCAN, SSCAN and ZSCAN the same
// way: several iterations over one large collection, interleaved call by
// call, with elements added and removed between calls.
func TestCollectionScanInterleaved(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	const n = 2000

	type kind struct {
		name string
		add  func(p redis.Pipeliner, m string)
		del  func(p redis.Pipeliner, m string)
		scan func(cur uint64, count int64) ([]string, uint64, error)
		step int // reply items per element
	}
	kinds := []kind{
		{"hash", func(p redis.Pipeliner, m string) { p.HSet(ctx, "h", m, "v") },
			func(p redis.Pipeliner, m string) { p.HDel(ctx, "h", m) },
			func(cur uint64, c int64) ([]string, uint64, error) { return rdb.HScan(ctx, "h", cur, "", c).Result() }, 2},
		{"set", func(p redis.Pipeliner, m string) { p.SAdd(ctx, "s", m) },
			func(p redis.Pipeliner, m string) { p.SRem(ctx, "s", m) },
			func(cur uint64, c int64) ([]string, uint64, error) { return rdb.SScan(ctx, "s", cur, "", c).Result() }, 1},
		{"zset", func(p redis.Pipeliner, m string) { p.ZAdd(ctx, "z", redis.Z{Score: 1, Member: m}) },
			func(p redis.Pipeliner, m string) { p.ZRem(ctx, "z", m) },
			func(cur uint64, c int64) ([]string, uint64, error) { return rdb.ZScan(ctx, "z", cur, "", c).Result() }, 2},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(9))
			stable := map[string]bool{}
			pipe := rdb.Pipeline()
			for i := 0; i < n; i++ {
				m := "m" + strconv.Itoa(i)
				stable[m] = true
				k.add(pipe, m)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			type iter struct {
				cur     uint64
				done    bool
				started bool
				seen    map[string]bool
				stable  map[string]bool
			}
			iters := make([]*iter, 3)
			for i := range iters {
				iters[i] = &iter{seen: map[string]bool{}}
			}
			added := 0
			for round := 0; round < 100000; round++ {
				active := 0
				for i, it := range iters {
					if it.done {
						continue
					}
					active++
					if round < i*30 {
						continue
					}
					if !it.started {
						it.started = true
						it.stable = map[string]bool{}
						for m := range stable {
							it.stable[m] = true
						}
					}
					items, next, err := k.scan(it.cur, int64(5+rng.Intn(20)))
					if err != nil {
						t.Fatal(err)
					}
					for j := 0; j < len(items); j += k.step {
						it.seen[items[j]] = true
					}
					it.cur = next
					it.done = next == 0
				}
				if active == 0 {
					break
				}
				pipe := rdb.Pipeline()
				for j := 0; j < 10; j++ {
					added++
					k.add(pipe, "added"+strconv.Itoa(added))
				}
				for j := 0; j < 3; j++ {
					m := "m" + strconv.Itoa(rng.Intn(n))
					if stable[m] {
						delete(stable, m)
						for _, it := range iters {
							delete(it.stable, m)
						}
						k.del(pipe, m)
					}
				}
				if _, err := pipe.Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for i, it := range iters {
				if !it.done {
					t.Fatalf("iteration %d did not finish", i)
				}
				for m := range it.stable {
					if !it.seen[m] {
						t.Fatalf("iteration %d missed %s, present throughout", i, m)
					}
				}
			}
		})
	}
}

// TestScanSpansShardsAndExpiresLazily: on 8 shards, SCAN 0 over a small
// keyspace returns it whole with cursor 0, as Redis does, and the expired
// keys it meets are deleted, each propagated as a DEL of its own (Redis's
// "SCAN: Lazy-expire should not be wrapped in MULTI/EXEC").
func TestScanSpansShardsAndExpiresLazily(t *testing.T) {
	p := startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync", "no")
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	if err := c.Do(ctx, "DEBUG", "SET-ACTIVE-EXPIRE", "0").Err(); err != nil {
		t.Fatal(err)
	}
	live := map[string]bool{}
	for i := 0; i < 6; i++ {
		k := "live:" + strconv.Itoa(i)
		live[k] = true
		c.Set(ctx, k, "v", 0)
	}
	c.Set(ctx, "gone:1", "v", time.Millisecond)
	c.Set(ctx, "gone:2", "v", time.Millisecond)
	time.Sleep(10 * time.Millisecond)

	nc := fakeReplica(t, p.addr, c)
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	skipPayload(t, br)

	keys, cursor, err := c.Scan(ctx, 0, "", 10).Result()
	if err != nil || cursor != 0 || len(keys) != len(live) {
		t.Fatalf("SCAN 0 = %v, cursor %d, %v; want the %d live keys and cursor 0", keys, cursor, err, len(live))
	}
	for _, k := range keys {
		if !live[k] {
			t.Fatalf("SCAN returned %q", k)
		}
	}
	var dels []string
	for len(dels) < 2 {
		cmd, err := readCommand(br)
		if err != nil {
			t.Fatalf("reading the stream after %v: %v", dels, err)
		}
		switch strings.ToUpper(cmd[0]) {
		case "PING", "SELECT", "REPLCONF":
		case "DEL":
			dels = append(dels, cmd[1:]...)
		default:
			t.Fatalf("stream has %v after %v, want only DELs", cmd, dels)
		}
	}
	sort.Strings(dels)
	if dels[0] != "gone:1" || dels[1] != "gone:2" {
		t.Fatalf("DELs of %v", dels)
	}
	if n := c.DBSize(ctx).Val(); n != int64(len(live)) {
		t.Fatalf("DBSIZE %d after SCAN, want %d", n, len(live))
	}
}

// skipPayload reads a full sync's +FULLRESYNC line and its RDB from a
// disk-based sync ($<len> then the bytes), leaving br at the stream.
func skipPayload(t *testing.T, br *bufio.Reader) {
	t.Helper()
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("waiting for the payload: %v", err)
		}
		if strings.HasPrefix(line, "$") {
			n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
			if err != nil {
				t.Fatalf("payload header %q", line)
			}
			if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}
