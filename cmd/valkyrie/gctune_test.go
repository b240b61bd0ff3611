package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// gcPercentNow reads the GC percent the runtime is using.
func gcPercentNow() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// waitPercent runs collections until the tuner has set want and the
// runtime uses it, or fails after a few seconds.
func waitPercent(t *testing.T, tu *gcTuner, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		if tu.current() == want && gcPercentNow() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GC percent: tuner %d, runtime %d, want %d", tu.current(), gcPercentNow(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGCTunerPercentFor(t *testing.T) {
	tu := &gcTuner{base: 25, headroom: 32 << 20}
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 800},         // the runtime minimum, 4 MiB*8, is the headroom
		{1 << 20, 800},   // likewise: the percent alone would be 3200
		{4 << 20, 800},   // 4 MiB + 32 MiB
		{16 << 20, 200},  // 16 MiB + 32 MiB
		{100 << 20, 32},  // 100 MiB + 32 MiB
		{128 << 20, 25},  // base gives exactly the headroom
		{1 << 30, 25},    // big heaps keep base
		{64 << 30, 25},   // and no overflow
		{130 << 20, 25},  // 24.6% rounds to base, not below it
		{120 << 20, 26},  // just above base
		{33 << 20, 96},   // 32 MiB*100/33 MiB
		{5<<20 + 1, 639}, // integer division, never above the ceiling
	} {
		if got := tu.percentFor(c.live); got != c.want {
			t.Errorf("percentFor(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// TestGCTunerFollowsLiveHeap checks the tuner against the real collector:
// the percent is raised while the live heap is small, drops to the base
// when the live heap is big, rises again when it is freed, and stop
// restores the base for good.
func TestGCTunerFollowsLiveHeap(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })

	// A 4 MiB headroom keeps the test's heap small: the ceiling is 100%,
	// and 64 MiB of live data needs only 6%, so base 25 applies.
	const base, headroom = 25, 4 << 20
	tu := startGCTuner(base, headroom)
	defer tu.stop()
	waitPercent(t, tu, 100)

	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	waitPercent(t, tu, base)
	runtime.KeepAlive(live)

	live = nil
	waitPercent(t, tu, 100)

	tu.stop()
	if got := gcPercentNow(); got != base {
		t.Fatalf("after stop: runtime GC percent %d, want %d", got, base)
	}
	for range 3 {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if got := gcPercentNow(); got != base {
		t.Fatalf("collections after stop changed the GC percent to %d, want %d", got, base)
	}
}
