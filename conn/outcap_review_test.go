package conn

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// keysOn returns n key names that shard id of shards owns, prefixed p.
func keysOn(p string, id, shards, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		k := p + strconv.Itoa(i)
		if shard.Owner([]byte(k), shards) == id {
			out = append(out, k)
		}
	}
	return out
}

// Two shards both stop their run at OutCap, and the second one's replies
// that came back lie after the point where the first one's run stopped:
// resuming every unfinished batch then dropped those replies before they
// were copied out, and the connection sent stale bytes (or panicked on a
// reply end below its start). Each stopped batch must resume only once its
// own replies so far have been taken.
func TestOutCapTwoShardsStopKeepsReplies(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	a := keysOn("a", 1, 8, 6)
	b := keysOn("b", 2, 8, 6)
	vals := map[string]string{}
	for i, k := range append(append([]string(nil), a...), b...) {
		v := strings.Repeat(string(rune('A'+i)), 1<<20) + k
		vals[k] = v
		if err := rdb.Set(ctx, k, v, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Shard 1 stops after a[3], shard 2 after b[3]; a[4] is reached
	// (and shard 1 resumed) before any of b's replies are taken.
	var order []string
	order = append(order, a[:6]...)
	order = append(order, b[:6]...)
	var sb strings.Builder
	for _, k := range order {
		sb.WriteString(resp("GET", k))
	}
	nc, br := dialBuffered(t, addr)
	if _, err := io.WriteString(nc, sb.String()); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i, k := range order {
		v, err := readVal(br)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if got := v.String(); got != vals[k] {
			t.Fatalf("reply %d (GET %s): %d bytes starting %.20q, want %d bytes of %q", i, k, len(got), got, len(vals[k]), vals[k][:1])
		}
	}
}
