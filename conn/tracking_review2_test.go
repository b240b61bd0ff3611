package conn

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A key read inside MULTI/EXEC is tracked however the transaction runs:
// EXEC on one shard (a batch) used to run its calls without the tracker,
// so the key was not remembered and its change never invalidated. The
// same transaction across shards (or with a CLIENT command) was tracked.
func TestReviewTrackingReadInOneShardExec(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	w := newClient2(t, addr, 2)
	w.Set(ctx, "foo", "1", 0)
	for _, noloop := range []bool{false, true} {
		a := dialTrack(t, addr)
		a.call("HELLO", "3")
		args := []string{"CLIENT", "TRACKING", "on"}
		if noloop {
			args = append(args, "NOLOOP")
		}
		if r := a.call(args...); r.str != "OK" {
			t.Fatalf("CLIENT TRACKING: %v", r)
		}
		a.call("MULTI")
		a.call("GET", "foo")
		if r := a.call("EXEC"); len(r.arr) != 1 || r.arr[0].str != "1" {
			t.Fatalf("EXEC = %v", r)
		}
		if err := w.Set(ctx, "foo", "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
		expectPush(t, a, "foo", 2*time.Second)
		if noloop {
			// Its own write in a one-shard EXEC is not sent back.
			a.call("GET", "foo")
			a.call("MULTI")
			a.call("SET", "foo", "2")
			a.call("EXEC")
			got := false
			a.onInvalidate = func([]string) { got = true }
			a.call("PING")
			if got {
				t.Fatal("NOLOOP client got the invalidation of its own write in EXEC")
			}
		}
	}
}

// CLIENT TRACKING ON queued in a transaction applies to the reads after
// it in the same EXEC, as in Redis: EXEC fixed the tracker when it began.
func TestReviewTrackingOnInsideExec(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	a := dialTrack(t, addr)
	a.call("HELLO", "3")
	a.call("MULTI")
	a.call("CLIENT", "TRACKING", "on")
	a.call("GET", "k1")
	if r := a.call("EXEC"); len(r.arr) != 2 {
		t.Fatalf("EXEC = %v", r)
	}
	w := newClient2(t, addr, 2)
	if err := w.Set(ctx, "k1", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	expectPush(t, a, "k1", 2*time.Second)
}

// Redis's "Unblocked BLMOVE gets notification after response", across
// shards and on one: the invalidation of the destination that serving the
// blocked client causes is its own doing and comes after its reply, while
// others' changes reach it during the wait (TestReviewTrackingBlockedClientGetsInvalidation).
func TestReviewTrackingUnblockedMoveNotifiesAfterReply(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	w := newClient2(t, addr, 2)
	for _, keys := range [][2]string{{"list1{t}", "list2{t}"}, {"src-a", "dst-b"}} {
		src, dst := keys[0], keys[1]
		w.RPush(ctx, dst, "a")
		a := dialTrack(t, addr)
		a.call("HELLO", "3")
		a.call("CLIENT", "TRACKING", "on")
		a.call("LRANGE", dst, "0", "-1")
		io.WriteString(a.nc, resp("BLMOVE", src, dst, "LEFT", "LEFT", "0"))
		deadline := time.Now().Add(3 * time.Second)
		for {
			info, _ := w.Info(ctx, "clients").Result()
			if strings.Contains(info, "blocked_clients:1") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("not blocked")
			}
			time.Sleep(5 * time.Millisecond)
		}
		w.RPush(ctx, src, "foo")
		a.nc.SetReadDeadline(time.Now().Add(3 * time.Second))
		v, err := a.readOne()
		if err != nil || v.str != "foo" {
			t.Fatalf("%s -> %s: first reply %v, %v; want the BLMOVE reply foo", src, dst, v, err)
		}
		expectPush(t, a, dst, 2*time.Second)
	}
}

// A blocking move that blocks changes nothing: it must not dirty a WATCH
// of its keys nor invalidate them (Redis signals the keys only when the
// move is served). touchWritten took its empty reply for a change.
func TestReviewBlockedMoveTouchesNothing(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	for _, keys := range [][2]string{{"bsrc{t}", "bdst{t}"}, {"bsrc-a", "bdst-b"}} {
		src, dst := keys[0], keys[1]
		x := dialTrack(t, addr)
		x.call("HELLO", "3")
		x.call("CLIENT", "TRACKING", "on")
		x.call("GET", dst)
		x.call("WATCH", dst, src)
		blocker := newClient2(t, addr, 2)
		done := make(chan struct{})
		go func() {
			defer close(done)
			blocker.BLMove(ctx, src, dst, "LEFT", "LEFT", 500*time.Millisecond)
		}()
		w := newClient2(t, addr, 2)
		deadline := time.Now().Add(3 * time.Second)
		for {
			info, _ := w.Info(ctx, "clients").Result()
			if strings.Contains(info, "blocked_clients:1") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("not blocked")
			}
			time.Sleep(5 * time.Millisecond)
		}
		got := false
		x.onInvalidate = func([]string) { got = true }
		x.call("MULTI")
		x.call("PING")
		if r := x.call("EXEC"); r.kind == '_' || len(r.arr) != 1 {
			t.Fatalf("%s -> %s: EXEC = %v: a blocked BLMOVE dirtied the WATCH", src, dst, r)
		}
		if got {
			t.Fatalf("%s -> %s: a blocked BLMOVE invalidated its keys", src, dst)
		}
		<-done
	}
}

// A tracking client writes through its output queue, which (normal class)
// has no limit: one that pipelines large reads without reading its
// replies must be held back as a client writing to its socket is, not
// have the server buffer every reply.
func TestReviewTrackingSlowReaderBackpressure(t *testing.T) {
	srv, addr := startServer(t, 8)
	ctx := context.Background()
	w := newClient2(t, addr, 2)
	val := strings.Repeat("v", 100<<10)
	if err := w.Set(ctx, "bp", val, 0).Err(); err != nil {
		t.Fatal(err)
	}
	a := dialTrack(t, addr)
	id := a.call("CLIENT", "ID").str
	if r := a.call("CLIENT", "TRACKING", "on"); r.str != "OK" {
		t.Fatalf("CLIENT TRACKING: %v", r)
	}
	const n = 300 // 30 MB of replies
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(resp("GET", "bp"))
	}
	go io.WriteString(a.nc, b.String())
	time.Sleep(500 * time.Millisecond)
	var omem int64
	for _, f := range strings.Fields(w.Do(ctx, "client", "list", "id", id).String()) {
		if v, ok := strings.CutPrefix(f, "omem="); ok {
			omem, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if omem > 8<<20 {
		t.Fatalf("the server holds %d MB of replies for a client that does not read", omem>>20)
	}
	for i := 0; i < n; i++ {
		a.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if v, err := a.readOne(); err != nil || len(v.str) != len(val) {
			t.Fatalf("reply %d: %d bytes, %v", i, len(v.str), err)
		}
	}
	_ = srv
}
