package shard

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// expectedUsed is what db.used must be: every string at its exact cost,
// every other value at what its entry records, every TTL at its cost.
func expectedUsed(db *DB) int64 {
	var n int64
	for k, e := range db.strs {
		n += strCost(len(k), e.len())
	}
	for _, e := range db.objs {
		n += e.bytes()
	}
	for k := range db.expires {
		n += ttlCost(len(k))
	}
	return n
}

// A random mix of commands of every type, TTLs, renames, moves, swaps,
// flushes and expiry keeps each database's total equal to the sum of its
// keys, and each value's record equal to a fresh estimate after a write.
func TestAccountingFollowsEveryChange(t *testing.T) {
	s := New(0)
	rng := rand.New(rand.NewPCG(1, 2))
	key := func() string { return "k" + strconv.Itoa(rng.IntN(40)) }
	val := func() string { return strings.Repeat("v", rng.IntN(300)) }
	now := int64(1_000_000)
	cmds := []func() []string{
		func() []string { return []string{"SET", key(), val()} },
		func() []string { return []string{"SET", key(), strconv.Itoa(rng.IntN(20000))} },
		func() []string { return []string{"APPEND", key(), val()} },
		func() []string { return []string{"SETRANGE", key(), strconv.Itoa(rng.IntN(50)), val()} },
		func() []string { return []string{"INCR", key()} },
		func() []string { return []string{"DEL", key()} },
		func() []string { return []string{"UNLINK", key(), key()} },
		func() []string { return []string{"LPUSH", key(), val(), val()} },
		func() []string { return []string{"RPOP", key()} },
		func() []string { return []string{"LTRIM", key(), "1", "-2"} },
		func() []string { return []string{"HSET", key(), "f" + strconv.Itoa(rng.IntN(9)), val()} },
		func() []string { return []string{"HDEL", key(), "f" + strconv.Itoa(rng.IntN(9))} },
		func() []string { return []string{"SADD", key(), val(), strconv.Itoa(rng.IntN(100))} },
		func() []string { return []string{"SREM", key(), strconv.Itoa(rng.IntN(100))} },
		func() []string { return []string{"ZADD", key(), strconv.Itoa(rng.IntN(100)), val()} },
		func() []string { return []string{"ZPOPMIN", key()} },
		func() []string { return []string{"XADD", key(), "*", "f", val()} },
		func() []string { return []string{"PFADD", key(), val()} },
		func() []string { return []string{"EXPIRE", key(), strconv.Itoa(1 + rng.IntN(3))} },
		func() []string { return []string{"PERSIST", key()} },
		func() []string { return []string{"RENAME", key(), key()} },
		func() []string { return []string{"COPY", key(), key(), "REPLACE"} },
		func() []string { return []string{"MOVE", key(), "1"} },
		func() []string { return []string{"SWAPDB", "0", "1"} },
		func() []string { return []string{"SUNIONSTORE", key(), key(), key()} },
		func() []string { return []string{"GETDEL", key()} },
		func() []string { return []string{"SET", key(), val(), "KEEPTTL"} },
	}
	check := func(step int, args []string) {
		for i := 0; i < 2; i++ {
			db := &s.dbs[i]
			if got, want := db.used, expectedUsed(db); got != want {
				t.Fatalf("step %d (%v): db %d accounts %d bytes, its keys %d", step, args, i, got, want)
			}
		}
	}
	for step := 0; step < 20000; step++ {
		args := cmds[rng.IntN(len(cmds))]()
		run(t, s, now, args...)
		check(step, args)
		if k := args[1]; len(args) > 1 && args[0] != "SWAPDB" {
			// Sets and large hashes sample in map order, which varies.
			if e, ok := s.dbs[0].objs[k]; ok && args[0] != "MOVE" && args[0] != "RENAME" && deterministicEstimate(e.v) {
				fresh := objEntry{v: e.v}
				if fresh.account(len(k)); fresh.size != e.size {
					t.Fatalf("step %d (%v): %q recorded at %d units, estimated at %d", step, args, k, e.size, fresh.size)
				}
			}
		}
		if step%500 == 0 {
			now += 1500 // some TTLs pass: lazy and active expiry
			s.Tick(now)
			check(step, []string{"tick"})
		}
		if step%5000 == 4999 {
			run(t, s, now, "FLUSHALL")
			check(step, []string{"FLUSHALL"})
		}
	}
	if s.Used() != s.dbs[0].used+s.dbs[1].used {
		t.Fatal("Used is not the sum of the databases")
	}
}

// Evicting from a shard frees what its keys were accounted for, and the
// budget sees the shard's figure at once.
func TestEvictionPublishesAsItGoes(t *testing.T) {
	s := New(0)
	b := NewBudget(1, nil)
	s.SetBudget(b)
	for i := 0; i < 100; i++ {
		run(t, s, 1000, "SET", "k"+strconv.Itoa(i), strings.Repeat("v", 100))
	}
	full := b.Data()
	if full != s.Used() || full == 0 {
		t.Fatalf("published %d, shard holds %d", full, s.Used())
	}
	b.Set(full/2, AllKeysLRU, 5, 100) // no time limit: a slow run must not stop early
	run(t, s, 1000, "GET", "k0")      // a batch evicts first
	if b.Data() > full/2 || b.Data() != s.Used() {
		t.Fatalf("after eviction: published %d, shard holds %d, limit %d", b.Data(), s.Used(), full/2)
	}
	if s.EvictedKeys() == 0 || s.EvictedKeys() > 60 {
		t.Fatalf("%d keys evicted to halve 100", s.EvictedKeys())
	}
}

func deterministicEstimate(v any) bool {
	switch v := v.(type) {
	case Set:
		return false
	case *Hash:
		return v.compact()
	}
	return true
}

// The tables allocBytes reads agree with a search of the size classes.
func TestClassTablesMatchSearch(t *testing.T) {
	for n := int64(1); n <= maxSmallAlloc; n++ {
		want := int64(0)
		for _, c := range sizeClasses {
			if int64(c) >= n {
				want = int64(c)
				break
			}
		}
		if got := allocBytes(n); got != want {
			t.Fatalf("allocBytes(%d) = %d, want %d", n, got, want)
		}
	}
}
