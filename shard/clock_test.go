package shard

import (
	"testing"
	"time"
)

// calibrated runs calibrateClock over two spans, so that the counter's
// rate is set where the machine has one.
func calibrated(t *testing.T) {
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
	for i := 0; i < 3; i++ {
		calibrateClock()
		time.Sleep(calibrateEvery + 5*time.Millisecond)
	}
	calibrateClock()
	var sink int64
	for b.Loop() {
		sink += Clock()
	}
	_ = sink
}
