package shard

import (
	"bytes"
	"os"
)

// readTSC returns the processor's time-stamp counter (clock_amd64.s).
func readTSC() uint64

// haveTSC reports whether the kernel keeps time with the time-stamp
// counter, and so vouches that it is invariant and synchronised.
var haveTSC = func() bool {
	b, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	return err == nil && string(bytes.TrimSpace(b)) == "tsc"
}()
