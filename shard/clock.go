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
		return a.at(readTSC())
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

// at converts a counter reading to Clock. A reading a little before the
// anchor's (RDTSC may run ahead of the load of the anchor, or on a CPU a
// few ticks behind) counts as the anchor's: unsigned, the difference would
// be some 2^64 ticks, a Clock centuries ahead.
func (a *anchor) at(tsc uint64) int64 {
	d := int64(tsc - a.tsc)
	if d < 0 {
		d = 0
	}
	return a.ns + int64(float64(d)*a.nsPerTick)
}

var tscAnchor atomic.Pointer[anchor]

// calibrator sets anchors from samples of the monotonic clock and the
// counter (a test gives it its own clocks).
type calibrator struct {
	sync.Mutex
	ns      int64 // the monotonic clock and the counter at the last sample
	tsc     uint64
	anchor  *atomic.Pointer[anchor]
	mono    func() int64 // nanoseconds
	counter func() uint64
}

var calib = calibrator{anchor: &tscAnchor, mono: monoNow, counter: readTSC}

func monoNow() int64 { return int64(time.Since(clockBase)) }

// calibrateEvery is the shortest span a rate is measured over.
const calibrateEvery = 50 * time.Millisecond

// sampleSlack is the longest a sample's two reads of the monotonic clock,
// which bracket its read of the counter, may lie apart: a goroutine
// preempted between the reads would otherwise pair a counter value with
// a time far from it, and the rate of the span would be off by as much.
const sampleSlack = 20 * time.Microsecond

// calibrateClock samples the counter against the monotonic clock and, once
// a span of calibrateEvery has passed, sets the rate that span shows. The
// new anchor continues from the old one's reading, so Clock never jumps.
// Any shard may call it (on its tick); it is cheap and safe to call often.
func calibrateClock() {
	if haveTSC {
		calib.calibrate()
	}
}

func (c *calibrator) calibrate() {
	if !c.TryLock() {
		return
	}
	defer c.Unlock()
	ns, tsc, ok := c.sample()
	if !ok {
		return // try again next tick
	}
	if c.tsc == 0 || tsc <= c.tsc || ns <= c.ns {
		if a := c.anchor.Load(); a != nil && c.tsc != 0 && tsc < a.tsc {
			// The counter went back (a reset): go on from the last
			// sample's reading plus the monotonic time since.
			c.anchor.Store(&anchor{ns: a.at(c.tsc) + max(ns-c.ns, 0), tsc: tsc, nsPerTick: a.nsPerTick})
		}
		c.ns, c.tsc = ns, tsc
		return
	}
	if time.Duration(ns-c.ns) < calibrateEvery {
		return
	}
	rate := float64(ns-c.ns) / float64(tsc-c.tsc)
	c.ns, c.tsc = ns, tsc
	a := c.anchor.Load()
	if rate < 0.01 || rate > 100 || math.IsNaN(rate) { // 10 MHz to 100 GHz: not a counter to trust
		// Keep the old rate from here on rather than fall back to the
		// monotonic clock, which this anchor's reading may have run
		// ahead of (the counter ran on through a suspend): Clock would
		// go back.
		if a != nil {
			c.anchor.Store(&anchor{ns: a.at(tsc), tsc: tsc, nsPerTick: a.nsPerTick})
		}
		return
	}
	now := ns
	if a != nil {
		now = a.at(tsc)
	}
	c.anchor.Store(&anchor{ns: now, tsc: tsc, nsPerTick: rate})
}

// sample reads the monotonic clock and the counter at one moment, as far
// as sampleSlack tells; it reports false if a few tries did not manage.
func (c *calibrator) sample() (ns int64, tsc uint64, ok bool) {
	for range 3 {
		n1 := c.mono()
		tsc = c.counter()
		n2 := c.mono()
		if n2 >= n1 && n2-n1 <= int64(sampleSlack) {
			return n1 + (n2-n1)/2, tsc, true
		}
	}
	return 0, 0, false
}

// The Unix time is read once per batch (expiry) and once per segment
// (CLIENT LIST's idle): time.Now reads two clocks, about 100 ns here. Where
// Clock reads the counter, UnixNano adds the Clock elapsed since an anchor
// that pairs a Clock reading with time.Now, and any goroutine renews the
// anchor once it is wallRenew old: between renewals the two clocks can
// part by the counter's rate error over that span (microseconds), and a
// step of the system clock shows within wallRenew.
type wallAnchor struct {
	clock, unix int64 // a Clock reading, and time.Now().UnixNano() then
}

var wallAt atomic.Pointer[wallAnchor]

// wallRenew is the oldest a wall anchor may be.
const wallRenew = int64(10 * time.Millisecond)

// UnixNano returns the current Unix time in nanoseconds.
func UnixNano() int64 {
	if tscAnchor.Load() == nil {
		return time.Now().UnixNano()
	}
	c := Clock()
	if w := wallAt.Load(); w != nil && c >= w.clock && c-w.clock < wallRenew {
		return w.unix + c - w.clock
	}
	u := time.Now().UnixNano()
	wallAt.Store(&wallAnchor{clock: c, unix: u})
	return u
}

// UnixMilli returns the current Unix time in milliseconds.
func UnixMilli() int64 { return UnixNano() / 1e6 }
