package conn

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestPsyncLinkClosedAtOnce: a replica that sends PSYNC and closes its
// link at once makes the head (+FULLRESYNC) write fail; the full sync's
// snapshot slot must still be released, or BGSAVE, the next replicas and
// INFO see a background save that never ends.
func TestPsyncLinkClosedAtOnce(t *testing.T) {
	p := startPersistServer(t, 8, t.TempDir())
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		c.Set(ctx, "k"+strconv.Itoa(i), i, 0)
	}
	for i := 0; i < 30; i++ {
		nc, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write([]byte("PSYNC ? -1\r\n"))
		nc.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for persistInfo(t, c, "persistence", "rdb_bgsave_in_progress") != "0" {
		if time.Now().After(deadline) {
			t.Fatal("rdb_bgsave_in_progress stays 1 after the replicas left")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.BgSave(ctx).Err(); err != nil {
		t.Fatalf("BGSAVE after the replicas left: %v", err)
	}
}
