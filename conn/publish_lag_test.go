package conn

import (
	"context"
	"testing"
	"time"
)

// A PUBLISH waits (pubsub.Hub.PublishAt) only for subscribers that may
// still hold commands that arrived before it. Two that cannot: the
// publisher itself, a RESP3 client subscribed to the channel it publishes
// on (it was counted busy with the very PUBLISH, so each one waited the
// full 2 ms), and a subscriber blocked in BLPOP (it runs nothing until it
// is served, as in Redis; it was counted busy for as long as it blocked).
func TestPublishDoesNotWaitForItselfOrBlockedSubscribers(t *testing.T) {
	srv, addr := startServer(t, 8)
	ctx := context.Background()

	self := newClient2(t, addr, 3)
	ps := self.Subscribe(ctx, "selfch")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	// go-redis's PubSub has a connection of its own; publish from it.
	nc, br := dialBuffered(t, addr)
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	for _, cmd := range []string{resp("HELLO", "3"), resp("SUBSCRIBE", "own")} {
		if _, err := nc.Write([]byte(cmd)); err != nil {
			t.Fatal(err)
		}
		if _, err := readVal(br); err != nil {
			t.Fatal(err)
		}
	}
	before := srv.hub.Retries()
	for i := 0; i < 20; i++ {
		if _, err := nc.Write([]byte(resp("PUBLISH", "own", "m"))); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 2; j++ { // the message to itself and the count, in either order
			if _, err := readVal(br); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := srv.hub.Retries() - before; n != 0 {
		t.Fatalf("a publisher subscribed to its channel waited for itself: %d retries", n)
	}

	// A RESP3 subscriber blocked in BLPOP.
	sub, sbr := dialBuffered(t, addr)
	sub.SetDeadline(time.Now().Add(10 * time.Second))
	for _, cmd := range []string{resp("HELLO", "3"), resp("SUBSCRIBE", "blk")} {
		sub.Write([]byte(cmd))
		if _, err := readVal(sbr); err != nil {
			t.Fatal(err)
		}
	}
	sub.Write([]byte(resp("BLPOP", "nolist", "0")))
	pub := newClient2(t, addr, 2)
	waitBlocked(t, pub, 1)
	before = srv.hub.Retries()
	for i := 0; i < 20; i++ {
		if n, err := pub.Publish(ctx, "blk", "m").Result(); err != nil || n != 1 {
			t.Fatalf("PUBLISH = %d, %v", n, err)
		}
	}
	if n := srv.hub.Retries() - before; n != 0 {
		t.Fatalf("PUBLISH waited for a blocked subscriber: %d retries", n)
	}
	pub.RPush(ctx, "nolist", "x")
}
