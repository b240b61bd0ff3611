package conn

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// startLoggingServer starts a server whose log the test reads, with the
// configuration pairs given; the cleanup shuts it down, if the test did
// not (Shutdown may be called twice).
func startLoggingServer(t *testing.T, pairs ...string) (*Server, string, *syncBuffer) {
	t.Helper()
	cfg := config.New()
	all := append([]string{"dir", t.TempDir(), "save", "", "enable-debug-command", "yes"}, pairs...)
	if err := cfg.Load(all...); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Shards: 4, Config: cfg, Persistent: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	srv.BeginLoading()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	if err := srv.LoadAtStartup(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return srv, l.Addr().String(), logs
}

// disklessReplica connects as a replica that takes an RDB with an EOF
// mark and asks for a full sync. With small, its receive buffer is small,
// so when it does not read it soon stops taking bytes.
func disklessReplica(t *testing.T, addr string, small bool) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if small {
		nc.(*net.TCPConn).SetReadBuffer(4096)
	}
	br := bufio.NewReader(nc)
	if got := rawCommand(t, nc, br, "REPLCONF capa eof"); got != "+OK" {
		t.Fatalf("REPLCONF capa eof: %q", got)
	}
	nc.Write([]byte("PSYNC ? -1\r\n"))
	return nc
}

// waitLog waits up to d for the log to hold want.
func waitLog(t *testing.T, logs *syncBuffer, want string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); !strings.Contains(logs.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("the log has no %q after %v:\n%s", want, d, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitNoSave waits up to d for rdb_bgsave_in_progress:0.
func waitNoSave(t *testing.T, c *redis.Client, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); persistInfo(t, c, "persistence", "rdb_bgsave_in_progress") != "0"; {
		if time.Now().After(deadline) {
			t.Fatalf("the full sync still runs after %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDisklessSyncDropsStalledReplica: a replica that stops reading in
// the middle of a diskless transfer is dropped once it has taken nothing
// for repl-timeout seconds, with repl-timeout as it is then: Redis's
// "timeout replicas drop during rdb pipe" lowers it after the transfer
// began. The replica that reads gets the whole RDB, and the log says so
// in Redis's words.
func TestDisklessSyncDropsStalledReplica(t *testing.T) {
	_, addr, logs := startLoggingServer(t, "repl-diskless-sync", "yes", "repl-diskless-sync-delay", "1",
		"repl-diskless-sync-max-replicas", "2", "repl-timeout", "60", "rdbcompression", "no")
	c := newClient2(t, addr, 2)
	ctx := context.Background()
	if err := c.Do(ctx, "DEBUG", "POPULATE", "3000", "key", "10000").Err(); err != nil {
		t.Fatal(err)
	}
	stalled := disklessReplica(t, addr, true)
	reader := disklessReplica(t, addr, false)
	drained := make(chan int64, 1)
	go func() {
		reader.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, _ := io.Copy(io.Discard, reader)
		drained <- n
	}()
	waitLog(t, logs, "Background RDB transfer started by pid", 5*time.Second)
	time.Sleep(500 * time.Millisecond) // the writes to the stalled replica block
	if persistInfo(t, c, "persistence", "rdb_bgsave_in_progress") != "1" {
		t.Fatalf("the transfer ended although a replica reads nothing:\n%s", logs.String())
	}
	if err := c.ConfigSet(ctx, "repl-timeout", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if !noSaveWithin(c, 6*time.Second) {
		t.Fatalf("the full sync still runs 6 s after repl-timeout 1:\n%s", logs.String())
	}
	waitLog(t, logs, "Disconnecting timedout replica (full sync): ", time.Second)
	waitLog(t, logs, "Diskless rdb transfer, done reading from pipe, 1 replicas still up.", time.Second)
	stalled.Close()
	reader.Close()
	if n := <-drained; n < 30_000_000 {
		t.Fatalf("the replica that reads got %d bytes, not the whole RDB", n)
	}
}

// TestDisklessSyncLastReplicaDropped: when the only replica of a diskless
// transfer goes away, the transfer stops, and the log says so as Redis's
// does when it kills its child.
func TestDisklessSyncLastReplicaDropped(t *testing.T) {
	_, addr, logs := startLoggingServer(t, "repl-diskless-sync", "yes", "repl-diskless-sync-delay", "0", "rdbcompression", "no")
	c := newClient2(t, addr, 2)
	ctx := context.Background()
	if err := c.Do(ctx, "DEBUG", "POPULATE", "3000", "key", "10000").Err(); err != nil {
		t.Fatal(err)
	}
	r := disklessReplica(t, addr, true)
	waitLog(t, logs, "Background RDB transfer started by pid", 5*time.Second)
	time.Sleep(200 * time.Millisecond)
	r.(*net.TCPConn).SetLinger(0) // the master's next write fails at once
	r.Close()
	waitNoSave(t, c, 5*time.Second)
	waitLog(t, logs, "Diskless rdb transfer, last replica dropped, killing fork child.", time.Second)
}

// noSaveWithin reports whether rdb_bgsave_in_progress is 0 within d.
func noSaveWithin(c *redis.Client, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if s, err := c.Info(context.Background(), "persistence").Result(); err == nil &&
			strings.Contains(s, "rdb_bgsave_in_progress:0") {
			return true
		}
	}
	return false
}
