//go:build linux && !386

package conn

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A client that sends one command and waits for its reply is served
// without a read that finds nothing before each wait (holdReads): before
// it, every command of such a client cost one.
func TestUnpipelinedClientNeedsNoEmptyReads(t *testing.T) {
	srv, addr := startServer(t, 2)
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var c *client
	srv.mu.Lock()
	for _, cl := range srv.clients {
		c = cl
	}
	srv.mu.Unlock()
	r, ok := c.src.(*arrivalReader)
	if !ok {
		t.Skip("the connection reads without arrival times")
	}
	before := r.emptyReads.Load()
	const n = 2000
	for i := range n {
		if err := rdb.Get(ctx, "k").Err(); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 { // a command that is not quick leaves and re-enters the hold
			if err := rdb.Do(ctx, "BLPOP", "nolist", "0.001").Err(); err != redis.Nil {
				t.Fatal(err)
			}
		}
	}
	if empty := r.emptyReads.Load() - before; empty > n/20 {
		t.Fatalf("%d reads found nothing for %d commands", empty, n)
	}
}

// Commands that are not quick, read together with quick ones, run in
// order with them: holdReads hands them to serve and takes over again.
func TestHoldHandsOverMixedPipeline(t *testing.T) {
	_, addr := startServer(t, 4)
	nc, br := dialBuffered(t, addr)
	var req strings.Builder
	var want []string
	for i := range 50 {
		k := "k" + strconv.Itoa(i)
		req.WriteString(resp("SET", k, "v"+strconv.Itoa(i)))
		req.WriteString(resp("BLPOP", "empty"+strconv.Itoa(i), "0.01"))
		req.WriteString(resp("MULTI"))
		req.WriteString(resp("GET", k))
		req.WriteString(resp("EXEC"))
		req.WriteString(resp("PING"))
		want = append(want, "+OK", "*-1", "+OK", "+QUEUED", "*1", "$"+strconv.Itoa(len("v"+strconv.Itoa(i))), "v"+strconv.Itoa(i), "+PONG")
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := nc.Write([]byte(req.String())); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reply line %d: %v", i, err)
		}
		if got := strings.TrimRight(line, "\r\n"); got != w {
			t.Fatalf("reply line %d = %q, want %q", i, got, w)
		}
	}
}

// CLIENT KILL inside a transaction runs while the transaction holds its
// shards. A connection waiting for one of them inside holdReads holds its
// socket's read lock: a Close there would wait for it, and it for the
// transaction. hangUp does not wait.
func TestKillInsideTransactionOfHeldClient(t *testing.T) {
	_, addr := startServer(t, 1)
	ctx := context.Background()
	for round := range 20 {
		victim := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, MaxRetries: -1})
		id, err := victim.ClientID(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if victim.Get(ctx, "k").Err() != nil && victim.Ping(ctx).Err() != nil {
					return
				}
			}
		}()
		killer, br := dialBuffered(t, addr)
		killer.SetDeadline(time.Now().Add(10 * time.Second))
		cmds := resp("MULTI") + resp("SET", "k", "v") + resp("CLIENT", "KILL", "ID", strconv.FormatInt(id, 10)) + resp("SET", "k", "w") + resp("EXEC")
		if _, err := killer.Write([]byte(cmds)); err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"+OK", "+QUEUED", "+QUEUED", "+QUEUED", "*3", "+OK", ":1", "+OK"} {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("round %d: reply: %v (the kill hung)", round, err)
			}
			if got := strings.TrimRight(line, "\r\n"); got != w {
				t.Fatalf("round %d: reply %q, want %q", round, got, w)
			}
		}
		close(stop)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the killed client's commands never ended", round)
		}
		victim.Close()
		killer.Close()
	}
}
