package osmem

import (
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// Keep is the largest buffer capacity worth keeping between requests.
	// A bigger buffer is dropped after use and reported to Released.
	Keep = 256 << 10

	// Threshold is how many released bytes make returning memory to the
	// OS worth a forced collection.
	Threshold = 32 << 20

	// Interval is the shortest time between two forced collections.
	Interval = time.Second

	// settle lets the other connections of a burst drop their buffers
	// too, so that one collection returns them all.
	settle = 100 * time.Millisecond
)

var (
	released atomic.Int64 // bytes dropped since the last FreeOSMemory

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
	if released.Add(int64(n)) < Threshold {
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
	runs.Add(1)
	mu.Lock()
	scheduled = false
	mu.Unlock()
	// Buffers dropped while this ran are covered by the next run.
	if released.Load() >= Threshold {
		schedule()
	}
}

// Runs reports how many times memory was returned to the OS (for tests).
func Runs() int64 { return runs.Load() }
