package conn

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// latencyLine returns INFO latencystats' line for a command, "" if none.
func latencyLine(t *testing.T, rdb *redis.Client, cmd string) string {
	t.Helper()
	for _, l := range strings.Split(rdb.Info(context.Background(), "latencystats").Val(), "\r\n") {
		if v, ok := strings.CutPrefix(l, "latency_percentiles_usec_"+cmd+":"); ok {
			return v
		}
	}
	return ""
}

// INFO latencystats follows latency-tracking and its percentiles, covers
// data commands on every shard, connection commands and subcommands, and
// CONFIG RESETSTAT clears it (as Redis's unit/info checks); LATENCY
// HISTOGRAM gives each command's calls and a cumulative distribution.
func TestLatencyStats(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, Protocol: 2})
	defer rdb.Close()
	pct := regexp.MustCompile(`^p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}$`)

	rdb.ConfigSet(ctx, "latency-tracking", "no")
	rdb.ConfigResetStat(ctx)
	rdb.Set(ctx, "a", "b", 0)
	if l := latencyLine(t, rdb, "set"); l != "" {
		t.Fatalf("tracking off, yet %q", l)
	}
	rdb.ConfigSet(ctx, "latency-tracking", "yes")
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		rdb.Set(ctx, k, "v", 0)
	}
	rdb.Do(ctx, "client", "id")
	rdb.BLPop(ctx, 10_000_000, "nolist") // times out after 10 ms
	for _, cmd := range []string{"set", `client|id`, "config|set", "blpop"} {
		if l := latencyLine(t, rdb, cmd); !pct.MatchString(l) {
			t.Fatalf("%s: %q", cmd, l)
		}
	}
	rdb.ConfigSet(ctx, "latency-tracking-info-percentiles", "0 50 100")
	if l := latencyLine(t, rdb, "set"); !regexp.MustCompile(`^p0=[\d.]+,p50=[\d.]+,p100=[\d.]+$`).MatchString(l) {
		t.Fatalf("custom percentiles: %q", l)
	}

	hist, err := rdb.Do(ctx, "latency", "histogram", "set", "nosuchcommand").Slice()
	if err != nil || len(hist) != 2 || hist[0] != "set" {
		t.Fatalf("LATENCY HISTOGRAM set: %v %v", hist, err)
	}
	body := hist[1].([]any)
	if body[0] != "calls" || body[1] != int64(8) || body[2] != "histogram_usec" {
		t.Fatalf("LATENCY HISTOGRAM set: %v", body)
	}
	points := body[3].([]any)
	if len(points) == 0 || len(points)%2 != 0 || points[len(points)-1] != int64(8) {
		t.Fatalf("histogram_usec %v must end at the 8 calls", points)
	}

	rdb.ConfigResetStat(ctx)
	if l := latencyLine(t, rdb, "set"); l != "" {
		t.Fatalf("after RESETSTAT: %q", l)
	}
}
