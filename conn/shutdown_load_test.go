package conn

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestShutdownUnderLoad: Shutdown while clients borrow shards (MSET and
// RENAME across shards), block in BLMOVE, run MULTI and SCAN returns in
// bounded time, and nothing panics or races (run it with -race).
func TestShutdownUnderLoad(t *testing.T) {
	for round := 0; round < 2; round++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := New(Options{Shards: 8})
		done := make(chan error, 1)
		go func() { done <- srv.Serve(l) }()
		addr := l.Addr().String()
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 2})
				defer rdb.Close()
				ctx := context.Background()
				for n := 0; n < 2000; n++ {
					a, b := "k"+strconv.Itoa(n%50), "k"+strconv.Itoa((n+7)%50)
					var err error
					switch (i + n) % 6 {
					case 0:
						err = rdb.MSet(ctx, a, "1", b, "2").Err()
					case 1:
						err = rdb.Rename(ctx, a, b).Err()
					case 2:
						err = rdb.BLMove(ctx, a+"l", b+"l", "LEFT", "RIGHT", 20*time.Millisecond).Err()
					case 3:
						err = rdb.LPush(ctx, a+"l", n).Err()
					case 4:
						_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
							p.Incr(ctx, a)
							p.Get(ctx, b)
							return nil
						})
					case 5:
						err = rdb.Do(ctx, "SCAN", strconv.Itoa(n%8), "COUNT", "5").Err()
					}
					if err != nil && err != redis.Nil && !strings.HasPrefix(err.Error(), "ERR") && !strings.HasPrefix(err.Error(), "WRONGTYPE") {
						return // the server is going away
					}
				}
			}(i)
		}
		time.Sleep(150 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		srv.Shutdown(ctx)
		cancel()
		if d := time.Since(start); d > 4*time.Second {
			t.Fatalf("Shutdown took %v", d)
		}
		<-done
		wg.Wait()
	}
}
