package conn

import (
	"context"
	"testing"
	"time"
)

// TestReplicaPauseHoldsMasterStream: CLIENT PAUSE WRITE on a replica holds
// its master's writes until the pause ends, as Redis 7.0 postpones its
// master client's (redis-server 7.0.15: DBSIZE 100 during a pause of 2 s
// on the replica while the master SETs 100 more keys, 200 after it). Ended
// by CLIENT UNPAUSE, then by its timeout.
func TestReplicaPauseHoldsMasterStream(t *testing.T) {
	ctx := context.Background()
	mc, rc := masterWithReplica(t, nil, nil)

	if err := rc.Do(ctx, "CLIENT", "PAUSE", "10000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	setKeys(t, ctx, mc, "a", 100)
	time.Sleep(300 * time.Millisecond)
	if n := rc.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("replica DBSIZE %d during CLIENT PAUSE WRITE, want 0: the master's writes ran", n)
	}
	if err := rc.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatal(err)
	}
	if !replWait(5*time.Second, func() bool { return rc.DBSize(ctx).Val() == 100 }) {
		t.Fatalf("replica DBSIZE %d after CLIENT UNPAUSE, want 100", rc.DBSize(ctx).Val())
	}

	// 2 s, as in Redis's check: time for the writes to arrive on a slow
	// machine while the pause still holds them.
	if err := rc.Do(ctx, "CLIENT", "PAUSE", "2000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	setKeys(t, ctx, mc, "b", 100)
	time.Sleep(200 * time.Millisecond)
	if n := rc.DBSize(ctx).Val(); n != 100 {
		t.Fatalf("replica DBSIZE %d during the second pause, want 100", n)
	}
	if !replWait(5*time.Second, func() bool { return rc.DBSize(ctx).Val() == 200 }) {
		t.Fatalf("replica DBSIZE %d after the pause timed out, want 200", rc.DBSize(ctx).Val())
	}
	sameHistory(t, "after the pauses", mc, rc)
}

// A pause longer than repl-timeout does not end the link: the master's
// stream waits unread, and the replica continues where it stopped.
func TestReplicaPauseLongerThanReplTimeout(t *testing.T) {
	ctx := context.Background()
	mc, rc := masterWithReplica(t, []string{"repl-ping-replica-period", "1"}, []string{"repl-timeout", "3"})
	if err := rc.Do(ctx, "CLIENT", "PAUSE", "6000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	setKeys(t, ctx, mc, "a", 10)
	if !replWait(10*time.Second, func() bool { return rc.DBSize(ctx).Val() == 10 }) {
		t.Fatalf("replica DBSIZE %d after the pause, want 10", rc.DBSize(ctx).Val())
	}
	if v := replInfo(t, rc, "stats", "sync_full"); v != "0" {
		t.Logf("sync_full %s", v)
	}
	if n := replInfo(t, mc, "stats", "sync_partial_ok"); n != "0" {
		t.Fatalf("the link was lost during the pause: the replica resynced (sync_partial_ok %s)", n)
	}
}
