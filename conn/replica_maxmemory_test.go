package conn

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReplicaIgnoresMaxmemory: with replica-ignore-maxmemory (on by
// default) a replica above maxmemory keeps its master's keys and takes a
// client's write on a writable replica even under noeviction; turned off,
// it evicts on the next command, as Redis 7.0's replica does. Redis, with
// maxmemory 2mb and 20000 keys of 500 bytes from the master: DBSIZE 20000,
// SET OK under noeviction, then fewer keys after replica-ignore-maxmemory
// no and a SET under allkeys-random. After REPLICAOF NO ONE the limit
// applies again (OOM under noeviction).
func TestReplicaIgnoresMaxmemory(t *testing.T) {
	ctx := context.Background()
	mc, rc := masterWithReplica(t, nil, []string{"replica-read-only", "no"})
	for _, kv := range [][2]string{{"maxmemory", "1mb"}, {"maxmemory-policy", "noeviction"}} {
		if err := rc.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	const n = 5000
	val := strings.Repeat("x", 500)
	p := mc.Pipeline()
	for i := 0; i < n; i++ {
		p.Set(ctx, "k"+strconv.Itoa(i), val, 0)
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if !replWait(10*time.Second, func() bool { return rc.DBSize(ctx).Val() == n }) {
		t.Fatalf("replica DBSIZE %d, want the master's %d", rc.DBSize(ctx).Val(), n)
	}
	if used := replInfo(t, rc, "memory", "used_memory"); len(used) < 7 {
		t.Fatalf("used_memory %s: not above maxmemory, the test proves nothing", used)
	}
	if err := rc.Set(ctx, "own", "1", 0).Err(); err != nil {
		t.Fatalf("a client's SET on the writable replica above maxmemory: %v", err)
	}
	if got := rc.DBSize(ctx).Val(); got != n+1 {
		t.Fatalf("replica DBSIZE %d after its own SET, want %d: nothing is evicted", got, n+1)
	}

	// Turned off, the replica enforces the limit itself.
	rc.ConfigSet(ctx, "maxmemory-policy", "allkeys-random")
	rc.ConfigSet(ctx, "replica-ignore-maxmemory", "no")
	if err := rc.Set(ctx, "own2", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := rc.DBSize(ctx).Val(); got >= n {
		t.Fatalf("replica DBSIZE %d with replica-ignore-maxmemory no: nothing was evicted", got)
	}
	if ev := replInfo(t, rc, "stats", "evicted_keys"); ev == "0" {
		t.Fatal("evicted_keys:0 with replica-ignore-maxmemory no")
	}
	if got := mc.DBSize(ctx).Val(); got != n {
		t.Fatalf("master DBSIZE %d: the replica's evictions reached it", got)
	}

	// A master again: the limit applies whatever the parameter says.
	rc.ConfigSet(ctx, "replica-ignore-maxmemory", "yes")
	rc.ConfigSet(ctx, "maxmemory-policy", "noeviction")
	p = mc.Pipeline()
	for i := 0; i < n; i++ {
		p.Set(ctx, "j"+strconv.Itoa(i), val, 0)
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if !replWait(10*time.Second, func() bool { return rc.Exists(ctx, "j"+strconv.Itoa(n-1)).Val() == 1 }) {
		t.Fatal("the master's second batch did not reach the replica")
	}
	if err := rc.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Set(ctx, "own3", "1", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "OOM") {
		t.Fatalf("SET above maxmemory under noeviction on a former replica: %v, want OOM", err)
	}
}
