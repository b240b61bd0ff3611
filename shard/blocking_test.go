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

// Waiters queue in the order their commands were read (Since), not the
// order they reached the shard; a retried move goes first.
func TestWaitersQueueInReadOrder(t *testing.T) {
	s := New(0)
	mk := func(since int64, retried bool) *Waiter {
		w := popWaiter(bargs("k"), true, 1, false)
		w.Since, w.Retried = since, retried
		c := Ctx{self: s, NumShards: 1, Proto: wire.RESP2, Waiter: w}
		c.block()
		return w
	}
	late := mk(300, false)
	early := mk(100, false)
	middle := mk(200, false)
	retried := mk(50, true)
	run(t, s, 1000, "RPUSH", "k", "a", "b", "c", "d")
	for i, w := range []*Waiter{retried, early, middle, late} {
		want := "*2\r\n$1\r\nk\r\n$1\r\n" + string(rune('a'+i)) + "\r\n"
		select {
		case wk := <-w.Woken:
			if string(wk.Reply) != want {
				t.Fatalf("waiter %d got %q, want %q", i, wk.Reply, want)
			}
		default:
			t.Fatalf("waiter %d not served", i)
		}
	}
}
