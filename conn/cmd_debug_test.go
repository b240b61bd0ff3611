package conn

import (
	"bufio"
	"context"
	"errors"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/conn/config"
)

// startDebugServer is startServer with enable-debug-command set to mode.
func startDebugServer(t *testing.T, shards int, mode string) (*Server, string) {
	t.Helper()
	cfg := config.New()
	if err := cfg.Load("enable-debug-command", mode); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Shards: shards, Config: cfg})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, l.Addr().String()
}

// debugRaw sends each command (a space-separated line) on one connection
// and returns the raw replies; replies[i] holds want[i] replies' bytes
// (DEBUG PROTOCOL push answers with a push and then a reply).
func debugRaw(t *testing.T, addr string, proto int, cmds []string, counts []int) []string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	send := func(n int, args ...string) string {
		if _, err := nc.Write(respCommand(args...)); err != nil {
			t.Fatal(err)
		}
		var out []byte
		for range n {
			if err := cmdTestReadReply(br, &out); err != nil {
				t.Fatal(err)
			}
		}
		return string(out)
	}
	if proto == 3 {
		send(1, "HELLO", "3")
	}
	var out []string
	for i, c := range cmds {
		out = append(out, send(counts[i], strings.Fields(c)...))
	}
	return out
}

// TestDebugGate: enable-debug-command decides who may run DEBUG, with
// Redis's error (counted as rejected, aborting a transaction), and it
// cannot be changed at run time.
func TestDebugGate(t *testing.T) {
	ctx := context.Background()
	const refused = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", " +
		"you can run it from a local connection, otherwise you need to set this option in the configuration file, " +
		"and then restart the server."

	_, addr := startServer(t, 8) // the default: no
	rdb := newClient2(t, addr, 2)
	if err := rdb.Do(ctx, "DEBUG", "SLEEP", "0").Err(); err == nil || err.Error() != refused {
		t.Fatalf("DEBUG with the default config: %v", err)
	}
	// The arity check comes first, as in Redis.
	if err := rdb.Do(ctx, "DEBUG").Err(); err == nil || err.Error() != "ERR wrong number of arguments for 'debug' command" {
		t.Fatalf("DEBUG without arguments: %v", err)
	}
	if got := rdb.ConfigGet(ctx, "enable-debug-command").Val(); got["enable-debug-command"] != "no" {
		t.Fatalf("CONFIG GET enable-debug-command = %v", got)
	}
	if err := rdb.ConfigSet(ctx, "enable-debug-command", "yes").Err(); err == nil ||
		err.Error() != "ERR CONFIG SET failed (possibly related to argument 'enable-debug-command') - can't set immutable config" {
		t.Fatalf("CONFIG SET enable-debug-command: %v", err)
	}
	// In MULTI the refusal is immediate and EXEC aborts.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(append(append(append(respCommand("MULTI"), respCommand("DEBUG", "DIGEST")...), respCommand("SET", "k", "v")...), respCommand("EXEC")...))
	br := bufio.NewReader(nc)
	var lines []string
	for range 4 {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
	}
	want := []string{"+OK", "-" + refused, "+QUEUED", "-EXECABORT Transaction discarded because of previous errors."}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("MULTI with a refused DEBUG:\n%q\nwant\n%q", lines, want)
	}
	if n := rdb.Exists(ctx, "k").Val(); n != 0 {
		t.Fatalf("the aborted transaction wrote")
	}
	// Three refusals: the arity error counts too.
	stats := rdb.Info(ctx, "commandstats").Val()
	if !strings.Contains(stats, "cmdstat_debug:calls=0,") || !strings.Contains(stats, "rejected_calls=3,") {
		t.Fatalf("DEBUG's refusals are not counted as rejected calls:\n%s", stats)
	}

	for _, mode := range []string{"yes", "local"} {
		_, addr := startDebugServer(t, 8, mode)
		rdb := newClient2(t, addr, 2)
		if got, err := rdb.Do(ctx, "DEBUG", "SLEEP", "0").Result(); err != nil || got != "OK" {
			t.Fatalf("enable-debug-command %s: DEBUG SLEEP 0 = %v, %v", mode, got, err)
		}
		if got := rdb.ConfigGet(ctx, "enable-debug-command").Val(); got["enable-debug-command"] != mode {
			t.Fatalf("CONFIG GET enable-debug-command = %v, want %s", got, mode)
		}
	}
}

// TestDebugProtocol pins DEBUG PROTOCOL's replies, byte for byte as Redis
// 7.0 gives them, in RESP2 and RESP3.
func TestDebugProtocol(t *testing.T) {
	_, addr := startDebugServer(t, 8, "yes")
	cases := []struct{ name, resp2, resp3 string }{
		{"string", "$11\r\nHello World\r\n", "$11\r\nHello World\r\n"},
		{"integer", ":12345\r\n", ":12345\r\n"},
		{"double", "$5\r\n3.141\r\n", ",3.141\r\n"},
		{"bignum", "$37\r\n1234567999999999999999999999999999999\r\n", "(1234567999999999999999999999999999999\r\n"},
		{"null", "$-1\r\n", "_\r\n"},
		{"array", "*3\r\n:0\r\n:1\r\n:2\r\n", "*3\r\n:0\r\n:1\r\n:2\r\n"},
		{"set", "*3\r\n:0\r\n:1\r\n:2\r\n", "~3\r\n:0\r\n:1\r\n:2\r\n"},
		{"map", "*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n", "%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n"},
		{"attrib", "$39\r\nSome real reply following the attribute\r\n",
			"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n$39\r\nSome real reply following the attribute\r\n"},
		{"push", "-ERR RESP2 is not supported by this command\r\n",
			">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n$40\r\nSome real reply following the push reply\r\n"},
		{"verbatim", "$25\r\nThis is a verbatim\nstring\r\n", "=29\r\ntxt:This is a verbatim\nstring\r\n"},
		{"true", ":1\r\n", "#t\r\n"},
		{"false", ":0\r\n", "#f\r\n"},
		{"nope", "-ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false\r\n",
			"-ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false\r\n"},
	}
	var cmds []string
	var n2, n3 []int
	for _, c := range cases {
		cmds = append(cmds, "DEBUG PROTOCOL "+strings.ToUpper(c.name))
		n2 = append(n2, 1)
		switch c.name {
		case "push":
			n3 = append(n3, 2)
		case "attrib":
			n3 = append(n3, 2) // the attribute, then the reply
		default:
			n3 = append(n3, 1)
		}
	}
	got2 := debugRaw(t, addr, 2, cmds, n2)
	got3 := debugRaw(t, addr, 3, cmds, n3)
	for i, c := range cases {
		if got2[i] != c.resp2 {
			t.Errorf("RESP2 DEBUG PROTOCOL %s = %q, want %q", c.name, got2[i], c.resp2)
		}
		if got3[i] != c.resp3 {
			t.Errorf("RESP3 DEBUG PROTOCOL %s = %q, want %q", c.name, got3[i], c.resp3)
		}
	}
}

// debugFixtures writes the same data, every type in its compact and its
// large encoding, with and without TTLs, through rdb.
func debugFixtures(t *testing.T, rdb *redis.Client) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	do := func(key string, args ...any) {
		if err := rdb.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		keys = append(keys, key)
	}
	do("s:plain", "SET", "s:plain", "hello")
	do("s:int", "SET", "s:int", "-12345")
	do("s:ttl", "SET", "s:ttl", "world", "EX", "1000")
	do("s:bin", "SET", "s:bin", "a\x00b\xffc")
	do("s:big", "SET", "s:big", strings.Repeat("x", 100))
	do("l:small", "RPUSH", "l:small", "a", "1", "b", "-7", "")
	do("l:ttl", "RPUSH", "l:ttl", "z", "y")
	do("l:ttl", "PEXPIRE", "l:ttl", "1000000")
	big := []any{"RPUSH", "l:big"}
	for i := range 300 {
		big = append(big, strings.Repeat("v", i%70)+strconv.Itoa(i))
	}
	do("l:big", big...)
	do("set:int", "SADD", "set:int", "1", "2", "300", "-4")
	do("set:str", "SADD", "set:str", "a", "b", "c", "10")
	set := []any{"SADD", "set:big"}
	for i := range 200 {
		set = append(set, "m"+strconv.Itoa(i))
	}
	do("set:big", set...)
	do("set:big", "EXPIRE", "set:big", "1000")
	do("z:small", "ZADD", "z:small", "1", "a", "2.5", "b", "-3", "c", "inf", "d", "-inf", "e", "0", "12")
	do("z:frac", "ZADD", "z:frac", "0.1", "x", "1e300", "y", "-1.5e-7", "w", "3", "100")
	zs := []any{"ZADD", "z:big"}
	for i := range 200 {
		zs = append(zs, strconv.FormatFloat(float64(i)/7, 'g', -1, 64), "e"+strconv.Itoa(i))
	}
	do("z:big", zs...)
	do("h:small", "HSET", "h:small", "f", "v", "n", "1", "empty", "")
	do("h:ttl", "HSET", "h:ttl", "a", "b")
	do("h:ttl", "EXPIRE", "h:ttl", "1000")
	hs := []any{"HSET", "h:big"}
	for i := range 200 {
		hs = append(hs, "f"+strconv.Itoa(i), strings.Repeat("w", i%90))
	}
	do("h:big", hs...)
	do("x:s", "XADD", "x:s", "1-1", "a", "1", "b", "2")
	do("x:s", "XADD", "x:s", "1-2", "a", "3", "b", "4")
	do("x:s", "XADD", "x:s", "5-0", "c", "")
	do("x:s", "XADD", "x:s", "6-0", "d", "x")
	do("x:s", "XDEL", "x:s", "5-0")
	do("x:ttl", "XADD", "x:ttl", "7-7", "f", "v")
	do("x:ttl", "EXPIRE", "x:ttl", "1000")
	for i := range 120 {
		do("x:big", "XADD", "x:big", strconv.Itoa(1000+i)+"-"+strconv.Itoa(i%3), "field", strconv.Itoa(i), "other", strings.Repeat("q", i))
	}
	do("db3", "SELECT", "3")
	do("db3", "SET", "other-db", "v")
	do("db3", "SELECT", "0")
	return keys
}

// TestDebugDigestDifferential loads the same data into redis-server and
// into Valkyrie (8 shards) and compares DEBUG DIGEST and DIGEST-VALUE:
// Valkyrie computes Redis's digest, so datasets can be compared across
// the two.
func TestDebugDigestDifferential(t *testing.T) {
	bin := trRedisBinary()
	if bin == "" {
		t.Skip("redis-server is not on PATH")
	}
	ctx := context.Background()
	red := redis.NewClient(&redis.Options{Addr: trStartRedis(t, bin, "--enable-debug-command", "yes"), Protocol: 2})
	t.Cleanup(func() { red.Close() })
	_, addr := startDebugServer(t, 8, "yes")
	// One connection, so SELECT in the fixtures holds for what follows.
	red = redis.NewClient(&redis.Options{Addr: red.Options().Addr, Protocol: 2, PoolSize: 1})
	t.Cleanup(func() { red.Close() })
	val := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, PoolSize: 1})
	t.Cleanup(func() { val.Close() })

	digest := func(rdb *redis.Client) string {
		d, err := rdb.Do(ctx, "DEBUG", "DIGEST").Text()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if r, v := digest(red), digest(val); r != v || r != strings.Repeat("0", 40) {
		t.Fatalf("empty dataset: redis %s, valkyrie %s", r, v)
	}
	keys := debugFixtures(t, red)
	debugFixtures(t, val)
	if r, v := digest(red), digest(val); r != v {
		t.Errorf("DEBUG DIGEST: redis %s, valkyrie %s", r, v)
	}
	args := []any{"DEBUG", "DIGEST-VALUE"}
	seen := map[string]bool{}
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			args = append(args, k)
		}
	}
	args = append(args, "missing")
	r, err := red.Do(ctx, args...).StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	v, err := val.Do(ctx, args...).StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	for i := range r {
		if i >= len(v) || r[i] != v[i] {
			t.Errorf("DIGEST-VALUE %v: redis %s, valkyrie %v", args[i+2], r[i], v)
		}
	}
	// A TTL counts; its length does not.
	for _, rdb := range []*redis.Client{red, val} {
		rdb.Expire(ctx, "s:plain", time.Hour)
		rdb.Expire(ctx, "s:ttl", 2*time.Hour)
	}
	if r, v := digest(red), digest(val); r != v {
		t.Errorf("DEBUG DIGEST after EXPIRE: redis %s, valkyrie %s", r, v)
	}
}

// TestDebugDigest pins digests that Redis 7.0.15 computes, so the
// algorithm is checked where redis-server is not installed.
func TestDebugDigest(t *testing.T) {
	ctx := context.Background()
	_, addr := startDebugServer(t, 8, "yes")
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, PoolSize: 1})
	t.Cleanup(func() { rdb.Close() })
	for _, c := range [][]any{
		{"RPUSH", "l", "a", "b", "c", "1", "2"},
		{"SADD", "s", "x", "y", "3"},
		{"ZADD", "z", "1", "a", "2.5", "b", "inf", "c"},
		{"HSET", "h", "f", "v", "g", "w"},
		{"SET", "str", "hello"},
		{"SET", "n", "12345", "EX", "100"},
		{"XADD", "st", "1-1", "a", "1", "b", "2"},
		{"XADD", "st", "2-5", "c", "3"},
	} {
		if err := rdb.Do(ctx, c...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Figures from redis-server 7.0.15 after the same commands.
	want := []string{
		"f48a1249517530ff1906fc79ddbf9b687f71f06f", // l
		"415a07507e2348d139f9fd645a024f6be569dd65", // s
		"692ab70d673d8bf452c3a17fb4be02bfcdf437bc", // z
		"d127864ed50239662bf61bafc9bda63c17da5b37", // h
		"36b23a1456b2dce2c3ed252c456761301dba8060", // str
		"074a6e8892a0b0b4fcf085794cb69322c36c9d00", // n (with a TTL)
		"238813dc6b452bc5bad2d0f9297d48de82814fdb", // st
		"0000000000000000000000000000000000000000", // missing
	}
	got, err := rdb.Do(ctx, "DEBUG", "DIGEST-VALUE", "l", "s", "z", "h", "str", "n", "st", "missing").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("DIGEST-VALUE = %v\nwant %v", got, want)
	}
	if d := rdb.Do(ctx, "DEBUG", "DIGEST").Val(); d != "82df9f4e958588a6df6214ba84532b3a81d362df" {
		t.Errorf("DEBUG DIGEST = %v", d)
	}
	// Inside a transaction, which holds the shards already.
	pipe := rdb.TxPipeline()
	d := pipe.Do(ctx, "DEBUG", "DIGEST")
	if _, err := pipe.Exec(ctx); err != nil || d.Val() != "82df9f4e958588a6df6214ba84532b3a81d362df" {
		t.Errorf("DEBUG DIGEST in EXEC = %v, %v", d.Val(), err)
	}
}

// TestDebugObject checks DEBUG OBJECT's line: Redis's fields, the
// encoding OBJECT ENCODING reports, the ql_* fields for lists.
func TestDebugObject(t *testing.T) {
	ctx := context.Background()
	_, addr := startDebugServer(t, 8, "yes")
	rdb := newClient2(t, addr, 2)
	rdb.Set(ctx, "str", "hello", 0)
	rdb.Set(ctx, "num", "12345", 0)
	rdb.RPush(ctx, "list", "a", "b", "c", "1", "2")
	rdb.HSet(ctx, "hash", "f", "v")
	rdb.HSet(ctx, "bighash", "f", strings.Repeat("a", 1024))
	line := regexp.MustCompile(`^Value at:0x[0-9a-f]+ refcount:(\d+) encoding:(\S+) serializedlength:(\d+) lru:\d+ lru_seconds_idle:\d+(.*)$`)
	for _, c := range []struct{ key, refcount, enc, serLen, extra string }{
		{"str", "1", "embstr", "6", ""},
		{"num", "1", "int", "3", ""},
		{"list", "1", "quicklist", "23", " ql_nodes:1 ql_avg_node:5.00 ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:20"},
		{"hash", "1", "listpack", "", ""},
		{"bighash", "1", "hashtable", "", ""},
	} {
		got, err := rdb.Do(ctx, "DEBUG", "OBJECT", c.key).Text()
		if err != nil {
			t.Fatalf("DEBUG OBJECT %s: %v", c.key, err)
		}
		m := line.FindStringSubmatch(got)
		if m == nil {
			t.Fatalf("DEBUG OBJECT %s = %q", c.key, got)
		}
		if enc := rdb.ObjectEncoding(ctx, c.key).Val(); m[2] != c.enc || enc != c.enc {
			t.Errorf("DEBUG OBJECT %s encoding %s, OBJECT ENCODING %s, want %s", c.key, m[2], enc, c.enc)
		}
		if m[1] != c.refcount || (c.serLen != "" && m[3] != c.serLen) || m[4] != c.extra {
			t.Errorf("DEBUG OBJECT %s = %q", c.key, got)
		}
	}
	if err := rdb.Do(ctx, "DEBUG", "OBJECT", "nokey").Err(); err == nil || err.Error() != "ERR no such key" {
		t.Errorf("DEBUG OBJECT of a missing key: %v", err)
	}
	for _, c := range [][]any{
		{"DEBUG", "LISTPACK", "hash", "Listpack structure printed on stdout"},
		{"DEBUG", "LISTPACK", "list", "ERR Not a listpack encoded object."},
		{"DEBUG", "QUICKLIST", "list", "Quicklist structure printed on stdout"},
		{"DEBUG", "QUICKLIST", "hash", "ERR Not a quicklist encoded object."},
		{"DEBUG", "LISTPACK", "nokey", "ERR no such key"},
		{"DEBUG", "QUICKLIST-PACKED-THRESHOLD", "5gb", "ERR argument must be a memory value bigger than 1 and smaller than 4gb"},
		{"DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1b", "OK"},
		{"DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0", "OK"},
		{"DEBUG", "OBJECT", "a", "b", "ERR unknown subcommand or wrong number of arguments for 'OBJECT'. Try DEBUG HELP."},
		{"DEBUG", "JMAP", "ERR unknown subcommand or wrong number of arguments for 'JMAP'. Try DEBUG HELP."},
		{"DEBUG", "ERROR", "some\r\nthing", "some  thing"},
		{"DEBUG", "LOG", "hello", "OK"},
		{"DEBUG", "STRINGMATCH-TEST", "Apparently Redis did not crash: test passed"},
	} {
		want := c[len(c)-1].(string)
		got, err := rdb.Do(ctx, c[:len(c)-1]...).Text()
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%v = %q, want %q", c[:len(c)-1], got, want)
		}
	}
	help, err := rdb.Do(ctx, "DEBUG", "HELP").StringSlice()
	if err != nil || help[0] != "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:" || help[len(help)-1] != "    Prints this help." {
		t.Errorf("DEBUG HELP = %q, %v", help, err)
	}
}

// TestDebugPopulate: keys prefix:N spread over the shards, existing keys
// left alone, values padded to the size asked.
func TestDebugPopulate(t *testing.T) {
	ctx := context.Background()
	_, addr := startDebugServer(t, 8, "yes")
	rdb := newClient2(t, addr, 2)
	rdb.Set(ctx, "key:3", "mine", 0)
	if err := rdb.Do(ctx, "DEBUG", "POPULATE", "1000").Err(); err != nil {
		t.Fatal(err)
	}
	if n := rdb.DBSize(ctx).Val(); n != 1000 {
		t.Fatalf("DBSIZE = %d after POPULATE 1000", n)
	}
	if v := rdb.Get(ctx, "key:3").Val(); v != "mine" {
		t.Errorf("POPULATE overwrote key:3: %q", v)
	}
	if v := rdb.Get(ctx, "key:999").Val(); v != "value:999" {
		t.Errorf("key:999 = %q", v)
	}
	rdb.Do(ctx, "DEBUG", "POPULATE", "3", "p", "10")
	if v := rdb.Get(ctx, "p:2").Val(); v != "value:2\x00\x00\x00" {
		t.Errorf("p:2 = %q", v)
	}
	rdb.Do(ctx, "DEBUG", "POPULATE", "3", "q", "3")
	if v := rdb.Get(ctx, "q:1").Val(); v != "val" {
		t.Errorf("q:1 = %q", v)
	}
	// Redis formats the names in 128 bytes: a long prefix makes one key.
	rdb.FlushAll(ctx)
	rdb.Do(ctx, "DEBUG", "POPULATE", "3", strings.Repeat("p", 130))
	if keys := rdb.Keys(ctx, "*").Val(); len(keys) != 1 || keys[0] != strings.Repeat("p", 127) {
		t.Errorf("POPULATE with a 130-byte prefix made %q", keys)
	}
	for _, c := range []struct{ arg, err string }{
		{"-1", "ERR value is out of range, must be positive"},
		{"x", "ERR value is not an integer or out of range"},
	} {
		if err := rdb.Do(ctx, "DEBUG", "POPULATE", c.arg).Err(); err == nil || err.Error() != c.err {
			t.Errorf("POPULATE %s: %v", c.arg, err)
		}
	}
}

// TestDebugActiveExpireAndCron: SET-ACTIVE-EXPIRE 0 and PAUSE-CRON 1 each
// leave an expired key in place (DBSIZE still counts it) until switched
// back.
func TestDebugActiveExpireAndCron(t *testing.T) {
	ctx := context.Background()
	_, addr := startDebugServer(t, 8, "yes")
	rdb := newClient2(t, addr, 2)
	rdb.ConfigSet(ctx, "hz", "100")
	for _, c := range [][2]string{{"SET-ACTIVE-EXPIRE", "0"}, {"PAUSE-CRON", "1"}} {
		if err := rdb.Do(ctx, "DEBUG", c[0], c[1]).Err(); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			rdb.Set(ctx, "k"+strconv.Itoa(i), "v", time.Millisecond)
		}
		time.Sleep(150 * time.Millisecond) // 15 ticks
		if n := rdb.DBSize(ctx).Val(); n != 20 {
			t.Fatalf("%s %s: DBSIZE = %d; active expiry removed keys", c[0], c[1], n)
		}
		on := "1"
		if c[1] == "1" {
			on = "0"
		}
		rdb.Do(ctx, "DEBUG", c[0], on)
		deadline := time.Now().Add(5 * time.Second)
		for rdb.DBSize(ctx).Val() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s %s: the expired keys stay", c[0], on)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestDebugSleepHoldsShards: while one client sleeps in DEBUG SLEEP,
// another's commands on any shard wait for it, as Redis's whole server
// does.
func TestDebugSleepHoldsShards(t *testing.T) {
	ctx := context.Background()
	srv, addr := startDebugServer(t, 8, "yes")
	a, b := newClient2(t, addr, 2), newClient2(t, addr, 2)
	a.Ping(ctx)
	b.Ping(ctx)
	slept := make(chan error, 1)
	sent := time.Now()
	go func() { slept <- a.Do(ctx, "DEBUG", "SLEEP", "0.4").Err() }()
	waitDebugSleeping(t, srv)
	for i := range 8 {
		must(t, b.Set(ctx, "key"+strconv.Itoa(i), "v", 0).Err())
	}
	// The sleep began after it was sent and lasts 0.4 s: writes held
	// until its end finish no sooner than that after the sending.
	if d := time.Since(sent); d < 400*time.Millisecond {
		t.Fatalf("writes finished %v after DEBUG SLEEP 0.4 was sent", d)
	}
	must(t, <-slept)
	// In a transaction, which holds the shards itself.
	pipe := a.TxPipeline()
	pipe.Set(ctx, "x", "1", 0)
	s := pipe.Do(ctx, "DEBUG", "SLEEP", "0")
	if _, err := pipe.Exec(ctx); err != nil || s.Val() != "OK" {
		t.Fatalf("DEBUG SLEEP in EXEC: %v %v", s.Val(), err)
	}
}

// TestDebugReplIDAndDenyScripts: CHANGE-REPL-ID draws a new master_replid;
// SET-DISABLE-DENY-SCRIPTS lets scripts call noscript commands (DEBUG
// itself among them).
func TestDebugReplIDAndDenyScripts(t *testing.T) {
	ctx := context.Background()
	_, addr := startDebugServer(t, 8, "yes")
	rdb := newClient2(t, addr, 2)
	replID := func() string {
		for _, l := range strings.Split(rdb.Info(ctx, "replication").Val(), "\r\n") {
			if v, ok := strings.CutPrefix(l, "master_replid:"); ok {
				return v
			}
		}
		return ""
	}
	before := replID()
	if err := rdb.Do(ctx, "DEBUG", "CHANGE-REPL-ID").Err(); err != nil {
		t.Fatal(err)
	}
	if after := replID(); after == before || len(after) != 40 {
		t.Errorf("master_replid %s, then %s", before, after)
	}

	const script = "return redis.call('debug', 'protocol', 'bignum')"
	if err := rdb.Eval(ctx, script, nil).Err(); err == nil || !strings.Contains(err.Error(), "This Redis command is not allowed from script") {
		t.Fatalf("DEBUG from a script: %v", err)
	}
	rdb.Do(ctx, "DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1")
	if v, err := rdb.Eval(ctx, script, nil).Text(); err != nil || v != "1234567999999999999999999999999999999" {
		t.Fatalf("DEBUG from a script with deny-scripts off: %v, %v", v, err)
	}
	if v, err := rdb.Eval(ctx, "return redis.call('client', 'id')", nil).Int64(); err != nil || v <= 0 {
		t.Fatalf("CLIENT ID from a script with deny-scripts off: %v, %v", v, err)
	}
	rdb.Do(ctx, "DEBUG", "SET-DISABLE-DENY-SCRIPTS", "0")
	if err := rdb.Eval(ctx, script, nil).Err(); err == nil {
		t.Fatal("DEBUG from a script allowed again after SET-DISABLE-DENY-SCRIPTS 0")
	}
}

// TestScriptProtocolTypes: with SET-DISABLE-DENY-SCRIPTS, Redis's tests
// call DEBUG PROTOCOL from scripts. A verbatim string reaches Lua as
// {verbatim_string={format, string}} and goes back out as one, an
// attribute is skipped, and a big number's CR and LF become spaces (they
// would break the reply line).
func TestScriptProtocolTypes(t *testing.T) {
	_, addr := startDebugServer(t, 8, "yes")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	call := func(args ...string) string {
		if _, err := nc.Write(respCommand(args...)); err != nil {
			t.Fatal(err)
		}
		var out []byte
		if err := cmdTestReadReply(br, &out); err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	call("DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1")
	for _, c := range []struct {
		proto        string
		script, want string
	}{
		{"3", "redis.setresp(3); return redis.call('debug', 'protocol', 'verbatim')", "=29\r\ntxt:This is a verbatim\nstring\r\n"},
		{"2", "redis.setresp(3); return redis.call('debug', 'protocol', 'verbatim')", "$25\r\nThis is a verbatim\nstring\r\n"},
		{"3", "redis.setresp(2); return redis.call('debug', 'protocol', 'verbatim')", "$25\r\nThis is a verbatim\nstring\r\n"},
		{"3", "redis.setresp(3); return redis.call('debug', 'protocol', 'attrib')", "$39\r\nSome real reply following the attribute\r\n"},
		{"3", "return {big_number='123\\r\\n123'}", "(123  123\r\n"},
		{"2", "return {big_number='123\\r\\n123'}", "$8\r\n123  123\r\n"},
		{"3", "redis.setresp(3); return redis.call('debug', 'protocol', 'bignum')", "(1234567999999999999999999999999999999\r\n"},
	} {
		call("HELLO", c.proto)
		if got := call("EVAL", c.script, "0"); got != c.want {
			t.Errorf("RESP%s %s = %q, want %q", c.proto, c.script, got, c.want)
		}
	}
}

// TestDebugPopulateEvents: POPULATE sends "new" for each key it creates,
// as Redis's dbAdd does, and nothing for a key that exists.
func TestDebugPopulateEvents(t *testing.T) {
	ctx := context.Background()
	_, addr := startDebugServer(t, 8, "yes")
	rdb := newClient2(t, addr, 2)
	rdb.ConfigSet(ctx, "notify-keyspace-events", "En")
	rdb.Set(ctx, "key:1", "v", 0)
	ps := newClient2(t, addr, 2).Subscribe(ctx, "__keyevent@0__:new")
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	ch := ps.Channel()
	rdb.Do(ctx, "DEBUG", "POPULATE", "3")
	got := map[string]bool{}
	for range 2 {
		select {
		case m := <-ch:
			got[m.Payload] = true
		case <-time.After(3 * time.Second):
			t.Fatalf("events: %v", got)
		}
	}
	if !got["key:0"] || !got["key:2"] {
		t.Fatalf("new events for %v, want key:0 and key:2", got)
	}
	select {
	case m := <-ch:
		t.Fatalf("extra event %v", m.Payload)
	case <-time.After(100 * time.Millisecond):
	}
}
