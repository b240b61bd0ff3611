package conn

import (
	"context"
	"io"
	"math/rand"
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

// The same with three shards whose big and small replies interleave in a
// shuffled pipeline (fixed seed), with CLIENT REPLY SKIP and a one-shard
// transaction among them: every reply must be the right one, in order.
func TestOutCapShuffledShardsKeepReplies(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	type step struct{ cmd, want string }
	var steps []step
	vals := map[string]string{}
	for id := 1; id <= 3; id++ {
		for i, k := range keysOn("s"+strconv.Itoa(id)+"_", id, 8, 6) {
			v := strings.Repeat(string(rune('a'+i+id*6)), 900<<10) + k
			vals[k] = v
			if err := rdb.Set(ctx, k, v, 0).Err(); err != nil {
				t.Fatal(err)
			}
			for j := 0; j < 2; j++ {
				steps = append(steps, step{resp("GET", k), v})
			}
			steps = append(steps, step{resp("STRLEN", k), strconv.Itoa(len(v))})
		}
	}
	r := rand.New(rand.NewSource(7))
	r.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
	var sb strings.Builder
	var want []string
	for i, s := range steps {
		sb.WriteString(s.cmd)
		want = append(want, s.want)
		if i%11 == 5 {
			// CLIENT REPLY SKIP mutes the command after it.
			sb.WriteString(resp("CLIENT", "REPLY", "SKIP") + s.cmd)
		}
		if i == 20 {
			k := keysOn("s2_", 2, 8, 1)[0]
			sb.WriteString(resp("MULTI") + resp("GET", k) + resp("STRLEN", k) + resp("EXEC"))
			want = append(want, "OK", "QUEUED", "QUEUED", "["+vals[k]+" "+strconv.Itoa(len(vals[k]))+"]")
		}
	}
	nc, br := dialBuffered(t, addr)
	if _, err := io.WriteString(nc, sb.String()); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i, w := range want {
		v, err := readVal(br)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if got := v.String(); got != w {
			t.Fatalf("reply %d: %d bytes starting %.20q, want %d bytes starting %.20q", i, len(got), got, len(w), w)
		}
	}
}
