package osmem

import (
	"bytes"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// Keep is the largest buffer capacity worth keeping between requests.
	// A bigger buffer is dropped after use and reported to Released.
	Keep = 256 << 10

	// Threshold is how many released bytes make returning memory to the
	// OS worth a forced collection, at least: on a larger heap it is the
	// live heap (see bar).
	Threshold = 32 << 20

	// Interval is the shortest time between two forced collections.
	Interval = time.Second

	// settle lets the other connections of a burst drop their buffers
	// too, so that one collection returns them all.
	settle = 100 * time.Millisecond
)

var (
	released atomic.Int64 // bytes dropped since the last FreeOSMemory

	// bar is the released bytes that start a return: Threshold, or the
	// live heap that the last return's collection found if more. A forced
	// collection marks the whole heap, so with a fixed bar its cost grew
	// with the data while its benefit did not: a client reading a 1 MiB
	// value 60 times a second forced a full collection every second,
	// which on a 300 MB heap of small keys doubled the server's CPU time
	// for those GETs. With the bar at the live heap, a forced collection
	// comes at most once per heap's worth of dropped buffers, a quarter
	// as often as the collector runs anyway at GOGC=25 for the same
	// allocation.
	bar atomic.Int64

	mu        sync.Mutex
	scheduled bool      // a timer is pending or FreeOSMemory is running
	last      time.Time // when the last FreeOSMemory started
	runs      atomic.Int64
)

// Released records that a buffer of n bytes was dropped. It is cheap for
// small n and never blocks on a collection.
func Released(n int) {
	if n <= Keep {
		return
	}
	if released.Add(int64(n)) < barBytes() {
		return
	}
	schedule()
}

func schedule() {
	mu.Lock()
	defer mu.Unlock()
	if scheduled {
		return
	}
	scheduled = true
	wait := settle
	if next := time.Until(last.Add(Interval)); next > wait {
		wait = next
	}
	time.AfterFunc(wait, free)
}

// free runs on the timer's goroutine, which ends when it returns.
func free() {
	mu.Lock()
	last = time.Now()
	mu.Unlock()
	released.Store(0)
	debug.FreeOSMemory()
	bar.Store(max(Threshold, liveHeap()))
	runs.Add(1)
	mu.Lock()
	scheduled = false
	mu.Unlock()
	// Buffers dropped while this ran are covered by the next run.
	if released.Load() >= barBytes() {
		schedule()
	}
}

func barBytes() int64 {
	if b := bar.Load(); b > 0 {
		return b
	}
	return Threshold
}

// liveHeap is the heap the last collection found live, in bytes.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(min(s[0].Value.Uint64(), 1<<62))
}

// Runs reports how many times memory was returned to the OS (for tests).
func Runs() int64 { return runs.Load() }

// Purge asks for memory to be returned to the OS soon (MEMORY PURGE). It
// goes through the same timer as Released, so however often it is called
// it forces at most one collection per Interval, and the caller never
// waits for one: a forced collection marks the whole heap.
func Purge() { schedule() }

// RSS reports the resident set size of the process in bytes, from
// /proc/self/statm; 0 where that cannot be read.
func RSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	// The second field is the resident page count.
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
