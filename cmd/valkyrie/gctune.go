package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// runtimeHeapMinimum is the Go runtime's smallest heap goal at GOGC=100; it
// scales with the GC percent (4 MiB * GOGC/100).
const runtimeHeapMinimum = 4 << 20

// gcTuner keeps the garbage collector's heap goal at about
// max(live*(1+base/100), live+headroom).
//
// A fixed GOGC bounds the heap at a multiple of the live data, which is what
// a key-value store wants once it holds a lot. On a small heap the same
// percentage is a few hundred KiB, so a stream of 1 KiB SETs to one key
// (redis-benchmark's default) ran a GC cycle every thousand commands (the
// runtime's minimum goal at GOGC=25 is 1 MiB): 215 cycles for 200,000 SETs,
// 12% of the CPU, with marking roots (goroutine stacks, globals) and
// assists on every cycle. With 16 MiB of headroom it is 18 cycles and under
// 1%. The tuner raises the percentage while the live heap is small, so
// that at least headroom bytes are allocated between cycles, and falls back
// to base as soon as base alone gives that much.
//
// It runs after every collection, from a cleanup attached to a sentinel
// object that each run replaces; it starts no goroutine of its own and costs
// nothing while nothing allocates. stop ends it and restores base.
type gcTuner struct {
	base     int    // GC percent for heaps of at least headroom*100/base
	headroom uint64 // least bytes allocated between two cycles

	mu      sync.Mutex // cleanups may run concurrently with stop
	stopped bool
	percent int // GC percent last set
	sample  [1]metrics.Sample
}

// gcSentinel is the object whose collection marks the end of a GC cycle. It
// holds a pointer so that it is not batched by the tiny allocator, whose
// objects' cleanups may never run.
type gcSentinel struct{ _ *byte }

// startGCTuner sets the GC percent to base and keeps adjusting it after
// every collection until stop is called.
func startGCTuner(base int, headroom uint64) *gcTuner {
	t := &gcTuner{base: base, headroom: headroom, percent: base}
	t.sample[0].Name = "/gc/heap/live:bytes"
	debug.SetGCPercent(base)
	t.arm()
	return t
}

// arm attaches the tuning cleanup to a fresh sentinel that nothing refers
// to, so it runs after the next collection.
func (t *gcTuner) arm() {
	runtime.AddCleanup(new(gcSentinel), (*gcTuner).tune, t)
}

// tune runs once per GC cycle: it sets the GC percent for the live heap the
// cycle found and re-arms.
func (t *gcTuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	metrics.Read(t.sample[:])
	live := uint64(0)
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	if p := t.percentFor(live); p != t.percent {
		t.percent = p
		debug.SetGCPercent(p)
	}
	t.arm()
}

// percentFor returns the GC percent that gives a heap of live bytes a goal
// at least headroom above it, but never below base. The runtime's minimum
// goal grows with the percent (runtimeHeapMinimum*percent/100), so the
// percent is also capped where that minimum reaches headroom: below
// runtimeHeapMinimum of live data the goal is then headroom itself rather
// than a multiple of it.
func (t *gcTuner) percentFor(live uint64) int {
	ceiling := t.headroom * 100 / runtimeHeapMinimum
	p := ceiling
	if live > 0 {
		p = min(t.headroom*100/live, ceiling)
	}
	return max(int(p), t.base)
}

// stop ends the tuning and restores the base percent.
func (t *gcTuner) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	t.percent = t.base
	debug.SetGCPercent(t.base)
}

// current returns the GC percent the tuner last set.
func (t *gcTuner) current() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.percent
}
