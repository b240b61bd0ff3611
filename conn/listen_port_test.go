package conn

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// CONFIG SET port: a port in use fails the whole CONFIG SET, rolled back,
// and the server stays where it was; a free one moves the server there.
func TestConfigSetPort(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	before, _ := rdb.ConfigGet(ctx, "maxmemory").Result()
	err = rdb.Do(ctx, "config", "set", "maxmemory", "10000001", "port", busyPort).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port") {
		t.Fatalf("busy port: %v", err)
	}
	if after, _ := rdb.ConfigGet(ctx, "maxmemory").Result(); after["maxmemory"] != before["maxmemory"] {
		t.Fatalf("maxmemory not rolled back: %v -> %v", before, after)
	}
	fresh := newClient2(t, addr, 2)
	if err := fresh.Ping(ctx).Err(); err != nil {
		t.Fatalf("old port after a failed move: %v", err)
	}

	free, _ := net.Listen("tcp", "127.0.0.1:0")
	freePort := strconv.Itoa(free.Addr().(*net.TCPAddr).Port)
	free.Close()
	if err := rdb.ConfigSet(ctx, "port", freePort).Err(); err != nil {
		t.Fatal(err)
	}
	moved := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + freePort})
	defer moved.Close()
	if err := moved.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("new port: %v", err)
	}
	if nc, err := net.Dial("tcp", addr); err == nil {
		nc.Close()
		t.Fatalf("old port %s still accepts", addr)
	}
	if v, _ := moved.ConfigGet(ctx, "port").Result(); v["port"] != freePort {
		t.Fatalf("CONFIG GET port = %v", v)
	}
}
