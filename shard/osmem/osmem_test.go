package osmem

import (
	"runtime"
	"testing"
	"time"
)

func TestReleasedSchedulesOneReturn(t *testing.T) {
	before := Runs()
	Released(Keep) // small buffers are not counted
	if released.Load() != 0 {
		t.Fatalf("a %d-byte buffer was counted", Keep)
	}
	for i := 0; i < 8; i++ {
		Released(Threshold / 4)
	}
	deadline := time.Now().Add(3 * time.Second)
	for Runs() == before {
		if time.Now().After(deadline) {
			t.Fatal("memory was never returned after the threshold was passed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// 2*Threshold reported at once makes one run, not two.
	time.Sleep(settle + 50*time.Millisecond)
	if got := Runs() - before; got != 1 {
		t.Fatalf("%d runs, want 1", got)
	}
}

// TestBarScalesWithHeap: on a heap much larger than Threshold, dropping
// Threshold's worth of buffers no longer forces a collection of the whole
// heap; the size of the live heap does.
func TestBarScalesWithHeap(t *testing.T) {

	t.Cleanup(func() { bar.Store(0) })
	live := make([][]byte, 0, 64)
	for i := 0; i < 64; i++ {
		live = append(live, make([]byte, 2<<20)) // 128 MiB live
	}
	waitRun := func(before int64) bool {
		deadline := time.Now().Add(settle + Interval + 500*time.Millisecond)
		for Runs() == before {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(10 * time.Millisecond)
		}
		return true
	}
	before := Runs()
	Released(Threshold) // the bar may still be Threshold: this sets it
	if !waitRun(before) {
		t.Fatal("no return after Threshold released")
	}
	before = Runs()
	Released(3 * Threshold) // 96 MiB: under the 128 MiB live
	if waitRun(before) {
		t.Fatalf("a forced collection for %d MiB dropped with %d MiB live", 3*Threshold>>20, 128)
	}
	Released(2 * Threshold) // 160 MiB in all
	if !waitRun(before) {
		t.Fatal("no return after the live heap's size was released")
	}
	runtime.KeepAlive(live)
}
