package conn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// migratePair starts a source and a target server with 8 shards each and
// returns the source, clients of both, and the target's host and port.
func migratePair(t *testing.T) (src *Server, a, b *redis.Client, host, port string) {
	t.Helper()
	src, addrA := startServer(t, 8)
	_, addrB := startServer(t, 8)
	host, port, err := net.SplitHostPort(addrB)
	if err != nil {
		t.Fatal(err)
	}
	return src, newClient2(t, addrA, 2), newClient2(t, addrB, 2), host, port
}

// migrateDo runs MIGRATE host port args... on c and returns its reply
// (the error's text for an error).
func migrateDo(c *redis.Client, host, port string, args ...any) string {
	v, err := c.Do(context.Background(), append([]any{"MIGRATE", host, port}, args...)...).Result()
	if err != nil {
		return err.Error()
	}
	return fmt.Sprint(v)
}

// cachedSockets reads migrate_cached_sockets from INFO.
func cachedSockets(t *testing.T, c *redis.Client) int {
	t.Helper()
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "migrate_cached_sockets:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatal("INFO has no migrate_cached_sockets")
	return 0
}

// TestMigrateDumpTcl reproduces the MIGRATE tests of Redis's
// tests/unit/dump.tcl, which its external mode skips, between two
// in-process servers.
func TestMigrateDumpTcl(t *testing.T) {
	ctx := context.Background()

	t.Run("caching connections", func(t *testing.T) {
		_, a, b, host, port := migratePair(t)
		a.Set(ctx, "key", "Some Value", 0)
		if n := cachedSockets(t, a); n != 0 {
			t.Fatalf("migrate_cached_sockets = %d before any MIGRATE", n)
		}
		if got := migrateDo(a, host, port, "key", 9, 1000); got != "OK" {
			t.Fatalf("MIGRATE = %s", got)
		}
		if n := cachedSockets(t, a); n != 1 {
			t.Fatalf("migrate_cached_sockets = %d, want 1", n)
		}
		// The cached socket is used again: still one.
		a.Set(ctx, "key", "again", 0)
		if got := migrateDo(a, host, port, "key", 9, 1000, "REPLACE"); got != "OK" {
			t.Fatalf("MIGRATE = %s", got)
		}
		if n := cachedSockets(t, a); n != 1 {
			t.Fatalf("migrate_cached_sockets = %d, want 1", n)
		}
		bc := b.Conn()
		defer bc.Close()
		bc.Select(ctx, 9)
		if got := bc.Get(ctx, "key").Val(); got != "again" {
			t.Fatalf("database 9 of the target has %q", got)
		}
	})

	t.Run("migrate a key", func(t *testing.T) {
		_, a, b, host, port := migratePair(t)
		a.Set(ctx, "key", "Some Value", 0)
		if got := migrateDo(a, host, port, "key", 0, 5000); got != "OK" {
			t.Fatalf("MIGRATE = %s", got)
		}
		if a.Exists(ctx, "key").Val() != 0 || b.Get(ctx, "key").Val() != "Some Value" || b.TTL(ctx, "key").Val() != -1 {
			t.Fatalf("after MIGRATE: source has %d, target %q ttl %v",
				a.Exists(ctx, "key").Val(), b.Get(ctx, "key").Val(), b.TTL(ctx, "key").Val())
		}
	})

	t.Run("copy", func(t *testing.T) {
		_, a, b, host, port := migratePair(t)
		a.LPush(ctx, "list", "a", "b", "c", "d")
		if got := migrateDo(a, host, port, "list", 0, 5000, "copy"); got != "OK" {
			t.Fatalf("MIGRATE COPY = %s", got)
		}
		if a.Exists(ctx, "list").Val() != 1 {
			t.Fatal("COPY deleted the source key")
		}
		if x, y := a.LRange(ctx, "list", 0, -1).Val(), b.LRange(ctx, "list", 0, -1).Val(); fmt.Sprint(x) != fmt.Sprint(y) {
			t.Fatalf("source %v, target %v", x, y)
		}
	})

	t.Run("no overwrite unless REPLACE", func(t *testing.T) {
		_, a, b, host, port := migratePair(t)
		a.LPush(ctx, "list", "a", "b", "c", "d")
		b.Set(ctx, "list", "somevalue", 0)
		want := "ERR Target instance replied with error: BUSYKEY Target key name already exists."
		if got := migrateDo(a, host, port, "list", 0, 5000, "copy"); got != want {
			t.Fatalf("MIGRATE onto an existing key = %q, want %q", got, want)
		}
		if got := migrateDo(a, host, port, "list", 0, 5000, "copy", "replace"); got != "OK" {
			t.Fatalf("MIGRATE COPY REPLACE = %s", got)
		}
		if x, y := a.LRange(ctx, "list", 0, -1).Val(), b.LRange(ctx, "list", 0, -1).Val(); fmt.Sprint(x) != fmt.Sprint(y) || len(x) != 4 {
			t.Fatalf("source %v, target %v", x, y)
		}
		// Without COPY a refused key stays.
		b.Set(ctx, "list", "somevalue", 0)
		if got := migrateDo(a, host, port, "list", 0, 5000); got != want {
			t.Fatalf("MIGRATE = %q", got)
		}
		if a.Exists(ctx, "list").Val() != 1 {
			t.Fatal("a key the target refused was deleted")
		}
	})

	t.Run("TTL", func(t *testing.T) {
		_, a, b, host, port := migratePair(t)
		a.Set(ctx, "key", "Some Value", 10*time.Second)
		if got := migrateDo(a, host, port, "key", 0, 5000); got != "OK" {
			t.Fatalf("MIGRATE = %s", got)
		}
		if ttl := b.TTL(ctx, "key").Val(); ttl < 7*time.Second || ttl > 10*time.Second {
			t.Fatalf("TTL on the target %v", ttl)
		}
		if a.Exists(ctx, "key").Val() != 0 {
			t.Fatal("source key left")
		}
	})

	t.Run("large values", func(t *testing.T) {
		_, a, b, host, port := migratePair(t)
		// Several 64 KiB writes: Redis's test needs more than one.
		p := a.Pipeline()
		items := make([]any, 0, 1000)
		for j := 0; j < 1000; j++ {
			items = append(items, "item "+strconv.Itoa(j))
		}
		for j := 0; j < 200; j++ {
			p.RPush(ctx, "key", items...)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if d := a.Dump(ctx, "key").Val(); len(d) < 4*64<<10 {
			t.Fatalf("DUMP is only %d bytes", len(d))
		}
		if got := migrateDo(a, host, port, "key", 0, 10000); got != "OK" {
			t.Fatalf("MIGRATE = %s", got)
		}
		if a.Exists(ctx, "key").Val() != 0 || b.LLen(ctx, "key").Val() != 200*1000 || b.TTL(ctx, "key").Val() != -1 {
			t.Fatalf("after MIGRATE: LLEN %d", b.LLen(ctx, "key").Val())
		}
	})

	t.Run("hashes", func(t *testing.T) {
		_, a, b, host, port := migratePair(t)
		a.HSet(ctx, "key", "field1", "item 1", "field2", "item 2", "field3", "item 3",
			"field4", "item 4", "field5", "item 5", "field6", "item 6")
		if got := migrateDo(a, host, port, "key", 0, 10000); got != "OK" {
			t.Fatalf("MIGRATE = %s", got)
		}
		if a.Exists(ctx, "key").Val() != 0 || b.HLen(ctx, "key").Val() != 6 || b.TTL(ctx, "key").Val() != -1 {
			t.Fatal("hash not moved")
		}
	})

	t.Run("multiple keys", func(t *testing.T) {
		_, a, b, host, port := migratePair(t)
		a.MSet(ctx, "key1", "v1", "key2", "v2", "key3", "v3")
		if got := migrateDo(a, host, port, "", 0, 5000, "keys", "key1", "key2", "key3"); got != "OK" {
			t.Fatalf("MIGRATE KEYS = %s", got)
		}
		if a.Exists(ctx, "key1", "key2", "key3").Val() != 0 {
			t.Fatal("source keys left")
		}
		if got := b.MGet(ctx, "key1", "key2", "key3").Val(); fmt.Sprint(got) != "[v1 v2 v3]" {
			t.Fatalf("target %v", got)
		}
	})

	t.Run("multiple keys need an empty key", func(t *testing.T) {
		_, a, _, host, port := migratePair(t)
		want := "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
		if got := migrateDo(a, host, port, "NotEmpty", 9, 5000, "keys", "a", "b", "c"); got != want {
			t.Fatalf("got %q", got)
		}
	})

	t.Run("only existing keys", func(t *testing.T) {
		_, a, b, host, port := migratePair(t)
		a.MSet(ctx, "key1", "v1", "key2", "v2", "key3", "v3")
		if got := migrateDo(a, host, port, "", 0, 5000, "keys", "nokey-1", "nokey-2", "nokey-2"); got != "NOKEY" {
			t.Fatalf("MIGRATE of missing keys = %s", got)
		}
		if n := cachedSockets(t, a); n != 0 {
			t.Fatalf("NOKEY connected: %d cached sockets", n)
		}
		if got := migrateDo(a, host, port, "", 0, 5000, "keys", "nokey-1", "key1", "nokey-2", "key2", "nokey-3", "key3"); got != "OK" {
			t.Fatalf("MIGRATE = %s", got)
		}
		if a.Exists(ctx, "key1", "key2", "key3").Val() != 0 || fmt.Sprint(b.MGet(ctx, "key1", "key2", "key3").Val()) != "[v1 v2 v3]" {
			t.Fatal("keys not moved")
		}
	})

	keys := strings.Fields("a b c d e f g h i l m n o p q")
	mset := func(c *redis.Client) {
		if err := c.Do(ctx, "MSET", "a", 1, "b", 2, "c", 3, "d", 4, "c", 5, "e", 6, "f", 7, "g", 8,
			"h", 9, "i", 10, "l", 11, "m", 12, "n", 13, "o", 14, "p", 15, "q", 16).Err(); err != nil {
			t.Fatal(err)
		}
	}
	keyArgs := func() []any {
		out := []any{"", 0, 5000, "keys"}
		for _, k := range keys {
			out = append(out, k)
		}
		return out
	}

	t.Run("stress command rewriting", func(t *testing.T) {
		_, a, b, host, port := migratePair(t)
		mset(a)
		if got := migrateDo(a, host, port, keyArgs()...); got != "OK" {
			t.Fatalf("MIGRATE = %s", got)
		}
		if a.DBSize(ctx).Val() != 0 || b.DBSize(ctx).Val() != 15 {
			t.Fatalf("dbsize %d and %d", a.DBSize(ctx).Val(), b.DBSize(ctx).Val())
		}
	})

	t.Run("delete just acknowledged keys", func(t *testing.T) {
		_, a, b, host, port := migratePair(t)
		mset(a)
		b.MSet(ctx, "c", "_", "d", "_") // two busy keys and no REPLACE
		want := "ERR Target instance replied with error: BUSYKEY Target key name already exists."
		if got := migrateDo(a, host, port, keyArgs()...); got != want {
			t.Fatalf("MIGRATE = %q", got)
		}
		if a.DBSize(ctx).Val() != 2 || b.DBSize(ctx).Val() != 15 || a.Exists(ctx, "c", "d").Val() != 2 {
			t.Fatalf("dbsize %d and %d", a.DBSize(ctx).Val(), b.DBSize(ctx).Val())
		}
	})

	t.Run("AUTH to a server without AUTH", func(t *testing.T) {
		// Valkyrie has no AUTH yet (issue 11): the target's error comes
		// back as Redis passes it, and the key stays, since the target's
		// first reply was an error. TestMigrateRedisDifferential checks
		// the text a redis-server without a password gives.
		_, a, _, host, port := migratePair(t)
		a.LPush(ctx, "list", "a", "b", "c", "d")
		got := migrateDo(a, host, port, "list", 0, 5000, "AUTH", "foobar")
		if !strings.HasPrefix(got, "ERR Target instance replied with error: ERR ") {
			t.Fatalf("MIGRATE AUTH = %q", got)
		}
		if a.Exists(ctx, "list").Val() != 1 {
			t.Fatal("the key was deleted although AUTH failed")
		}
	})
}

// TestMigrateAcrossShards moves keys owned by different shards at once,
// in a database other than 0, and checks that they did span shards.
func TestMigrateAcrossShards(t *testing.T) {
	ctx := context.Background()
	_, a, b, host, port := migratePair(t)
	ac := a.Conn()
	defer ac.Close()
	ac.Select(ctx, 3)
	owners := map[int]bool{}
	args := []any{"", 5, 5000, "REPLACE", "KEYS"}
	for i := 0; i < 40; i++ {
		k := "k" + strconv.Itoa(i)
		owners[shard.Owner([]byte(k), 8)] = true
		ac.Set(ctx, k, i, time.Hour)
		args = append(args, k)
	}
	if len(owners) < 4 {
		t.Fatalf("the keys span only %d shards", len(owners))
	}
	v, err := ac.Do(ctx, append([]any{"MIGRATE", host, port}, args...)...).Result()
	if err != nil || v != "OK" {
		t.Fatalf("MIGRATE = %v, %v", v, err)
	}
	if n := ac.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("%d keys left in the source", n)
	}
	bc := b.Conn()
	defer bc.Close()
	bc.Select(ctx, 5)
	for i := 0; i < 40; i++ {
		k := "k" + strconv.Itoa(i)
		if got := bc.Get(ctx, k).Val(); got != strconv.Itoa(i) {
			t.Fatalf("%s = %q on the target", k, got)
		}
		if ttl := bc.TTL(ctx, k).Val(); ttl < 50*time.Minute {
			t.Fatalf("%s: TTL %v", k, ttl)
		}
	}
	if n := b.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("database 0 of the target has %d keys", n)
	}
}

// TestMigrateErrors checks the argument errors, in Redis's order and
// words (taken from redis-server 7.0.15).
func TestMigrateErrors(t *testing.T) {
	ctx := context.Background()
	_, a, _, host, port := migratePair(t)
	a.Set(ctx, "a", "1", 0)
	cases := []struct {
		args []any
		want string
	}{
		{[]any{"a", 0, 1000, "foo"}, "ERR syntax error"},
		{[]any{"a", 0, "x"}, "ERR value is not an integer or out of range"},
		{[]any{"a", "x", 1}, "ERR value is not an integer or out of range"},
		{[]any{"a", "x", "y", "bad"}, "ERR syntax error"},
		{[]any{"a", 0, 1000, "auth"}, "ERR syntax error"},
		{[]any{"a", 0, 1000, "auth2", "u"}, "ERR syntax error"},
		{[]any{"a", 0, 1000, "keys", "x"}, "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"},
		{[]any{"a", 0, 1000, "copy", "replace", "keys"}, "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"},
		{[]any{"", 0, 1000, "copy", "replace", "keys"}, "NOKEY"},
		{[]any{"", 0, 1000}, "NOKEY"},
		{[]any{"nokey", 0, 1000}, "NOKEY"},
		{[]any{"a", 99, 1000, "copy"}, "ERR Target instance replied with error: ERR DB index is out of range"},
		// The SELECT failed but the RESTORE went to database 0, as with
		// Redis: REPLACE from now on.
		{[]any{"a", 0, 0, "copy"}, "ERR Target instance replied with error: BUSYKEY Target key name already exists."},
		{[]any{"a", 0, 0, "copy", "replace"}, "OK"}, // timeout 0 means 1000 ms
		{[]any{"a", 0, -5, "copy", "replace"}, "OK"},
		{[]any{"a", 0, 1000, "KEYS"}, "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"},
	}
	for _, tc := range cases {
		if got := migrateDo(a, host, port, tc.args...); got != tc.want {
			t.Errorf("MIGRATE %v = %q, want %q", tc.args, got, tc.want)
		}
	}
	if got := a.Do(ctx, "MIGRATE", host, port, "a", 0).Err(); got == nil || got.Error() != "ERR wrong number of arguments for 'migrate' command" {
		t.Errorf("short MIGRATE = %v", got)
	}
	// Unusable addresses, as redis-server answers.
	for _, tc := range []struct{ host, port, want string }{
		{"nonexistent.invalid", "1", "IOERR error or timeout connecting to the client"},
		{"127.0.0.1", "-1", "IOERR error or timeout connecting to the client"},
		{"256.1.1.1", port, "IOERR error or timeout connecting to the client"},
		{"127.0.0.1", closedPort(t), "IOERR error or timeout writing to target instance"},
	} {
		if got := migrateDo(a, tc.host, tc.port, "a", 0, 1000); got != tc.want {
			t.Errorf("MIGRATE to %s:%s = %q, want %q", tc.host, tc.port, got, tc.want)
		}
	}
	// The port is read as C's atoi does: " 7723" and "7723abc" work.
	for _, p := range []string{" " + port, port + "abc"} {
		if got := migrateDo(a, host, p, "a", 0, 1000, "copy", "replace"); got != "OK" {
			t.Errorf("MIGRATE to port %q = %q", p, got)
		}
	}
	if got := a.Exists(ctx, "a").Val(); got != 1 {
		t.Errorf("the source key is gone")
	}
}

// closedPort returns a loopback port nobody listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, p, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return p
}

func TestMigrateGetKeys(t *testing.T) {
	ctx := context.Background()
	_, addr := startServer(t, 8)
	c := newClient2(t, addr, 2)
	cases := []struct {
		args []any
		want string
	}{
		{[]any{"migrate", "h", "p", "k", 0, 5}, "[k]"},
		{[]any{"migrate", "h", "p", "", 0, 5, "keys", "a", "b"}, "[a b]"},
		{[]any{"migrate", "h", "p", "", 0, 5, "copy", "auth", "keys", "KEYS", "a"}, "[a]"},
		{[]any{"migrate", "h", "p", "", 0, 5, "auth2", "keys", "keys", "keys", "a", "b"}, "[a b]"},
		{[]any{"migrate", "h", "p", "k", 0, 5, "keys", "a", "b"}, "ERR Invalid arguments specified for command"},
		// A last KEYS is not looked at (Redis's key spec searches for it
		// from the second last argument back), so the key is the empty
		// string at 3, as redis-server 7.0.15 answers.
		{[]any{"migrate", "h", "p", "", 0, 5, "keys"}, "[]"},
	}
	for _, tc := range cases {
		v, err := c.Do(ctx, append([]any{"COMMAND", "GETKEYS"}, tc.args...)...).Result()
		got := fmt.Sprint(v)
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("COMMAND GETKEYS %v = %s, want %s", tc.args, got, tc.want)
		}
	}
	info, err := c.Do(ctx, "COMMAND", "INFO", "migrate", "restore-asking").Slice()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(info[0].([]any)[:6]); got != "[migrate -6 [write movablekeys] 3 3 1]" {
		t.Errorf("COMMAND INFO migrate = %s", got)
	}
	if got := fmt.Sprint(info[1].([]any)[:6]); got != "[restore-asking -4 [write denyoom asking] 1 1 1]" {
		t.Errorf("COMMAND INFO restore-asking = %s", got)
	}
}

// TestRestoreAsking: RESTORE-ASKING is RESTORE, which a cluster's MIGRATE
// sends.
func TestRestoreAsking(t *testing.T) {
	ctx := context.Background()
	_, addr := startServer(t, 8)
	c := newClient2(t, addr, 2)
	c.RPush(ctx, "l", "a", "b")
	p := c.Dump(ctx, "l").Val()
	if err := c.Do(ctx, "RESTORE-ASKING", "l2", 0, p).Err(); err != nil {
		t.Fatal(err)
	}
	if got := c.LRange(ctx, "l2", 0, -1).Val(); fmt.Sprint(got) != "[a b]" {
		t.Fatalf("restored %v", got)
	}
	if err := c.Do(ctx, "RESTORE-ASKING", "l2", 0, p).Err(); err == nil || err.Error() != "BUSYKEY Target key name already exists." {
		t.Fatalf("RESTORE-ASKING onto a key: %v", err)
	}
	if err := c.Do(ctx, "RESTORE-ASKING", "l2", 0).Err(); err == nil || err.Error() != "ERR wrong number of arguments for 'restore-asking' command" {
		t.Fatalf("short RESTORE-ASKING: %v", err)
	}
}

// fakeTarget listens on loopback and runs serve for each connection; it
// is closed with the test.
func fakeTarget(t *testing.T, serve func(nc net.Conn)) (host, port string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(nc)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	host, port, _ = net.SplitHostPort(l.Addr().String())
	return host, port
}

// readCommand reads one RESP array of bulk strings.
func readCommand(br *bufio.Reader) ([]string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil || line[0] != '*' {
		return nil, fmt.Errorf("bad header %q", line)
	}
	out := make([]string, n)
	for i := range out {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		b := make([]byte, size+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		out[i] = string(b[:size])
	}
	return out, nil
}

// TestMigrateTimeout: a target that never answers gives IOERR after the
// timeout, the key stays, and the shard serves again at once.
func TestMigrateTimeout(t *testing.T) {
	ctx := context.Background()
	_, addr := startServer(t, 8)
	a := newClient2(t, addr, 2)
	host, port := fakeTarget(t, func(nc net.Conn) { io.Copy(io.Discard, nc) })
	a.Set(ctx, "key", "v", 0)
	start := time.Now()
	got := migrateDo(a, host, port, "key", 0, 300)
	elapsed := time.Since(start)
	if got != "IOERR error or timeout reading to target instance" {
		t.Fatalf("MIGRATE = %q", got)
	}
	if elapsed < 300*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("IOERR after %v; the timeout is 300ms", elapsed)
	}
	if a.Get(ctx, "key").Val() != "v" {
		t.Fatal("the key was lost")
	}
	if n := cachedSockets(t, a); n != 0 {
		t.Fatalf("a timed-out socket stays cached: %d", n)
	}
}

// TestMigrateToItself: the target's RESTORE waits for the shard MIGRATE
// holds, so MIGRATE times out (as redis-server does) instead of
// deadlocking, and the server goes on serving.
func TestMigrateToItself(t *testing.T) {
	ctx := context.Background()
	_, addr := startServer(t, 8)
	a := newClient2(t, addr, 2)
	host, port, _ := net.SplitHostPort(addr)
	a.Set(ctx, "key", "v", 0)
	if got := migrateDo(a, host, port, "key", 0, 300); got != "IOERR error or timeout reading to target instance" {
		t.Fatalf("MIGRATE to itself = %q", got)
	}
	if got := a.Get(ctx, "key").Val(); got != "v" {
		t.Fatalf("GET after MIGRATE to itself = %q", got)
	}
	// The late RESTORE found the key there.
	if n := a.DBSize(ctx).Val(); n != 1 {
		t.Fatalf("DBSIZE %d", n)
	}
}

// TestMigrateHoldsKeys: no other client sees or changes a key between
// MIGRATE's DUMP and its DEL. A SET sent while the target is answering
// runs after MIGRATE, so the new value survives the DEL.
func TestMigrateHoldsKeys(t *testing.T) {
	ctx := context.Background()
	_, addr := startServer(t, 8)
	a := newClient2(t, addr, 2)
	other := newClient2(t, addr, 2)
	got := make(chan []string, 4)
	release := make(chan struct{})
	host, port := fakeTarget(t, func(nc net.Conn) {
		br := bufio.NewReader(nc)
		for {
			cmd, err := readCommand(br)
			if err != nil {
				return
			}
			got <- cmd
			if strings.EqualFold(cmd[0], "restore") {
				<-release
			}
			nc.Write([]byte("+OK\r\n"))
		}
	})
	a.Set(ctx, "key", "old", 0)
	done := make(chan string, 1)
	go func() { done <- migrateDo(a, host, port, "key", 2, 5000) }()
	if cmd := <-got; fmt.Sprint(cmd) != "[SELECT 2]" {
		t.Fatalf("first command %v", cmd)
	}
	if cmd := <-got; cmd[0] != "RESTORE" || cmd[1] != "key" || cmd[2] != "0" || len(cmd) != 4 {
		t.Fatalf("second command %q", cmd)
	}
	set := make(chan error, 1)
	go func() { set <- other.Set(ctx, "key", "new", 0).Err() }()
	select {
	case err := <-set:
		t.Fatalf("SET ran while MIGRATE held the key: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if r := <-done; r != "OK" {
		t.Fatalf("MIGRATE = %s", r)
	}
	if err := <-set; err != nil {
		t.Fatal(err)
	}
	if v := a.Get(ctx, "key").Val(); v != "new" {
		t.Fatalf("GET = %q: the SET did not wait for MIGRATE", v)
	}
	// The socket is cached with database 2 selected: no SELECT this time.
	a.Set(ctx, "key2", "x", 0)
	if r := migrateDo(a, host, port, "key2", 2, 5000); r != "OK" {
		t.Fatalf("second MIGRATE = %s", r)
	}
	if cmd := <-got; cmd[0] != "RESTORE" || cmd[1] != "key2" {
		t.Fatalf("the cached socket got %q, want RESTORE without SELECT", cmd)
	}
}

// TestMigrateIdleSocketsClosed: the cache closes a socket unused for
// migrateIdle, and INFO counts it out.
func TestMigrateIdleSocketsClosed(t *testing.T) {
	idle, every := migrateIdle, migrateSweepEvery
	migrateIdle, migrateSweepEvery = 200*time.Millisecond, 20*time.Millisecond
	t.Cleanup(func() { migrateIdle, migrateSweepEvery = idle, every })

	ctx := context.Background()
	_, a, _, host, port := migratePair(t)
	a.Set(ctx, "key", "v", 0)
	if got := migrateDo(a, host, port, "key", 0, 1000, "copy"); got != "OK" {
		t.Fatalf("MIGRATE = %s", got)
	}
	if n := cachedSockets(t, a); n != 1 {
		t.Fatalf("migrate_cached_sockets = %d, want 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for cachedSockets(t, a) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle socket is still cached")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A new socket starts a new sweeper.
	if got := migrateDo(a, host, port, "key", 0, 1000, "copy", "replace"); got != "OK" {
		t.Fatalf("MIGRATE = %s", got)
	}
	for cachedSockets(t, a) != 0 {
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatal("the second idle socket is still cached")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMigrateRetriesBrokenSocket: when the target closed the cached
// connection, MIGRATE connects again once, as Redis does, and succeeds.
func TestMigrateRetriesBrokenSocket(t *testing.T) {
	ctx := context.Background()
	_, a, b, host, port := migratePair(t)
	a.Set(ctx, "k1", "v", 0)
	if got := migrateDo(a, host, port, "k1", 0, 1000); got != "OK" {
		t.Fatalf("MIGRATE = %s", got)
	}
	// Close every connection of the target but this client's: the cached one.
	n, err := b.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Int()
	if err != nil || n < 1 {
		t.Fatalf("CLIENT KILL = %d, %v", n, err)
	}
	a.Set(ctx, "k2", "v", 0)
	if got := migrateDo(a, host, port, "k2", 0, 1000); got != "OK" {
		t.Fatalf("MIGRATE over a closed cached socket = %s", got)
	}
	if b.Exists(ctx, "k1", "k2").Val() != 2 || cachedSockets(t, a) != 1 {
		t.Fatal("k2 not moved, or the new socket not cached")
	}
}

// TestMigrateShutdown: Shutdown closes the cached sockets and ends a
// MIGRATE waiting on a silent target at once, whatever its timeout.
func TestMigrateShutdown(t *testing.T) {
	ctx := context.Background()
	src, addr, served := listenAndServe(t, 8)
	a := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1})
	t.Cleanup(func() { a.Close() })
	_, addrB := startServer(t, 8)
	hostB, portB, _ := net.SplitHostPort(addrB)
	a.MSet(ctx, "k1", "v", "k2", "v")
	if got := migrateDo(a, hostB, portB, "k1", 0, 1000); got != "OK" {
		t.Fatalf("MIGRATE = %s", got)
	}
	entered := make(chan struct{}, 1)
	host, port := fakeTarget(t, func(nc net.Conn) {
		entered <- struct{}{}
		io.Copy(io.Discard, nc)
	})
	done := make(chan string, 1)
	go func() { done <- migrateDo(a, host, port, "k2", 0, 60000) }()
	<-entered
	time.Sleep(50 * time.Millisecond) // let it write and wait for the reply
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := src.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	<-done
	if n := src.migrate.count(); n != 0 {
		t.Fatalf("%d sockets cached after Shutdown", n)
	}
	src.migrate.mu.Lock()
	swept := src.migrate.swept
	src.migrate.mu.Unlock()
	if swept != nil {
		select {
		case <-swept:
		default:
			t.Fatal("the sweeper still runs after Shutdown")
		}
	}
}

// TestMigrateInTransaction: MIGRATE runs inside EXEC, and a migrated key
// counts as modified for WATCH.
func TestMigrateInTransaction(t *testing.T) {
	ctx := context.Background()
	_, a, b, host, port := migratePair(t)
	a.MSet(ctx, "x", "1", "y", "2")
	cmds, err := a.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "MIGRATE", host, port, "", 0, 1000, "KEYS", "x", "y")
		p.Set(ctx, "x", "3", 0)
		return nil
	})
	if err != nil || cmds[0].(*redis.Cmd).Val() != "OK" {
		t.Fatalf("EXEC: %v %v", cmds, err)
	}
	if a.Get(ctx, "x").Val() != "3" || a.Exists(ctx, "y").Val() != 0 || fmt.Sprint(b.MGet(ctx, "x", "y").Val()) != "[1 2]" {
		t.Fatal("the transaction's effects are wrong")
	}

	// WATCH y, MIGRATE y from another client: EXEC fails.
	a.Set(ctx, "w", "1", 0)
	err = a.Watch(ctx, func(tx *redis.Tx) error {
		if got := migrateDo(newClient2(t, a.Options().Addr, 2), host, port, "w", 0, 1000, "replace"); got != "OK" {
			return fmt.Errorf("MIGRATE = %s", got)
		}
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "w", "2", 0)
			return nil
		})
		return err
	}, "w")
	if err != redis.TxFailedErr {
		t.Fatalf("EXEC after MIGRATE of a watched key: %v", err)
	}
}

// TestMigrateRedisDifferential runs the same MIGRATEs from a redis-server
// and from Valkyrie to a second redis-server and compares the replies and
// what both ends hold after; then moves every type both ways: Valkyrie to
// redis-server, and redis-server to Valkyrie (Redis's MIGRATE sends its
// RESTOREs to Valkyrie).
func TestMigrateRedisDifferential(t *testing.T) {
	bin := trRedisBinary()
	if bin == "" {
		t.Skip("redis-server is not on PATH")
	}
	ctx := context.Background()
	red := redis.NewClient(&redis.Options{Addr: trStartRedis(t, bin), Protocol: 2})
	t.Cleanup(func() { red.Close() })
	dstAddr := trStartRedis(t, bin)
	dst := redis.NewClient(&redis.Options{Addr: dstAddr, Protocol: 2})
	t.Cleanup(func() { dst.Close() })
	_, valAddr := startServer(t, 8)
	val := newClient2(t, valAddr, 2)
	host, port, _ := net.SplitHostPort(dstAddr)

	// state lists every key of databases 0 and 3 of c, with TTLs rounded
	// to seconds.
	state := func(c *redis.Client) string {
		var b strings.Builder
		for _, db := range []int{0, 3} {
			// A connection of its own: one that ran SELECT must not go
			// back to c's pool.
			cc := redis.NewClient(&redis.Options{Addr: c.Options().Addr, Protocol: 2, DB: db})
			keys := cc.Keys(ctx, "*").Val()
			slices.Sort(keys)
			for _, k := range keys {
				v, _ := cc.Dump(ctx, k).Result()
				ttl := cc.TTL(ctx, k).Val()
				if ttl > 0 {
					ttl = (ttl + 5*time.Second) / (10 * time.Second) // 100s reads as 95-100
				}
				fmt.Fprintf(&b, "%d/%s=%x ttl %d; ", db, k, v, ttl)
			}
			cc.Close()
		}
		return b.String()
	}
	refused := closedPort(t)
	cases := []struct {
		name  string
		setup [][]any // on the source; "dst:" prefixed commands go to the target
		args  []any   // after MIGRATE host port
	}{
		{"move", [][]any{{"SET", "k", "v", "EX", 100}}, []any{"k", 0, 5000}},
		{"copy into db 3", [][]any{{"RPUSH", "k", "a", "b"}}, []any{"k", 3, 5000, "COPY"}},
		{"busykey", [][]any{{"SET", "k", "v"}, {"dst:", "SET", "k", "x"}}, []any{"k", 0, 5000}},
		{"replace", [][]any{{"SET", "k", "v"}, {"dst:", "SET", "k", "x"}}, []any{"k", 0, 5000, "REPLACE"}},
		{"nokey", nil, []any{"k", 0, 5000}},
		{"auth without password", [][]any{{"SET", "k", "v"}}, []any{"k", 0, 5000, "AUTH", "foo"}},
		{"auth2 without password", [][]any{{"SET", "k", "v"}}, []any{"k", 0, 5000, "AUTH2", "default", "foo"}},
		{"auth2 unknown user", [][]any{{"SET", "k", "v"}}, []any{"k", 0, 5000, "AUTH2", "nobody", "foo"}},
		{"db out of range", [][]any{{"SET", "k", "v"}}, []any{"k", 99, 5000}},
		{"negative db", [][]any{{"SET", "k", "v"}}, []any{"k", -2, 5000}},
		{"keys", [][]any{{"MSET", "a", 1, "b", 2, "c", 3}, {"dst:", "SET", "b", "x"}},
			[]any{"", 3, 5000, "KEYS", "a", "nokey", "b", "c"}},
		{"keys busy", [][]any{{"MSET", "a", 1, "b", 2, "c", 3}, {"dst:", "SET", "b", "x"}},
			[]any{"", 0, 5000, "KEYS", "a", "nokey", "b", "c"}},
		{"keys replace", [][]any{{"MSET", "a", 1, "b", 2, "c", 3}, {"dst:", "SET", "b", "x"}},
			[]any{"", 0, 5000, "REPLACE", "KEYS", "a", "nokey", "b", "c"}},
		{"keys not empty", [][]any{{"SET", "k", "v"}}, []any{"k", 0, 5000, "KEYS", "k"}},
		{"syntax", [][]any{{"SET", "k", "v"}}, []any{"k", 0, 5000, "COPY", "MOVE"}},
		{"bad timeout", [][]any{{"SET", "k", "v"}}, []any{"k", 0, "1s"}},
		{"refused", [][]any{{"SET", "k", "v"}}, []any{"k", 0, 500, "refused"}},
	}
	for _, tc := range cases {
		var replies, states [2]string
		for i, src := range []*redis.Client{red, val} {
			src.FlushAll(ctx)
			dst.FlushAll(ctx)
			// A fresh connection to the target each time, as the first
			// MIGRATE of a run: SELECT is then sent.
			src.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
			dst.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
			for _, cmd := range tc.setup {
				c := src
				if cmd[0] == "dst:" {
					c, cmd = dst, cmd[1:]
				}
				if err := c.Do(ctx, cmd...).Err(); err != nil {
					t.Fatalf("%s: %v: %v", tc.name, cmd, err)
				}
			}
			p := port
			args := tc.args
			if len(args) > 0 && args[len(args)-1] == "refused" {
				p, args = refused, args[:len(args)-1]
			}
			replies[i] = migrateDo(src, host, p, args...)
			states[i] = state(src) + "| " + state(dst)
		}
		if replies[0] != replies[1] {
			t.Errorf("%s: MIGRATE %v:\nvalkyrie %q\n   redis %q", tc.name, tc.args, replies[1], replies[0])
		}
		if states[0] != states[1] {
			t.Errorf("%s: after MIGRATE %v:\nvalkyrie %s\n   redis %s", tc.name, tc.args, states[1], states[0])
		}
	}

	// Every type, both ways, with COPY so that the source can be compared.
	red.FlushAll(ctx)
	val.FlushAll(ctx)
	dst.FlushAll(ctx)
	keys := dumpFixtures(t, red)
	dumpFixtures(t, val)
	args := []any{"", 0, 10000, "COPY", "KEYS"}
	for _, k := range keys {
		args = append(args, k)
	}
	if got := migrateDo(val, host, port, args...); got != "OK" {
		t.Fatalf("MIGRATE of the fixtures to redis-server = %s", got)
	}
	vhost, vport, _ := net.SplitHostPort(valAddr)
	args[1] = 1 // into Valkyrie's database 1
	if got := migrateDo(red, vhost, vport, args...); got != "OK" {
		t.Fatalf("MIGRATE of the fixtures from redis-server = %s", got)
	}
	val1 := redis.NewClient(&redis.Options{Addr: valAddr, Protocol: 2, DB: 1})
	t.Cleanup(func() { val1.Close() })
	for _, k := range keys {
		want := dumpContent(t, red, k)
		if got := dumpContent(t, dst, k); got != want {
			t.Errorf("%s: Valkyrie → Redis by MIGRATE:\n got %.300s\nwant %.300s", k, got, want)
		}
		if got := dumpContent(t, val1, k); got != want {
			t.Errorf("%s: Redis → Valkyrie by MIGRATE:\n got %.300s\nwant %.300s", k, got, want)
		}
	}
}
