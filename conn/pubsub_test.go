package conn

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestPubSubGoRedis(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, 8)
			ctx := context.Background()
			pub := newClient2(t, addr, proto)
			sc := newClient2(t, addr, proto)
			ps := sc.Subscribe(ctx, "news", "sport")
			defer ps.Close()
			if _, err := ps.Receive(ctx); err != nil { // first confirmation
				t.Fatal(err)
			}
			if _, err := ps.Receive(ctx); err != nil {
				t.Fatal(err)
			}
			if err := ps.PSubscribe(ctx, "n*"); err != nil {
				t.Fatal(err)
			}
			if m, err := ps.Receive(ctx); err != nil || m.(*redis.Subscription).Count != 3 {
				t.Fatalf("psubscribe: %v %v", m, err)
			}
			if n, err := pub.Publish(ctx, "news", "hello").Result(); err != nil || n != 2 {
				t.Fatalf("PUBLISH = %d, %v", n, err)
			}
			got := map[string]bool{}
			for i := 0; i < 2; i++ {
				m, err := ps.ReceiveMessage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got[m.Pattern+"|"+m.Channel+"|"+m.Payload] = true
			}
			if !got["|news|hello"] || !got["n*|news|hello"] {
				t.Fatalf("messages = %v", got)
			}
			if res, err := pub.PubSubNumSub(ctx, "news", "none").Result(); err != nil || res["news"] != 1 || res["none"] != 0 {
				t.Fatalf("NUMSUB = %v, %v", res, err)
			}
			if n, err := pub.PubSubNumPat(ctx).Result(); err != nil || n != 1 {
				t.Fatalf("NUMPAT = %d, %v", n, err)
			}
			if ch, err := pub.PubSubChannels(ctx, "s*").Result(); err != nil || len(ch) != 1 || ch[0] != "sport" {
				t.Fatalf("CHANNELS = %v, %v", ch, err)
			}
			list, _ := pub.ClientList(ctx).Result()
			if !strings.Contains(list, "flags=P") || !strings.Contains(list, "sub=2 psub=1 ssub=0") {
				t.Fatalf("CLIENT LIST:\n%s", list)
			}
		})
	}
}

func psRaw(t *testing.T, addr string) (net.Conn, func(string) string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	buf := make([]byte, 4096)
	return nc, func(req string) string {
		if req != "" {
			if _, err := nc.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
		}
		nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
}

func TestPubSubRESP2Mode(t *testing.T) {
	_, addr := startServer(t, 8)
	_, do := psRaw(t, addr)
	if got := do("SUBSCRIBE a\r\n"); got != "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n" {
		t.Fatalf("SUBSCRIBE = %q", got)
	}
	if got := do("GET k\r\n"); got != "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n" {
		t.Fatalf("GET = %q", got)
	}
	if got := do("PING\r\n"); got != "*2\r\n$4\r\npong\r\n$0\r\n\r\n" {
		t.Fatalf("PING = %q", got)
	}
	if got := do("RESET\r\n"); got != "+RESET\r\n" {
		t.Fatalf("RESET = %q", got)
	}
	if got := do("GET k\r\n"); got != "$-1\r\n" {
		t.Fatalf("GET after RESET = %q", got)
	}
}

func TestPubSubSlowSubscriber(t *testing.T) {
	srv, addr := startServer(t, 8)
	ctx := context.Background()
	pub := newClient2(t, addr, 2)
	if err := pub.ConfigSet(ctx, "client-output-buffer-limit", "pubsub 1mb 0 0").Err(); err != nil {
		t.Fatal(err)
	}
	nc, do := psRaw(t, addr)
	if got := do("SUBSCRIBE slow\r\n"); !strings.HasPrefix(got, "*3") {
		t.Fatalf("SUBSCRIBE = %q", got)
	}
	_ = nc // never read again
	msg := strings.Repeat("x", 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		start := time.Now()
		n, err := pub.Publish(ctx, "slow", msg).Result()
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("PUBLISH took %v", d)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slow subscriber never disconnected")
		}
	}
	if srv.stats.obufDisconnects.Load() != 1 {
		t.Fatalf("disconnections = %d", srv.stats.obufDisconnects.Load())
	}
	info, _ := pub.Info(ctx, "stats").Result()
	if !strings.Contains(info, "client_output_buffer_limit_disconnections:1") {
		t.Fatalf("INFO stats:\n%s", info)
	}
}

func TestKeyspaceNotifications(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	if err := rdb.ConfigSet(ctx, "notify-keyspace-events", "KEA").Err(); err != nil {
		t.Fatal(err)
	}
	sc := newClient2(t, addr, 3)
	ps := sc.PSubscribe(ctx, "__key*__:*")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	next := func() string {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		m, err := ps.ReceiveMessage(c)
		if err != nil {
			t.Fatal(err)
		}
		return m.Channel + " " + m.Payload
	}
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			if got := next(); got != w {
				t.Fatalf("got %q, want %q", got, w)
			}
		}
	}
	keys := keysOnDifferentShards(t, "k", 3, 8)
	for _, k := range keys {
		rdb.Set(ctx, k, "v", 0)
		expect("__keyspace@0__:"+k+" set", "__keyevent@0__:set "+k)
	}
	rdb.Del(ctx, keys[0])
	expect("__keyspace@0__:"+keys[0]+" del", "__keyevent@0__:del "+keys[0])
	rdb.Expire(ctx, keys[1], time.Hour)
	expect("__keyspace@0__:"+keys[1]+" expire", "__keyevent@0__:expire "+keys[1])
	// Active expiry.
	rdb.PExpire(ctx, keys[2], 10*time.Millisecond)
	expect("__keyspace@0__:"+keys[2]+" expire", "__keyevent@0__:expire "+keys[2])
	expect("__keyspace@0__:"+keys[2]+" expired", "__keyevent@0__:expired "+keys[2])
	// Lazy expiry: the GET finds it due before the tick does.
	rdb.ConfigSet(ctx, "hz", "1")
	rdb.Set(ctx, "lazy", "v", 0)
	expect("__keyspace@0__:lazy set", "__keyevent@0__:set lazy")
	rdb.PExpire(ctx, "lazy", 10*time.Millisecond)
	expect("__keyspace@0__:lazy expire", "__keyevent@0__:expire lazy")
	time.Sleep(20 * time.Millisecond)
	rdb.Get(ctx, "lazy")
	expect("__keyspace@0__:lazy expired", "__keyevent@0__:expired lazy")
	// Across shards: RENAME.
	rdb.Set(ctx, keys[0], "v", 0)
	expect("__keyspace@0__:"+keys[0]+" set", "__keyevent@0__:set "+keys[0])
	rdb.Rename(ctx, keys[0], keys[2])
	expect("__keyspace@0__:"+keys[0]+" rename_from", "__keyevent@0__:rename_from "+keys[0],
		"__keyspace@0__:"+keys[2]+" rename_to", "__keyevent@0__:rename_to "+keys[2])
}

// TestPubSubSoftLimit: a subscriber that stays above the pubsub soft limit
// for longer than soft-seconds is disconnected (the hard limit is off).
func TestPubSubSoftLimit(t *testing.T) {
	srv, addr := startServer(t, 8)
	ctx := context.Background()
	pub := newClient2(t, addr, 2)
	if err := pub.ConfigSet(ctx, "client-output-buffer-limit", "pubsub 0 64kb 1").Err(); err != nil {
		t.Fatal(err)
	}
	_, do := psRaw(t, addr)
	if got := do("SUBSCRIBE slow\r\n"); !strings.HasPrefix(got, "*3") {
		t.Fatalf("SUBSCRIBE = %q", got)
	}
	msg := strings.Repeat("x", 32<<10)
	start := time.Now()
	for {
		n, err := pub.Publish(ctx, "slow", msg).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatal("subscriber over the soft limit never disconnected")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("disconnected after %v, before soft-seconds", d)
	}
	if srv.stats.obufDisconnects.Load() != 1 {
		t.Fatalf("disconnections = %d", srv.stats.obufDisconnects.Load())
	}
}

// TestKeyspaceNotificationsZaddMove: events recorded from Redis 7.0.15.
func TestKeyspaceNotificationsZaddMove(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	if err := rdb.ConfigSet(ctx, "notify-keyspace-events", "EA").Err(); err != nil {
		t.Fatal(err)
	}
	sc := newClient2(t, addr, 3)
	ps := sc.PSubscribe(ctx, "__key*__:*")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range [][]any{
		{"zadd", "z", "1", "a"},
		{"zadd", "z", "2", "a"},         // update only: reply 0, event zadd
		{"zadd", "z", "2", "a"},         // nothing changed: no event
		{"zadd", "z", "incr", "0", "a"}, // nothing changed: no event
		{"zadd", "z", "incr", "1", "a"},
		{"set", "m", "v"},
		{"move", "m", "1"},
	} {
		if err := rdb.Do(ctx, c...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"__keyevent@0__:zadd z", "__keyevent@0__:zadd z", "__keyevent@0__:zincr z",
		"__keyevent@0__:set m", "__keyevent@0__:move_from m", "__keyevent@1__:move_to m",
	}
	for range want {
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		m, err := ps.ReceiveMessage(c)
		cancel()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, m.Channel+" "+m.Payload)
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
	c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if m, err := ps.ReceiveMessage(c); err == nil {
		t.Fatalf("extra event %v", m)
	}
}
