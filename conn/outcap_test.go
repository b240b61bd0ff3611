package conn

import (
	"bufio"
	"context"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A client that pipelines many large reads and does not read its replies
// is served as Redis serves it: its replies queue up in its output buffer
// (outqueue.go), which client-output-buffer-limit normal bounds. With a
// 32 MiB hard limit, 200 GETs of a 1 MiB value do not keep 200 MiB: the
// client is closed. A shard run still holds at most Batch.OutCap of
// replies at a time. Without a limit, the replies all come, in order,
// once the client reads.
func TestPipelinedLargeRepliesAreBounded(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	big := strings.Repeat("v", 1<<20)
	if err := rdb.Set(ctx, "big", big, 0).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.ConfigSet(ctx, "client-output-buffer-limit", "normal 32mb 0 0")
	limited, _ := dialBuffered(t, addr)
	if _, err := io.WriteString(limited, strings.Repeat(resp("GET", "big"), 200)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the server runs what it can
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > 80<<20 {
		t.Fatalf("heap %d MiB while the client does not read: the replies are not bounded", ms.HeapAlloc>>20)
	}
	if n := infoLine(t, rdb, "stats", "client_output_buffer_limit_disconnections"); n != "1" {
		t.Fatalf("client_output_buffer_limit_disconnections = %s", n)
	}
	limited.Close()
	rdb.ConfigSet(ctx, "client-output-buffer-limit", "normal 0 0 0")
	nc, br := dialBuffered(t, addr)
	const n = 200
	if _, err := io.WriteString(nc, strings.Repeat(resp("GET", "big"), n)); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := 0; i < n; i++ {
		line, err := br.ReadString('\n')
		if err != nil || line != "$"+strconv.Itoa(len(big))+"\r\n" {
			t.Fatalf("reply %d: %q, %v", i, line, err)
		}
		if _, err := br.Discard(len(big) + 2); err != nil {
			t.Fatal(err)
		}
	}
}

// Replies stay in order when shards stop early: a pipeline over several
// shards mixing large and small replies, connection commands and a
// transaction, compared with the same commands sent one by one.
func TestOutCapKeepsReplyOrder(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	val := strings.Repeat("x", 700<<10)
	var script []string
	for i := 0; i < 12; i++ {
		k := "k" + strconv.Itoa(i)
		if err := rdb.Set(ctx, k, val+strconv.Itoa(i), 0).Err(); err != nil {
			t.Fatal(err)
		}
		script = append(script, resp("GET", k), resp("INCR", "n"+strconv.Itoa(i%3)), resp("PING"))
		if i == 5 {
			script = append(script, resp("MULTI"), resp("GET", "k1"), resp("GET", "k2"), resp("INCR", "n0"), resp("EXEC"))
		}
	}
	read := func(br *bufio.Reader) string {
		v, err := readVal(br)
		if err != nil {
			t.Fatal(err)
		}
		return v.String()
	}
	one, br1 := dialBuffered(t, addr)
	var want []string
	for _, cmd := range script {
		io.WriteString(one, cmd)
		want = append(want, read(br1))
	}
	rdb.Del(ctx, "n0", "n1", "n2")
	all, br2 := dialBuffered(t, addr)
	io.WriteString(all, strings.Join(script, ""))
	for i := range want {
		if got := read(br2); got != want[i] {
			t.Fatalf("reply %d differs: %.60q, want %.60q", i, got, want[i])
		}
	}
}
