package conn

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestBgsaveRandomWorkloadFilesAreConsistent runs commands of every type
// from several clients against an 8-shard server while BGSAVE (and now
// and then DEBUG RELOAD) runs again and again, keeps a copy of every file
// written, and loads each one in a fresh server to check invariants that
// hold at every instant:
//   - group keys of every type, moved together by one transaction across
//     shards (and by SORT STORE, SUNIONSTORE, COPY inside it), agree;
//   - static keys that are only ever read, rewritten with the same value,
//     renamed away and back, moved to another database and back, given a
//     TTL and made persistent again, each inside one transaction, are all
//     in every file as they were written (a key left with the wrong mark
//     by one snapshot would be missing from the next);
//   - a list fed in a transaction with its counter and drained by BLMOVE
//     into another list on another shard holds as many elements in the two
//     lists as the counter says;
//   - databases swapped by SWAPDB, and one database flushed and refilled
//     in a transaction, are each whole;
//   - two counters a script increments together agree.
//
// A file holding a key twice fails to load.
func TestBgsaveRandomWorkloadFilesAreConsistent(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	dir := t.TempDir()
	keep := t.TempDir()
	s := startPersistServer(t, 8, dir)
	ctx := context.Background()
	setup := newClient2(t, s.addr, 2)

	const statics = 400
	staticVal := func(i int) string { return "static-value-" + strconv.Itoa(i) + strings.Repeat("#", i%50) }
	p := setup.Pipeline()
	for i := 0; i < statics; i++ {
		k := "st:" + strconv.Itoa(i)
		switch i % 6 {
		case 0:
			p.Set(ctx, k, staticVal(i), 0)
		case 1:
			p.HSet(ctx, k, "f", staticVal(i), "g", "2")
		case 2:
			p.RPush(ctx, k, staticVal(i), "b", "c")
		case 3:
			p.SAdd(ctx, k, staticVal(i), "x")
		case 4:
			p.ZAdd(ctx, k, redis.Z{Score: float64(i), Member: staticVal(i)})
		case 5:
			p.XAdd(ctx, &redis.XAddArgs{Stream: k, ID: "1-1", Values: []string{"v", staticVal(i)}})
		}
	}
	p.Select(ctx, 2)
	p.Set(ctx, "side", "A", 0)
	p.Set(ctx, "x", 0, 0)
	p.Select(ctx, 3)
	p.Set(ctx, "side", "B", 0)
	p.Set(ctx, "x", 0, 0)
	p.Select(ctx, 0)
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := setup.Do(ctx, "debug", "populate", 100000, "bulk", 30).Err(); err != nil {
		t.Fatal(err)
	}

	// The saver writes files for 3 s, and at least 5 of them however slow
	// the machine (a race-enabled build on a busy CI runner), within 60 s.
	deadline := time.Now().Add(3 * time.Second)
	hardDeadline := time.Now().Add(60 * time.Second)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var failed atomic.Value
	fail := func(format string, args ...any) {
		failed.CompareAndSwap(nil, fmt.Sprintf(format, args...))
		stop.Store(true)
	}
	run := func(name string, fn func(c *redis.Client, r *rand.Rand, n int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redis.NewClient(&redis.Options{Addr: s.addr, Protocol: 2, PoolSize: 2, ReadTimeout: 10 * time.Second})
			defer c.Close()
			r := rand.New(rand.NewPCG(uint64(len(name)), 7))
			for n := 0; !stop.Load() && time.Now().Before(hardDeadline) && n < 200000; n++ {
				fn(c, r, n)
			}
		}()
	}
	txOK := func(what string, cmds []redis.Cmder, err error) {
		if err != nil && err != redis.Nil {
			fail("%s: %v (%v)", what, err, cmds)
		}
	}

	// Groups: one transaction moves every key of a group together.
	for w := 0; w < 2; w++ {
		run("group"+strconv.Itoa(w), func(c *redis.Client, r *rand.Rand, n int) {
			g := "g" + strconv.Itoa(r.IntN(3)) + ":"
			seq := strconv.Itoa(w) + "-" + strconv.Itoa(n)
			cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, g+"ctr")
				p.HIncrBy(ctx, g+"h", "f", 1)
				p.ZIncrBy(ctx, g+"z", 1, "m")
				p.RPush(ctx, g+"l", seq)
				p.SAdd(ctx, g+"s", seq)
				p.XAdd(ctx, &redis.XAddArgs{Stream: g + "x", Values: []string{"s", seq}})
				p.Append(ctx, g+"a", "x")
				p.SetBit(ctx, g+"b", int64(w*1000000+n), 1)
				p.Incr(ctx, g+"ttl")
				p.Expire(ctx, g+"ttl", time.Hour)
				p.SUnionStore(ctx, g+"u", g+"s")
				p.Copy(ctx, g+"h", g+"hcopy", 0, true)
				p.SortStore(ctx, g+"l", g+"sorted", &redis.Sort{Alpha: true})
				return nil
			})
			txOK("group", cmds, err)
		})
	}
	// Statics: changed and changed back inside one transaction, or read.
	run("static", func(c *redis.Client, r *rand.Rand, n int) {
		i := r.IntN(statics)
		k := "st:" + strconv.Itoa(i)
		tmp := "tmp:" + strconv.Itoa(r.IntN(50))
		var cmds []redis.Cmder
		var err error
		switch r.IntN(7) {
		case 0:
			cmds, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Rename(ctx, k, tmp)
				p.Rename(ctx, tmp, k)
				return nil
			})
		case 1:
			cmds, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Expire(ctx, k, time.Minute)
				p.Persist(ctx, k)
				return nil
			})
		case 2:
			cmds, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Move(ctx, k, 5)
				p.Select(ctx, 5)
				p.Move(ctx, k, 0)
				p.Select(ctx, 0)
				return nil
			})
		case 3:
			cmds, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Copy(ctx, k, tmp, 0, true)
				p.Del(ctx, k)
				p.Rename(ctx, tmp, k)
				return nil
			})
		case 4:
			cmds, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Dump(ctx, k)
				p.Type(ctx, k)
				p.ObjectEncoding(ctx, k)
				p.Exists(ctx, k)
				p.Do(ctx, "memory", "usage", k)
				return nil
			})
		case 5:
			switch i % 6 {
			case 0:
				err = c.Set(ctx, k, staticVal(i), 0).Err()
				if err == nil {
					err = c.SetArgs(ctx, k, staticVal(i), redis.SetArgs{KeepTTL: true, Get: true}).Err()
				}
			case 1:
				err = c.HSet(ctx, k, "g", "2").Err()
			case 2:
				err = c.LSet(ctx, k, 1, "b").Err()
			case 3:
				err = c.SAdd(ctx, k, "x").Err()
			case 4:
				err = c.ZAdd(ctx, k, redis.Z{Score: float64(i), Member: staticVal(i)}).Err()
			case 5:
				err = c.XTrimMaxLen(ctx, k, 100).Err()
			}
		case 6:
			d, derr := c.Dump(ctx, k).Result()
			if derr != nil {
				fail("DUMP %s: %v", k, derr)
				return
			}
			err = c.RestoreReplace(ctx, k, 0, d).Err()
		}
		txOK("static "+k, cmds, err)
	})
	// A queue drained by BLMOVE into a list on another shard.
	run("producer", func(c *redis.Client, r *rand.Rand, n int) {
		cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.LPush(ctx, "q:in", n)
			p.Incr(ctx, "q:n")
			return nil
		})
		txOK("producer", cmds, err)
		if n%4 == 0 {
			time.Sleep(time.Millisecond)
		}
	})
	for w := 0; w < 2; w++ {
		run("consumer"+strconv.Itoa(w), func(c *redis.Client, r *rand.Rand, n int) {
			err := c.BLMove(ctx, "q:in", "q:out", "RIGHT", "LEFT", 20*time.Millisecond).Err()
			if err != nil && err != redis.Nil {
				fail("BLMOVE: %v", err)
			}
		})
	}
	// Streams with a consumer group.
	run("streams", func(c *redis.Client, r *rand.Rand, n int) {
		var err error
		switch r.IntN(4) {
		case 0:
			err = c.XGroupCreateMkStream(ctx, "xs", "grp", "0").Err()
			if err != nil && strings.HasPrefix(err.Error(), "BUSYGROUP") {
				err = nil
			}
		case 1:
			err = c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "grp", Consumer: "c" + strconv.Itoa(r.IntN(3)),
				Streams: []string{"xs", ">"}, Count: 2, Block: -1}).Err()
		case 2:
			err = c.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: "xs", Group: "grp", Consumer: "c9", Start: "0-0", Count: 3}).Err()
		case 3:
			err = c.XAdd(ctx, &redis.XAddArgs{Stream: "xs", MaxLen: 500, Approx: true, Values: []string{"n", strconv.Itoa(n)}}).Err()
		}
		if err != nil && err != redis.Nil && !strings.HasPrefix(err.Error(), "NOGROUP") {
			fail("streams: %v", err)
		}
	})
	// SWAPDB, and a database flushed and refilled, in transactions.
	run("dbs", func(c *redis.Client, r *rand.Rand, n int) {
		var cmds []redis.Cmder
		var err error
		switch r.IntN(3) {
		case 0:
			err = c.Do(ctx, "swapdb", 2, 3).Err()
		case 1:
			cmds, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Select(ctx, 2)
				p.Incr(ctx, "x")
				p.Select(ctx, 3)
				p.Incr(ctx, "x")
				p.Select(ctx, 0)
				return nil
			})
		case 2:
			v := "fill-" + strconv.Itoa(n)
			cmds, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Select(ctx, 4)
				p.FlushDB(ctx)
				for j := 0; j < 8; j++ {
					p.Set(ctx, "k"+strconv.Itoa(j), v, 0)
				}
				p.Select(ctx, 0)
				return nil
			})
		}
		txOK("dbs", cmds, err)
	})
	// Scripts, expiry, and churn of other keys.
	run("misc", func(c *redis.Client, r *rand.Rand, n int) {
		var err error
		switch r.IntN(6) {
		case 0:
			err = c.Eval(ctx, "redis.call('incr', KEYS[1]); redis.call('incr', KEYS[2]); return 1",
				[]string{"sa", "sb"}).Err()
		case 1:
			err = c.Set(ctx, "eph:"+strconv.Itoa(r.IntN(2000)), "x", time.Duration(1+r.IntN(30))*time.Millisecond).Err()
		case 2:
			err = c.Del(ctx, "bulk:"+strconv.Itoa(r.IntN(100000))).Err()
		case 3:
			err = c.Set(ctx, "bulk:"+strconv.Itoa(r.IntN(100000)), strings.Repeat("y", r.IntN(100)), 0).Err()
		case 4:
			err = c.Unlink(ctx, "big:"+strconv.Itoa(r.IntN(3))).Err()
		case 5:
			k := "big:" + strconv.Itoa(r.IntN(3))
			vals := make([]any, 100)
			for j := range vals {
				vals[j] = j + n
			}
			err = c.SAdd(ctx, k, vals...).Err()
		}
		if err != nil && err != redis.Nil {
			fail("misc: %v", err)
		}
	})

	// The saver: BGSAVE after BGSAVE, a DEBUG RELOAD now and then; a copy
	// of each file written.
	var files []string
	saver := newClient2(t, s.addr, 2)
	saves := func() int {
		n, _ := strconv.Atoi(persistInfo(t, saver, "persistence", "rdb_saves"))
		return n
	}
	for i := 0; (len(files) < 5 || time.Now().Before(deadline)) && time.Now().Before(hardDeadline) && !stop.Load(); i++ {
		before := saves()
		if i%5 == 4 {
			if err := saver.Do(ctx, "debug", "reload").Err(); err != nil {
				fail("DEBUG RELOAD: %v", err)
				break
			}
		} else {
			if err := saver.BgSave(ctx).Err(); err != nil {
				fail("BGSAVE: %v", err)
				break
			}
			for persistInfo(t, saver, "persistence", "rdb_bgsave_in_progress") != "0" {
				time.Sleep(time.Millisecond)
			}
			if st := persistInfo(t, saver, "persistence", "rdb_last_bgsave_status"); st != "ok" {
				fail("BGSAVE failed: %s", st)
				break
			}
		}
		if i%5 != 4 && saves() != before+1 {
			fail("rdb_saves went from %d to %d", before, saves())
			break
		}
		b, err := os.ReadFile(filepath.Join(dir, "dump.rdb"))
		if err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(keep, strconv.Itoa(i))
		os.Mkdir(d, 0o755)
		if err := os.WriteFile(filepath.Join(d, "dump.rdb"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, d)
	}
	stop.Store(true)
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatal(f)
	}
	if len(files) < 3 {
		t.Fatalf("only %d files written", len(files))
	}
	t.Logf("%d files", len(files))
	for _, d := range files {
		checkRandomWorkloadFile(t, d, statics, staticVal)
	}
}

// checkRandomWorkloadFile loads the file in d in a fresh server and checks
// the invariants of TestBgsaveRandomWorkloadFilesAreConsistent.
func checkRandomWorkloadFile(t *testing.T, d string, statics int, staticVal func(int) string) {
	t.Helper()
	ctx := context.Background()
	r := startPersistServer(t, 3, d)
	defer r.stop()
	c := redis.NewClient(&redis.Options{Addr: r.addr, Protocol: 2, PoolSize: 1})
	defer c.Close()
	name := filepath.Base(d)
	atoi := func(s string) int64 {
		if s == "" {
			return 0
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("file %s: %q is not a number", name, s)
		}
		return n
	}
	for g := 0; g < 3; g++ {
		p := "g" + strconv.Itoa(g) + ":"
		ctr := atoi(c.Get(ctx, p+"ctr").Val())
		if c.Exists(ctx, p+"ctr").Val() == 0 {
			continue
		}
		got := map[string]int64{
			"hash":   atoi(c.HGet(ctx, p+"h", "f").Val()),
			"zset":   int64(c.ZScore(ctx, p+"z", "m").Val()),
			"list":   c.LLen(ctx, p+"l").Val(),
			"set":    c.SCard(ctx, p+"s").Val(),
			"stream": c.XLen(ctx, p+"x").Val(),
			"append": c.StrLen(ctx, p+"a").Val(),
			"bits":   c.BitCount(ctx, p+"b", nil).Val(),
			"ttl":    atoi(c.Get(ctx, p+"ttl").Val()),
			"union":  c.SCard(ctx, p+"u").Val(),
			"copy":   atoi(c.HGet(ctx, p+"hcopy", "f").Val()),
			"sorted": c.LLen(ctx, p+"sorted").Val(),
		}
		for what, n := range got {
			if n != ctr {
				t.Errorf("file %s: group %s: counter %d, %s %d", name, p, ctr, what, n)
			}
		}
		if ttl := c.PTTL(ctx, p+"ttl").Val(); ttl <= 0 {
			t.Errorf("file %s: %sttl has no TTL (%v)", name, p, ttl)
		}
	}
	for i := 0; i < statics; i++ {
		k := "st:" + strconv.Itoa(i)
		want := staticVal(i)
		var ok bool
		switch i % 6 {
		case 0:
			ok = c.Get(ctx, k).Val() == want
		case 1:
			h := c.HGetAll(ctx, k).Val()
			ok = len(h) == 2 && h["f"] == want && h["g"] == "2"
		case 2:
			l := c.LRange(ctx, k, 0, -1).Val()
			ok = len(l) == 3 && l[0] == want && l[1] == "b" && l[2] == "c"
		case 3:
			ok = c.SCard(ctx, k).Val() == 2 && c.SIsMember(ctx, k, want).Val()
		case 4:
			z := c.ZRangeWithScores(ctx, k, 0, -1).Val()
			ok = len(z) == 1 && z[0].Member == want && z[0].Score == float64(i)
		case 5:
			x := c.XRange(ctx, k, "-", "+").Val()
			ok = len(x) == 1 && x[0].ID == "1-1" && x[0].Values["v"] == want
		}
		if !ok {
			t.Errorf("file %s: static key %s (type %s) is not as written", name, k, c.Type(ctx, k).Val())
		} else if ttl := c.PTTL(ctx, k).Val(); ttl != -1 {
			t.Errorf("file %s: static key %s has a TTL %v", name, k, ttl)
		}
	}
	if n := c.Exists(ctx, "tmp:0").Val(); n != 0 {
		t.Errorf("file %s: a transaction's temporary key is in the file", name)
	}
	if in, out, n := c.LLen(ctx, "q:in").Val(), c.LLen(ctx, "q:out").Val(), atoi(c.Get(ctx, "q:n").Val()); in+out != n {
		t.Errorf("file %s: queue: %d in + %d out, counter %d", name, in, out, n)
	}
	if a, b := atoi(c.Get(ctx, "sa").Val()), atoi(c.Get(ctx, "sb").Val()); a != b {
		t.Errorf("file %s: script counters %d and %d", name, a, b)
	}
	var sides []string
	var xs []int64
	for _, db := range []int{2, 3} {
		c.Do(ctx, "select", db)
		sides = append(sides, c.Get(ctx, "side").Val())
		xs = append(xs, atoi(c.Get(ctx, "x").Val()))
		if n := c.DBSize(ctx).Val(); n != 2 {
			t.Errorf("file %s: db %d holds %d keys, want 2", name, db, n)
		}
	}
	if !(sides[0] == "A" && sides[1] == "B" || sides[0] == "B" && sides[1] == "A") || xs[0] != xs[1] {
		t.Errorf("file %s: swapped databases: sides %v, counters %v", name, sides, xs)
	}
	c.Do(ctx, "select", 4)
	keys := c.Keys(ctx, "*").Val()
	if len(keys) != 0 && len(keys) != 8 {
		t.Errorf("file %s: db 4 holds %d keys: %v", name, len(keys), keys)
	}
	if len(keys) == 8 {
		vals := c.MGet(ctx, "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7").Val()
		for _, v := range vals {
			if v != vals[0] {
				t.Errorf("file %s: db 4 values differ: %v", name, vals)
				break
			}
		}
	}
	c.Do(ctx, "select", 5)
	if n := c.DBSize(ctx).Val(); n != 0 {
		t.Errorf("file %s: db 5 holds %d keys (MOVE and back went halfway)", name, n)
	}
	c.Do(ctx, "select", 0)
	if n := c.Keys(ctx, "bulk:*").Val(); len(n) == 0 {
		t.Errorf("file %s: no bulk keys", name)
	}
}
