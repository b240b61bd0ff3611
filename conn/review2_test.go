package conn

import (
	"bufio"
	"context"
	"fmt"
	"github.com/redis/go-redis/v9"
	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAbandonedDiskSyncFreesTheSnapshot: a disk-based full sync whose
// only replica goes away, with no save point, stops writing its file; the
// shards' snapshot is given up, so a BGSAVE starts at once and completes,
// and the temporary file is removed.
func TestAbandonedDiskSyncFreesTheSnapshot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	master := startPersistServer(t, 4, dir, "repl-diskless-sync", "no", "rdb-key-save-delay", "100000")
	m := newClient2(t, master.addr, 2)
	for i := 0; i < 200; i++ {
		m.Set(ctx, "k"+string(rune('a'+i%26))+strings.Repeat("x", i), "v", 0)
	}
	nc, _ := rawFullResync(t, master.addr)
	time.Sleep(200 * time.Millisecond)
	nc.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := m.BgSave(ctx).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("BGSAVE after the replica left: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.ConfigSet(ctx, "rdb-key-save-delay", "0")
	for deadline := time.Now().Add(5 * time.Second); replInfo(t, m, "persistence", "rdb_bgsave_in_progress") != "0"; {
		if time.Now().After(deadline) {
			t.Fatal("BGSAVE never ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := replInfo(t, m, "persistence", "rdb_last_bgsave_status"); st != "ok" {
		t.Fatalf("rdb_last_bgsave_status %s", st)
	}
	for deadline := time.Now().Add(2 * time.Second); ; {
		tmp, _ := filepath.Glob(filepath.Join(dir, "temp-replsync-*"))
		if len(tmp) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("temporary sync file left: %v", tmp)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expiringFile saves, in dir, a file of n keys that expire 300ms later
// and one that does not; withRepl: a replica synced first, so the file
// records the replication history. It returns the master's ID and offset
// at the save, once the keys have expired.
func expiringFile(t *testing.T, dir string, n int, withRepl bool) (string, int64) {
	ctx := context.Background()
	master := startPersistServer(t, 4, dir, "repl-backlog-size", "16384", "repl-diskless-sync-delay", "0")
	m := newClient2(t, master.addr, 2)
	if withRepl {
		nc, _ := rawFullResync(t, master.addr)
		nc.Close()
	}
	if err := m.Do(ctx, "debug", "set-active-expire", "0").Err(); err != nil {
		t.Fatal(err)
	}
	p := m.Pipeline()
	for i := 0; i < n; i++ {
		p.Set(ctx, fmt.Sprintf("expiring:key:with:a:long:name:%06d", i), "v", 300*time.Millisecond)
	}
	p.Set(ctx, "keep", "v", 0)
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	id := replInfo(t, m, "replication", "master_replid")
	off := int64(mustAtoi(replInfo(t, m, "replication", "master_repl_offset")))
	master.stop()
	time.Sleep(400 * time.Millisecond)
	return id, off
}

// TestExpiredOnLoadBounded: a master's load at start-up lists the keys it
// leaves out as expired only for a file with a replication history, and
// no more than the backlog would hold: not one entry per expired key of
// the file (a file with millions of them held them all in memory).
func TestExpiredOnLoadBounded(t *testing.T) {
	const n = 3000
	for _, withRepl := range []bool{false, true} {
		dir := t.TempDir()
		expiringFile(t, dir, n, withRepl)
		other := startPersistServer(t, 4, t.TempDir(), "repl-backlog-size", "16384")
		s := other.srv
		s.persist.noteExpired = true
		err := s.loadRDB(filepath.Join(dir, "dump.rdb"), func(id int, es []shard.LoadEntry, now int64) (int, int, error) {
			return s.workers[id].Load(es, now)
		}, script.RestoreFlush, true)
		if err != nil {
			t.Fatal(err)
		}
		got := len(s.persist.expiredOnLoad)
		s.persist.noteExpired, s.persist.expiredOnLoad = false, nil
		if !withRepl && got != 0 {
			t.Fatalf("file without a replication history: %d expired keys listed, want 0", got)
		}
		if withRepl && got > 16384/40 {
			t.Fatalf("file with a replication history: %d expired keys listed, more than a 16kb backlog holds", got)
		}
	}
}

// TestMasterRestartExpiredPastBacklog: a master restarted on a file whose
// expired keys' DELs exceed the backlog keeps the file's ID as its second,
// moves its offset past them, and a replica of the file's offset syncs in
// full (a partial one would keep the expired keys).
func TestMasterRestartExpiredPastBacklog(t *testing.T) {
	ctx := context.Background()
	const n = 3000
	dir := t.TempDir()
	id, off := expiringFile(t, dir, n, true)
	master := startPersistServer(t, 4, dir, "repl-backlog-size", "16384", "repl-diskless-sync-delay", "0")
	m := newClient2(t, master.addr, 2)
	if id2 := replInfo(t, m, "replication", "master_replid2"); id2 != id {
		t.Fatalf("master_replid2 = %s, want %s", id2, id)
	}
	want := off + n*delSize(fmt.Sprintf("expiring:key:with:a:long:name:%06d", 0))
	if got := int64(mustAtoi(replInfo(t, m, "replication", "master_repl_offset"))); got < want || got > want+64 {
		t.Fatalf("master_repl_offset = %d, want about %d (the file's %d and the DELs)", got, want, off)
	}
	if got := m.DBSize(ctx).Val(); got != 1 {
		t.Fatalf("dbsize %d, want 1", got)
	}
	nc, err := net.Dial("tcp", master.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	nc.Write([]byte("PSYNC " + id + " " + strconv.FormatInt(off+1, 10) + "\r\n"))
	line, _ := br.ReadString('\n')
	for line == "\n" {
		line, _ = br.ReadString('\n')
	}
	if !strings.HasPrefix(line, "+FULLRESYNC") {
		t.Fatalf("PSYNC from the file's offset: %q, want +FULLRESYNC", line)
	}
}

// TestReplicaLinkNotEvicted: maxmemory-clients evicts normal and pub/sub
// clients only, as Redis's clientEvictionAllowed; a replica's link stays.
func TestReplicaLinkNotEvicted(t *testing.T) {
	ctx := context.Background()
	master, _, _, _ := syncedPair(t)
	m := redis.NewClient(&redis.Options{Addr: master.addr, PoolSize: 1, OnConnect: func(ctx context.Context, cn *redis.Conn) error {
		return cn.Do(ctx, "client", "no-evict", "on").Err()
	}})
	defer m.Close()
	if err := m.ConfigSet(ctx, "maxmemory-clients", "1").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	m.Do(ctx, "client", "list")
	time.Sleep(300 * time.Millisecond)
	if err := m.ConfigSet(ctx, "maxmemory-clients", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if got := replInfo(t, m, "replication", "connected_slaves"); got != "1" {
		t.Fatalf("connected_slaves %s after client eviction: the replica's link was evicted", got)
	}
}
