package conn

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A shutdown during an on-empty-db load saves nothing over dbfilename, as
// Redis forces NOSAVE while loading. Before, the stopped load emptied the
// shards, loading went off, and the final save wrote an empty dump.rdb (a
// part of the payload, had the load's cleanup not got every shard).
func TestDisklessLoadShutdownMidLoadSavesNothing(t *testing.T) {
	payload := rdbOf3000(t)
	r := startDLReplica(t, "repl-diskless-load", "on-empty-db", "save", "900 1", "key-load-delay", "1000")
	r.follow()
	nc, _, _ := r.link()
	startTransfer(nc, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1000, payload, len(payload))
	r.waitInfo("loading", "1")
	// Some batches (256 keys a shard) are in the shards: ~1700 keys parsed.
	time.Sleep(1800 * time.Millisecond)
	if r.info("loading") != "1" {
		t.Fatal("the load ended already")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "dump.rdb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a shutdown during the load saved dump.rdb (%v)", err)
	}
}

// A shutdown during an async swapdb load ends the link promptly and saves
// the old dataset, whole (Redis saves during async loading).
func TestDisklessSwapdbAsyncShutdownMidLoad(t *testing.T) {
	first := rdbOf(t, func(ctx context.Context, c *redis.Client) {
		setKeys(t, ctx, c, "first", 10)
	})
	second := rdbOf3000(t)
	r := startDLReplica(t, "repl-diskless-load", "swapdb", "save", "900 1")
	r.follow()
	const rid = "dddddddddddddddddddddddddddddddddddddddd"
	nc, br, _ := r.link()
	transferWhole(t, nc, br, rid, 1000, first)
	if err := r.c.ConfigSet(context.Background(), "key-load-delay", "1000").Err(); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	nc, _, ps := r.link()
	if ps[1] != rid {
		t.Fatalf("PSYNC %v", ps)
	}
	startTransfer(nc, rid, 1000, second, len(second))
	r.waitInfo("async_loading", "1")
	time.Sleep(1200 * time.Millisecond)
	if r.info("async_loading") != "1" {
		t.Fatal("the load ended already")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	began := time.Now()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	after := startPersistServer(t, 2, r.dir)
	if n := newClient2(t, after.addr, 2).DBSize(context.Background()).Val(); n != 10 {
		t.Errorf("DBSIZE %d in the file saved at the shutdown, want the old 10", n)
	}
}

// An on-empty-db load whose link is stopped mid-load (REPLICAOF NO ONE
// that passed the -LOADING check just before the load began, or a
// shutdown) leaves the dataset empty, as a load that fails otherwise
// does: never a part of the payload, which this server would then serve,
// as a master, for the whole.
func TestDisklessLoadOnEmptyDBStoppedLeavesNothing(t *testing.T) {
	payload := rdbOf3000(t)
	r := startDLReplica(t, "repl-diskless-load", "on-empty-db", "key-load-delay", "1000")
	r.follow()
	nc, _, _ := r.link()
	startTransfer(nc, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1000, payload, len(payload))
	r.waitInfo("loading", "1")
	time.Sleep(1800 * time.Millisecond) // some batches of 256 keys are in
	if r.info("loading") != "1" {
		t.Fatal("the load ended already")
	}
	r.srv.unsetMaster()
	if l := r.info("loading"); l != "0" {
		t.Fatalf("loading:%s after the link stopped", l)
	}
	if n, err := r.c.DBSize(context.Background()).Result(); err != nil || n != 0 {
		t.Errorf("DBSIZE %d %v after a load stopped midway, want 0", n, err)
	}
}

// rdbOf3000 is a payload of 3000 keys k0..k2999 (slow to load with a
// key-load-delay, so that a test can act mid-load).
func rdbOf3000(t *testing.T) []byte {
	t.Helper()
	return rdbOf(t, func(ctx context.Context, c *redis.Client) {
		p := c.Pipeline()
		for i := 0; i < 3000; i++ {
			p.Set(ctx, "k"+strconv.Itoa(i), "v", 0)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
