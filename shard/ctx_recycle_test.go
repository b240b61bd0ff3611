package shard

import (
	"testing"

	"github.com/valkyrie-kv/valkyrie/shard/osmem"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// TestRecycleKeepsABufferThroughShortRuns: a big reply buffer survives the
// short run that ends a pipeline cut by OutCap, and goes after
// leanSegments light segments in a row.
func TestRecycleKeepsABufferThroughShortRuns(t *testing.T) {
	var b Batch
	big := 4 * osmem.Keep
	use := func(n int) bool {
		if cap(b.Out) < n {
			b.Out = make([]byte, 0, big)
		}
		b.Out = b.Out[:n]
		return b.Recycle(0, wire.RESP2, 1)
	}
	for i := 0; i < 10; i++ {
		if !use(big) || !use(big/10) { // a full run, then a short one
			t.Fatalf("round %d: the buffer was dropped after one short run", i)
		}
	}
	use(big) // a full run resets the count
	for i := 1; i < leanSegments; i++ {
		if !use(10) {
			t.Fatalf("dropped after %d light segments, want %d", i, leanSegments)
		}
	}
	if use(10) {
		t.Fatalf("kept after %d light segments in a row", leanSegments)
	}
}
