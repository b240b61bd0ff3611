package conn

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valkyrie-kv/valkyrie/shard"
)

// INFO's keyspace_hits and keyspace_misses read 0 whatever was read: now
// each shard counts the lookups of the commands that do not write, INFO
// sums them and CONFIG RESETSTAT zeroes them (with expired_keys).
func TestInfoKeyspaceHitsMisses(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	stats := func() (hits, misses int64) {
		info := rdb.Info(ctx, "stats").Val()
		return infoField(t, info, "keyspace_hits"), infoField(t, info, "keyspace_misses")
	}

	// Keys on every shard; the writes count nothing.
	var keys []string
	owners := map[int]bool{}
	for i := 0; len(owners) < 8; i++ {
		k := "k" + strconv.Itoa(i)
		keys = append(keys, k)
		owners[shard.Owner([]byte(k), 8)] = true
		if err := rdb.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Incr(ctx, "counter").Err(); err != nil {
		t.Fatal(err)
	}
	if h, m := stats(); h != 0 || m != 0 {
		t.Fatalf("after writes only: hits=%d misses=%d, want 0 0", h, m)
	}

	for _, k := range keys {
		if err := rdb.Get(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Get(ctx, "no-"+k).Err(); err != redis.Nil {
			t.Fatal(err)
		}
	}
	n := int64(len(keys))
	if h, m := stats(); h != n || m != n {
		t.Fatalf("after %d GET hits and misses: hits=%d misses=%d", n, h, m)
	}
	// MGET across shards, EXISTS and TYPE count one lookup per key.
	rdb.MGet(ctx, keys[0], keys[1], "nokey")
	rdb.Exists(ctx, keys[2], "nokey2")
	rdb.Type(ctx, "nokey3")
	if h, m := stats(); h != n+3 || m != n+3 {
		t.Fatalf("after MGET, EXISTS, TYPE: hits=%d misses=%d, want %d %d", h, m, n+3, n+3)
	}

	// An expired key read is a miss and an expired key.
	rdb.Set(ctx, "ttl", "v", time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	rdb.Get(ctx, "ttl")
	info := rdb.Info(ctx, "stats").Val()
	if infoField(t, info, "expired_keys") < 1 || infoField(t, info, "keyspace_misses") != n+4 {
		t.Fatalf("after reading an expired key:\n%s", info)
	}

	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	info = rdb.Info(ctx, "stats").Val()
	for _, f := range []string{"keyspace_hits", "keyspace_misses", "expired_keys", "instantaneous_ops_per_sec"} {
		if v := infoField(t, info, f); v != 0 {
			t.Errorf("after CONFIG RESETSTAT %s=%d", f, v)
		}
	}
}

// instantaneous_ops_per_sec and the kbps figures read 0 under any load:
// now a cron samples the counters every 100 ms, as Redis does.
func TestInfoInstantaneousRates(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	deadline := time.Now().Add(5 * time.Second)
	for batch := 0; batch < 200 && time.Now().Before(deadline); batch++ {
		p := rdb.Pipeline()
		for i := 0; i < 100; i++ {
			p.Set(ctx, "k"+strconv.Itoa(i), "value", 0)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		info := rdb.Info(ctx, "stats").Val()
		if infoField(t, info, "instantaneous_ops_per_sec") > 0 && infoKbpsField(t, info, "instantaneous_input_kbps") > 0 &&
			infoKbpsField(t, info, "instantaneous_output_kbps") > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("rates still 0 under load:\n%s", rdb.Info(ctx, "stats").Val())
}

func infoKbpsField(t *testing.T, info, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !strings.Contains(v, ".") || len(v)-strings.Index(v, ".") != 3 {
				t.Fatalf("INFO %s = %q, want two decimals", name, v)
			}
			return f
		}
	}
	t.Fatalf("INFO has no %s", name)
	return 0
}

// clients_in_timeout_table counts the clients blocked with a timeout, and
// client_recent_max_input_buffer the largest read buffer lately.
func TestInfoClientsFigures(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	blocker := clientTestConn(t, addr, 2)
	done := make(chan error, 1)
	go func() { done <- blocker.BLPop(ctx, 10*time.Second, "empty-list").Err() }()
	var info string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		info = rdb.Info(ctx, "clients").Val()
		if infoField(t, info, "clients_in_timeout_table") == 1 && infoField(t, info, "client_recent_max_input_buffer") >= 16384 {
			break
		}
	}
	if infoField(t, info, "clients_in_timeout_table") != 1 || infoField(t, info, "blocked_clients") != 1 ||
		infoField(t, info, "client_recent_max_input_buffer") < 16384 {
		t.Fatalf("one client blocked with a timeout:\n%s", info)
	}
	rdb.RPush(ctx, "empty-list", "x")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if info = rdb.Info(ctx, "clients").Val(); infoField(t, info, "clients_in_timeout_table") != 0 {
		t.Fatalf("after the pop:\n%s", info)
	}
}

// Bytes that arrive while the connection is blocked (read by its socket
// watcher) count in total_net_input_bytes; they used to be missed.
func TestInfoNetInputWhileBlocked(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	nc, br := fieldsTestRaw(t, addr, "blocked")
	fieldsTestSend(t, nc, br, "BLPOP wlist 0\r\n", "")
	fieldsTestWait(t, clientTestConn(t, addr, 2), "blocked", func(m map[string]string) bool { return m["flags"] == "b" })
	before := infoField(t, rdb.Info(ctx, "stats").Val(), "total_net_input_bytes")
	pings := strings.Repeat("PING\r\n", 1000)
	fieldsTestSend(t, nc, br, pings, "")
	time.Sleep(50 * time.Millisecond) // the watcher reads them
	rdb.RPush(ctx, "wlist", "x")
	fieldsTestSend(t, nc, br, "", "*2")
	for i := 0; i < 4+1000; i++ { // the rest of the BLPOP reply, then the PONGs
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	after := infoField(t, rdb.Info(ctx, "stats").Val(), "total_net_input_bytes")
	if got := after - before; got < int64(len(pings)) {
		t.Fatalf("total_net_input_bytes grew by %d, want at least %d", got, len(pings))
	}
}
