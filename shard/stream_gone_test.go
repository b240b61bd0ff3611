package shard

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// A blocking XREADGROUP that arrived before a command removing its stream,
// but reached the shard after it, answers as Redis would have: it blocked
// first, so the removal unblocks it with UNBLOCKED. One that arrived after
// the removal gets NOGROUP, and one without BLOCK is never affected.
func TestLateXReadGroupSeesItsStreamGone(t *testing.T) {
	for _, remove := range [][]string{
		{"del", "s"},
		{"set", "s", "v"},
		{"flushall"},
		{"unlink", "s"},
	} {
		t.Run(remove[0], func(t *testing.T) {
			w := Start(New(0), WorkerOptions{Tick: time.Hour})
			defer w.Stop()
			base := time.Now().UnixNano()
			execStamped(t, w, base, nil, "xadd", "s", "1-1", "f", "v")
			if got := execStamped(t, w, base+10, nil, "xgroup", "create", "s", "g", "$"); got != "+OK\r\n" {
				t.Fatalf("xgroup: %q", got)
			}
			execStamped(t, w, base+300, nil, remove...)
			read := []string{"xreadgroup", "group", "g", "alice", "block", "0", "streams", "s", ">"}
			waiter := func(since int64) *Waiter {
				wt := Lookup("xreadgroup").NewWaiter(bargs(read...))
				wt.Proto, wt.Since = wire.RESP2, since
				return wt
			}
			if got := execStamped(t, w, base+200, waiter(base+200), read...); !strings.HasPrefix(got, "-UNBLOCKED the stream key no longer exists") {
				t.Fatalf("read that arrived before the %s: %q", remove[0], got)
			}
			if got := execStamped(t, w, base+400, waiter(base+400), read...); !strings.HasPrefix(got, "-NOGROUP No such key") && !strings.HasPrefix(got, "-WRONGTYPE") {
				t.Fatalf("read that arrived after the %s: %q", remove[0], got)
			}
			noBlock := []string{"xreadgroup", "group", "g", "alice", "streams", "s", ">"}
			if got := execStamped(t, w, base+200, nil, noBlock...); strings.HasPrefix(got, "-UNBLOCKED") {
				t.Fatalf("a read without BLOCK was unblocked: %q", got)
			}
		})
	}
}

// The records are bounded: a flood of removed streams keeps at most
// goneMax per database.
func TestStreamGoneRecordsBounded(t *testing.T) {
	s := New(0)
	db := s.DB(0)
	for i := range 5 * goneMax {
		st := &Stream{groups: []*streamGroup{{}}}
		k := []byte("k" + strconv.Itoa(i))
		db.set(k, st, false, 0)
		db.remove(k)
	}
	if n := len(db.gone); n == 0 || n > goneMax {
		t.Fatalf("%d removals remembered, want 1..%d", n, goneMax)
	}
}

// A blocking XREAD that arrived before its stream was replaced by a
// string waits (Redis blocked it first) and is served by the stream
// created there next, instead of answering WRONGTYPE.
func TestLateXReadWaitsThroughReplacedStream(t *testing.T) {
	w := Start(New(0), WorkerOptions{Tick: time.Hour})
	defer w.Stop()
	base := time.Now().UnixNano()
	execStamped(t, w, base, nil, "xadd", "s", "666-0", "f", "v")
	execStamped(t, w, base+300, nil, "set", "s", "val1")
	read := []string{"xread", "block", "0", "streams", "s", "$"}
	wt := Lookup("xread").NewWaiter(bargs(read...))
	wt.Proto, wt.Since = wire.RESP2, base+200
	if got := execStamped(t, w, base+200, wt, read...); got != "" {
		t.Fatalf("late XREAD replied %q, want it blocked", got)
	}
	if !wt.Registered {
		t.Fatal("late XREAD did not block")
	}
	execStamped(t, w, base+400, nil, "del", "s")
	execStamped(t, w, base+500, nil, "xadd", "s", "667-0", "f", "v")
	select {
	case wk := <-wt.Woken:
		if !strings.Contains(string(wk.Reply), "667-0") {
			t.Fatalf("served %q", wk.Reply)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("never served")
	}
	// One that arrived after the SET still gets WRONGTYPE.
	execStamped(t, w, base+600, nil, "set", "s", "val2")
	wt2 := Lookup("xread").NewWaiter(bargs(read...))
	wt2.Proto, wt2.Since = wire.RESP2, base+700
	if got := execStamped(t, w, base+700, wt2, read...); !strings.HasPrefix(got, "-WRONGTYPE") {
		t.Fatalf("XREAD after the SET: %q", got)
	}
}
