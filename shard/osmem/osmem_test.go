package osmem

import (
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
