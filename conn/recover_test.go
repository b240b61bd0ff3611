package conn

import (
	"bufio"
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// addPanicCommands registers, for one test, two commands whose code
// panics as a bug would: TEST.PANIC key [key ...] panics in its handler
// (on the shard, or on the connection when its keys span shards),
// TEST.BLPOPPANIC key timeout is BLPOP whose pop for a blocked client
// panics, and TEST.BLOCKPANIC key timeout panics after blocking. Call it before startServer: the cleanup then runs after the
// server stopped, so nothing reads the table meanwhile.
func addPanicCommands(t *testing.T) {
	blpop := shard.Lookup("blpop")
	cmds := []*shard.Command{
		{Spec: shard.Spec{Name: "test.panic", Arity: -2, Flags: shard.Write, FirstKey: 1, LastKey: -1, Step: 1},
			Run: func(c *shard.Ctx) { panic("test.panic") }},
		{Spec: shard.Spec{Name: "test.blpoppanic", Arity: 3, Flags: shard.Write | shard.Blocking, FirstKey: 1, LastKey: 1, Step: 1},
			Run: blpop.Run,
			NewWaiter: func(args [][]byte) *shard.Waiter {
				w := blpop.NewWaiter(args)
				if w != nil {
					w.Pop = func(*shard.Ctx, []byte, *shard.Waiter) { panic("test.blpoppanic") }
				}
				return w
			}},
		{Spec: shard.Spec{Name: "test.blockpanic", Arity: 3, Flags: shard.Write | shard.Blocking, FirstKey: 1, LastKey: 1, Step: 1},
			Run:       func(c *shard.Ctx) { blpop.Run(c); panic("test.blockpanic") },
			NewWaiter: blpop.NewWaiter},
	}
	for _, c := range cmds {
		add(&entry{spec: &c.Spec, data: c})
	}
	t.Cleanup(func() {
		for _, c := range cmds {
			delete(commands, c.Name)
		}
	})
}

// A panic on the shard, in a transaction whose earlier push woke a
// blocked client: the clients woken by the calls that finished are still
// served (the recovery used to drop them with the shard's context).
func TestShardPanicStillServesWokenClients(t *testing.T) {
	addPanicCommands(t)
	_, addr := startServer(t, 8)
	ctx := context.Background()
	ctl := newClient2(t, addr, 2)
	blocked := newClient2(t, addr, 2)
	got := make(chan []string, 1)
	go func() {
		v, err := blocked.BLPop(ctx, 3*time.Second, "pk").Result()
		if err != nil {
			v = []string{"error", err.Error()}
		}
		got <- v
	}()
	waitBlocked(t, ctl, 1)

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte(resp("MULTI") + resp("RPUSH", "pk", "x") + resp("TEST.PANIC", "pk") + resp("EXEC") + resp("PING")))
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(nc)
	var lines []string
	for len(lines) < 7 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("replies so far %q: %v", lines, err)
		}
		lines = append(lines, strings.TrimRight(line, "\r\n"))
	}
	want := []string{"+OK", "+QUEUED", "+QUEUED", "*2", ":1", "-" + shard.ErrPanicked, "+PONG"}
	if !slices.Equal(lines, want) {
		t.Fatalf("replies = %q, want %q", lines, want)
	}
	select {
	case v := <-got:
		if !slices.Equal(v, []string{"pk", "x"}) {
			t.Fatalf("BLPOP = %q, want [pk x]", v)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("the blocked client woken before the panic was never served")
	}
}

// A blocked client whose pop panics gets an error reply instead of
// waiting forever, and the next waiter is still served.
func TestPanicInWaiterPopRepliesError(t *testing.T) {
	addPanicCommands(t)
	_, addr := startServer(t, 8)
	ctx := context.Background()
	ctl := newClient2(t, addr, 2)
	first := newClient2(t, addr, 2)
	second := newClient2(t, addr, 2)
	firstGot := make(chan error, 1)
	go func() { firstGot <- first.Do(ctx, "TEST.BLPOPPANIC", "wk", "0").Err() }()
	waitBlocked(t, ctl, 1)
	secondGot := make(chan []string, 1)
	go func() {
		v, err := second.BLPop(ctx, 3*time.Second, "wk").Result()
		if err != nil {
			v = []string{"error", err.Error()}
		}
		secondGot <- v
	}()
	waitBlocked(t, ctl, 2)
	ctl.RPush(ctx, "wk", "x")
	select {
	case err := <-firstGot:
		if err == nil || err.Error() != shard.ErrPanicked {
			t.Fatalf("waiter whose pop panicked got %v, want %q", err, shard.ErrPanicked)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("the waiter whose pop panicked was never answered")
	}
	if v := <-secondGot; !slices.Equal(v, []string{"wk", "x"}) {
		t.Fatalf("next waiter got %q, want [wk x]", v)
	}
	waitBlocked(t, ctl, 0)
}

// A panic in a command run across shards, on the connection: the run is
// ended before the shards go back, so their keyspace events still go out
// (they used to vanish until the next cross-shard run).
func TestConnPanicEndsCrossShardRun(t *testing.T) {
	addPanicCommands(t)
	_, addr := startServer(t, 8)
	ctx := context.Background()
	keys := keysOnDifferentShards(t, "cp", 2, 8)
	ctl := newClient2(t, addr, 2)
	if err := ctl.ConfigSet(ctx, "notify-keyspace-events", "KEA").Err(); err != nil {
		t.Fatal(err)
	}
	sub := newClient2(t, addr, 2).Subscribe(ctx, "__keyspace@0__:"+keys[0], "__keyspace@0__:"+keys[1])
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	bad := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer bad.Close()
	if err := bad.Do(ctx, "TEST.PANIC", keys[0], keys[1]).Err(); err == nil {
		t.Fatal("TEST.PANIC across shards did not fail")
	}
	for i, k := range keys {
		if err := ctl.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		msg, err := sub.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			t.Fatalf("key %d: no keyspace event after a panic across shards: %v", i, err)
		}
		if msg.Channel != "__keyspace@0__:"+k || msg.Payload != "set" {
			t.Fatalf("key %d: event %s %s, want set on %s", i, msg.Channel, msg.Payload, k)
		}
	}
}

// A blocking command that panics on the shard after registering its
// waiter: the client gets the error and does not wait, and the waiter
// takes nothing afterwards.
func TestShardPanicAfterBlockingReleasesWaiter(t *testing.T) {
	addPanicCommands(t)
	_, addr := startServer(t, 8)
	ctx := context.Background()
	ctl := newClient2(t, addr, 2)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, ReadTimeout: time.Second})
	defer c.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.Do(rctx, "TEST.BLOCKPANIC", "bk", "0").Err(); err == nil || err.Error() != shard.ErrPanicked {
		t.Fatalf("TEST.BLOCKPANIC = %v, want %q", err, shard.ErrPanicked)
	}
	if v := c.Ping(ctx).Val(); v != "PONG" {
		t.Fatalf("connection after the panic: PING = %q", v)
	}
	ctl.RPush(ctx, "bk", "kept")
	if v := ctl.LRange(ctx, "bk", 0, -1).Val(); !slices.Equal(v, []string{"kept"}) {
		t.Fatalf("list after a released waiter = %q, want [kept]", v)
	}
}

// A command that panics inside a script is logged and gives the script
// an error reply (gopher-lua's PCall used to turn it into a Lua error
// silently); the server and the connection stay up.
func TestPanicInScriptCommand(t *testing.T) {
	addPanicCommands(t)
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	err := rdb.Eval(ctx, "return redis.pcall('test.panic', KEYS[1])", []string{"sk"}).Err()
	if err == nil || err.Error() != shard.ErrPanicked {
		t.Fatalf("pcall of a panicking command = %v, want %q", err, shard.ErrPanicked)
	}
	if err := rdb.Eval(ctx, "redis.call('set', KEYS[1], 'v') return redis.call('get', KEYS[1])", []string{"sk"}).Err(); err != nil {
		t.Fatalf("script after the panic: %v", err)
	}
}
