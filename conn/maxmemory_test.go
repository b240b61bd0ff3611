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

// Under noeviction, writes answer OOM once the data grows past maxmemory,
// reads go on, and writes work again once memory is freed: the limit
// follows the data, not a flag set by CONFIG SET alone.
func TestMaxmemoryRefusesWritesWhileOver(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	limit := infoUsedMemory(t, rdb) + 32<<20
	if err := rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(limit, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	val := strings.Repeat("v", 1<<20)
	oom := false
	for i := 0; i < 200 && !oom; i++ { // at most 200 MB
		err := rdb.Set(ctx, "k"+strconv.Itoa(i), val, 0).Err()
		switch {
		case err == nil:
		case strings.HasPrefix(err.Error(), "OOM command not allowed when used memory > 'maxmemory'."):
			oom = true
		default:
			t.Fatal(err)
		}
	}
	if !oom {
		t.Fatal("200 MB written past a limit 32 MB above the heap, and no OOM")
	}
	if err := rdb.Get(ctx, "k0").Err(); err != nil {
		t.Fatalf("a read while over maxmemory: %v", err)
	}
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatalf("FLUSHALL while over maxmemory: %v", err)
	}
	if err := rdb.Set(ctx, "after", "x", 0).Err(); err != nil {
		t.Fatalf("a write after the data was freed: %v", err)
	}
	rdb.ConfigSet(ctx, "maxmemory", "0")
}

// infoUsedMemory reads INFO's used_memory.
func infoUsedMemory(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no used_memory in INFO")
	return 0
}

// While a script has run past busy-reply-threshold, a command that may
// grow the data answers BUSY, not OOM, when memory is over maxmemory:
// Redis skips the maxmemory check while it is busy, the BUSY check comes
// later and refuses the command. Inside MULTI too.
func TestMaxmemoryBusyScriptAnswersBusy(t *testing.T) {
	_, addr := startServer(t, 8)
	if r := rawCall(t, addr, "CONFIG", "SET", "maxmemory", "1"); r != "+OK" {
		t.Fatal(r)
	}
	if r := rawCall(t, addr, "CONFIG", "SET", "busy-reply-threshold", "10"); r != "+OK" {
		t.Fatal(r)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write(respCommand("EVAL", "while true do end", "0"))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.HasPrefix(rawCall(t, addr, "PING"), "-BUSY") {
		if time.Now().After(deadline) {
			t.Fatal("the script never became busy")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r := rawCall(t, addr, "SET", "k", "v"); !strings.HasPrefix(r, "-BUSY ") {
		t.Errorf("SET while busy and over maxmemory: %q, want BUSY", r)
	}
	if r := rawCall(t, addr, "SCRIPT", "KILL"); r != "+OK" {
		t.Fatalf("SCRIPT KILL: %q", r)
	}
	rawCall(t, addr, "CONFIG", "SET", "maxmemory", "0")
}
