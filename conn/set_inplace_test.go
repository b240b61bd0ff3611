package conn

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestSetInPlaceNeverChangesWhatReadersHold overwrites keys of 1 KiB and
// 40 KiB values (SET writes a value of the same size class over the old
// bytes) while the old values are held by a script, a transaction's
// replies, a pipeline's replies and other clients' GETs: each reader sees
// the value of its moment, whole.
func TestSetInPlaceNeverChangesWhatReadersHold(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 8})
	defer rdb.Close()
	ctx := context.Background()
	for _, size := range []int{1024, 20000} {
		v := func(c byte) string { return strings.Repeat(string(c), size) }

		// A script keeps GET's result across SETs of the same key.
		rdb.Set(ctx, "s", v('a'), 0)
		got, err := rdb.Eval(ctx, `local a = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[1], ARGV[2])
return {a, redis.call('GET', KEYS[1])}`, []string{"s"}, v('b'), v('c')).StringSlice()
		if err != nil || len(got) != 2 || got[0] != v('a') || got[1] != v('c') {
			t.Fatalf("%d: the script's GET changed under it (%v)", size, err)
		}

		// A pipeline and a transaction read between overwrites.
		pipe := rdb.Pipeline()
		tx := rdb.TxPipeline()
		var gets []*redis.StringCmd
		for _, c := range []byte("defg") {
			pipe.Set(ctx, "p", v(c), 0)
			gets = append(gets, pipe.Get(ctx, "p"))
			tx.Set(ctx, "t", v(c), 0)
			gets = append(gets, tx.Get(ctx, "t"))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		for i, g := range gets {
			if s, _ := g.Result(); s != v("defg"[i/2]) {
				t.Fatalf("%d: GET %d of a pipeline or transaction came back changed", size, i)
			}
		}
	}

	// Writers and readers of the same keys at once: a GET sees one whole
	// value, never a mix of two.
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				rdb.Set(ctx, "shared", strings.Repeat(string(rune('a'+(i+w)%26)), 2000), 0)
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				s, err := rdb.Get(ctx, "shared").Result()
				if err == redis.Nil {
					continue
				}
				if err != nil || len(s) != 2000 || strings.Count(s, s[:1]) != 2000 {
					errs <- "a GET saw a torn or changed value"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
