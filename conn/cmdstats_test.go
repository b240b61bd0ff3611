package conn

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// commandStats returns INFO commandstats with the timings blanked, one
// line per command, sorted.
func commandStats(t *testing.T, rdb *redis.Client) []string {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	usec := regexp.MustCompile(`usec=\d+,usec_per_call=\d+\.\d\d,`)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(info), "\r\n")[1:] {
		if !usec.MatchString(l) {
			t.Fatalf("line without usec fields: %q", l)
		}
		out = append(out, usec.ReplaceAllString(l, ""))
	}
	sort.Strings(out)
	return out
}

// INFO commandstats counts calls, rejections and failures per command and
// subcommand as redis-server 7.0.15 does for the same session (recorded
// from it): data commands on 8 shards, connection commands, commands in
// MULTI and in a script, a blocked pop that times out, arity errors
// before running and inside MULTI. CONFIG RESETSTAT clears it all.
func TestInfoCommandStats(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	// RESP2 and no identity: go-redis sends no HELLO or CLIENT SETINFO.
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	do := func(args ...any) { rdb.Do(ctx, args...) }
	do("set", "a", "1")
	do("get", "a")
	do("lpush", "a", "x")
	do("get")
	do("client", "id")
	do("ping")
	do("mset", "a", "1", "b", "2", "c", "3")
	do("blpop", "nolist", "0.1")
	do("eval", "return redis.call('get','a')", "1", "a")
	do("config", "set", "foo", "bar")
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "get")
		p.Set(ctx, "a", "b", 0)
		return nil
	}); err == nil {
		t.Fatal("EXEC after a queueing error succeeded")
	}
	do("exec")
	want := []string{
		"cmdstat_blpop:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_client|id:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_config|set:calls=1,rejected_calls=0,failed_calls=1",
		"cmdstat_eval:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_exec:calls=2,rejected_calls=0,failed_calls=2",
		"cmdstat_get:calls=2,rejected_calls=2,failed_calls=0",
		"cmdstat_lpush:calls=1,rejected_calls=0,failed_calls=1",
		"cmdstat_mset:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_multi:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_ping:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_set:calls=1,rejected_calls=0,failed_calls=0",
	}
	var got []string
	for _, l := range commandStats(t, rdb) {
		if !strings.HasPrefix(l, "cmdstat_hello:") { // go-redis's handshake, once per connection
			got = append(got, l)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commandstats:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	do("config", "resetstat")
	if got := commandStats(t, rdb); len(got) != 1 || got[0] != "cmdstat_config|resetstat:calls=1,rejected_calls=0,failed_calls=0" {
		t.Fatalf("after RESETSTAT: %q", got)
	}
}

// A blocked XREADGROUP counts one call when it blocks and one failure when
// XGROUP DESTROY unblocks it with NOGROUP (Redis's stream-cgroups test).
func TestInfoCommandStatsBlockedFailure(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	rdb.XGroupCreateMkStream(ctx, "s", "g", "$")
	rdb.ConfigResetStat(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{"s", ">"}, Block: 0}).Result()
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(rdb.Info(ctx, "clients").Val(), "blocked_clients:1") {
		if time.Now().After(deadline) {
			t.Fatal("XREADGROUP never blocked")
		}
		time.Sleep(5 * time.Millisecond)
	}
	rdb.XGroupDestroy(ctx, "s", "g")
	if err := <-done; err == nil || !strings.HasPrefix(err.Error(), "NOGROUP") {
		t.Fatalf("blocked XREADGROUP ended with %v", err)
	}
	var line string
	for _, l := range commandStats(t, rdb) {
		if strings.HasPrefix(l, "cmdstat_xreadgroup:") {
			line = l
		}
	}
	if line != "cmdstat_xreadgroup:calls=1,rejected_calls=0,failed_calls=1" {
		t.Fatalf("xreadgroup stats: %q", line)
	}
}

// Connection commands count wherever they run: inside EXEC and called by a
// script (Redis's call() counts each one), and MIGRATE's deletion of the
// keys it moved is no DEL call (Redis deletes them directly). The figures
// are those of redis-server 7.0.15 for the same session.
func TestInfoCommandStatsNested(t *testing.T) {
	_, a, _, host, port := migratePair(t)
	ctx := context.Background()
	a.ConfigResetStat(ctx)
	if _, err := a.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "info", "commandstats")
		p.Do(ctx, "client", "id")
		p.Do(ctx, "ping")
		p.Do(ctx, "get", "a")
		return nil
	}); err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	a.Eval(ctx, "redis.call('ping') return redis.call('echo', 'x')", nil)
	a.Set(ctx, "m", "1", 0)
	if v := migrateDo(a, host, port, "m", 0, 5000); v != "OK" {
		t.Fatalf("MIGRATE = %v", v)
	}
	want := []string{
		"cmdstat_client|id:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_config|resetstat:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_echo:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_eval:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_exec:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_get:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_info:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_migrate:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_multi:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_ping:calls=2,rejected_calls=0,failed_calls=0",
		"cmdstat_set:calls=1,rejected_calls=0,failed_calls=0",
	}
	var got []string
	for _, l := range commandStats(t, a) {
		// go-redis's handshake, once per pooled connection
		if !strings.HasPrefix(l, "cmdstat_hello:") && !strings.HasPrefix(l, "cmdstat_client|setinfo:") {
			got = append(got, l)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commandstats:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A command a script calls but that is refused before it runs (wrong
// arity, not allowed from scripts, a write from a read-only script) counts
// as a rejected call of that command, as redis-server 7.0.15 counts it.
func TestInfoCommandStatsScriptRejections(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	rdb.ConfigResetStat(ctx)
	rdb.Eval(ctx, "return redis.call('get')", nil)
	rdb.Eval(ctx, "return redis.pcall('config','set','x','y')", nil)
	rdb.Eval(ctx, "return redis.call('nosuch')", nil)
	rdb.Eval(ctx, "return redis.call('client','nosuch')", nil)
	rdb.Eval(ctx, "return redis.call('set','a','b')", nil)
	rdb.EvalRO(ctx, "return redis.call('set','a','b')", nil)
	want := []string{
		"cmdstat_config|resetstat:calls=1,rejected_calls=0,failed_calls=0",
		"cmdstat_config|set:calls=0,rejected_calls=1,failed_calls=0",
		"cmdstat_eval:calls=5,rejected_calls=0,failed_calls=4",
		"cmdstat_eval_ro:calls=1,rejected_calls=0,failed_calls=1",
		"cmdstat_get:calls=0,rejected_calls=1,failed_calls=0",
		"cmdstat_set:calls=1,rejected_calls=1,failed_calls=0",
	}
	if got := commandStats(t, rdb); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commandstats:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
