package conn

import (
	"context"
	"testing"
	"time"
)

// A key read inside MULTI/EXEC is tracked however the transaction runs:
// EXEC on one shard (a batch) used to run its calls without the tracker,
// so the key was not remembered and its change never invalidated. The
// same transaction across shards (or with a CLIENT command) was tracked.
func TestReviewTrackingReadInOneShardExec(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	w := newClient2(t, addr, 2)
	w.Set(ctx, "foo", "1", 0)
	for _, noloop := range []bool{false, true} {
		a := dialTrack(t, addr)
		a.call("HELLO", "3")
		args := []string{"CLIENT", "TRACKING", "on"}
		if noloop {
			args = append(args, "NOLOOP")
		}
		if r := a.call(args...); r.str != "OK" {
			t.Fatalf("CLIENT TRACKING: %v", r)
		}
		a.call("MULTI")
		a.call("GET", "foo")
		if r := a.call("EXEC"); len(r.arr) != 1 || r.arr[0].str != "1" {
			t.Fatalf("EXEC = %v", r)
		}
		if err := w.Set(ctx, "foo", "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
		expectPush(t, a, "foo", 2*time.Second)
		if noloop {
			// Its own write in a one-shard EXEC is not sent back.
			a.call("GET", "foo")
			a.call("MULTI")
			a.call("SET", "foo", "2")
			a.call("EXEC")
			got := false
			a.onInvalidate = func([]string) { got = true }
			a.call("PING")
			if got {
				t.Fatal("NOLOOP client got the invalidation of its own write in EXEC")
			}
		}
	}
}

// CLIENT TRACKING ON queued in a transaction applies to the reads after
// it in the same EXEC, as in Redis: EXEC fixed the tracker when it began.
func TestReviewTrackingOnInsideExec(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	a := dialTrack(t, addr)
	a.call("HELLO", "3")
	a.call("MULTI")
	a.call("CLIENT", "TRACKING", "on")
	a.call("GET", "k1")
	if r := a.call("EXEC"); len(r.arr) != 2 {
		t.Fatalf("EXEC = %v", r)
	}
	w := newClient2(t, addr, 2)
	if err := w.Set(ctx, "k1", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	expectPush(t, a, "k1", 2*time.Second)
}
