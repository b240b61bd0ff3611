package conn

import (
	"context"
	"testing"

	"github.com/valkyrie-kv/valkyrie/conn/script"
)

// With min-replicas-to-write set, a server without replicas refuses
// writes (see also testdata/transcripts/noreplicas.txt, recorded from
// redis-server 7.0.15).
func TestMinReplicasToWrite(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	a := newClient2(t, addr, 2)
	b := newClient2(t, addr, 3)
	const noRepl = "NOREPLICAS Not enough good replicas to write."

	for i, k := range []string{"k1", "k2", "k3", "k4"} { // spread over shards
		if err := a.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	setMin := func(n string) {
		t.Helper()
		if err := b.ConfigSet(ctx, "min-replicas-to-write", n).Err(); err != nil {
			t.Fatal(err)
		}
	}

	// A transaction queued before the setting changed aborts at EXEC when
	// it writes, and runs when it only reads.
	tx := a.Conn()
	defer tx.Close()
	do := func(want string, args ...any) {
		t.Helper()
		v, err := tx.Do(ctx, args...).Result()
		got := ""
		if err != nil {
			got = err.Error()
		} else if s, ok := v.(string); ok {
			got = s
		}
		if got != want {
			t.Errorf("%v = %v, %v; want %q", args, v, err, want)
		}
	}
	do("OK", "multi")
	do("QUEUED", "set", "k1", "x")
	do("QUEUED", "get", "k2")
	setMin("1")
	do("EXECABORT Transaction discarded because of: "+noRepl, "exec")
	do("ERR EXEC without MULTI", "exec")
	setMin("0")
	do("OK", "multi")
	do("QUEUED", "get", "k2")
	do("QUEUED", "eval", "#!lua flags=no-writes\nreturn 1", "0")
	setMin("1")
	if v, err := tx.Do(ctx, "exec").Slice(); err != nil || len(v) != 2 || v[0] != "1" {
		t.Errorf("EXEC of reads = %v, %v", v, err)
	}
	setMin("0")
	do("OK", "multi")
	do("QUEUED", "eval", "#!lua\nreturn 1", "0")
	setMin("1")
	do("EXECABORT Transaction discarded because of: "+noRepl, "exec")

	// Every write command, on any shard and across shards.
	for _, cmd := range [][]any{{"set", "k1", "y"}, {"mset", "k1", "1", "k2", "2"}, {"del", "k3", "k4"},
		{"incr", "k4"}, {"flushall"}, {"function", "flush"}} {
		if err := a.Do(ctx, cmd...).Err(); err == nil || err.Error() != noRepl {
			t.Errorf("%v: err = %v", cmd, err)
		}
	}
	if v, err := a.MGet(ctx, "k1", "k2", "k3", "k4").Result(); err != nil || v[0] != "0" || v[3] != "3" {
		t.Errorf("MGET = %v, %v", v, err)
	}

	// Scripts: a shebang without no-writes is refused before it runs, one
	// without a shebang at its first write; no-writes scripts run.
	if err := a.Eval(ctx, "#!lua\nreturn redis.call('get',KEYS[1])", []string{"k1"}).Err(); err == nil || err.Error() != noRepl {
		t.Errorf("shebang script: err = %v", err)
	}
	if v, err := a.Eval(ctx, "#!lua flags=no-writes\nreturn redis.call('get',KEYS[1])", []string{"k1"}).Result(); err != nil || v != "0" {
		t.Errorf("no-writes script = %v, %v", v, err)
	}
	body := "redis.call('get',KEYS[1]) return redis.call('set',KEYS[1],'z')"
	err := a.Eval(ctx, body, []string{"k1"}).Err()
	if err == nil || err.Error() != noRepl+" script: "+script.SHA1Hex(body)+", on @user_script:1." {
		t.Errorf("script writing: err = %v", err)
	}
	if v, err := a.Eval(ctx, "return redis.pcall('set',KEYS[1],'z')['err']", []string{"k1"}).Result(); err != nil || v != noRepl {
		t.Errorf("pcall write = %v, %v", v, err)
	}

	// Either parameter at 0 turns the check off.
	if err := b.ConfigSet(ctx, "min-replicas-max-lag", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(ctx, "k1", "ok", 0).Err(); err != nil {
		t.Errorf("SET with min-replicas-max-lag 0: %v", err)
	}
	if err := b.ConfigSet(ctx, "min-replicas-max-lag", "10").Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(ctx, "k1", "no", 0).Err(); err == nil || err.Error() != noRepl {
		t.Errorf("SET with min-replicas-max-lag back at 10: err = %v", err)
	}
	setMin("0")
	if err := a.Set(ctx, "k1", "ok2", 0).Err(); err != nil {
		t.Errorf("SET with min-replicas-to-write 0: %v", err)
	}
}
