package conn

import (
	"bufio"
	"context"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

const b3ID = "0123456789abcdef0123456789abcdef01234567"

// b3Healthy checks the replica answers, REPLICAOF NO ONE returns
// promptly, the server shuts down and no link goroutine stays.
func b3Healthy(t *testing.T, ps *persistServer) {
	t.Helper()
	c := newClient2(t, ps.addr, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	start := time.Now()
	if err := c.Do(ctx, "replicaof", "no", "one").Err(); err != nil {
		t.Fatalf("REPLICAOF NO ONE: %v (after %v)", err, time.Since(start))
	}
	if err := c.Set(ctx, "after", "1", 0).Err(); err != nil {
		t.Fatalf("SET after NO ONE: %v", err)
	}
	c.Close()
	done := make(chan struct{})
	go func() { ps.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown hangs")
	}
	buf := make([]byte, 8<<20)
	if st := string(buf[:runtime.Stack(buf, true)]); strings.Contains(st, "(*replLink)") {
		t.Fatalf("a link goroutine outlived Shutdown:\n%s", st)
	}
}

func b3RDB(t *testing.T) []byte {
	src := startPersistServer(t, 1, t.TempDir())
	sc := newClient2(t, src.addr, 2)
	sc.Set(context.Background(), "from-rdb", "yes", 0)
	if err := sc.Save(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src.srv.rdbPath())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBreak3HostileHandshake: malformed replies to PSYNC and broken RDB
// payloads.
func TestBreak3HostileHandshake(t *testing.T) {
	rdbFile := b3RDB(t)
	good := "$" + strconv.Itoa(len(rdbFile)) + "\r\n" + string(rdbFile)
	for name, send := range map[string]string{
		"fullresync-bare":     "+FULLRESYNC\r\n",
		"fullresync-shortid":  "+FULLRESYNC abc 1000\r\n",
		"fullresync-badoff":   "+FULLRESYNC " + b3ID + " x\r\n",
		"fullresync-minoff":   "+FULLRESYNC " + b3ID + " -9223372036854775808\r\n" + good + respCmd("SET", "a", "1") + respCmd("REPLCONF", "GETACK", "*"),
		"fullresync-maxoff":   "+FULLRESYNC " + b3ID + " 9223372036854775807\r\n" + good + respCmd("SET", "a", "1") + respCmd("REPLCONF", "GETACK", "*"),
		"continue-nocache":    "+CONTINUE\r\n",
		"continue-id":         "+CONTINUE " + b3ID + "\r\n",
		"rdb-minus1":          "+FULLRESYNC " + b3ID + " 1\r\n$-1\r\n",
		"rdb-huge":            "+FULLRESYNC " + b3ID + " 1\r\n$999999999999999\r\nREDIS",
		"rdb-overflow":        "+FULLRESYNC " + b3ID + " 1\r\n$99999999999999999999999\r\n",
		"rdb-short":           "+FULLRESYNC " + b3ID + " 1\r\n$100\r\nREDIS0009",
		"rdb-garbage":         "+FULLRESYNC " + b3ID + " 1\r\n$10\r\n0123456789" + respCmd("SET", "a", "1"),
		"rdb-empty":           "+FULLRESYNC " + b3ID + " 1\r\n$0\r\n" + respCmd("SET", "a", "1"),
		"eof-short":           "+FULLRESYNC " + b3ID + " 1\r\n$EOF:abc\r\n",
		"eof-never":           "+FULLRESYNC " + b3ID + " 1\r\n$EOF:" + b3ID + "\r\n" + strings.Repeat("x", 1<<20),
		"eof-empty":           "+FULLRESYNC " + b3ID + " 1\r\n$EOF:" + b3ID + "\r\n" + b3ID,
		"longline":            strings.Repeat("+", 200<<10),
		"dollar-only":         "+FULLRESYNC " + b3ID + " 1\r\n$\r\n",
		"err":                 "-ERR nope\r\n",
		"newlines-then-close": "\n\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			fm := startFakeMaster(t)
			a := fm.l.Addr().(*net.TCPAddr)
			ps := startPersistServer(t, 4, t.TempDir(), "replicaof", a.IP.String()+" "+strconv.Itoa(a.Port))
			var nc net.Conn
			select {
			case nc = <-fm.links:
			case <-time.After(10 * time.Second):
				t.Fatal("no connect")
			}
			defer nc.Close()
			br := bufio.NewReader(nc)
			fakeHandshake(t, nc, br)
			go nc.Write([]byte(send))
			time.Sleep(300 * time.Millisecond)
			b3Healthy(t, ps)
		})
	}
}

// TestBreak3HostileStream: hostile commands after a good sync.
func TestBreak3HostileStream(t *testing.T) {
	many := strings.Repeat(respCmd("REPLCONF", "GETACK", "*"), 20000)
	for name, send := range map[string]string{
		"star-huge":    "*2147483648\r\n",
		"star-neg":     "*-1\r\n",
		"star-big-ok":  "*1048576\r\n$3\r\nset\r\n",
		"bulk-neg":     "*1\r\n$-5\r\n",
		"bulk-over":    "*1\r\n$1048577\r\n",
		"bulk-max":     "*2\r\n$3\r\nset\r\n$1048576\r\nabc",
		"multi-noexec": respCmd("MULTI") + strings.Repeat(respCmd("SET", "k", "v"), 5000),
		"select99":     respCmd("SELECT", "99") + respCmd("SET", "k", "v") + respCmd("SELECT", "-1") + respCmd("SELECT", "x"),
		"getack-flood": many,
		"zero":         "*0\r\n*0\r\n\r\n\n",
		"inline":       "SET a b\r\nGET\r\n   \r\n",
		"blocking":     respCmd("BLPOP", "nolist", "0") + respCmd("BRPOPLPUSH", "a", "b", "0") + respCmd("BZPOPMIN", "z", "0") + respCmd("XREAD", "BLOCK", "0", "STREAMS", "s", "$") + respCmd("BLMPOP", "0", "1", "l", "LEFT") + respCmd("WAIT", "5", "0") + respCmd("SET", "blk", "done"),
		"locals":       respCmd("SHUTDOWN") + respCmd("REPLICAOF", "NO", "ONE") + respCmd("DEBUG", "SLEEP", "100") + respCmd("CLIENT", "PAUSE", "100000") + respCmd("MONITOR") + respCmd("SUBSCRIBE", "x") + respCmd("SYNC") + respCmd("PSYNC", "?", "-1") + respCmd("FAILOVER") + respCmd("SET", "loc", "done"),
		"xgroup-block": respCmd("XADD", "s", "*", "f", "v") + respCmd("XGROUP", "CREATE", "s", "g", "$") + respCmd("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">") + respCmd("SET", "xg", "done"),
		"exec-alone":   respCmd("EXEC") + respCmd("DISCARD") + respCmd("SET", "ex", "done"),
		"publish-bad":  respCmd("PUBLISH") + respCmd("PUBLISH", "a") + respCmd("SPUBLISH", "a", "b", "c"),
		"function-bad": respCmd("FUNCTION") + respCmd("FUNCTION", "LOAD") + respCmd("FUNCTION", "RESTORE", "garbage") + respCmd("FUNCTION", "RESTORE", "garbage", "FLUSH") + respCmd("FUNCTION", "FLUSH"),
		"eval-bad":     respCmd("EVAL") + respCmd("EVAL", "return 1") + respCmd("EVAL", "return 1", "99") + respCmd("EVALSHA", "abc", "0") + respCmd("EVAL", "redis.call('blpop','q',0)", "0"),
		"swapdb-move":  respCmd("SWAPDB", "0", "99") + respCmd("MOVE", "from-rdb", "99") + respCmd("COPY", "from-rdb", "x", "DB", "99"),
		"empty-name":   "*1\r\n$0\r\n\r\n",
		"no-crlf-bulk": "*1\r\n$3\r\nabcde\r\n",
		"debug-reload": respCmd("DEBUG", "RELOAD") + respCmd("FLUSHALL") + respCmd("SET", "fa", "1"),
		"restore-junk": respCmd("RESTORE", "r", "0", "\x00\x01junk") + respCmd("RESTORE", "r2", "0", "\x00"),
		"object-freq":  respCmd("OBJECT", "FREQ", "from-rdb"),
		"expire-huge":  respCmd("SET", "e", "1") + respCmd("PEXPIREAT", "e", "9223372036854775807") + respCmd("EXPIRE", "e2", "-9223372036854775808"),
	} {
		t.Run(name, func(t *testing.T) {
			ps, nc, _ := syncFromFakeMaster(t, b3ID, "from-rdb", "yes", 0, "proto-max-bulk-len", "1048576")
			defer nc.Close()
			go nc.Write([]byte(send))
			// The master does not read: replies (ACKs) may back up.
			time.Sleep(500 * time.Millisecond)
			if k, ok := b3Marker[name]; ok {
				c := newClient2(t, ps.addr, 2)
				if !replWait(3*time.Second, func() bool { return c.Get(context.Background(), k).Val() != "" }) {
					t.Errorf("the stream stalled before %s", k)
				}
				if v := c.Get(context.Background(), "from-rdb").Val(); v != "yes" && name != "debug-reload" && name != "swapdb-move" {
					t.Errorf("from-rdb = %q", v)
				}
			}
			b3Healthy(t, ps)
		})
	}
}

// b3Marker: the key a scenario's last command sets.
var b3Marker = map[string]string{
	"select99": "k", "blocking": "blk", "locals": "loc", "xgroup-block": "xg",
	"exec-alone": "ex", "debug-reload": "fa", "expire-huge": "e",
}

// TestBreak3HostileReplica: a master facing absurd PSYNCs, a SYNC twice,
// garbage ACKs, huge WAITs, links closed mid-RDB and 20 replicas at once.
func TestBreak3HostileReplica(t *testing.T) {
	ps := startPersistServer(t, 4, t.TempDir(), "repl-diskless-sync-delay", "0")
	c := newClient2(t, ps.addr, 4)
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		c.Set(ctx, "k"+strconv.Itoa(i), strings.Repeat("v", 1000), 0)
	}
	raw := func(cmds ...string) (net.Conn, *bufio.Reader) {
		nc, err := net.Dial("tcp", ps.addr)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range cmds {
			nc.Write([]byte(s))
		}
		return nc, bufio.NewReader(nc)
	}
	// Prime the backlog with one real sync.
	nc, br := raw(respCmd("PSYNC", "?", "-1"))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+FULLRESYNC") {
		t.Fatalf("PSYNC: %q %v", line, err)
	}
	nc.Close()
	replid := replInfo(t, c, "replication", "master_replid")
	for _, off := range []string{"-1", "0", "-9223372036854775808", "9223372036854775807", "9223372036854775806", "1", "2", "99999999999", "-9223372036854775807"} {
		for _, rid := range []string{replid, "?", "0000000000000000000000000000000000000000"} {
			nc, br := raw(respCmd("PSYNC", rid, off))
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := br.ReadString('\n')
			for err == nil && line == "\n" {
				line, err = br.ReadString('\n')
			}
			if err != nil {
				t.Errorf("PSYNC %s %s: %v", rid, off, err)
			}
			nc.Close()
		}
	}
	// SYNC twice, pipelined and after.
	nc, br = raw(respCmd("SYNC") + respCmd("SYNC") + respCmd("PSYNC", "?", "-1"))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br.ReadString('\n')
	nc.Close()
	// Garbage ACKs, then close mid-RDB.
	nc, br = raw(respCmd("REPLCONF", "capa", "eof"), respCmd("PSYNC", "?", "-1"),
		respCmd("REPLCONF", "ACK", "x"), respCmd("REPLCONF", "ACK"), respCmd("REPLCONF", "ACK", "9223372036854775807"),
		respCmd("REPLCONF", "ACK", "-9223372036854775808"), respCmd("REPLCONF", "GETACK", "*"), respCmd("REPLCONF"))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br.ReadString('\n')
	br.Read(make([]byte, 100))
	nc.Close()
	// An ACK of MaxInt64 makes a replica count for WAIT (as Redis); a
	// WAIT with huge arguments answers.
	nc, br = raw(respCmd("PSYNC", "?", "-1"))
	go func() {
		nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		br.ReadString('\n')
		nc.Write([]byte(respCmd("REPLCONF", "ACK", "9223372036854775807")))
		b3Drain(br)
	}()
	waitLink := nc
	defer waitLink.Close()
	c.Set(ctx, "w", "1", 0)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if n, err := c.Do(wctx, "wait", "9223372036854775807", "500").Result(); err != nil {
		t.Errorf("WAIT huge: %v %v", n, err)
	}
	if _, err := c.Do(wctx, "wait", "1", "9223372036854775807").Result(); err == nil {
		t.Log("WAIT huge timeout accepted")
	}
	if _, err := c.Do(wctx, "wait", "-5", "0").Result(); err != nil {
		t.Errorf("WAIT -5 0: %v", err)
	}
	// 20 replicas at once, half closing mid-RDB.
	var conns []net.Conn
	for i := 0; i < 20; i++ {
		nc, br := raw(respCmd("REPLCONF", "capa", "eof"), respCmd("PSYNC", "?", "-1"))
		conns = append(conns, nc)
		if i%2 == 0 {
			go func() { br.Read(make([]byte, 50)); nc.Close() }()
		} else {
			go b3Drain(br)
		}
	}
	time.Sleep(time.Second)
	for _, nc := range conns {
		nc.Close()
	}
	waitLink.Close() // the WAIT test's replica: every link is closed now
	if err := c.Set(wctx, "after", "1", 0).Err(); err != nil {
		t.Fatalf("SET after: %v", err)
	}
	if v := c.Get(wctx, "k199").Val(); len(v) != 1000 {
		t.Fatalf("k199 lost")
	}
	if !replWait(5*time.Second, func() bool { return replInfo(t, c, "replication", "connected_slaves") == "0" }) {
		info, _ := c.Info(context.Background(), "replication").Result()
		t.Errorf("replicas stay after their links closed: %s", info)
	}
	c.Close()
	done := make(chan struct{})
	go func() { ps.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown hangs")
	}
}

func b3Drain(br *bufio.Reader) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := br.Read(buf); err != nil {
			return
		}
	}
}
