package shard

import (
	"strconv"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// benchBatch builds a batch of n calls of cmd over distinct keys.
func benchBatch(cmd string, n int, withValue bool) *Batch {
	c := Lookup(cmd)
	b := &Batch{Proto: wire.RESP2}
	for i := 0; i < n; i++ {
		args := [][]byte{[]byte(cmd), []byte("key:" + strconv.Itoa(i))}
		if withValue {
			args = append(args, []byte("0123456789abcdef"))
		}
		b.Calls = append(b.Calls, Call{Cmd: c, Args: args})
	}
	return b
}

// numberStatsForBench numbers the data commands as the server does, so
// that benchmarks pay for INFO commandstats counting.
func numberStatsForBench() {
	var specs []*Spec
	for _, c := range Commands() {
		specs = append(specs, &c.Spec)
	}
	NumberStats(specs)
}

// BenchmarkExecGet measures a pipelined batch of 100 GETs on one shard,
// the work a shard does per message. Steady state must not allocate.
func BenchmarkExecGet(b *testing.B) {
	s := benchShard()
	s.Exec(benchBatch("set", 100, true), 0)
	benchExec(b, s, benchBatch("get", 100, false), nil)
}

// BenchmarkExecSet measures 100 SETs that overwrite existing keys: the key
// and value copies are the only allocations.
func BenchmarkExecSet(b *testing.B) {
	s := benchShard()
	batch := benchBatch("set", 100, true)
	s.Exec(batch, 0)
	benchExec(b, s, batch, nil)
}

func TestExecGetDoesNotAllocate(t *testing.T) {
	numberStatsForBench()
	s := New(0)
	s.SetSlowlog(NewSlowlog())
	s.Exec(benchBatch("set", 100, true), 0)
	batch := benchBatch("get", 100, false)
	s.Exec(batch, 0) // grow Out and Ends once
	allocs := testing.AllocsPerRun(100, func() {
		batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
		s.Exec(batch, 0)
	})
	if allocs != 0 {
		t.Fatalf("a batch of 100 GETs allocated %.1f times; want 0", allocs)
	}
}

// allocsPerCall reports the allocations per call of a batch of n copies
// of args, after one warm-up run.
func allocsPerCall(t *testing.T, s *Shard, n int, args ...string) float64 {
	t.Helper()
	c := Lookup(args[0])
	b := &Batch{Proto: wire.RESP2}
	for i := 0; i < n; i++ {
		a := make([][]byte, len(args))
		for j, x := range args {
			a[j] = []byte(x)
		}
		b.Calls = append(b.Calls, Call{Cmd: c, Args: a})
	}
	run := func() {
		b.Out, b.Ends = b.Out[:0], b.Ends[:0]
		s.Exec(b, 0)
	}
	run()
	return testing.AllocsPerRun(20, run) / float64(n)
}

// INCR above the shared small integers makes one allocation, the key and
// its digits together: it used to box the old value, box the new one and
// copy the key apart (four).
func TestIncrAllocatesOnce(t *testing.T) {
	s := New(0)
	b := benchBatch("set", 1, false)
	b.Calls[0].Args = [][]byte{[]byte("set"), []byte("counter:__rand_int__"), []byte("123456")}
	s.Exec(b, 0)
	if got := allocsPerCall(t, s, 100, "incr", "counter:__rand_int__"); got > 1 {
		t.Fatalf("INCR made %.2f allocations, want 1", got)
	}
	if got := s.DB(0).strs["counter:__rand_int__"].str(); got != strconv.Itoa(123456+100*22) {
		t.Fatalf("counter = %s", got)
	}
}

// HSET of an existing field makes one allocation, field and value
// together (it used to copy them apart, and to hash the field twice).
func TestHSetAllocatesOnce(t *testing.T) {
	s := New(0)
	val := string(make([]byte, 1024))
	if got := allocsPerCall(t, s, 100, "hset", "myhash", "element:__rand_int__", val); got > 1 {
		t.Fatalf("HSET made %.2f allocations, want 1", got)
	}
	h := s.DB(0).objs["myhash"].v.(*Hash)
	if v, _ := h.getString("element:__rand_int__"); h.Len() != 1 || v != val {
		t.Fatalf("hash = %d fields", h.Len())
	}
}

// smallHashBatch builds n calls of cmd on 100 hashes of 5 fields each,
// args giving the rest of each call after the key.
func smallHashBatch(cmd string, args ...string) *Batch {
	c := Lookup(cmd)
	b := &Batch{Proto: wire.RESP2}
	for i := 0; i < 100; i++ {
		a := [][]byte{[]byte(cmd), []byte("hash:" + strconv.Itoa(i))}
		for _, x := range args {
			a = append(a, []byte(x))
		}
		b.Calls = append(b.Calls, Call{Cmd: c, Args: a})
	}
	return b
}

// loadSmallHashes fills 100 hashes of 5 short fields.
func loadSmallHashes(s *Shard) {
	s.Exec(smallHashBatch("hset", "name", "alice", "email", "alice@example.com",
		"age", "33", "city", "paris", "visits", "12"), 0)
}

// BenchmarkHSetSmall measures HSET updating one field of 100 small
// (listpack-sized) hashes: field and value copied together is the only
// allocation.
func BenchmarkHSetSmall(b *testing.B) {
	s := New(0)
	loadSmallHashes(s)
	batch := smallHashBatch("hset", "city", "berlin")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
		s.Exec(batch, 0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/cmd")
}

// BenchmarkHGetSmall measures HGET on 100 small hashes; it must not
// allocate.
func BenchmarkHGetSmall(b *testing.B) {
	s := New(0)
	loadSmallHashes(s)
	batch := smallHashBatch("hget", "visits")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
		s.Exec(batch, 0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/cmd")
}

// BenchmarkHSetNew measures creating 100 small hashes of 5 fields.
func BenchmarkHSetNew(b *testing.B) {
	s := New(0)
	set := smallHashBatch("hset", "name", "alice", "email", "alice@example.com",
		"age", "33", "city", "paris", "visits", "12")
	del := smallHashBatch("del")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		set.Out, set.Ends = set.Out[:0], set.Ends[:0]
		s.Exec(set, 0)
		del.Out, del.Ends = del.Out[:0], del.Ends[:0]
		s.Exec(del, 0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/hash")
}

// BenchmarkExecIncr measures a batch of 100 INCRs of existing counters.
func BenchmarkExecIncr(b *testing.B) {
	s := benchShard()
	batch := benchBatch("incr", 100, false)
	s.Exec(batch, 0)
	benchExec(b, s, batch, nil)
}

// BenchmarkExecIncrInPlace is BenchmarkExecIncr with keys as long as
// redis-benchmark's (counter:__rand_int__): key and number make at least
// 16 bytes, so the number is written over the old one.
func BenchmarkExecIncrInPlace(b *testing.B) {
	s := benchShard()
	batch := benchBatch("incr", 100, false)
	for i := range batch.Calls {
		batch.Calls[i].Args[1] = []byte("counter:__rand_int__:" + strconv.Itoa(i))
	}
	set := &Batch{Proto: wire.RESP2}
	for _, call := range batch.Calls { // past the shared integers
		set.Calls = append(set.Calls, Call{Cmd: Lookup("set"), Args: [][]byte{[]byte("set"), call.Args[1], []byte("100000")}})
	}
	s.Exec(set, 0)
	s.Exec(batch, 0) // the first INCR allocates the key's own string
	benchExec(b, s, batch, nil)
}

// BenchmarkExecLPush measures a batch of 100 LPUSHes onto existing lists
// (trimmed back now and then so they stay small).
func BenchmarkExecLPush(b *testing.B) {
	s := benchShard()
	batch := benchBatch("lpush", 100, true)
	s.Exec(batch, 0)
	benchExec(b, s, batch, benchBatch("del", 100, false))
}

// benchShard is a shard set up as the server runs one: commands numbered
// for INFO commandstats, latency tracking on, a MONITOR feed.
func benchShard() *Shard {
	numberStatsForBench()
	s := New(0)
	s.SetSlowlog(NewSlowlog())
	s.SetMonitor(NewMonitor(func([]byte) {}))
	return s
}

// benchExec runs batch b.N times on s and reports the time per command.
// A reset batch, if any, runs untimed every 1000 runs (to keep collections
// small).
func benchExec(b *testing.B, s *Shard, batch, reset *Batch) {
	now := time.Now().UnixMilli()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if reset != nil && i%1000 == 999 {
			b.StopTimer()
			reset.Out, reset.Ends = reset.Out[:0], reset.Ends[:0]
			s.Exec(reset, now)
			b.StartTimer()
		}
		batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
		s.Exec(batch, now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch.Calls)), "ns/cmd")
}

// BenchmarkExecEmptyPop measures pops of a missing key, as redis-benchmark's
// ZPOPMIN, SPOP and LPOP tests send them without filling a key first: a
// write command that changes nothing should cost about what GET costs.
func BenchmarkExecEmptyPop(b *testing.B) {
	for _, cmd := range []string{"get", "zpopmin", "spop", "lpop"} {
		b.Run(cmd, func(b *testing.B) {
			benchExec(b, benchShard(), benchBatch(cmd, 100, false), nil)
		})
	}
}

// BenchmarkExecMSet measures redis-benchmark's MSET: ten pairs that all
// name the same key, with 3-byte values, overwritten in place.
func BenchmarkExecMSet(b *testing.B) {
	c := Lookup("mset")
	batch := &Batch{Proto: wire.RESP2}
	for i := 0; i < 100; i++ {
		args := [][]byte{[]byte("mset")}
		for j := 0; j < 10; j++ {
			args = append(args, []byte("key:__rand_int__"), []byte("xxx"))
		}
		batch.Calls = append(batch.Calls, Call{Cmd: c, Args: args})
	}
	benchExec(b, benchShard(), batch, nil)
}
