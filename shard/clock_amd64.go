package shard

import (
	"bytes"
	"os"
	"time"
)

// readTSC returns the processor's time-stamp counter (clock_amd64.s).
func readTSC() uint64

// haveTSC reports whether the kernel keeps time with the time-stamp
// counter, and so vouches that it is invariant and synchronised, and
// whether reading it is cheaper than the monotonic clock here (a
// hypervisor may trap the instruction).
var haveTSC = func() bool {
	b, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	if err != nil || string(bytes.TrimSpace(b)) != "tsc" {
		return false
	}
	const n = 2000
	var sum uint64
	t0 := time.Now()
	for range n {
		sum += readTSC()
	}
	t1 := time.Now()
	for range n {
		sum += uint64(time.Since(clockBase))
	}
	return sum != 0 && t1.Sub(t0) < time.Since(t1)
}()
