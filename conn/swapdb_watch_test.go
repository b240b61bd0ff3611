package conn

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SWAPDB that brings a watched key's stale (expired, not yet deleted)
// copy into the watched database changes nothing for the watcher, as in
// Redis: "SWAPDB does not touch non-existing key replaced with stale key"
// and "... stale key replaced with another stale key" in unit/multi.
func TestSwapDBStaleKeyDoesNotTouchWatch(t *testing.T) {
	srv, addr := startServer(t, 8)
	srv.cfg.Load("enable-debug-command", "yes")
	ctx := context.Background()
	for _, bothStale := range []bool{false, true} {
		c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
		defer c.Close()
		cn := c.Conn()
		defer cn.Close()
		do := func(args ...any) *redis.Cmd { return cn.Do(ctx, args...) }
		do("flushall")
		if err := do("debug", "set-active-expire", "0").Err(); err != nil {
			t.Fatal(err)
		}
		if bothStale {
			do("select", "1")
			do("set", "x", "foo", "px", "1")
		}
		do("select", "0")
		do("set", "x", "bar", "px", "1")
		time.Sleep(5 * time.Millisecond)
		do("select", "1")
		do("watch", "x")
		do("swapdb", "0", "1")
		do("multi")
		do("ping")
		if v, err := do("exec").Result(); err != nil || len(v.([]any)) != 1 {
			t.Fatalf("bothStale=%v: EXEC = %v, %v; want [PONG]", bothStale, v, err)
		}
		do("debug", "set-active-expire", "1")
	}
	// A live key brought in still touches the watch.
	c := newClient2(t, addr, 2)
	cn := c.Conn()
	defer cn.Close()
	cn.Do(ctx, "flushall")
	cn.Do(ctx, "select", "0")
	cn.Do(ctx, "set", "x", "live")
	cn.Do(ctx, "select", "1")
	cn.Do(ctx, "watch", "x")
	cn.Do(ctx, "swapdb", "0", "1")
	cn.Do(ctx, "multi")
	cn.Do(ctx, "ping")
	if v, err := cn.Do(ctx, "exec").Result(); err != redis.Nil {
		t.Fatalf("live key swapped in: EXEC = %v, %v; want nil", v, err)
	}
}
