package conn

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// blockingCloseConn is a net.Conn whose Close waits for release, as a
// real one waits while its owner holds the read lock (holdReads).
type blockingCloseConn struct {
	net.Conn
	closes  atomic.Int32
	release chan struct{}
}

func (b *blockingCloseConn) Close() error {
	b.closes.Add(1)
	<-b.release
	return nil
}

// Every tracking push past the limit calls closeAsync; while the first
// close waits, the later calls must not start a goroutine each.
func TestCloseAsyncStartsOneClose(t *testing.T) {
	nc := &blockingCloseConn{release: make(chan struct{})}
	defer close(nc.release)
	c := &client{nc: nc}
	for range 1000 {
		c.closeAsync()
	}
	deadline := time.Now().Add(2 * time.Second)
	for nc.closes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let any extra goroutines reach Close
	if n := nc.closes.Load(); n != 1 {
		t.Fatalf("%d closes started, want 1", n)
	}
	if !c.hungUp.Load() {
		t.Fatal("closeAsync did not mark the connection hung up")
	}
}
