package conn

import (
	"context"
	"testing"
	"time"
)

// DEBUG SLEEP stops the whole server in Redis: a PING sent by another
// client while it sleeps is answered after it, not at once (it was, as
// PING needs no shard), and a pipeline sent meanwhile runs after it.
func TestDebugSleepHoldsOtherConnections(t *testing.T) {
	_, addr := startDebugServer(t, 8, "yes")
	ctx := context.Background()
	sleeper := newClient2(t, addr, 2)
	other := newClient2(t, addr, 2)
	other.Ping(ctx)
	done := make(chan error, 1)
	go func() { done <- sleeper.Do(ctx, "DEBUG", "SLEEP", "0.5").Err() }()
	time.Sleep(100 * time.Millisecond)
	began := time.Now()
	if err := other.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d < 250*time.Millisecond {
		t.Fatalf("PING answered after %v during DEBUG SLEEP 0.5", d)
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
