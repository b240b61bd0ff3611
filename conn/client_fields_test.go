package conn

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The buffer fields of CLIENT LIST used to be constants (qbuf=0,
// multi=-1, omem=0, events=r, ...) whatever the connection held. These
// tests make each one move with the state it reports.

// fieldsTestRaw dials addr, names the connection and returns it with a
// reader for its replies.
func fieldsTestRaw(t *testing.T, addr, name string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	fieldsTestSend(t, nc, br, "CLIENT SETNAME "+name+"\r\n", "+OK")
	return nc, br
}

// fieldsTestSend writes req and checks the next reply line.
func fieldsTestSend(t *testing.T, nc net.Conn, br *bufio.Reader, req, want string) {
	t.Helper()
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	if want == "" {
		return
	}
	line, err := br.ReadString('\n')
	if err != nil || strings.TrimSuffix(line, "\r\n") != want {
		t.Fatalf("reply to %q = %q, %v; want %q", req, line, err, want)
	}
}

// fieldsTestWait polls CLIENT LIST until the line of the client named
// name satisfies ok, and returns it.
func fieldsTestWait(t *testing.T, cn *redis.Conn, name string, ok func(map[string]string) bool) map[string]string {
	t.Helper()
	var last map[string]string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, m := range clientTestParse(t, cn.ClientList(context.Background()).Val()) {
			if m["name"] == name {
				last = m
				if ok(m) {
					return m
				}
			}
		}
	}
	t.Fatalf("client %s never got there; last line: %v", name, last)
	return nil
}

func fieldInt(t *testing.T, m map[string]string, k string) int {
	t.Helper()
	n, err := strconv.Atoi(m[k])
	if err != nil {
		t.Fatalf("%s=%q", k, m[k])
	}
	return n
}

func TestClientListQueryBuffer(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	cn := clientTestConn(t, addr, 2)

	// Its own line counts the command running, as Redis's does: "CLIENT
	// INFO" is 26 bytes in RESP, its arguments 10.
	nc, br := fieldsTestRaw(t, addr, "raw")
	fieldsTestSend(t, nc, br, "*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n", "")
	head, _ := br.ReadString('\n')
	n, _ := strconv.Atoi(strings.TrimSpace(head[1:]))
	body := make([]byte, n+2)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	self := clientTestParse(t, string(body[:n]))[0]
	if self["qbuf"] != "26" || self["argv-mem"] != "10" || fieldInt(t, self, "qbuf-free") != 16384-26 {
		t.Fatalf("own line: qbuf=%s qbuf-free=%s argv-mem=%s, want 26 %d 10", self["qbuf"], self["qbuf-free"], self["argv-mem"], 16384-26)
	}

	// A command half sent: what is not parsed is qbuf, the finished
	// arguments are argv-mem.
	fieldsTestSend(t, nc, br, "*3\r\n$3\r\nSET\r\n$2\r\nqk\r\n$10\r\nabc", "")
	m := fieldsTestWait(t, cn, "raw", func(m map[string]string) bool { return m["qbuf"] == "3" })
	if m["argv-mem"] != "5" || fieldInt(t, m, "qbuf")+fieldInt(t, m, "qbuf-free") != 16384 {
		t.Fatalf("half a command: qbuf=%s qbuf-free=%s argv-mem=%s, want 3, 16381, 5", m["qbuf"], m["qbuf-free"], m["argv-mem"])
	}
	fieldsTestSend(t, nc, br, "defghij\r\n", "+OK")
	m = fieldsTestWait(t, cn, "raw", func(m map[string]string) bool { return m["qbuf"] == "0" })
	if m["argv-mem"] != "0" || m["cmd"] != "set" {
		t.Fatalf("after the command: argv-mem=%s cmd=%s", m["argv-mem"], m["cmd"])
	}
	if v, err := cn.Get(ctx, "qk").Result(); err != nil || v != "abcdefghij" {
		t.Fatalf("GET qk = %q, %v", v, err)
	}

	// A large argument grows the read buffer.
	big := strings.Repeat("x", 100000)
	fieldsTestSend(t, nc, br, "*3\r\n$3\r\nSET\r\n$2\r\nqk\r\n$100000\r\n"+big+"\r\n", "+OK")
	m = fieldsTestWait(t, cn, "raw", func(m map[string]string) bool { return fieldInt(t, m, "qbuf-free") > 100000 })
	if tot := fieldInt(t, m, "tot-mem"); tot < 100000 {
		t.Fatalf("tot-mem=%d with a 100 KB read buffer", tot)
	}
}

// An idle connection drops its read buffer, as Redis's clientsCron frees
// an idle client's query buffer (unit/querybuf waits for qbuf and
// qbuf-free both 0), and makes a new one when it sends again.
func TestClientListIdleDropsQueryBuffer(t *testing.T) {
	old := idleAfter
	idleAfter = 200 * time.Millisecond
	t.Cleanup(func() { idleAfter = old })
	_, addr := startServer(t, 8)
	cn := clientTestConn(t, addr, 2)
	nc, br := fieldsTestRaw(t, addr, "idler")
	m := fieldsTestWait(t, cn, "idler", func(m map[string]string) bool { return m["qbuf-free"] == "0" })
	if m["qbuf"] != "0" || m["cmd"] != "client|setname" {
		t.Fatalf("idle: %v", m)
	}
	fieldsTestSend(t, nc, br, "PING\r\n", "+PONG")
	m = fieldsTestWait(t, cn, "idler", func(m map[string]string) bool { return m["cmd"] == "ping" })
	if m["qbuf-free"] != "16384" || m["idle"] != "0" {
		t.Fatalf("after PING: qbuf-free=%s idle=%s, want 16384 0", m["qbuf-free"], m["idle"])
	}
	// Waking it to drop its buffers is no interaction: idle keeps counting.
	time.Sleep(1200 * time.Millisecond)
	m = fieldsTestWait(t, cn, "idler", func(m map[string]string) bool { return m["qbuf-free"] == "0" })
	if m["idle"] == "0" {
		t.Fatalf("idle=0 after 1.2 s of silence")
	}
}

func TestClientListMulti(t *testing.T) {
	_, addr := startServer(t, 8)
	cn := clientTestConn(t, addr, 2)
	nc, br := fieldsTestRaw(t, addr, "tx")
	m := fieldsTestWait(t, cn, "tx", func(m map[string]string) bool { return true })
	if m["multi"] != "-1" || m["multi-mem"] != "0" || m["flags"] != "N" {
		t.Fatalf("outside MULTI: multi=%s multi-mem=%s flags=%s", m["multi"], m["multi-mem"], m["flags"])
	}
	fieldsTestSend(t, nc, br, "MULTI\r\n", "+OK")
	fieldsTestSend(t, nc, br, "SET a 1\r\n", "+QUEUED")
	fieldsTestSend(t, nc, br, "SET b 2\r\n", "+QUEUED")
	m = fieldsTestWait(t, cn, "tx", func(m map[string]string) bool { return m["multi"] == "2" })
	if m["flags"] != "x" || fieldInt(t, m, "multi-mem") < 2*(3+1+1) {
		t.Fatalf("two commands queued: flags=%s multi-mem=%s", m["flags"], m["multi-mem"])
	}
	fieldsTestSend(t, nc, br, "EXEC\r\n", "*2")
	fieldsTestWait(t, cn, "tx", func(m map[string]string) bool {
		return m["multi"] == "-1" && m["multi-mem"] == "0" && m["flags"] == "N"
	})
}

// A subscriber that does not read: what waits for its socket shows in
// omem and oll, and events has w.
func TestClientListSubscriberOutput(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	cn := clientTestConn(t, addr, 2)
	nc, br := fieldsTestRaw(t, addr, "sub")
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	fieldsTestSend(t, nc, br, "SUBSCRIBE ch\r\n", "*3")
	m := fieldsTestWait(t, cn, "sub", func(m map[string]string) bool { return m["flags"] == "P" })
	if m["omem"] != "0" || m["oll"] != "0" || m["events"] != "r" {
		t.Fatalf("idle subscriber: omem=%s oll=%s events=%s", m["omem"], m["oll"], m["events"])
	}
	msg := strings.Repeat("m", 64<<10)
	for i := 0; i < 200; i++ { // 12.8 MB: more than the socket buffers hold
		if err := cn.Publish(ctx, "ch", msg).Err(); err != nil {
			t.Fatal(err)
		}
	}
	m = fieldsTestWait(t, cn, "sub", func(m map[string]string) bool { return fieldInt(t, m, "omem") > 0 })
	if fieldInt(t, m, "oll") < 1 || m["events"] != "rw" || fieldInt(t, m, "tot-mem") < fieldInt(t, m, "omem") {
		t.Fatalf("subscriber behind: omem=%s oll=%s events=%s tot-mem=%s", m["omem"], m["oll"], m["events"], m["tot-mem"])
	}
	if got := clientTestParse(t, cn.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Val().(string)); len(got) != 1 || got[0]["name"] != "sub" {
		t.Fatalf("CLIENT LIST TYPE pubsub = %v", got)
	}
}

// CLIENT KILL TYPE pubsub and CLIENT LIST TYPE pubsub select the
// subscribed connections, as in Redis; they used to select none.
func TestClientKillTypePubSub(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	cn := clientTestConn(t, addr, 3)
	nc, br := fieldsTestRaw(t, addr, "sub")
	fieldsTestSend(t, nc, br, "SUBSCRIBE ch\r\n", "*3")
	fieldsTestWait(t, cn, "sub", func(m map[string]string) bool { return m["flags"] == "P" })
	if got := clientTestParse(t, cn.Do(ctx, "CLIENT", "LIST", "TYPE", "normal").Val().(string)); len(got) != 1 {
		t.Fatalf("CLIENT LIST TYPE normal lists %d, want only the caller", len(got))
	}
	if n, err := cn.ClientKillByFilter(ctx, "TYPE", "pubsub").Result(); err != nil || n != 1 {
		t.Fatalf("CLIENT KILL TYPE pubsub = %d, %v; want 1", n, err)
	}
	for _, typ := range []string{"master", "replica", "slave", "pubsub"} {
		if n, err := cn.ClientKillByFilter(ctx, "TYPE", typ).Result(); err != nil || n != 0 {
			t.Fatalf("CLIENT KILL TYPE %s = %d, %v; want 0", typ, n, err)
		}
	}
	// TYPE normal and USER default spare the caller unless SKIPME no.
	clientTestConn(t, addr, 2)
	clientTestConn(t, addr, 3)
	if n, err := cn.ClientKillByFilter(ctx, "TYPE", "normal").Result(); err != nil || n != 2 {
		t.Fatalf("CLIENT KILL TYPE normal = %d, %v; want 2", n, err)
	}
	clientTestConn(t, addr, 2)
	if n, err := cn.ClientKillByFilter(ctx, "USER", "default", "TYPE", "NORMAL").Result(); err != nil || n != 1 {
		t.Fatalf("CLIENT KILL USER default TYPE NORMAL = %d, %v; want 1", n, err)
	}
	if n, err := cn.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "no").Result(); err != nil || n != 1 {
		t.Fatalf("CLIENT KILL TYPE normal SKIPME no = %d, %v; want 1 (itself)", n, err)
	}
	if cn.Ping(ctx).Err() == nil {
		t.Fatal("the caller survived SKIPME no")
	}
}

// A normal connection whose reply waits for the socket: obl and omem
// (the output queue, outqueue.go) show the bytes not sent yet, and events
// has w until they are.
func TestClientListPendingReply(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	cn := clientTestConn(t, addr, 2)
	if err := cn.Set(ctx, "big", strings.Repeat("v", 16<<20), 0).Err(); err != nil {
		t.Fatal(err)
	}
	nc, br := fieldsTestRaw(t, addr, "slow")
	fieldsTestSend(t, nc, br, "GET big\r\n", "")
	m := fieldsTestWait(t, cn, "slow", func(m map[string]string) bool { return m["cmd"] == "get" })
	if fieldInt(t, m, "obl")+fieldInt(t, m, "omem") <= 0 || m["events"] != "rw" {
		t.Fatalf("reply waiting: obl=%s omem=%s events=%s", m["obl"], m["omem"], m["events"])
	}
	if _, err := io.Copy(io.Discard, io.LimitReader(br, int64(16<<20+len("$16777216\r\n\r\n")))); err != nil {
		t.Fatal(err)
	}
	fieldsTestWait(t, cn, "slow", func(m map[string]string) bool {
		return m["obl"] == "0" && m["omem"] == "0" && m["events"] == "r"
	})
}

// A monitoring connection shows flag O, as in Redis; it showed N.
func TestClientListMonitorFlag(t *testing.T) {
	_, addr := startServer(t, 8)
	cn := clientTestConn(t, addr, 2)
	nc, br := fieldsTestRaw(t, addr, "mon")
	fieldsTestSend(t, nc, br, "MONITOR\r\n", "+OK")
	m := fieldsTestWait(t, cn, "mon", func(m map[string]string) bool { return m["cmd"] == "monitor" })
	if m["flags"] != "O" {
		t.Fatalf("monitor: flags=%s, want O", m["flags"])
	}
}
