package conn

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// infoField returns the integer field name of INFO section.
func infoField(t *testing.T, info, name string) int64 {
	t.Helper()
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("INFO %s = %q", name, v)
			}
			return n
		}
	}
	t.Fatalf("INFO has no %s", name)
	return 0
}

// TestActiveExpiryKeepsUp pins issue 7 item 5 against the real server: keys
// set with a short TTL and never read are all removed within a few seconds
// (the old fixed budget of 200 keys per tick and database took over 6 s for
// these), and INFO's expired_keys counts them.
func TestActiveExpiryKeepsUp(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	const n = 100_000
	for i := 0; i < n; i += 10_000 {
		pipe := rdb.Pipeline()
		for j := i; j < i+10_000; j++ {
			pipe.Set(ctx, "k"+strconv.Itoa(j), "v", 100*time.Millisecond)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for {
		size, err := rdb.DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if size == 0 {
			break
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("%d of %d keys with a 100 ms TTL left after %v", size, n, time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("all %d keys gone %v after the last SET", n, time.Since(start))
	info := rdb.Info(ctx, "stats").Val()
	if got := infoField(t, info, "expired_keys"); got != n {
		t.Fatalf("expired_keys = %d, want %d", got, n)
	}
	// A key found expired by a read counts too, as in Redis.
	rdb.Set(ctx, "lazy", "v", time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if err := rdb.Get(ctx, "lazy").Err(); err == nil {
		t.Fatal("GET of an expired key found it")
	}
	info = rdb.Info(ctx, "stats").Val()
	if got := infoField(t, info, "expired_keys"); got != n+1 {
		t.Fatalf("expired_keys after a lazy expiry = %d, want %d", got, n+1)
	}
}

// TestActiveExpireEffortConfig checks that active-expire-effort and hz
// reach the shards' expiry budget: (25+2*(effort-1))% of the tick period.
func TestActiveExpireEffortConfig(t *testing.T) {
	srv, addr := startServer(t, 2)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	check := func(wantEffort int, wantBudget time.Duration) {
		t.Helper()
		for _, sh := range srv.shards {
			if e, b := sh.ActiveExpire(); e != wantEffort || b != wantBudget {
				t.Fatalf("shard %d: effort %d budget %v, want %d and %v", sh.ID, e, b, wantEffort, wantBudget)
			}
		}
	}
	check(1, 25*time.Millisecond)
	if err := rdb.ConfigSet(ctx, "hz", "100").Err(); err != nil {
		t.Fatal(err)
	}
	check(1, 2500*time.Microsecond)
	if err := rdb.ConfigSet(ctx, "active-expire-effort", "10").Err(); err != nil {
		t.Fatal(err)
	}
	if got := rdb.ConfigGet(ctx, "active-expire-effort").Val()["active-expire-effort"]; got != "10" {
		t.Fatalf("active-expire-effort = %q", got)
	}
	check(10, 4300*time.Microsecond)
	if err := rdb.ConfigSet(ctx, "active-expire-effort", "11").Err(); err == nil {
		t.Fatal("active-expire-effort 11 accepted")
	}
}
