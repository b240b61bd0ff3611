package conn

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// slowStartupLoad writes an RDB of 3000 uncompressed keys of 1000 bytes,
// then starts a server on it that loads it for about three seconds (a
// millisecond a key), with an event point every 100 KB (about every 100
// ms), and returns its address once the load runs. The load is cut short
// when the test ends.
func slowStartupLoad(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	w := startPersistServer(t, 2, dir, "rdbcompression", "no")
	c := newClient2(t, w.addr, 2)
	ctx := context.Background()
	if err := c.Do(ctx, "DEBUG", "POPULATE", "3000", "key", "1000").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	w.stop()

	cfg := config.New()
	if err := cfg.Load("dir", dir, "save", "", "key-load-delay", "1000",
		"loading-process-events-interval-bytes", "102400"); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Shards: 2, Config: cfg, Persistent: true})
	srv.BeginLoading()
	served, loaded := make(chan error, 1), make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	go func() { loaded <- srv.LoadAtStartup() }()
	t.Cleanup(func() {
		cfg.Set("key-load-delay", "0")
		if err := <-loaded; err != nil {
			t.Errorf("load: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
	})
	time.Sleep(200 * time.Millisecond) // well into the load
	if !srv.persist.loading.Load() {
		t.Fatal("the load is not running")
	}
	return l.Addr().String()
}

// Redis answers every command of a pipeline that arrived during a load at
// the same event point: processEventsWhileBlocked reads them all and
// refuses each (redis-server 7.0.15 on this file: eight pipelined GETs
// answered -LOADING together after 0.11 s, a point). A connection here
// waited for one more point per command, and the points came each 1 MB
// the file was read ahead, not each interval of it loaded: 1.9 s.
func TestLoadingRefusesAPipelineAtOnePoint(t *testing.T) {
	addr := slowStartupLoad(t)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	for round := 0; round < 2; round++ {
		start := time.Now()
		nc.Write([]byte(strings.Repeat("GET k\r\n", 8)))
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		for i := 0; i < 8; i++ {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(line, "-LOADING") {
				t.Fatalf("round %d, GET %d: %q, want -LOADING", round, i, line)
			}
		}
		// A point comes every 100 ms or so: one is waited for, not eight.
		if d := time.Since(start); d > 600*time.Millisecond {
			t.Fatalf("round %d: 8 pipelined GETs answered in %v, want at the next event point", round, d)
		}
	}
	// A command read after that point waits for the next, as in Redis,
	// whose event point has read what had come by then.
	start := time.Now()
	nc.Write([]byte("GET k\r\n"))
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "-LOADING") {
		t.Fatalf("GET after the pipeline: %q, %v", line, err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("a GET read after the event point was answered in %v, at that point", d)
	}
}

// Connections waiting for a load's next event point sleep until it comes:
// five hundred of them cost next to no CPU, where polling each millisecond
// took a quarter of a core.
func TestLoadingWaitersDoNotPoll(t *testing.T) {
	srv, addr := startServer(t, 2)
	const n = 500
	conns := make([]net.Conn, n)
	for i := range conns {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		conns[i] = nc
	}
	time.Sleep(100 * time.Millisecond) // every connection is served
	p := &srv.persist
	p.loading.Store(true)
	defer p.loading.Store(false)
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	before, start := cpu(), time.Now()
	var wg sync.WaitGroup
	for _, nc := range conns {
		wg.Add(1)
		go func(nc net.Conn) {
			defer wg.Done()
			nc.Write([]byte("GET k\r\n"))
			b := make([]byte, 64)
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			nc.Read(b)
		}(nc)
	}
	wg.Wait()
	wall, used := time.Since(start), cpu()-before
	if wall < loadTurnMax*9/10 {
		t.Fatalf("the refused GETs were answered in %v, want after waiting %v", wall, loadTurnMax)
	}
	if used > 120*time.Millisecond {
		t.Fatalf("%d connections waiting %v for a load took %v of CPU", n, wall, used)
	}
}

// An AOF load has event points too, every 1024 commands as Redis's
// loadSingleAppendOnlyFile serves its clients: a command refused meanwhile
// waited the whole second, for bytes that an AOF load never counted.
func TestLoadingAOFHasEventPoints(t *testing.T) {
	p := startPersistServer(t, 2, t.TempDir(), "appendonly", "yes", "aof-use-rdb-preamble", "no")
	c := newClient2(t, p.addr, 2)
	ctx := context.Background()
	pipe := c.Pipeline()
	for i := 0; i < 5000; i++ {
		pipe.Set(ctx, "k"+strconv.Itoa(i), "v", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	before := p.srv.persist.loading.points.Load()
	if err := c.Do(ctx, "DEBUG", "LOADAOF").Err(); err != nil {
		t.Fatal(err)
	}
	if n := c.DBSize(ctx).Val(); n != 5000 {
		t.Fatalf("DBSIZE %d after DEBUG LOADAOF", n)
	}
	// Its start and end, and one for each 1024 commands.
	if got := p.srv.persist.loading.points.Load() - before; got < 2+5000/1024 {
		t.Fatalf("the AOF load marked %d event points, want at least %d", got, 2+5000/1024)
	}
}
