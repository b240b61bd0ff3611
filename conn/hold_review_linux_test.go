//go:build linux && !386

package conn

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// heldClient returns the server's only client other than skip.
func heldClient(t *testing.T, srv *Server, skip int64) *client {
	t.Helper()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for id, cl := range srv.clients {
		if id != skip {
			return cl
		}
	}
	t.Fatal("no client")
	return nil
}

// A pause that begins while a held connection runs a segment of quick
// commands, after one passed quick but before execute looked for a pause,
// makes that command wait for the pause inside holdReads. Its socket
// watcher must not read the socket with hold's own reads meanwhile: they
// never wait, so the watcher spun on recvmsg for the length of the pause
// (and raced with the owner's reader state).
func TestPauseDuringHeldSegmentDoesNotSpin(t *testing.T) {
	srv, addr := startServer(t, 2)
	ctx := context.Background()
	pauser := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
	t.Cleanup(func() { pauser.Close() })
	pid, err := pauser.ClientID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	// A user with many key patterns makes the ACL check, between quick
	// and execute's look for a pause, long: the pause often begins there.
	acl := []any{"ACL", "SETUSER", "u", "on", "nopass", "+@all"}
	for i := range 300 {
		acl = append(acl, "~p"+strconv.Itoa(i)+"*x")
	}
	acl = append(acl, "~k")
	if err := pauser.Do(ctx, acl...).Err(); err != nil {
		t.Fatal(err)
	}
	nc, br := dialBuffered(t, addr)
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := nc.Write([]byte(resp("AUTH", "u", "x"))); err != nil {
		t.Fatal(err)
	}
	if l, err := br.ReadString('\n'); err != nil || l != "+OK\r\n" {
		t.Fatal(l, err)
	}
	c := heldClient(t, srv, pid)
	r, ok := c.src.(*arrivalReader)
	if !ok {
		t.Skip("the connection reads without arrival times")
	}
	var req strings.Builder
	const n = 3000
	for range n {
		req.WriteString(resp("SET", "k", "v"))
	}
	done := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := nc.Write([]byte(req.String())); err != nil {
				done <- err
				return
			}
			for range n {
				if l, err := br.ReadString('\n'); err != nil || l != "+OK\r\n" {
					done <- fmt.Errorf("reply %q, %v", l, err)
					return
				}
			}
		}
	}()
	before := r.emptyReads.Load()
	deadline := time.Now().Add(3 * time.Second)
	rounds := 0
	for time.Now().Before(deadline) {
		if err := pauser.Do(ctx, "CLIENT", "PAUSE", "5", "WRITE").Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(7 * time.Millisecond)
		rounds++
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if empty := r.emptyReads.Load() - before; empty > int64(rounds)*100 {
		t.Fatalf("%d reads found nothing over %d pauses: the watcher spun", empty, rounds)
	}
}
