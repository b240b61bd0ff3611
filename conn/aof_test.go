package conn

import (
	"context"
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

// writeNonDeterministic runs writes whose journal form differs from the
// call (relative TTLs, random pops, float increments), transactions and
// scripts across shards, and a blocked pop served by a push.
func writeNonDeterministic(t *testing.T, c *redis.Client) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
	}
	must(c.Set(ctx, "ex:key", "v", 90*time.Minute).Err())
	must(c.Do(ctx, "SETEX", "setex:key", 7200, "v").Err())
	must(c.Set(ctx, "persist:key", "v", time.Hour).Err())
	must(c.Persist(ctx, "persist:key").Err())
	must(c.Set(ctx, "gone:key", "v", 0).Err())
	must(c.Do(ctx, "PEXPIRE", "gone:key", -5).Err())
	must(c.IncrByFloat(ctx, "float", 1.1).Err())
	must(c.IncrByFloat(ctx, "float", 2.2).Err())
	must(c.HIncrByFloat(ctx, "hfloat", "f", 0.5).Err())
	for i := 0; i < 40; i++ {
		must(c.SAdd(ctx, "spop", "m"+strconv.Itoa(i)).Err())
	}
	must(c.SPop(ctx, "spop").Err())
	must(c.SPopN(ctx, "spop", 10).Err())
	must(c.GetEx(ctx, "ex:key", 3*time.Hour).Err())
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < 10; i++ {
			p.Incr(ctx, "tx:"+strconv.Itoa(i))
		}
		p.RPush(ctx, "tx:list", "a", "b")
		return nil
	})
	must(err)
	must(c.Eval(ctx, "for i = 1, 3 do redis.call('set', KEYS[i], ARGV[1]) end redis.call('sadd', KEYS[4], 'a', 'b', 'c') redis.call('spop', KEYS[4])",
		[]string{"script:a", "script:b", "script:c", "script:d"}, "x").Err())
	must(c.Eval(ctx, "redis.call('sadd', KEYS[1], 'p', 'q', 'r') return redis.call('spop', KEYS[1])", []string{"script:set"}).Err())
	// A blocked pop, served when another client pushes.
	other := newClient2(t, c.Options().Addr, 2)
	done := make(chan error, 1)
	go func() { done <- other.BLMove(ctx, "blk:src", "blk:dst", "LEFT", "RIGHT", 5*time.Second).Err() }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(c.Info(ctx, "clients").Val(), "blocked_clients:1") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	must(c.RPush(ctx, "blk:src", "one", "two").Err())
	must(<-done)
	must(c.RestoreReplace(ctx, "restored", 2*time.Hour, c.Dump(ctx, "tx:list").Val()).Err())
	must(c.Copy(ctx, "tx:list", "copied", 5, false).Err())
	must(c.Do(ctx, "SWAPDB", 6, 5).Err())
}

func TestAOFRestartLoadsEverything(t *testing.T) {
	dir := t.TempDir()
	a := startPersistServer(t, 8, dir, "appendonly", "yes", "appendfsync", "always")
	ca := newClient2(t, a.addr, 2)
	fillEveryType(t, ca)
	writeNonDeterministic(t, ca)
	ctx := context.Background()
	if err := ca.FunctionLoad(ctx, persistLib).Err(); err != nil {
		t.Fatal(err)
	}
	want := keyspace(t, a.addr)
	if len(want) < 30 {
		t.Fatalf("only %d keys written", len(want))
	}
	a.stop()
	if _, err := os.Stat(filepath.Join(dir, "dump.rdb")); err == nil {
		t.Fatal("the AOF server wrote dump.rdb without save points")
	}

	b := startPersistServer(t, 3, dir, "appendonly", "yes")
	if got := keyspace(t, b.addr); !slices.Equal(got, want) {
		t.Fatalf("after restart:\n%s", diffLines(got, want))
	}
	if v, err := newClient2(t, b.addr, 2).FCall(ctx, "moved", nil).Result(); err != nil || v != "moved" {
		t.Fatalf("FCALL after restart = %v, %v", v, err)
	}
}

// TestAOFRewriteDuringWrites: BGREWRITEAOF while clients write (across
// shards, in transactions) leaves base + incr files that restore exactly
// what the server held, and deletes the files it replaced.
func TestAOFRewriteDuringWrites(t *testing.T) {
	dir := t.TempDir()
	a := startPersistServer(t, 8, dir, "appendonly", "yes", "appendfsync", "everysec")
	ca := newClient2(t, a.addr, 2)
	ctx := context.Background()
	fillEveryType(t, ca)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient2(t, a.addr, 2)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := "w" + strconv.Itoa(w) + ":" + strconv.Itoa(i%500)
				c.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.Incr(ctx, k)
					p.SAdd(ctx, "members:"+strconv.Itoa(i%7), k)
					p.Set(ctx, "last:"+strconv.Itoa(w), i, time.Hour)
					return nil
				})
				if i%50 == 0 {
					c.Del(ctx, "w"+strconv.Itoa(w)+":"+strconv.Itoa((i+250)%500))
				}
			}
		}()
	}
	for r := 0; r < 3; r++ {
		time.Sleep(100 * time.Millisecond)
		if err := ca.BgRewriteAOF(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		waitAOFRewrite(t, ca)
	}
	close(stop)
	wg.Wait()
	if got := persistInfo(t, ca, "persistence", "aof_rewrites"); got != "3" {
		t.Fatalf("aof_rewrites = %s, want 3", got)
	}
	want := keyspace(t, a.addr)
	a.stop()
	files, _ := os.ReadDir(filepath.Join(dir, "appendonlydir"))
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	if want := []string{"appendonly.aof.4.base.rdb", "appendonly.aof.4.incr.aof", "appendonly.aof.manifest"}; !slices.Equal(names, want) {
		t.Fatalf("AOF directory holds %v, want %v", names, want)
	}
	b := startPersistServer(t, 5, dir, "appendonly", "yes")
	if got := keyspace(t, b.addr); !slices.Equal(got, want) {
		t.Fatalf("after restart (%d keys, want %d):\n%s", len(got), len(want), diffLines(got, want))
	}
}

func waitAOFRewrite(t *testing.T, c *redis.Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for persistInfo(t, c, "persistence", "aof_rewrite_in_progress") != "0" ||
		persistInfo(t, c, "persistence", "aof_rewrite_scheduled") != "0" {
		if time.Now().After(deadline) {
			t.Fatal("the AOF rewrite did not end")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// diffLines lists the lines only one side has.
func diffLines(got, want []string) string {
	var out []string
	for _, g := range got {
		if !slices.Contains(want, g) {
			out = append(out, "+ "+g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, "- "+w)
		}
	}
	return strings.Join(out, "\n")
}

// TestAOFTurnedOnAtRunTime: CONFIG SET appendonly yes writes the dataset
// as the base, and the writes after it go to the incr file.
func TestAOFTurnedOnAtRunTime(t *testing.T) {
	dir := t.TempDir()
	a := startPersistServer(t, 8, dir)
	ca := newClient2(t, a.addr, 2)
	ctx := context.Background()
	fillEveryType(t, ca)
	if err := ca.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	waitAOFRewrite(t, ca)
	if got := persistInfo(t, ca, "persistence", "aof_enabled"); got != "1" {
		t.Fatalf("aof_enabled = %s", got)
	}
	writeNonDeterministic(t, ca)
	want := keyspace(t, a.addr)
	a.stop()
	b := startPersistServer(t, 2, dir, "appendonly", "yes")
	if got := keyspace(t, b.addr); !slices.Equal(got, want) {
		t.Fatalf("after restart:\n%s", diffLines(got, want))
	}
	cb := newClient2(t, b.addr, 2)
	if err := cb.ConfigSet(ctx, "appendonly", "no").Err(); err != nil {
		t.Fatal(err)
	}
	if got := persistInfo(t, cb, "persistence", "aof_enabled"); got != "0" {
		t.Fatalf("aof_enabled = %s after appendonly no", got)
	}
}

// TestAOFTruncatedTail: a last incr file cut inside a command loads up to
// the cut (and is truncated there) with aof-load-truncated yes, and stops
// the start-up with no.
func TestAOFTruncatedTail(t *testing.T) {
	dir := t.TempDir()
	a := startPersistServer(t, 4, dir, "appendonly", "yes")
	ca := newClient2(t, a.addr, 2)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		ca.Set(ctx, "k"+strconv.Itoa(i), i, 0)
	}
	a.stop()
	incr := filepath.Join(dir, "appendonlydir", "appendonly.aof.1.incr.aof")
	whole, err := os.ReadFile(incr)
	if err != nil {
		t.Fatal(err)
	}
	cut := append(slices.Clone(whole), "*3\r\n$3\r\nSET\r\n$2\r\nzz\r\n$5\r\nhal"...)
	if err := os.WriteFile(incr, cut, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := loadOnly(t, dir, "appendonly", "yes", "aof-load-truncated", "no"); err == nil {
		t.Fatal("a truncated AOF loaded with aof-load-truncated no")
	}
	b := startPersistServer(t, 4, dir, "appendonly", "yes", "aof-load-truncated", "yes")
	cb := newClient2(t, b.addr, 2)
	if n := cb.DBSize(ctx).Val(); n != 20 {
		t.Fatalf("DBSIZE %d after loading the cut file, want 20", n)
	}
	b.stop()
	got, _ := os.ReadFile(incr)
	if !slices.Equal(got, whole) {
		t.Fatalf("the file was not cut back to its last whole command: %d bytes, want %d", len(got), len(whole))
	}
}

// loadOnly builds a server on dir and runs its start-up load, returning
// the error.
func loadOnly(t *testing.T, dir string, pairs ...string) error {
	t.Helper()
	cfg := newPersistConfig(t, dir, pairs...)
	srv := New(Options{Shards: 2, Config: cfg, Persistent: true})
	err := srv.LoadAtStartup()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	return err
}

// TestRedisLoadsValkyriesAOF: redis-server 7.0.15 started on Valkyrie's
// AOF directory holds the same keyspace. Skipped without redis-server.
func TestRedisLoadsValkyriesAOF(t *testing.T) {
	bin := trRedisBinary()
	if bin == "" {
		t.Skip("redis-server not installed")
	}
	dir := t.TempDir()
	v := startPersistServer(t, 8, dir, "appendonly", "yes")
	vc := newClient2(t, v.addr, 2)
	ctx := context.Background()
	fillEveryType(t, vc)
	if err := vc.BgRewriteAOF(ctx).Err(); err != nil { // a base with keys
		t.Fatal(err)
	}
	waitAOFRewrite(t, vc)
	writeNonDeterministic(t, vc)
	if err := vc.FunctionLoad(ctx, persistLib).Err(); err != nil {
		t.Fatal(err)
	}
	want := keyspace(t, v.addr)
	v.stop()
	addr := trStartRedis(t, bin, "--dir", dir, "--appendonly", "yes")
	if got := keyspace(t, addr); !slices.Equal(got, want) {
		t.Fatalf("redis-server loaded:\n%s", diffLines(got, want))
	}
	if v, err := newClient2(t, addr, 2).FCall(ctx, "moved", nil).Result(); err != nil || v != "moved" {
		t.Fatalf("FCALL on redis-server: %v %v", v, err)
	}
}

// TestValkyrieLoadsRedissAOF: Valkyrie started on redis-server's AOF
// directory (its base and the commands Redis logged) holds the same
// keyspace.
func TestValkyrieLoadsRedissAOF(t *testing.T) {
	bin := trRedisBinary()
	if bin == "" {
		t.Skip("redis-server not installed")
	}
	dir := t.TempDir()
	addr := trStartRedis(t, bin, "--dir", dir, "--appendonly", "yes", "--appendfsync", "always")
	rc := newClient2(t, addr, 2)
	ctx := context.Background()
	fillEveryType(t, rc)
	writeNonDeterministic(t, rc)
	if err := rc.FunctionLoad(ctx, persistLib).Err(); err != nil {
		t.Fatal(err)
	}
	want := keyspace(t, addr)
	v := startPersistServer(t, 8, dir, "appendonly", "yes")
	if got := keyspace(t, v.addr); !slices.Equal(got, want) {
		t.Fatalf("Valkyrie loaded:\n%s", diffLines(got, want))
	}
}

func newPersistConfig(t *testing.T, dir string, pairs ...string) *config.Table {
	t.Helper()
	cfg := config.New()
	if err := cfg.Load(append([]string{"dir", dir, "save", ""}, pairs...)...); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestAOFBaseWithoutPreamble: with aof-use-rdb-preamble no the base is
// commands (appendonly.aof.N.base.aof) and restores the dataset.
func TestAOFBaseWithoutPreamble(t *testing.T) {
	dir := t.TempDir()
	a := startPersistServer(t, 8, dir, "appendonly", "yes", "aof-use-rdb-preamble", "no", "aof-timestamp-enabled", "yes")
	ca := newClient2(t, a.addr, 2)
	ctx := context.Background()
	fillEveryType(t, ca)
	if err := ca.BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	waitAOFRewrite(t, ca)
	writeNonDeterministic(t, ca)
	want := keyspace(t, a.addr)
	a.stop()
	base, err := os.ReadFile(filepath.Join(dir, "appendonlydir", "appendonly.aof.2.base.aof"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(base), "#TS:") || !strings.Contains(string(base), "XSETID") {
		t.Fatalf("the base is not an AOF of commands: %.80q", base)
	}
	b := startPersistServer(t, 3, dir, "appendonly", "yes")
	if got := keyspace(t, b.addr); !slices.Equal(got, want) {
		t.Fatalf("after restart:\n%s", diffLines(got, want))
	}
}

// TestAOFLoadsScriptsOfOldAOFs: an AOF of Redis before 7.0 holds EVAL as
// called; it loads (on a replica too, whose own clients may not write).
func TestAOFLoadsScriptsOfOldAOFs(t *testing.T) {
	dir := t.TempDir()
	aofDir := filepath.Join(dir, "appendonlydir")
	os.MkdirAll(aofDir, 0o755)
	os.WriteFile(filepath.Join(aofDir, "appendonly.aof.manifest"), []byte("file appendonly.aof.1.incr.aof seq 1 type i\n"), 0o644)
	var b []byte
	for _, cmd := range [][]string{{"select", "9"}, {"eval", "redis.call('set', KEYS[1], '100')", "1", "foo"},
		{"eval", "redis.call('incr', KEYS[1])", "1", "foo"}, {"eval", "redis.call('incr', KEYS[1]) redis.call('set', KEYS[2], 'x')", "2", "foo", "bar"}} {
		b = append(b, "*"+strconv.Itoa(len(cmd))+"\r\n"...)
		for _, a := range cmd {
			b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
		}
	}
	os.WriteFile(filepath.Join(aofDir, "appendonly.aof.1.incr.aof"), b, 0o644)
	v := startPersistServer(t, 8, dir, "appendonly", "yes", "replica-read-only", "yes", "replicaof", "127.0.0.1 1")
	c := redis.NewClient(&redis.Options{Addr: v.addr, DB: 9, Protocol: 2})
	defer c.Close()
	ctx := context.Background()
	if got := c.Get(ctx, "foo").Val(); got != "102" {
		t.Fatalf("foo = %q after loading the scripts, want 102", got)
	}
	if got := c.Get(ctx, "bar").Val(); got != "x" {
		t.Fatalf("bar = %q", got)
	}
}
