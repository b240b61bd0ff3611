package conn

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Review of the normal clients' output queue.

// A client whose replies wait in its output queue and that subscribes (or
// turns CLIENT TRACKING on) inside a transaction must not hold the shards
// the transaction borrowed until its client reads: the connection waited
// for its queue to drain (startQueue) with the shard of k lent to it, so
// every other client of that shard hung.
func TestSubscribeInExecWithQueuedRepliesHoldsNoShard(t *testing.T) {
	for _, sub := range [][]string{{"SUBSCRIBE", "ch"}, {"CLIENT", "TRACKING", "ON"}} {
		t.Run(sub[0], func(t *testing.T) {
			_, addr := startServer(t, 8)
			ctx := context.Background()
			admin := newClient2(t, addr, 2)
			admin.Set(ctx, "big", strings.Repeat("x", 100<<10), 0)
			nc := slowReader(t, addr, "slow")
			if !growOmem(t, admin, nc, "slow", 2<<20) {
				t.Fatalf("omem never passed 2 MB: %v", clientLineOf(t, admin, "slow"))
			}
			io.WriteString(nc, resp("MULTI")+resp("SET", "k", "1")+resp(sub...)+resp("EXEC"))
			time.Sleep(200 * time.Millisecond)
			other := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 3 * time.Second, MaxRetries: -1})
			defer other.Close()
			if err := other.Set(ctx, "k", "2", 0).Err(); err != nil {
				t.Fatalf("SET k from another client: %v (the shard of k is still lent)", err)
			}
		})
	}
}
