package conn

import (
	"context"
	"testing"
	"time"
)

// TestReplicaLoadKeepsExpiredKeys: a replica keeps the keys of its
// master's RDB whose TTL has passed, by whichever repl-diskless-load, as
// Redis loads an RDB on a server that is not a master; they go when the
// master's DEL comes. Redis 7.0 with active expiry off on the master:
// DBSIZE 2 on the replica after each sync, then 1 after the master's GET
// of the expired key.
func TestReplicaLoadKeepsExpiredKeys(t *testing.T) {
	for _, mode := range []string{"disabled", "on-empty-db", "swapdb"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			m := startPersistServer(t, 4, t.TempDir(), "repl-diskless-sync-delay", "0")
			mc := newClient2(t, m.addr, 2)
			if err := mc.Do(ctx, "DEBUG", "SET-ACTIVE-EXPIRE", "0").Err(); err != nil {
				t.Fatal(err)
			}
			mc.Set(ctx, "stay", "1", 0)
			for _, k := range []string{"gone1", "gone2", "gone3"} {
				mc.Set(ctx, k, "1", 50*time.Millisecond)
			}
			time.Sleep(150 * time.Millisecond)
			if n := mc.DBSize(ctx).Val(); n != 4 {
				t.Fatalf("master DBSIZE %d before the sync, want 4 (the expired keys not yet deleted)", n)
			}

			r := startPersistServer(t, 4, t.TempDir(), "repl-diskless-load", mode)
			rc := newClient2(t, r.addr, 2)
			replicaOfUp(t, rc, m.addr)
			if n := rc.DBSize(ctx).Val(); n != 4 {
				t.Fatalf("replica DBSIZE %d after the sync, want 4: the master's expired keys are its to delete", n)
			}
			if v, err := rc.Get(ctx, "gone1").Result(); err == nil {
				t.Fatalf("GET of an expired key on the replica: %q", v)
			}
			mc.Get(ctx, "gone1") // the master deletes it and sends DEL
			if !replWait(5*time.Second, func() bool { return rc.DBSize(ctx).Val() == 3 }) {
				t.Fatalf("replica DBSIZE %d after the master's DEL, want 3", rc.DBSize(ctx).Val())
			}
		})
	}
}

// TestDisklessLoadCountsAChange: after a diskless load the dataset is in
// no file, so rdb_changes_since_last_save goes up by one, as Redis's
// server.dirty++ (Redis 7.0: 0 before, 1 after with on-empty-db; 2, then
// 3 with swapdb).
func TestDisklessLoadCountsAChange(t *testing.T) {
	for _, mode := range []string{"on-empty-db", "swapdb"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			m := startPersistServer(t, 4, t.TempDir(), "repl-diskless-sync-delay", "0")
			mc := newClient2(t, m.addr, 2)
			mc.Set(ctx, "k", "v", 0)
			r := startPersistServer(t, 4, t.TempDir(), "repl-diskless-load", mode)
			rc := newClient2(t, r.addr, 2)
			want := "1"
			if mode == "swapdb" {
				rc.Set(ctx, "a", "1", 0)
				rc.Set(ctx, "b", "1", 0)
				want = "3"
			}
			replicaOfUp(t, rc, m.addr)
			if got := replInfo(t, rc, "persistence", "rdb_changes_since_last_save"); got != want {
				t.Fatalf("rdb_changes_since_last_save:%s after the load, want %s", got, want)
			}
		})
	}
}
