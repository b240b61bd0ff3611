package conn

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis's unit/info starts servers of its own, so the suite's external
// mode skips it. These are its latencystats and errorstats tests that do
// not need AUTH or ACL users (issue 11) or DEBUG, on 8 shards.

// infoLine returns the value of name in INFO section ("" if absent).
func infoLine(t *testing.T, rdb *redis.Client, section, name string) string {
	t.Helper()
	info, err := rdb.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return v
		}
	}
	return ""
}

func errorstat(t *testing.T, rdb *redis.Client, code string) string {
	return infoLine(t, rdb, "errorstats", "errorstat_"+code)
}

func cmdstat(t *testing.T, rdb *redis.Client, cmd string) string {
	return infoLine(t, rdb, "commandstats", "cmdstat_"+cmd)
}

func percentiles(t *testing.T, rdb *redis.Client, cmd string) string {
	return infoLine(t, rdb, "latencystats", "latency_percentiles_usec_"+cmd)
}

// mustMatch fails unless s matches the glob-like pattern (only * is
// special), as Tcl's string match.
func mustMatch(t *testing.T, what, pattern, s string) {
	t.Helper()
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	if !regexp.MustCompile(re).MatchString(s) {
		t.Fatalf("%s = %q, want %q", what, s, pattern)
	}
}

func TestInfoLatencyStatsSpec(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	r := newClient2(t, addr, 2)
	do := func(args ...any) error { return r.Do(ctx, args...).Err() }

	// disable/enable
	do("config", "resetstat")
	do("config", "set", "latency-tracking", "no")
	do("set", "a", "b")
	mustMatch(t, "set, tracking off", "", percentiles(t, r, "set"))
	do("config", "set", "latency-tracking", "yes")
	do("set", "a", "b")
	mustMatch(t, "set", "*p50=*,p99=*,p99.9=*", percentiles(t, r, "set"))
	do("config", "resetstat")
	mustMatch(t, "set after resetstat", "", percentiles(t, r, "set"))

	// configure percentiles
	do("set", "a", "b")
	do("get", "a")
	do("config", "set", "latency-tracking-info-percentiles", "0.0 50.0 100.0")
	if v, _ := r.ConfigGet(ctx, "latency-tracking-info-percentiles").Result(); v["latency-tracking-info-percentiles"] != "0 50 100" {
		t.Fatalf("percentiles config = %v", v)
	}
	mustMatch(t, "set", "*p0=*,p50=*,p100=*", percentiles(t, r, "set"))
	mustMatch(t, "get", "*p0=*,p50=*,p100=*", percentiles(t, r, "get"))

	// bad percentiles
	do("config", "resetstat")
	for i, bad := range []string{"10.0 50.0 a", "10.0 50.0 101.0"} {
		err := do("config", "set", "latency-tracking-info-percentiles", bad)
		if err == nil || !strings.HasPrefix(err.Error(), "ERR CONFIG SET failed") {
			t.Fatalf("%q: %v", bad, err)
		}
		if n := infoLine(t, r, "stats", "total_error_replies"); n != string(rune('1'+i)) {
			t.Fatalf("total_error_replies = %s", n)
		}
	}
	do("config", "resetstat")
	mustMatch(t, "ERR after resetstat", "", errorstat(t, r, "ERR"))

	// blocking commands and subcommands
	do("config", "set", "latency-tracking-info-percentiles", "50.0 99.0 99.9")
	rd := newClient2(t, addr, 2)
	for _, v := range []string{"a", "b"} {
		done := make(chan error, 1)
		go func() { done <- rd.BLPop(ctx, 0, "list1").Err() }()
		waitBlocked(t, r, 1)
		do("lpush", "list1", v)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	mustMatch(t, "blpop", "*p50=*,p99=*,p99.9=*", percentiles(t, r, "blpop"))
	do("client", "id")
	mustMatch(t, "client|id", "*p50=*,p99=*,p99.9=*", percentiles(t, r, "client|id"))
	mustMatch(t, "config|set", "*p50=*,p99=*,p99.9=*", percentiles(t, r, "config|set"))
}

func TestInfoErrorStatsSpec(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	r := newClient2(t, addr, 2)
	do := func(args ...any) error { return r.Do(ctx, args...).Err() }
	total := func() string { return infoLine(t, r, "stats", "total_error_replies") }

	// A failed call within MULTI/EXEC (Redis uses AUTH; any runtime
	// error does).
	do("config", "resetstat")
	do("set", "s", "x")
	tx := r.TxPipeline()
	tx.Set(ctx, "a", "b", 0)
	tx.Incr(ctx, "s")
	tx.Exec(ctx)
	mustMatch(t, "ERR", "*count=1*", errorstat(t, r, "ERR"))
	mustMatch(t, "set", "*calls=2,*,rejected_calls=0,failed_calls=0", cmdstat(t, r, "set"))
	mustMatch(t, "incr", "*calls=1,*,rejected_calls=0,failed_calls=1", cmdstat(t, r, "incr"))
	mustMatch(t, "exec", "*calls=1,*,rejected_calls=0,failed_calls=0", cmdstat(t, r, "exec"))
	if total() != "1" {
		t.Fatalf("total_error_replies = %s", total())
	}
	if err := do("exec"); err == nil || err.Error() != "ERR EXEC without MULTI" {
		t.Fatalf("EXEC: %v", err)
	}
	mustMatch(t, "exec", "*calls=2,*,rejected_calls=0,failed_calls=1", cmdstat(t, r, "exec"))
	mustMatch(t, "ERR", "*count=2*", errorstat(t, r, "ERR"))

	// Within Lua, and EVAL's own error.
	do("config", "resetstat")
	do("eval", "redis.pcall('XGROUP', 'CREATECONSUMER', 's1', 'mygroup', 'consumer') return", "0")
	mustMatch(t, "ERR", "*count=1*", errorstat(t, r, "ERR"))
	mustMatch(t, "xgroup|createconsumer", "*calls=1,*,rejected_calls=0,failed_calls=1", cmdstat(t, r, "xgroup|createconsumer"))
	mustMatch(t, "eval", "*calls=1,*,rejected_calls=0,failed_calls=0", cmdstat(t, r, "eval"))
	if err := do("eval", "a"); err == nil || !strings.HasPrefix(err.Error(), "ERR wrong") {
		t.Fatalf("eval a: %v", err)
	}
	mustMatch(t, "eval", "*calls=1,*,rejected_calls=1,failed_calls=0", cmdstat(t, r, "eval"))
	mustMatch(t, "ERR", "*count=2*", errorstat(t, r, "ERR"))

	// NOSCRIPT and NOGROUP.
	do("config", "resetstat")
	if err := do("evalsha", "NotValidShaSUM", "0"); err == nil || !strings.HasPrefix(err.Error(), "NOSCRIPT") {
		t.Fatalf("evalsha: %v", err)
	}
	mustMatch(t, "NOSCRIPT", "*count=1*", errorstat(t, r, "NOSCRIPT"))
	mustMatch(t, "evalsha", "*calls=1,*,rejected_calls=0,failed_calls=1", cmdstat(t, r, "evalsha"))
	do("xadd", "mystream", "*", "f", "v")
	if err := do("xgroup", "createconsumer", "mystream", "mygroup", "consumer"); err == nil || !strings.HasPrefix(err.Error(), "NOGROUP") {
		t.Fatalf("xgroup: %v", err)
	}
	mustMatch(t, "NOGROUP", "*count=1*", errorstat(t, r, "NOGROUP"))
	do("config", "resetstat")
	mustMatch(t, "NOGROUP after resetstat", "", errorstat(t, r, "NOGROUP"))

	// Rejected: unknown command, arity inside MULTI, arity.
	if err := do("asdf"); err == nil || !strings.HasPrefix(err.Error(), "ERR unknown") {
		t.Fatalf("asdf: %v", err)
	}
	mustMatch(t, "ERR", "*count=1*", errorstat(t, r, "ERR"))
	do("config", "resetstat")
	conn := r.Conn()
	defer conn.Close()
	conn.Do(ctx, "multi")
	conn.Do(ctx, "set")
	if err := conn.Do(ctx, "exec").Err(); err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") {
		t.Fatalf("exec: %v", err)
	}
	mustMatch(t, "ERR", "*count=1*", errorstat(t, r, "ERR"))
	mustMatch(t, "EXECABORT", "*count=1*", errorstat(t, r, "EXECABORT"))
	mustMatch(t, "set", "*calls=0,*,rejected_calls=1,failed_calls=0", cmdstat(t, r, "set"))
	mustMatch(t, "multi", "*calls=1,*,rejected_calls=0,failed_calls=0", cmdstat(t, r, "multi"))
	mustMatch(t, "exec", "*calls=1,*,rejected_calls=0,failed_calls=1", cmdstat(t, r, "exec"))
	if total() != "2" {
		t.Fatalf("total_error_replies = %s", total())
	}
	do("config", "resetstat")
	do("set", "k")
	do("set", "k1", "v1")
	do("set", "k2", "v2")
	mustMatch(t, "set", "calls=2,*,rejected_calls=1,failed_calls=0", cmdstat(t, r, "set"))

	// OOM.
	do("config", "resetstat")
	do("config", "set", "maxmemory", "1")
	var err error
	for i := 0; i < 200; i++ { // the sampler looks every 100 ms
		if err = do("set", "a", "b"); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "OOM") {
		t.Fatalf("set over maxmemory: %v", err)
	}
	mustMatch(t, "OOM", "*count=1*", errorstat(t, r, "OOM"))
	mustMatch(t, "set", "*rejected_calls=1,failed_calls=0", cmdstat(t, r, "set"))
	do("config", "set", "maxmemory", "0")

	// Blocking commands unblocked with an error.
	do("config", "resetstat")
	rd := newClient2(t, addr, 2)
	id, _ := rd.ClientID(ctx).Result()
	done := make(chan error, 1)
	go func() { done <- rd.BLPop(ctx, 0, "list1").Err() }()
	waitBlocked(t, r, 1)
	do("client", "unblock", id, "error")
	if err := <-done; err == nil || !strings.HasPrefix(err.Error(), "UNBLOCKED") {
		t.Fatalf("blpop: %v", err)
	}
	mustMatch(t, "UNBLOCKED", "*count=1*", errorstat(t, r, "UNBLOCKED"))
	mustMatch(t, "blpop", "*calls=1,*,rejected_calls=0,failed_calls=1", cmdstat(t, r, "blpop"))
	if total() != "1" {
		t.Fatalf("total_error_replies = %s", total())
	}
}
