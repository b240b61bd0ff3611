package shard

import (
	"sync/atomic"
	"testing"
	"time"
)

// calibrated runs calibrateClock over two spans, so that the counter's
// rate is set where the machine has one.
func calibrated(t testing.TB) {
	t.Helper()
	for i := 0; i < 3; i++ {
		calibrateClock()
		time.Sleep(calibrateEvery + 5*time.Millisecond)
	}
	calibrateClock()
	if haveTSC && tscAnchor.Load() == nil {
		t.Fatal("the clocksource is tsc but no rate was set")
	}
}

func TestClockKeepsTimeWithTheMonotonicClock(t *testing.T) {
	calibrated(t)
	t.Logf("time-stamp counter in use: %v", tscAnchor.Load() != nil)
	for i := 0; i < 5; i++ {
		c0, m0 := Clock(), time.Since(clockBase)
		time.Sleep(30 * time.Millisecond)
		c1, m1 := Clock(), time.Since(clockBase)
		got, want := time.Duration(c1-c0), m1-m0
		if d := got - want; d < -time.Millisecond || d > time.Millisecond {
			t.Fatalf("Clock measured %v over a span the monotonic clock measured %v", got, want)
		}
		if d := time.Duration(c1) - m1; d < -10*time.Millisecond || d > 10*time.Millisecond {
			t.Fatalf("Clock reads %v, the monotonic clock %v", time.Duration(c1), m1)
		}
		calibrateClock()
	}
}

func TestClockNeverGoesBack(t *testing.T) {
	calibrated(t)
	done := make(chan struct{})
	go func() { // re-anchor while reading
		defer close(done)
		for i := 0; i < 4; i++ {
			time.Sleep(calibrateEvery)
			calibrateClock()
		}
	}()
	last := Clock()
	for {
		select {
		case <-done:
			return
		default:
		}
		for i := 0; i < 1000; i++ {
			now := Clock()
			if now < last {
				t.Fatalf("Clock went back from %d to %d", last, now)
			}
			last = now
		}
	}
}

func BenchmarkClock(b *testing.B) {
	calibrated(b)
	var sink int64
	for b.Loop() {
		sink += Clock()
	}
	_ = sink
}

// fakeClocks is a machine for a calibrator: the monotonic clock reads v
// nanoseconds, the counter 3 ticks a nanosecond. pause, when set, is how
// long the reader is held up (preempted) right after its next read of
// the monotonic clock.
type fakeClocks struct {
	v     int64
	jump  uint64 // added to the counter (one that ran on while v did not)
	pause int64
}

func (f *fakeClocks) calibrator() (*calibrator, *atomic.Pointer[anchor]) {
	a := new(atomic.Pointer[anchor])
	return &calibrator{
		anchor: a,
		mono: func() int64 {
			v := f.v
			f.v += f.pause
			f.pause = 0
			return v
		},
		counter: func() uint64 { return uint64(f.v)*3 + f.jump },
	}, a
}

func (f *fakeClocks) ticks() uint64 { return uint64(f.v)*3 + f.jump }

// spans calibrates c n times, span apart.
func (f *fakeClocks) spans(c *calibrator, span int64, n int) {
	for range n {
		c.calibrate()
		f.v += span
	}
}

// A reader whose counter read lands a few ticks before the anchor's (the
// instruction ran early, out of order, or on a CPU a little behind) must
// get about the anchor's time, not one 2^64 ticks later.
func TestClockCounterJustBehindTheAnchor(t *testing.T) {
	a := &anchor{ns: int64(time.Second), tsc: 1 << 40, nsPerTick: 0.4}
	for _, behind := range []uint64{1, 50, 1000} {
		got := a.at(a.tsc - behind)
		if d := a.ns - got; d < 0 || d > int64(behind) {
			t.Errorf("%d ticks behind the anchor: Clock %d, anchor %d", behind, got, a.ns)
		}
	}
}

// A calibration preempted between its two reads must not set a rate that
// is off by the length of the preemption.
func TestCalibrationPreemptedBetweenReads(t *testing.T) {
	f := &fakeClocks{v: int64(time.Second)}
	c, anc := f.calibrator()
	span := int64(100 * time.Millisecond)
	c.calibrate()
	for i := 0; i < 4; i++ {
		f.v += span
		if i == 2 {
			f.pause = int64(30 * time.Millisecond)
		}
		c.calibrate()
		a := anc.Load()
		if a == nil {
			t.Fatalf("calibration %d: no anchor", i)
		}
		if r := a.nsPerTick * 3; r < 0.99 || r > 1.01 {
			t.Fatalf("calibration %d: rate %.4f ns a tick, want %.4f", i, a.nsPerTick, 1.0/3)
		}
	}
}

// A span whose rate is not to be trusted (the counter ran on through a
// suspend, or went back) must not send Clock back, as dropping the
// anchor for the monotonic clock would.
func TestCalibrationImplausibleRateKeepsClockGoing(t *testing.T) {
	f := &fakeClocks{v: int64(time.Second)}
	c, anc := f.calibrator()
	span := int64(100 * time.Millisecond)
	f.spans(c, span, 3)
	if anc.Load() == nil {
		t.Fatal("no anchor")
	}
	f.jump += uint64(3 * time.Hour) // an hour of ticks, no time on the monotonic clock
	before := anc.Load().at(f.ticks())
	f.v += span
	c.calibrate()
	a := anc.Load()
	if a == nil {
		t.Fatal("an implausible span dropped the anchor: Clock would fall back an hour")
	}
	if after := a.at(f.ticks()); after < before {
		t.Fatalf("Clock went back from %d to %d", before, after)
	}
	f.v += span
	c.calibrate()
	f.v += span
	c.calibrate()
	if r := anc.Load().nsPerTick * 3; r < 0.99 || r > 1.01 {
		t.Fatalf("rate %.4f ns a tick after the jump, want %.4f", anc.Load().nsPerTick, 1.0/3)
	}
}

// A counter that starts over (reset on resume) must not send Clock back
// or hold it still until a new rate is measured.
func TestCalibrationCounterReset(t *testing.T) {
	f := &fakeClocks{v: int64(time.Second)}
	c, anc := f.calibrator()
	span := int64(100 * time.Millisecond)
	f.spans(c, span, 3)
	c.calibrate()
	before := anc.Load().at(f.ticks())
	f.jump -= f.ticks() - 1000 // the counter reads 1000
	f.v += span
	c.calibrate()
	f.v += 10 * int64(time.Millisecond)
	after := anc.Load().at(f.ticks())
	if d := after - before; d < span || d > span+int64(20*time.Millisecond) {
		t.Fatalf("Clock moved %v over %v after the counter was reset", time.Duration(d), time.Duration(span+int64(10*time.Millisecond)))
	}
}

// UnixNano agrees with time.Now, also across a sleep longer than an
// anchor lasts.
func TestUnixNanoFollowsTheWallClock(t *testing.T) {
	calibrated(t) // else, run alone, it tests time.Now against itself
	for i := range 200 {
		before := time.Now().UnixNano()
		got := UnixNano()
		after := time.Now().UnixNano()
		// The counter's rate error over wallRenew is microseconds.
		if got < before-int64(time.Millisecond) || got > after+int64(time.Millisecond) {
			t.Fatalf("call %d: UnixNano %d outside [%d, %d]", i, got, before, after)
		}
		if i%50 == 0 {
			time.Sleep(time.Duration(wallRenew) + time.Millisecond)
		}
	}
	if d := UnixMilli() - time.Now().UnixMilli(); d < -1 || d > 1 {
		t.Fatalf("UnixMilli is %d ms from time.Now", d)
	}
}
