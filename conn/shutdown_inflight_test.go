package conn

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
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
