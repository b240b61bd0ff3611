package conn

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// startServer runs an in-process server with the given shard count on a
// free loopback port and stops it when the test ends.
func startServer(t testing.TB, shards int) (*Server, string) {
	t.Helper()
	srv, addr, done := listenAndServe(t, shards)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, addr
}

// listenAndServe runs a server with the given shards on a loopback port;
// done receives what Serve returns. The caller stops it.
func listenAndServe(t testing.TB, shards int) (srv *Server, addr string, done <-chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv = New(Options{Shards: shards})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	return srv, l.Addr().String(), served
}

func newClient2(t testing.TB, addr string, proto int) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto, DisableIdentity: false})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestGoRedisBasics(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, 8)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()

			if got, err := rdb.Ping(ctx).Result(); err != nil || got != "PONG" {
				t.Fatalf("PING = %q, %v", got, err)
			}
			if err := rdb.Set(ctx, "foo", "bar", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if got, err := rdb.Get(ctx, "foo").Result(); err != nil || got != "bar" {
				t.Fatalf("GET = %q, %v", got, err)
			}
			if _, err := rdb.Get(ctx, "missing").Result(); err != redis.Nil {
				t.Fatalf("GET missing: err = %v, want redis.Nil", err)
			}
			// Keys spread over 8 shards: MSET/MGET/DEL/EXISTS cross shards.
			var kv []any
			var keys []string
			for i := 0; i < 50; i++ {
				k := "key:" + strconv.Itoa(i)
				keys = append(keys, k)
				kv = append(kv, k, "v"+strconv.Itoa(i))
			}
			if err := rdb.MSet(ctx, kv...).Err(); err != nil {
				t.Fatal(err)
			}
			vals, err := rdb.MGet(ctx, append(keys, "nokey")...).Result()
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range vals[:50] {
				if v != "v"+strconv.Itoa(i) {
					t.Fatalf("MGET[%d] = %v", i, v)
				}
			}
			if vals[50] != nil {
				t.Fatalf("MGET of a missing key = %v, want nil", vals[50])
			}
			if n, _ := rdb.Exists(ctx, keys...).Result(); n != 50 {
				t.Fatalf("EXISTS = %d, want 50", n)
			}
			if n, _ := rdb.DBSize(ctx).Result(); n != 51 {
				t.Fatalf("DBSIZE = %d, want 51", n)
			}
			if n, _ := rdb.Del(ctx, keys[:10]...).Result(); n != 10 {
				t.Fatalf("DEL = %d, want 10", n)
			}
			if n, _ := rdb.DBSize(ctx).Result(); n != 41 {
				t.Fatalf("DBSIZE after DEL = %d, want 41", n)
			}
			if err := rdb.FlushDB(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if n, _ := rdb.DBSize(ctx).Result(); n != 0 {
				t.Fatalf("DBSIZE after FLUSHDB = %d", n)
			}
		})
	}
}

func TestGoRedisPipelineOrder(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 3)
	ctx := context.Background()
	const n = 2000
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < n; i++ {
			k := "p:" + strconv.Itoa(i%97)
			p.Set(ctx, k, strconv.Itoa(i), 0)
			p.Get(ctx, k)
			if i%100 == 0 {
				p.Ping(ctx)
				p.DBSize(ctx)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for j := 0; j < len(cmds); j++ {
		switch c := cmds[j].(type) {
		case *redis.StatusCmd:
			if c.Val() != "OK" && c.Val() != "PONG" {
				t.Fatalf("cmd %d: %v", j, c)
			}
		case *redis.StringCmd:
			if c.Val() != strconv.Itoa(i) {
				t.Fatalf("GET #%d returned %q: replies out of order", i, c.Val())
			}
			i++
		}
	}
	if i != n {
		t.Fatalf("saw %d GET replies, want %d", i, n)
	}
}

func TestSelectIsolatesDatabases(t *testing.T) {
	_, addr := startServer(t, 4)
	ctx := context.Background()
	db0 := newClient2(t, addr, 2)
	db3 := redis.NewClient(&redis.Options{Addr: addr, DB: 3})
	defer db3.Close()
	db0.Set(ctx, "k", "zero", 0)
	db3.Set(ctx, "k", "three", 0)
	if v := db0.Get(ctx, "k").Val(); v != "zero" {
		t.Fatalf("db0 k = %q", v)
	}
	if v := db3.Get(ctx, "k").Val(); v != "three" {
		t.Fatalf("db3 k = %q", v)
	}
	if err := db0.Do(ctx, "SELECT", "16").Err(); err == nil || err.Error() != "ERR DB index is out of range" {
		t.Fatalf("SELECT 16: %v", err)
	}
}

// keysOnDifferentShards returns n key names that live on n different
// shards of a server with the given shard count.
func keysOnDifferentShards(t testing.TB, prefix string, n, shards int) []string {
	t.Helper()
	seen := map[int]bool{}
	var keys []string
	for i := 0; len(keys) < n && i < 10000; i++ {
		k := prefix + strconv.Itoa(i)
		if o := shard.Owner([]byte(k), shards); !seen[o] {
			seen[o] = true
			keys = append(keys, k)
		}
	}
	if len(keys) < n {
		t.Fatalf("could not find %d keys on different shards", n)
	}
	return keys
}
