package conn

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/config"
	"github.com/valkyrie-kv/valkyrie/shard"
)

// TestFailedLoadAtStartupKeepsTheFile: a dump.rdb that cannot be loaded
// stops the start-up, and the shutdown that follows must not save the
// partial (or empty) dataset over it, as it did with save points set: the
// user's only copy was replaced by an empty file.
func TestFailedLoadAtStartupKeepsTheFile(t *testing.T) {
	dir := t.TempDir()
	a := startPersistServer(t, 4, dir)
	c := newClient2(t, a.addr, 2)
	ctx := context.Background()
	if err := c.Do(ctx, "debug", "populate", 3000, "k", 20).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	a.srv.persist.shutdownMode.Store(shutdownNoSave)
	a.stop()
	path := filepath.Join(dir, "dump.rdb")
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := full[:len(full)*2/3] // some keys load, then the file ends
	if err := os.WriteFile(path, cut, 0o644); err != nil {
		t.Fatal(err)
	}

	// As cmd/valkyrie does: load, and shut down when the load fails.
	cfg := config.New()
	if err := cfg.Load("dir", dir, "save", "3600 1 300 100 60 10000"); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Shards: 4, Config: cfg, Persistent: true})
	srv.BeginLoading()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	if err := srv.LoadAtStartup(); err == nil {
		t.Fatal("a truncated file loaded without an error")
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	<-done
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, cut) {
		t.Fatalf("the shutdown after a failed load replaced dump.rdb (%d bytes, was %d)", len(after), len(cut))
	}
}

// TestSaveFailuresAsRedis: with a dir that is gone (root writes into a
// read-only one), SAVE and DEBUG RELOAD reply a bare ERR as Redis does and
// leave the dataset; rdb_saves counts SAVE and BGSAVE attempts only; a
// failed BGSAVE sets rdb_last_bgsave_status:err and, with save points and
// stop-writes-on-bgsave-error, writes and PING get MISCONF until a save
// succeeds, SAVE included; DEBUG RELOAD of a missing file fails.
func TestSaveFailuresAsRedis(t *testing.T) {
	base := t.TempDir()
	s := startPersistServer(t, 4, base)
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	c.Set(ctx, "k", "v", 0)
	c.Set(ctx, "untouched", "u", 0) // only ever saved
	gone := filepath.Join(base, "gone")
	if err := os.Mkdir(gone, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigSet(ctx, "dir", gone).Err(); err != nil {
		t.Fatal(err)
	}
	os.Remove(gone)
	if err := c.Save(ctx).Err(); err == nil || err.Error() != "ERR" {
		t.Fatalf("SAVE into a missing dir: %v, want ERR", err)
	}
	if err := c.Do(ctx, "debug", "reload").Err(); err == nil || err.Error() != "ERR" {
		t.Fatalf("DEBUG RELOAD into a missing dir: %v, want ERR", err)
	}
	if n := c.DBSize(ctx).Val(); n != 2 {
		t.Fatalf("DEBUG RELOAD whose save failed left %d keys", n)
	}
	if v := persistInfo(t, c, "persistence", "rdb_saves"); v != "1" {
		t.Fatalf("rdb_saves %s after a failed SAVE and DEBUG RELOAD, want 1 (Redis counts SAVE's attempt)", v)
	}
	if v := persistInfo(t, c, "persistence", "rdb_last_bgsave_status"); v != "ok" {
		t.Fatalf("rdb_last_bgsave_status %s after a failed SAVE, want ok", v)
	}
	// Without save points a failed BGSAVE refuses nothing.
	if v := c.BgSave(ctx).Val(); v != "Background saving started" {
		t.Fatalf("BGSAVE: %q", v)
	}
	waitNoBgsave(t, c)
	if v := persistInfo(t, c, "persistence", "rdb_last_bgsave_status"); v != "err" {
		t.Fatalf("rdb_last_bgsave_status %s after a failed BGSAVE", v)
	}
	if v := persistInfo(t, c, "persistence", "rdb_saves"); v != "2" {
		t.Fatalf("rdb_saves %s, want 2", v)
	}
	if err := c.Set(ctx, "k", "v2", 0).Err(); err != nil {
		t.Fatalf("SET without save points after a failed BGSAVE: %v", err)
	}
	if err := c.ConfigSet(ctx, "save", "3600 1").Err(); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]any{{"set", "k", "v3"}, {"ping"}, {"del", "k"}} {
		if err := c.Do(ctx, cmd...).Err(); err == nil || err.Error() != "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error." {
			t.Fatalf("%v after a failed BGSAVE with save points: %v, want MISCONF", cmd, err)
		}
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v2" {
		t.Fatalf("GET after a failed BGSAVE: %q, %v", v, err)
	}
	p := c.TxPipeline()
	p.Set(ctx, "k", "in tx", 0)
	if _, err := p.Exec(ctx); err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") {
		t.Fatalf("EXEC with a SET after a failed BGSAVE: %v", err)
	}
	c.ConfigSet(ctx, "stop-writes-on-bgsave-error", "no")
	if err := c.Set(ctx, "k", "v4", 0).Err(); err != nil {
		t.Fatalf("SET with stop-writes-on-bgsave-error no: %v", err)
	}
	c.ConfigSet(ctx, "stop-writes-on-bgsave-error", "yes")
	if err := c.ConfigSet(ctx, "dir", base).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if v := persistInfo(t, c, "persistence", "rdb_last_bgsave_status"); v != "ok" {
		t.Fatalf("rdb_last_bgsave_status %s after a good SAVE, want ok as Redis", v)
	}
	// The failed saves left every key's mark right: the SAVE wrote the
	// key no one touched.
	if err := c.Do(ctx, "debug", "reload", "nosave").Err(); err != nil {
		t.Fatal(err)
	}
	if v := c.Get(ctx, "untouched").Val(); v != "u" {
		t.Fatalf("untouched = %q in the file of the SAVE after failed saves", v)
	}
	if err := c.Set(ctx, "k", "v5", 0).Err(); err != nil {
		t.Fatalf("SET after a good SAVE: %v", err)
	}
	if err := c.Do(ctx, "debug", "reload").Err(); err != nil {
		t.Fatal(err)
	}
	if v := persistInfo(t, c, "persistence", "rdb_saves"); v != "3" {
		t.Fatalf("rdb_saves %s, want 3 (DEBUG RELOAD's save does not count)", v)
	}
	// The failed saves left every key's mark right: the last ones wrote it.
	if v := c.Get(ctx, "k").Val(); v != "v5" {
		t.Fatalf("k = %q after saves that failed and a DEBUG RELOAD", v)
	}
	if v := c.Get(ctx, "untouched").Val(); v != "u" {
		t.Fatalf("untouched = %q after saves that failed and a DEBUG RELOAD", v)
	}
	c.ConfigSet(ctx, "save", "")
	if err := c.ConfigSet(ctx, "dbfilename", "missing.rdb").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "debug", "reload", "nosave").Err(); err == nil || err.Error() != "ERR Error trying to load the RDB dump" {
		t.Fatalf("DEBUG RELOAD NOSAVE of a missing file: %v", err)
	}
}

// TestShutdownDuringBgsaveWithAShardStuck: a BGSAVE waiting for a slice
// of a shard that stays lent (a connection that never gives it back) must
// not hold up Shutdown, which bounds every other wait for such a shard.
// stopBgsave waited for the BGSAVE goroutine, which waited for the slice
// without looking at its cancel channel: Shutdown never returned.
func TestShutdownDuringBgsaveWithAShardStuck(t *testing.T) {
	s := startPersistServer(t, 4, t.TempDir())
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	if err := c.Do(ctx, "debug", "populate", 200000, "k", 50).Err(); err != nil {
		t.Fatal(err)
	}
	if v := c.BgSave(ctx).Val(); v != "Background saving started" {
		t.Fatalf("BGSAVE: %q", v)
	}
	loan := shard.NewLoan()
	if _, err := s.srv.workers[3].BorrowWithin(loan, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	defer loan.Return()
	time.Sleep(100 * time.Millisecond) // the BGSAVE comes to shard 3 and waits
	if persistInfo(t, c, "persistence", "rdb_bgsave_in_progress") != "1" {
		t.Skip("the BGSAVE ended before the shard was taken")
	}
	done := make(chan struct{})
	go func() {
		s.stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(8 * time.Second):
		loan.Return() // let the test end
		<-done
		t.Fatal("Shutdown hung behind a BGSAVE waiting for a lent shard")
	}
}

// TestFlushallInExecCancelsBgsaveAndSaves: FLUSHALL inside EXEC cancels a
// BGSAVE and, with save points, saves the empty dataset, as Redis's
// flushallCommand does wherever it runs; Valkyrie did that only for a
// FLUSHALL outside a transaction, so the BGSAVE went on and its file
// brought the flushed keys back at the next start. And a FLUSHALL with a
// syntax error neither cancels nor saves.
func TestFlushallInExecCancelsBgsaveAndSaves(t *testing.T) {
	dir := t.TempDir()
	s := startPersistServer(t, 4, dir)
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	if err := c.Do(ctx, "debug", "populate", 200000, "k", 50).Err(); err != nil {
		t.Fatal(err)
	}
	if v := c.BgSave(ctx).Val(); v != "Background saving started" {
		t.Fatalf("BGSAVE: %q", v)
	}
	if err := c.Do(ctx, "flushall", "now").Err(); err == nil || err.Error() != "ERR syntax error" {
		t.Fatalf("FLUSHALL now: %v", err)
	}
	if v := persistInfo(t, c, "persistence", "rdb_bgsave_in_progress"); v != "1" {
		t.Fatal("a FLUSHALL with a syntax error cancelled the BGSAVE")
	}
	if err := c.ConfigSet(ctx, "save", "3600 1").Err(); err != nil {
		t.Fatal(err)
	}
	p := c.TxPipeline()
	p.FlushAll(ctx)
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if v := persistInfo(t, c, "persistence", "rdb_bgsave_in_progress"); v != "0" {
		t.Error("FLUSHALL in EXEC left the BGSAVE running")
	}
	waitNoBgsave(t, c)
	if v := persistInfo(t, c, "persistence", "rdb_changes_since_last_save"); v != "0" {
		t.Errorf("rdb_changes_since_last_save %s after FLUSHALL in EXEC with save points", v)
	}
	s.srv.persist.shutdownMode.Store(shutdownNoSave)
	s.stop()
	r := startPersistServer(t, 2, dir)
	if n := newClient2(t, r.addr, 2).DBSize(ctx).Val(); n != 0 {
		t.Fatalf("the file after FLUSHALL in EXEC holds %d keys", n)
	}
}

// TestInfoPersistenceFieldsAsRedis: INFO persistence has Redis 7.0.15's
// fields in its order (taken from redis-server 7.0.15), the copy-on-write
// ones included, and current_save_keys_total counts the keys while a
// BGSAVE runs.
func TestInfoPersistenceFieldsAsRedis(t *testing.T) {
	s := startPersistServer(t, 4, t.TempDir())
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	want := []string{"loading", "async_loading", "current_cow_peak", "current_cow_size", "current_cow_size_age",
		"current_fork_perc", "current_save_keys_processed", "current_save_keys_total", "rdb_changes_since_last_save",
		"rdb_bgsave_in_progress", "rdb_last_save_time", "rdb_last_bgsave_status", "rdb_last_bgsave_time_sec",
		"rdb_current_bgsave_time_sec", "rdb_saves", "rdb_last_cow_size", "rdb_last_load_keys_expired",
		"rdb_last_load_keys_loaded", "aof_enabled", "aof_rewrite_in_progress", "aof_rewrite_scheduled",
		"aof_last_rewrite_time_sec", "aof_current_rewrite_time_sec", "aof_last_bgrewrite_status", "aof_rewrites",
		"aof_rewrites_consecutive_failures", "aof_last_write_status", "aof_last_cow_size", "module_fork_in_progress",
		"module_fork_last_cow_size"}
	info := c.Info(ctx, "persistence").Val()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(info), "\r\n")[1:] {
		name, _, _ := strings.Cut(line, ":")
		got = append(got, name)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("INFO persistence fields:\n%v\nwant:\n%v", got, want)
	}
	if err := c.Do(ctx, "debug", "populate", 200000, "k", 50).Err(); err != nil {
		t.Fatal(err)
	}
	c.BgSave(ctx)
	if persistInfo(t, c, "persistence", "rdb_bgsave_in_progress") == "1" {
		if v := persistInfo(t, c, "persistence", "current_save_keys_total"); v != "200000" {
			t.Errorf("current_save_keys_total %s during a BGSAVE of 200000 keys", v)
		}
	}
	waitNoBgsave(t, c)
	if v := persistInfo(t, c, "persistence", "current_save_keys_total"); v != "0" {
		t.Errorf("current_save_keys_total %s after the BGSAVE", v)
	}
}

// TestShutdownRefusedWhenItsSaveFails: as Redis, SHUTDOWN (with save
// points, or SAVE) whose save fails replies an error and the server goes
// on; FORCE exits anyway; NOSAVE does not save. Valkyrie saved only after
// closing every connection, and exited with the data lost.
func TestShutdownRefusedWhenItsSaveFails(t *testing.T) {
	base := t.TempDir()
	s := startPersistServer(t, 4, base, "save", "3600 1")
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	c.Set(ctx, "k", "v", 0)
	gone := saveIntoGoneDir(t, c, base)
	for _, cmd := range [][]any{{"shutdown"}, {"shutdown", "save"}, {"shutdown", "now"}} {
		if err := c.Do(ctx, cmd...).Err(); err == nil || err.Error() != "ERR Errors trying to SHUTDOWN. Check logs." {
			t.Fatalf("%v whose save fails: %v", cmd, err)
		}
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after a refused SHUTDOWN: %v", err)
	}
	select {
	case <-s.srv.Stopping():
		t.Fatal("the server is stopping after a refused SHUTDOWN")
	default:
	}
	// A signal's save (PrepareShutdown) fails the same way.
	if err := s.srv.PrepareShutdown(); err == nil {
		t.Fatal("PrepareShutdown succeeded with the dir gone")
	}
	// With a good dir SHUTDOWN saves and stops.
	if err := c.ConfigSet(ctx, "dir", base).Err(); err != nil {
		t.Fatal(err)
	}
	c.Set(ctx, "k2", "v", 0)
	c.Do(ctx, "shutdown")
	select {
	case <-s.srv.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SHUTDOWN did not stop the server")
	}
	r := startPersistServer(t, 2, base)
	if n := newClient2(t, r.addr, 2).DBSize(ctx).Val(); n != 2 {
		t.Fatalf("after SHUTDOWN the file holds %d keys, want 2", n)
	}
	rc := newClient2(t, r.addr, 2)
	rc.ConfigSet(ctx, "save", "3600 1")
	os.Mkdir(gone, 0o755)
	rc.ConfigSet(ctx, "dir", gone)
	os.Remove(gone)
	rc.Do(ctx, "shutdown", "force")
	select {
	case <-r.srv.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SHUTDOWN FORCE whose save fails did not stop the server")
	}
}

// TestBgsaveInExecStartsOnAnInProcessServer: BGSAVE inside EXEC replies
// "Background saving scheduled" and the cron starts it; on a server
// without Options.Persistent (in process) the cron returned before looking
// at the schedule, so the BGSAVE it had promised never ran.
func TestBgsaveInExecStartsOnAnInProcessServer(t *testing.T) {
	srv, addr := startServer(t, 4)
	dir := t.TempDir()
	if err := srv.cfg.Load("dir", dir); err != nil {
		t.Fatal(err)
	}
	c := newClient2(t, addr, 2)
	ctx := context.Background()
	c.Set(ctx, "k", "v", 0)
	p := c.TxPipeline()
	bg := p.BgSave(ctx)
	if _, err := p.Exec(ctx); err != nil || bg.Val() != "Background saving scheduled" {
		t.Fatalf("BGSAVE in EXEC: %q, %v", bg.Val(), err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "dump.rdb")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the BGSAVE scheduled by EXEC did not run within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCorruptChecksumAtStartupSaysCRCError: a file whose CRC64 is wrong
// does not load, and the error (logged by cmd/valkyrie) says "CRC error",
// as Redis's log does (its rdb.tcl looks for those words).
func TestCorruptChecksumAtStartupSaysCRCError(t *testing.T) {
	dir := t.TempDir()
	a := startPersistServer(t, 2, dir)
	c := newClient2(t, a.addr, 2)
	ctx := context.Background()
	c.Set(ctx, "k", "v", 0)
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	a.srv.persist.shutdownMode.Store(shutdownNoSave)
	a.stop()
	path := filepath.Join(dir, "dump.rdb")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copy(b[len(b)-8:], "foobar00")
	os.WriteFile(path, b, 0o644)
	cfg := config.New()
	if err := cfg.Load("dir", dir); err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Shards: 2, Config: cfg, Persistent: true})
	defer srv.Shutdown(ctx)
	err = srv.LoadAtStartup()
	if err == nil || !strings.Contains(err.Error(), "CRC error") || !strings.HasPrefix(err.Error(), "Fatal error loading the DB: ") {
		t.Fatalf("loading a file with a bad CRC: %v", err)
	}
}

// TestScriptFlushallAndMisconf: redis.call('flushall') cancels a BGSAVE
// and saves, as FLUSHALL anywhere else; and after a failed BGSAVE (save
// points set) a script's first write fails with MISCONF, as Redis's
// scriptVerifyWriteCommandAllow refuses it.
func TestScriptFlushallAndMisconf(t *testing.T) {
	dir := t.TempDir()
	s := startPersistServer(t, 4, dir)
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	if err := c.Do(ctx, "debug", "populate", 200000, "k", 50).Err(); err != nil {
		t.Fatal(err)
	}
	c.ConfigSet(ctx, "save", "3600 1")
	if v := c.BgSave(ctx).Val(); v != "Background saving started" {
		t.Fatalf("BGSAVE: %q", v)
	}
	if err := c.Eval(ctx, "return redis.call('flushall')", nil).Err(); err != nil {
		t.Fatal(err)
	}
	waitNoBgsave(t, c)
	if v := persistInfo(t, c, "persistence", "rdb_changes_since_last_save"); v != "0" {
		t.Errorf("rdb_changes_since_last_save %s after a script's FLUSHALL with save points", v)
	}
	// A failed BGSAVE: the script's write is refused.
	gone := filepath.Join(dir, "gone")
	os.Mkdir(gone, 0o755)
	c.ConfigSet(ctx, "dir", gone)
	os.Remove(gone)
	c.BgSave(ctx)
	waitNoBgsave(t, c)
	err := c.Eval(ctx, "return redis.call('set', KEYS[1], 'x')", []string{"k"}).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "MISCONF ") {
		t.Fatalf("a script's SET after a failed BGSAVE: %v", err)
	}
	c.ConfigSet(ctx, "dir", dir)
	s.srv.persist.shutdownMode.Store(shutdownNoSave)
	s.stop()
	r := startPersistServer(t, 2, dir)
	if n := newClient2(t, r.addr, 2).DBSize(ctx).Val(); n != 0 {
		t.Fatalf("the file after a script's FLUSHALL holds %d keys", n)
	}
}

// TestDebugReloadWhileLoadingIsRefused: DEBUG runs while the file loads
// at start-up (it has Redis's loading flag), but DEBUG RELOAD would save
// the part loaded so far over the file being loaded: it gets -LOADING.
func TestDebugReloadWhileLoadingIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := startPersistServer(t, 2, dir)
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	c.Set(ctx, "k", "v", 0)
	c.Save(ctx)
	s.srv.BeginLoading() // as if the file were still loading
	if err := c.Do(ctx, "debug", "reload").Err(); err == nil || err.Error() != errLoading {
		t.Fatalf("DEBUG RELOAD while loading: %v", err)
	}
	s.srv.persist.loading.Store(false)
	if n := c.DBSize(ctx).Val(); n != 1 {
		t.Fatalf("dbsize %d after a refused DEBUG RELOAD", n)
	}
}

// TestInfoLoadingFields: while the file loads, INFO persistence ends with
// Redis's loading_* progress fields; otherwise they are absent.
func TestInfoLoadingFields(t *testing.T) {
	dir := t.TempDir()
	a := startPersistServer(t, 2, dir)
	c := newClient2(t, a.addr, 2)
	ctx := context.Background()
	c.Do(ctx, "debug", "populate", 1000)
	c.Save(ctx)
	a.stop()
	st, err := os.Stat(filepath.Join(dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	b := startPersistServer(t, 2, dir)
	cb := newClient2(t, b.addr, 2)
	if info := cb.Info(ctx, "persistence").Val(); strings.Contains(info, "loading_") {
		t.Fatalf("loading_* fields when not loading:\n%s", info)
	}
	b.srv.BeginLoading() // as if the file were loading still, all read
	info := cb.Info(ctx, "persistence").Val()
	lines := strings.Split(strings.TrimSpace(info), "\r\n")
	var names []string
	for _, l := range lines[len(lines)-6:] {
		name, _, _ := strings.Cut(l, ":")
		names = append(names, name)
	}
	want := "loading_start_time loading_total_bytes loading_rdb_used_mem loading_loaded_bytes loading_loaded_perc loading_eta_seconds"
	if strings.Join(names, " ") != want {
		t.Fatalf("INFO persistence while loading ends with %v", names)
	}
	size := strconv.FormatInt(st.Size(), 10)
	for field, v := range map[string]string{"loading_total_bytes": size, "loading_loaded_bytes": size, "loading_loaded_perc": "100.00"} {
		if got := persistInfo(t, cb, "persistence", field); got != v {
			t.Errorf("%s = %s, want %s", field, got, v)
		}
	}
	b.srv.persist.loading.Store(false)
}

// TestDebugPopulateWhileLoadingIsRefused: DEBUG runs while the file loads
// at start-up, but keys DEBUG POPULATE created then would collide with the
// file's: the loader took such a key for a duplicate in the file and the
// server exited ("Fatal error loading the DB: duplicated key found").
// Redis panics the same way; here POPULATE gets -LOADING instead.
func TestDebugPopulateWhileLoadingIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := startPersistServer(t, 2, dir)
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	c.Set(ctx, "key:0", "v", 0)
	c.Save(ctx)
	s.srv.BeginLoading() // as if the file were still loading
	if err := c.Do(ctx, "debug", "populate", "10").Err(); err == nil || err.Error() != errLoading {
		t.Fatalf("DEBUG POPULATE while loading: %v", err)
	}
	s.srv.persist.loading.Store(false)
	if n := c.DBSize(ctx).Val(); n != 1 {
		t.Fatalf("dbsize %d after a refused DEBUG POPULATE", n)
	}
}

// TestLoadingAllowsSubcommandsFlaggedLoading: while the file loads, Redis
// refuses a command by its own flags, and for a container command by its
// subcommand's: CONFIG GET, CLIENT LIST and CLIENT SETNAME have the
// loading flag and run, FUNCTION LIST does not. A wrong arity or an unknown
// subcommand gets its usual error, which Redis checks first.
func TestLoadingAllowsSubcommandsFlaggedLoading(t *testing.T) {
	srv, addr := startServer(t, 2)
	c := newClient2(t, addr, 2)
	ctx := context.Background()
	srv.persist.loading.Store(true) // as BeginLoading with a file
	defer srv.persist.loading.Store(false)
	for _, cmd := range [][]any{{"config", "get", "dir"}, {"client", "list"}, {"client", "setname", "x"}, {"client", "no-evict", "on"}} {
		if err := c.Do(ctx, cmd...).Err(); err != nil {
			t.Errorf("%v while loading: %v", cmd, err)
		}
	}
	for _, tc := range []struct {
		cmd  []any
		want string
	}{
		{[]any{"function", "list"}, errLoading},
		{[]any{"object", "encoding", "k"}, errLoading},
		{[]any{"get"}, "ERR wrong number of arguments for 'get' command"},
		{[]any{"config", "get"}, "ERR wrong number of arguments for 'config|get' command"},
		{[]any{"config", "nosuch"}, "ERR unknown subcommand 'nosuch'. Try CONFIG HELP."},
	} {
		if err := c.Do(ctx, tc.cmd...).Err(); err == nil || err.Error() != tc.want {
			t.Errorf("%v while loading: %v, want %q", tc.cmd, err, tc.want)
		}
	}
}

// TestConfigResetstatResetsRdbSaves: CONFIG RESETSTAT zeroes rdb_saves,
// as Redis's resetServerStats does; it kept counting.
func TestConfigResetstatResetsRdbSaves(t *testing.T) {
	dir := t.TempDir()
	s := startPersistServer(t, 2, dir)
	c := newClient2(t, s.addr, 2)
	ctx := context.Background()
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if v := persistInfo(t, c, "persistence", "rdb_saves"); v != "1" {
		t.Fatalf("rdb_saves:%s after a SAVE", v)
	}
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if v := persistInfo(t, c, "persistence", "rdb_saves"); v != "0" {
		t.Fatalf("rdb_saves:%s after CONFIG RESETSTAT", v)
	}
}
