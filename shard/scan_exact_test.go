package shard

import (
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// runDB executes one command on database db of s and returns the raw reply.
func runDB(s *Shard, db int, now int64, args ...string) string {
	cmd := Lookup(strings.ToLower(args[0]))
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	b := &Batch{DB: db, Proto: wire.RESP2, NumShards: 1, Calls: []Call{{Cmd: cmd, Args: argv}}}
	s.Exec(b, now)
	return string(b.Reply(0))
}

// checkIndexAll verifies that every live SCAN index of s holds exactly its
// database's keys, each once.
func checkIndexAll(t *testing.T, s *Shard, what string) {
	t.Helper()
	for i := range s.dbs {
		db := &s.dbs[i]
		if db.scanKeys == nil {
			continue
		}
		got := map[string]int{}
		total := 0
		for _, b := range db.scanKeys.buckets {
			for _, e := range b {
				got[e.name]++
				total++
			}
		}
		if total != db.scanKeys.n {
			t.Fatalf("after %s: db %d index n=%d, holds %d", what, i, db.scanKeys.n, total)
		}
		for k, c := range got {
			if c != 1 {
				t.Fatalf("after %s: db %d key %q indexed %d times", what, i, k, c)
			}
			_, a := db.strs[k]
			_, o := db.objs[k]
			if !a && !o {
				t.Fatalf("after %s: db %d index holds deleted key %q", what, i, k)
			}
		}
		for k := range db.strs {
			if got[k] != 1 {
				t.Fatalf("after %s: db %d string key %q not indexed", what, i, k)
			}
		}
		for k := range db.objs {
			if got[k] != 1 {
				t.Fatalf("after %s: db %d key %q not indexed", what, i, k)
			}
		}
	}
}

// TestScanIndexExactUnderEveryWrite runs a random mix of every kind of
// command that adds, deletes, moves, renames, restores, empties, swaps or
// expires keys (lazily and actively) across three databases, with SCAN
// keeping indexes alive, and checks after each command that the indexes
// hold exactly the keys: a path that wrote the maps without DB.set or
// DB.remove would leave SCAN missing or repeating keys.
func TestScanIndexExactUnderEveryWrite(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	s := New(0)
	key := func() string { return "k" + strconv.Itoa(rng.Intn(40)) }
	dbn := func() string { return strconv.Itoa(rng.Intn(3)) }
	var dump string
	ops := []func() []string{
		func() []string { return []string{"SET", key(), "v"} },
		func() []string { return []string{"SET", key(), "v", "PX", strconv.Itoa(1 + rng.Intn(5))} },
		func() []string { return []string{"DEL", key(), key()} },
		func() []string { return []string{"UNLINK", key()} },
		func() []string { return []string{"GETDEL", key()} },
		func() []string { return []string{"PEXPIRE", key(), strconv.Itoa(rng.Intn(5))} },
		func() []string { return []string{"EXPIRE", key(), "-1"} },
		func() []string { return []string{"RENAME", key(), key()} },
		func() []string { return []string{"RENAMENX", key(), key()} },
		func() []string { return []string{"MOVE", key(), dbn()} },
		func() []string { return []string{"COPY", key(), key(), "DB", dbn()} },
		func() []string { return []string{"COPY", key(), key(), "REPLACE"} },
		func() []string { return []string{"SWAPDB", "0", dbn()} },
		func() []string { return []string{"LPUSH", key(), "a", "b"} },
		func() []string { return []string{"LPOP", key(), "3"} },
		func() []string { return []string{"RPOPLPUSH", key(), key()} },
		func() []string { return []string{"LMOVE", key(), key(), "LEFT", "RIGHT"} },
		func() []string { return []string{"LTRIM", key(), "5", "3"} },
		func() []string { return []string{"LREM", key(), "0", "a"} },
		func() []string { return []string{"SADD", key(), "a"} },
		func() []string { return []string{"SREM", key(), "a"} },
		func() []string { return []string{"SPOP", key()} },
		func() []string { return []string{"SMOVE", key(), key(), "a"} },
		func() []string { return []string{"SINTERSTORE", key(), key(), key()} },
		func() []string { return []string{"SUNIONSTORE", key(), key()} },
		func() []string { return []string{"SDIFFSTORE", key(), key(), key()} },
		func() []string { return []string{"HSET", key(), "f", "v"} },
		func() []string { return []string{"HDEL", key(), "f"} },
		func() []string { return []string{"ZADD", key(), "1", "a"} },
		func() []string { return []string{"ZREM", key(), "a"} },
		func() []string { return []string{"ZPOPMIN", key()} },
		func() []string { return []string{"ZREMRANGEBYRANK", key(), "0", "-1"} },
		func() []string { return []string{"ZUNIONSTORE", key(), "1", key()} },
		func() []string { return []string{"ZINTERSTORE", key(), "2", key(), key()} },
		func() []string { return []string{"ZRANGESTORE", key(), key(), "5", "9"} },
		func() []string { return []string{"SORT", key(), "ALPHA", "STORE", key()} },
		func() []string { return []string{"BITOP", "AND", key(), key(), key()} },
		func() []string { return []string{"SETRANGE", key(), "0", ""} },
		func() []string { return []string{"APPEND", key(), "x"} },
		func() []string { return []string{"INCR", key()} },
		func() []string { return []string{"PFADD", key(), "a"} },
		func() []string { return []string{"GEOADD", key(), "1", "1", "a"} },
		func() []string {
			return []string{"GEOSEARCHSTORE", key(), key(), "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km"}
		},
		func() []string { return []string{"XADD", key(), "*", "a", "b"} },
		func() []string { return []string{"XTRIM", key(), "MAXLEN", "0"} },
		func() []string { return []string{"GETEX", key(), "PX", "2"} },
		func() []string { return []string{"SET", key(), "v", "GET", "KEEPTTL"} },
		func() []string { return []string{"MSETNX", key(), "1", key(), "2"} },
		func() []string { return []string{"SETNX", key(), "1"} },
		func() []string { return []string{"FLUSHDB", "ASYNC"} },
		func() []string { return []string{"EXISTS", key()} },
		func() []string { return []string{"TYPE", key()} },
		func() []string { return []string{"RANDOMKEY"} },
		func() []string { return []string{"KEYS", "*"} },
		func() []string { return []string{"DUMP", key()} },
		func() []string { return []string{"RESTORE", key(), "0", dump, "REPLACE"} },
		func() []string { return []string{"RESTORE", key(), "3", dump, "REPLACE"} },
		func() []string { return []string{"SCAN", "0", "COUNT", "1000"} },
	}
	now := int64(1000)
	for i := 0; i < 30000; i++ {
		if i%2000 == 1999 {
			runDB(s, rng.Intn(3), now, "FLUSHALL")
		}
		db := rng.Intn(3)
		if rng.Intn(4) == 0 {
			runDB(s, db, now, "SCAN", "0", "COUNT", "3")
		}
		args := ops[rng.Intn(len(ops))]()
		r := runDB(s, db, now, args...)
		if args[0] == "DUMP" && strings.HasPrefix(r, "$") && !strings.HasPrefix(r, "$-1") {
			dump = r[strings.Index(r, "\r\n")+2 : len(r)-2]
		}
		if strings.HasPrefix(r, "-ERR internal") {
			t.Fatalf("%v: %s", args, r)
		}
		checkIndexAll(t, s, strings.Join(args, " "))
		now += int64(rng.Intn(2))
		if i%50 == 0 {
			s.Tick(now)
			checkIndexAll(t, s, "tick")
		}
	}
}
