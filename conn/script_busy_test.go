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
