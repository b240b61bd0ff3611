package conn

import (
	"context"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// replInfo returns one field of INFO section from addr, "" if absent.
func replInfo(t *testing.T, c *redis.Client, section, field string) string {
	t.Helper()
	info, err := c.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	return ""
}

// replWait polls cond for up to d; it reports whether cond held.
func replWait(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// replClosedPort returns a loopback address nobody listens on.
func replClosedPort(t *testing.T) (host, port string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	h, p, _ := net.SplitHostPort(addr)
	return h, p
}

// TestReplicaofCommand: the replies, the read-only refusals and the state
// INFO and CONFIG show, against a master that is not there.
func TestReplicaofCommand(t *testing.T) {
	before := runtime.NumGoroutine()
	ps := startPersistServer(t, 8, t.TempDir())
	c := newClient2(t, ps.addr, 2)
	ctx := context.Background()
	do := func(args ...any) (any, error) { return c.Do(ctx, args...).Result() }
	if _, err := do("set", "kept", "1"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []any
		want string
	}{
		{[]any{"replicaof", "127.0.0.1", "notaport"}, "ERR Invalid master port"},
		{[]any{"replicaof", "127.0.0.1", "65536"}, "ERR Invalid master port"},
		{[]any{"replicaof", "127.0.0.1", "-1"}, "ERR Invalid master port"},
		{[]any{"replicaof", "no"}, "ERR wrong number of arguments for 'replicaof' command"},
		{[]any{"slaveof", "a", "b", "c"}, "ERR wrong number of arguments for 'slaveof' command"},
	} {
		if _, err := do(tc.args...); err == nil || err.Error() != tc.want {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
	if v, err := do("replicaof", "no", "one"); err != nil || v != "OK" {
		t.Fatalf("REPLICAOF NO ONE on a master: %v %v", v, err)
	}
	host, port := replClosedPort(t)
	if v, err := do("replicaof", host, port); err != nil || v != "OK" {
		t.Fatalf("REPLICAOF: %v %v", v, err)
	}
	if v, err := do("SLAVEOF", host, port); err != nil || v != "OK Already connected to specified master" {
		t.Fatalf("REPLICAOF again: %v %v", v, err)
	}
	if got := replInfo(t, c, "replication", "role"); got != "slave" {
		t.Errorf("role:%s", got)
	}
	if got := replInfo(t, c, "replication", "master_link_status"); got != "down" {
		t.Errorf("master_link_status:%s", got)
	}
	if got := replInfo(t, c, "replication", "master_port"); got != port {
		t.Errorf("master_port:%s", got)
	}
	if got := replInfo(t, c, "replication", "slave_read_only"); got != "1" {
		t.Errorf("slave_read_only:%s", got)
	}
	if got, _ := c.ConfigGet(ctx, "replicaof").Result(); got["replicaof"] != host+" "+port {
		t.Errorf("CONFIG GET replicaof: %v", got)
	}
	const ro = "READONLY You can't write against a read only replica."
	if _, err := do("set", "k", "v"); err == nil || err.Error() != ro {
		t.Errorf("SET on a replica: %v", err)
	}
	if v, err := do("get", "kept"); err != nil || v != "1" {
		t.Errorf("GET on a replica: %v %v", v, err)
	}
	if _, err := do("eval", "#!lua\nreturn redis.call('set','k','v')", "1", "k"); err == nil || err.Error() != ro {
		t.Errorf("EVAL with a shebang: %v", err)
	}
	if _, err := do("eval", "return redis.call('set',KEYS[1],'v')", "1", "k"); err == nil || !strings.Contains(err.Error(), ro) {
		t.Errorf("EVAL writing: %v", err)
	}
	if v, err := do("eval", "return redis.call('get',KEYS[1])", "1", "kept"); err != nil || v != "1" {
		t.Errorf("EVAL reading: %v %v", v, err)
	}
	p := c.TxPipeline()
	p.Set(ctx, "k", "v", 0)
	if _, err := p.Exec(ctx); err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") {
		t.Errorf("MULTI SET EXEC: %v", err)
	}
	// CLIENT KILL TYPE master finds no synced link.
	if n, err := c.ClientKillByFilter(ctx, "TYPE", "master").Result(); err != nil || n != 0 {
		t.Errorf("CLIENT KILL TYPE master: %v %v", n, err)
	}
	// Another master replaces the link.
	host2, port2 := replClosedPort(t)
	if v, err := do("replicaof", host2, port2); err != nil || v != "OK" {
		t.Fatalf("REPLICAOF another: %v %v", v, err)
	}
	if v, err := do("replicaof", "NO", "ONE"); err != nil || v != "OK" {
		t.Fatalf("REPLICAOF NO ONE: %v %v", v, err)
	}
	if got := replInfo(t, c, "replication", "role"); got != "master" {
		t.Errorf("role:%s after NO ONE", got)
	}
	if _, err := do("set", "k", "v"); err != nil {
		t.Errorf("SET after NO ONE: %v", err)
	}
	if got, _ := c.ConfigGet(ctx, "replicaof").Result(); got["replicaof"] != "" {
		t.Errorf("CONFIG GET replicaof after NO ONE: %v", got)
	}
	// A replica again, then shut down: its link goroutine ends too.
	if _, err := do("replicaof", host, port); err != nil {
		t.Fatal(err)
	}
	c.Close()
	ps.stop()
	if !replWait(5*time.Second, func() bool { return runtime.NumGoroutine() <= before+2 }) {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after shutdown\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
}

// TestReplicaExpiryHeld: while a replica, a key whose TTL passed reads as
// gone but stays (the master's DEL removes it); REPLICAOF NO ONE lets
// expiry run again.
func TestReplicaExpiryHeld(t *testing.T) {
	ps := startPersistServer(t, 8, t.TempDir())
	c := newClient2(t, ps.addr, 2)
	ctx := context.Background()
	c.Set(ctx, "short", "v", 50*time.Millisecond)
	host, port := replClosedPort(t)
	if err := c.Do(ctx, "replicaof", host, port).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := c.Get(ctx, "short").Err(); err != redis.Nil {
		t.Fatalf("GET of an expired key on a replica: %v", err)
	}
	if got := replInfo(t, c, "keyspace", "db0"); !strings.HasPrefix(got, "keys=1,") {
		t.Fatalf("the expired key was removed on a replica: db0:%s", got)
	}
	if err := c.Do(ctx, "replicaof", "no", "one").Err(); err != nil {
		t.Fatal(err)
	}
	if !replWait(5*time.Second, func() bool { return replInfo(t, c, "keyspace", "db0") == "" }) {
		t.Fatalf("the expired key stays after REPLICAOF NO ONE: db0:%s", replInfo(t, c, "keyspace", "db0"))
	}
}

// replOffsets reads the master's offset and the replica's processed one.
func replOffsets(t *testing.T, m, r *redis.Client) (string, string) {
	return replInfo(t, m, "replication", "master_repl_offset"), replInfo(t, r, "replication", "slave_repl_offset")
}

// replConverge waits until the replica's keyspace is the master's and the
// offsets agree.
func replConverge(t *testing.T, maddr, raddr string, m, r *redis.Client, what string) {
	t.Helper()
	var want, got []string
	ok := replWait(15*time.Second, func() bool {
		mo, ro := replOffsets(t, m, r)
		if mo != ro {
			return false
		}
		want, got = keyspace(t, maddr), keyspace(t, raddr)
		return slices.Equal(want, got)
	})
	if !ok {
		mo, ro := replOffsets(t, m, r)
		t.Fatalf("%s: no convergence: master offset %s, replica %s\nmaster %d keys, replica %d keys\nfirst difference: %s",
			what, mo, ro, len(want), len(got), firstDiff(want, got))
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return "master " + trunc(a[i]) + " | replica " + trunc(b[i])
		}
	}
	return "lengths " + strconv.Itoa(len(a)) + " " + strconv.Itoa(len(b))
}

func trunc(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// writeLoad runs bounded writes of many kinds on the master from several
// clients: plain commands, MULTI/EXEC, scripts, and keys that expire.
func writeLoad(t *testing.T, maddr string, clients, rounds int, tag string) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := redis.NewClient(&redis.Options{Addr: maddr, Protocol: 2})
			defer c.Close()
			id := tag + strconv.Itoa(w)
			for i := 0; i < rounds; i++ {
				n := strconv.Itoa(i % 50)
				var err error
				switch i % 9 {
				case 0:
					err = c.Set(ctx, "s:"+id+":"+n, i, 0).Err()
				case 1:
					err = c.Incr(ctx, "ctr:"+n).Err()
				case 2:
					err = c.RPush(ctx, "l:"+id, i).Err()
				case 3:
					err = c.HSet(ctx, "h:"+n, id, i).Err()
				case 4:
					err = c.ZAdd(ctx, "z:"+n, redis.Z{Score: float64(i), Member: id}).Err()
				case 5:
					p := c.TxPipeline()
					p.SAdd(ctx, "set:"+n, id+":"+strconv.Itoa(i))
					p.Incr(ctx, "txctr")
					p.LPop(ctx, "l:"+id)
					_, err = p.Exec(ctx)
				case 6:
					err = c.Eval(ctx, "redis.call('incrby', KEYS[1], ARGV[1]); return redis.call('set', KEYS[2], ARGV[1])",
						[]string{"ev:" + n, "evs:" + id}, i).Err()
				case 7:
					err = c.Set(ctx, "ttl:"+id+":"+n, i, time.Duration(20+i%80)*time.Millisecond).Err()
				case 8:
					err = c.Expire(ctx, "s:"+id+":"+n, time.Hour).Err()
				}
				if err != nil && err != redis.Nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Touch the short-lived keys once they are due, so the master expires
	// them (and sends DEL) without waiting for its active cycle.
	time.Sleep(150 * time.Millisecond)
	c := redis.NewClient(&redis.Options{Addr: maddr, Protocol: 2})
	defer c.Close()
	keys, _ := c.Keys(ctx, "ttl:*").Result()
	for _, k := range keys {
		c.Exists(ctx, k)
	}
}

// TestReplicaOfRedis: a Valkyrie (8 shards) replica of a real redis-server
// master reaches the master's keyspace through a full sync (diskless and
// from disk), follows writes under load, refuses client writes, resumes
// with a partial resync after its link is killed either side, and keeps
// its data as a master after REPLICAOF NO ONE.
func TestReplicaOfRedis(t *testing.T) {
	bin := trRedisBinary()
	if bin == "" {
		t.Skip("redis-server not installed")
	}
	for _, diskless := range []string{"yes", "no"} {
		t.Run("diskless="+diskless, func(t *testing.T) {
			maddr := trStartRedis(t, bin, "--repl-diskless-sync", diskless, "--repl-diskless-sync-delay", "0")
			ctx := context.Background()
			m := redis.NewClient(&redis.Options{Addr: maddr, Protocol: 2})
			defer m.Close()
			fillEveryType(t, m)
			if err := m.FunctionLoad(ctx, "#!lua name=lib\nredis.register_function{function_name='hi', callback=function() return 'hi' end, flags={'no-writes'}}\n"+
				"redis.register_function('w', function(keys) return redis.call('set', keys[1], 'w') end)").Err(); err != nil {
				t.Fatal(err)
			}

			ps := startPersistServer(t, 8, t.TempDir())
			r := newClient2(t, ps.addr, 2)
			r.Set(ctx, "replaced", "by the sync", 0)
			host, port, _ := net.SplitHostPort(maddr)
			if v, err := r.Do(ctx, "replicaof", host, port).Result(); err != nil || v != "OK" {
				t.Fatalf("REPLICAOF: %v %v", v, err)
			}
			if !replWait(15*time.Second, func() bool { return replInfo(t, r, "replication", "master_link_status") == "up" }) {
				t.Fatal("the link did not come up")
			}
			replConverge(t, maddr, ps.addr, m, r, "after the full sync")
			if v, err := r.Do(ctx, "fcall", "hi", "0").Result(); err != nil || v != "hi" {
				t.Errorf("the master's function on the replica: %v %v", v, err)
			}
			if err := r.Do(ctx, "fcall", "w", "1", "fk").Err(); err == nil || !strings.HasPrefix(err.Error(), "READONLY") {
				t.Errorf("FCALL of a writing function on the replica: %v", err)
			}
			if got := replInfo(t, r, "replication", "master_replid"); got != replInfo(t, m, "replication", "master_replid") {
				t.Errorf("master_replid %s, master's %s", got, replInfo(t, m, "replication", "master_replid"))
			}
			if err := r.Set(ctx, "x", "y", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "READONLY") {
				t.Errorf("client write on the replica: %v", err)
			}

			writeLoad(t, maddr, 4, 300, "a")
			replConverge(t, maddr, ps.addr, m, r, "after the write load")
			// WAIT sends REPLCONF GETACK: the replica's ACK answers it.
			m.Set(ctx, "waited", "1", 0)
			if n, err := m.Do(ctx, "wait", "1", "5000").Int(); err != nil || n != 1 {
				t.Errorf("WAIT 1 on the master: %v %v", n, err)
			}

			// The master drops the link: a partial resync follows.
			if err := m.Do(ctx, "client", "kill", "type", "replica").Err(); err != nil {
				t.Fatal(err)
			}
			writeLoad(t, maddr, 2, 100, "b")
			if !replWait(15*time.Second, func() bool { return replInfo(t, m, "stats", "sync_partial_ok") == "1" }) {
				t.Fatalf("no partial resync after CLIENT KILL TYPE replica: sync_full %s sync_partial_ok %s err %s",
					replInfo(t, m, "stats", "sync_full"), replInfo(t, m, "stats", "sync_partial_ok"), replInfo(t, m, "stats", "sync_partial_err"))
			}
			replConverge(t, maddr, ps.addr, m, r, "after the master killed the link")

			// The replica drops it.
			if n, err := r.ClientKillByFilter(ctx, "TYPE", "master").Result(); err != nil || n != 1 {
				t.Fatalf("CLIENT KILL TYPE master: %v %v", n, err)
			}
			writeLoad(t, maddr, 2, 100, "c")
			if !replWait(15*time.Second, func() bool { return replInfo(t, m, "stats", "sync_partial_ok") == "2" }) {
				t.Fatalf("no partial resync after CLIENT KILL TYPE master: sync_partial_ok %s", replInfo(t, m, "stats", "sync_partial_ok"))
			}
			replConverge(t, maddr, ps.addr, m, r, "after the replica killed the link")
			if got := replInfo(t, m, "stats", "sync_full"); got != "1" {
				t.Errorf("sync_full:%s, want 1", got)
			}

			// A master again: the data stays and writes work.
			want := keyspace(t, ps.addr)
			if v, err := r.Do(ctx, "replicaof", "no", "one").Result(); err != nil || v != "OK" {
				t.Fatalf("REPLICAOF NO ONE: %v %v", v, err)
			}
			if got := keyspace(t, ps.addr); !slices.Equal(got, want) {
				t.Errorf("REPLICAOF NO ONE changed the data: %s", firstDiff(want, got))
			}
			if err := r.Set(ctx, "x", "y", 0).Err(); err != nil {
				t.Errorf("write after REPLICAOF NO ONE: %v", err)
			}
		})
	}
}
