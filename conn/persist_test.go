package conn

import (
	"context"
	"errors"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// persistServer is an in-process server writing its RDB file in a test's
// directory.
type persistServer struct {
	srv  *Server
	addr string
	stop func() // shuts it down (saving, if its save points say so); idempotent
}

// startPersistServer starts a server with dir and the other configuration
// pairs given, loading dir's dump.rdb first as the command line does.
func startPersistServer(t *testing.T, shards int, dir string, pairs ...string) *persistServer {
	t.Helper()
	return startPersistServerAt(t, "127.0.0.1:0", shards, dir, pairs...)
}

// startPersistServerAt is startPersistServer listening on addr.
func startPersistServerAt(t *testing.T, addr string, shards int, dir string, pairs ...string) *persistServer {
	t.Helper()
	cfg := config.New()
	all := append([]string{"dir", dir, "save", "", "enable-debug-command", "yes", "enable-protected-configs", "yes"}, pairs...)
	if err := cfg.Load(all...); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Shards: shards, Config: cfg, Persistent: true})
	srv.BeginLoading()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	if err := srv.LoadAtStartup(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			if err := <-done; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &persistServer{srv: srv, addr: l.Addr().String(), stop: stop}
}

// fillEveryType writes keys of every type, in small and large encodings,
// some with TTLs, in databases 0 and 3.
func fillEveryType(t *testing.T, c *redis.Client) {
	t.Helper()
	ctx := context.Background()
	p := c.Pipeline()
	p.Set(ctx, "str:small", "hello", 0)
	p.Set(ctx, "str:int", "12345", 0)
	p.Set(ctx, "str:neg", "-9000000000", 0)
	p.Set(ctx, "str:long", strings.Repeat("abcdefgh", 100), 0)
	p.Set(ctx, "str:ttl", "soon", time.Hour)
	p.Set(ctx, "str:bin", "\x00\xff\r\n", 0)
	p.RPush(ctx, "list:small", "a", "b", "1", "-2")
	for i := 0; i < 3000; i++ {
		p.RPush(ctx, "list:big", "element-"+strconv.Itoa(i))
	}
	p.SAdd(ctx, "set:ints", 1, 2, 3, -40, 500000)
	p.SAdd(ctx, "set:strs", "x", "y", "z")
	for i := 0; i < 700; i++ {
		p.SAdd(ctx, "set:big", "m"+strconv.Itoa(i))
	}
	p.HSet(ctx, "hash:small", "f1", "v1", "f2", "2")
	for i := 0; i < 300; i++ {
		p.HSet(ctx, "hash:big", "field"+strconv.Itoa(i), strings.Repeat("v", i%90))
	}
	p.Expire(ctx, "hash:big", 2*time.Hour)
	p.ZAdd(ctx, "zset:small", redis.Z{Score: 1.5, Member: "a"}, redis.Z{Score: -2, Member: "b"})
	for i := 0; i < 300; i++ {
		p.ZAdd(ctx, "zset:big", redis.Z{Score: float64(i) / 3, Member: "member" + strconv.Itoa(i)})
	}
	p.ZAdd(ctx, "zset:inf", redis.Z{Score: math.Inf(1), Member: "up"}, redis.Z{Score: math.Inf(-1), Member: "down"})
	for i := 0; i < 50; i++ {
		p.XAdd(ctx, &redis.XAddArgs{Stream: "stream", Values: []string{"n", strconv.Itoa(i)}})
	}
	p.XGroupCreate(ctx, "stream", "g1", "0")
	p.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g1", Consumer: "alice", Streams: []string{"stream", ">"}, Count: 5})
	p.PFAdd(ctx, "hll", "a", "b", "c")
	p.SetBit(ctx, "bitmap", 1000, 1)
	p.Do(ctx, "select", 3)
	p.Set(ctx, "db3:key", "in three", 0)
	p.LPush(ctx, "db3:list", "x")
	p.Do(ctx, "select", 0)
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// keyspace describes every key of databases 0..15 in a form that does
// not depend on encodings or order: db, key, type, TTL (to the hour) and
// the sorted contents.
func keyspace(t *testing.T, addr string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for db := 0; db < 16; db++ {
		c := redis.NewClient(&redis.Options{Addr: addr, DB: db, Protocol: 2})
		keys, err := c.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			typ := c.Type(ctx, k).Val()
			var vals []string
			switch typ {
			case "string":
				vals = []string{c.Get(ctx, k).Val()}
			case "list":
				vals = c.LRange(ctx, k, 0, -1).Val()
			case "set":
				vals = c.SMembers(ctx, k).Val()
			case "hash":
				for f, v := range c.HGetAll(ctx, k).Val() {
					vals = append(vals, f+"="+v)
				}
			case "zset":
				for _, z := range c.ZRangeWithScores(ctx, k, 0, -1).Val() {
					vals = append(vals, z.Member.(string)+"="+strconv.FormatFloat(z.Score, 'g', -1, 64))
				}
			case "stream":
				for _, m := range c.XRange(ctx, k, "-", "+").Val() {
					vals = append(vals, m.ID+":"+m.Values["n"].(string))
				}
				for _, g := range c.XInfoGroups(ctx, k).Val() {
					vals = append(vals, "group "+g.Name+" pending "+strconv.FormatInt(g.Pending, 10)+" last "+g.LastDeliveredID)
				}
			}
			slices.Sort(vals)
			ttl := c.PTTL(ctx, k).Val()
			hours := int64(-1)
			if ttl > 0 {
				hours = int64((ttl + 30*time.Minute) / time.Hour)
			}
			out = append(out, strconv.Itoa(db)+" "+k+" "+typ+" ttl~"+strconv.FormatInt(hours, 10)+"h "+strings.Join(vals, ","))
		}
		c.Close()
	}
	slices.Sort(out)
	return out
}

func TestSaveThenRestartLoadsEverything(t *testing.T) {
	dir := t.TempDir()
	a := startPersistServer(t, 8, dir)
	ca := newClient2(t, a.addr, 2)
	fillEveryType(t, ca)
	ctx := context.Background()
	if _, err := ca.FunctionLoad(ctx, "#!lua name=persisted\nredis.register_function('hi', function() return 'hi' end)").Result(); err != nil {
		t.Fatal(err)
	}
	want := keyspace(t, a.addr)
	if len(want) < 15 {
		t.Fatalf("only %d keys written", len(want))
	}
	if err := ca.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	before := ca.LastSave(ctx).Val()
	if before == 0 {
		t.Fatal("LASTSAVE is 0 after SAVE")
	}
	a.stop()

	b := startPersistServer(t, 3, dir) // another shard count: keys move between shards
	got := keyspace(t, b.addr)
	if !slices.Equal(got, want) {
		t.Fatalf("after restart:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	cb := newClient2(t, b.addr, 2)
	if v, err := cb.FCall(ctx, "hi", nil).Result(); err != nil || v != "hi" {
		t.Fatalf("FCALL hi after restart = %v, %v", v, err)
	}
	if n := persistInfo(t, cb, "persistence", "rdb_last_load_keys_loaded"); n != strconv.Itoa(len(want)) {
		t.Fatalf("rdb_last_load_keys_loaded = %s, want %d", n, len(want))
	}
}

// persistInfo returns one field of an INFO section.
func persistInfo(t *testing.T, c *redis.Client, section, field string) string {
	t.Helper()
	info, err := c.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO %s has no %s:\n%s", section, field, info)
	return ""
}

func TestDebugReloadKeepsTheDataset(t *testing.T) {
	s := startPersistServer(t, 8, t.TempDir())
	c := newClient2(t, s.addr, 2)
	fillEveryType(t, c)
	ctx := context.Background()
	want := keyspace(t, s.addr)
	digest := c.Do(ctx, "debug", "digest").Val()
	if err := c.Do(ctx, "debug", "reload").Err(); err != nil {
		t.Fatal(err)
	}
	if got := keyspace(t, s.addr); !slices.Equal(got, want) {
		t.Fatalf("after DEBUG RELOAD:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := c.Do(ctx, "debug", "digest").Val(); d != digest {
		t.Fatalf("digest %v after DEBUG RELOAD, %v before", d, digest)
	}
}

// TestBgsaveIsOneInstant checks that a BGSAVE's file holds the dataset of
// the instant BGSAVE replied, while writes go on: every key is overwritten,
// deleted keys recreated and new keys created after the reply, and
// transactions move counters on different shards together.
func TestBgsaveIsOneInstant(t *testing.T) {
	dir := t.TempDir()
	s := startPersistServer(t, 8, dir)
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	const n = 60000
	if err := c.Do(ctx, "debug", "populate", n, "k", 40).Err(); err != nil {
		t.Fatal(err)
	}
	counters := []string{"ctr:a", "ctr:b", "ctr:c", "ctr:d", "ctr:e", "ctr:f", "ctr:g", "ctr:h"}
	for _, k := range counters {
		c.Set(ctx, k, 0, 0)
	}
	// Transactions on the counters, all the time.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tc := redis.NewClient(&redis.Options{Addr: s.addr})
		defer tc.Close()
		for {
			select {
			case <-stop:
				return
			default:
			}
			tc.TxPipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range counters {
					p.Incr(ctx, k)
				}
				return nil
			})
		}
	}()
	if v := c.BgSave(ctx).Val(); v != "Background saving started" {
		t.Fatalf("BGSAVE replied %q", v)
	}
	// After the reply: rewrite, delete and create keys as fast as a
	// pipeline goes.
	p := c.Pipeline()
	for i := 0; i < n; i++ {
		k := "k:" + strconv.Itoa(i)
		switch i % 3 {
		case 0:
			p.Set(ctx, k, "changed", 0)
		case 1:
			p.Del(ctx, k)
		case 2:
			p.Append(ctx, k, "+")
		}
		p.Set(ctx, "new:"+strconv.Itoa(i), "x", 0)
		if i%1000 == 999 {
			if _, err := p.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	waitNoBgsave(t, c)
	close(stop)
	wg.Wait()
	if st := persistInfo(t, c, "persistence", "rdb_last_bgsave_status"); st != "ok" {
		t.Fatalf("rdb_last_bgsave_status %s", st)
	}
	s.stop()

	// Load the file in a fresh server and look.
	r := startPersistServer(t, 2, dir)
	rc := newClient2(t, r.addr, 2)
	if got := rc.DBSize(ctx).Val(); got != n+int64(len(counters)) {
		t.Fatalf("the file holds %d keys, want %d", got, n+len(counters))
	}
	for i := 0; i < n; i += 7 {
		k := "k:" + strconv.Itoa(i)
		want := "value:" + strconv.Itoa(i)
		if v, err := rc.Get(ctx, k).Result(); err != nil || !strings.HasPrefix(v, want) || len(v) != 40 {
			t.Fatalf("%s = %q, %v in the file; want the value before BGSAVE", k, v, err)
		}
	}
	if k := rc.Keys(ctx, "new:*").Val(); len(k) != 0 {
		t.Fatalf("keys created after BGSAVE are in the file: %d", len(k))
	}
	first := rc.Get(ctx, counters[0]).Val()
	for _, k := range counters[1:] {
		if v := rc.Get(ctx, k).Val(); v != first {
			t.Fatalf("counters differ in the file: %s=%s, %s=%s", counters[0], first, k, v)
		}
	}
}

func waitNoBgsave(t *testing.T, c *redis.Client) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for persistInfo(t, c, "persistence", "rdb_bgsave_in_progress") != "0" {
		if time.Now().After(deadline) {
			t.Fatal("BGSAVE still running after 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSavePointsAndShutdownSave(t *testing.T) {
	dir := t.TempDir()
	s := startPersistServer(t, 4, dir, "save", "1 2")
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	if n := persistInfo(t, c, "persistence", "rdb_changes_since_last_save"); n != "0" {
		t.Fatalf("rdb_changes_since_last_save = %s on a new server", n)
	}
	c.Set(ctx, "a", "1", 0)
	c.Set(ctx, "b", "2", 0)
	c.Get(ctx, "a")
	if n := persistInfo(t, c, "persistence", "rdb_changes_since_last_save"); n != "2" {
		t.Fatalf("rdb_changes_since_last_save = %s after two SETs and a GET", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for persistInfo(t, c, "persistence", "rdb_saves") == "0" {
		if time.Now().After(deadline) {
			t.Fatal("the save point \"1 2\" did not save within 5s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitNoBgsave(t, c)
	if n := persistInfo(t, c, "persistence", "rdb_changes_since_last_save"); n != "0" {
		t.Fatalf("rdb_changes_since_last_save = %s after the save", n)
	}
	c.Set(ctx, "c", "3", 0) // below the save point: only the shutdown saves it
	s.stop()
	r := startPersistServer(t, 1, dir)
	if got := r.srv.persist.loadLoaded.Load(); got != 3 {
		t.Fatalf("loaded %d keys after a shutdown with save points, want 3", got)
	}
}

func TestFlushallSavesWithSavePoints(t *testing.T) {
	dir := t.TempDir()
	s := startPersistServer(t, 4, dir)
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	c.Set(ctx, "k", "v", 0)
	c.FlushAll(ctx)
	if n := persistInfo(t, c, "persistence", "rdb_changes_since_last_save"); n == "0" {
		t.Fatal("FLUSHALL without save points reset the changes")
	}
	if _, err := os.Stat(filepath.Join(dir, "dump.rdb")); err == nil {
		t.Fatal("FLUSHALL without save points wrote a file")
	}
	c.ConfigSet(ctx, "save", "3600 1")
	c.Set(ctx, "k", "v", 0)
	c.Save(ctx)
	c.Set(ctx, "k2", "v", 0)
	c.FlushAll(ctx)
	if n := persistInfo(t, c, "persistence", "rdb_changes_since_last_save"); n != "0" {
		t.Fatalf("rdb_changes_since_last_save = %s after FLUSHALL with save points", n)
	}
	s.srv.persist.shutdownMode.Store(shutdownNoSave)
	s.stop()
	r := startPersistServer(t, 1, dir)
	if n := newClient2(t, r.addr, 2).DBSize(ctx).Val(); n != 0 {
		t.Fatalf("the file after FLUSHALL holds %d keys", n)
	}
}

func TestLoadingRefusesCommands(t *testing.T) {
	srv, addr := startServer(t, 2)
	c := newClient2(t, addr, 2)
	ctx := context.Background()
	srv.BeginLoading() // no file to load: nothing is refused
	if err := c.Get(ctx, "k").Err(); err != redis.Nil {
		t.Fatalf("GET with no file to load: %v", err)
	}
	srv.persist.loading.Store(true) // as BeginLoading with a file
	if err := c.Get(ctx, "k").Err(); err == nil || err.Error() != "LOADING Redis is loading the dataset in memory" {
		t.Fatalf("GET while loading: %v", err)
	}
	if v := persistInfo(t, c, "persistence", "loading"); v != "1" {
		t.Fatalf("loading:%s while loading", v)
	}
	srv.persist.loading.Store(false)
	if err := c.Get(ctx, "k").Err(); err != redis.Nil {
		t.Fatalf("GET after loading: %v", err)
	}
}

// A command that arrives during a load waits for the load's next event
// point (every loading-process-events-interval-bytes, as Redis's main
// thread serves clients then): a load that ends first serves it, as Redis
// serves a client only after a small file is in; a load that passes the
// point answers -LOADING, as do the other commands refused at that point.
func TestLoadingAnswersAtEventPoints(t *testing.T) {
	srv, addr := startServer(t, 2)
	// No retries: go-redis would retry a -LOADING reply.
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	c.Set(ctx, "k", "v", 0)
	p := &srv.persist
	later := func(d time.Duration, f func()) { time.AfterFunc(d, f) }

	p.loading.Store(true)
	later(50*time.Millisecond, func() { p.loading.Store(false) })
	start := time.Now()
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET during a load that ends: %q, %v; want v", v, err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("GET answered in %v, before the load ended", d)
	}

	p.loading.Store(true) // another load
	later(50*time.Millisecond, func() { p.loading.point() })
	start = time.Now()
	if err := c.Get(ctx, "k").Err(); err == nil || err.Error() != errLoading {
		t.Fatalf("GET at the load's next event point: %v, want -LOADING", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > 900*time.Millisecond {
		t.Fatalf("-LOADING after %v, want at the event point (50 ms)", d)
	}

	// No progress: the three commands of a pipeline wait for one point
	// (at most loadTurnMax), not one each.
	later(2*loadTurnMax, func() { p.loading.Store(false) })
	start = time.Now()
	pipe := c.Pipeline()
	gets := []*redis.StringCmd{pipe.Get(ctx, "k"), pipe.Get(ctx, "k"), pipe.Get(ctx, "k")}
	pipe.Exec(ctx)
	for i, g := range gets {
		if err := g.Err(); err == nil || err.Error() != errLoading {
			t.Fatalf("pipelined GET %d: %v, want -LOADING", i, err)
		}
	}
	if d := time.Since(start); d > loadTurnMax+loadTurnMax/2 {
		t.Fatalf("three refused GETs took %v, want about %v", d, loadTurnMax)
	}
}

func TestSaveErrors(t *testing.T) {
	dir := t.TempDir()
	s := startPersistServer(t, 2, dir)
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	if err := c.Do(ctx, "bgsave", "now").Err(); err == nil || err.Error() != "ERR syntax error" {
		t.Fatalf("BGSAVE now: %v", err)
	}
	if err := c.Do(ctx, "save", "x").Err(); err == nil || !strings.Contains(err.Error(), "wrong number of arguments") {
		t.Fatalf("SAVE x: %v", err)
	}
	// A directory the save cannot write in: SAVE fails with Redis's bare
	// -ERR (the reason goes to the log), and the server stays up. (A
	// read-only directory would not do: CI runs as root.)
	saveIntoGoneDir(t, c, dir)
	if err := c.Save(ctx).Err(); err == nil || err.Error() != "ERR" {
		t.Fatalf("SAVE into a directory that is gone: %v", err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after a failed SAVE: %v", err)
	}
	if err := c.ConfigSet(ctx, "dir", dir).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}

// saveIntoGoneDir points c's server at a dir, then removes it: every save
// then fails to create its file (root may write anywhere, so permissions
// would not do). It returns the dir, to create again.
func saveIntoGoneDir(t *testing.T, c *redis.Client, base string) string {
	t.Helper()
	gone := filepath.Join(base, "gone")
	if err := os.Mkdir(gone, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigSet(context.Background(), "dir", gone).Err(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	return gone
}

func TestFailedBgsaveRefusesWrites(t *testing.T) {
	base := t.TempDir()
	s := startPersistServer(t, 4, base, "save", "3600 1")
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	c.Set(ctx, "x", "x", 0)
	sub := saveIntoGoneDir(t, c, base)
	if err := c.BgSave(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	waitNoBgsave(t, c)
	if st := persistInfo(t, c, "persistence", "rdb_last_bgsave_status"); st != "err" {
		t.Fatalf("rdb_last_bgsave_status %s after a failed BGSAVE", st)
	}
	if v := c.Get(ctx, "x").Val(); v != "x" {
		t.Fatalf("GET x = %q", v)
	}
	for _, cmd := range [][]any{{"set", "x", "y"}, {"ping"}, {"eval", "#!lua\nreturn redis.call('set','x',1)", 1, "x"}} {
		if err := c.Do(ctx, cmd...).Err(); err == nil || !strings.HasPrefix(err.Error(), "MISCONF ") {
			t.Fatalf("%v after a failed BGSAVE: %v, want MISCONF", cmd, err)
		}
	}
	if err := c.Eval(ctx, "return redis.call('set','x',1)", []string{"x"}).Err(); err == nil || !strings.HasPrefix(err.Error(), "MISCONF ") {
		t.Fatalf("a script's write after a failed BGSAVE: %v", err)
	}
	c.ConfigSet(ctx, "stop-writes-on-bgsave-error", "no")
	if err := c.Set(ctx, "x", "z", 0).Err(); err != nil {
		t.Fatalf("SET with stop-writes-on-bgsave-error no: %v", err)
	}
	c.ConfigSet(ctx, "stop-writes-on-bgsave-error", "yes")
	os.Mkdir(sub, 0o755)
	c.BgSave(ctx)
	waitNoBgsave(t, c)
	if err := c.Set(ctx, "x", "w", 0).Err(); err != nil {
		t.Fatalf("SET after a good BGSAVE: %v", err)
	}
}

func TestDebugReloadNoflushMerge(t *testing.T) {
	s := startPersistServer(t, 4, t.TempDir())
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	c.Set(ctx, "a", "1", 0)
	c.FunctionLoad(ctx, "#!lua name=lib1\nredis.register_function('f1', function() return 1 end)")
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// Without MERGE the file's keys collide with the dataset's.
	if err := c.Do(ctx, "debug", "reload", "noflush").Err(); err == nil || !strings.Contains(err.Error(), "Error trying to load the RDB") {
		t.Fatalf("DEBUG RELOAD NOFLUSH onto the same keys: %v", err)
	}
	c.Set(ctx, "a", "changed", 0)
	c.Set(ctx, "b", "kept", 0)
	c.FunctionLoad(ctx, "#!lua name=lib2\nredis.register_function('f2', function() return 2 end)")
	if err := c.Do(ctx, "debug", "reload", "nosave", "noflush", "merge").Err(); err != nil {
		t.Fatal(err)
	}
	if a, b := c.Get(ctx, "a").Val(), c.Get(ctx, "b").Val(); a != "1" || b != "kept" {
		t.Fatalf("after MERGE a=%q b=%q, want the file's a and the kept b", a, b)
	}
	for _, f := range []string{"f1", "f2"} {
		if err := c.FCall(ctx, f, nil).Err(); err != nil {
			t.Fatalf("FCALL %s after MERGE: %v", f, err)
		}
	}
	if err := c.Do(ctx, "debug", "reload", "bogus").Err(); err == nil || err.Error() != "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options." {
		t.Fatalf("DEBUG RELOAD bogus: %v", err)
	}
}

func TestChangesCountOnlyRealChanges(t *testing.T) {
	s := startPersistServer(t, 4, t.TempDir())
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	changes := func() int {
		n, _ := strconv.Atoi(persistInfo(t, c, "persistence", "rdb_changes_since_last_save"))
		return n
	}
	base := changes()
	c.SetBit(ctx, "foo", 0, 0)
	c.BitField(ctx, "foo2", "set", "i5", 0, 0)
	if n := changes(); n != base+2 {
		t.Fatalf("creating two keys counted %d changes", n-base)
	}
	c.SetBit(ctx, "foo", 0, 0)
	c.BitField(ctx, "foo2", "set", "i5", 0, 0)
	c.SetNX(ctx, "foo", "x", 0)
	c.Del(ctx, "missing")
	c.Incr(ctx, "foo") // WRONGTYPE? no: foo is a string of one zero byte: not an integer
	if n := changes(); n != base+2 {
		t.Fatalf("commands that changed nothing counted %d changes", n-base-2)
	}
	c.SetBit(ctx, "foo", 0, 1)
	if n := changes(); n != base+3 {
		t.Fatalf("a SETBIT that changed a bit counted %d", n-base-2)
	}
}
