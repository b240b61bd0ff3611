package conn

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestStress is a randomized stress test: many clients on an 8-shard
// server run a random mix of pipelines, blocking pops and moves (some with
// pipelined follow-ups sent while blocked, on raw connections), moves
// across shards, MULTI/EXEC, WATCH, scripts, SCAN while keys come and go,
// short TTLs, CLIENT UNBLOCK and abrupt disconnects, and check:
//
//	(a) every pushed element is popped exactly once: elements carry unique
//	    ids, and at the end the pops plus what is left must be exactly
//	    the pushes (nothing lost, duplicated or invented);
//	(b) a full SCAN / HSCAN / SSCAN / ZSCAN cycle returns every key or
//	    member that existed before the cycle began and is never deleted;
//	(c) every request is answered exactly once and in order (unique ECHO
//	    tokens and per-client counters interleaved in every pipeline);
//	(d) the server is alive at the end and logged no error (a recovered
//	    panic is a bug), expired keys go away (active expiry keeps up with
//	    a burst of keys nobody reads), and the heap (or the standalone
//	    server's VmRSS) comes back near its level before the run, also
//	    while idle connections that moved 16 MiB values stay open.
//
// A hang is a failure, not a go test timeout: every request has a
// deadline, and a request that misses it is reported with what the
// client was doing, its recent operations and the server's CLIENT LIST
// line for it; clients still busy well after the end are dumped with
// CLIENT LIST and all goroutine stacks.
//
// The default run is short and runs in `go test`. A long run:
//
//	go test ./conn -run TestStress -stress.duration=30m   (or `just soak`)
//
// Each run logs its seed; -stress.seed replays the same random choices
// (the interleaving of clients still differs). -stress.addr runs against a
// standalone server instead (it is flushed!), and -stress.pid names its
// process so that its VmRSS is checked.
var (
	stressDuration = flag.Duration("stress.duration", 3*time.Second, "how long TestStress runs its load")
	stressSeed     = flag.Int64("stress.seed", 0, "TestStress random seed (0: from the clock)")
	stressClients  = flag.Int("stress.clients", 16, "TestStress client count")
	stressAddr     = flag.String("stress.addr", "", "run TestStress against this standalone server (FLUSHALL!) instead of an in-process one")
	stressPID      = flag.Int("stress.pid", 0, "with -stress.addr: the server's pid, to check its VmRSS")
	stressShards   = flag.Int("stress.shards", 8, "shards of the in-process server")
	stressMaxMem   = flag.Int("stress.maxmem", 64, "bound in MiB on the growth of the in-process heap (or the standalone server's VmRSS) over the run, measured after everything was deleted")
)

const (
	stressQueues    = 8 // que:00..07 lists, zq:00..07 zsets, sq:00..07 sets
	stressOpTimeout = 15 * time.Second
	stressSlack     = 10 * time.Second // how late a blocking reply may be
	stressMaxStable = 20000            // stop adding stable keys beyond this
)

// stressRun is the shared state of one run.
type stressRun struct {
	t      *testing.T
	addr   string
	seed   int64
	load   context.Context // done when the load phase ends or something failed
	stop   context.CancelFunc
	nfail  atomic.Int32
	over   atomic.Bool // TestStress has returned
	kindMu sync.Mutex
	kinds  map[string]int
	end    time.Time // planned end of the load phase

	workers []*stressWorker

	// (a) the element ledger
	// Element ids are "e<worker>-<seq>"; marks[worker][seq] holds bit 0
	// "pushed" and in the bits above the number of pops, and firstPop the
	// worker that popped it first. Compact, so that long runs fit.
	ledgerMu sync.Mutex
	marks    [][]uint8
	firstPop [][]uint8
	npushed  int
	npopped  int
	inflight atomic.Int64 // pushed minus popped, for back-pressure
	tmpMu    sync.Mutex
	tmpKeys  map[string]bool // RENAME destinations that may still hold elements

	// (b) stable keys and members: appended only, never deleted
	stableMu sync.Mutex
	stable   map[string][]string // "" for keys, else the collection key

	// raw connections CLIENT UNBLOCK may target
	baseRSS uint64 // standalone server's VmRSS before the run

	rawMu  sync.Mutex
	rawIDs map[int64]string
}

// fail reports a broken invariant. kind groups failures of one sort (the
// format string of the report): the first two of each kind are shown and
// the rest counted, and the load goes on so that every invariant is
// exercised for the whole run.
func (s *stressRun) fail(kind, msg string) {
	if s.over.Load() {
		return // a worker left behind after a hang: the test has ended
	}
	s.nfail.Add(1)
	s.kindMu.Lock()
	s.kinds[kind]++
	n := s.kinds[kind]
	s.kindMu.Unlock()
	if n <= 2 {
		s.t.Errorf("stress seed=%d: %s", s.seed, msg)
	}
}

// parseID splits an element id into its worker and sequence number.
func parseID(id string) (wid, seq int, ok bool) {
	if len(id) < 4 || id[0] != 'e' {
		return 0, 0, false
	}
	ws, ss, found := strings.Cut(id[1:], "-")
	if !found {
		return 0, 0, false
	}
	wid, err1 := strconv.Atoi(ws)
	seq, err2 := strconv.Atoi(ss)
	if err1 != nil || err2 != nil || wid < 0 || seq <= 0 || strconv.Itoa(wid) != ws || strconv.Itoa(seq) != ss {
		return 0, 0, false
	}
	return wid, seq, true
}

// isID reports whether s is a well-formed element id.
func isID(s string) bool {
	_, _, ok := parseID(s)
	return ok
}

// mark returns the ledger entries of an id, growing them as needed; nil
// for a malformed id or an unknown worker. Call with ledgerMu held.
func (s *stressRun) mark(id string) (m *uint8, first *uint8) {
	wid, seq, ok := parseID(id)
	if !ok || wid >= len(s.marks) || seq > 1<<28 {
		return nil, nil
	}
	for len(s.marks[wid]) <= seq {
		s.marks[wid] = append(s.marks[wid], make([]uint8, max(1024, len(s.marks[wid])))...)
		s.firstPop[wid] = append(s.firstPop[wid], make([]uint8, len(s.marks[wid])-len(s.firstPop[wid]))...)
	}
	return &s.marks[wid][seq], &s.firstPop[wid][seq]
}

func (s *stressRun) recordPushed(w *stressWorker, ids ...string) {
	s.ledgerMu.Lock()
	var bad []string
	for _, id := range ids {
		m, _ := s.mark(id)
		if m == nil || *m&1 != 0 {
			bad = append(bad, id)
			continue
		}
		*m |= 1
		s.npushed++
	}
	s.ledgerMu.Unlock()
	s.inflight.Add(int64(len(ids)))
	for _, id := range bad {
		w.failf("test bug: id %s pushed twice or malformed", id)
	}
}

// recordPopped notes ids popped by w, and reports at once an id popped
// twice or one that is not an element id.
func (s *stressRun) recordPopped(w *stressWorker, op string, ids ...string) {
	s.ledgerMu.Lock()
	var msgs []string
	for _, id := range ids {
		m, first := s.mark(id)
		if m == nil {
			msgs = append(msgs, fmt.Sprintf("%s returned %q, which is not an element id", op, stressShort(id)))
			continue
		}
		if *m>>1 >= 1 {
			msgs = append(msgs, fmt.Sprintf("%s popped %s, which %s had popped already", op, id, s.workers[*first].name))
		} else {
			*first = uint8(w.id)
		}
		if *m < 0xfe {
			*m += 2
		}
		s.npopped++
	}
	s.ledgerMu.Unlock()
	s.inflight.Add(-int64(len(ids)))
	for _, msg := range msgs {
		w.failf("%s", msg)
	}
}

func (s *stressRun) addStable(coll string, names ...string) {
	s.stableMu.Lock()
	s.stable[coll] = append(s.stable[coll], names...)
	s.stableMu.Unlock()
}

func (s *stressRun) stableSnapshot(coll string) []string {
	s.stableMu.Lock()
	defer s.stableMu.Unlock()
	return s.stable[coll][:len(s.stable[coll]):len(s.stable[coll])]
}

func (s *stressRun) stableCount(coll string) int {
	s.stableMu.Lock()
	defer s.stableMu.Unlock()
	return len(s.stable[coll])
}

// stressWorker is one client goroutine with its own random source and a
// record of what it is doing, for failure reports and hang dumps.
type stressWorker struct {
	s    *stressRun
	id   int
	name string
	rng  *rand.Rand
	seq  int

	cid  atomic.Int64 // the server's id of its current connection
	mu   sync.Mutex
	op   string
	opAt time.Time
	hist [24]string
	nh   int
	done bool
}

// begin records the operation the worker starts now.
func (w *stressWorker) begin(op string) {
	w.mu.Lock()
	w.op, w.opAt = op, time.Now()
	w.hist[w.nh%len(w.hist)] = time.Now().Format("15:04:05.000") + " " + op
	w.nh++
	w.mu.Unlock()
}

func (w *stressWorker) recent() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for i := max(0, w.nh-len(w.hist)); i < w.nh; i++ {
		b.WriteString("    ")
		b.WriteString(w.hist[i%len(w.hist)])
		b.WriteByte('\n')
	}
	return b.String()
}

func (w *stressWorker) state() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return w.name + ": done"
	}
	return fmt.Sprintf("%s: in %q for %v", w.name, w.op, time.Since(w.opAt).Round(time.Millisecond))
}

func (w *stressWorker) failf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	extra := ""
	if strings.Contains(msg, "timeout") || strings.Contains(msg, "timed out") || strings.Contains(msg, "deadline exceeded") {
		extra = "\n  the server's view: " + stressClientInfo(w.s.addr, w.cid.Load())
	}
	w.s.fail(format, fmt.Sprintf("%s: %s\n  during: %s%s\n  recent ops of %s:\n%s", w.name, msg, w.currentOp(), extra, w.name, w.recent()))
}

// stressClientInfo returns the server's CLIENT LIST line for a client id,
// taken on a fresh connection.
func stressClientInfo(addr string, id int64) string {
	if id == 0 {
		return "(client id unknown)"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: 3 * time.Second, ContextTimeoutEnabled: true})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	list, err := rdb.ClientList(ctx).Result()
	if err != nil {
		return "CLIENT LIST failed: " + err.Error()
	}
	for _, line := range strings.Split(list, "\n") {
		if strings.HasPrefix(line, "id="+strconv.FormatInt(id, 10)+" ") {
			return line
		}
	}
	return "client id=" + strconv.FormatInt(id, 10) + " is not in CLIENT LIST"
}

func (w *stressWorker) currentOp() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.op
}

func (w *stressWorker) running() bool { return w.s.load.Err() == nil }

func (w *stressWorker) next() string {
	w.seq++
	return strconv.Itoa(w.seq)
}

// newID returns a fresh element id: unique in the run.
func (w *stressWorker) newID() string { return "e" + strconv.Itoa(w.id) + "-" + w.next() }

func (w *stressWorker) token() string { return "tok" + strconv.Itoa(w.id) + "-" + w.next() }

// pipedEcho queues an ECHO of a fresh token on pipe, notes it in desc,
// and returns the check that its reply is that token (so in order).
func (w *stressWorker) pipedEcho(ctx context.Context, pipe redis.Pipeliner, desc *strings.Builder) func() {
	tok := w.token()
	c := pipe.Echo(ctx, tok)
	fmt.Fprintf(desc, " ECHO %s;", tok)
	return func() {
		if c.Val() != tok {
			w.failf("reply out of order: ECHO %s = %q, %v", tok, c.Val(), c.Err())
		}
	}
}

func (w *stressWorker) queue() string { return stressQueue("que:", w.rng.Intn(stressQueues)) }

func stressQueue(prefix string, i int) string {
	return prefix + strconv.Itoa(i/10) + strconv.Itoa(i%10)
}

func (w *stressWorker) opctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), stressOpTimeout)
}

// client returns a go-redis client with a single connection, whose id
// failure reports use.
func (w *stressWorker) client() *redis.Client {
	proto := 2 + w.rng.Intn(2)
	rdb := redis.NewClient(&redis.Options{
		Addr: w.s.addr, Protocol: proto, PoolSize: 1, MaxRetries: -1,
		ReadTimeout: stressOpTimeout, WriteTimeout: stressOpTimeout, DialTimeout: 5 * time.Second,
		ContextTimeoutEnabled: true, DisableIdentity: w.rng.Intn(2) == 0,
		OnConnect: func(ctx context.Context, cn *redis.Conn) error {
			id, err := cn.ClientID(ctx).Result()
			w.cid.Store(id)
			return err
		},
	})
	return rdb
}

// secs formats a blocking timeout in seconds.
func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

func (w *stressWorker) blockTimeout() time.Duration {
	return time.Duration(10+w.rng.Intn(300)) * time.Millisecond
}

func TestStress(t *testing.T) {
	seed := *stressSeed
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000_000
	}
	dur := *stressDuration
	if dl, ok := t.Deadline(); ok {
		// Leave room for the final phases (drain, expiry, memory) and the
		// hang timeouts, so a problem is a failure, not a test timeout.
		if room := time.Until(dl) - 90*time.Second; room < dur {
			dur = max(room, time.Second)
			fmt.Fprintf(os.Stderr, "TestStress: -stress.duration shortened to %v to fit the test deadline (use -timeout 0)\n", dur)
		}
	}
	replay := fmt.Sprintf("-stress.seed=%d -stress.duration=%v -stress.clients=%d -stress.shards=%d", seed, dur, *stressClients, *stressShards)
	if *stressAddr != "" {
		replay += " -stress.addr=" + *stressAddr
	}
	t.Logf("stress: seed=%d duration=%v clients=%d (replay: go test ./conn -run 'TestStress$' %s)", seed, dur, *stressClients, replay)

	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)

	addr := *stressAddr
	var slog *stressLog
	if addr == "" {
		slog, addr = stressStartServer(t, *stressShards)
	}
	s := &stressRun{t: t, addr: addr, seed: seed,
		tmpKeys: map[string]bool{}, kinds: map[string]int{}, stable: map[string][]string{}, rawIDs: map[int64]string{}}
	admin := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: stressOpTimeout, ContextTimeoutEnabled: true})
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if *stressAddr != "" {
		if err := admin.FlushAll(ctx).Err(); err != nil {
			t.Fatalf("FLUSHALL: %v", err)
		}
	}
	stressSetup(t, s, admin, rand.New(rand.NewSource(seed)))
	if *stressPID != 0 {
		rss, err := stressVmRSS(*stressPID)
		if err != nil {
			t.Fatalf("VmRSS of -stress.pid: %v", err)
		}
		s.baseRSS = rss
	}

	s.load, s.stop = context.WithCancel(context.Background())
	defer s.over.Store(true)
	s.end = time.Now().Add(dur)
	timer := time.AfterFunc(dur, s.stop)
	defer timer.Stop()
	defer s.stop()

	roles := stressRoles(*stressClients)
	s.marks, s.firstPop = make([][]uint8, len(roles)), make([][]uint8, len(roles))
	for i, role := range roles {
		s.workers = append(s.workers, &stressWorker{s: s, id: i, name: fmt.Sprintf("%s#%d", role.name, i),
			rng: rand.New(rand.NewSource(seed*1000 + int64(i)))})
	}
	var wg sync.WaitGroup
	for i, role := range roles {
		w := s.workers[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				w.mu.Lock()
				w.done = true
				w.mu.Unlock()
			}()
			role.run(w)
		}()
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	// Wait for the load to end, then release blocked raw clients until
	// every worker has returned; a worker still busy long after is a hang.
	<-s.load.Done()
	hang := time.NewTimer(stressOpTimeout + stressSlack + 5*time.Second)
	defer hang.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	waiting := true
	for waiting {
		select {
		case <-allDone:
			waiting = false
		case <-tick.C:
			s.rawMu.Lock()
			ids := make([]int64, 0, len(s.rawIDs))
			for id := range s.rawIDs {
				ids = append(ids, id)
			}
			s.rawMu.Unlock()
			for _, id := range ids {
				uctx, ucancel := context.WithTimeout(context.Background(), time.Second)
				admin.ClientUnblock(uctx, id)
				ucancel()
			}
		case <-hang.C:
			stressDumpHang(t, s, admin)
			return
		}
	}
	ops := 0
	for _, w := range s.workers {
		ops += w.nh
	}
	t.Logf("stress: %d operations by %d clients in %v; %d elements pushed", ops, len(roles), dur, s.npushed)

	// (d) alive: PING from a fresh connection.
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fresh := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: 5 * time.Second, ContextTimeoutEnabled: true})
	defer fresh.Close()
	if got, err := fresh.Ping(ctx).Result(); err != nil || got != "PONG" {
		t.Fatalf("stress seed=%d: server not alive after the run: PING = %q, %v", seed, got, err)
	}
	s.kindMu.Lock()
	for kind, n := range s.kinds {
		if n > 2 {
			t.Logf("stress: %d failures of the kind %q (2 shown)", n, kind)
		}
	}
	s.kindMu.Unlock()
	var phases []string
	phase := func(name string, since time.Time) {
		phases = append(phases, fmt.Sprintf("%s %v", name, time.Since(since).Round(10*time.Millisecond)))
	}
	phase("stop", s.end)
	t1 := time.Now()
	stressCheckLedger(t, s, admin)
	if err := admin.FlushAll(ctx).Err(); err != nil {
		t.Errorf("FLUSHALL: %v", err)
	}
	phase("ledger", t1)
	t1 = time.Now()
	stressCheckExpiry(t, s, admin)
	admin.Close()
	fresh.Close()
	phase("expiry", t1)
	t1 = time.Now()
	after := stressCheckMemory(t, s, base, *stressMaxMem, "after the run, FLUSHALL and the expiry burst")
	big := stressBigValues(t, s)
	// Each of these connections held 16 MiB buffers a moment ago; now
	// idle, they must let them go (not more than one stays).
	idleBase := base
	if after != 0 {
		idleBase = runtime.MemStats{HeapInuse: after}
	}
	stressCheckMemory(t, s, idleBase, 24, fmt.Sprintf("with %d idle connections open that wrote and read 16 MiB values", len(big)))
	for _, rdb := range big {
		rdb.Close()
	}
	phase("memory", t1)
	if slog != nil {
		slog.check(t, seed)
	}
	t.Logf("stress: after the load: %s", strings.Join(phases, ", "))
	if t.Failed() {
		t.Logf("stress: FAILED with seed=%d; replay with %s", seed, replay)
	}
}

type stressRole struct {
	name string
	run  func(*stressWorker)
}

// stressRoles splits n clients into roles.
func stressRoles(n int) []stressRole {
	n = max(n, 8)
	count := map[string]int{
		"unblocker": 1,
		"dropper":   max(1, n/16),
		"scanner":   max(1, n/8),
		"churner":   max(1, n/8),
		"blocker":   max(1, 3*n/16),
		"producer":  max(1, 3*n/16),
	}
	used := 0
	for _, c := range count {
		used += c
	}
	count["consumer"] = max(1, n-used)
	runs := map[string]func(*stressWorker){
		"unblocker": stressUnblocker, "dropper": stressDropper, "scanner": stressScanner,
		"churner": stressChurner, "blocker": stressBlocker, "producer": stressProducer, "consumer": stressConsumer,
	}
	var roles []stressRole
	// Interleave the roles so that a smaller -stress.clients keeps them all.
	for left := true; left; {
		left = false
		for _, name := range []string{"producer", "consumer", "blocker", "scanner", "churner", "dropper", "unblocker"} {
			if count[name] > 0 {
				count[name]--
				roles = append(roles, stressRole{name, runs[name]})
				left = true
			}
		}
	}
	return roles
}

// stressSetup creates the stable keys and collections and the string key
// that blocking moves sometimes target (WRONGTYPE).
func stressSetup(t *testing.T, s *stressRun, rdb *redis.Client, rng *rand.Rand) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pipe := rdb.Pipeline()
	var keys []string
	for i := 0; i < 300; i++ {
		k := "stb:" + strconv.Itoa(i)
		keys = append(keys, k)
		switch rng.Intn(4) {
		case 0:
			pipe.HSet(ctx, k, "f", "v")
		case 1:
			pipe.SAdd(ctx, k, "m")
		default:
			pipe.Set(ctx, k, "v"+strconv.Itoa(i), 0)
		}
	}
	var hs, ss, zs []string
	for i := 0; i < 200; i++ {
		f := "sf:" + strconv.Itoa(i)
		pipe.HSet(ctx, "hs:0", f, "v")
		pipe.SAdd(ctx, "ss:0", f)
		pipe.ZAdd(ctx, "zs:0", redis.Z{Score: float64(i), Member: f})
		hs, ss, zs = append(hs, f), append(ss, f), append(zs, f)
	}
	pipe.Set(ctx, "wrong:0", "a string", 0)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("setup: %v", err)
	}
	s.addStable("", keys...)
	s.addStable("hs:0", hs...)
	s.addStable("ss:0", ss...)
	s.addStable("zs:0", zs...)
}

// ---- producers -----------------------------------------------------------

// stressProducer pushes fresh ids onto the queue lists, zsets and sets, in
// pipelines, MULTI/EXEC and scripts, with ECHO tokens and a private
// counter interleaved (invariant c).
func stressProducer(w *stressWorker) {
	rdb := w.client()
	defer rdb.Close()
	ctr := "ctr:" + strconv.Itoa(w.id)
	count := 0
	for w.running() {
		if w.s.inflight.Load() > 400 || w.rng.Intn(8) == 0 {
			time.Sleep(time.Duration(w.rng.Intn(3000)) * time.Microsecond)
			continue
		}
		ctx, cancel := w.opctx()
		switch r := w.rng.Intn(10); {
		case r < 6: // pipeline, sometimes inside MULTI/EXEC
			tx := w.rng.Intn(3) == 0
			type push struct {
				cmd  *redis.IntCmd
				ids  []string
				kind string
			}
			var pushes []push
			var echoes []*redis.StringCmd
			var toks []string
			var incr *redis.IntCmd
			var desc strings.Builder
			fn := func(pipe redis.Pipeliner) error {
				for n := 1 + w.rng.Intn(12); n > 0; n-- {
					switch w.rng.Intn(6) {
					case 0, 1:
						q := w.queue()
						ids := []string{w.newID()}
						for w.rng.Intn(3) == 0 {
							ids = append(ids, w.newID())
						}
						args := make([]any, len(ids))
						for i, id := range ids {
							args[i] = id
						}
						if w.rng.Intn(2) == 0 {
							pushes = append(pushes, push{pipe.RPush(ctx, q, args...), ids, "list"})
						} else {
							pushes = append(pushes, push{pipe.LPush(ctx, q, args...), ids, "list"})
						}
						fmt.Fprintf(&desc, " PUSH %s %v;", q, ids)
					case 2:
						q, id := stressQueue("zq:", w.rng.Intn(stressQueues)), w.newID()
						pushes = append(pushes, push{pipe.ZAdd(ctx, q, redis.Z{Score: float64(w.rng.Intn(1000)), Member: id}), []string{id}, "zset"})
						fmt.Fprintf(&desc, " ZADD %s %s;", q, id)
					case 3:
						q, id := stressQueue("sq:", w.rng.Intn(stressQueues)), w.newID()
						pushes = append(pushes, push{pipe.SAdd(ctx, q, id), []string{id}, "set"})
						fmt.Fprintf(&desc, " SADD %s %s;", q, id)
					case 4:
						tok := w.token()
						toks = append(toks, tok)
						echoes = append(echoes, pipe.Echo(ctx, tok))
						fmt.Fprintf(&desc, " ECHO %s;", tok)
					case 5:
						if incr == nil {
							incr = pipe.Incr(ctx, ctr)
							desc.WriteString(" INCR;")
						}
					}
				}
				w.begin(map[bool]string{true: "MULTI", false: "pipeline"}[tx] + desc.String())
				return nil
			}
			var err error
			if tx {
				_, err = rdb.TxPipelined(ctx, fn)
			} else {
				_, err = rdb.Pipelined(ctx, fn)
			}
			if err != nil {
				w.failf("push pipeline: %v", err)
				break
			}
			for _, p := range pushes {
				if p.cmd.Err() != nil || (p.kind != "list" && p.cmd.Val() != 1) || (p.kind == "list" && p.cmd.Val() < int64(len(p.ids))) {
					w.failf("%v = %d, %v", p.cmd.Args(), p.cmd.Val(), p.cmd.Err())
				}
				w.s.recordPushed(w, p.ids...)
			}
			for i, e := range echoes {
				if e.Val() != toks[i] {
					w.failf("reply out of order: ECHO %s got %q (%v)", toks[i], e.Val(), e.Err())
				}
			}
			if incr != nil {
				count++
				if incr.Val() != int64(count) {
					w.failf("INCR %s = %d, %v; want %d", ctr, incr.Val(), incr.Err(), count)
				}
			}
		case r < 8: // a script with declared keys pushes to a list and a set
			q1, q2 := w.queue(), stressQueue("sq:", w.rng.Intn(stressQueues))
			id1, id2, tok := w.newID(), w.newID(), w.token()
			w.begin("EVAL push " + q1 + " " + id1 + " " + q2 + " " + id2)
			got, err := rdb.Eval(ctx, "redis.call('rpush', KEYS[1], ARGV[1]); redis.call('sadd', KEYS[2], ARGV[2]); return ARGV[3]",
				[]string{q1, q2}, id1, id2, tok).Result()
			if err != nil || got != tok {
				w.failf("EVAL push = %v, %v; want %q", got, err, tok)
				break
			}
			w.s.recordPushed(w, id1, id2)
		default: // a script pushing several ids to one list
			q := w.queue()
			ids := []any{w.newID(), w.newID(), w.newID()}
			w.begin(fmt.Sprint("EVAL lpush ", q, ids))
			got, err := rdb.Eval(ctx, "return redis.call('lpush', KEYS[1], unpack(ARGV))", []string{q}, ids...).Int64()
			if err != nil || got < 3 {
				w.failf("EVAL lpush = %v, %v", got, err)
				break
			}
			w.s.recordPushed(w, ids[0].(string), ids[1].(string), ids[2].(string))
		}
		cancel()
	}
}

// ---- consumers -----------------------------------------------------------

// stressConsumer pops and moves elements with go-redis: non-blocking pops
// and moves in pipelines, blocking pops with short timeouts, MULTI/EXEC,
// WATCH transfers, scripts and RENAME.
func stressConsumer(w *stressWorker) {
	rdb := w.client()
	defer rdb.Close()
	popped := func(op string, ids ...string) { w.s.recordPopped(w, op, ids...) }
	for w.running() {
		ctx, cancel := w.opctx()
		switch r := w.rng.Intn(20); {
		case r < 6:
			stressConsumePipeline(w, rdb, ctx, popped)
		case r < 11:
			stressConsumeBlocking(w, rdb, ctx, popped)
		case r < 13: // MULTI/EXEC popping from a list and a zset
			q, z, tok := w.queue(), stressQueue("zq:", w.rng.Intn(stressQueues)), w.token()
			w.begin("MULTI LPOP " + q + " ZPOPMIN " + z + " ECHO " + tok)
			var lp *redis.StringCmd
			var zp *redis.ZSliceCmd
			var echo *redis.StringCmd
			var bl *redis.Cmd
			q2 := w.queue()
			start := time.Now()
			_, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				lp = pipe.LPop(ctx, q)
				zp = pipe.ZPopMin(ctx, z)
				// Inside MULTI a blocking pop must not block, even with
				// timeout 0.
				bl = pipe.Do(ctx, "brpop", q2, "0")
				echo = pipe.Echo(ctx, tok)
				return nil
			})
			if d := time.Since(start); d > stressSlack {
				w.failf("MULTI with BRPOP %s 0 took %v: it blocked", q2, d)
			}
			if v, err := bl.StringSlice(); err == nil && len(v) == 2 {
				popped("MULTI BRPOP "+q2, v[1])
			} else if err != redis.Nil {
				w.failf("MULTI BRPOP %s 0 = %q, %v", q2, v, err)
			}
			if err != nil && err != redis.Nil {
				w.failf("MULTI: %v", err)
				break
			}
			if lp.Err() == nil {
				popped("MULTI LPOP "+q, lp.Val())
			} else if lp.Err() != redis.Nil {
				w.failf("MULTI LPOP: %v", lp.Err())
			}
			for _, z := range zp.Val() {
				popped("MULTI ZPOPMIN", z.Member.(string))
			}
			if echo.Val() != tok {
				w.failf("MULTI ECHO %s = %q, %v", tok, echo.Val(), echo.Err())
			}
		case r < 15: // WATCH: look at the head, then move exactly that element
			src, dst := w.queue(), w.queue()
			w.begin("WATCH " + src + " " + dst + " LINDEX/MULTI LPOP+RPUSH")
			var head string
			var lp *redis.StringCmd
			err := rdb.Watch(ctx, func(tx *redis.Tx) error {
				v, err := tx.LIndex(ctx, src, 0).Result()
				if err != nil {
					return err
				}
				head = v
				_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
					lp = pipe.LPop(ctx, src)
					pipe.RPush(ctx, dst, v)
					return nil
				})
				return err
			}, src, dst)
			switch {
			case err == redis.Nil || err == redis.TxFailedErr:
			case err != nil:
				w.failf("WATCH transfer: %v", err)
			case lp.Val() != head:
				// EXEC ran although src changed after WATCH: head is now
				// duplicated and the popped element lost.
				w.failf("WATCH violated: LINDEX %s 0 = %q but LPOP in EXEC = %q", src, head, lp.Val())
			}
		case r < 17: // a script moving an element between lists
			src, dst := w.queue(), w.queue()
			w.begin("EVAL rpop " + src + " lpush " + dst)
			var err error
			if w.rng.Intn(2) == 0 {
				_, err = rdb.Eval(ctx, "local v = redis.call('rpop', KEYS[1]); if v then redis.call('lpush', KEYS[2], v) end; return v",
					[]string{src, dst}).Result()
			} else { // the destination's name built in the script: undeclared
				// It looks at the destination before it writes: a script
				// that reaches an undeclared key on a lower shard only
				// after writing may fail once, if that shard stays busy
				// past LowerShardWait (README, "Scripts"); this one
				// restarts holding every shard instead.
				_, err = rdb.Eval(ctx, "local dst = ARGV[1] .. ARGV[2]; redis.call('exists', dst); "+
					"local v = redis.call('rpop', KEYS[1]); if v then redis.call('lpush', dst, v) end; return v",
					[]string{src}, "que:", strings.TrimPrefix(dst, "que:")).Result()
			}
			if err != nil && err != redis.Nil {
				w.failf("EVAL move: %v", err)
			}
		case r < 18: // a script popping
			src := w.queue()
			w.begin("EVAL lpop " + src + " 2")
			got, err := rdb.Eval(ctx, "return redis.call('lpop', KEYS[1], ARGV[1])", []string{src}, 2).StringSlice()
			if err != nil && err != redis.Nil {
				w.failf("EVAL lpop: %v", err)
				break
			}
			popped("EVAL lpop "+src, got...)
		default: // RENAME a queue away and back (or to another queue)
			stressRename(w, rdb, ctx)
		}
		cancel()
	}
}

func stressConsumePipeline(w *stressWorker, rdb *redis.Client, ctx context.Context, popped func(string, ...string)) {
	type check func()
	var checks []check
	var desc strings.Builder
	_, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for n := 1 + w.rng.Intn(10); n > 0; n-- {
			switch w.rng.Intn(9) {
			case 0:
				q := w.queue()
				c := pipe.LPopCount(ctx, q, 1+w.rng.Intn(3))
				fmt.Fprintf(&desc, " LPOP %s;", q)
				checks = append(checks, func() {
					if c.Err() != nil && c.Err() != redis.Nil {
						w.failf("LPOP %s: %v", q, c.Err())
					}
					popped("LPOP "+q, c.Val()...)
				})
			case 1:
				q := w.queue()
				c := pipe.RPop(ctx, q)
				fmt.Fprintf(&desc, " RPOP %s;", q)
				checks = append(checks, func() {
					if c.Err() == nil {
						popped("RPOP "+q, c.Val())
					} else if c.Err() != redis.Nil {
						w.failf("RPOP %s: %v", q, c.Err())
					}
				})
			case 2, 3:
				src, dst := w.queue(), w.queue()
				var c *redis.StringCmd
				if w.rng.Intn(2) == 0 {
					c = pipe.LMove(ctx, src, dst, "LEFT", "RIGHT")
					fmt.Fprintf(&desc, " LMOVE %s %s;", src, dst)
				} else {
					c = pipe.RPopLPush(ctx, src, dst)
					fmt.Fprintf(&desc, " RPOPLPUSH %s %s;", src, dst)
				}
				checks = append(checks, func() {
					if c.Err() != nil && c.Err() != redis.Nil {
						w.failf("%v: %v", c.Args(), c.Err())
					} else if c.Err() == nil && !isID(c.Val()) {
						w.failf("%v = %q, not an element id", c.Args(), c.Val())
					}
				})
			case 4: // a move to a string: WRONGTYPE, and nothing moves
				src := w.queue()
				c := pipe.LMove(ctx, src, "wrong:0", "RIGHT", "LEFT")
				fmt.Fprintf(&desc, " LMOVE %s wrong:0;", src)
				checks = append(checks, func() {
					if c.Err() == nil || (c.Err() != redis.Nil && !strings.HasPrefix(c.Err().Error(), "WRONGTYPE")) {
						w.failf("LMOVE %s wrong:0 = %q, %v; want WRONGTYPE or nil", src, c.Val(), c.Err())
					}
				})
			case 5:
				q := stressQueue("zq:", w.rng.Intn(stressQueues))
				c := pipe.ZPopMin(ctx, q, int64(1+w.rng.Intn(2)))
				fmt.Fprintf(&desc, " ZPOPMIN %s;", q)
				checks = append(checks, func() {
					if c.Err() != nil {
						w.failf("ZPOPMIN %s: %v", q, c.Err())
					}
					for _, z := range c.Val() {
						popped("ZPOPMIN "+q, z.Member.(string))
					}
				})
			case 6:
				q := stressQueue("sq:", w.rng.Intn(stressQueues))
				c := pipe.SPopN(ctx, q, int64(1+w.rng.Intn(2)))
				fmt.Fprintf(&desc, " SPOP %s;", q)
				checks = append(checks, func() {
					if c.Err() != nil && c.Err() != redis.Nil {
						w.failf("SPOP %s: %v", q, c.Err())
					}
					popped("SPOP "+q, c.Val()...)
				})
			case 7: // SMOVE of a member that may be gone by now
				src, dst := stressQueue("sq:", w.rng.Intn(stressQueues)), stressQueue("sq:", w.rng.Intn(stressQueues))
				pipe.SRandMember(ctx, src)
				// Some id that may be in src.
				member := "e" + strconv.Itoa(w.rng.Intn(len(w.s.workers))) + "-" + strconv.Itoa(1+w.rng.Intn(1+w.seq))
				c := pipe.SMove(ctx, src, dst, member)
				fmt.Fprintf(&desc, " SMOVE %s %s %s;", src, dst, member)
				checks = append(checks, func() {
					if c.Err() != nil {
						w.failf("SMOVE: %v", c.Err())
					}
				})
			case 8:
				checks = append(checks, w.pipedEcho(ctx, pipe, &desc))
			}
		}
		w.begin("pipeline" + desc.String())
		return nil
	})
	if err != nil && err != redis.Nil && !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		w.failf("pipeline: %v", err)
		return
	}
	for _, c := range checks {
		c()
	}
}

// stressConsumeBlocking runs one blocking pop or move with a short,
// fractional timeout (go-redis's helpers round those up to 1 s, so Do).
func stressConsumeBlocking(w *stressWorker, rdb *redis.Client, ctx context.Context, popped func(string, ...string)) {
	to := secs(w.blockTimeout())
	k1, k2 := w.queue(), w.queue()
	switch w.rng.Intn(6) {
	case 0, 1:
		cmd := []string{"blpop", "brpop"}[w.rng.Intn(2)]
		w.begin(cmd + " " + k1 + " " + k2 + " " + to)
		v, err := rdb.Do(ctx, cmd, k1, k2, to).StringSlice()
		if err == redis.Nil {
			return
		}
		if err != nil || len(v) != 2 || (v[0] != k1 && v[0] != k2) {
			w.failf("%s = %q, %v", cmd, v, err)
			return
		}
		popped(cmd+" "+v[0], v[1])
	case 2:
		w.begin("blmpop " + to + " " + k1 + " " + k2)
		v, err := rdb.Do(ctx, "blmpop", to, 2, k1, k2, "RIGHT", "COUNT", 1+w.rng.Intn(3)).Slice()
		if err == redis.Nil {
			return
		}
		if err != nil || len(v) != 2 {
			w.failf("BLMPOP = %v, %v", v, err)
			return
		}
		els, _ := v[1].([]any)
		for _, e := range els {
			s, _ := e.(string)
			popped(fmt.Sprint("BLMPOP ", v[0]), s)
		}
	case 3:
		z1, z2 := stressQueue("zq:", w.rng.Intn(stressQueues)), stressQueue("zq:", w.rng.Intn(stressQueues))
		w.begin("bzpopmin " + z1 + " " + z2 + " " + to)
		v, err := rdb.Do(ctx, "bzpopmin", z1, z2, to).Slice()
		if err == redis.Nil {
			return
		}
		if err != nil || len(v) != 3 {
			w.failf("BZPOPMIN = %v, %v", v, err)
			return
		}
		s, _ := v[1].(string)
		popped(fmt.Sprint("BZPOPMIN ", v[0]), s)
	default:
		var args []any
		if w.rng.Intn(2) == 0 {
			args = []any{"blmove", k1, k2, "LEFT", "RIGHT", to}
		} else {
			args = []any{"brpoplpush", k1, k2, to}
		}
		w.begin(fmt.Sprint(args...))
		v, err := rdb.Do(ctx, args...).Text()
		if err == redis.Nil {
			return
		}
		if err != nil || !isID(v) {
			w.failf("%v = %q, %v", args, v, err)
		}
	}
}

func stressRename(w *stressWorker, rdb *redis.Client, ctx context.Context) {
	src := w.queue()
	tmp := "tmp:" + strconv.Itoa(w.id) + ":" + w.next()
	if w.rng.Intn(2) == 0 {
		src = stressQueue("zq:", w.rng.Intn(stressQueues))
	}
	w.begin("RENAME " + src + " " + tmp)
	w.s.tmpMu.Lock()
	w.s.tmpKeys[tmp] = true
	w.s.tmpMu.Unlock()
	err := rdb.Rename(ctx, src, tmp).Err()
	if err != nil {
		if err.Error() != "ERR no such key" {
			w.failf("RENAME %s %s: %v", src, tmp, err)
		}
		return
	}
	dst := src
	if w.rng.Intn(2) == 0 && strings.HasPrefix(src, "que:") {
		dst = w.queue()
	}
	w.begin("RENAMENX " + tmp + " " + dst)
	ok, err := rdb.RenameNX(ctx, tmp, dst).Result()
	if err != nil {
		w.failf("RENAMENX %s %s: %v", tmp, dst, err)
		return
	}
	if !ok && strings.HasPrefix(src, "que:") { // dst was recreated meanwhile: move the rest over
		for i := 0; i < 1000; i++ {
			w.begin("RPOPLPUSH " + tmp + " " + dst)
			v, err := rdb.RPopLPush(ctx, tmp, dst).Result()
			if err == redis.Nil {
				break
			}
			if err != nil || !isID(v) {
				w.failf("RPOPLPUSH %s %s = %q, %v", tmp, dst, v, err)
				return
			}
		}
	}
	// A zset left under tmp is drained at the end.
}

// ---- raw connections -----------------------------------------------------

// stressRaw is a plain RESP2 connection, so that bytes really arrive at the
// server while a command on it is blocked.
type stressRaw struct {
	nc net.Conn
	br *bufio.Reader
}

type stressErrReply string

func stressDial(addr string) (*stressRaw, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &stressRaw{nc: nc, br: bufio.NewReader(nc)}, nil
}

func stressEncode(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

func (r *stressRaw) write(b []byte) error {
	r.nc.SetWriteDeadline(time.Now().Add(stressOpTimeout))
	_, err := r.nc.Write(b)
	return err
}

// read reads one reply: string, stressErrReply, int64, nil or []any.
func (r *stressRaw) read(deadline time.Time) (any, error) {
	r.nc.SetReadDeadline(deadline)
	return stressReadReply(r.br)
}

func stressReadReply(br *bufio.Reader) (any, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("bad reply line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return stressErrReply(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("bad bulk header %q", line)
		}
		if n == -1 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("bad array header %q", line)
		}
		if n == -1 {
			return nil, nil
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = stressReadReply(br); err != nil {
				return nil, err
			}
		}
		return a, nil
	}
	return nil, fmt.Errorf("unexpected reply type %q", line)
}

// stressExpect is a follow-up request and its expected reply.
type stressExpect struct {
	args []string
	want any
}

// stressBlocker runs blocking pops and moves on a raw connection and
// pipelines follow-up commands behind them, written either together with
// the blocking command or while it is blocked. The follow-ups rotate a
// private one-element "victim" list: a blocked command that re-reads its
// arguments from a refilled buffer moves or pops the victim instead.
func stressBlocker(w *stressWorker) {
	var r *stressRaw
	defer func() {
		if r != nil {
			r.nc.Close()
		}
	}()
	n := strconv.Itoa(w.id)
	var vic, victim string
	ctr := "rc:" + n
	count := int64(0)
	var id int64
	connect := func() bool {
		if r != nil {
			w.s.rawMu.Lock()
			delete(w.s.rawIDs, id)
			w.s.rawMu.Unlock()
			r.nc.Close()
		}
		var err error
		w.begin("dial")
		if r, err = stressDial(w.s.addr); err != nil {
			w.failf("dial: %v", err)
			return false
		}
		// A fresh victim list for each connection: the old one stays as
		// it was left, for the final check.
		g := w.next()
		vic, victim = "vic:"+n+":"+g, "victim-"+n+":"+g
		var b []byte
		b = stressEncode(b, "CLIENT", "ID")
		b = stressEncode(b, "DEL", vic, ctr)
		b = stressEncode(b, "RPUSH", vic, victim)
		if err := r.write(b); err != nil {
			w.failf("write: %v", err)
			return false
		}
		dl := time.Now().Add(stressOpTimeout)
		v, err := r.read(dl)
		if id, _ = v.(int64); err != nil || id <= 0 {
			w.failf("CLIENT ID = %v, %v", v, err)
			return false
		}
		count = 0
		for i := 0; i < 2; i++ {
			if _, err := r.read(dl); err != nil {
				w.failf("setup: %v", err)
				return false
			}
		}
		w.s.rawMu.Lock()
		w.s.rawIDs[id] = w.name
		w.cid.Store(id)
		w.s.rawMu.Unlock()
		return true
	}
	if !connect() {
		return
	}
	defer func() {
		w.s.rawMu.Lock()
		delete(w.s.rawIDs, id)
		w.s.rawMu.Unlock()
	}()
	for w.running() {
		if w.rng.Intn(50) == 0 && !connect() {
			return
		}
		// The blocking command.
		k1, k2 := w.queue(), w.queue()
		timeout := w.blockTimeout()
		if w.rng.Intn(6) == 0 {
			timeout = 0 // until served, CLIENT UNBLOCK, or the end of the run
		}
		to := secs(timeout)
		var block []string
		kind := w.rng.Intn(10)
		switch kind {
		case 0:
			block = []string{"BLPOP", k1, k2, to}
		case 1:
			block = []string{"BRPOP", k1, to}
		case 2:
			block = []string{"BZPOPMIN", stressQueue("zq:", w.rng.Intn(stressQueues)), to}
		case 3:
			block = []string{"BLMPOP", to, "2", k1, k2, "LEFT", "COUNT", "2"}
		case 4:
			block = []string{"BRPOPLPUSH", k1, k2, to}
		case 5:
			block = []string{"BLMOVE", k1, "wrong:0", "LEFT", "RIGHT", to}
		default:
			block = []string{"BLMOVE", k1, k2, []string{"LEFT", "RIGHT"}[w.rng.Intn(2)], []string{"LEFT", "RIGHT"}[w.rng.Intn(2)], to}
		}
		// The follow-ups.
		var follow []stressExpect
		for i := w.rng.Intn(6); i >= 0; i-- {
			switch w.rng.Intn(5) {
			case 0, 1:
				follow = append(follow, stressExpect{[]string{"LMOVE", vic, vic, "LEFT", "RIGHT"}, victim})
			case 2:
				count++
				follow = append(follow, stressExpect{[]string{"INCR", ctr}, count})
			case 3:
				tok := w.token()
				if w.rng.Intn(8) == 0 { // large enough to make the server's read buffer grow
					tok += strings.Repeat("x", 16<<10+w.rng.Intn(64<<10))
				}
				follow = append(follow, stressExpect{[]string{"ECHO", tok}, tok})
			case 4:
				follow = append(follow, stressExpect{[]string{"LINDEX", vic, "0"}, victim})
			}
		}
		var desc strings.Builder
		desc.WriteString(strings.Join(block, " "))
		for _, f := range follow {
			desc.WriteString(" | ")
			desc.WriteString(stressShort(strings.Join(f.args, " ")))
		}
		w.begin(desc.String())
		var b []byte
		b = stressEncode(b, block...)
		var fb []byte
		for _, f := range follow {
			fb = stressEncode(fb, f.args...)
		}
		together := w.rng.Intn(3) == 0
		if together {
			b = append(b, fb...)
		}
		if err := r.write(b); err != nil {
			w.failf("write: %v", err)
			if !connect() {
				return
			}
			continue
		}
		if !together {
			time.Sleep(time.Duration(w.rng.Intn(5000)) * time.Microsecond)
			if err := r.write(fb); err != nil {
				w.failf("write: %v", err)
				if !connect() {
					return
				}
				continue
			}
		}
		dl := time.Now().Add(timeout + stressSlack)
		if timeout == 0 {
			dl = w.s.end.Add(stressOpTimeout + stressSlack)
		}
		v, err := r.read(dl)
		if err != nil {
			w.failf("no reply to %s within its timeout + %v: %v", strings.Join(block, " "), stressSlack, stressWhy(err))
			if !connect() {
				return
			}
			continue
		}
		ok := stressCheckBlockReply(w, block, kind, v)
		for _, f := range follow {
			fv, err := r.read(time.Now().Add(stressOpTimeout))
			if err != nil {
				w.failf("no reply to follow-up %s: %v", stressShort(strings.Join(f.args, " ")), stressWhy(err))
				ok = false
				break
			}
			if !stressEqual(fv, f.want) {
				w.failf("follow-up %s = %s, want %s (after %s = %s)", stressShort(strings.Join(f.args, " ")),
					stressShort(fmt.Sprint(fv)), stressShort(fmt.Sprint(f.want)), strings.Join(block, " "), stressShort(fmt.Sprint(v)))
				ok = false
				break
			}
		}
		if !ok { // the stream may be out of step: start afresh
			if !connect() {
				return
			}
		}
	}
	// Nothing may be left to read: one more request, one more reply.
	tok := w.token()
	w.begin("final ECHO " + tok)
	if err := r.write(stressEncode(nil, "ECHO", tok)); err != nil {
		w.failf("write: %v", err)
		return
	}
	if v, err := r.read(time.Now().Add(stressOpTimeout)); err != nil || v != tok {
		w.failf("final ECHO %s = %v, %v", tok, v, err)
	}
}

func stressShort(s string) string {
	if len(s) > 80 {
		return s[:60] + "...(" + strconv.Itoa(len(s)) + " bytes)"
	}
	return s
}

func stressEqual(v, want any) bool {
	switch want := want.(type) {
	case string:
		s, ok := v.(string)
		return ok && s == want
	case int64:
		n, ok := v.(int64)
		return ok && n == want
	}
	return false
}

// stressCheckBlockReply validates the reply to a raw blocking command and
// records what it popped.
func stressCheckBlockReply(w *stressWorker, block []string, kind int, v any) bool {
	cmd := strings.Join(block, " ")
	if v == nil {
		return true // timed out, or CLIENT UNBLOCK TIMEOUT
	}
	if e, ok := v.(stressErrReply); ok {
		if strings.HasPrefix(string(e), "UNBLOCKED") || (kind == 5 && strings.HasPrefix(string(e), "WRONGTYPE")) {
			return true
		}
		w.failf("%s = -%s", cmd, e)
		return false
	}
	bad := func() bool {
		w.failf("%s = %s: not a valid reply", cmd, stressShort(fmt.Sprint(v)))
		return false
	}
	switch kind {
	case 0, 1, 2: // [key, element(, score)]
		a, ok := v.([]any)
		if !ok || len(a) < 2 {
			return bad()
		}
		key, _ := a[0].(string)
		el, _ := a[1].(string)
		if !slices.Contains(block[1:len(block)-1], key) || !isID(el) {
			return bad()
		}
		w.s.recordPopped(w, cmd, el)
	case 3: // [key, [elements]]
		a, ok := v.([]any)
		if !ok || len(a) != 2 {
			return bad()
		}
		key, _ := a[0].(string)
		els, _ := a[1].([]any)
		if (key != block[3] && key != block[4]) || len(els) == 0 || len(els) > 2 {
			return bad()
		}
		for _, e := range els {
			el, _ := e.(string)
			if !isID(el) {
				return bad()
			}
			w.s.recordPopped(w, cmd, el)
		}
	case 5: // a move to a string key never yields an element
		w.failf("%s = %s, want WRONGTYPE or nil: the element went to a string key", cmd, stressShort(fmt.Sprint(v)))
		return false
	default: // moved element
		el, _ := v.(string)
		if !isID(el) {
			return bad()
		}
	}
	return true
}

// stressDropper connects, does something, and hangs up abruptly: while
// blocked in a move or on a key nobody pushes, or in the middle of a
// pipeline. It never pops, so the elements stay accounted for.
func stressDropper(w *stressWorker) {
	for w.running() {
		r, err := stressDial(w.s.addr)
		if err != nil {
			w.failf("dial: %v", err)
			return
		}
		w.begin("CLIENT ID")
		var id int64
		if err := r.write(stressEncode(nil, "CLIENT", "ID")); err == nil {
			v, _ := r.read(time.Now().Add(stressOpTimeout))
			id, _ = v.(int64)
		}
		if id <= 0 {
			w.failf("CLIENT ID failed")
			r.nc.Close()
			return
		}
		w.s.rawMu.Lock()
		w.s.rawIDs[id] = w.name
		w.cid.Store(id)
		w.s.rawMu.Unlock()
		var b []byte
		switch w.rng.Intn(4) {
		case 0: // blocked in a move, maybe with follow-ups
			b = stressEncode(b, "BLMOVE", w.queue(), w.queue(), "LEFT", "LEFT", "0")
			if w.rng.Intn(2) == 0 {
				b = stressEncode(b, "ECHO", w.token())
			}
			w.begin("drop while blocked: " + strings.ReplaceAll(string(b), "\r\n", " "))
		case 1:
			b = stressEncode(b, "BLPOP", "dead:"+strconv.Itoa(w.id), "0")
			w.begin("drop while blocked on a dead key")
		default: // mid-pipeline
			for i := 1 + w.rng.Intn(20); i > 0; i-- {
				switch w.rng.Intn(3) {
				case 0:
					b = stressEncode(b, "LMOVE", w.queue(), w.queue(), "RIGHT", "LEFT")
				case 1:
					b = stressEncode(b, "SET", "drop:"+strconv.Itoa(w.id), strings.Repeat("d", w.rng.Intn(3000)))
				case 2:
					b = stressEncode(b, "ECHO", w.token())
				}
			}
			if w.rng.Intn(2) == 0 {
				b = b[:w.rng.Intn(len(b))]
			}
			w.begin("drop mid-pipeline after " + strconv.Itoa(len(b)) + " bytes")
		}
		r.write(b)
		time.Sleep(time.Duration(w.rng.Intn(20)) * time.Millisecond)
		if w.rng.Intn(2) == 0 {
			if tc, ok := r.nc.(*net.TCPConn); ok {
				tc.SetLinger(0) // a reset rather than a FIN
			}
		}
		r.nc.Close()
		w.s.rawMu.Lock()
		delete(w.s.rawIDs, id)
		w.s.rawMu.Unlock()
	}
}

// stressUnblocker sends CLIENT UNBLOCK to random raw clients.
func stressUnblocker(w *stressWorker) {
	rdb := w.client()
	defer rdb.Close()
	for w.running() {
		time.Sleep(time.Duration(5+w.rng.Intn(40)) * time.Millisecond)
		w.s.rawMu.Lock()
		var ids []int64
		for id := range w.s.rawIDs {
			ids = append(ids, id)
		}
		w.s.rawMu.Unlock()
		if len(ids) == 0 {
			continue
		}
		slices.Sort(ids)
		id := ids[w.rng.Intn(len(ids))]
		how := []string{"TIMEOUT", "ERROR"}[w.rng.Intn(2)]
		w.begin("CLIENT UNBLOCK " + strconv.FormatInt(id, 10) + " " + how)
		ctx, cancel := w.opctx()
		n, err := rdb.Do(ctx, "CLIENT", "UNBLOCK", id, how).Int64()
		cancel()
		if err != nil || n < 0 || n > 1 {
			w.failf("CLIENT UNBLOCK = %d, %v", n, err)
		}
	}
}

// ---- keyspace churn, TTLs and SCAN ----------------------------------------

// stressChurner adds stable keys and members (never deleted), adds and
// removes churn keys and members, sets keys with short TTLs, and checks a
// private model: counters and expired keys.
func stressChurner(w *stressWorker) {
	rdb := w.client()
	defer rdb.Close()
	ctr, ttlKey := "cc:"+strconv.Itoa(w.id), "ct:"+strconv.Itoa(w.id)
	count := int64(0)
	var ttlGone time.Time // when ttlKey must be gone, if set
	for w.running() {
		ctx, cancel := w.opctx()
		if !ttlGone.IsZero() && time.Now().After(ttlGone) {
			w.begin("GET " + ttlKey + " (expired)")
			v, err := rdb.Get(ctx, ttlKey).Result()
			if err != redis.Nil {
				w.failf("GET %s = %q, %v: the key outlived its TTL (due %v ago)", ttlKey, v, err, time.Since(ttlGone))
			}
			ttlGone = time.Time{}
		}
		if w.rng.Intn(40) == 0 {
			count = stressLongPipeline(w, rdb, ctx, ctr, count)
			cancel()
			continue
		}
		var desc strings.Builder
		var stableKeys, stableFields []string
		var stableColl string
		var checks []func()
		ttlPX := -1
		_, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for n := 1 + w.rng.Intn(16); n > 0; n-- {
				switch w.rng.Intn(12) {
				case 0:
					if w.s.stableCount("") < stressMaxStable {
						k := "stb:" + strconv.Itoa(w.id) + ":" + w.next()
						pipe.Set(ctx, k, "v", 0)
						stableKeys = append(stableKeys, k)
						fmt.Fprintf(&desc, " SET %s;", k)
					}
				case 1:
					coll := []string{"hs:0", "ss:0", "zs:0"}[w.rng.Intn(3)]
					if (stableColl == "" || stableColl == coll) && w.s.stableCount(coll) < stressMaxStable/4 {
						stableColl = coll
						f := "sf:" + strconv.Itoa(w.id) + ":" + w.next()
						stressCollAdd(ctx, pipe, coll, f)
						stableFields = append(stableFields, f)
						fmt.Fprintf(&desc, " ADD %s %s;", coll, f)
					}
				case 2, 3:
					k := "chn:" + strconv.Itoa(w.rng.Intn(500))
					if w.rng.Intn(2) == 0 {
						pipe.Set(ctx, k, "v", 0)
					} else {
						pipe.Del(ctx, k)
					}
					fmt.Fprintf(&desc, " SET/DEL %s;", k)
				case 4, 5:
					coll := []string{"hs:0", "ss:0", "zs:0"}[w.rng.Intn(3)]
					f := "cf:" + strconv.Itoa(w.rng.Intn(300))
					if w.rng.Intn(2) == 0 {
						stressCollAdd(ctx, pipe, coll, f)
					} else {
						stressCollDel(ctx, pipe, coll, f)
					}
					fmt.Fprintf(&desc, " ADD/DEL %s %s;", coll, f)
				case 6, 7:
					k := "ttl:" + strconv.Itoa(w.id) + ":" + w.next()
					px := 10 + w.rng.Intn(191)
					pipe.Set(ctx, k, "v", time.Duration(px)*time.Millisecond)
					fmt.Fprintf(&desc, " SET %s PX %d;", k, px)
				case 8:
					if ttlPX < 0 && ttlGone.IsZero() {
						ttlPX = 10 + w.rng.Intn(100)
						pipe.Set(ctx, ttlKey, "v", time.Duration(ttlPX)*time.Millisecond)
						fmt.Fprintf(&desc, " SET %s PX %d;", ttlKey, ttlPX)
					}
				case 9:
					count++
					want := count
					c := pipe.Incr(ctx, ctr)
					desc.WriteString(" INCR;")
					checks = append(checks, func() {
						if c.Val() != want {
							w.failf("reply out of order: INCR %s = %d, %v; want %d", ctr, c.Val(), c.Err(), want)
						}
					})
				case 10:
					checks = append(checks, w.pipedEcho(ctx, pipe, &desc))
				case 11:
					if w.rng.Intn(20) == 0 { // a big value, set, read and deleted
						k, v := "big:"+strconv.Itoa(w.id), strings.Repeat("b", 256<<10+w.rng.Intn(1<<20))
						pipe.Set(ctx, k, v, 0)
						c := pipe.StrLen(ctx, k)
						pipe.Del(ctx, k)
						desc.WriteString(" big SET/STRLEN/DEL;")
						checks = append(checks, func() {
							if c.Val() != int64(len(v)) {
								w.failf("STRLEN %s = %d, %v; want %d", k, c.Val(), c.Err(), len(v))
							}
						})
					}
				}
			}
			w.begin("pipeline" + desc.String())
			return nil
		})
		cancel()
		if err != nil {
			w.failf("pipeline: %v", err)
			continue
		}
		if ttlPX >= 0 {
			// The server set the TTL before the reply: the key is due by
			// reply time + PX; allow a 2 ms rounding margin.
			ttlGone = time.Now().Add(time.Duration(ttlPX+2) * time.Millisecond)
		}
		for _, c := range checks {
			c()
		}
		w.s.addStable("", stableKeys...)
		if stableColl != "" {
			w.s.addStable(stableColl, stableFields...)
		}
		if w.rng.Intn(4) == 0 {
			time.Sleep(time.Duration(w.rng.Intn(2000)) * time.Microsecond)
		}
	}
}

// stressLongPipeline sends one pipeline of hundreds to thousands of
// commands, some with values of kilobytes, so that requests and replies
// span many reads, batches and writes, and checks every reply in order.
func stressLongPipeline(w *stressWorker, rdb *redis.Client, ctx context.Context, ctr string, count int64) int64 {
	n := 200 + w.rng.Intn(3000)
	w.begin("long pipeline of " + strconv.Itoa(n) + " ECHO/INCR/SET/GET")
	var checks []func() bool
	key := "cc:" + strconv.Itoa(w.id) + ":v"
	_, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := 0; i < n; i++ {
			switch w.rng.Intn(4) {
			case 0:
				tok := w.token()
				if w.rng.Intn(20) == 0 {
					tok += strings.Repeat("y", w.rng.Intn(8<<10))
				}
				c := pipe.Echo(ctx, tok)
				checks = append(checks, func() bool { return c.Val() == tok })
			case 1:
				count++
				want := count
				c := pipe.Incr(ctx, ctr)
				checks = append(checks, func() bool { return c.Val() == want })
			case 2:
				v := w.token()
				if w.rng.Intn(2) == 0 { // a value SET writes over in place
					pipe.Set(ctx, key, v+strings.Repeat("o", w.rng.Intn(64)), 0)
					v += strings.Repeat("n", w.rng.Intn(64))
				}
				pipe.Set(ctx, key, v, 0)
				c := pipe.Get(ctx, key)
				checks = append(checks, func() bool { return c.Val() == v })
			case 3:
				c := pipe.Ping(ctx)
				checks = append(checks, func() bool { return c.Val() == "PONG" })
			}
		}
		return nil
	})
	if err != nil {
		w.failf("long pipeline of %d: %v", n, err)
		return count
	}
	for i, c := range checks {
		if !c() {
			w.failf("long pipeline of %d commands: reply to check %d of %d is wrong or out of order", n, i, len(checks))
			break
		}
	}
	return count
}

func stressCollAdd(ctx context.Context, pipe redis.Pipeliner, coll, f string) {
	switch coll {
	case "hs:0":
		pipe.HSet(ctx, coll, f, "v")
	case "ss:0":
		pipe.SAdd(ctx, coll, f)
	default:
		pipe.ZAdd(ctx, coll, redis.Z{Score: 1, Member: f})
	}
}

func stressCollDel(ctx context.Context, pipe redis.Pipeliner, coll, f string) {
	switch coll {
	case "hs:0":
		pipe.HDel(ctx, coll, f)
	case "ss:0":
		pipe.SRem(ctx, coll, f)
	default:
		pipe.ZRem(ctx, coll, f)
	}
}

// stressScanner runs full SCAN / HSCAN / SSCAN / ZSCAN cycles and checks
// that each returned everything stable before it began (invariant b).
func stressScanner(w *stressWorker) {
	rdb := w.client()
	defer rdb.Close()
	for w.running() {
		coll := []string{"", "", "hs:0", "ss:0", "zs:0"}[w.rng.Intn(5)]
		want := w.s.stableSnapshot(coll)
		match := ""
		if w.rng.Intn(3) == 0 {
			match = "s[tf]*"
		}
		count := int64(1 + w.rng.Intn(200))
		seen := make(map[string]bool, len(want))
		var cursor uint64
		calls := 0
		for {
			ctx, cancel := w.opctx()
			var names []string
			var next uint64
			var err error
			desc := fmt.Sprintf("SCAN %d MATCH %q COUNT %d", cursor, match, count)
			if coll != "" {
				desc = fmt.Sprintf("%sSCAN %s %d MATCH %q COUNT %d", strings.ToUpper(coll[:1]), coll, cursor, match, count)
			}
			w.begin(desc)
			switch coll {
			case "":
				names, next, err = rdb.Scan(ctx, cursor, match, count).Result()
			case "hs:0":
				var kv []string
				kv, next, err = rdb.HScan(ctx, coll, cursor, match, count).Result()
				for i := 0; i < len(kv); i += 2 {
					names = append(names, kv[i])
				}
			case "ss:0":
				names, next, err = rdb.SScan(ctx, coll, cursor, match, count).Result()
			default:
				var kv []string
				kv, next, err = rdb.ZScan(ctx, coll, cursor, match, count).Result()
				for i := 0; i < len(kv); i += 2 {
					names = append(names, kv[i])
				}
			}
			cancel()
			if err != nil {
				w.failf("%s: %v", desc, err)
				return
			}
			for _, n := range names {
				seen[n] = true
			}
			calls++
			cursor = next
			if cursor == 0 {
				break
			}
			if calls > 1_000_000 {
				w.failf("SCAN cycle does not end after %d calls", calls)
				return
			}
			if !w.running() && w.rng.Intn(2) == 0 {
				break // abandon the cycle at the end of the run
			}
		}
		if cursor != 0 {
			break
		}
		var missing []string
		for _, k := range want {
			if !seen[k] {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			what := "SCAN"
			if coll != "" {
				what = strings.ToUpper(coll[:1]) + "SCAN " + coll
			}
			w.failf("%s (MATCH %q COUNT %d, %d calls) missed %d of %d stable entries present before the cycle began, e.g. %q",
				what, match, count, calls, len(missing), len(want), missing[:min(len(missing), 10)])
		}
	}
}

// ---- final checks ----------------------------------------------------------

// stressCheckLedger drains every key and checks invariant (a): each pushed
// id was popped or is still stored, exactly once, and nothing else was.
func stressCheckLedger(t *testing.T, s *stressRun, rdb *redis.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Errorf("KEYS *: %v", err)
		return
	}
	found := map[string][]string{} // id -> keys holding it
	stressPrefixes := map[string]bool{}
	for _, p := range strings.Fields("que zq sq tmp vic stb chn hs ss zs ttl ct cc ctr rc big drop dead exp wrong") {
		stressPrefixes[p] = true
	}
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Errorf("TYPE %s: %v", k, err)
			continue
		}
		var els []string
		switch typ {
		case "list":
			els, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "set":
			els, err = rdb.SMembers(ctx, k).Result()
		case "zset":
			els, err = rdb.ZRange(ctx, k, 0, -1).Result()
		}
		if err != nil {
			t.Errorf("reading %s %s: %v", typ, k, err)
			continue
		}
		queue := strings.HasPrefix(k, "que:") || strings.HasPrefix(k, "zq:") || strings.HasPrefix(k, "sq:") || strings.HasPrefix(k, "tmp:")
		if pre, _, _ := strings.Cut(k, ":"); !stressPrefixes[pre] {
			t.Errorf("stress seed=%d: unexpected key %q (%s holding %q): a command wrote to a key it was not given",
				s.seed, k, typ, els[:min(len(els), 5)])
		}
		for _, e := range els {
			if strings.HasPrefix(e, "victim-") && k != "vic:"+e[len("victim-"):] {
				t.Errorf("stress seed=%d: %s %s holds %q, which belongs in vic:%s", s.seed, typ, k, e, e[len("victim-"):])
			}
		}
		if strings.HasPrefix(k, "vic:") {
			if len(els) != 1 || els[0] != "victim-"+k[4:] {
				t.Errorf("stress seed=%d: victim list %s = %q, want [victim-%s]: a blocked command touched a key it was not given",
					s.seed, k, els, k[4:])
			}
			continue
		}
		for _, e := range els {
			if isID(e) {
				found[e] = append(found[e], typ+" "+k)
			} else if queue {
				t.Errorf("stress seed=%d: %s %s holds %q, which nobody pushed there", s.seed, typ, k, stressShort(e))
			}
		}
		if queue || strings.HasPrefix(k, "wrong:") {
			if typ != map[byte]string{'q': "list", 'z': "zset", 's': "set", 't': typ, 'w': "string"}[k[0]] {
				t.Errorf("stress seed=%d: %s is a %s", s.seed, k, typ)
			}
		}
	}
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	var lost, dup, unknown []string
	for id, in := range found {
		if m, _ := s.mark(id); m == nil || *m&1 == 0 { // stored, never pushed
			unknown = append(unknown, fmt.Sprintf("%s found in %q", id, in))
		}
	}
	for wid := range s.marks {
		for seq, m := range s.marks[wid] {
			if m == 0 {
				continue
			}
			id := "e" + strconv.Itoa(wid) + "-" + strconv.Itoa(seq)
			pops := int(m >> 1)
			where := ""
			if pops > 0 {
				where = "popped by " + s.workers[s.firstPop[wid][seq]].name
			}
			if len(found[id]) > 0 {
				where += fmt.Sprintf(" stored in %q", found[id])
			}
			switch n := pops + len(found[id]); {
			case m&1 == 0 && len(found[id]) == 0:
				unknown = append(unknown, id+" "+where+" but never pushed")
			case m&1 == 0:
			case n == 0:
				lost = append(lost, id+" (pushed by "+s.workers[wid].name+")")
			case n > 1:
				dup = append(dup, fmt.Sprintf("%s (%d pops) %s", id, pops, where))
			}
		}
	}
	left := 0
	for _, in := range found {
		left += len(in)
	}
	t.Logf("stress: ledger: %d pushed, %d popped, %d left in keys", s.npushed, s.npopped, left)
	report := func(what string, list []string) {
		if len(list) == 0 {
			return
		}
		slices.Sort(list)
		t.Errorf("stress seed=%d: %d elements %s, e.g.:\n  %s", s.seed, len(list), what, strings.Join(list[:min(len(list), 10)], "\n  "))
	}
	report("lost (pushed, never popped, not stored)", lost)
	report("duplicated (popped or stored more than once)", dup)
	report("never pushed but popped or stored", unknown)
}

// stressCheckExpiry sets a burst of keys that all expire at one instant
// and requires active expiry (nobody reads them) to remove at least 90%
// within a few seconds of that instant (Redis needs well under a second).
func stressCheckExpiry(t *testing.T, s *stressRun, rdb *redis.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before, err := rdb.DBSize(ctx).Result()
	if err != nil {
		t.Errorf("DBSIZE: %v", err)
		return
	}
	// With a fixed budget of 200 keys per tick and shard (16,000 to
	// 25,000 keys/s seen on 8 shards) 100,000 keys take 4 s or more;
	// Redis's adaptive cycle takes well under one. All keys expire at one instant after they are all set:
	// time one batch to choose it.
	const n, batch = 60_000, 1000
	const grace = 2 * time.Second
	far := time.Now().Add(time.Hour).UnixMilli()
	t0 := time.Now()
	pipe := rdb.Pipeline()
	cal := make([]string, batch)
	for j := range cal {
		cal[j] = "exp:cal:" + strconv.Itoa(j)
		pipe.Do(ctx, "SET", cal[j], "v", "PXAT", far)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Errorf("expiry calibration: %v", err)
		return
	}
	perBatch := time.Since(t0)
	if err := rdb.Del(ctx, cal...).Err(); err != nil {
		t.Errorf("expiry calibration: %v", err)
		return
	}
	at := time.Now().Add(300*time.Millisecond + perBatch*n/batch*5/2).UnixMilli()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p * batch; i < n; i += 4 * batch {
				pipe := rdb.Pipeline()
				for j := i; j < i+batch; j++ {
					pipe.Do(ctx, "SET", "exp:"+strconv.Itoa(j), "v", "PXAT", at)
				}
				if _, err := pipe.Exec(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("expiry burst: %v", err)
		return
	}
	// From the instant (or the end of the burst, if later: -race), at most
	// a tenth of what is still stored may remain after the grace period.
	time.Sleep(time.Until(time.UnixMilli(at)))
	start := time.Now()
	size, err := rdb.DBSize(ctx).Result()
	if err != nil {
		t.Errorf("DBSIZE: %v", err)
		return
	}
	stale := size - before
	if late := start.Sub(time.UnixMilli(at)); late > 10*time.Millisecond {
		t.Logf("stress: the expiry burst ended %v after its expiry instant; %d of %d keys remained then", late.Round(time.Millisecond), stale, n)
	}
	for {
		if size, err = rdb.DBSize(ctx).Result(); err != nil {
			t.Errorf("DBSIZE: %v", err)
			return
		}
		if size-before <= stale/10 {
			t.Logf("stress: active expiry removed %d of %d expired keys within %v", n-(size-before), n, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > grace {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("stress seed=%d: active expiry is too slow: %d expired keys nobody reads were stored %v ago; %d still are (want at most %d)",
		s.seed, stale, time.Since(start).Round(time.Millisecond), size-before, stale/10)
}

// stressCheckMemory checks invariant (d): after everything was deleted,
// the heap (in-process) comes back to within limitMiB of base's, or the
// standalone server's VmRSS within -stress.maxmem of its level before the
// run, within a few seconds. It returns the heap in use (0 standalone).
func stressCheckMemory(t *testing.T, s *stressRun, base runtime.MemStats, limitMiB int, when string) (heapInuse uint64) {
	limit := uint64(limitMiB) << 20
	if *stressAddr != "" {
		limit = uint64(*stressMaxMem)<<20 + s.baseRSS
		if *stressPID == 0 {
			t.Logf("stress: no -stress.pid, VmRSS not checked")
			return
		}
		var rss uint64
		for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(100 * time.Millisecond) {
			var err error
			if rss, err = stressVmRSS(*stressPID); err != nil {
				t.Errorf("VmRSS: %v", err)
				return
			}
			if rss <= limit {
				break
			}
		}
		t.Logf("stress: server VmRSS %d MiB %s (%d MiB before the run; bound +%d MiB)", rss>>20, when, s.baseRSS>>20, *stressMaxMem)
		if rss > limit {
			t.Errorf("stress seed=%d: server VmRSS %d MiB %s: more than %d MiB above the %d MiB before the run", s.seed, rss>>20, when, *stressMaxMem, s.baseRSS>>20)
		}
		return
	}
	var m runtime.MemStats
	// Idle connections let their large buffers go after idleAfter, as
	// Redis's clientsCron does; wait a little longer than that.
	for deadline := time.Now().Add(idleAfter + 2*time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond) // let closed connections finish
		runtime.GC()
		debug.FreeOSMemory()
		runtime.ReadMemStats(&m)
		if m.HeapInuse <= base.HeapInuse+limit {
			break
		}
	}
	t.Logf("stress: HeapInuse %d MiB %s (reference %d MiB; bound +%d MiB)", m.HeapInuse>>20, when, base.HeapInuse>>20, limit>>20)
	if m.HeapInuse > base.HeapInuse+limit {
		t.Errorf("stress seed=%d: HeapInuse %d MiB %s, after GC: more than %d MiB above the reference %d MiB",
			s.seed, m.HeapInuse>>20, when, limit>>20, base.HeapInuse>>20)
	}
	return m.HeapInuse
}

// stressBigValues has a few connections write and read large values,
// then deletes them and returns the connections, still open: the
// server must not keep buffers of that size for connections that are
// idle now.
func stressBigValues(t *testing.T, s *stressRun) []*redis.Client {
	const conns, size = 4, 16 << 20
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var clients []*redis.Client
	for i := 0; i < conns; i++ {
		rdb := redis.NewClient(&redis.Options{Addr: s.addr, PoolSize: 1, MaxRetries: -1, ReadTimeout: stressOpTimeout, ContextTimeoutEnabled: true})
		clients = append(clients, rdb)
		k := "big:in:" + strconv.Itoa(i)
		if err := rdb.Set(ctx, k, strings.Repeat("i", size), 0).Err(); err != nil {
			t.Errorf("SET of %d MiB: %v", size>>20, err)
			return clients
		}
		if err := rdb.Del(ctx, k).Err(); err != nil {
			t.Errorf("DEL: %v", err)
		}
	}
	if err := clients[0].Set(ctx, "big:out", strings.Repeat("o", size), 0).Err(); err != nil {
		t.Errorf("SET of %d MiB: %v", size>>20, err)
		return clients
	}
	for _, rdb := range clients {
		if n, err := rdb.StrLen(ctx, "big:out").Result(); err != nil || n != size {
			t.Errorf("STRLEN = %d, %v", n, err)
		}
		if v, err := rdb.Get(ctx, "big:out").Result(); err != nil || len(v) != size {
			t.Errorf("GET of %d MiB: %d bytes, %v", size>>20, len(v), err)
		}
	}
	if err := clients[0].Del(ctx, "big:out").Err(); err != nil {
		t.Errorf("DEL: %v", err)
	}
	return clients
}

func stressVmRSS(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS line")
}

// stressDumpHang reports the workers that did not finish, with what they
// were doing, the server's CLIENT LIST, and all goroutine stacks in a file.
func stressDumpHang(t *testing.T, s *stressRun, rdb *redis.Client) {
	var b strings.Builder
	fmt.Fprintf(&b, "stress seed=%d: workers still busy %v after the end of the load:\n", s.seed, time.Since(s.end).Round(time.Millisecond))
	for _, w := range s.workers {
		st := w.state()
		if !strings.HasSuffix(st, ": done") {
			b.WriteString("  " + st + "\n  recent ops:\n" + w.recent())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if list, err := rdb.ClientList(ctx).Result(); err == nil {
		b.WriteString("CLIENT LIST:\n" + list)
	} else {
		fmt.Fprintf(&b, "CLIENT LIST failed: %v\n", err)
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("stress-goroutines-%d.txt", s.seed))
	if f, err := os.Create(path); err == nil {
		pprof.Lookup("goroutine").WriteTo(f, 2)
		f.Close()
		fmt.Fprintf(&b, "goroutine stacks: %s\n", path)
	}
	t.Error(b.String())
}

// stressStartServer runs an in-process server like startServer, with a
// logger that keeps what the server logs at warning level and above: a
// recovered panic is a bug even when the client saw nothing wrong.
func stressStartServer(t *testing.T, shards int) (*stressLog, string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &stressLog{}
	srv := New(Options{Shards: shards, Logger: slog.New(h)})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return within 10 s of Shutdown")
		}
	})
	return h, l.Addr().String()
}

// stressLog is a slog.Handler keeping warnings and errors.
type stressLog struct {
	mu     sync.Mutex
	errors int
	first  []string
}

func (h *stressLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *stressLog) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *stressLog) WithGroup(string) slog.Handler                { return h }

func (h *stressLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Level >= slog.LevelError {
		h.errors++
	}
	if len(h.first) < 5 {
		msg := b.String()
		if len(msg) > 4000 {
			msg = msg[:4000] + "..."
		}
		h.first = append(h.first, msg)
	}
	return nil
}

func (h *stressLog) check(t *testing.T, seed int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.errors > 0 {
		t.Errorf("stress seed=%d: the server logged %d errors; the first warnings and errors:\n%s", seed, h.errors, strings.Join(h.first, "\n"))
	} else if len(h.first) > 0 {
		t.Logf("stress: the server logged warnings:\n%s", strings.Join(h.first, "\n"))
	}
}

// stressWhy explains a failed read on a raw connection.
func stressWhy(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		return "the server closed the connection (" + err.Error() + "; a logged panic?)"
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out: the server never answered (" + err.Error() + ")"
	}
	return err.Error()
}
