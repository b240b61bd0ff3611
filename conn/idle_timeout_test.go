package conn

import (
	"context"
	"io"
	"testing"
	"time"
)

// timeout: an idle client is closed once it has sent nothing for that many
// seconds; a subscriber is not, and neither is a client that keeps talking.
func TestIdleTimeoutClosesIdleClients(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	if err := admin.ConfigSet(ctx, "timeout", "1").Err(); err != nil {
		t.Fatal(err)
	}
	idle := dialTrack(t, addr)
	idle.call("PING")
	sub := dialTrack(t, addr)
	sub.confirm("SUBSCRIBE", "ch")
	busy := dialTrack(t, addr)
	start := time.Now()
	for time.Since(start) < 2500*time.Millisecond {
		busy.call("PING")
		time.Sleep(100 * time.Millisecond)
	}
	idle.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := idle.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle client: read %v, want EOF (closed)", err)
	}
	if r := sub.call("PING"); r.String() != "[pong ]" {
		t.Fatalf("subscriber PING = %v", r)
	}
	if r := busy.call("PING"); r.str != "PONG" {
		t.Fatalf("busy client PING = %v", r)
	}
	admin.ConfigSet(ctx, "timeout", "0")
}
