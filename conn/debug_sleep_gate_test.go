package conn

import (
	"context"
	"testing"
	"time"
)

// waitDebugSleeping waits until a DEBUG SLEEP on srv has begun: a fixed
// pause after sending it is not enough on a loaded machine, where the
// command may reach the server only after the test went on.
func waitDebugSleeping(t *testing.T, srv *Server) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); srv.sleepGate.Load() == nil; {
		if time.Now().After(deadline) {
			t.Fatal("DEBUG SLEEP did not begin within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// DEBUG SLEEP stops the whole server in Redis: a PING sent by another
// client while it sleeps is answered after it, not at once (it was, as
// PING needs no shard), and a pipeline sent meanwhile runs after it.
func TestDebugSleepHoldsOtherConnections(t *testing.T) {
	srv, addr := startDebugServer(t, 8, "yes")
	ctx := context.Background()
	sleeper := newClient2(t, addr, 2)
	other := newClient2(t, addr, 2)
	sleeper.Ping(ctx)
	other.Ping(ctx)
	done := make(chan error, 1)
	sent := time.Now()
	go func() { done <- sleeper.Do(ctx, "DEBUG", "SLEEP", "0.5").Err() }()
	waitDebugSleeping(t, srv)
	if err := other.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// The sleep began after it was sent and lasts 0.5 s: a PING held
	// until its end is answered no sooner than that after the sending.
	if d := time.Since(sent); d < 500*time.Millisecond {
		t.Fatalf("PING answered %v after DEBUG SLEEP 0.5 was sent", d)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, err := other.Do(ctx, "DEBUG", "REPLYBUFFER", "RESIZING", "0").Result(); err != nil || v != "OK" {
		t.Fatalf("DEBUG REPLYBUFFER RESIZING 0 = %v, %v", v, err)
	}
	if err := other.Do(ctx, "DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "x").Err(); err == nil || err.Error() != "ERR value is not an integer or out of range" {
		t.Fatalf("PEAK-RESET-TIME x: %v", err)
	}
}
