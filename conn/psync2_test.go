package conn

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// syncedPair starts a master and a replica of it, 8 shards each, and
// waits for the replica to share the master's history.
func syncedPair(t *testing.T) (master, replica *persistServer, m, r *redis.Client) {
	t.Helper()
	master = startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync-delay", "0")
	m = newClient2(t, master.addr, 2)
	replica = startPersistServer(t, 8, t.TempDir())
	r = newClient2(t, replica.addr, 2)
	replicaOf(t, r, master.addr)
	sameHistory(t, "synced", m, r)
	return master, replica, m, r
}

// startServers starts n servers of the given shards that may sync at once
// (repl-diskless-sync-delay 0), with a client each.
func startServers(t *testing.T, n, shards int) ([]*persistServer, []*redis.Client) {
	t.Helper()
	srvs := make([]*persistServer, n)
	cs := make([]*redis.Client, n)
	for i := range srvs {
		srvs[i] = startPersistServer(t, shards, t.TempDir(), "repl-diskless-sync-delay", "0")
		cs[i] = newClient2(t, srvs[i].addr, 2)
	}
	return srvs, cs
}

// rawFullResync opens a raw connection to addr, sends PSYNC ? -1 and
// reads the +FULLRESYNC line (after any keep-alive newlines), failing the
// test otherwise; the caller closes the connection.
func rawFullResync(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	nc.Write([]byte("PSYNC ? -1\r\n"))
	line, _ := br.ReadString('\n')
	for line == "\n" { // keep-alive newlines while the sync begins
		line, _ = br.ReadString('\n')
	}
	if !strings.HasPrefix(line, "+FULLRESYNC") {
		t.Fatalf("PSYNC: %q", line)
	}
	return nc, br
}

// replicaOf points c at the server on addr.
func replicaOf(t *testing.T, c *redis.Client, addr string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	if err := c.Do(context.Background(), "replicaof", host, port).Err(); err != nil {
		t.Fatal(err)
	}
}

// masterWithReplica starts a master and a replica of it on 4 shards each,
// the master with repl-diskless-sync-delay 0 and masterConf, the replica
// with replicaConf, and returns their clients once the link is up.
func masterWithReplica(t *testing.T, masterConf, replicaConf []string) (mc, rc *redis.Client) {
	t.Helper()
	m := startPersistServer(t, 4, t.TempDir(), append([]string{"repl-diskless-sync-delay", "0"}, masterConf...)...)
	mc = newClient2(t, m.addr, 2)
	r := startPersistServer(t, 4, t.TempDir(), replicaConf...)
	rc = newClient2(t, r.addr, 2)
	replicaOfUp(t, rc, m.addr)
	return mc, rc
}

// replicaOfUp is replicaOf that waits until the link is up.
func replicaOfUp(t *testing.T, c *redis.Client, addr string) {
	t.Helper()
	replicaOf(t, c, addr)
	if !replWait(10*time.Second, func() bool { return replInfo(t, c, "replication", "master_link_status") == "up" }) {
		t.Fatal("the link did not come up")
	}
}

// sameHistory checks that every server reports the same master_replid and
// master_repl_offset.
func sameHistory(t *testing.T, what string, cs ...*redis.Client) {
	t.Helper()
	ok := replWait(15*time.Second, func() bool {
		id, off := replInfo(t, cs[0], "replication", "master_replid"), replInfo(t, cs[0], "replication", "master_repl_offset")
		for _, c := range cs[1:] {
			if replInfo(t, c, "replication", "master_replid") != id || replInfo(t, c, "replication", "master_repl_offset") != off {
				return false
			}
		}
		return true
	})
	if !ok {
		for i, c := range cs {
			t.Logf("server %d: %s %s", i, replInfo(t, c, "replication", "master_replid"), replInfo(t, c, "replication", "master_repl_offset"))
		}
		t.Fatalf("%s: the servers' histories differ", what)
	}
}

// TestPSYNC2Chain: a replica passes its master's stream on to its own
// replica as it came (PSYNC2), so all three share one replication ID and
// offset, and the database the stream selected reaches the sub-replica
// through its sync's file (repl-stream-db). Then the failovers Redis's
// psync2 test makes: the middle replica promoted, its replica continues
// from it by the second ID, and the old master, turned replica of the new
// one, continues too: no full sync after the first two.
func TestPSYNC2Chain(t *testing.T) {
	ctx := context.Background()
	srvs, cs := startServers(t, 3, 8)
	m, r1, r2 := cs[0], cs[1], cs[2]
	m.Do(ctx, "select", "9")
	sel9 := redis.NewClient(&redis.Options{Addr: srvs[0].addr, DB: 9})
	defer sel9.Close()
	sel9.Set(ctx, "before", "1", 0)
	replicaOf(t, r1, srvs[0].addr)
	sameHistory(t, "master and replica", m, r1)
	// The master's stream has selected database 9 before the sub-replica
	// syncs: its writes must still land there.
	replicaOf(t, r2, srvs[1].addr)
	sameHistory(t, "the chain", m, r1, r2)
	sel9.Set(ctx, "after", "2", 0)
	writeLoad(t, srvs[0].addr, 2, 100, "a")
	sameHistory(t, "the chain after writes", m, r1, r2)
	r2db9 := redis.NewClient(&redis.Options{Addr: srvs[2].addr, DB: 9})
	defer r2db9.Close()
	if v := r2db9.Get(ctx, "after").Val(); v != "2" {
		t.Fatalf("sub-replica db 9 after = %q, want 2", v)
	}
	replConverge(t, srvs[0].addr, srvs[2].addr, m, r2, "sub-replica")

	// Promote the middle one; the old master follows it.
	if err := r1.Do(ctx, "replicaof", "no", "one").Err(); err != nil {
		t.Fatal(err)
	}
	if got := replInfo(t, r1, "replication", "master_replid2"); got != replInfo(t, m, "replication", "master_replid") {
		t.Fatalf("master_replid2 after promotion = %s, want the old master's ID", got)
	}
	replicaOf(t, m, srvs[1].addr)
	sel9b := redis.NewClient(&redis.Options{Addr: srvs[1].addr, DB: 9})
	defer sel9b.Close()
	sel9b.Set(ctx, "promoted", "3", 0)
	writeLoad(t, srvs[1].addr, 2, 100, "b")
	sameHistory(t, "after the failover", r1, m, r2)
	replConverge(t, srvs[1].addr, srvs[0].addr, r1, m, "old master")
	replConverge(t, srvs[1].addr, srvs[2].addr, r1, r2, "sub-replica after the failover")
	full := 0
	for _, c := range cs {
		full += int(mustAtoi(replInfo(t, c, "stats", "sync_full")))
	}
	if full != 2 {
		t.Fatalf("%d full syncs in all, want 2 (the first of each replica)", full)
	}
	if got := replInfo(t, r1, "stats", "sync_partial_ok"); got != "2" {
		t.Fatalf("sync_partial_ok on the new master = %s, want 2", got)
	}
}

// TestMinReplicasToWriteCountsGoodReplicas: min-replicas-to-write counts
// the replicas online and heard from within min-replicas-max-lag, as
// Redis's replication-2 test checks; a replica ignores the setting.
func TestMinReplicasToWriteCountsGoodReplicas(t *testing.T) {
	ctx := context.Background()
	master := startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync-delay", "0")
	m := newClient2(t, master.addr, 2)
	m.ConfigSet(ctx, "min-replicas-to-write", "1")
	m.ConfigSet(ctx, "min-replicas-max-lag", "10")
	if err := m.Set(ctx, "k", "1", 0).Err(); err == nil || err.Error() != errNoReplicas {
		t.Fatalf("SET with no replica: %v", err)
	}
	replica := startPersistServer(t, 8, t.TempDir())
	r := newClient2(t, replica.addr, 2)
	replicaOf(t, r, master.addr)
	if !replWait(10*time.Second, func() bool { return m.Set(ctx, "k", "2", 0).Err() == nil }) {
		t.Fatalf("SET still refused with a replica online: %v", m.Set(ctx, "k", "2", 0).Err())
	}
	if got := replInfo(t, m, "replication", "min_slaves_good_slaves"); got != "1" {
		t.Fatalf("min_slaves_good_slaves:%s, want 1", got)
	}
	m.ConfigSet(ctx, "min-replicas-to-write", "2")
	if err := m.Set(ctx, "k", "3", 0).Err(); err == nil || err.Error() != errNoReplicas {
		t.Fatalf("SET with 1 good replica of 2: %v", err)
	}
	r.ConfigSet(ctx, "min-replicas-to-write", "2")
	r.ConfigSet(ctx, "min-replicas-max-lag", "10")
	r.ConfigSet(ctx, "replica-read-only", "no")
	if err := r.Set(ctx, "local", "1", 0).Err(); err != nil {
		t.Fatalf("a writable replica refused a write for min-replicas-to-write: %v", err)
	}
}

// TestWritableReplicaExpiry: a replica leaves its master's keys to the
// master's DELs but reads an expired one as gone, a write that finds one
// starts afresh, and the keys clients give a TTL on a writable replica
// expire there by themselves (Redis's replication-3 tests).
func TestWritableReplicaExpiry(t *testing.T) {
	ctx := context.Background()
	_, _, m, r := syncedPair(t)
	r.ConfigSet(ctx, "replica-read-only", "no")
	for _, k := range []string{"own1", "own2", "own3"} {
		if err := r.Set(ctx, k, "1", 300*time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if !replWait(5*time.Second, func() bool { return r.DBSize(ctx).Val() == 0 }) {
		t.Fatalf("the replica's own keys did not expire: dbsize %d", r.DBSize(ctx).Val())
	}
	m.Do(ctx, "debug", "set-active-expire", "0")
	m.Set(ctx, "key1", "5", 10*time.Millisecond)
	m.Set(ctx, "key2", "5", 10*time.Millisecond)
	if !replWait(5*time.Second, func() bool { return r.DBSize(ctx).Val() == 2 && r.Exists(ctx, "key1", "key2").Val() == 0 }) {
		t.Fatalf("master's keys: dbsize %d, exists %d; want 2 and 0", r.DBSize(ctx).Val(), r.Exists(ctx, "key1", "key2").Val())
	}
	if v := r.Incr(ctx, "key1").Val(); v != 1 {
		t.Fatalf("INCR of an expired key on the replica = %d, want 1", v)
	}
	if ttl := r.TTL(ctx, "key1").Val(); ttl != -1 {
		t.Fatalf("TTL after INCR = %v, want none", ttl)
	}
	if err := r.Get(ctx, "key2").Err(); err != redis.Nil {
		t.Fatalf("GET of an expired key on the replica: %v", err)
	}
	if n := r.DBSize(ctx).Val(); n != 2 {
		t.Fatalf("dbsize %d, want 2: the replica deleted its master's expired key", n)
	}
}

// TestSwapMasterAndReplica is Redis's "BLPOP followed by role change": a
// replica that never served a replica of its own is promoted, its old
// master follows it with a partial resync, and the new master's writes
// reach it. (They did not: the promoted replica's shards recorded
// nothing, as its journal had only ever passed its master's stream on.)
func TestSwapMasterAndReplica(t *testing.T) {
	ctx := context.Background()
	a := startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync-delay", "0")
	b := startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync-delay", "0")
	ca, cb := newClient2(t, a.addr, 2), newClient2(t, b.addr, 2)
	cb.Set(ctx, "x", "1", 0)
	replicaOf(t, ca, b.addr)
	sameHistory(t, "synced", ca, cb)
	if err := ca.Do(ctx, "replicaof", "no", "one").Err(); err != nil {
		t.Fatal(err)
	}
	replicaOf(t, cb, a.addr)
	if !replWait(10*time.Second, func() bool { return replInfo(t, cb, "replication", "master_link_status") == "up" }) {
		t.Fatal("the old master did not connect to the new one")
	}
	ca.RPush(ctx, "foo", "a", "b", "c")
	replConverge(t, a.addr, b.addr, ca, cb, "after the swap")
	if got := replInfo(t, ca, "stats", "sync_partial_ok"); got != "1" {
		t.Fatalf("sync_partial_ok:%s on the new master, want 1", got)
	}
}

// TestRestartContinuesFromTheFile: the RDB file records the replication
// history (repl-id, repl-offset, repl-stream-db), so a replica restarted
// on its file continues with a partial resync, and so does a replica of a
// master restarted on its file (whose old ID becomes its second one), as
// Redis's psync2 and psync2-master-restart tests check.
func TestRestartContinuesFromTheFile(t *testing.T) {
	ctx := context.Background()
	mdir, rdir := t.TempDir(), t.TempDir()
	master := startPersistServer(t, 8, mdir, "repl-diskless-sync-delay", "0")
	m := newClient2(t, master.addr, 2)
	sel := redis.NewClient(&redis.Options{Addr: master.addr, DB: 4})
	defer sel.Close()
	sel.Set(ctx, "in4", "a", 0)
	mhost, mport, _ := net.SplitHostPort(master.addr)
	replica := startPersistServer(t, 8, rdir, "replicaof", mhost+" "+mport)
	r := newClient2(t, replica.addr, 2)
	sameHistory(t, "synced", m, r)
	sel.Set(ctx, "in4", "b", 0) // the stream has selected database 4
	writeLoad(t, master.addr, 2, 50, "a")
	sameHistory(t, "after writes", m, r)

	// The replica restarts on its file.
	if err := r.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	replica.stop()
	sel.Set(ctx, "in4", "c", 0) // written while the replica is away
	replica = startPersistServer(t, 8, rdir, "replicaof", mhost+" "+mport)
	r = newClient2(t, replica.addr, 2)
	sameHistory(t, "replica restarted", m, r)
	replConverge(t, master.addr, replica.addr, m, r, "replica restarted")
	if full, part := replInfo(t, m, "stats", "sync_full"), replInfo(t, m, "stats", "sync_partial_ok"); full != "1" || part != "1" {
		t.Fatalf("after the replica's restart: sync_full %s, sync_partial_ok %s; want 1 and 1", full, part)
	}

	// The master restarts on its file, in which a key expires meanwhile:
	// the restarted master drops it and tells the replica (DEL), which
	// never expires a master's keys itself.
	oldID := replInfo(t, m, "replication", "master_replid")
	m.Set(ctx, "dies", "x", 300*time.Millisecond)
	sameHistory(t, "before the master's restart", m, r)
	if err := m.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	offset := replInfo(t, m, "replication", "master_repl_offset")
	master.stop()
	time.Sleep(400 * time.Millisecond)
	l, err := net.Listen("tcp", master.addr) // the same port, for the replica to find
	if err != nil {
		t.Skipf("the master's port was taken meanwhile: %v", err)
	}
	l.Close()
	master = startPersistServerAt(t, master.addr, 8, mdir, "repl-diskless-sync-delay", "0")
	m = newClient2(t, master.addr, 2)
	if id2 := replInfo(t, m, "replication", "master_replid2"); id2 != oldID {
		t.Fatalf("master_replid2 after the restart = %s, want the old ID %s", id2, oldID)
	}
	if got, want := replInfo(t, m, "replication", "second_repl_offset"), mustAtoi(offset)+1; mustAtoi(got) != want {
		t.Fatalf("second_repl_offset after the restart = %s, want %d", got, want)
	}
	sel2 := redis.NewClient(&redis.Options{Addr: master.addr, DB: 4})
	defer sel2.Close()
	sel2.Set(ctx, "in4", "d", 0)
	replConverge(t, master.addr, replica.addr, m, r, "master restarted")
	if md, rd := m.DBSize(ctx).Val(), r.DBSize(ctx).Val(); md != rd {
		t.Fatalf("dbsize: master %d, replica %d: the key that expired in the file stays on the replica", md, rd)
	}
	if full, part := replInfo(t, m, "stats", "sync_full"), replInfo(t, m, "stats", "sync_partial_ok"); full != "0" || part != "1" {
		t.Fatalf("after the master's restart: sync_full %s, sync_partial_ok %s; want 0 and 1", full, part)
	}
}

// TestReplicaCountsMastersFailedCommands: a command of the master's
// stream that fails on the replica (one it does not know, sent with DEBUG
// REPLICATE, or one its own writes make fail) is counted in
// unexpected_error_replies (and logged as Redis's "== CRITICAL =="), and
// the stream goes on.
func TestReplicaCountsMastersFailedCommands(t *testing.T) {
	ctx := context.Background()
	_, _, m, r := syncedPair(t)
	if err := m.Do(ctx, "debug", "replicate", "fake-command-1").Err(); err != nil {
		t.Fatal(err)
	}
	m.Set(ctx, "foo", "bar2", 0)
	if n, err := m.Wait(ctx, 1, 2*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT = %d, %v", n, err)
	}
	if got := replInfo(t, r, "stats", "unexpected_error_replies"); got != "1" {
		t.Fatalf("unexpected_error_replies:%s after an unknown command, want 1", got)
	}
	r.ConfigSet(ctx, "replica-read-only", "no")
	r.Set(ctx, "number2", "foo", 0)
	m.IncrBy(ctx, "number2", 1)
	m.Wait(ctx, 1, 2*time.Second)
	if got := replInfo(t, r, "stats", "unexpected_error_replies"); got != "2" {
		t.Fatalf("unexpected_error_replies:%s after a failed INCRBY, want 2", got)
	}
	if v := r.Get(ctx, "foo").Val(); v != "bar2" {
		t.Fatalf("the stream stopped: foo = %q", v)
	}
}

// TestReplicaLinkCarriesOnlyAcks: a command other than REPLCONF on a
// replica's link closes it, as Redis closes a replica its command would
// answer (the answer would reach the replica as a command); a PSYNC with
// an offset that is no integer is refused.
func TestReplicaLinkCarriesOnlyAcks(t *testing.T) {
	master := startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync-delay", "0")
	for _, cmd := range []string{"PING", "GET foo", "XINFO HELP"} {
		nc, br := rawFullResync(t, master.addr)
		nc.Write([]byte(cmd + "\r\n"))
		if _, err := io.Copy(io.Discard, br); err != nil {
			t.Fatalf("%s on a replica's link: the link stayed open (%v)", cmd, err)
		}
		nc.Close()
	}
	m := newClient2(t, master.addr, 2)
	if err := m.Do(context.Background(), "psync", "replicationid", "offset_str").Err(); err == nil || err.Error() != "ERR value is not an integer or out of range" {
		t.Fatalf("PSYNC with a bad offset: %v", err)
	}
}

// TestChainSurvivesLinkKill is psync2-pingoff's last test: the master
// kills its replica's link; the replica continues (PSYNC) and its own
// replica, which follows the same history, stays connected and in step.
func TestChainSurvivesLinkKill(t *testing.T) {
	ctx := context.Background()
	srvs, cs := startServers(t, 3, 8)
	for _, c := range cs {
		c.ConfigSet(ctx, "repl-ping-replica-period", "1")
	}
	replicaOf(t, cs[1], srvs[0].addr)
	replicaOf(t, cs[2], srvs[1].addr)
	sameHistory(t, "the chain", cs...)
	cs[0].Incr(ctx, "counter2")
	time.Sleep(1500 * time.Millisecond) // a PING or two from the master
	sameHistory(t, "after PINGs", cs...)
	partial0 := mustAtoi(replInfo(t, cs[0], "stats", "sync_partial_ok"))
	partial1 := mustAtoi(replInfo(t, cs[1], "stats", "sync_partial_ok"))
	cs[0].ConfigSet(ctx, "repl-ping-replica-period", "100")
	if err := cs[0].ClientKillByFilter(ctx, "TYPE", "replica").Err(); err != nil {
		t.Fatal(err)
	}
	ok := replWait(10*time.Second, func() bool {
		return replInfo(t, cs[1], "replication", "master_link_status") == "up" &&
			replInfo(t, cs[2], "replication", "master_link_status") == "up" &&
			mustAtoi(replInfo(t, cs[0], "stats", "sync_partial_ok")) == partial0+1 &&
			mustAtoi(replInfo(t, cs[1], "stats", "sync_partial_ok")) == partial1
	})
	if !ok {
		t.Fatalf("after the kill: links %s %s, partial syncs %s (was %d) %s (was %d), full %s %s",
			replInfo(t, cs[1], "replication", "master_link_status"), replInfo(t, cs[2], "replication", "master_link_status"),
			replInfo(t, cs[0], "stats", "sync_partial_ok"), partial0, replInfo(t, cs[1], "stats", "sync_partial_ok"), partial1,
			replInfo(t, cs[0], "stats", "sync_full"), replInfo(t, cs[1], "stats", "sync_full"))
	}
	sameHistory(t, "after the kill", cs...)
	cs[0].Incr(ctx, "counter2")
	sameHistory(t, "after a write", cs...)
}

// TestResetStatResetsSyncCounters: CONFIG RESETSTAT zeroes sync_full,
// sync_partial_ok and sync_partial_err, as Redis's resetServerStats
// (Redis's psync2-master-restart test counts from a reset).
func TestResetStatResetsSyncCounters(t *testing.T) {
	ctx := context.Background()
	_, _, m, _ := syncedPair(t)
	if got := replInfo(t, m, "stats", "sync_full"); got != "1" {
		t.Fatalf("sync_full:%s after one sync", got)
	}
	m.ConfigResetStat(ctx)
	for _, f := range []string{"sync_full", "sync_partial_ok", "sync_partial_err"} {
		if got := replInfo(t, m, "stats", f); got != "0" {
			t.Fatalf("%s:%s after CONFIG RESETSTAT", f, got)
		}
	}
}
