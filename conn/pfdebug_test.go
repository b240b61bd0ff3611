package conn

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestPFDebugDifferential runs the same PFADDs and PFDEBUG calls against
// redis-server and Valkyrie (8 shards) and compares every reply: GETREG,
// DECODE, ENCODING and TODENSE on sparse and dense values (and the bytes
// they leave behind), a corrupt sparse value, the error replies (missing
// key, wrong type, unknown subcommand, arity), PFSELFTEST, and that
// TODENSE keeps the TTL and does not touch a WATCH.
func TestPFDebugDifferential(t *testing.T) {
	red, val := redisAndValkyrie(t)
	want, got := pfdebugScript(t, red), pfdebugScript(t, val)
	if len(got) != len(want) {
		t.Fatalf("%d replies from Valkyrie, %d from Redis", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d:\nvalkyrie %.400s\n   redis %.400s", i, got[i], want[i])
		}
	}
}

func pfdebugScript(t *testing.T, cl *redis.Client) []string {
	ctx := context.Background()
	var out []string
	do := func(args ...any) {
		v, err := cl.Do(ctx, args...).Result()
		out = append(out, fmt.Sprintf("%v => %#v | %v", args, v, err))
	}
	elems := func(prefix string, n int) []any {
		a := make([]any, n)
		for i := range a {
			a[i] = prefix + strconv.Itoa(i)
		}
		return a
	}
	if err := cl.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	do("pfadd", "empty")
	do(append([]any{"pfadd", "small"}, elems("s", 20)...)...)
	do(append([]any{"pfadd", "mid"}, elems("m", 400)...)...)
	do(append([]any{"pfadd", "big"}, elems("b", 5000)...)...)
	do(append([]any{"pfadd", "reg"}, elems("r", 50)...)...)
	for _, k := range []string{"empty", "small", "mid", "big"} {
		do("pfdebug", "encoding", k)
		do("pfdebug", "DECODE", k)
		do("get", k)
		do("pfcount", k)
		do("pfdebug", "todense", k)
		do("pfdebug", "Encoding", k)
		do("pfdebug", "todense", k)
		do("pfdebug", "getreg", k)
		do("pfdebug", "decode", k)
		do("get", k)
		do("pfcount", k)
	}
	// GETREG turns a sparse value dense too.
	do("pfdebug", "GetReg", "reg")
	do("pfdebug", "encoding", "reg")
	do("get", "reg")

	// A sparse value whose opcodes cover one register only: readable
	// by DECODE and ENCODING, corrupt for GETREG and TODENSE.
	bad := "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00"
	do("set", "bad", bad)
	do("pfdebug", "decode", "bad")
	do("pfdebug", "encoding", "bad")
	do("pfdebug", "getreg", "bad")
	do("pfdebug", "todense", "bad")
	do("get", "bad")

	// Errors.
	do("rpush", "list", "x")
	do("set", "str", "not an hll")
	do("set", "shortdense", "HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	for _, sub := range []string{"getreg", "decode", "encoding", "todense", "nosuch"} {
		do("pfdebug", sub, "missing")
		do("pfdebug", sub, "list")
		do("pfdebug", sub, "str")
		do("pfdebug", sub, "shortdense")
	}
	do("pfdebug", "NoSuch", "small")
	do("pfdebug", "no\r\nsuch", "small")
	do("pfdebug")
	do("pfdebug", "getreg")
	do("pfdebug", "getreg", "small", "extra")
	do("pfselftest", "extra")
	if pfRaceBuild() {
		// Ten million elements take seconds under the race detector;
		// the shard package's tests run the self test smaller.
		out = append(out, "pfselftest: not run under -race")
	} else {
		do("pfselftest")
	}

	// TODENSE keeps the TTL.
	do("pfadd", "ttl", "a", "b")
	do("pexpire", "ttl", 100000)
	do("pfdebug", "todense", "ttl")
	ttl, err := cl.PTTL(ctx, "ttl").Result()
	out = append(out, fmt.Sprintf("ttl kept: %v %v", ttl > 0, err))

	// Neither TODENSE nor GETREG signals the key: a WATCH survives them,
	// and a PFADD that changes no register. One that does ends it.
	for i, mk := range []func(key string) []any{
		func(key string) []any { return []any{"pfdebug", "todense", key} },
		func(key string) []any { return []any{"pfdebug", "getreg", key} },
		func(key string) []any { return []any{"pfadd", key, "a"} },
		func(key string) []any { return []any{"pfadd", key, "new"} },
	} {
		key := "w" + strconv.Itoa(i)
		cmd := mk(key)
		do("pfadd", key, "a", "b", "c")
		err := cl.Watch(ctx, func(tx *redis.Tx) error {
			if err := cl.Do(ctx, cmd...).Err(); err != nil {
				return err
			}
			_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Ping(ctx)
				return nil
			})
			return err
		}, key)
		out = append(out, fmt.Sprintf("WATCH %s, %v, EXEC: %v", key, cmd, err))
		do("pfdebug", "encoding", key)
	}
	return out
}

// pfRaceBuild reports whether the test binary was built with -race.
func pfRaceBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}
