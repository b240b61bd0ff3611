package conn

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// The commands a script calls are logged as Redis logs its Lua client's:
// address ?:0 and no name, whatever the calling connection is called; the
// script itself under the connection's address and name.
func TestSlowlogScriptCallsAsLuaClient(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, DisableIdentity: true})
	defer rdb.Close()
	rdb.Do(ctx, "client", "setname", "caller")
	rdb.ConfigSet(ctx, "slowlog-log-slower-than", "0")
	rdb.Do(ctx, "slowlog", "reset")
	rdb.Eval(ctx, "redis.call('get', 'a') return redis.call('ping')", nil)
	rdb.ConfigSet(ctx, "slowlog-log-slower-than", "10000")
	got, err := rdb.SlowLogGet(ctx, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range got {
		name := e.Args[0]
		seen[name] = true
		wantAddr, wantName := "?:0", ""
		switch name {
		case "get", "ping":
		case "eval", "config", "slowlog", "client":
			continue
		default:
			t.Fatalf("unexpected entry %v", e)
		}
		if e.ClientAddr != wantAddr || e.ClientName != wantName {
			t.Errorf("%s logged by %q named %q, want %q named %q", name, e.ClientAddr, e.ClientName, wantAddr, wantName)
		}
	}
	if !seen["get"] || !seen["ping"] || !seen["eval"] {
		t.Fatalf("entries %v", got)
	}
}
