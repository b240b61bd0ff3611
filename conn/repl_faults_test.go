package conn

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestPsyncLinkClosedAtOnce: a replica that sends PSYNC and closes its
// link at once makes the head (+FULLRESYNC) write fail; the full sync's
// snapshot slot must still be released, or BGSAVE, the next replicas and
// INFO see a background save that never ends.
func TestPsyncLinkClosedAtOnce(t *testing.T) {
	p := startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync-delay", "0")
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		c.Set(ctx, "k"+strconv.Itoa(i), i, 0)
	}
	// One at a time: each full sync must end, its slot released, before
	// the next; the write of the head fails for some of them.
	for i := 1; i <= 20; i++ {
		nc, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write([]byte("PSYNC ? -1\r\n"))
		nc.Close()
		deadline := time.Now().Add(3 * time.Second)
		for persistInfo(t, c, "stats", "sync_full") != strconv.Itoa(i) ||
			persistInfo(t, c, "persistence", "rdb_bgsave_in_progress") != "0" {
			if time.Now().After(deadline) {
				t.Fatalf("replica %d: sync_full %s, rdb_bgsave_in_progress %s after the replica left", i,
					persistInfo(t, c, "stats", "sync_full"), persistInfo(t, c, "persistence", "rdb_bgsave_in_progress"))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The last session may still be taking its slot (a waiting sync goes
	// before BGSAVE): the slot must come free within a few seconds.
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := c.BgSave(ctx).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("BGSAVE after the replicas left: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakeReplica connects as a replica that never acknowledges: it sends
// PSYNC and reads nothing more than the kernel takes.
func fakeReplica(t *testing.T, addr string, c *redis.Client) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.Write([]byte("PSYNC ? -1\r\n"))
	deadline := time.Now().Add(5 * time.Second)
	for persistInfo(t, c, "replication", "connected_slaves") != "1" {
		if time.Now().After(deadline) {
			t.Fatal("the replica did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nc
}

// rawCommand sends one command and reads one line of reply.
func rawCommand(t *testing.T, nc net.Conn, br *bufio.Reader, cmd string) string {
	t.Helper()
	if _, err := nc.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return strings.TrimRight(line, "\r\n")
}

// TestWaitIsABlockedClient: a WAIT that waits for a replica that never
// acknowledges is a blocked client (INFO blocked_clients), ends with
// CLIENT UNBLOCK, and ends when its client hangs up: its goroutine no
// longer waits forever for acknowledgements that never come.
func TestWaitIsABlockedClient(t *testing.T) {
	p := startPersistServer(t, 8, t.TempDir(), "repl-diskless-sync-delay", "0")
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	fakeReplica(t, p.addr, c)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	base := persistInfo(t, c, "clients", "connected_clients")

	nc, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	id := strings.TrimPrefix(rawCommand(t, nc, br, "CLIENT ID"), ":")
	waitBlocked := func(want string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for persistInfo(t, c, "clients", "blocked_clients") != want {
			if time.Now().After(deadline) {
				t.Fatalf("blocked_clients is not %s", want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	nc.Write([]byte("WAIT 1 0\r\n"))
	waitBlocked("1")
	if n, err := c.ClientUnblock(ctx, mustInt64(t, id)).Result(); err != nil || n != 1 {
		t.Fatalf("CLIENT UNBLOCK = %v, %v", n, err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := br.ReadString('\n'); err != nil || line != ":0\r\n" {
		t.Fatalf("WAIT after CLIENT UNBLOCK = %q, %v", line, err)
	}
	waitBlocked("0")

	// A client that hangs up while it waits.
	nc.Write([]byte("WAIT 1 0\r\n"))
	waitBlocked("1")
	nc.Close()
	deadline := time.Now().Add(3 * time.Second)
	for persistInfo(t, c, "clients", "connected_clients") != base {
		if time.Now().After(deadline) {
			t.Fatalf("connected_clients = %s after the WAIT client left, want %s",
				persistInfo(t, c, "clients", "connected_clients"), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitBlocked("0")
}

func mustInt64(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReplicationCommandsBadArguments: PSYNC with an offset that is not
// a number is refused, as Redis refuses it, rather than served a full
// sync; a PSYNC with extra arguments is still a PSYNC (+FULLRESYNC first,
// not an RDB a replica does not expect); WAIT with a timeout past the
// end of time says so instead of returning at once (the Duration
// overflowed); REPLCONF GETACK from a client gets no reply, as in Redis.
func TestReplicationCommandsBadArguments(t *testing.T) {
	p := startPersistServer(t, 4, t.TempDir(), "repl-diskless-sync-delay", "0")
	first := func(cmd string) string {
		t.Helper()
		nc, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		return rawCommand(t, nc, bufio.NewReader(nc), cmd)
	}
	for _, tc := range []struct{ cmd, want string }{
		{"PSYNC ? abc", "-ERR value is not an integer or out of range"},
		{"PSYNC 0123456789012345678901234567890123456789 1x", "-ERR value is not an integer or out of range"},
		{"PSYNC ? -1 FAILOVER", "-ERR PSYNC FAILOVER can't be sent to a master."},
		{"PSYNC ? -1 extra", "+FULLRESYNC"},
		{"WAIT 1 9223372036854775807", "-ERR timeout is out of range"},
		{"WAIT 0 9000000000000", ":"},
		{"REPLCONF GETACK *\r\nPING", "+PONG"},
		{"REPLCONF ACK 10\r\nPING", "+PONG"},
	} {
		if got := first(tc.cmd); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.cmd, got, tc.want)
		}
	}
}

// TestBacklogResizedAtRunTime: CONFIG SET repl-backlog-size resizes the
// backlog that exists: a smaller one holds no more than its size, and a
// larger one lets a replica continue from an offset the old size had
// dropped. It kept the size it was made with until the backlog was freed.
func TestBacklogResizedAtRunTime(t *testing.T) {
	p := startPersistServer(t, 4, t.TempDir(), "repl-diskless-sync-delay", "0")
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	fakeReplica(t, p.addr, c)
	if err := c.ConfigSet(ctx, "repl-backlog-size", "16384").Err(); err != nil {
		t.Fatal(err)
	}
	value := strings.Repeat("v", 1000)
	for i := 0; i < 100; i++ {
		c.Set(ctx, "k"+strconv.Itoa(i), value, 0)
	}
	if got := persistInfo(t, c, "replication", "repl_backlog_histlen"); got != "16384" {
		t.Fatalf("repl_backlog_histlen %s with a backlog of 16384", got)
	}
	if err := c.ConfigSet(ctx, "repl-backlog-size", "1mb").Err(); err != nil {
		t.Fatal(err)
	}
	off := mustInt64(t, persistInfo(t, c, "replication", "master_repl_offset"))
	for i := 0; i < 100; i++ {
		c.Set(ctx, "k"+strconv.Itoa(i), value, 0)
	}
	replid := persistInfo(t, c, "replication", "master_replid")
	nc, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// 100 KB back: beyond the old 16 KB, within the new 1 MB.
	if got := rawCommand(t, nc, bufio.NewReader(nc), "PSYNC "+replid+" "+strconv.FormatInt(off+1, 10)); !strings.HasPrefix(got, "+CONTINUE") {
		t.Fatalf("PSYNC from %d: %q, want +CONTINUE", off+1, got)
	}
}

// TestReplicaLagAndAckOffset: INFO's lag of a replica that has not
// acknowledged yet counts from when it went online (it showed the seconds
// since 1970), and an ACK with a lower offset than the last does not move
// the replica's offset back, as in Redis.
func TestReplicaLagAndAckOffset(t *testing.T) {
	p := startPersistServer(t, 4, t.TempDir(), "repl-diskless-sync-delay", "0")
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	nc := fakeReplica(t, p.addr, c)
	slave := func() string {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			s := persistInfo(t, c, "replication", "slave0")
			if strings.Contains(s, "state=online") || time.Now().After(deadline) {
				return s
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	s := slave()
	lag := mustInt64(t, s[strings.LastIndex(s, "lag=")+4:])
	if lag > 5 {
		t.Fatalf("lag %d of a replica online for a moment: %s", lag, s)
	}
	nc.Write([]byte("REPLCONF ACK 100\r\nREPLCONF ACK 50\r\n"))
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(slave(), "offset=100,") {
		if time.Now().After(deadline) {
			t.Fatalf("after ACK 100 and ACK 50: %s", slave())
		}
		time.Sleep(10 * time.Millisecond)
	}
	nc.Write([]byte("REPLCONF ACK 40\r\n"))
	time.Sleep(50 * time.Millisecond) // both lower ACKs read by now
	if s := slave(); !strings.Contains(s, "offset=100,") {
		t.Fatalf("a lower ACK moved the offset back: %s", s)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}
