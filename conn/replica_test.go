package conn

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
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
	if v, err := c.Do(ctx, "role").Slice(); err != nil || len(v) != 5 || v[0] != "slave" || v[1] != host ||
		v[2] != mustAtoi(port) || (v[3] != "connect" && v[3] != "connecting") || v[4] != int64(-1) {
		t.Errorf("ROLE with the link down: %v %v", v, err)
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
	// replica-serve-stale-data no: with the link down, only commands with
	// the stale flag run.
	if err := c.ConfigSet(ctx, "replica-serve-stale-data", "no").Err(); err != nil {
		t.Fatal(err)
	}
	const down = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
	if _, err := do("get", "kept"); err == nil || err.Error() != down {
		t.Errorf("GET with the link down: %v", err)
	}
	if replInfo(t, c, "replication", "role") != "slave" {
		t.Error("INFO refused with the link down")
	}
	if err := c.ConfigSet(ctx, "replica-serve-stale-data", "yes").Err(); err != nil {
		t.Fatal(err)
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
	buf := make([]byte, 8<<20)
	if st := string(buf[:runtime.Stack(buf, true)]); strings.Contains(st, "(*replLink)") {
		t.Errorf("a link goroutine outlived Shutdown:\n%s", st)
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

// fakeMaster is a scripted master on a loopback port: each accepted link
// goes to the test through links.
type fakeMaster struct {
	l     net.Listener
	links chan net.Conn
}

func startFakeMaster(t *testing.T) *fakeMaster {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fm := &fakeMaster{l: l, links: make(chan net.Conn, 4)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			fm.links <- nc
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for {
			select {
			case nc := <-fm.links:
				nc.Close()
			default:
				return
			}
		}
	})
	return fm
}

// respCmd encodes a command as the master's stream carries it.
func respCmd(args ...string) string {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.String()
}

// handshake answers the replica's handshake on nc and returns the
// commands it sent, up to and including PSYNC.
func fakeHandshake(t *testing.T, nc net.Conn, br *bufio.Reader) [][]string {
	t.Helper()
	var got [][]string
	for {
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		c, err := readReplCommand(br, 1<<20, nil)
		if err != nil {
			t.Fatalf("handshake: %v (so far %v)", err, got)
		}
		var args []string
		for _, a := range c.args {
			args = append(args, string(a))
		}
		got = append(got, args)
		switch strings.ToLower(args[0]) {
		case "ping":
			nc.Write([]byte("+PONG\r\n"))
		case "psync":
			return got
		default:
			nc.Write([]byte("+OK\r\n"))
		}
	}
}

// nextAck reads the replica's commands until a REPLCONF ACK for want
// (others, the periodic ACKs, are skipped).
func nextAck(t *testing.T, nc net.Conn, br *bufio.Reader, want int64) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var seen []string
	for {
		c, err := readReplCommand(br, 1<<20, nil)
		if err != nil {
			t.Fatalf("waiting for ACK %d: %v (seen %v)", want, err, seen)
		}
		if len(c.args) == 3 && strings.EqualFold(string(c.args[1]), "ack") {
			if string(c.args[2]) == strconv.FormatInt(want, 10) {
				return
			}
			seen = append(seen, string(c.args[2]))
			if len(seen) > 20 {
				t.Fatalf("no ACK %d: seen %v", want, seen)
			}
		}
	}
}

// rdbWithKey returns an RDB file holding key = val (with ttl if not 0),
// saved by a Valkyrie of its own.
func rdbWithKey(t *testing.T, key, val string, ttl time.Duration) []byte {
	t.Helper()
	src := startPersistServer(t, 1, t.TempDir())
	sc := newClient2(t, src.addr, 2)
	ctx := context.Background()
	sc.Set(ctx, key, val, ttl)
	if err := sc.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src.srv.rdbPath())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplicaProtocol drives a replica (started with replicaof, masterauth
// and masteruser in its configuration) from a scripted master: the
// handshake, a diskless payload after keepalive newlines, the offset
// counted as Redis does (GETACK answered with the offset before it, a
// transaction counted at its EXEC), repl-timeout on a silent master, and
// the PSYNC <replid> <offset+1> after it, answered +CONTINUE.
func TestReplicaProtocol(t *testing.T) {
	// An RDB with one key, from a Valkyrie of its own.
	rdbFile := rdbWithKey(t, "from-rdb", "yes", 0)
	ctx := context.Background()

	fm := startFakeMaster(t)
	dir := t.TempDir()
	ps := startPersistServer(t, 8, dir, "replicaof", fm.l.Addr().(*net.TCPAddr).IP.String()+" "+strconv.Itoa(fm.l.Addr().(*net.TCPAddr).Port),
		"repl-timeout", "2", "masterauth", "secret", "masteruser", "repl", "appendonly", "yes")
	r := newClient2(t, ps.addr, 2)

	var nc net.Conn
	select {
	case nc = <-fm.links:
	case <-time.After(10 * time.Second):
		t.Fatal("the replica did not connect")
	}
	br := bufio.NewReader(nc)
	hs := fakeHandshake(t, nc, br)
	want := [][]string{{"PING"}, {"AUTH", "repl", "secret"}, {"REPLCONF", "listening-port", strconv.FormatInt(ps.srv.listenPort(), 10)},
		{"REPLCONF", "capa", "eof", "capa", "psync2"}, {"PSYNC", "?", "-1"}}
	if !slices.EqualFunc(hs, want, slices.Equal[[]string]) {
		t.Fatalf("handshake %q, want %q", hs, want)
	}
	const replid = "0123456789abcdef0123456789abcdef01234567"
	mark := strings.Repeat("m", 40)
	nc.Write([]byte("+FULLRESYNC " + replid + " 1000\r\n\n\n"))
	time.Sleep(20 * time.Millisecond)
	nc.Write([]byte("$EOF:" + mark + "\r\n"))
	nc.Write(rdbFile[:len(rdbFile)/2])
	time.Sleep(20 * time.Millisecond)
	nc.Write(rdbFile[len(rdbFile)/2:])
	nc.Write([]byte(mark[:10]))
	time.Sleep(20 * time.Millisecond)
	nc.Write([]byte(mark[10:]))
	nextAck(t, nc, br, 1000)
	if v, err := r.Get(ctx, "from-rdb").Result(); err != nil || v != "yes" {
		t.Fatalf("the RDB's key: %v %v", v, err)
	}

	off := int64(1000)
	send := func(s string) {
		nc.Write([]byte(s))
		off += int64(len(s))
	}
	send(respCmd("SELECT", "2"))
	send(respCmd("SET", "k", "v"))
	send(respCmd("PING"))
	send(respCmd("MULTI"))
	send(respCmd("MULTI")) // nested: Redis refuses it, but its bytes count
	send(respCmd("INCR", "ctr"))
	send(respCmd("RPUSH", "l", "a", "b"))
	send(respCmd("EXEC"))
	before := off
	send(respCmd("REPLCONF", "GETACK", "*"))
	nextAck(t, nc, br, before)
	r2 := redis.NewClient(&redis.Options{Addr: ps.addr, DB: 2, Protocol: 2})
	defer r2.Close()
	if v := r2.Get(ctx, "k").Val(); v != "v" {
		t.Errorf("k = %q", v)
	}
	if v := r2.LRange(ctx, "l", 0, -1).Val(); !slices.Equal(v, []string{"a", "b"}) {
		t.Errorf("l = %q", v)
	}
	if got := replInfo(t, r, "replication", "slave_repl_offset"); got != strconv.FormatInt(off, 10) {
		t.Errorf("slave_repl_offset %s, want %d", got, off)
	}
	if got := replInfo(t, r, "replication", "master_replid"); got != replid {
		t.Errorf("master_replid %s", got)
	}
	// For the master's commands no key has expired: an INCR that arrives
	// after the TTL passed here (the master saw the key live) finds it,
	// and so does the PERSIST after it. Clients meanwhile read nothing.
	send(respCmd("SET", "ttlkey", "1", "PXAT", strconv.FormatInt(time.Now().Add(50*time.Millisecond).UnixMilli(), 10)))
	time.Sleep(150 * time.Millisecond)
	if err := r2.Get(ctx, "ttlkey").Err(); err != redis.Nil {
		t.Errorf("GET of a key past its TTL on a replica: %v", err)
	}
	send(respCmd("INCR", "ttlkey"))
	send(respCmd("PERSIST", "ttlkey"))
	if !replWait(5*time.Second, func() bool { return r2.Get(ctx, "ttlkey").Val() == "2" }) {
		t.Errorf("ttlkey = %q after INCR and PERSIST from the master, want 2", r2.Get(ctx, "ttlkey").Val())
	}
	// ROLE while connected.
	if v, err := r.Do(ctx, "role").Slice(); err != nil || len(v) != 5 || v[0] != "slave" || v[3] != "connected" || v[4] != off {
		t.Errorf("ROLE: %v %v, want offset %d", v, err, off)
	}
	// A transaction not yet ended does not count.
	send(respCmd("MULTI"))
	send(respCmd("SET", "pending", "1"))
	time.Sleep(100 * time.Millisecond)
	if got := replInfo(t, r, "replication", "slave_repl_offset"); got != strconv.FormatInt(off-int64(len(respCmd("MULTI")+respCmd("SET", "pending", "1"))), 10) {
		t.Errorf("slave_repl_offset %s inside a transaction", got)
	}
	if r2.Exists(ctx, "pending").Val() != 0 {
		t.Error("a transaction's command ran before its EXEC")
	}
	send(respCmd("EXEC"))

	// Silence: the replica gives up after repl-timeout and asks to go on.
	began := time.Now()
	var nc2 net.Conn
	select {
	case nc2 = <-fm.links:
	case <-time.After(10 * time.Second):
		t.Fatal("the replica did not reconnect after repl-timeout")
	}
	if d := time.Since(began); d < time.Second {
		t.Errorf("reconnected after %v, before repl-timeout", d)
	}
	nc.Close()
	br2 := bufio.NewReader(nc2)
	hs = fakeHandshake(t, nc2, br2)
	if last := hs[len(hs)-1]; !slices.Equal(last, []string{"PSYNC", replid, strconv.FormatInt(off+1, 10)}) {
		t.Fatalf("PSYNC after a dropped link: %q, want offset %d", last, off+1)
	}
	nc2.Write([]byte("+CONTINUE\r\n"))
	nextAck(t, nc2, br2, off)
	nc2.Write([]byte(respCmd("SET", "after", "continue")))
	if !replWait(5*time.Second, func() bool { return r2.Get(ctx, "after").Val() == "continue" }) {
		t.Error("the stream after +CONTINUE was not applied in the database selected before")
	}
	if r2.Get(ctx, "pending").Val() != "1" || r2.Get(ctx, "k").Val() != "v" {
		t.Error("+CONTINUE lost the data")
	}
	// ROLE-like state in INFO.
	if got := replInfo(t, r, "replication", "master_link_status"); got != "up" {
		t.Errorf("master_link_status:%s", got)
	}
	nc2.Close()

	// The AOF was rewritten after the full sync: a restart from it has
	// the RDB's keys and the stream's.
	if !replWait(10*time.Second, func() bool { return replInfo(t, r, "persistence", "aof_rewrite_in_progress") == "0" }) {
		t.Fatal("the AOF rewrite did not end")
	}
	if got := replInfo(t, r, "persistence", "aof_last_bgrewrite_status"); got != "ok" {
		t.Errorf("aof_last_bgrewrite_status:%s", got)
	}
	r.Close()
	r2.Close()
	ps.stop()
	again := startPersistServer(t, 8, dir, "appendonly", "yes")
	a0 := newClient2(t, again.addr, 2)
	a2 := redis.NewClient(&redis.Options{Addr: again.addr, DB: 2, Protocol: 2})
	defer a2.Close()
	if a0.Get(ctx, "from-rdb").Val() != "yes" || a2.Get(ctx, "after").Val() != "continue" || a2.Get(ctx, "ctr").Val() != "1" {
		t.Errorf("after a restart from the replica's AOF: from-rdb %q after %q ctr %q",
			a0.Get(ctx, "from-rdb").Val(), a2.Get(ctx, "after").Val(), a2.Get(ctx, "ctr").Val())
	}
}

// TestReplicaofConfigRewrite: CONFIG REWRITE writes the master REPLICAOF
// set, and drops the line after REPLICAOF NO ONE; CONFIG SET replicaof
// is refused (immutable), as in Redis.
func TestReplicaofConfigRewrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(path, []byte("dir "+dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newClient2(t, startServerWithFile(t, path), 2)
	ctx := context.Background()
	host, port := replClosedPort(t)
	if err := c.Do(ctx, "replicaof", host, port).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigRewrite(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "\nreplicaof "+host+" "+port+"\n") {
		t.Errorf("after REPLICAOF, the file:\n%s", b)
	}
	if err := c.ConfigSet(ctx, "replicaof", "no one").Err(); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("CONFIG SET replicaof: %v", err)
	}
	if err := c.Do(ctx, "replicaof", "no", "one").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigRewrite(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "replicaof") {
		t.Errorf("after REPLICAOF NO ONE, the file:\n%s", b)
	}
}

// TestReadReplCommand: the stream's parser counts every byte, and refuses
// malformed input and a bulk over the limit.
func TestReadReplCommand(t *testing.T) {
	in := respCmd("SET", "k", "v") + "\n" + respCmd("PING")
	br := bufio.NewReader(strings.NewReader(in))
	var total int64
	var names []string
	for {
		c, err := readReplCommand(br, 100, nil)
		if err != nil {
			break
		}
		total += c.size
		if len(c.args) > 0 {
			names = append(names, string(c.args[0]))
		}
	}
	if total != int64(len(in)) || !slices.Equal(names, []string{"SET", "PING"}) {
		t.Fatalf("counted %d of %d bytes, commands %q", total, len(in), names)
	}
	for _, bad := range []string{"*x\r\n", "*-2\r\n", "*1\r\n:1\r\n", "*1\r\n$101\r\n", "*1\r\n$-1\r\n", "*2\r\n$1\r\na\r\n", "*99999999\r\n"} {
		if _, err := readReplCommand(bufio.NewReader(strings.NewReader(bad)), 100, nil); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestReplicaofUnblocksClients: a client blocked in BLPOP when the server
// turns replica gets Redis's UNBLOCKED error, and is closed.
func TestReplicaofUnblocksClients(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	c := newClient2(t, addr, 2)
	b := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, PoolSize: 1, MaxRetries: -1})
	defer b.Close()
	res := make(chan error, 1)
	go func() { res <- b.BLPop(ctx, 0, "list").Err() }()
	if !replWait(5*time.Second, func() bool { return replInfo(t, c, "clients", "blocked_clients") == "1" }) {
		t.Fatal("BLPOP did not block")
	}
	host, port := replClosedPort(t)
	if err := c.Do(ctx, "replicaof", host, port).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if err == nil || err.Error() != errRoleChanged {
			t.Errorf("BLPOP: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("BLPOP still blocked after REPLICAOF")
	}
	if !replWait(5*time.Second, func() bool { return replInfo(t, c, "clients", "connected_clients") == "1" }) {
		t.Errorf("the unblocked client was not closed: connected_clients:%s", replInfo(t, c, "clients", "connected_clients"))
	}
	c.Do(ctx, "replicaof", "no", "one")
}

// TestReplicaContainerAlone: a container command with no subcommand
// (COMMAND) used to panic in the write check (args[1]) that NOREPLICAS
// and now READONLY and MASTERDOWN run.
func TestReplicaContainerAlone(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	c := newClient2(t, addr, 2)
	// The same check runs for min-replicas-to-write (NOREPLICAS).
	if err := c.ConfigSet(ctx, "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "command").Err(); err != nil {
		t.Errorf("COMMAND with min-replicas-to-write: %v", err)
	}
	if err := c.ConfigSet(ctx, "min-replicas-to-write", "0").Err(); err != nil {
		t.Fatal(err)
	}
	host, port := replClosedPort(t)
	if err := c.Do(ctx, "replicaof", host, port).Err(); err != nil {
		t.Fatal(err)
	}
	defer c.Do(ctx, "replicaof", "no", "one")
	for _, stale := range []string{"yes", "no"} {
		if err := c.ConfigSet(ctx, "replica-serve-stale-data", stale).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.Do(ctx, "command").Err(); err != nil {
			t.Errorf("COMMAND on a replica, replica-serve-stale-data %s: %v", stale, err)
		}
		if err := c.Info(ctx, "server").Err(); err != nil {
			t.Errorf("the connection after COMMAND: %v", err)
		}
	}
}

func mustAtoi(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}

// TestReplicaOfValkyrie: a Valkyrie replica of a Valkyrie master (repl.go)
// reaches its keyspace, follows its writes, and continues after its link
// is killed.
func TestReplicaOfValkyrie(t *testing.T) {
	master := startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync-delay", "0")
	ctx := context.Background()
	m := newClient2(t, master.addr, 2)
	fillEveryType(t, m)
	replica := startPersistServer(t, 8, t.TempDir())
	r := newClient2(t, replica.addr, 2)
	host, port, _ := net.SplitHostPort(master.addr)
	if err := r.Do(ctx, "replicaof", host, port).Err(); err != nil {
		t.Fatal(err)
	}
	replConverge(t, master.addr, replica.addr, m, r, "after the full sync")
	writeLoad(t, master.addr, 4, 200, "a")
	replConverge(t, master.addr, replica.addr, m, r, "after the write load")
	if n, err := r.ClientKillByFilter(ctx, "TYPE", "master").Result(); err != nil || n != 1 {
		t.Fatalf("CLIENT KILL TYPE master: %v %v", n, err)
	}
	writeLoad(t, master.addr, 2, 100, "b")
	replConverge(t, master.addr, replica.addr, m, r, "after the link was killed")
	if got := replInfo(t, m, "stats", "sync_partial_ok"); got != "1" {
		t.Errorf("sync_partial_ok:%s, want 1", got)
	}
}

// TestReplicaFailedLoadForgetsItsHistory: a full sync whose RDB does not
// load has emptied the dataset already; the next attempt must be a full
// sync (PSYNC ? -1), never a partial resync that would continue the old
// history on the emptied data. Found by a review: the replica sent its old
// replication ID and offset, took +CONTINUE, and lost the master's keys.
func TestReplicaFailedLoadForgetsItsHistory(t *testing.T) {
	rdbFile := rdbWithKey(t, "k0", "v", 0)
	ctx := context.Background()
	fm := startFakeMaster(t)
	ps := startPersistServer(t, 4, t.TempDir(), "replicaof",
		fm.l.Addr().(*net.TCPAddr).IP.String()+" "+strconv.Itoa(fm.l.Addr().(*net.TCPAddr).Port))
	next := func() (net.Conn, *bufio.Reader, [][]string) {
		t.Helper()
		select {
		case nc := <-fm.links:
			br := bufio.NewReader(nc)
			return nc, br, fakeHandshake(t, nc, br)
		case <-time.After(10 * time.Second):
			t.Fatal("the replica did not connect")
		}
		return nil, nil, nil
	}
	const replid = "0123456789abcdef0123456789abcdef01234567"
	nc, br, _ := next()
	nc.Write([]byte("+FULLRESYNC " + replid + " 100\r\n$" + strconv.Itoa(len(rdbFile)) + "\r\n"))
	nc.Write(rdbFile)
	nextAck(t, nc, br, 100)
	nc.Close()

	nc, _, hs := next()
	if got := hs[len(hs)-1]; !slices.Equal(got, []string{"PSYNC", replid, "101"}) {
		t.Fatalf("after a good sync the replica sent %q", got)
	}
	bad := "REDIS0010\xff garbage"
	nc.Write([]byte("+FULLRESYNC " + replid + " 200\r\n$" + strconv.Itoa(len(bad)) + "\r\n" + bad))
	nc.Close()

	_, _, hs = next()
	if got := hs[len(hs)-1]; !slices.Equal(got, []string{"PSYNC", "?", "-1"}) {
		t.Fatalf("after a sync that did not load the replica sent %q, want PSYNC ? -1", got)
	}
	if n := newClient2(t, ps.addr, 2).DBSize(ctx).Val(); n != 0 {
		t.Logf("dataset after the failed load: %d keys", n)
	}
}

// TestReplicaRefusesEndlessMasterLine: a master that answers the handshake
// with bytes and no newline must not make the replica buffer them all (a
// review grew one to 618 MB); the link is dropped and tried again.
func TestReplicaRefusesEndlessMasterLine(t *testing.T) {
	fm := startFakeMaster(t)
	startPersistServer(t, 2, t.TempDir(), "replicaof",
		fm.l.Addr().(*net.TCPAddr).IP.String()+" "+strconv.Itoa(fm.l.Addr().(*net.TCPAddr).Port))
	var nc net.Conn
	select {
	case nc = <-fm.links:
	case <-time.After(10 * time.Second):
		t.Fatal("the replica did not connect")
	}
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := readReplCommand(br, 1<<20, nil); err != nil { // PING
		t.Fatal(err)
	}
	chunk := []byte(strings.Repeat("x", 64<<10))
	sent := 0
	nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for ; sent < 64<<20; sent += len(chunk) {
		if _, err := nc.Write(chunk); err != nil {
			break // the replica closed the link
		}
	}
	if sent >= 64<<20 {
		t.Fatalf("the replica took %d bytes of one line without a newline", sent)
	}
}

// A bulk length the master announces but does not send costs no memory:
// a stream cut after "$500000000" ends in an error having allocated about
// a megabyte, not 500 MB.
func TestReadReplCommandAnnouncedBulkAllocatesAsItComes(t *testing.T) {
	in := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$500000000\r\n" + strings.Repeat("x", 1000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readReplCommand(bufio.NewReader(strings.NewReader(in)), 1<<30, nil)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a bulk cut short read as whole")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Fatalf("reading a cut-short 500 MB bulk allocated %d bytes", grew)
	}
}
