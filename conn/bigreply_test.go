package conn

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// rawPipeline sends req on nc and reads exactly len(want) bytes back.
func rawPipeline(t *testing.T, nc net.Conn, req, want string) {
	t.Helper()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(nc, got); err != nil {
		t.Fatalf("reading %d bytes: %v (got %q...)", len(want), err, got[:min(len(got), 80)])
	}
	if string(got) != want {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Fatalf("replies differ at byte %d: got %q, want %q", i, got[i:min(len(got), i+60)], want[i:min(len(want), i+60)])
	}
}

func bulk(s string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }

func command(args ...string) string {
	s := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		s += bulk(a)
	}
	return s
}

// A pipeline mixing large replies (sent in place with writev) and small
// ones (copied), from several shards and from the connection itself, muted
// or not, must come back complete and in request order.
func TestPipelineMixedReplySizesInOrder(t *testing.T) {
	_, addr := startServer(t, 8)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var req, want strings.Builder
	vals := map[string]string{}
	for i := 0; i < 16; i++ {
		k := fmt.Sprintf("k%d", i)
		vals[k] = strings.Repeat(string(rune('a'+i)), 100+i*300) // 100 B to 4.6 KiB
		req.WriteString(command("SET", k, vals[k]))
		want.WriteString("+OK\r\n")
	}
	rawPipeline(t, nc, req.String(), want.String())
	for round := 0; round < 3; round++ {
		req.Reset()
		want.Reset()
		for i := 0; i < 16; i++ {
			k := fmt.Sprintf("k%d", (i*7+round)%16)
			req.WriteString(command("GET", k))
			want.WriteString(bulk(vals[k]))
			switch i % 4 {
			case 0:
				big := strings.Repeat("e", 1500+i)
				req.WriteString(command("ECHO", big))
				want.WriteString(bulk(big))
			case 1:
				req.WriteString(command("PING"))
				want.WriteString("+PONG\r\n")
			case 2:
				req.WriteString(command("CLIENT", "REPLY", "SKIP"))
				req.WriteString(command("GET", k)) // muted
			case 3:
				req.WriteString(command("GET", "missing"))
				want.WriteString("$-1\r\n")
			}
		}
		rawPipeline(t, nc, req.String(), want.String())
	}
	// MULTI runs its segment in parts (settled before the write): the
	// large replies of the earlier part must still come first.
	req.Reset()
	want.Reset()
	req.WriteString(command("GET", "k15"))
	want.WriteString(bulk(vals["k15"]))
	req.WriteString(command("MULTI"))
	want.WriteString("+OK\r\n")
	req.WriteString(command("GET", "k14"))
	want.WriteString("+QUEUED\r\n")
	req.WriteString(command("EXEC"))
	want.WriteString("*1\r\n" + bulk(vals["k14"]))
	req.WriteString(command("GET", "k13"))
	want.WriteString(bulk(vals["k13"]))
	rawPipeline(t, nc, req.String(), want.String())
}

// A stream of pipelines of large replies reuses the connection's buffers
// instead of allocating the replies' size again for each pipeline (which,
// growing by doubling, cost twice that, plus the copy into the output
// buffer, and made the collector run far more often).
func TestLargeReplyStreamReusesBuffers(t *testing.T) {
	_, addr := startServer(t, 1)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	val := strings.Repeat("v", 1024)
	var fill, want strings.Builder
	for i := 0; i < 100; i++ {
		fill.WriteString(command("RPUSH", "list", val))
		want.WriteString(fmt.Sprintf(":%d\r\n", i+1))
	}
	rawPipeline(t, nc, fill.String(), want.String())
	reply := "*100\r\n" + strings.Repeat(bulk(val), 100)
	const depth = 16
	req := strings.Repeat(command("LRANGE", "list", "0", "99"), depth)
	all := strings.Repeat(reply, depth)
	rawPipeline(t, nc, req, all) // warm up: the buffers grow once
	const rounds = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < rounds; i++ {
		rawPipeline(t, nc, req, all)
	}
	runtime.ReadMemStats(&after)
	// The test's own reads allocate len(all) per round; the server used to
	// allocate about four times that. Allow the reads and some slack.
	perRound := (after.TotalAlloc - before.TotalAlloc) / rounds
	if limit := uint64(len(all)) * 3 / 2; perRound > limit {
		t.Fatalf("%d KiB allocated per pipeline of %d KiB of replies (limit %d KiB): the server reallocates its reply buffers",
			perRound>>10, len(all)>>10, limit>>10)
	}
}

// The buffers a stream of large replies keeps are dropped once the
// connection goes idle, even when no other command follows.
func TestKeptReplyBuffersReleasedWhenIdle(t *testing.T) {
	const size = 8 << 20
	const conns = 4
	_, addr := startServer(t, 8)
	ctx := context.Background()
	clients := singleConnClients(t, addr, conns)
	admin := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, MaxRetries: -1})
	t.Cleanup(func() { admin.Close() })
	before := heapInuse()
	if err := admin.Set(ctx, "big", strings.Repeat("v", size), 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, rdb := range clients {
		// Two in a row, so the second finds its buffers kept.
		for j := 0; j < 2; j++ {
			if v, err := rdb.Get(ctx, "big").Result(); err != nil || len(v) != size {
				t.Fatalf("GET big: %d bytes, %v", len(v), err)
			}
		}
	}
	if err := admin.Del(ctx, "big").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Ping(ctx).Err(); err != nil { // shrinks admin's reader
		t.Fatal(err)
	}
	limit := before + size
	var now uint64
	// idleAfter (2 s) plus up to one sweep of the server's cron (1 s), with room.
	for deadline := time.Now().Add(6 * time.Second); ; {
		now = heapInuse()
		if now <= limit || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if now > limit {
		t.Fatalf("heap in use %d MB with %d idle connections after GETs of %d MB, %d MB before: buffers were kept",
			now>>20, conns, size>>20, before>>20)
	}
	for _, rdb := range clients { // still open and working
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
}
