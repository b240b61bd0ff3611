package shard

import (
	"strconv"
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

func bargs(args ...string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

// A move to another shard gets a retry and keeps its turn: the waiters
// behind it are not served until the retry runs, but should it never run
// the tick serves them after stallGrace.
func TestStalledKeyServedAfterGrace(t *testing.T) {
	const n = 8
	s := New(Owner([]byte("src"), n))
	dst := ""
	for i := 0; dst == ""; i++ {
		if k := "dst" + strconv.Itoa(i); Owner([]byte(k), n) != s.ID {
			dst = k
		}
	}
	move := newMoveWaiter(bargs("BLMOVE", "src", dst, "LEFT", "RIGHT", "0"))
	pop := popWaiter(bargs("src"), true, 1, false)
	for _, w := range []*Waiter{move, pop} {
		c := Ctx{self: s, NumShards: n, Proto: wire.RESP2, Waiter: w}
		c.block()
	}
	if move.DstLocal {
		t.Fatal("DstLocal set for a destination on another shard")
	}
	run(t, s, 1000, "RPUSH", "src", "a")
	select {
	case wk := <-move.Woken:
		if !wk.Retry {
			t.Fatalf("move waiter got %q, want a retry", wk.Reply)
		}
	default:
		t.Fatal("move waiter not served")
	}
	s.Tick(1000 + stallGrace/2)
	select {
	case wk := <-pop.Woken:
		t.Fatalf("waiter behind a retried move served before its turn: %q", wk.Reply)
	default:
	}
	s.Tick(1000 + stallGrace)
	select {
	case wk := <-pop.Woken:
		if want := "*2\r\n$3\r\nsrc\r\n$1\r\na\r\n"; string(wk.Reply) != want {
			t.Fatalf("waiter got %q, want %q", wk.Reply, want)
		}
	default:
		t.Fatal("waiter behind a retry that never came was not served by the tick")
	}
}
