package conn

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

func TestBLPopTimesOut(t *testing.T) {
	_, addr := startServer(t, 8)
	for _, proto := range []int{2, 3} {
		rdb := newClient2(t, addr, proto)
		ctx := context.Background()
		start := time.Now()
		_, err := rdb.BLPop(ctx, 100*time.Millisecond, "empty1", "empty2").Result()
		if err != redis.Nil {
			t.Fatalf("RESP%d: BLPOP on empty lists: err = %v, want redis.Nil", proto, err)
		}
		if time.Since(start) < 90*time.Millisecond {
			t.Fatalf("RESP%d: BLPOP returned before its timeout", proto)
		}
	}
}

func TestBLPopWakesAcrossShards(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	keys := keysOnDifferentShards(t, "bl", 3, 8)
	blocked := newClient2(t, addr, 3)
	pusher := newClient2(t, addr, 2)

	got := make(chan []string, 1)
	go func() {
		v, err := blocked.BLPop(ctx, 5*time.Second, keys...).Result()
		if err != nil {
			v = []string{"error", err.Error()}
		}
		got <- v
	}()
	waitBlocked(t, pusher, 1)
	if err := pusher.RPush(ctx, keys[2], "x", "y").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if !slices.Equal(v, []string{keys[2], "x"}) {
			t.Fatalf("BLPOP = %q, want [%s x]", v, keys[2])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("BLPOP was not woken by a push to its third key")
	}
	if n := pusher.LLen(ctx, keys[2]).Val(); n != 1 {
		t.Fatalf("LLEN after one pop = %d, want 1", n)
	}
}

// waitBlocked waits until INFO reports n blocked clients.
func waitBlocked(t testing.TB, rdb *redis.Client, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	want := "blocked_clients:" + strconv.Itoa(n) + "\r"
	for time.Now().Before(deadline) {
		info, err := rdb.Info(context.Background(), "clients").Result()
		if err == nil && containsLine(info, want) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never saw %q in INFO clients", want)
}

func containsLine(s, line string) bool {
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		if s[:i] == line || s[:i]+"\r" == line {
			return true
		}
		if i == len(s) {
			break
		}
		s = s[i+1:]
	}
	return false
}

// TestBlockedPopsConsumeEachElementOnce blocks many clients on keys spread
// over shards, pushes fewer elements than there are clients, and checks
// that every element reached exactly one client and the rest timed out.
func TestBlockedPopsConsumeEachElementOnce(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	keys := keysOnDifferentShards(t, "once", 4, 8)
	const clients, elements = 20, 12

	var mu sync.Mutex
	var received []string
	timeouts := 0
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		rdb := newClient2(t, addr, 2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := rdb.BLPop(ctx, 2*time.Second, keys...).Result()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == redis.Nil:
				timeouts++
			case err != nil:
				received = append(received, "error:"+err.Error())
			default:
				received = append(received, v[1])
			}
		}()
	}
	pusher := newClient2(t, addr, 2)
	waitBlocked(t, pusher, clients)
	for i := 0; i < elements; i++ {
		pusher.RPush(ctx, keys[i%len(keys)], "e"+strconv.Itoa(i))
	}
	wg.Wait()
	slices.Sort(received)
	var want []string
	for i := 0; i < elements; i++ {
		want = append(want, "e"+strconv.Itoa(i))
	}
	slices.Sort(want)
	if !slices.Equal(received, want) {
		t.Fatalf("elements received = %q\nwant each of %q exactly once", received, want)
	}
	if timeouts != clients-elements {
		t.Fatalf("%d clients timed out, want %d", timeouts, clients-elements)
	}
	for _, k := range keys {
		if n := pusher.LLen(ctx, k).Val(); n != 0 {
			t.Fatalf("%s still holds %d elements", k, n)
		}
	}
}

func TestDisconnectedWaiterTakesNothing(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.Write([]byte("*3\r\n$5\r\nBLPOP\r\n$4\r\ngone\r\n$1\r\n0\r\n"))
	rdb := newClient2(t, addr, 2)
	waitBlocked(t, rdb, 1)
	nc.Close()
	waitBlocked(t, rdb, 0)
	rdb.RPush(ctx, "gone", "kept")
	if v := rdb.LRange(ctx, "gone", 0, -1).Val(); !slices.Equal(v, []string{"kept"}) {
		t.Fatalf("list after a disconnected waiter = %q, want [kept]", v)
	}
}

func TestBLMoveAcrossShards(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	keys := keysOnDifferentShards(t, "mv", 2, 8)
	src, dst := keys[0], keys[1]
	blocked := newClient2(t, addr, 2)
	pusher := newClient2(t, addr, 2)
	got := make(chan string, 1)
	go func() {
		v, err := blocked.BLMove(ctx, src, dst, "LEFT", "RIGHT", 5*time.Second).Result()
		if err != nil {
			v = "error: " + err.Error()
		}
		got <- v
	}()
	waitBlocked(t, pusher, 1)
	pusher.RPush(ctx, src, "moved")
	if v := <-got; v != "moved" {
		t.Fatalf("BLMOVE = %q, want moved", v)
	}
	if v := pusher.LRange(ctx, dst, 0, -1).Val(); !slices.Equal(v, []string{"moved"}) {
		t.Fatalf("destination = %q, want [moved]", v)
	}
	if n := pusher.Exists(ctx, src).Val(); n != 0 {
		t.Fatalf("source still exists after its only element moved")
	}
}

func TestBlockingErrors(t *testing.T) {
	_, addr := startServer(t, 4)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	cases := []struct {
		args []any
		want string
	}{
		{[]any{"blpop", "k", "abc"}, "ERR timeout is not a float or out of range"},
		{[]any{"blpop", "k", "-1"}, "ERR timeout is negative"},
		{[]any{"blmove", "a", "b", "up", "left", "0"}, "ERR syntax error"},
	}
	for _, tc := range cases {
		err := rdb.Do(ctx, tc.args...).Err()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
	rdb.Set(ctx, "str", "v", 0)
	if err := rdb.Do(ctx, "blpop", "str", "0").Err(); err == nil || err.Error() != shard.ErrWrongType {
		t.Errorf("BLPOP on a string: %v", err)
	}
}

func TestClientUnblock(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	for _, mode := range []string{"TIMEOUT", "ERROR"} {
		blocked := newClient2(t, addr, 2)
		id := blocked.ClientID(ctx).Val()
		errc := make(chan error, 1)
		go func() { errc <- blocked.BLPop(ctx, 0, "never").Err() }()
		waitBlocked(t, admin, 1)
		list := admin.ClientList(ctx).Val()
		if !containsField(list, "id="+strconv.FormatInt(id, 10), "flags=b") {
			t.Fatalf("CLIENT LIST does not flag the blocked client:\n%s", list)
		}
		var n int64
		if mode == "ERROR" {
			n = admin.ClientUnblockWithError(ctx, id).Val()
		} else {
			n = admin.ClientUnblock(ctx, id).Val()
		}
		if n != 1 {
			t.Fatalf("CLIENT UNBLOCK %s = %d, want 1", mode, n)
		}
		err := <-errc
		if mode == "ERROR" && (err == nil || err.Error() != "UNBLOCKED client unblocked via CLIENT UNBLOCK") {
			t.Fatalf("unblocked with ERROR: err = %v", err)
		}
		if mode == "TIMEOUT" && err != redis.Nil {
			t.Fatalf("unblocked with TIMEOUT: err = %v, want redis.Nil", err)
		}
		waitBlocked(t, admin, 0)
	}
	if n := admin.Do(ctx, "CLIENT", "UNBLOCK", "999999").Val(); n != int64(0) {
		t.Fatalf("CLIENT UNBLOCK of an unknown id = %v, want 0", n)
	}
	if err := admin.Do(ctx, "CLIENT", "UNBLOCK", "1", "LATER").Err(); err == nil || err.Error() != "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR" {
		t.Fatalf("bad reason: %v", err)
	}
}

// containsField reports whether one line of a CLIENT LIST reply holds all
// the given fields.
func containsField(list string, fields ...string) bool {
	for _, line := range strings.Split(list, "\n") {
		all := true
		for _, f := range fields {
			if !slices.Contains(strings.Fields(line), f) {
				all = false
			}
		}
		if all && line != "" {
			return true
		}
	}
	return false
}

func TestBZPopAndBZMPop(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	keys := keysOnDifferentShards(t, "z", 2, 8)
	for _, proto := range []int{2, 3} {
		blocked := newClient2(t, addr, proto)
		pusher := newClient2(t, addr, 2)
		got := make(chan *redis.ZWithKey, 1)
		go func() {
			v, err := blocked.BZPopMin(ctx, 5*time.Second, keys...).Result()
			if err != nil {
				v = &redis.ZWithKey{Key: "error: " + err.Error()}
			}
			got <- v
		}()
		waitBlocked(t, pusher, 1)
		pusher.ZAdd(ctx, keys[1], redis.Z{Score: 2, Member: "b"}, redis.Z{Score: 1.5, Member: "a"})
		v := <-got
		if v.Key != keys[1] || v.Member != "a" || v.Score != 1.5 {
			t.Fatalf("RESP%d: BZPOPMIN = %+v, want %s a 1.5", proto, v, keys[1])
		}
		k, zs, err := blocked.BZMPop(ctx, time.Second, "max", 5, keys...).Result()
		if err != nil || k != keys[1] || len(zs) != 1 || zs[0].Member != "b" {
			t.Fatalf("RESP%d: BZMPOP = %s %v %v", proto, k, zs, err)
		}
		if n := pusher.Exists(ctx, keys...).Val(); n != 0 {
			t.Fatalf("RESP%d: emptied sorted sets still exist", proto)
		}
	}
}

// TestProducersAndBlockedConsumers runs producers pushing unique elements
// to lists on different shards while consumers block on all of them, and
// checks that every element is consumed exactly once.
func TestProducersAndBlockedConsumers(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	keys := keysOnDifferentShards(t, "pc", 4, 8)
	const producers, perProducer, consumers = 4, 250, 6
	total := producers * perProducer

	var mu sync.Mutex
	seen := map[string]int{}
	deadline := time.Now().Add(30 * time.Second) // a lost element must fail, not hang
	var consumed sync.WaitGroup
	for i := 0; i < consumers; i++ {
		rdb := newClient2(t, addr, 2+i%2)
		consumed.Add(1)
		go func() {
			defer consumed.Done()
			for {
				mu.Lock()
				done := len(seen) >= total
				mu.Unlock()
				if done || time.Now().After(deadline) {
					return
				}
				v, err := rdb.BLPop(ctx, 200*time.Millisecond, keys...).Result()
				if err == redis.Nil {
					continue
				}
				if err != nil {
					t.Errorf("BLPOP: %v", err)
					return
				}
				mu.Lock()
				seen[v[1]]++
				mu.Unlock()
			}
		}()
	}
	var produced sync.WaitGroup
	for p := 0; p < producers; p++ {
		rdb := newClient2(t, addr, 2)
		produced.Add(1)
		go func() {
			defer produced.Done()
			for i := 0; i < perProducer; i++ {
				elem := "p" + strconv.Itoa(p) + ":" + strconv.Itoa(i)
				key := keys[(p+i)%len(keys)]
				var err error
				if i%2 == 0 {
					err = rdb.RPush(ctx, key, elem).Err()
				} else {
					err = rdb.LPush(ctx, key, elem).Err()
				}
				if err != nil {
					t.Errorf("push: %v", err)
					return
				}
			}
		}()
	}
	produced.Wait()
	consumed.Wait()
	if len(seen) != total {
		t.Fatalf("consumed %d distinct elements, want %d", len(seen), total)
	}
	for elem, n := range seen {
		if n != 1 {
			t.Fatalf("element %s consumed %d times", elem, n)
		}
	}
	check := newClient2(t, addr, 2)
	if n := check.Exists(ctx, keys...).Val(); n != 0 {
		t.Fatalf("%d lists still hold elements after every element was consumed", n)
	}
}
