package conn

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// blockedClients reads blocked_clients from INFO.
func blockedClients(t *testing.T, rdb *redis.Client) string {
	t.Helper()
	for _, l := range strings.Split(rdb.Info(context.Background(), "clients").Val(), "\r\n") {
		if v, ok := strings.CutPrefix(l, "blocked_clients:"); ok {
			return v
		}
	}
	t.Fatal("no blocked_clients in INFO")
	return ""
}

// CLIENT PAUSE WRITE holds writes (and a pipeline behind one, in order)
// until UNPAUSE or the timeout, counting the held clients as blocked;
// reads go on. Keys whose TTL passes meanwhile read as gone but are not
// deleted until the pause ends. PAUSE ALL holds reads too.
func TestClientPause(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1})
	defer admin.Close()
	writer := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1})
	defer writer.Close()
	writer.Ping(ctx)
	admin.Set(ctx, "ttl", "x", 50*time.Millisecond)

	if err := admin.Do(ctx, "client", "pause", "60000", "write").Err(); err != nil {
		t.Fatal(err)
	}
	done := make(chan []redis.Cmder, 1)
	go func() {
		cmds, _ := writer.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "k", "1", 0)
			p.Get(ctx, "k")
			return nil
		})
		done <- cmds
	}()
	deadline := time.Now().Add(5 * time.Second)
	for blockedClients(t, admin) != "1" {
		if time.Now().After(deadline) {
			t.Fatal("the paused writer is not counted as blocked")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v, err := admin.Get(ctx, "k").Result(); err != redis.Nil {
		t.Fatalf("the write ran during the pause: %q %v", v, err)
	}
	time.Sleep(100 * time.Millisecond) // the TTL passes
	if err := admin.Get(ctx, "ttl").Err(); err != redis.Nil {
		t.Fatalf("an expired key read during the pause: %v", err)
	}
	expired := func() string {
		for _, l := range strings.Split(admin.Info(ctx, "stats").Val(), "\r\n") {
			if v, ok := strings.CutPrefix(l, "expired_keys:"); ok {
				return v
			}
		}
		return ""
	}
	if n := expired(); n != "0" {
		t.Fatalf("expired_keys %s during the pause", n)
	}
	admin.Do(ctx, "client", "unpause")
	select {
	case cmds := <-done:
		if cmds[0].Err() != nil || cmds[1].(*redis.StringCmd).Val() != "1" {
			t.Fatalf("after UNPAUSE: %v", cmds)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("UNPAUSE did not release the writer")
	}
	admin.Get(ctx, "ttl")
	if n := expired(); n != "1" {
		t.Fatalf("expired_keys %s after the pause", n)
	}

	// ALL holds reads, and the timeout ends it.
	admin.Do(ctx, "client", "pause", "300", "all")
	start := time.Now()
	if err := writer.Get(ctx, "k").Err(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("a read under PAUSE ALL answered after %v", d)
	}
}
