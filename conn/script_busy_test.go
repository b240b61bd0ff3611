package conn

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Past busy-reply-threshold every command of every client but the few
// Redis allows answers BUSY, one reply per command, inside MULTI too; a
// read-only script looping inside pcall can still be killed.
func TestBusyScriptRefusesCommandsUntilKilled(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	if err := admin.ConfigSet(ctx, "busy-reply-threshold", "10").Err(); err != nil {
		t.Fatal(err)
	}
	runner := newClient2(t, addr, 2)
	done := make(chan error, 1)
	go func() {
		done <- runner.Eval(ctx, "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end", nil).Err()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := admin.Ping(ctx).Err()
		if err != nil && strings.HasPrefix(err.Error(), "BUSY ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PING during a long script: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, cmd := range [][]any{{"get", "k"}, {"set", "k", "v"}, {"config", "get", "maxclients"}, {"client", "id"}} {
		if err := admin.Do(ctx, cmd...).Err(); err == nil || !strings.HasPrefix(err.Error(), "BUSY ") {
			t.Errorf("%v during a long script: %v", cmd, err)
		}
	}
	// MULTI is allowed; a command queued meanwhile is refused, and EXEC
	// (which has no allow-busy flag) aborts the transaction.
	nc, rd := dialBuffered(t, addr)
	if _, err := nc.Write(respCommands([]string{"MULTI"}, []string{"PING"}, []string{"EXEC"})); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"+OK", "-BUSY ", "-EXECABORT Transaction discarded because of: BUSY "} {
		if got, _ := rd.ReadString('\n'); !strings.HasPrefix(got, want) {
			t.Fatalf("reply %d = %q, want %q...", i, got, want)
		}
	}
	if err := admin.ScriptKill(ctx).Err(); err != nil {
		t.Fatalf("SCRIPT KILL: %v", err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "Script killed by user") {
			t.Fatalf("killed script replied %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the script looping in pcall was not killed")
	}
	if err := admin.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after the kill: %v", err)
	}
}

// With several scripts running at once (on different shards), SCRIPT
// KILL stops every one that has not written, and says UNKILLABLE only
// when those left have all written.
func TestScriptKillStopsEveryReadOnlyScript(t *testing.T) {
	srv, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	keys := keysOnShards(t, "kill", 8, 1, 4, 6)
	const src = "if ARGV[1] == 'write' then redis.call('set', KEYS[1], 1) end if ARGV[1] ~= 'no' then while true do end end return 1"
	for _, k := range keys { // learn: each run holds only its key's shard
		if err := admin.Eval(ctx, src, []string{k}, "no").Err(); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 3)
	for i, mode := range []string{"read", "read", "write"} {
		rdb := newClient2(t, addr, 2)
		k := keys[i]
		go func() { done <- rdb.Eval(ctx, src, []string{k}, mode).Err() }()
	}
	for deadline := time.Now().Add(5 * time.Second); srv.scripts.Running() != 3; {
		if time.Now().After(deadline) {
			t.Fatalf("%d scripts running, want 3", srv.scripts.Running())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// KILL reaches only scripts past busy-reply-threshold.
	if err := admin.ScriptKill(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOTBUSY") {
		t.Fatalf("SCRIPT KILL before the threshold: %v", err)
	}
	if err := admin.ConfigSet(ctx, "busy-reply-threshold", "10").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	// FUNCTION KILL stops no EVAL; as in Redis, a script that wrote is
	// reported before the kind.
	if err := admin.FunctionKill(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "UNKILLABLE") {
		t.Fatalf("FUNCTION KILL with only EVAL scripts running: %v", err)
	}
	if err := admin.ScriptKill(ctx).Err(); err != nil {
		t.Fatalf("SCRIPT KILL: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := <-done; err == nil || !strings.Contains(err.Error(), "Script killed by user") {
			t.Fatalf("a read-only script replied %v", err)
		}
	}
	if err := admin.ScriptKill(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "UNKILLABLE") {
		t.Fatalf("SCRIPT KILL with only a writer left: %v", err)
	}
	// End the writer through the engine, as SHUTDOWN NOSAVE would.
	srv.scripts.KillAll()
	<-done
}
