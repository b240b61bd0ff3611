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

// Replicas that ask for a full sync at the same moment each get one, even
// when each starts a sync session of its own (repl-diskless-sync-delay 0):
// a session that finds another's snapshot begun waits for it to end, as
// Redis's replica waits for the next BGSAVE, rather than dropping its
// replica (which then synced a second time: Redis's psync2-pingoff counted
// 7 full syncs for its 6).
func TestSimultaneousFullSyncsAllSucceed(t *testing.T) {
	p := startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync", "yes", "repl-diskless-sync-delay", "0")
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		c.Set(ctx, "k"+strings.Repeat("x", i%7)+string(rune('a'+i%26)), strings.Repeat("v", 100), 0)
	}
	const replicas = 4
	for round := 0; round < 15; round++ {
		var wg sync.WaitGroup
		errs := make(chan string, replicas)
		start := make(chan struct{})
		for i := 0; i < replicas; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nc, err := net.Dial("tcp", p.addr)
				if err != nil {
					errs <- err.Error()
					return
				}
				defer nc.Close()
				br := bufio.NewReader(nc)
				nc.SetDeadline(time.Now().Add(20 * time.Second))
				// PSYNC with a reply still to send is refused, as in Redis.
				nc.Write([]byte("REPLCONF capa eof capa psync2\r\n"))
				if line, err := br.ReadString('\n'); err != nil || line != "+OK\r\n" {
					errs <- "REPLCONF: " + line
					return
				}
				<-start
				nc.Write([]byte("PSYNC ? -1\r\n"))
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						errs <- "connection ended before +FULLRESYNC: " + err.Error()
						return
					}
					if strings.HasPrefix(line, "+FULLRESYNC") {
						return
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for e := range errs {
			info, _ := c.Info(ctx, "replication", "persistence").Result()
			t.Fatalf("round %d: %s\n%s", round, e, info)
		}
	}
	if n := persistInfo(t, c, "stats", "sync_full"); n != "60" {
		t.Fatalf("sync_full = %s after 15 rounds of 4 replicas, want 60", n)
	}
}
