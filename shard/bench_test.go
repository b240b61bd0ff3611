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

// BenchmarkExecGet measures a pipelined batch of 100 GETs on one shard,
// the work a shard does per message. Steady state must not allocate.
func BenchmarkExecGet(b *testing.B) {
	s := New(0)
	s.Exec(benchBatch("set", 100, true), 0)
	batch := benchBatch("get", 100, false)
	now := time.Now().UnixMilli()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
		s.Exec(batch, now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/cmd")
}

// BenchmarkExecSet measures 100 SETs that overwrite existing keys: the key
// and value copies are the only allocations.
func BenchmarkExecSet(b *testing.B) {
	s := New(0)
	batch := benchBatch("set", 100, true)
	now := time.Now().UnixMilli()
	s.Exec(batch, now)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
		s.Exec(batch, now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/cmd")
}

func TestExecGetDoesNotAllocate(t *testing.T) {
	s := New(0)
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
