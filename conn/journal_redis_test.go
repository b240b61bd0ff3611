package conn

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// The journal (shard/journal.go) must hold what Redis 7.0 writes to its
// AOF for the same commands: each write in its deterministic form. The
// same script runs, one command at a time, against a real redis-server
// with appendonly on and against Valkyrie with its journal on; the two
// command streams must match once what legitimately differs is
// normalised (absolute times, IDs made from the clock, MULTI/EXEC around
// a single command, the order of SREM's members).

const journalRedisPort = "7421"

// jstep is one command of the script. block runs it on a second client
// and waits until the server counts it blocked; the next step then
// serves it and the test waits for its reply.
type jstep struct {
	args  []any
	block bool
}

func js(args ...any) jstep   { return jstep{args: args} }
func jblk(args ...any) jstep { return jstep{args: args, block: true} }

var journalScript = []jstep{
	// Strings and expiry (done before: shard/journal_forms.go).
	js("SET", "str", "v", "EX", "100"),
	js("SETEX", "str2", "100", "v"),
	js("EXPIRE", "str2", "200"),
	js("SET", "f", "1.5"),
	js("INCRBYFLOAT", "f", "2"),
	js("SADD", "set1", "only"),
	js("SPOP", "set1"),

	// Lists served at once.
	js("RPUSH", "l", "a", "b", "c", "d", "e", "f", "g"),
	js("BLPOP", "nolist", "l", "0"),
	js("BRPOP", "l", "0"),
	js("BLMPOP", "0", "2", "nolist", "l", "LEFT", "COUNT", "2"),
	js("LMPOP", "1", "l", "RIGHT", "COUNT", "10"),
	js("RPUSH", "{m}src", "a", "b", "c"),
	js("BLMOVE", "{m}src", "{m}dst", "left", "right", "0"),
	js("BRPOPLPUSH", "{m}src", "{m}dst", "0"),
	js("LMOVE", "{m}src", "other", "RIGHT", "LEFT"),
	// Lists served later.
	jblk("BLPOP", "bl", "0"),
	js("RPUSH", "bl", "x", "y"),
	jblk("BLMPOP", "0", "1", "bl2", "RIGHT", "COUNT", "5"),
	js("LPUSH", "bl2", "p", "q", "r"),
	jblk("BLMOVE", "{n}src", "{n}dst", "RIGHT", "LEFT", "0"),
	js("RPUSH", "{n}src", "z"),
	jblk("BLMOVE", "far-src", "far-dst", "LEFT", "LEFT", "0"), // across shards
	js("RPUSH", "far-src", "w"),
	jblk("BRPOPLPUSH", "bq", "bq2", "0"),
	js("RPUSH", "bq", "v"),
	jblk("BLPOP", "ka", "kb", "kc", "kd", "0"), // keys on several shards
	js("RPUSH", "kc", "x", "y"),
	js("BLMPOP", "0", "4", "ka", "kb", "kc", "kd", "RIGHT", "COUNT", "3"),
	jblk("BZMPOP", "0", "3", "za", "zb", "zc", "MAX", "COUNT", "2"),
	js("ZADD", "zb", "1", "a", "2", "b", "3", "c"),
	js("BZPOPMIN", "za", "zb", "zc", "0"),
	jblk("BRPOP", "bt", "0"),
	js("MULTI"), js("RPUSH", "bt", "1"), js("SET", "after", "1"), js("EXEC"),

	// Sorted sets.
	js("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"),
	js("BZPOPMIN", "noz", "z", "0"),
	js("BZPOPMAX", "z", "0"),
	js("ZMPOP", "2", "noz", "z", "MIN", "COUNT", "1"),
	js("BZMPOP", "0", "1", "z", "MAX", "COUNT", "7"),
	jblk("BZPOPMAX", "bz", "0"),
	js("ZADD", "bz", "1", "a", "2", "b"),
	jblk("BZMPOP", "0", "1", "bz2", "MIN", "COUNT", "3"),
	js("ZADD", "bz2", "3", "c", "4", "d"),

	// Streams.
	js("XADD", "s", "*", "f", "v"),
	js("XADD", "s2", "5-3", "f", "v"),
	js("XADD", "s2", "5-*", "f", "v"),
	js("XADD", "s2", "6", "f", "v"),
	js("XADD", "s2", "MAXLEN", "~", "1", "7-1", "f", "v"),
	js("XADD", "s2", "MINID", "~", "6", "LIMIT", "10", "8-1", "f", "v"),
	js("XADD", "s2", "MAXLEN", "=", "10", "9-1", "f", "v"),
	js("XTRIM", "s2", "MAXLEN", "~", "2"),
	js("XTRIM", "s2", "MAXLEN", "3"),
	js("XADD", "s3", "1-1", "f", "v"),
	js("XTRIM", "s3", "MAXLEN", "~", "0"),
	js("XADD", "s4", "1-1", "f", "v"),
	js("XTRIM", "s4", "MINID", "~", "5"),
	js("XADD", "g", "1-1", "a", "1"),
	js("XADD", "g", "1-2", "b", "2"),
	js("XADD", "g", "1-3", "c", "3"),
	js("XGROUP", "CREATE", "g", "grp", "0"),
	js("XREADGROUP", "GROUP", "grp", "alice", "COUNT", "2", "STREAMS", "g", ">"),
	js("XREADGROUP", "GROUP", "grp", "alice", "STREAMS", "g", "0"),
	js("XREADGROUP", "GROUP", "grp", "bob", "NOACK", "STREAMS", "g", ">"),
	js("XREADGROUP", "GROUP", "grp", "bob", "STREAMS", "g", ">"),
	js("XCLAIM", "g", "grp", "carol", "0", "1-1", "1-9"),
	js("XCLAIM", "g", "grp", "carol", "0", "5-5", "LASTID", "2-0"),
	js("XDEL", "g", "1-2"),
	js("XAUTOCLAIM", "g", "grp", "dave", "0", "0", "COUNT", "10"),
	js("XACK", "g", "grp", "1-1"),
	js("XGROUP", "CREATECONSUMER", "g", "grp", "erin"),
	js("XGROUP", "SETID", "g", "grp", "$"),
	js("XGROUP", "CREATE", "g", "grp2", "$"),
	js("XSETID", "g", "10-0"),
	jblk("XREADGROUP", "GROUP", "grp", "frank", "BLOCK", "0", "STREAMS", "g", ">"),
	js("XADD", "g", "11-1", "d", "4"),
	jblk("XREADGROUP", "GROUP", "grp", "gina", "NOACK", "BLOCK", "0", "STREAMS", "g", ">"),
	js("XADD", "g", "12-1", "e", "5"),
	js("XGROUP", "DELCONSUMER", "g", "grp", "erin"),
	js("XGROUP", "DESTROY", "g", "grp2"),

	// Elsewhere.
	js("SET", "gx", "1"),
	js("GETEX", "gx", "PX", "100000"),
	js("GETEX", "gx", "PERSIST"),
	js("GETDEL", "gx"),
	js("CONFIG", "SET", "lazyfree-lazy-user-del", "yes"),
	js("SET", "gx", "1"),
	js("GETDEL", "gx"),
	js("CONFIG", "SET", "lazyfree-lazy-user-del", "no"),
	js("SADD", "set2", "a", "b", "c"),
	js("SPOP", "set2", "10"),
	js("SADD", "set3", "a"),
	js("SPOP", "set3", "1"),
	js("SET", "past", "1"),
	js("EXPIREAT", "past", "1"),
	js("SET", "soon", "1", "PX", "1"),
	js("SLEEP"), // lets "soon" expire
	js("GET", "soon"),
	js("HINCRBYFLOAT", "h", "f", "1.5"),
	js("EVAL", "redis.call('SET', KEYS[1], 'x') redis.call('INCR', KEYS[2]) return redis.call('RPUSH', KEYS[1]..'l', 'y')", "2", "{e}a", "{e}b"),
	js("EVAL", "return redis.call('EXPIRE', KEYS[1], 100)", "1", "{e}a"),
	js("SET", "cp", "v"),
	js("COPY", "cp", "cp2"),
	js("MOVE", "cp2", "5"),
	js("GEOADD", "geo", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"),
	js("GEOADD", "geo", "XX", "CH", "13.361389", "38.115556", "Palermo"),
	js("GEOSEARCHSTORE", "geo2", "geo", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "ASC"),
	js("GEORADIUS", "geo", "15", "37", "200", "km", "STORE", "geo3"),
	js("PFADD", "hll", "a", "b", "c"),
	js("PFCOUNT", "hll"),
	js("SET", "ex", "v", "EXAT", "4102444800"),
	js("SET", "ex", "v2", "KEEPTTL", "GET"),
	js("EXPIRE", "ex", "100", "GT"),
	js("PEXPIRE", "ex", "100", "LT"),
	js("SETRANGE", "ex", "1", "zz"),
	js("XADD", "xs1", "1-1", "f", "v"),
	js("XADD", "xs2", "1-1", "f", "v"),
	js("XGROUP", "CREATE", "xs1", "g", "0"),
	js("XGROUP", "CREATE", "xs2", "g", "0"),
	js("MULTI"),
	js("XREADGROUP", "GROUP", "g", "h", "STREAMS", "xs1", ">"),
	js("XREADGROUP", "GROUP", "g", "h", "STREAMS", "xs2", ">"),
	js("LMPOP", "1", "nolist", "LEFT"),
	js("EXEC"),
	js("XCLAIM", "xs1", "g", "i", "0", "1-1", "IDLE", "5000", "JUSTID"),
	js("XCLAIM", "xs2", "g", "i", "0", "1-1", "TIME", "12345", "RETRYCOUNT", "7"),
	js("FUNCTION", "LOAD", "#!lua name=jlib\nredis.register_function('jset', function(keys, args) return redis.call('SET', keys[1], args[1]) end)"),
	js("FCALL", "jset", "1", "fk", "fv"),
	js("FUNCTION", "DELETE", "jlib"),
	js("FUNCTION", "FLUSH"),
	js("SCRIPT", "LOAD", "return 1"),
	js("PUBLISH", "chan", "msg"),
	js("XADDN", "big", "250"),
	js("XTRIM", "big", "MAXLEN", "~", "120"),
	js("XADD", "big", "MINID", "~", "190", "*", "f", "v"),
	js("XADD", "big", "MAXLEN", "~", "0", "LIMIT", "20", "*", "f", "v"),
	js("SET", "rsrc", "v"),
	js("DUMPRESTORE", "rsrc", "rdst", "100000"),
	js("DUMPRESTORE", "rsrc", "rdst", "0", "REPLACE"),
	js("DUMPRESTORE", "rsrc", "rdst", "1", "REPLACE", "ABSTTL"),
	js("SADD", "srt", "c", "a", "b"),
	js("SORT", "srt", "BY", "nosort", "STORE", "sorted"),
	js("SELECT", "3"),
	js("RPUSH", "db3", "a"),
	js("BLPOP", "db3", "0"),
	js("SWAPDB", "3", "4"),
	js("FLUSHDB"),
	js("FLUSHALL"),
}

func TestJournalMatchesRedisAOF(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	dir := t.TempDir()
	rs := exec.Command(bin, "--port", journalRedisPort, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--dir", dir)
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rs.Process.Kill() // by its PID
		_ = rs.Wait()
	})
	ctx := context.Background()
	raddr := "127.0.0.1:" + journalRedisPort
	rc := newClient2(t, raddr, 2)
	for i := 0; rc.Ping(ctx).Err() != nil; i++ {
		if i > 100 {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}

	srv, vaddr := startServer(t, 8)
	sink, _, _ := srv.journal.AddSink(0, 0, false)
	sink.SkipReplicationOnly() // as the AOF's: no PUBLISH
	srv.journal.SetOn(true)
	vc := newClient2(t, vaddr, 2)

	// One connection per server for the script (SELECT sticks to it) and
	// one for the command that blocks.
	run := func(addr string, c *redis.Client) {
		conn := c.Conn()
		defer conn.Close()
		blocker := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, PoolSize: 1})
		defer blocker.Close()
		var pending chan error
		inMulti := false
		for i, st := range journalScript {
			if st.block {
				pending = make(chan error, 1)
				go func(args []any) {
					pending <- blocker.Do(ctx, args...).Err()
				}(st.args)
				jWaitBlocked(t, c, 1, addr, i)
				continue
			}
			switch st.args[0] {
			case "SLEEP":
				time.Sleep(20 * time.Millisecond)
				continue
			case "XADDN": // XADD key i-1 f v for i from 1 to n
				n, _ := strconv.Atoi(st.args[2].(string))
				for i := 1; i <= n; i++ {
					if err := conn.Do(ctx, "XADD", st.args[1], strconv.Itoa(i)+"-1", "f", "v").Err(); err != nil {
						t.Fatal(err)
					}
				}
				continue
			case "DUMPRESTORE": // RESTORE dst ttl <DUMP src> [options]
				payload, err := conn.Do(ctx, "DUMP", st.args[1]).Text()
				if err != nil {
					t.Fatal(err)
				}
				args := append([]any{"RESTORE", st.args[2], st.args[3], payload}, st.args[4:]...)
				if err := conn.Do(ctx, args...).Err(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			// Errors are part of the script (EXEC's reply, a nil pop).
			_ = conn.Do(ctx, st.args...).Err()
			switch st.args[0] {
			case "MULTI":
				inMulti = true
			case "EXEC":
				inMulti = false
			}
			if pending != nil && !inMulti {
				select {
				case err := <-pending:
					if err != nil {
						t.Fatalf("%s: blocked command: %v", addr, err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s: the blocked command was not served after %v", addr, st.args)
				}
				pending = nil
				jWaitBlocked(t, c, 0, addr, i)
			}
		}
	}
	run(raddr, rc)
	run(vaddr, vc)

	// Redis appends to its AOF before it replies (appendfsync always).
	aof, err := os.ReadFile(filepath.Join(dir, "appendonlydir", "appendonly.aof.1.incr.aof"))
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := sink.Take(nil)
	want := normaliseJournal(t, parseRESPCommands(t, aof))
	have := normaliseJournal(t, parseRESPCommands(t, got))
	if !slices.EqualFunc(want, have, func(a, b []string) bool { return sameJournalCommand(a, b) }) {
		t.Errorf("journal differs from redis-server's AOF:\n%s", diffJournals(want, have))
	} else if testing.Verbose() {
		t.Logf("both streams:\n%s", diffJournals(want, have))
	}
}

// jWaitBlocked waits until the server counts n blocked clients.
func jWaitBlocked(t *testing.T, c *redis.Client, n int, addr string, step int) {
	t.Helper()
	want := "blocked_clients:" + strconv.Itoa(n) + "\r"
	for i := 0; ; i++ {
		info, err := c.Info(context.Background(), "clients").Result()
		if err == nil && strings.Contains(info, want) {
			return
		}
		if i > 500 {
			t.Fatalf("%s, step %d: blocked_clients never reached %d:\n%s", addr, step, n, info)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// parseRESPCommands splits a stream of RESP arrays of bulk strings.
func parseRESPCommands(t *testing.T, b []byte) [][]string {
	t.Helper()
	var out [][]string
	line := func() string {
		i := strings.Index(string(b), "\r\n")
		if i < 0 {
			t.Fatalf("truncated stream: %q", b)
		}
		s := string(b[:i])
		b = b[i+2:]
		return s
	}
	for len(b) > 0 {
		h := line()
		if h[0] != '*' {
			t.Fatalf("not a command: %q", h)
		}
		n, _ := wire.ParseInt([]byte(h[1:]))
		cmd := make([]string, 0, n)
		for ; n > 0; n-- {
			l, _ := wire.ParseInt([]byte(line()[1:]))
			cmd = append(cmd, string(b[:l]))
			b = b[l+2:]
		}
		out = append(out, cmd)
	}
	return out
}

var clockID = regexp.MustCompile(`^(\d{13})-(\d+)$`)

// normaliseJournal uppercases command names, drops MULTI/EXEC around a
// single command and sorts SREM's members.
func normaliseJournal(t *testing.T, cmds [][]string) [][]string {
	var out [][]string
	for i := 0; i < len(cmds); i++ {
		c := slices.Clone(cmds[i])
		c[0] = strings.ToUpper(c[0])
		if c[0] == "MULTI" && i+2 < len(cmds) && strings.EqualFold(cmds[i+2][0], "EXEC") {
			c = slices.Clone(cmds[i+1])
			c[0] = strings.ToUpper(c[0])
			i += 2
		}
		if c[0] == "SREM" && len(c) > 3 {
			slices.Sort(c[2:])
		}
		out = append(out, c)
	}
	return out
}

// sameJournalCommand compares two commands, taking an absolute time in
// milliseconds (or the time part of a stream ID made from the clock) as
// equal to another within a few seconds.
func sameJournalCommand(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		x, y := a[i], b[i]
		if m, n := clockID.FindStringSubmatch(x), clockID.FindStringSubmatch(y); m != nil && n != nil {
			x, y = m[1], n[1]
		}
		ms1, err1 := strconv.ParseInt(x, 10, 64)
		ms2, err2 := strconv.ParseInt(y, 10, 64)
		if err1 != nil || err2 != nil || ms1 < 1e12 || ms2 < 1e12 || max(ms1-ms2, ms2-ms1) > 10_000 {
			return false
		}
	}
	return true
}

func diffJournals(want, have [][]string) string {
	var b strings.Builder
	for i := 0; i < max(len(want), len(have)); i++ {
		var w, h string
		if i < len(want) {
			w = strings.Join(want[i], " ")
		}
		if i < len(have) {
			h = strings.Join(have[i], " ")
		}
		mark := "  "
		if i >= len(want) || i >= len(have) || !sameJournalCommand(want[i], have[i]) {
			mark = "! "
		}
		b.WriteString(mark + "redis: " + w + "\n" + mark + "valky: " + h + "\n")
	}
	return b.String()
}
