package conn

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// A replica's full sync is not starved by clients that start a BGSAVE as
// soon as the last one ends: a session waiting for the snapshot slot takes
// it first (BGSAVE then answers "already in progress"), as Redis starts a
// waiting replica's save as soon as a child ends.
func TestFullSyncNotStarvedByBgsaves(t *testing.T) {
	p := startPersistServer(t, 2, t.TempDir(), "rdb-key-save-delay", "100", "repl-diskless-sync-delay", "0")
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	if err := c.Do(ctx, "DEBUG", "POPULATE", "2000").Err(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bc := newClient2(t, p.addr, 2)
			for {
				select {
				case <-stop:
					return
				default:
				}
				bc.BgSave(ctx) // "already in progress" most of the time
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(50 * time.Millisecond)

	nc, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	start := time.Now()
	nc.SetReadDeadline(start.Add(20 * time.Second))
	nc.Write([]byte("PSYNC ? -1\r\n"))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("no +FULLRESYNC after %v: %v", time.Since(start), err)
		}
		if strings.HasPrefix(line, "+FULLRESYNC") {
			break
		}
	}
	// One save in progress (2000 keys at 100 us) may go first; not more.
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the full sync began after %v behind back-to-back BGSAVEs", d)
	}
}
