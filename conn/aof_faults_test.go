package conn

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// sameShardKey returns a key named prefix+N on the shard of base.
func sameShardKey(base string, n int, prefix string) string {
	want := shard.Owner([]byte(base), n)
	for i := 0; ; i++ {
		k := prefix + strconv.Itoa(i)
		if shard.Owner([]byte(k), n) == want {
			return k
		}
	}
}

// TestBlockedPopRepliesAfterTheAOF: a client blocked in BLPOP, served by
// a push in the middle of another client's batch, gets its element only
// once the pop is in the AOF (appendfsync always), not while the rest of
// that batch (here a slow SORT on the same shard) still runs.
func TestBlockedPopRepliesAfterTheAOF(t *testing.T) {
	dir := t.TempDir()
	a := startPersistServer(t, 8, dir, "appendonly", "yes", "appendfsync", "always")
	ctx := context.Background()
	c := newClient2(t, a.addr, 2)
	big := sameShardKey("blk", 8, "big")
	vals := make([]any, 0, 1000)
	for i := 0; i < 200; i++ {
		vals = vals[:0]
		for j := 0; j < 1000; j++ {
			vals = append(vals, strconv.Itoa(i*7919+j*104729))
		}
		if err := c.RPush(ctx, big, vals...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	waiter := newClient2(t, a.addr, 2)
	got := make(chan []string, 1)
	go func() {
		r, _ := waiter.BLPop(ctx, 10*time.Second, "blk").Result()
		got <- r
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(c.Info(ctx, "clients").Val(), "blocked_clients:1") {
		if time.Now().After(deadline) {
			t.Fatal("BLPOP did not block")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p := c.Pipeline()
	p.RPush(ctx, "blk", "elem")
	p.Do(ctx, "SORT", big, "ALPHA") // the push's batch goes on a while
	done := make(chan error, 1)
	go func() { _, err := p.Exec(ctx); done <- err }()
	r := <-got
	b, err := os.ReadFile(filepath.Join(dir, "appendonlydir", "appendonly.aof.1.incr.aof"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 2 || r[1] != "elem" {
		t.Fatalf("BLPOP = %v", r)
	}
	if !strings.Contains(string(b), "$4\r\nelem\r\n*2\r\n$4\r\nLPOP\r\n$3\r\nblk\r\n") {
		t.Fatalf("BLPOP replied before its pop was in the AOF; the file ends with %q", b[max(0, len(b)-200):])
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// breakAOFFile closes the incremental file under the writer: its next
// write fails, as on a full or failed disk.
func breakAOFFile(t *testing.T, s *Server) {
	t.Helper()
	s.aof.mu.Lock()
	defer s.aof.mu.Unlock()
	if s.aof.f == nil {
		t.Fatal("the AOF has no file open")
	}
	s.aof.f.Close()
}

// TestAOFOffEndsMisconf: after a failed AOF write, writes are refused
// with MISCONF while the AOF is on; CONFIG SET appendonly no (what one
// does when the disk is full) lets them through again, as in Redis,
// whose MISCONF for the AOF applies only while the AOF is on.
func TestAOFOffEndsMisconf(t *testing.T) {
	p := startPersistServer(t, 4, t.TempDir(), "appendonly", "yes", "appendfsync", "everysec")
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	if err := c.Set(ctx, "a", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	breakAOFFile(t, p.srv)
	c.Set(ctx, "b", 1, 0) // its write to the file fails
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := c.Set(ctx, "c", 1, 0).Err()
		if err != nil && strings.HasPrefix(err.Error(), "MISCONF") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a write after the failed AOF write: %v, want MISCONF", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := persistInfo(t, c, "persistence", "aof_last_write_status"); got != "err" {
		t.Fatalf("aof_last_write_status = %s", got)
	}
	if err := c.ConfigSet(ctx, "appendonly", "no").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "d", 1, 0).Err(); err != nil {
		t.Fatalf("a write with the AOF off: %v", err)
	}
}

// TestAOFOnAgainDropsUnwrittenBytes: the bytes a failed AOF write left
// to retry belong to the file that was given up with appendonly no; once
// the AOF is on again they must not land in its new incremental file,
// after the new base, where they would replay old writes over it.
func TestAOFOnAgainDropsUnwrittenBytes(t *testing.T) {
	dir := t.TempDir()
	p := startPersistServer(t, 4, dir, "appendonly", "yes", "appendfsync", "everysec")
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	breakAOFFile(t, p.srv)
	c.Set(ctx, "x", "old", 0) // acknowledged (everysec), not written
	deadline := time.Now().Add(3 * time.Second)
	for persistInfo(t, c, "persistence", "aof_last_write_status") != "err" {
		if time.Now().After(deadline) {
			t.Fatal("the AOF write did not fail")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.ConfigSet(ctx, "appendonly", "no").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "x", "new", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	waitAOFRewrite(t, c)
	if err := c.Set(ctx, "y", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	p.stop()
	q := startPersistServer(t, 4, dir, "appendonly", "yes")
	if v := newClient2(t, q.addr, 2).Get(ctx, "x").Val(); v != "new" {
		t.Fatalf("x = %q after the restart, want new", v)
	}
}

// TestReadsWithWriteFlagsAreNotJournaled: SORT and GEORADIUS without
// STORE, and BITFIELD with GET only, read: Redis neither propagates them
// nor counts them as changes. Journaled, every such read grew the AOF and
// the replicas' stream and counted toward the save points.
func TestReadsWithWriteFlagsAreNotJournaled(t *testing.T) {
	dir := t.TempDir()
	p := startPersistServer(t, 4, dir, "appendonly", "yes", "appendfsync", "always")
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	c.RPush(ctx, "l", 3, 1, 2)
	c.GeoAdd(ctx, "g", &redis.GeoLocation{Name: "a", Longitude: 1, Latitude: 1})
	c.Set(ctx, "s", "abc", 0)
	incr := filepath.Join(dir, "appendonlydir", "appendonly.aof.1.incr.aof")
	before, _ := os.ReadFile(incr)
	changes := persistInfo(t, c, "persistence", "rdb_changes_since_last_save")
	for _, cmd := range [][]any{
		{"SORT", "l"}, {"SORT", "l", "LIMIT", "0", "1", "DESC"},
		{"GEORADIUS", "g", 1, 1, 100, "km"}, {"GEORADIUSBYMEMBER", "g", "a", 100, "km", "WITHDIST"},
		{"BITFIELD", "s", "GET", "u8", 0},
	} {
		if err := c.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	if after, _ := os.ReadFile(incr); len(after) != len(before) {
		t.Fatalf("reads went to the AOF: %q", after[len(before):])
	}
	if got := persistInfo(t, c, "persistence", "rdb_changes_since_last_save"); got != changes {
		t.Fatalf("rdb_changes_since_last_save %s after reads, was %s", got, changes)
	}
	// The same commands that write are still journaled.
	for _, cmd := range [][]any{
		{"SORT", "l", "STORE", "sorted"}, {"GEORADIUS", "g", 1, 1, 100, "km", "STORE", "geo2"},
		{"BITFIELD", "s", "GET", "u8", 0, "SET", "u8", 0, 65},
	} {
		if err := c.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	after, _ := os.ReadFile(incr)
	for _, want := range []string{"sorted", "geo2", "BITFIELD"} {
		if !strings.Contains(string(after[len(before):]), want) {
			t.Fatalf("the write with %s is not in the AOF: %q", want, after[len(before):])
		}
	}
}

// TestNoRewriteStartsDuringShutdown: a BGREWRITEAOF that a connection
// runs once Shutdown has begun (here queued behind a DEBUG SLEEP the
// shutdown cuts short) is refused: Shutdown cancels and waits for the
// rewrites before, and a rewrite started after would outlive it, writing
// into the AOF directory after the server said it had stopped.
func TestNoRewriteStartsDuringShutdown(t *testing.T) {
	srv, addr, logs := startLoggingServer(t, "appendonly", "yes")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("SET a b\r\nDEBUG SLEEP 0.5\r\nBGREWRITEAOF\r\n"))
	waitDebugSleeping(t, srv)
	before := len(logs.String())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if after := logs.String()[before:]; strings.Contains(after, "rewriting started") {
		t.Fatalf("a rewrite started during the shutdown:\n%s", after)
	}
}

// TestAOFTogglesUnderWrites: CONFIG SET appendonly yes/no, appendfsync
// changes, BGREWRITEAOF, BGSAVE, replicas that come and go and backlog
// resizes, all while clients write (plain, in MULTI, across shards):
// no write hangs, and once the AOF is on for good a restart loads exactly
// the dataset. Run with -race.
func TestAOFTogglesUnderWrites(t *testing.T) {
	dir := t.TempDir()
	a := startPersistServer(t, 8, dir, "appendonly", "yes", "appendfsync", "always")
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	fail := make(chan string, 16)
	report := func(s string) {
		select {
		case fail <- s:
		default:
		}
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient2(t, a.addr, 2)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				k := "w" + strconv.Itoa(w) + ":" + strconv.Itoa(i%50)
				var err error
				switch i % 4 {
				case 0:
					err = c.Set(cctx, k, i, 0).Err()
				case 1:
					_, err = c.TxPipelined(cctx, func(p redis.Pipeliner) error {
						p.Incr(cctx, k)
						p.Incr(cctx, "other"+k)
						return nil
					})
				case 2:
					err = c.Del(cctx, k).Err()
				case 3:
					err = c.MSet(cctx, k, 1, "x"+k, 2).Err()
				}
				cancel()
				if err != nil && !strings.HasPrefix(err.Error(), "MISCONF") {
					report(k + ": " + err.Error())
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := newClient2(t, a.addr, 2)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			var err error
			switch i % 7 {
			case 0:
				err = c.ConfigSet(cctx, "appendonly", "no").Err()
			case 1:
				err = c.ConfigSet(cctx, "appendonly", "yes").Err()
			case 2:
				c.BgRewriteAOF(cctx)
			case 3:
				err = c.ConfigSet(cctx, "appendfsync", []string{"always", "everysec", "no"}[i%3]).Err()
			case 4:
				c.BgSave(cctx)
			case 5:
				if nc, derr := net.Dial("tcp", a.addr); derr == nil {
					nc.Write([]byte("PSYNC ? -1\r\n"))
					time.AfterFunc(20*time.Millisecond, func() { nc.Close() })
				}
			case 6:
				err = c.ConfigSet(cctx, "repl-backlog-size", strconv.Itoa(16384*(1+i%5))).Err()
			}
			cancel()
			if err != nil {
				report("admin: " + err.Error())
			}
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(fail)
	for e := range fail {
		t.Error(e)
	}
	c := newClient2(t, a.addr, 2)
	if err := c.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	waitAOFRewrite(t, c)
	c.Set(ctx, "final", 1, 0)
	want := keyspace(t, a.addr)
	a.stop()
	b := startPersistServer(t, 8, dir, "appendonly", "yes")
	if got := keyspace(t, b.addr); !slices.Equal(got, want) {
		t.Fatalf("after restart:\n%s", diffLines(got, want))
	}
}

// TestAOFBufferNotKeptAfterABurst: the writer's buffer grows to what one
// flush takes from the journal; after a burst (here one 4 MB value) it
// must not stay that large for as long as the server runs.
func TestAOFBufferNotKeptAfterABurst(t *testing.T) {
	p := startPersistServer(t, 4, t.TempDir(), "appendonly", "yes", "appendfsync", "always")
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	if err := c.Set(ctx, "big", strings.Repeat("x", 4<<20), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "small", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	a := &p.srv.aof
	a.mu.Lock()
	held := cap(a.buf)
	a.mu.Unlock()
	if held > 1<<20 {
		t.Fatalf("the AOF writer keeps a buffer of %d bytes", held)
	}
}

// TestShutdownWaitsForTheInitialAOF: while the AOF turned on at run time
// is writing its first base, the files on disk do not hold the dataset:
// SHUTDOWN (even NOSAVE) is refused, as Redis refuses it ("Writing
// initial AOF, can't exit"), unless FORCE.
func TestShutdownWaitsForTheInitialAOF(t *testing.T) {
	p := startPersistServer(t, 4, t.TempDir())
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		c.Set(ctx, "k"+strconv.Itoa(i), i, 0)
	}
	if err := c.ConfigSet(ctx, "rdb-key-save-delay", "100000").Err(); err != nil { // 2 s for the base
		t.Fatal(err)
	}
	if err := c.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]any{{"SHUTDOWN"}, {"SHUTDOWN", "NOSAVE"}} {
		if err := c.Do(ctx, cmd...).Err(); err == nil || err.Error() != "ERR Errors trying to SHUTDOWN. Check logs." {
			t.Fatalf("%v while the initial AOF is written: %v", cmd, err)
		}
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("the server stopped: %v", err)
	}
}
