package shard

import (
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// An XREAD BLOCK with "$" that reaches the shard after an XADD which
// arrived later (another connection's goroutine ran first) reads what that
// XADD created: when it arrived there was no stream, so "$" meant 0-0. One
// that arrived after the stream was created waits for new entries.
func TestXReadDollarInArrivalOrder(t *testing.T) {
	w := Start(New(0), WorkerOptions{Tick: time.Hour})
	defer w.Stop()
	base := time.Now().UnixNano()
	if got := execStamped(t, w, base+300, nil, "xadd", "s", "5-0", "f", "v"); got != "$3\r\n5-0\r\n" {
		t.Fatalf("XADD: %q", got)
	}
	read := func(since int64) (*Waiter, string) {
		args := []string{"xread", "block", "0", "streams", "s", "$"}
		wt := Lookup("xread").NewWaiter(bargs(args...))
		wt.Proto, wt.Since = wire.RESP2, since
		return wt, execStamped(t, w, since, wt, args...)
	}
	early, got := read(base + 100)
	if want := "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"; got != want || early.Registered {
		t.Fatalf("XREAD $ that arrived before the stream: %q, want %q", got, want)
	}
	late, got := read(base + 400)
	if got != "" || !late.Registered {
		t.Fatalf("XREAD $ that arrived after the stream: %q, registered %v", got, late.Registered)
	}
	late.Claim()
}
