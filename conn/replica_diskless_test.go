package conn

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// Tests of repl-diskless-load (replica_diskless.go): a replica of a
// scripted master (startFakeMaster) is sent payloads in pieces, so that
// what clients see during the transfer, and after one that breaks off,
// can be checked.

// dlReplica is a server (4 shards) with its log kept, and the scripted
// master it is made to follow.
type dlReplica struct {
	t    *testing.T
	srv  *Server
	addr string
	dir  string
	logs *syncBuffer
	c    *redis.Client
	fm   *fakeMaster
}

func startDLReplica(t *testing.T, pairs ...string) *dlReplica {
	t.Helper()
	dir := t.TempDir()
	cfg := config.New()
	all := append([]string{"dir", dir, "save", "", "enable-debug-command", "yes", "enable-protected-configs", "yes"}, pairs...)
	if err := cfg.Load(all...); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv := New(Options{Shards: 4, Config: cfg, Persistent: true,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	srv.BeginLoading()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	if err := srv.LoadAtStartup(); err != nil {
		t.Fatal(err)
	}
	r := &dlReplica{t: t, srv: srv, addr: l.Addr().String(), dir: dir, logs: logs, fm: startFakeMaster(t)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	// No retries: go-redis would retry a -LOADING reply.
	r.c = redis.NewClient(&redis.Options{Addr: r.addr, Protocol: 2, MaxRetries: -1})
	t.Cleanup(func() { r.c.Close() })
	return r
}

// follow makes the server a replica of the scripted master.
func (r *dlReplica) follow() {
	r.t.Helper()
	a := r.fm.l.Addr().(*net.TCPAddr)
	if err := r.c.SlaveOf(context.Background(), a.IP.String(), strconv.Itoa(a.Port)).Err(); err != nil {
		r.t.Fatal(err)
	}
}

// link waits for the replica's next connection and answers its handshake
// up to PSYNC, whose arguments it returns.
func (r *dlReplica) link() (net.Conn, *bufio.Reader, []string) {
	r.t.Helper()
	var nc net.Conn
	select {
	case nc = <-r.fm.links:
	case <-time.After(10 * time.Second):
		r.t.Fatal("the replica did not connect")
	}
	r.t.Cleanup(func() { nc.Close() })
	br := bufio.NewReader(nc)
	hs := fakeHandshake(r.t, nc, br)
	return nc, br, hs[len(hs)-1]
}

// info is an INFO field of the replica.
func (r *dlReplica) info(field string) string {
	r.t.Helper()
	return replInfo(r.t, r.c, "everything", field)
}

// waitInfo waits until INFO field reads want.
func (r *dlReplica) waitInfo(field, want string) {
	r.t.Helper()
	if !replWait(10*time.Second, func() bool { return r.info(field) == want }) {
		r.t.Fatalf("INFO %s = %q, want %q", field, r.info(field), want)
	}
}

// tempFiles lists the temp files of a transfer to disk in the replica's dir.
func (r *dlReplica) tempFiles() []string {
	m, _ := filepath.Glob(filepath.Join(r.dir, "temp-*.rdb"))
	return m
}

const dlMark = "0123456789012345678901234567890123456789"

// startTransfer answers PSYNC with a full resync at off and sends the
// first n bytes of payload, as a diskless master does (EOF mark).
func startTransfer(nc net.Conn, replid string, off int64, payload []byte, n int) {
	nc.Write([]byte("+FULLRESYNC " + replid + " " + strconv.FormatInt(off, 10) + "\r\n"))
	nc.Write([]byte("$EOF:" + dlMark + "\r\n"))
	nc.Write(payload[:n])
}

// transferWhole sends a whole diskless transfer of payload, mark
// included, and waits for the replica's first ACK at off.
func transferWhole(t *testing.T, nc net.Conn, br *bufio.Reader, replid string, off int64, payload []byte) {
	t.Helper()
	startTransfer(nc, replid, off, payload, len(payload))
	nc.Write([]byte(dlMark))
	nextAck(t, nc, br, off)
}

// rdbOf returns the RDB file a Valkyrie of its own saves after fill.
func rdbOf(t *testing.T, fill func(ctx context.Context, c *redis.Client)) []byte {
	t.Helper()
	src := startPersistServer(t, 2, t.TempDir())
	c := newClient2(t, src.addr, 2)
	ctx := context.Background()
	fill(ctx, c)
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src.srv.rdbPath())
	if err != nil {
		t.Fatal(err)
	}
	src.stop()
	return b
}

// setKeys writes n keys prefix0.. with a large value each.
func setKeys(t *testing.T, ctx context.Context, c *redis.Client, prefix string, n int) {
	t.Helper()
	p := c.Pipeline()
	for i := 0; i < n; i++ {
		p.Set(ctx, prefix+strconv.Itoa(i), strings.Repeat("v", 2000), 0)
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

func loadLib(t *testing.T, ctx context.Context, c *redis.Client, reply string) {
	t.Helper()
	// no-writes: a read-only replica refuses FCALL of a function without it.
	code := "#!lua name=test\nredis.register_function{function_name='test', callback=function() return '" + reply + "' end, flags={'no-writes'}}"
	if err := c.FunctionLoadReplace(ctx, code).Err(); err != nil {
		t.Fatal(err)
	}
}

func isLoadingErr(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "LOADING")
}

// on-empty-db: a replica without keys parses the payload from the socket,
// with no temp file and no dbfilename written, refusing clients meanwhile;
// a transfer cut short leaves it empty. Once it has keys, the next full
// sync goes to disk as with disabled.
func TestDisklessLoadOnEmptyDB(t *testing.T) {
	ctx := context.Background()
	payload := rdbOf(t, func(ctx context.Context, c *redis.Client) {
		setKeys(t, ctx, c, "k", 40)
		loadLib(t, ctx, c, "hello2")
	})
	r := startDLReplica(t, "repl-diskless-load", "on-empty-db")
	r.follow()
	const rid = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

	// A transfer that breaks off: nothing of it stays.
	nc, _, _ := r.link()
	startTransfer(nc, rid, 1000, payload, len(payload)/2)
	r.waitInfo("loading", "1")
	if err := r.c.Get(ctx, "k1").Err(); !isLoadingErr(err) {
		t.Errorf("GET while loading: %v, want -LOADING", err)
	}
	if f := r.tempFiles(); len(f) != 0 {
		t.Errorf("a diskless load wrote %v", f)
	}
	nc.Close()
	r.waitInfo("loading", "0")
	if n := r.c.DBSize(ctx).Val(); n != 0 {
		t.Errorf("DBSIZE %d after a transfer cut short, want 0", n)
	}
	if !strings.Contains(r.logs.String(), "Internal error in RDB") {
		t.Error("no short read in the log")
	}

	// The whole payload.
	nc, br, ps := r.link()
	if ps[1] != "?" {
		t.Errorf("PSYNC %v after a failed load, want PSYNC ? -1", ps)
	}
	startTransfer(nc, rid, 1000, payload, len(payload)/2)
	r.waitInfo("loading", "1")
	if f := r.tempFiles(); len(f) != 0 {
		t.Errorf("a diskless load wrote %v", f)
	}
	nc.Write(payload[len(payload)/2:])
	nc.Write([]byte(dlMark))
	nextAck(t, nc, br, 1000)
	if n := r.c.DBSize(ctx).Val(); n != 40 {
		t.Errorf("DBSIZE %d, want 40", n)
	}
	if v, err := r.c.FCall(ctx, "test", nil).Result(); err != nil || v != "hello2" {
		t.Errorf("FCALL test = %v %v", v, err)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "dump.rdb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dump.rdb after a diskless load: %v", err)
	}
	if !strings.Contains(r.logs.String(), "receiving streamed RDB from master with EOF to parser") {
		t.Error("the log does not say the payload goes to the parser")
	}
	if got := r.info("master_replid"); got != rid {
		t.Errorf("master_replid %s", got)
	}

	// With keys, the next one goes to disk.
	nc.Close()
	nc, br, _ = r.link()
	const rid2 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	transferWhole(t, nc, br, rid2, 2000, payload)
	if _, err := os.Stat(filepath.Join(r.dir, "dump.rdb")); err != nil {
		t.Errorf("no dump.rdb after a load to disk: %v", err)
	}
	if n := r.c.DBSize(ctx).Val(); n != 40 {
		t.Errorf("DBSIZE %d, want 40", n)
	}
}

// swapdb with a new history: clients get -LOADING during the transfer
// (loading:1, async_loading:0); a transfer that breaks off leaves the old
// keys, functions and history (the next PSYNC offers it again); one that
// completes replaces them all.
func TestDisklessSwapdbNewHistory(t *testing.T) {
	ctx := context.Background()
	payload := rdbOf(t, func(ctx context.Context, c *redis.Client) {
		setKeys(t, ctx, c, "master", 60)
		loadLib(t, ctx, c, "hello2")
	})
	r := startDLReplica(t, "repl-diskless-load", "swapdb")
	setKeys(t, ctx, r.c, "slave", 30)
	r.c.Set(ctx, "mykey", "myvalue", 0)
	loadLib(t, ctx, r.c, "hello1")
	own := r.info("master_replid")
	r.follow()
	const rid = "cccccccccccccccccccccccccccccccccccccccc"

	nc, _, ps := r.link()
	if ps[1] != own {
		t.Fatalf("PSYNC %v, want the server's own history %s", ps, own)
	}
	startTransfer(nc, rid, 1000, payload, len(payload)/2)
	r.waitInfo("loading", "1")
	if a := r.info("async_loading"); a != "0" {
		t.Errorf("async_loading %s with a new history", a)
	}
	if err := r.c.Get(ctx, "mykey").Err(); !isLoadingErr(err) {
		t.Errorf("GET while loading: %v, want -LOADING", err)
	}
	if f := r.tempFiles(); len(f) != 0 {
		t.Errorf("a diskless load wrote %v", f)
	}
	nc.Close()
	r.waitInfo("loading", "0")
	if v, err := r.c.Get(ctx, "mykey").Result(); err != nil || v != "myvalue" {
		t.Errorf("mykey = %q %v after the transfer failed", v, err)
	}
	if n := r.c.DBSize(ctx).Val(); n != 31 {
		t.Errorf("DBSIZE %d after the transfer failed, want 31", n)
	}
	if v, err := r.c.FCall(ctx, "test", nil).Result(); err != nil || v != "hello1" {
		t.Errorf("FCALL test = %v %v after the transfer failed", v, err)
	}
	if !strings.Contains(r.logs.String(), "Discarding temporary DB in background") {
		t.Error("the log does not say the loaded data was dropped")
	}

	// This time as a master that saves to disk sends it: $<size>.
	nc, br, ps := r.link()
	if ps[1] != own {
		t.Errorf("PSYNC %v after a failed swapdb load, want the kept history %s", ps, own)
	}
	nc.Write([]byte("+FULLRESYNC " + rid + " 1000\r\n$" + strconv.Itoa(len(payload)) + "\r\n"))
	nc.Write(payload[:len(payload)/2])
	r.waitInfo("loading", "1")
	nc.Write(payload[len(payload)/2:])
	nextAck(t, nc, br, 1000)
	if err := r.c.Get(ctx, "mykey").Err(); err != redis.Nil {
		t.Errorf("GET mykey after the swap: %v, want nil", err)
	}
	if n := r.c.DBSize(ctx).Val(); n != 60 {
		t.Errorf("DBSIZE %d after the swap, want 60", n)
	}
	if v, err := r.c.FCall(ctx, "test", nil).Result(); err != nil || v != "hello2" {
		t.Errorf("FCALL test = %v %v after the swap", v, err)
	}
	if got := r.info("master_replid"); got != rid {
		t.Errorf("master_replid %s, want %s", got, rid)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "dump.rdb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dump.rdb after a diskless load: %v", err)
	}
	// The stream goes on from the sync's offset.
	nc.Write([]byte(respCmd("SET", "after", "1")))
	if !replWait(5*time.Second, func() bool { return r.c.Get(ctx, "after").Val() == "1" }) {
		t.Error("the stream after the swap was not applied")
	}
}

// swapdb with the history the replica follows (async loading): clients
// go on reading the old keys and functions (async_loading:1, loading:0),
// REPLICAOF and CONFIG SET appendonly get -LOADING; a transfer that breaks
// off leaves it all; one that completes swaps the new data in, touching
// WATCHed keys and serving a client blocked on a key that now exists.
func TestDisklessSwapdbAsync(t *testing.T) {
	ctx := context.Background()
	first := rdbOf(t, func(ctx context.Context, c *redis.Client) {
		setKeys(t, ctx, c, "first", 10)
	})
	second := rdbOf(t, func(ctx context.Context, c *redis.Client) {
		setKeys(t, ctx, c, "master", 80)
		c.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []string{"f", "v"}})
		c.Set(ctx, "mykey", "new", 0)
		loadLib(t, ctx, c, "hello2")
	})
	r := startDLReplica(t, "repl-diskless-load", "swapdb", "replica-read-only", "no")
	r.follow()
	const rid = "dddddddddddddddddddddddddddddddddddddddd"
	nc, br, _ := r.link()
	transferWhole(t, nc, br, rid, 1000, first)
	if n := r.c.DBSize(ctx).Val(); n != 10 {
		t.Fatalf("DBSIZE %d after the first sync, want 10", n)
	}
	// The replica's own writes, served until the new data is in.
	r.c.Set(ctx, "mykey", "myvalue", 0)
	loadLib(t, ctx, r.c, "hello1")

	during := func() {
		t.Helper()
		r.waitInfo("async_loading", "1")
		if l := r.info("loading"); l != "0" {
			t.Errorf("loading %s during async loading", l)
		}
		if v, err := r.c.Get(ctx, "mykey").Result(); err != nil || v != "myvalue" {
			t.Errorf("GET mykey during async loading = %q %v", v, err)
		}
		if v, err := r.c.FCall(ctx, "test", nil).Result(); err != nil || v != "hello1" {
			t.Errorf("FCALL test during async loading = %v %v", v, err)
		}
		if n := r.c.DBSize(ctx).Val(); n != 11 {
			t.Errorf("DBSIZE %d during async loading, want 11", n)
		}
		if err := r.c.Do(ctx, "replicaof", "no", "one").Err(); !isLoadingErr(err) {
			t.Errorf("REPLICAOF NO ONE during async loading: %v, want -LOADING", err)
		}
		if err := r.c.ConfigSet(ctx, "appendonly", "no").Err(); !isLoadingErr(err) {
			t.Errorf("CONFIG SET appendonly during async loading: %v, want -LOADING", err)
		}
		if err := r.c.ConfigSet(ctx, "maxmemory-samples", "5").Err(); err != nil {
			t.Errorf("CONFIG SET maxmemory-samples during async loading: %v", err)
		}
		if f := r.tempFiles(); len(f) != 0 {
			t.Errorf("a diskless load wrote %v", f)
		}
	}

	// Aborted.
	nc.Close()
	nc, _, ps := r.link()
	if ps[1] != rid || ps[2] != "1001" {
		t.Fatalf("PSYNC %v, want %s 1001", ps, rid)
	}
	startTransfer(nc, rid, 5000, second, len(second)/2)
	during()
	nc.Close()
	r.waitInfo("async_loading", "0")
	if v, err := r.c.Get(ctx, "mykey").Result(); err != nil || v != "myvalue" {
		t.Errorf("GET mykey after async loading failed = %q %v", v, err)
	}
	if v, err := r.c.FCall(ctx, "test", nil).Result(); err != nil || v != "hello1" {
		t.Errorf("FCALL test after async loading failed = %v %v", v, err)
	}
	if n := r.c.DBSize(ctx).Val(); n != 11 {
		t.Errorf("DBSIZE %d after async loading failed, want 11", n)
	}

	// Successful, with a client WATCHing mykey and one blocked on s.
	nc, br, ps = r.link()
	if ps[1] != rid || ps[2] != "1001" {
		t.Fatalf("PSYNC %v after a failed async load, want %s 1001", ps, rid)
	}
	startTransfer(nc, rid, 5000, second, len(second)/2)
	during()
	blocked := newClient2(t, r.addr, 2)
	var wg sync.WaitGroup
	var xs []redis.XStream
	var xerr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		xs, xerr = blocked.XRead(ctx, &redis.XReadArgs{Streams: []string{"s", "0"}, Block: 10 * time.Second}).Result()
	}()
	if !replWait(5*time.Second, func() bool { return r.info("blocked_clients") == "1" }) {
		t.Fatal("the XREAD did not block")
	}
	watcher := newClient2(t, r.addr, 2)
	werr := watcher.Watch(ctx, func(tx *redis.Tx) error {
		nc.Write(second[len(second)/2:])
		nc.Write([]byte(dlMark))
		nextAck(t, nc, br, 5000)
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "mykey", "from-tx", 0)
			return nil
		})
		return err
	}, "mykey")
	if !errors.Is(werr, redis.TxFailedErr) {
		t.Errorf("EXEC after the swap replaced a WATCHed key: %v, want it aborted", werr)
	}
	wg.Wait()
	if xerr != nil || len(xs) != 1 || len(xs[0].Messages) != 1 {
		t.Errorf("XREAD blocked on s before the swap: %v %v, want the entry loaded", xs, xerr)
	}
	if v := r.info("async_loading"); v != "0" {
		t.Errorf("async_loading %s after the swap", v)
	}
	if v, err := r.c.Get(ctx, "mykey").Result(); err != nil || v != "new" {
		t.Errorf("GET mykey after the swap = %q %v, want new", v, err)
	}
	if v, err := r.c.FCall(ctx, "test", nil).Result(); err != nil || v != "hello2" {
		t.Errorf("FCALL test after the swap = %v %v", v, err)
	}
	if n := r.c.DBSize(ctx).Val(); n != 82 {
		t.Errorf("DBSIZE %d after the swap, want 82", n)
	}
	if n := r.c.Exists(ctx, "first1").Val(); n != 0 {
		t.Error("a key of the old dataset survived the swap")
	}
	// SCAN walks the new keys, and only them.
	var all []string
	var cur uint64
	for {
		keys, next, err := r.c.Scan(ctx, cur, "*", 50).Result()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, keys...)
		if cur = next; cur == 0 {
			break
		}
	}
	if len(all) != 82 {
		t.Errorf("SCAN found %d keys after the swap, want 82", len(all))
	}
	// The memory accounting follows the swap: the replica's keys are the
	// master's, 80 values of 2000 bytes.
	if m := r.c.MemoryUsage(ctx, "master1").Val(); m < 2000 {
		t.Errorf("MEMORY USAGE master1 = %d", m)
	}
	nc.Write([]byte(respCmd("SET", "after", "1")))
	if !replWait(5*time.Second, func() bool { return r.c.Get(ctx, "after").Val() == "1" }) {
		t.Error("the stream after the swap was not applied")
	}
}

// A transfer cut anywhere, a corrupt payload, or a broken EOF mark leave a
// swapdb replica with its old dataset, and the next full sync succeeds.
func TestDisklessShortRead(t *testing.T) {
	ctx := context.Background()
	payload := rdbOf(t, func(ctx context.Context, c *redis.Client) {
		setKeys(t, ctx, c, "master", 30)
		c.HSet(ctx, "h", "a", strings.Repeat("x", 5000), "b", "2")
		c.RPush(ctx, "l", "a", "b", "c")
		c.ZAdd(ctx, "z", redis.Z{Score: 1, Member: "m"})
		c.SAdd(ctx, "set", "a", "b")
		c.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []string{"f", "v"}})
		loadLib(t, ctx, c, "hello2")
	})
	r := startDLReplica(t, "repl-diskless-load", "swapdb")
	setKeys(t, ctx, r.c, "slave", 20)
	r.c.Set(ctx, "mykey", "myvalue", 0)
	loadLib(t, ctx, r.c, "hello1")
	r.follow()
	const rid = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"

	corrupt := append([]byte(nil), payload...)
	for i := len(corrupt) / 3; i < len(corrupt)/3+40; i++ {
		corrupt[i] ^= 0x5a
	}
	type attempt struct {
		name string
		data []byte
	}
	attempts := []attempt{
		{"header only", payload[:5]},
		{"a third", payload[:len(payload)/3]},
		{"all but the CRC", payload[:len(payload)-4]},
		{"no mark", payload},
		{"half a mark", append(append([]byte(nil), payload...), dlMark[:20]...)},
		{"a wrong mark", append(append([]byte(nil), payload...), strings.Repeat("x", 40)...)},
		{"corrupt", append(corrupt, dlMark...)},
	}
	for i, a := range attempts {
		nc, _, _ := r.link()
		startTransfer(nc, rid, 1000, a.data, len(a.data))
		time.Sleep(50 * time.Millisecond)
		nc.Close()
		// Each failure drops what it loaded, and says so.
		if !replWait(10*time.Second, func() bool {
			return strings.Count(r.logs.String(), "Discarding temporary DB in background") == i+1
		}) {
			t.Fatalf("%s: the load did not fail", a.name)
		}
		r.waitInfo("loading", "0")
		if v, err := r.c.Get(ctx, "mykey").Result(); err != nil || v != "myvalue" {
			t.Errorf("%s: mykey = %q %v", a.name, v, err)
		}
		if n := r.c.DBSize(ctx).Val(); n != 21 {
			t.Errorf("%s: DBSIZE %d, want 21", a.name, n)
		}
		if v, err := r.c.FCall(ctx, "test", nil).Result(); err != nil || v != "hello1" {
			t.Errorf("%s: FCALL test = %v %v", a.name, v, err)
		}
	}
	if n := strings.Count(r.logs.String(), "Internal error in RDB"); n < 3 {
		t.Errorf("%d short reads logged, want at least 3", n)
	}
	if !strings.Contains(r.logs.String(), "Replication stream EOF marker is broken") {
		t.Error("the broken mark is not in the log")
	}
	nc, br, _ := r.link()
	transferWhole(t, nc, br, rid, 1000, payload)
	if n := r.c.DBSize(ctx).Val(); n != 35 {
		t.Errorf("DBSIZE %d after the sync, want 35", n)
	}
	if v, err := r.c.FCall(ctx, "test", nil).Result(); err != nil || v != "hello2" {
		t.Errorf("FCALL test = %v %v", v, err)
	}
	if v := r.c.HGet(ctx, "h", "b").Val(); v != "2" {
		t.Errorf("HGET h b = %q", v)
	}
}
