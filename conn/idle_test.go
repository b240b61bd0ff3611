package conn

import (
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Connections that sent one large pipeline and then went idle used to keep
// what it grew for good: the Reader's buffer (doubled up to 256 KiB after
// reads that filled it), its argument arena and the batches' call lists,
// about 560 KB each, so 1,000 such connections held 560 MB where Redis,
// whose clientsCron frees an idle client's query buffer, holds 44 MB. An
// idle connection now drops them.
func TestIdleConnectionReleasesBuffers(t *testing.T) {
	old := idleAfter
	idleAfter = 50 * time.Millisecond
	t.Cleanup(func() { idleAfter = old })
	_, addr := startServer(t, 8)

	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	const conns, pipeline = 40, 3000
	cmd := "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$100\r\n" + strings.Repeat("x", 100) + "\r\n"
	req := []byte(strings.Repeat(cmd, pipeline))
	replies := make([]byte, 5*pipeline)
	var ncs []net.Conn
	for i := 0; i < conns; i++ {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		ncs = append(ncs, nc)
	}
	before := heap()
	for _, nc := range ncs {
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(nc, replies); err != nil {
			t.Fatal(err)
		}
	}
	var grown uint64
	for try := 0; try < 20; try++ {
		time.Sleep(100 * time.Millisecond)
		if after := heap(); after > before {
			grown = after - before
		} else {
			grown = 0
		}
		if grown < 4<<20 {
			break
		}
	}
	if grown >= 4<<20 {
		t.Fatalf("%d idle connections still hold %d KB more than before their pipelines", conns, grown>>10)
	}
	// They still work, and grow again as needed.
	for _, nc := range ncs[:3] {
		if _, err := nc.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(nc, replies); err != nil || string(replies[:5]) != "+OK\r\n" {
			t.Fatalf("after idle: %q %v", replies[:5], err)
		}
	}
}
