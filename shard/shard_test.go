package shard

import (
	"strconv"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// run executes one command synchronously on s and returns the raw reply.
func run(t *testing.T, s *Shard, now int64, args ...string) string {
	t.Helper()
	cmd := Lookup(strings.ToLower(args[0]))
	if cmd == nil {
		t.Fatalf("no command %q", args[0])
	}
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	b := &Batch{Proto: wire.RESP2, Calls: []Call{{Cmd: cmd, Args: argv}}}
	s.Exec(b, now)
	return string(b.Reply(0))
}

func TestSetGetSync(t *testing.T) {
	s := New(0)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"GET", "k"}, "$-1\r\n"},
		{[]string{"SET", "k", "v"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$1\r\nv\r\n"},
		{[]string{"SET", "k", "w", "NX"}, "$-1\r\n"},
		{[]string{"SET", "k", "w", "XX", "GET"}, "$1\r\nv\r\n"},
		{[]string{"GET", "k"}, "$1\r\nw\r\n"},
		{[]string{"SET", "n", "1", "XX"}, "$-1\r\n"},
		{[]string{"SET", "k", "v", "NX", "XX"}, "-ERR syntax error\r\n"},
		{[]string{"SET", "k", "v", "EX", "10", "PX", "5"}, "-ERR syntax error\r\n"},
		{[]string{"SET", "k", "v", "EX", "10", "KEEPTTL"}, "-ERR syntax error\r\n"},
		{[]string{"SET", "k", "v", "EX"}, "-ERR syntax error\r\n"},
		{[]string{"SET", "k", "v", "EX", "0"}, "-ERR invalid expire time in 'set' command\r\n"},
		{[]string{"SET", "k", "v", "EX", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"SET", "k", "v", "EX", "9223372036854775807"}, "-ERR invalid expire time in 'set' command\r\n"},
		{[]string{"MSET", "a", "1", "b"}, "-ERR wrong number of arguments for 'mset' command\r\n"},
		{[]string{"MSET", "a", "1", "b", "2"}, "+OK\r\n"},
		{[]string{"MGET", "a", "nope", "b"}, "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n"},
		{[]string{"EXISTS", "a", "a", "nope"}, ":2\r\n"},
		{[]string{"DEL", "a", "b", "nope"}, ":2\r\n"},
		{[]string{"DBSIZE"}, ":1\r\n"},
		{[]string{"FLUSHDB", "bogus"}, "-ERR syntax error\r\n"},
		{[]string{"FLUSHDB"}, "+OK\r\n"},
		{[]string{"DBSIZE"}, ":0\r\n"},
	}
	for _, tc := range cases {
		if got := run(t, s, 1000, tc.args...); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestExpiryLazyAndActive(t *testing.T) {
	s := New(0)
	now := int64(1_000_000)
	run(t, s, now, "SET", "a", "1", "PX", "100")
	run(t, s, now, "SET", "b", "1", "EX", "1")
	run(t, s, now, "SET", "c", "1")
	if got := run(t, s, now+99, "GET", "a"); got != "$1\r\n1\r\n" {
		t.Fatalf("a visible before its TTL: got %q", got)
	}
	if got := run(t, s, now+100, "GET", "a"); got != "$-1\r\n" {
		t.Fatalf("a visible at its TTL: got %q", got)
	}
	// b expired at now+1000 and nobody reads it: the tick must reclaim it.
	if s.DB(0).Len() != 2 {
		t.Fatalf("want 2 stored keys before the tick, have %d", s.DB(0).Len())
	}
	s.Tick(now + 1000)
	if s.DB(0).Len() != 1 || s.DB(0).Expires() != 0 {
		t.Fatalf("tick left %d keys, %d TTLs; want 1, 0", s.DB(0).Len(), s.DB(0).Expires())
	}
	// SET without KEEPTTL clears a TTL; with KEEPTTL keeps it.
	run(t, s, now, "SET", "d", "1", "PX", "50")
	run(t, s, now, "SET", "d", "2", "KEEPTTL")
	if got := run(t, s, now+50, "GET", "d"); got != "$-1\r\n" {
		t.Fatalf("KEEPTTL lost the TTL: got %q", got)
	}
	run(t, s, now, "SET", "e", "1", "PX", "50")
	run(t, s, now, "SET", "e", "2")
	if got := run(t, s, now+50, "GET", "e"); got != "$1\r\n2\r\n" {
		t.Fatalf("plain SET kept the TTL: got %q", got)
	}
	// PXAT in the past stores nothing.
	run(t, s, now, "SET", "f", "1", "PXAT", "5")
	if got := run(t, s, now, "EXISTS", "f"); got != ":0\r\n" {
		t.Fatalf("SET PXAT in the past left the key: %q", got)
	}
}

func TestActiveExpiryLargeSet(t *testing.T) {
	s := New(0)
	for i := 0; i < 10000; i++ {
		run(t, s, 0, "SET", "k"+strconv.Itoa(i), "v", "PX", "10")
	}
	for i := 0; i < 1000 && s.DB(0).Len() > 0; i++ {
		s.Tick(100)
	}
	if n := s.DB(0).Len(); n != 0 {
		t.Fatalf("active expiry left %d of 10000 expired keys after 1000 ticks", n)
	}
	if s.ExpiredKeys != 10000 {
		t.Fatalf("ExpiredKeys = %d, want 10000", s.ExpiredKeys)
	}
}

func TestWrongType(t *testing.T) {
	s := New(0)
	s.DB(0).set([]byte("h"), struct{}{}, false, 0) // stands in for a non-string type
	for _, args := range [][]string{{"GET", "h"}, {"SET", "h", "v", "GET"}} {
		if got := run(t, s, 0, args...); got != "-"+ErrWrongType+"\r\n" {
			t.Errorf("%v: got %q", args, got)
		}
	}
	if got := run(t, s, 0, "MGET", "h"); got != "*1\r\n$-1\r\n" {
		t.Errorf("MGET of a non-string: got %q", got)
	}
}

func TestParseTimeout(t *testing.T) {
	const now = 1_700_000_000_000
	cases := []struct {
		in   string
		ms   int64
		errs string
	}{
		{"0", 0, ""},
		{"1", 1000, ""},
		{"0.5", 500, ""},
		{"0.0001", 0, ""},  // truncates to 0: blocks forever, as in Redis
		{"-0.0001", 0, ""}, // likewise
		{"-1", 0, "ERR timeout is negative"},
		{"1e400", 0, "ERR timeout is negative"}, // overflows the integer
		{"inf", 0, "ERR timeout is negative"},
		{"9223372036854774", 0, "ERR timeout is out of range"},
		{"abc", 0, "ERR timeout is not a float or out of range"},
		{"nan", 0, "ERR timeout is not a float or out of range"},
		{"", 0, "ERR timeout is not a float or out of range"},
		{" 1", 0, "ERR timeout is not a float or out of range"},
	}
	for _, tc := range cases {
		ms, msg := parseTimeout([]byte(tc.in), now)
		if ms != tc.ms || msg != tc.errs {
			t.Errorf("parseTimeout(%q) = %d, %q; want %d, %q", tc.in, ms, msg, tc.ms, tc.errs)
		}
	}
}

func TestPanickingCommandDoesNotKillTheShard(t *testing.T) {
	boom := &Command{Spec: Spec{Name: "boom", Arity: 1}, Run: func(c *Ctx) { panic("boom") }}
	w := Start(New(0), WorkerOptions{})
	defer w.Stop()
	answers := make(chan *Batch, 1)
	set, get := Lookup("set"), Lookup("get")
	b := &Batch{Proto: wire.RESP2, Calls: []Call{
		{Cmd: set, Args: [][]byte{[]byte("set"), []byte("k"), []byte("v")}},
		{Cmd: boom, Args: [][]byte{[]byte("boom")}},
		{Cmd: get, Args: [][]byte{[]byte("get"), []byte("k")}},
	}}
	if err := w.Submit(b, answers); err != nil {
		t.Fatal(err)
	}
	b = <-answers
	if got := string(b.Reply(0)); got != "+OK\r\n" {
		t.Fatalf("call before the panic: %q", got)
	}
	for i := 1; i < 3; i++ {
		if got := string(b.Reply(i)); !strings.HasPrefix(got, "-ERR internal error") {
			t.Fatalf("call %d after the panic: %q", i, got)
		}
	}
	// The shard still serves, and kept the write that finished.
	b2 := &Batch{Proto: wire.RESP2, Calls: []Call{{Cmd: get, Args: [][]byte{[]byte("get"), []byte("k")}}}}
	w.Submit(b2, answers)
	if got := string((<-answers).Reply(0)); got != "$1\r\nv\r\n" {
		t.Fatalf("GET after the panic = %q", got)
	}
}

// OBJECT and DEBUG OBJECT only look at a string: INCR goes on writing its
// number in place afterwards, so DEBUG OBJECT's address stays, as Redis's
// "INCR can modify objects in-place" test checks.
func TestInspectingKeepsStringInPlace(t *testing.T) {
	s := New(0)
	run(t, s, 1000, "SET", "foo", "20000")
	run(t, s, 1000, "INCR", "foo")
	at := func() string {
		line, _ := s.DebugObject(0, []byte("foo"), 1000)
		i := strings.Index(line, "at:")
		j := strings.Index(line, " refcount")
		if i < 0 || j < i {
			t.Fatalf("DEBUG OBJECT: %q", line)
		}
		return line[i:j]
	}
	run(t, s, 1000, "OBJECT", "REFCOUNT", "foo")
	run(t, s, 1000, "OBJECT", "ENCODING", "foo")
	run(t, s, 1000, "MEMORY", "USAGE", "foo")
	old := at()
	run(t, s, 1000, "INCR", "foo")
	if now := at(); now != old {
		t.Fatalf("INCR after OBJECT/DEBUG OBJECT moved the value: %s -> %s", old, now)
	}
	if got := run(t, s, 1000, "GET", "foo"); !strings.Contains(got, "20002") {
		t.Fatalf("GET: %q", got)
	}
}
