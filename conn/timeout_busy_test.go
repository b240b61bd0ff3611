package conn

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// The timeout parameter closes clients idle for that long, as Redis's
// clientsCron does. A client whose command is still running is not idle:
// Redis's cron cannot run during a command (and counts the reply's writes
// as interaction), so a command longer than the timeout gets its reply.
func TestTimeoutSparesARunningCommand(t *testing.T) {
	ctx := context.Background()
	_, addr := startDebugServer(t, 8, "yes")
	admin := newClient2(t, addr, 2)
	if err := admin.ConfigSet(ctx, "timeout", "1").Err(); err != nil {
		t.Fatal(err)
	}
	rdb := newClient2(t, addr, 2)
	if err := rdb.Do(ctx, "DEBUG", "SLEEP", "2.5").Err(); err != nil {
		t.Fatalf("DEBUG SLEEP 2.5 with timeout 1: %v", err)
	}
}

// A client that stops reading its replies is still closed once a write
// has made no progress for the timeout, as Redis closes a client with no
// interaction for that long.
func TestTimeoutClosesAClientStuckInAWrite(t *testing.T) {
	ctx := context.Background()
	_, addr := startServer(t, 8)
	admin := newClient2(t, addr, 2)
	if err := admin.ConfigSet(ctx, "timeout", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Set(ctx, "big", strings.Repeat("v", 1<<20), 0).Err(); err != nil {
		t.Fatal(err)
	}
	nc, br := dialBuffered(t, addr)
	const n = 64
	if _, err := io.WriteString(nc, strings.Repeat(resp("GET", "big"), n)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond) // the sweep runs every second
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := 0; i < n; i++ {
		if _, err := readVal(br); err != nil {
			return // closed, as it should be
		}
	}
	t.Fatalf("all %d replies arrived: a client that did not read for 3.5 s outlived timeout 1", n)
}
