package conn

import (
	"bufio"
	"context"
	"math/rand"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// TestEveryCommandSurvivesRandomArguments sends every command in the table
// random arguments, valid-looking and not, on 8 shards, and requires a
// reply to each and a live server afterwards: bad input must get an error
// reply, never a crash or a hang.
func TestEveryCommandSurvivesRandomArguments(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	srv, addr := startServer(t, 8)
	if err := srv.cfg.Load("dir", t.TempDir()); err != nil { // SAVE and BGSAVE write there
		t.Fatal(err)
	}
	skip := map[string]bool{
		"shutdown": true, "quit": true, "reset": true, "multi": true, "exec": true, "discard": true,
		"subscribe": true, "psubscribe": true, "ssubscribe": true, "hello": true, "client": true,
		"unsubscribe": true, "punsubscribe": true, "sunsubscribe": true, // one reply per channel
		"config": true, "select": true, "script": true, "function": true, "eval": true, "evalsha": true,
		"eval_ro": true, "evalsha_ro": true, "fcall": true, "fcall_ro": true, "watch": true,
		"monitor": true, // the connection then receives every command
		// Would dial random hosts (names like "abc" go to DNS), and leave
		// the server a read-only replica for the commands after.
		"replicaof": true, "slaveof": true,
		// A valid SYNC or PSYNC makes the connection a replica's link: an
		// RDB and the stream follow, and its commands get no replies.
		"sync": true, "psync": true,
		// Takes seconds under -race, past the 5 s deadline on a loaded
		// machine; it has no arguments to fuzz (pfdebug_test.go runs it).
		"pfselftest": true,
	}
	words := []string{"", "0", "1", "-1", "2", "10", "-10", "100000", "9223372036854775807", "-9223372036854775808",
		"1.5", "inf", "-inf", "nan", "abc", "k1", "k2", "k3", "h", "s", "z", "l", "str", "*", "[a", "(1", "+", "-",
		"LIMIT", "COUNT", "MATCH", "WITHSCORES", "BYSCORE", "BYLEX", "REV", "NX", "XX", "GT", "LT", "CH", "INCR",
		"EX", "PX", "KEEPTTL", "GET", "LEFT", "RIGHT", "BEFORE", "AFTER", "STORE", "BY", "ALPHA", "DESC",
		"AGGREGATE", "WEIGHTS", "SUM", "MIN", "MAX", "TYPE", "REPLACE", "DB", "\x00\xff", strings.Repeat("x", 300)}
	for _, proto := range []string{"2", "3"} {
		t.Run("RESP"+proto, func(t *testing.T) { randomArguments(t, addr, proto, skip, words) })
	}
}

func randomArguments(t *testing.T, addr, proto string, skip map[string]bool, words []string) {
	rng := rand.New(rand.NewSource(42))
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rd := bufio.NewReader(nc)
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write([]byte("*2\r\n$5\r\nHELLO\r\n$1\r\n" + proto + "\r\n"))
	if err := skipReply(rd); err != nil {
		t.Fatal(err)
	}
	seed := "*3\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$1\r\na\r\n*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n$1\r\nv\r\n" +
		"*3\r\n$4\r\nSADD\r\n$1\r\ns\r\n$1\r\nm\r\n*4\r\n$4\r\nZADD\r\n$1\r\nz\r\n$1\r\n1\r\n$1\r\nm\r\n" +
		"*3\r\n$3\r\nSET\r\n$3\r\nstr\r\n$3\r\nabc\r\n"
	for _, e := range allEntries() {
		name := e.spec.Name
		if skip[name] || e.spec.Flags&shard.Blocking != 0 {
			continue
		}
		for i := 0; i < 100; i++ {
			n := rng.Intn(7)
			var b strings.Builder
			b.WriteString(seed)
			b.WriteString("*" + strconv.Itoa(n+1) + "\r\n$" + strconv.Itoa(len(name)) + "\r\n" + name + "\r\n")
			var sent []string
			for j := 0; j < n; j++ {
				w := words[rng.Intn(len(words))]
				sent = append(sent, w)
				b.WriteString("$" + strconv.Itoa(len(w)) + "\r\n" + w + "\r\n")
			}
			b.WriteString("*2\r\n$4\r\nECHO\r\n$4\r\nsync\r\n")
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := nc.Write([]byte(b.String())); err != nil {
				t.Fatalf("%s %q: write: %v", name, sent, err)
			}
			for r := 0; r < 6; r++ { // 5 seeding replies, then the command's
				if err := skipReply(rd); err != nil {
					t.Fatalf("%s %q: no reply (%v): the server or connection died", name, sent, err)
				}
			}
			if line, _ := rd.ReadString('\n'); line != "$4\r\n" {
				t.Fatalf("%s %q: replies out of step (next line %q): it sent more or fewer than one", name, sent, line)
			}
			rd.ReadString('\n')
		}
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write([]byte("*1\r\n$4\r\nPING\r\n"))
	if line, err := rd.ReadString('\n'); err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING after the storm: %q, %v", line, err)
	}
}

// skipReply reads one complete RESP2/RESP3 reply.
func skipReply(rd *bufio.Reader) error {
	line, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	if len(line) < 3 {
		return nil
	}
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	switch line[0] {
	case '$', '=', '!':
		if n >= 0 {
			_, err = rd.Discard(n + 2)
		}
	case '*', '~', '>':
		for i := 0; i < n && err == nil; i++ {
			err = skipReply(rd)
		}
	case '%', '|':
		for i := 0; i < 2*n && err == nil; i++ {
			err = skipReply(rd)
		}
	}
	return err
}

func TestPanicWhileBorrowingReturnsTheShards(t *testing.T) {
	srv, addr := startServer(t, 2)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := newClient(srv, a)
	for i := range c.want {
		c.want[i] = true
	}
	if !c.borrow() {
		t.Fatal("borrow failed")
	}
	func() {
		defer c.recoverPanic()
		panic("a bug in a command")
	}()
	rdb := newClient2(t, addr, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys := keysOnDifferentShards(t, "p", 2, 2)
	for _, k := range keys {
		if err := rdb.Set(ctx, k, "v", 0).Err(); err != nil {
			c.giveBack() // so that the server can shut down and the test fails, not hangs
			t.Fatalf("shard of %s after the panic: %v", k, err)
		}
	}
}
