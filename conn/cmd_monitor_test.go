package conn

import (
	"bufio"
	"context"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// MONITOR shows every command another client runs, across 8 shards, in
// the order they ran, in Redis's line format: a script's calls after the
// script, marked lua; a transaction's commands between MULTI and EXEC.
// When the monitor leaves, the feed turns off.
func TestMonitorShowsCommandsInOrder(t *testing.T) {
	srv, addr := startServer(t, 8)
	mon, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	rd := bufio.NewReader(mon)
	mon.Write([]byte("MONITOR\r\n"))
	if l, _ := rd.ReadString('\n'); l != "+OK\r\n" {
		t.Fatalf("MONITOR replied %q", l)
	}
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	var want []string
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		rdb.Set(ctx, k, "x\n\"y", 0)
		want = append(want, `[0 127.0.0.1:~] "set" "`+k+`" "x\n\"y"`)
	}
	rdb.Eval(ctx, "return redis.call('get', KEYS[1])", []string{"a"})
	want = append(want, `[0 127.0.0.1:~] "eval" "return redis.call('get', KEYS[1])" "1" "a"`, `[0 lua] "get" "a"`)
	rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "n")
		return nil
	})
	want = append(want, `[0 127.0.0.1:~] "multi"`, `[0 127.0.0.1:~] "incr" "n"`, `[0 127.0.0.1:~] "exec"`)
	rdb.Do(ctx, "config", "get", "maxmemory") // admin: never shown
	rdb.Ping(ctx)
	want = append(want, `[0 127.0.0.1:~] "ping"`)

	line := regexp.MustCompile(`^\+\d+\.\d{6} (.*)\r\n$`)
	mon.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i, w := range want {
		l, err := rd.ReadString('\n')
		for err == nil && regexp.MustCompile(`\] "hello"`).MatchString(l) { // go-redis's handshake
			l, err = rd.ReadString('\n')
		}
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %d: %q", i, l)
		}
		got := regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(m[1], "127.0.0.1:~")
		if got != w {
			t.Fatalf("line %d: %q, want %q", i, got, w)
		}
	}
	mon.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.mon.clock.Active() {
		if time.Now().After(deadline) {
			t.Fatal("the feed stayed on after the monitor left")
		}
		rdb.Ping(ctx)
		time.Sleep(10 * time.Millisecond)
	}
}

// The replies to the commands a connection sent before MONITOR, and
// MONITOR's +OK, reach it before any line of the feed, even when they
// were pipelined with commands that feed lines at once.
func TestMonitorRepliesBeforeTheFeed(t *testing.T) {
	_, addr := startServer(t, 8)
	for _, lead := range []string{"", "CLIENT SETNAME mon\r\n", "SET k v\r\n"} {
		mon, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(mon)
		mon.Write([]byte(lead + "MONITOR\r\nPING\r\nGET k\r\n"))
		mon.SetReadDeadline(time.Now().Add(5 * time.Second))
		want := []string{"+OK\r\n"}
		if lead != "" {
			want = append(want, "+OK\r\n")
		}
		for i, w := range want {
			if l, err := rd.ReadString('\n'); err != nil || l != w {
				t.Fatalf("after %q, reply %d: %q (%v), want %q", lead, i, l, err, w)
			}
		}
		mon.Close()
	}
}

// A command sent by another client once MONITOR's +OK has been read is
// always in the feed: the monitor joins the feed before its +OK can leave
// (it once joined after writing it, and a fast client's command was
// missed: Redis's unit/introspection "MONITOR correctly handles
// multi-exec cases" failed about one run in five).
func TestMonitorSeesCommandsSentAfterItsOK(t *testing.T) {
	_, addr := startServer(t, 8)
	other, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ord := bufio.NewReader(other)
	for i := 0; i < 300; i++ {
		mon, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(mon)
		mon.SetReadDeadline(time.Now().Add(5 * time.Second))
		mon.Write([]byte("MONITOR\r\n"))
		if l, err := rd.ReadString('\n'); err != nil || l != "+OK\r\n" {
			t.Fatalf("MONITOR: %q %v", l, err)
		}
		key := "k" + strconv.Itoa(i)
		other.Write([]byte("MULTI\r\n"))
		if l, _ := ord.ReadString('\n'); l != "+OK\r\n" {
			t.Fatalf("MULTI: %q", l)
		}
		other.Write([]byte("DISCARD\r\nGET " + key + "\r\n"))
		ord.ReadString('\n')
		ord.ReadString('\n')
		if l, err := rd.ReadString('\n'); err != nil || !strings.Contains(strings.ToLower(l), `"multi"`) {
			t.Fatalf("round %d: the feed's first line is %q (%v), want MULTI", i, l, err)
		}
		mon.Close()
	}
}
