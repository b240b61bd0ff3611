package conn

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The expected event sequences below were recorded from Redis 7.0.15 with
// notify-keyspace-events KEAn and a PSUBSCRIBE to __key*__:*.

// notifyHarness starts a server with notify-keyspace-events KEAn and a
// pattern subscriber. expect checks that exactly the given events, each
// "db type key", arrive next, in order, and that nothing else follows
// within a short window.
func notifyHarness(t *testing.T) (rdb *redis.Client, addr string, expect func(events ...string)) {
	t.Helper()
	_, addr = startServer(t, 8)
	ctx := context.Background()
	rdb = newClient2(t, addr, 2)
	if err := rdb.ConfigSet(ctx, "notify-keyspace-events", "KEAn").Err(); err != nil {
		t.Fatal(err)
	}
	sc := newClient2(t, addr, 3)
	ps := sc.PSubscribe(ctx, "__key*__:*")
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	// A timed-out ReceiveMessage drops the connection, so read through
	// Channel, whose goroutine keeps it.
	ch := ps.Channel(redis.WithChannelSize(1000))
	expect = func(events ...string) {
		t.Helper()
		var want, got []string
		for _, e := range events {
			f := strings.Fields(e) // db type key
			want = append(want, "__keyspace@"+f[0]+"__:"+f[2]+" "+f[1], "__keyevent@"+f[0]+"__:"+f[1]+" "+f[2])
		}
		for range want {
			select {
			case m := <-ch:
				got = append(got, m.Channel+" "+m.Payload)
			case <-time.After(3 * time.Second):
				t.Fatalf("events\n got %q\nwant %q\ntimed out", got, want)
			}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("events\n got %q\nwant %q", got, want)
		}
		select {
		case m := <-ch:
			t.Fatalf("extra event %s %s after %q", m.Channel, m.Payload, got)
		case <-time.After(150 * time.Millisecond):
		}
	}
	return rdb, addr, expect
}

func doAll(t *testing.T, rdb *redis.Client, cmds ...[]any) {
	t.Helper()
	for _, c := range cmds {
		if err := rdb.Do(context.Background(), c...).Err(); err != nil && err != redis.Nil {
			t.Fatalf("%v: %v", c, err)
		}
	}
}

func TestNotifyMPop(t *testing.T) {
	rdb, _, expect := notifyHarness(t)
	doAll(t, rdb,
		[]any{"rpush", "l", "a", "b", "c"},
		[]any{"lmpop", "1", "l", "left", "count", "2"},
		[]any{"lmpop", "2", "nx", "l", "right", "count", "5"},
		[]any{"lmpop", "1", "nx", "left"}, // nothing: no event
		[]any{"rpush", "l2", "x"},
		[]any{"blmpop", "0", "1", "l2", "right"},
	)
	expect("0 new l", "0 rpush l", "0 lpop l", "0 rpop l", "0 del l",
		"0 new l2", "0 rpush l2", "0 rpop l2", "0 del l2")
	doAll(t, rdb,
		[]any{"zadd", "z", "1", "a", "2", "b", "3", "c"},
		[]any{"zmpop", "1", "z", "min", "count", "2"},
		[]any{"zmpop", "1", "z", "max", "count", "9"},
		[]any{"zmpop", "1", "nz", "max"}, // nothing: no event
		[]any{"zadd", "z2", "1", "a"},
		[]any{"bzmpop", "0", "1", "z2", "max"},
	)
	expect("0 new z", "0 zadd z", "0 zpopmin z", "0 zpopmax z", "0 del z",
		"0 new z2", "0 zadd z2", "0 zpopmax z2", "0 del z2")
	// Pops that find data at once.
	doAll(t, rdb,
		[]any{"rpush", "f", "1", "2"},
		[]any{"blpop", "f", "0"},
		[]any{"brpop", "f", "0"},
		[]any{"zadd", "g", "1", "a", "2", "b"},
		[]any{"bzpopmin", "g", "0"},
		[]any{"bzpopmax", "g", "0"},
		[]any{"rpush", "a", "1", "2"},
		[]any{"lmove", "a", "b", "left", "right"},
		[]any{"rpoplpush", "a", "b"},
		[]any{"rpush", "c", "1"},
		[]any{"blmove", "c", "d", "right", "left", "0"},
		[]any{"rpush", "e", "1"},
		[]any{"brpoplpush", "e", "e", "0"},
	)
	expect("0 new f", "0 rpush f", "0 lpop f", "0 rpop f", "0 del f",
		"0 new g", "0 zadd g", "0 zpopmin g", "0 zpopmax g", "0 del g",
		"0 new a", "0 rpush a", "0 new b", "0 rpush b", "0 lpop a", "0 lpush b", "0 rpop a", "0 del a",
		"0 new c", "0 rpush c", "0 new d", "0 lpush d", "0 rpop c", "0 del c",
		"0 new e", "0 rpush e", "0 lpush e", "0 rpop e")
}

// blockThenPush runs block on its own connection, waits until the server
// counts it blocked, runs push and waits for the blocked command's reply.
func blockThenPush(t *testing.T, rdb *redis.Client, addr string, block, push []any) {
	t.Helper()
	ctx := context.Background()
	bc := newClient2(t, addr, 2)
	done := make(chan error, 1)
	go func() { done <- bc.Do(ctx, block...).Err() }()
	waitBlocked(t, rdb, 1)
	doAll(t, rdb, push)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%v: %v", block, err)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("%v was not served", block)
	}
}

func TestNotifyServedBlockedPops(t *testing.T) {
	rdb, addr, expect := notifyHarness(t)
	blockThenPush(t, rdb, addr, []any{"blpop", "bl", "0"}, []any{"rpush", "bl", "a", "b"})
	expect("0 new bl", "0 rpush bl", "0 lpop bl")
	blockThenPush(t, rdb, addr, []any{"brpop", "bl2", "0"}, []any{"lpush", "bl2", "x"})
	expect("0 new bl2", "0 lpush bl2", "0 rpop bl2", "0 del bl2")
	blockThenPush(t, rdb, addr, []any{"blmpop", "0", "1", "bm", "right", "count", "5"}, []any{"rpush", "bm", "a", "b"})
	expect("0 new bm", "0 rpush bm", "0 rpop bm", "0 del bm")
	blockThenPush(t, rdb, addr, []any{"bzpopmin", "bz", "0"}, []any{"zadd", "bz", "1", "a"})
	expect("0 new bz", "0 zadd bz", "0 zpopmin bz", "0 del bz")
	blockThenPush(t, rdb, addr, []any{"bzpopmax", "bz2", "0"}, []any{"zadd", "bz2", "1", "a", "2", "b"})
	expect("0 new bz2", "0 zadd bz2", "0 zpopmax bz2")
	blockThenPush(t, rdb, addr, []any{"bzmpop", "0", "1", "bzm", "min", "count", "1"}, []any{"zadd", "bzm", "1", "a", "2", "b"})
	expect("0 new bzm", "0 zadd bzm", "0 zpopmin bzm")
}

func TestNotifyServedBlockedMoves(t *testing.T) {
	rdb, addr, expect := notifyHarness(t)
	same := sameShardKeys(2, 8)
	diff := keysOnDifferentShards(t, "mv", 2, 8)
	for _, keys := range [][]string{same, diff} {
		src, dst := keys[0], keys[1]
		blockThenPush(t, rdb, addr, []any{"blmove", src, dst, "left", "right", "0"}, []any{"rpush", src, "a"})
		expect("0 new "+src, "0 rpush "+src, "0 new "+dst, "0 rpush "+dst, "0 lpop "+src, "0 del "+src)
		blockThenPush(t, rdb, addr, []any{"brpoplpush", src, dst, "0"}, []any{"rpush", src, "a", "b"})
		expect("0 new "+src, "0 rpush "+src, "0 lpush "+dst, "0 rpop "+src)
		doAll(t, rdb, []any{"del", src, dst})
		expect("0 del "+src, "0 del "+dst)
	}
	blockThenPush(t, rdb, addr, []any{"blmove", "h", "h", "left", "right", "0"}, []any{"rpush", "h", "1"})
	expect("0 new h", "0 rpush h", "0 rpush h", "0 lpop h")
}

func TestNotifyCopyDB(t *testing.T) {
	rdb, _, expect := notifyHarness(t)
	doAll(t, rdb,
		[]any{"set", "s", "v"},
		[]any{"copy", "s", "s2", "db", "3"},
		[]any{"copy", "s", "s2", "db", "3"}, // exists: no event
		[]any{"copy", "s", "s2", "db", "3", "replace"},
		[]any{"copy", "s", "s3"},
		[]any{"copy", "s", "s3", "replace"},
	)
	expect("0 new s", "0 set s", "3 new s2", "3 copy_to s2", "3 new s2", "3 copy_to s2",
		"0 new s3", "0 copy_to s3", "0 new s3", "0 copy_to s3")
	keys := keysOnDifferentShards(t, "cp", 2, 8)
	doAll(t, rdb, []any{"copy", keys[0], keys[1], "db", "5"}) // no source
	doAll(t, rdb, []any{"lpush", keys[0], "1"}, []any{"copy", keys[0], keys[1], "db", "5"})
	expect("0 new "+keys[0], "0 lpush "+keys[0], "5 new "+keys[1], "5 copy_to "+keys[1])
}

// HMSET is HSET in Redis: its event is hset.
func TestNotifyHMSet(t *testing.T) {
	rdb, _, expect := notifyHarness(t)
	doAll(t, rdb, []any{"hmset", "h", "a", "1", "b", "2"}, []any{"hincrby", "h", "a", "10"})
	expect("0 new h", "0 hset h", "0 hincrby h")
}

// PFADD says pfadd only when it changed a register or made the key, and
// PFMERGE says pfadd for its destination; PFCOUNT and PFDEBUG say nothing.
func TestNotifyHyperLogLog(t *testing.T) {
	rdb, _, expect := notifyHarness(t)
	doAll(t, rdb,
		[]any{"pfadd", "h", "a", "b"},
		[]any{"pfadd", "h", "a"},
		[]any{"pfadd", "e"},
		[]any{"pfcount", "h"},
		[]any{"pfmerge", "d", "h"},
		[]any{"pfmerge", "d", "h"},
		[]any{"pfdebug", "todense", "h"},
		[]any{"pfdebug", "getreg", "e"},
		[]any{"pfcount", "h", "e"},
	)
	expect("0 new h", "0 pfadd h", "0 new e", "0 pfadd e", "0 new d", "0 pfadd d", "0 pfadd d")
}
