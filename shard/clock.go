package shard

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Every command is timed (INFO commandstats, latency histograms, the
// slowlog), so reading the clock is on the hot path: time.Since cost
// about 48 ns on the machine the benchmarks ran on, a third of a GET's
// work in the shard. Where the kernel keeps time with the processor's
// time-stamp counter (its clocksource is "tsc": the counter runs at a
// fixed rate and agrees across CPUs), Clock reads the counter instead
// (22 ns there) and scales it by a rate measured against the monotonic
// clock over each shard tick. Elsewhere it is time.Since.

// clockBase anchors Clock.
var clockBase = time.Now()

// Clock returns a monotonic time in nanoseconds since the process
// started, for timing commands.
func Clock() int64 {
	if a := tscAnchor.Load(); a != nil {
		return a.ns + int64(float64(readTSC()-a.tsc)*a.nsPerTick)
	}
	return int64(time.Since(clockBase))
}

// Since returns the nanoseconds from began, a Clock reading, to now;
// never less than 0 (two goroutines reading across a change of anchor may
// disagree by a nanosecond, and a negative time would wrap the counters).
func Since(began int64) int64 { return max(Clock()-began, 0) }

// anchor converts counter ticks to Clock: tsc ticks read when Clock was
// ns, and the rate.
type anchor struct {
	ns        int64
	tsc       uint64
	nsPerTick float64
}

var (
	tscAnchor atomic.Pointer[anchor]

	calib struct {
		sync.Mutex
		ns  int64 // the monotonic clock and the counter at the last sample
		tsc uint64
	}
)

// calibrateEvery is the shortest span a rate is measured over.
const calibrateEvery = 50 * time.Millisecond

// calibrateClock samples the counter against the monotonic clock and, once
// a span of calibrateEvery has passed, sets the rate that span shows. The
// new anchor continues from the old one's reading, so Clock never jumps.
// Any shard may call it (on its tick); it is cheap and safe to call often.
func calibrateClock() {
	if !haveTSC || !calib.TryLock() {
		return
	}
	defer calib.Unlock()
	ns, tsc := int64(time.Since(clockBase)), readTSC()
	if calib.tsc == 0 || tsc <= calib.tsc || ns <= calib.ns {
		calib.ns, calib.tsc = ns, tsc
		return
	}
	if time.Duration(ns-calib.ns) < calibrateEvery {
		return
	}
	rate := float64(ns-calib.ns) / float64(tsc-calib.tsc)
	calib.ns, calib.tsc = ns, tsc
	if rate < 0.01 || rate > 100 || math.IsNaN(rate) { // 10 MHz to 100 GHz: not a counter to trust
		tscAnchor.Store(nil)
		return
	}
	now := ns
	if a := tscAnchor.Load(); a != nil {
		now = a.ns + int64(float64(tsc-a.tsc)*a.nsPerTick)
	}
	tscAnchor.Store(&anchor{ns: now, tsc: tsc, nsPerTick: rate})
}
