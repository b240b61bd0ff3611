package conn

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestShutdownMidBgsaveLeavesNoWalk: a shutdown while a BGSAVE runs
// stops every shard's walk of its map (an iter.Pull coroutine, which
// would otherwise stay parked for good, holding the shard's maps).
func TestShutdownMidBgsaveLeavesNoWalk(t *testing.T) {
	for i := 0; i < 3; i++ {
		s := startPersistServer(t, 8, t.TempDir())
		c := newClient2(t, s.addr, 2)
		ctx := context.Background()
		if err := c.Do(ctx, "debug", "populate", 100000, "k", 50).Err(); err != nil {
			t.Fatal(err)
		}
		c.BgSave(ctx)
		s.stop()
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		n := strings.Count(string(buf), "iter.Pull2")
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d stacks in iter.Pull2 after the servers shut down mid-BGSAVE", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
