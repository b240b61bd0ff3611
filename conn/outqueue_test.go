package conn

import (
	"context"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Output buffers that grow as in Redis: a client that pipelines and does
// not read keeps being served, its replies queue up (omem, counted in the
// clients' memory), and client-output-buffer-limit and maxmemory-clients
// bound them. Before, the connection blocked in its socket write and held
// one segment's replies at most.

// slowReader dials addr with a small receive buffer, so that the kernel
// takes little of what the server sends, and names the connection.
func slowReader(t *testing.T, addr, name string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return nil
	}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(nc, resp("CLIENT", "SETNAME", name))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "+OK\r\n" {
		t.Fatalf("CLIENT SETNAME: %q %v", buf, err)
	}
	return nc
}

// clientLineOf returns the CLIENT LIST line of the client named name, or
// nil if there is none.
func clientLineOf(t *testing.T, rdb *redis.Client, name string) map[string]string {
	t.Helper()
	for _, m := range clientTestParse(t, rdb.ClientList(context.Background()).Val()) {
		if m["name"] == name {
			return m
		}
	}
	return nil
}

// growOmem sends GETs of a large value in separate writes, never reading,
// until the client's omem passes want; it reports whether it did within
// the time allowed (the connection may be closed on the way).
func growOmem(t *testing.T, rdb *redis.Client, nc net.Conn, name string, want int) bool {
	t.Helper()
	get := resp("GET", "big")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if _, err := io.WriteString(nc, strings.Repeat(get, 4)); err != nil {
			return false
		}
		time.Sleep(2 * time.Millisecond)
		m := clientLineOf(t, rdb, name)
		if m == nil {
			return false
		}
		if n, _ := strconv.Atoi(m["omem"]); n > want {
			return true
		}
	}
	return false
}

func waitGone(t *testing.T, rdb *redis.Client, name string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if clientLineOf(t, rdb, name) == nil {
			return
		}
	}
	t.Fatalf("client %s still connected after %v: %v", name, within, clientLineOf(t, rdb, name))
}

func TestNonReadingClientOutputGrows(t *testing.T) {
	srv, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	admin.Set(ctx, "big", strings.Repeat("x", 100<<10), 0)
	base := srv.clientMemory()

	nc := slowReader(t, addr, "slow")
	if !growOmem(t, admin, nc, "slow", 4<<20) {
		t.Fatalf("omem never passed 4 MB: %v", clientLineOf(t, admin, "slow"))
	}
	if m := srv.clientMemory(); m < base+4<<20 {
		t.Fatalf("client memory %d, want 4 MB above %d", m, base)
	}
	// The client is still served: its replies all come, in order.
	m := clientLineOf(t, admin, "slow")
	if tot, omem := fieldInt(t, m, "tot-mem"), fieldInt(t, m, "omem"); tot < omem {
		t.Fatalf("tot-mem %d < omem %d", tot, omem)
	}
	nc.Close()
	waitGone(t, admin, "slow", 5*time.Second)
	waitFor(t, func() bool { return srv.clientMemory() < base+1<<20 })
}

// The hard limit closes a client whose queued replies pass it.
func TestNonReadingClientHardLimit(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	admin.Set(ctx, "big", strings.Repeat("x", 100<<10), 0)
	admin.ConfigSet(ctx, "client-output-buffer-limit", "normal 2mb 0 0")
	nc := slowReader(t, addr, "slow")
	if growOmem(t, admin, nc, "slow", 3<<20) {
		t.Fatal("omem passed 3 MB under a 2 MB hard limit")
	}
	waitGone(t, admin, "slow", 5*time.Second)
	if n := infoLine(t, admin, "stats", "client_output_buffer_limit_disconnections"); n != "1" {
		t.Fatalf("client_output_buffer_limit_disconnections = %s", n)
	}
}

// All the replies of one read count toward the limit, as Redis sends
// them only after running the read's commands: a pipeline whose replies
// pass the hard limit together gets nothing, even though each one is
// small and they go to several shards.
func TestPipelineRepliesCountTogether(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	admin.Set(ctx, "bigkey", strings.Repeat("x", 10000), 0)
	admin.ConfigSet(ctx, "client-output-buffer-limit", "normal 100000 0 0")
	nc, br := dialBuffered(t, addr)
	var b strings.Builder
	for i := range 15 {
		k := strconv.Itoa(i)
		b.WriteString(resp("SET", k, k) + resp("GET", k) + resp("DEL", k) + resp("GET", "bigkey"))
	}
	io.WriteString(nc, b.String())
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("read %d bytes (%v), want none and the connection closed", n, err)
	}
}

// The soft limit closes a client that stays above it for longer than its
// seconds even when nothing more is sent: the cron checks it.
func TestNormalSoftLimitWithoutTraffic(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	admin.Set(ctx, "big", strings.Repeat("x", 100<<10), 0)
	admin.ConfigSet(ctx, "client-output-buffer-limit", "normal 0 1mb 1")
	nc := slowReader(t, addr, "slow")
	if !growOmem(t, admin, nc, "slow", 1<<20) {
		t.Fatal("omem never passed the soft limit")
	}
	// No more commands: the cron closes it in 1 to 2 seconds.
	waitGone(t, admin, "slow", 4*time.Second)
}

func TestPubsubSoftLimitWithoutTraffic(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	admin.ConfigSet(ctx, "client-output-buffer-limit", "pubsub 0 100000 1")
	nc := slowReader(t, addr, "sub")
	io.WriteString(nc, resp("SUBSCRIBE", "ch"))
	waitFor(t, func() bool { m := clientLineOf(t, admin, "sub"); return m != nil && m["sub"] == "1" })
	// Well above the limit, so that the kernel's buffers cannot take
	// the queue below it once publishing stops.
	msg := strings.Repeat("x", 10000)
	for deadline := time.Now().Add(10 * time.Second); ; {
		admin.Publish(ctx, "ch", msg)
		m := clientLineOf(t, admin, "sub")
		if m == nil {
			t.Fatal("closed before the soft limit's seconds")
		}
		if fieldInt(t, m, "omem") > 2<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("omem never passed the soft limit")
		}
	}
	waitGone(t, admin, "sub", 4*time.Second)
}

// maxmemory-clients closes the client holding the most, not a CLIENT
// NO-EVICT one, and counts it in INFO evicted_clients.
func TestMaxmemoryClientsEvictsBiggest(t *testing.T) {
	srv, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	admin.Do(ctx, "CLIENT", "NO-EVICT", "on")
	admin.Set(ctx, "big", strings.Repeat("x", 100<<10), 0)

	keep := slowReader(t, addr, "keep")
	io.WriteString(keep, resp("CLIENT", "NO-EVICT", "on"))
	if !growOmem(t, admin, keep, "keep", 3<<20) {
		t.Fatal("no-evict client: omem never passed 3 MB")
	}
	small := slowReader(t, addr, "small")
	big := slowReader(t, addr, "big")
	if !growOmem(t, admin, big, "big", 1<<20) {
		t.Fatal("omem never passed 1 MB")
	}
	if err := admin.ConfigSet(ctx, "maxmemory-clients", strconv.FormatInt(srv.clientMemory()-256<<10, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, admin, "big", 5*time.Second)
	if clientLineOf(t, admin, "keep") == nil || clientLineOf(t, admin, "small") == nil {
		t.Fatalf("evicted more than the biggest evictable client:\n%s", admin.ClientList(ctx).Val())
	}
	if n := infoLine(t, admin, "stats", "evicted_clients"); n != "1" {
		t.Fatalf("evicted_clients = %s", n)
	}
	small.Close()
	keep.Close()

	// A percentage of maxmemory.
	admin.ConfigSet(ctx, "maxmemory-clients", "0")
	admin.ConfigSet(ctx, "maxmemory", "100mb")
	admin.ConfigSet(ctx, "maxmemory-clients", "5%")
	if l := srv.cmem.limit.Load(); l != 5<<20 {
		t.Fatalf("limit for 5%% of 100mb = %d", l)
	}
	admin.ConfigSet(ctx, "maxmemory-clients", "0")
	admin.ConfigSet(ctx, "maxmemory", "0")
}

// A command still arriving is client memory: a client that sent "*250"
// and 249 arguments of 1000 bytes holds about 250 KB until it leaves.
func TestClientMemoryPartialMultibulk(t *testing.T) {
	srv, addr := startServer(t, 8)
	admin := newClient2(t, addr, 2)
	admin.Ping(context.Background())
	base := srv.clientMemory()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	arg := "$1000\r\n" + strings.Repeat("x", 1000) + "\r\n"
	io.WriteString(nc, "*250\r\n")
	for range 249 {
		io.WriteString(nc, arg)
	}
	waitFor(t, func() bool { return srv.clientMemory() >= base+240000 })
	nc.Close()
	waitFor(t, func() bool { return srv.clientMemory() < base+20000 })
}

// Eviction stops as soon as the clients' total is below the limit: with
// ten clients of about 1 MB each and room for five, five are left.
func TestMaxmemoryClientsEvictsOnlyUntilBelow(t *testing.T) {
	srv, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	admin.Do(ctx, "CLIENT", "SETNAME", "control")
	admin.Do(ctx, "CLIENT", "NO-EVICT", "on")
	const n, size = 10, 1 << 20
	maxMem := 0
	for j := range n {
		name := "client" + strconv.Itoa(j)
		nc := slowReader(t, addr, name)
		io.WriteString(nc, "*2\r\n$"+strconv.Itoa(size)+"\r\n"+strings.Repeat("v", size))
		waitFor(t, func() bool { m := clientLineOf(t, admin, name); return m != nil && fieldInt(t, m, "tot-mem") >= size })
		maxMem = max(maxMem, fieldInt(t, clientLineOf(t, admin, name), "tot-mem"))
	}
	control := fieldInt(t, clientLineOf(t, admin, "control"), "tot-mem")
	limit := maxMem*n/2 + control
	admin.ConfigSet(ctx, "maxmemory-clients", strconv.Itoa(limit))
	left, sum := 0, 0
	for _, m := range clientTestParse(t, admin.ClientList(ctx).Val()) {
		if strings.HasPrefix(m["name"], "client") {
			left++
		}
		sum += fieldInt(t, m, "tot-mem")
	}
	if left != n/2 {
		t.Fatalf("%d clients left, want %d (limit %d, tot-mem sum %d, total %d)", left, n/2, limit, sum, srv.clientMemory())
	}
	admin.ConfigSet(ctx, "maxmemory-clients", "0")
}

// Eviction goes from the largest clients to the smallest: lowering the
// limit step by step evicts one size class at a time.
func TestMaxmemoryClientsEvictsLargestFirst(t *testing.T) {
	srv, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	admin.Do(ctx, "CLIENT", "SETNAME", "control")
	admin.Do(ctx, "CLIENT", "NO-EVICT", "on")
	sizes := []int{128 << 10, 1 << 20, 3 << 20}
	groups := make([]int, len(sizes)) // each group's tot-mem, all three read in full
	total := 0
	for i, size := range sizes {
		name := "client-" + strconv.Itoa(i)
		for range 3 {
			nc := slowReader(t, addr, name)
			io.WriteString(nc, "*2\r\n$"+strconv.Itoa(size)+"\r\n"+strings.Repeat("v", size))
		}
		// Wait until the server has read every byte of all three: a
		// query buffer still growing would make the group's sum wrong.
		deadline := time.Now().Add(10 * time.Second)
		for {
			read, sum := 0, 0
			for _, m := range clientTestParse(t, admin.ClientList(ctx).Val()) {
				if m["name"] == name && fieldInt(t, m, "tot-mem") >= size {
					read++
					sum += fieldInt(t, m, "tot-mem")
				}
			}
			if read == 3 {
				groups[i] = sum
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of 3 clients read their %d bytes", name, read, size)
			}
			time.Sleep(10 * time.Millisecond)
		}
		sizes[i] = groups[i] / 3
		total += groups[i]
	}
	for k := len(sizes) - 1; k >= 0; k-- {
		control := fieldInt(t, clientLineOf(t, admin, "control"), "tot-mem")
		total -= groups[k]
		// Half the smallest client of slack: the buffers of the control
		// connection's own commands come and go, and no client is
		// smaller, so exactly the groups from k on must go.
		limit := total + control + sizes[0]/2
		admin.ConfigSet(ctx, "maxmemory-clients", strconv.Itoa(limit))
		list := clientTestParse(t, admin.ClientList(ctx).Val())
		for i := range sizes {
			count := 0
			for _, m := range list {
				if m["name"] == "client-"+strconv.Itoa(i) {
					count++
				}
			}
			want := 3
			if i >= k {
				want = 0
			}
			if count != want {
				t.Fatalf("limit %d (control %d, total %d): %d clients of size %d left, want %d\n%s", limit, control, srv.clientMemory(), count, sizes[i], want, admin.ClientList(ctx).Val())
			}
		}
	}
	admin.ConfigSet(ctx, "maxmemory-clients", "0")
}

// HRANDFIELD, SRANDMEMBER and ZRANDMEMBER with a huge negative count stop
// drawing once the reply passes the client's hard output limit, which
// then closes the client: they used to build the whole reply first
// (20 million draws: over 100 MB each).
func TestRandomCountStopsAtOutputLimit(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	admin.ConfigSet(ctx, "client-output-buffer-limit", "normal 1mb 0 0")
	admin.HSet(ctx, "h", "a", "b")
	admin.SAdd(ctx, "s", "a")
	admin.ZAdd(ctx, "z", redis.Z{Score: 1, Member: "a"})
	for _, cmd := range [][]any{{"HRANDFIELD", "h", "-20000000"}, {"SRANDMEMBER", "s", "-20000000"}, {"ZRANDMEMBER", "z", "-20000000"}} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		if err := c.Do(ctx, cmd...).Err(); err == nil {
			t.Fatalf("%v: no error past the hard limit", cmd)
		}
		c.Close()
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 32<<20 {
			t.Fatalf("%v allocated %d MB before the limit stopped it", cmd, d>>20)
		}
	}
	if err := admin.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}
