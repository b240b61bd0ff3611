package conn

import (
	"bufio"
	"context"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A real redis-server replicates Valkyrie (8 shards): full sync, the
// stream under load, expiry, a broken link resumed with a partial sync.
// Skipped when redis-server is not installed.

// waitReplicaCaughtUp waits until the replica's processed offset reaches
// the master's offset, read after the writes stopped.
func waitReplicaCaughtUp(t *testing.T, master, replica *redis.Client) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		want := persistInfo(t, master, "replication", "master_repl_offset")
		got := persistInfo(t, replica, "replication", "slave_repl_offset")
		link := persistInfo(t, replica, "replication", "master_link_status")
		if link == "up" && got == want && want != "0" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica at offset %s (link %s), master at %s", got, link, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRedisReplicatesValkyrie(t *testing.T) {
	bin := trRedisBinary()
	if bin == "" {
		t.Skip("redis-server not installed")
	}
	ctx := context.Background()
	v := startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync-delay", "0")
	vc := newClient2(t, v.addr, 2)
	fillEveryType(t, vc)
	host, port, _ := strings.Cut(v.addr, ":")
	raddr := trStartRedis(t, bin, "--replicaof", host, port)
	rc := newClient2(t, raddr, 2)
	waitReplicaCaughtUp(t, vc, rc)
	if got, want := keyspace(t, raddr), keyspace(t, v.addr); !slices.Equal(got, want) {
		t.Fatalf("after the full sync:\n%s", diffLines(got, want))
	}
	if err := rc.Set(ctx, "x", 1, 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "READONLY") {
		t.Fatalf("write to the replica: %v", err)
	}

	// The stream, under load from several clients.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient2(t, v.addr, 2)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := "w" + strconv.Itoa(w) + ":" + strconv.Itoa(i%300)
				switch i % 5 {
				case 0:
					c.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.Incr(ctx, k)
						p.SAdd(ctx, "set:"+strconv.Itoa(i%9), k)
						p.Expire(ctx, k, time.Hour)
						return nil
					})
				case 1:
					c.Eval(ctx, "redis.call('rpush', KEYS[1], ARGV[1]) redis.call('hincrbyfloat', KEYS[2], 'f', 1.5) return 1",
						[]string{"list:" + strconv.Itoa(i%11), "hash:" + strconv.Itoa(i%13)}, i)
				case 2:
					c.Set(ctx, "short:"+strconv.Itoa(w)+":"+strconv.Itoa(i), i, 20*time.Millisecond)
				case 3:
					c.SPop(ctx, "set:"+strconv.Itoa(i%9))
				case 4:
					c.XAdd(ctx, &redis.XAddArgs{Stream: "stream:" + strconv.Itoa(w), MaxLen: 50, Approx: false, Values: []string{"n", strconv.Itoa(i)}})
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	// Break the link; the replica comes back with a partial resync.
	if err := rc.ClientKillByFilter(ctx, "TYPE", "master").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	time.Sleep(100 * time.Millisecond) // the short TTLs pass; expiry sends DEL
	waitReplicaCaughtUp(t, vc, rc)
	got, want := keyspace(t, raddr), keyspace(t, v.addr)
	if !slices.Equal(got, want) {
		t.Fatalf("after the stream (%d keys, want %d):\n%s", len(got), len(want), diffLines(got, want))
	}
	if n := persistInfo(t, vc, "stats", "sync_partial_ok"); n != "1" {
		t.Fatalf("sync_partial_ok = %s, want 1 (the broken link resumed)", n)
	}
	if n := persistInfo(t, vc, "stats", "sync_full"); n != "1" {
		t.Fatalf("sync_full = %s, want 1", n)
	}
	// WAIT counts the replica once it has acknowledged the last write.
	vc.Set(ctx, "waited", 1, 0)
	if n, err := vc.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v", n, err)
	}
	// PUBLISH reaches the replica's subscribers, as Redis forwards it.
	sub := rc.Subscribe(ctx, "news")
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := vc.Publish(ctx, "news", "hello").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-sub.Channel():
		if m.Payload != "hello" {
			t.Fatalf("replica subscriber got %q", m.Payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PUBLISH did not reach the replica")
	}
	sub.Close()
	role := vc.Do(ctx, "ROLE").Val().([]any)
	if role[0] != "master" || len(role[2].([]any)) != 1 {
		t.Fatalf("ROLE = %v", role)
	}
}

// Replicas that ask for a full sync within repl-diskless-sync-delay share
// one: both get the same dataset, and with SYNC (no EOF capability) from a
// file. Skipped when redis-server is not installed.
func TestReplicasShareAFullSync(t *testing.T) {
	bin := trRedisBinary()
	if bin == "" {
		t.Skip("redis-server not installed")
	}
	ctx := context.Background()
	v := startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync-delay", "1")
	vc := newClient2(t, v.addr, 2)
	fillEveryType(t, vc)
	host, port, _ := strings.Cut(v.addr, ":")
	r1 := trStartRedis(t, bin, "--replicaof", host, port)
	r2 := trStartRedis(t, bin, "--replicaof", host, port)
	c1, c2 := newClient2(t, r1, 2), newClient2(t, r2, 2)
	waitReplicaCaughtUp(t, vc, c1)
	waitReplicaCaughtUp(t, vc, c2)
	want := keyspace(t, v.addr)
	for _, addr := range []string{r1, r2} {
		if got := keyspace(t, addr); !slices.Equal(got, want) {
			t.Fatalf("replica %s:\n%s", addr, diffLines(got, want))
		}
	}
	if n := persistInfo(t, vc, "replication", "connected_slaves"); n != "2" {
		t.Fatalf("connected_slaves = %s", n)
	}
	// SYNC, as an old replica or the test suite's stream reader sends it:
	// the RDB comes as a bulk of known length, then the stream.
	nc, err := net.Dial("tcp", v.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	nc.Write([]byte("SYNC\r\n"))
	rd := bufio.NewReader(nc)
	line, err := rd.ReadString('\n')
	for err == nil && line == "\n" { // keep-alive newlines while it waits
		line, err = rd.ReadString('\n')
	}
	if err != nil || !strings.HasPrefix(line, "$") {
		t.Fatalf("SYNC answered %q, %v", line, err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	if _, err := io.CopyN(io.Discard, rd, int64(n)); err != nil {
		t.Fatal(err)
	}
	vc.Set(ctx, "after-sync", "x", 0)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("no stream after SYNC's RDB: %v", err)
		}
		if strings.Contains(line, "after-sync") {
			break
		}
	}
}
