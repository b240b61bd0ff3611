package conn

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// CONFIG SET maxmemory turned on and off by several clients at once:
// every CONFIG SET answers, and the limit in force is the configured one
// once they are done.
func TestMaxmemoryToggledConcurrently(t *testing.T) {
	srv, addr := startServer(t, 8)
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1})
				defer rdb.Close()
				for i := 0; i < 500; i++ {
					v := "0"
					if (i+g)%2 == 0 {
						v = "1gb"
					}
					if err := rdb.ConfigSet(ctx, "maxmemory", v).Err(); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		panic("CONFIG SET maxmemory never answered")
	}
	limit, on := srv.mem.Limit(), srv.oom.Load()
	want := srv.cfg.Int("maxmemory")
	if limit != want || on != (want > 0) {
		t.Fatalf("maxmemory is %d, the limit in force %d (checked: %v)", want, limit, on)
	}
}
