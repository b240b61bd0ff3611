package conn

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestStreamGroupsDumpDifferential moves streams with consumer groups,
// PELs and consumers both ways between Valkyrie and a real redis-server:
// the restored stream's XINFO STREAM FULL (delivery and seen times
// included, as they travel in the payload) must be the original's.
func TestStreamGroupsDumpDifferential(t *testing.T) {
	ctx := context.Background()
	red, val := redisAndValkyrie(t)
	build := func(c *redis.Client, key string) {
		t.Helper()
		cmds := [][]any{
			{"XGROUP", "CREATE", key, "g1", "$", "MKSTREAM"},
			{"XGROUP", "CREATE", key, "g0", "0", "ENTRIESREAD", "0"},
		}
		for i := 1; i <= 120; i++ {
			cmds = append(cmds, []any{"XADD", key, strconv.Itoa(i) + "-1", "f", strconv.Itoa(i)})
		}
		cmds = append(cmds,
			[]any{"XREADGROUP", "GROUP", "g1", "alice", "COUNT", "30", "STREAMS", key, ">"},
			[]any{"XREADGROUP", "GROUP", "g1", "bob", "COUNT", "5", "STREAMS", key, ">"},
			[]any{"XREADGROUP", "GROUP", "g0", "carol", "NOACK", "COUNT", "2", "STREAMS", key, ">"},
			[]any{"XACK", key, "g1", "3-1", "4-1"},
			[]any{"XCLAIM", key, "g1", "bob", "0", "7-1", "8-1", "TIME", "1600000000000", "RETRYCOUNT", "4"},
			[]any{"XGROUP", "CREATECONSUMER", key, "g1", "idle"},
			[]any{"XGROUP", "CREATE", key, "g2", "50-1", "ENTRIESREAD", "-1"},
			[]any{"XDEL", key, "60-1"},
		)
		for _, cmd := range cmds {
			if err := c.Do(ctx, cmd...).Err(); err != nil {
				t.Fatalf("%v: %v", cmd, err)
			}
		}
	}
	full := func(c *redis.Client, key string) string {
		t.Helper()
		v, err := c.Do(ctx, "XINFO", "STREAM", key, "FULL", "COUNT", 0).Result()
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(v)
	}
	build(red, "gs")
	build(val, "gs")
	for _, tc := range []struct {
		name     string
		from, to *redis.Client
	}{{"Redis → Valkyrie", red, val}, {"Valkyrie → Redis", val, red}} {
		p, err := tc.from.Dump(ctx, "gs").Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.to.Restore(ctx, "restored", 0, p).Err(); err != nil {
			t.Fatalf("%s: RESTORE: %v", tc.name, err)
		}
		if got, want := full(tc.to, "restored"), full(tc.from, "gs"); got != want {
			t.Errorf("%s:\n got %.2000s\nwant %.2000s", tc.name, got, want)
		}
		tc.to.Del(ctx, "restored")
	}
	// COPY keeps the groups, independent of the original.
	if err := val.Do(ctx, "COPY", "gs", "gs2").Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := full(val, "gs2"), full(val, "gs"); got != want {
		t.Errorf("COPY:\n got %.500s\nwant %.500s", got, want)
	}
	before := val.XPending(ctx, "gs", "g1").Val().Count
	if n := val.XAck(ctx, "gs2", "g1", "1-1").Val(); n != 1 {
		t.Fatalf("XACK on the copy: %d", n)
	}
	if n := val.XPending(ctx, "gs", "g1").Val().Count; n != before {
		t.Errorf("XACK on the copy changed the original: %d pending", n)
	}
}

// TestXReadBlockAcrossShards: XREAD BLOCK on streams of different shards
// wakes on XADD to any of them, "$" means after the last ID when it
// blocked, and XREADGROUP BLOCK is unblocked with Redis's errors.
func TestXReadBlockAcrossShards(t *testing.T) {
	const shards = 8
	_, addr := startServer(t, shards)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	k := keysOnDifferentShards(t, "xb", 3, shards)
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: k[0], ID: "1-1", Values: []string{"a", "1"}})

	type result struct {
		v   []redis.XStream
		err error
	}
	blocked := func(c *redis.Client, fn func() ([]redis.XStream, error)) chan result {
		ch := make(chan result, 1)
		go func() {
			v, err := fn()
			ch <- result{v, err}
		}()
		waitBlocked(t, rdb, 1)
		return ch
	}
	c1 := newClient2(t, addr, 2)
	ch := blocked(c1, func() ([]redis.XStream, error) {
		return c1.XRead(ctx, &redis.XReadArgs{Streams: []string{k[0], k[1], k[2], "$", "$", "$"}, Block: 0}).Result()
	})
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: k[2], ID: "5-5", Values: []string{"b", "2"}})
	r := <-ch
	want := []redis.XStream{{Stream: k[2], Messages: []redis.XMessage{{ID: "5-5", Values: map[string]any{"b": "2"}}}}}
	if r.err != nil || !reflect.DeepEqual(r.v, want) {
		t.Fatalf("XREAD BLOCK: %v %v, want %v", r.v, r.err, want)
	}

	// Woken by an entry deleted before it could be served: Redis replies
	// the key with no entries (the last generated ID passed the waiter's).
	ch = blocked(c1, func() ([]redis.XStream, error) {
		return c1.XRead(ctx, &redis.XReadArgs{Streams: []string{k[0], "$"}, Block: 0}).Result()
	})
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: k[0], ID: "9-9", Values: []string{"c", "3"}})
		p.XDel(ctx, k[0], "9-9")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		if r.err != nil || len(r.v) != 1 || r.v[0].Stream != k[0] || len(r.v[0].Messages) != 0 {
			t.Fatalf("XREAD woken for a deleted entry: %v %v", r.v, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("XREAD woken for a deleted entry got no reply")
	}

	// Timeout.
	start := time.Now()
	if err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{k[1], "$"}, Block: 50 * time.Millisecond}).Err(); err != redis.Nil {
		t.Fatalf("XREAD BLOCK timeout: %v", err)
	}
	if time.Since(start) < 40*time.Millisecond {
		t.Fatal("XREAD BLOCK returned before its timeout")
	}

	// XREADGROUP BLOCK: served by XADD, then unblocked by XGROUP DESTROY
	// and by DEL.
	rdb.XGroupCreateMkStream(ctx, k[1], "g", "$")
	ch = blocked(c1, func() ([]redis.XStream, error) {
		return c1.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{k[1], ">"}, Block: 0}).Result()
	})
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: k[1], ID: "7-0", Values: []string{"x", "y"}})
	if r := <-ch; r.err != nil || len(r.v) != 1 || r.v[0].Messages[0].ID != "7-0" {
		t.Fatalf("XREADGROUP BLOCK: %v %v", r.v, r.err)
	}
	if p := rdb.XPending(ctx, k[1], "g").Val(); p.Count != 1 || p.Consumers["c"] != 1 {
		t.Fatalf("XPENDING after a blocked read: %+v", p)
	}
	ch = blocked(c1, func() ([]redis.XStream, error) {
		return c1.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{k[1], ">"}, Block: 0}).Result()
	})
	rdb.XGroupDestroy(ctx, k[1], "g")
	if r := <-ch; r.err == nil || r.err.Error() != "NOGROUP the consumer group this client was blocked on no longer exists" {
		t.Fatalf("XGROUP DESTROY: %v", r.err)
	}
	rdb.XGroupCreate(ctx, k[1], "g", "$")
	ch = blocked(c1, func() ([]redis.XStream, error) {
		return c1.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{k[1], ">"}, Block: 0}).Result()
	})
	rdb.Del(ctx, k[1])
	if r := <-ch; r.err == nil || r.err.Error() != "UNBLOCKED the stream key no longer exists" {
		t.Fatalf("DEL: %v", r.err)
	}

	// CLIENT UNBLOCK.
	id := c1.ClientID(ctx).Val()
	ch = blocked(c1, func() ([]redis.XStream, error) {
		return c1.XRead(ctx, &redis.XReadArgs{Streams: []string{k[0], "$"}, Block: 0}).Result()
	})
	if n := rdb.ClientUnblock(ctx, id).Val(); n != 1 {
		t.Fatalf("CLIENT UNBLOCK: %d", n)
	}
	if r := <-ch; r.err != redis.Nil {
		t.Fatalf("CLIENT UNBLOCK: %v", r.err)
	}
}

// TestStreamJobQueue runs a job queue on 8 shards: producers XADD jobs to
// streams on different shards, a group of consumers blocks on XREADGROUP
// and XACKs; one consumer stops acking halfway, and XAUTOCLAIM hands its
// jobs to the others. Every job is processed exactly once, or claimed
// after its first consumer died.
func TestStreamJobQueue(t *testing.T) {
	const (
		shards    = 8
		producers = 3
		jobs      = 200 // per producer
		consumers = 4
	)
	_, addr := startServer(t, shards)
	admin := newClient2(t, addr, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	keys := keysOnDifferentShards(t, "jobs", producers, shards)
	for _, k := range keys {
		if err := admin.XGroupCreateMkStream(ctx, k, "workers", "$").Err(); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	done := map[string]int{}  // "key/job" -> times processed
	dead := map[string]bool{} // jobs the dying consumer read and dropped
	total := producers * jobs

	record := func(key string, m redis.XMessage) {
		mu.Lock()
		done[key+"/"+m.Values["job"].(string)]++
		mu.Unlock()
	}
	finished := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(done) == total
	}

	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			c := newClient2(t, addr, 2)
			for j := 0; j < jobs; j++ {
				if err := c.XAdd(ctx, &redis.XAddArgs{Stream: keys[p], Values: []string{"job", strconv.Itoa(j)}}).Err(); err != nil {
					t.Error(err)
					return
				}
			}
		}(p)
	}
	streams := append(append([]string{}, keys...), ">", ">", ">")
	for ci := 0; ci < consumers; ci++ {
		wg.Add(1)
		go func(ci int) {
			defer wg.Done()
			c := newClient2(t, addr, 2+ci%2)
			name := "c" + strconv.Itoa(ci)
			dying := ci == 0
			for n := 0; !finished() && ctx.Err() == nil; n++ {
				res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "workers", Consumer: name,
					Streams: streams, Count: 5, Block: 20 * time.Millisecond}).Result()
				if errors.Is(err, redis.Nil) {
					if dying && n > 40 {
						return
					}
					// Claim what a dead consumer left behind.
					for _, k := range keys {
						msgs, _, err := c.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: k, Group: "workers",
							Consumer: name, MinIdle: 300 * time.Millisecond, Start: "0", Count: 50}).Result()
						if err != nil {
							t.Error(err)
							return
						}
						for _, m := range msgs {
							record(k, m)
							c.XAck(ctx, k, "workers", m.ID)
						}
					}
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				for _, s := range res {
					for _, m := range s.Messages {
						if dying && n > 3 {
							mu.Lock()
							dead[s.Stream+"/"+m.Values["job"].(string)] = true
							mu.Unlock()
							continue // dies without acking
						}
						record(s.Stream, m)
						if err := c.XAck(ctx, s.Stream, "workers", m.ID).Err(); err != nil {
							t.Error(err)
						}
					}
				}
				if dying && n > 3 {
					return // the consumer dies
				}
			}
		}(ci)
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("timed out: %d of %d jobs done", len(done), total)
	}
	if len(done) != total {
		t.Fatalf("%d of %d jobs done", len(done), total)
	}
	for job, n := range done {
		if n != 1 {
			t.Errorf("job %s processed %d times", job, n)
		}
	}
	for _, k := range keys {
		if p := admin.XPending(ctx, k, "workers").Val(); p.Count != 0 {
			t.Errorf("%s: %d still pending", k, p.Count)
		}
	}
	t.Logf("%d jobs, %d claimed from the dead consumer", total, len(dead))
}

// TestStreamGroupsWatchAndEvents: the xgroup-* events come as Redis sends
// them (XGROUP is a container: its subcommands' write flag counts), and
// group bookkeeping does not touch a watched key, as in Redis 7.0.
func TestStreamGroupsWatchAndEvents(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	if err := rdb.ConfigSet(ctx, "notify-keyspace-events", "KEA").Err(); err != nil {
		t.Fatal(err)
	}
	sub := rdb.PSubscribe(ctx, "__keyevent@0__:*")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]any{
		{"XGROUP", "CREATE", "w", "g", "$", "MKSTREAM"},
		{"XGROUP", "CREATECONSUMER", "w", "g", "c1"},
		{"XGROUP", "CREATECONSUMER", "w", "g", "c1"},
		{"XADD", "w", "1-1", "a", "b"},
		{"XREADGROUP", "GROUP", "g", "c2", "STREAMS", "w", ">"},
		{"XCLAIM", "w", "g", "c3", "0", "1-1"},
		{"XGROUP", "SETID", "w", "g", "0"},
		{"XGROUP", "DELCONSUMER", "w", "g", "c9"},
		{"XGROUP", "DELCONSUMER", "w", "g", "c1"},
		{"XGROUP", "DESTROY", "w", "g"},
		{"XGROUP", "DESTROY", "w", "g"},
		{"XSETID", "w", "5-5"},
	} {
		if err := rdb.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	var got []string
	for _, want := range []string{"xgroup-create", "xgroup-createconsumer", "xadd", "xgroup-createconsumer",
		"xgroup-createconsumer", "xgroup-setid", "xgroup-delconsumer", "xgroup-destroy", "xsetid"} {
		msg, err := sub.ReceiveTimeout(ctx, 2*time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, msg.(*redis.Message).Channel[len("__keyevent@0__:"):])
		if got[len(got)-1] != want {
			t.Fatalf("events %v, want %s next", got, want)
		}
	}

	rdb.XGroupCreate(ctx, "w", "g", "0")
	watch := func(cmd ...any) bool {
		err := rdb.Watch(ctx, func(tx *redis.Tx) error {
			if err := rdb.Do(ctx, cmd...).Err(); err != nil {
				t.Fatal(err)
			}
			_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.Ping(ctx).Err() })
			return err
		}, "w")
		return err == redis.TxFailedErr
	}
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: "w", ID: "6-0", Values: []string{"a", "b"}})
	for _, cmd := range [][]any{
		{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "w", ">"},
		{"XCLAIM", "w", "g", "d", "0", "6-0"},
		{"XAUTOCLAIM", "w", "g", "e", "0", "0"},
		{"XACK", "w", "g", "6-0"},
		{"XGROUP", "SETID", "w", "g", "0"},
		{"XGROUP", "CREATECONSUMER", "w", "g", "f"},
	} {
		if watch(cmd...) {
			t.Errorf("%v touched the watched key", cmd)
		}
	}
	rdb.Del(ctx, "w")
	if !watch("XGROUP", "CREATE", "w", "g", "$", "MKSTREAM") {
		t.Error("XGROUP CREATE MKSTREAM that created the key did not touch it")
	}
}

// Waking a blocked XREADGROUP does not touch its key for WATCH: Redis
// signals none of XGROUP DESTROY, the error it unblocks the reader with,
// or the group bookkeeping of serving it.
func TestStreamBlockedReadLeavesWatch(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	rdb.XGroupCreateMkStream(ctx, "w", "g", "$")
	reader := newClient2(t, addr, 2)
	done := make(chan error, 1)
	go func() {
		done <- reader.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{"w", ">"}, Block: 0}).Err()
	}()
	waitBlocked(t, rdb, 1)
	watcher := newClient2(t, addr, 2)
	err := watcher.Watch(ctx, func(tx *redis.Tx) error {
		if err := rdb.XGroupDestroy(ctx, "w", "g").Err(); err != nil {
			return err
		}
		if err := <-done; err == nil || !strings.HasPrefix(err.Error(), "NOGROUP") {
			t.Errorf("the blocked reader got %v", err)
		}
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.Ping(ctx).Err() })
		return err
	}, "w")
	if err != nil {
		t.Fatalf("EXEC after a blocked reader was unblocked: %v", err)
	}
}
