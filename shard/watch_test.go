package shard

import (
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

func call(name string, args ...string) Call {
	argv := [][]byte{[]byte(name)}
	for _, a := range args {
		argv = append(argv, []byte(a))
	}
	cmd := Lookup(name)
	if name == "watch" {
		cmd = WatchCmd
	}
	return Call{Cmd: cmd, Args: argv}
}

func watchKeys(s *Shard, w *Watch, now int64, keys ...string) {
	c := call("watch", keys...)
	c.Watch = w
	s.Exec(&Batch{Proto: wire.RESP2, Calls: []Call{c}}, now)
}

func TestWatchMarksDirty(t *testing.T) {
	cases := []struct {
		name  string
		calls []Call
		dirty bool
	}{
		{"other key", []Call{call("set", "other", "1")}, false},
		{"read", []Call{call("get", "k")}, false},
		{"set nx fails", []Call{call("set", "k", "2", "nx")}, false},
		{"setnx fails", []Call{call("setnx", "k", "2")}, false},
		{"wrong type", []Call{call("lpush", "k", "x")}, false},
		{"set", []Call{call("set", "k", "2")}, true},
		{"set get", []Call{call("set", "k", "2", "get")}, true},
		{"incr", []Call{call("incr", "k")}, true},
		{"del", []Call{call("del", "k")}, true},
		{"rename onto", []Call{call("set", "src", "x"), call("rename", "src", "k")}, true},
		{"flushdb", []Call{call("flushdb")}, true},
		{"flushall", []Call{call("flushall")}, true},
		{"swapdb", []Call{call("swapdb", "0", "1")}, true},
		{"move", []Call{call("move", "k", "1")}, true},
		{"pexpire", []Call{call("pexpire", "k", "1")}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(0)
			s.Exec(&Batch{Proto: wire.RESP2, Calls: []Call{call("set", "k", "1")}}, 1000)
			w := NewWatch()
			watchKeys(s, w, 1000, "k")
			s.Exec(&Batch{Proto: wire.RESP2, Calls: tc.calls}, 1000)
			if tc.dirty != w.Dirty() {
				t.Fatalf("dirty = %v, want %v", w.Dirty(), tc.dirty)
			}
		})
	}
}

func TestWatchExpiry(t *testing.T) {
	s := New(0)
	s.Exec(&Batch{Proto: wire.RESP2, Calls: []Call{call("set", "k", "1", "px", "10")}}, 1000)
	w := NewWatch()
	watchKeys(s, w, 1000, "k")
	s.Tick(1005)
	if w.Dirty() {
		t.Fatal("dirty before the TTL passed")
	}
	s.Tick(1020) // active expiry
	if !w.Dirty() {
		t.Fatal("active expiry did not mark the watch")
	}
	// Lazy expiry.
	s.Exec(&Batch{Proto: wire.RESP2, Calls: []Call{call("set", "j", "1", "px", "10")}}, 2000)
	w2 := NewWatch()
	watchKeys(s, w2, 2000, "j")
	s.Exec(&Batch{Proto: wire.RESP2, Calls: []Call{call("get", "j")}}, 2020)
	if !w2.Dirty() {
		t.Fatal("lazy expiry did not mark the watch")
	}
	// A key already expired when watched does not count.
	s.Exec(&Batch{Proto: wire.RESP2, Calls: []Call{call("set", "e", "1", "px", "10")}}, 3000)
	w3 := NewWatch()
	watchKeys(s, w3, 3020, "e")
	s.Exec(&Batch{Proto: wire.RESP2, Calls: []Call{call("get", "e")}}, 3030)
	if w3.Dirty() {
		t.Fatal("a key expired before WATCH marked it")
	}
	// Finished sessions are swept by the tick.
	w.Done()
	w2.Done()
	w3.Done()
	s.Tick(4000)
	if s.watchers != 0 || len(s.dbs[0].watched) != 0 {
		t.Fatalf("after the sweep: %d watchers, %d keys", s.watchers, len(s.dbs[0].watched))
	}
}

func txBatch(w *Watch, calls ...Call) *Batch {
	b := &Batch{Proto: wire.RESP2}
	b.Calls = append(b.Calls, Call{Tx: len(calls), Watch: w})
	b.Calls = append(b.Calls, calls...)
	return b
}

func TestExecTransactionMarker(t *testing.T) {
	s := New(0)
	w := NewWatch()
	watchKeys(s, w, 1000, "k")
	b := txBatch(w, call("set", "k", "1"), call("incr", "k"))
	s.Exec(b, 1000)
	if got := string(b.Out); got != "*2\r\n+OK\r\n:2\r\n" {
		t.Fatalf("clean transaction: %q", got)
	}
	if len(b.Ends) != 3 || string(b.Reply(2)) != ":2\r\n" {
		t.Fatalf("ends %v", b.Ends)
	}
	// Its own SET made the watch dirty: a second EXEC with it aborts.
	b = txBatch(w, call("set", "k", "5"), call("get", "k"))
	b.Calls = append(b.Calls, call("get", "k"))
	s.Exec(b, 1000)
	if got := string(b.Out); got != "*-1\r\n$1\r\n2\r\n" {
		t.Fatalf("dirty transaction: %q", got)
	}
	if len(b.Ends) != 4 || string(b.Reply(3)) != "$1\r\n2\r\n" {
		t.Fatalf("ends %v", b.Ends)
	}
}

func TestExecTransactionServesWaitersAfterLastCall(t *testing.T) {
	s := New(0)
	w := NewWaiter(0, wire.RESP2, [][]byte{[]byte("l")})
	w.Ready = func(c *Ctx, key []byte) bool { return c.db(key).Len() > 0 && run1(c, "llen", "l") != ":0\r\n" }
	w.Pop = func(c *Ctx, key []byte, _ *Waiter) { c.Bulk([]byte("popped")) }
	ctx := Ctx{self: s, Waiter: w}
	ctx.block()
	b := txBatch(nil, call("lpush", "l", "x"), call("lpop", "l"))
	s.Exec(b, 1000)
	select {
	case wake := <-w.Woken:
		t.Fatalf("waiter served %q inside the transaction", wake.Reply)
	default:
	}
	s.Exec(txBatch(nil, call("lpush", "l", "x")), 1000)
	select {
	case <-w.Woken:
	default:
		t.Fatal("waiter not served after the transaction")
	}
}

// run1 runs a read command within c's shard and returns its reply.
func run1(c *Ctx, name string, args ...string) string {
	cl := call(name, args...)
	sub := Ctx{self: c.self, Args: cl.Args, Now: c.Now}
	cl.Cmd.Run(&sub)
	return string(sub.Out)
}

func TestExecTransactionAllocs(t *testing.T) {
	s := New(0)
	calls := []Call{call("set", "a", "1"), call("get", "a"), call("incr", "a"), call("exists", "a")}
	plain := &Batch{Proto: wire.RESP2, Calls: calls}
	tx := txBatch(nil, calls...)
	measure := func(b *Batch) float64 {
		return testing.AllocsPerRun(200, func() {
			b.Out, b.Ends = b.Out[:0], b.Ends[:0]
			s.Exec(b, 1000)
		})
	}
	p, x := measure(plain), measure(tx)
	if x > p {
		t.Fatalf("transaction batch allocates %.1f, pipelined %.1f", x, p)
	}
}

// A write that changes nothing (its reply says so) leaves a WATCH clean,
// as in Redis, which signals a key only when the command modified it; one
// that changes something dirties it.
func TestWatchNoChangeStaysClean(t *testing.T) {
	cases := []struct {
		calls []Call
		dirty bool
	}{
		{[]Call{call("sadd", "s", "a")}, false},
		{[]Call{call("sadd", "s", "b")}, true},
		{[]Call{call("srem", "s", "zz")}, false},
		{[]Call{call("hdel", "h", "zz")}, false},
		{[]Call{call("hsetnx", "h", "f", "2")}, false},
		{[]Call{call("hsetnx", "h", "g", "2")}, true},
		{[]Call{call("zrem", "z", "zz")}, false},
		{[]Call{call("lrem", "l", "0", "zz")}, false},
		{[]Call{call("linsert", "l", "before", "zz", "x")}, false},
		{[]Call{call("persist", "s")}, false},
		{[]Call{call("expire", "s", "100", "gt")}, false},
		{[]Call{call("expire", "s", "100")}, true},
		{[]Call{call("smove", "s", "s2", "zz")}, false},
	}
	for _, tc := range cases {
		s := New(0)
		s.Exec(&Batch{Proto: wire.RESP2, Calls: []Call{call("sadd", "s", "a"), call("hset", "h", "f", "1"),
			call("zadd", "z", "1", "m"), call("rpush", "l", "a")}}, 1000)
		w := NewWatch()
		watchKeys(s, w, 1000, "s", "h", "z", "l", "s2")
		s.Exec(&Batch{Proto: wire.RESP2, Calls: tc.calls}, 1000)
		if w.Dirty() != tc.dirty {
			t.Errorf("%q: dirty = %v, want %v", tc.calls[0].Args, w.Dirty(), tc.dirty)
		}
	}
}
