package pubsub

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// A PUBLISH waits for busy subscribers for at most maxPublishLag. The
// bound used to be measured only against the command's arrival stamp on
// the wall clock: a stamp ahead of the clock (the clock stepped back) kept
// it waiting for as long as a subscriber stayed busy. The hub's monotonic
// clock bounds it too.
func TestPublishAtWaitIsBounded(t *testing.T) {
	tc := newTestCfg(nil)
	h := New()
	defer h.Close()
	a, b := net.Pipe()
	defer b.Close()
	go io.Copy(io.Discard, b)
	q := NewQueue(a, &tc.cfg)
	defer q.Stop()
	s := NewSubscriber(q)
	s.SetBusy(func(int64) bool { return true }) // busy for ever
	h.Subscribe(s, Channel, false, wire.RESP2, []string{"ch"}, true)
	done := make(chan int64, 1)
	go func() {
		n, _ := h.PublishAt(Channel, "ch", "m", time.Now().Add(time.Hour).UnixNano(), nil)
		done <- n
	}()
	select {
	case n := <-done:
		if n != 1 {
			t.Fatalf("PUBLISH reached %d", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a PUBLISH stamped ahead of the clock still waits after 5 s")
	}
	if h.Retries() == 0 {
		t.Fatal("the busy subscriber was not waited for at all")
	}
}
