package conn

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// A shutdown that runs out of time stops the shards while a connection
// still waits for a batch one of them is running. The connection used to
// stop waiting as soon as the shards began to stop and reuse the batch
// (its calls, its replies) while the shard still ran it: the shard's
// command panicked on the emptied batch, and -race saw the two goroutines
// when a loaded machine made a test's shutdown overrun its 5 s. The
// connection now waits until the shards have stopped, the batch with them.
func TestShutdownDeadlineWithABatchRunning(t *testing.T) {
	var logs syncBuffer // the shards log a panic to the default logger
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(old)

	srv, addr, done := listenAndServe(t, 2)
	c := newClient2(t, addr, 2)
	ctx := context.Background()
	vals := make([]any, 0, 1000)
	for i := 0; i < 100; i++ {
		vals = vals[:0]
		for j := 0; j < 1000; j++ {
			vals = append(vals, strconv.Itoa(i*7919+j*104729))
		}
		must(t, c.RPush(ctx, "{b}big", vals...).Err())
	}
	nc, _ := dialBuffered(t, addr)
	// One batch of slow commands on the shard of {b}big.
	if _, err := nc.Write([]byte(strings.Repeat(resp("SORT", "{b}big", "ALPHA", "STORE", "{b}sorted"), 20))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the shard is in the batch, which lasts far longer
	sctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline (the batch ended before it: the test proves nothing)", err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	if l := logs.String(); strings.Contains(l, "panicked") {
		t.Fatalf("a shard's command panicked during the shutdown:\n%.2000s", l)
	}
}

// A connection whose batch waits in the mailbox of a shard that stops
// with it unrun (a shutdown past its deadline, the shard lent) is told so
// by Shutdown's nil answer (wakeAwaiting), rather than wait for an answer
// that never comes.
func TestAwaitGivesUpOnceShardsStop(t *testing.T) {
	srv := New(Options{Shards: 1})
	defer srv.Shutdown(context.Background())
	local, remote := net.Pipe()
	defer local.Close()
	defer remote.Close()
	c := newClient(srv, local)
	srv.mu.Lock()
	srv.clients[c.id] = c
	srv.mu.Unlock()
	loan := shard.NewLoan()
	if _, err := srv.workers[0].Borrow(loan); err != nil { // the shard is lent: its mailbox waits
		t.Fatal(err)
	}
	b := c.batches[0]
	b.Begin(0, c.proto, 1)
	if err := srv.workers[0].Submit(b, c.answers); err != nil {
		t.Fatal(err)
	}
	gave := make(chan bool, 1)
	go func() { gave <- c.await(1) }()
	srv.workers[0].Stop() // does not wait for the lent shard; drops the batch
	srv.wakeAwaiting()
	select {
	case ok := <-gave:
		if ok {
			t.Fatal("await reported an answer for a dropped batch")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("await still waits 10 s after the shards stopped")
	}
	loan.Return()
	srv.mu.Lock()
	delete(srv.clients, c.id)
	srv.mu.Unlock()
}
