package conn

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// LOLWUT's random drawings end, whatever their size, and have the shape
// Redis gives them: version 5 one Braille character per two columns of
// pixels, cols characters a line; version 6 rows lines of cols cells.
// (The drawings that are not random are in testdata/transcripts.)
func TestLolwutDrawingsEndAndHaveTheirShape(t *testing.T) {
	_, addr := startServer(t, 2)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v := 5 + i%2
		cols := 1 + r.IntN(120)
		args := []any{"lolwut", "version", v, cols}
		if v == 5 {
			args = append(args, 1+r.IntN(20), 1+r.IntN(20))
		} else {
			args = append(args, 1+r.IntN(40))
		}
		out, err := rdb.Do(ctx, args...).Text()
		cancel()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		trailer := "\nGeorg Nees - schotter"
		if v == 6 {
			trailer = "\nDedicated to the 8 bit game developers"
		}
		art, _, ok := strings.Cut(out, trailer)
		if !ok || !strings.HasSuffix(out, "Redis ver. "+RedisVersion+"\n") {
			t.Fatalf("%v: reply %q", args, out)
		}
		lines := strings.Split(strings.TrimSuffix(art, "\n"), "\n")
		if v == 6 && len(lines) != args[4].(int) {
			t.Fatalf("%v: %d lines", args, len(lines))
		}
		for _, l := range lines {
			n := utf8.RuneCountInString(l)
			if v == 6 {
				n = strings.Count(l, "\x1b[0m")
			}
			if l != "" && n != cols {
				t.Fatalf("%v: line of %d cells, want %d: %q", args, n, cols, l)
			}
		}
	}
	// The largest drawing is cut at a bounded size rather than drawn on
	// hundreds of megabytes.
	out, err := rdb.Do(context.Background(), "lolwut", "version", "5", "1000", "1", "200").Text()
	if err != nil || len(out) > 2<<20 {
		t.Fatalf("largest drawing: %d bytes, %v", len(out), err)
	}
}
