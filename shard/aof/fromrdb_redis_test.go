package aof

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The differential test of FromRDB runs redis-server on 127.0.0.1:7431.
const fromRDBPort = "7431"

// fillEveryType writes a dataset of every type, with TTLs, deleted stream
// entries, consumer groups with pending entries, two databases and a
// function library.
func fillEveryType(t *testing.T, ctx context.Context, c *redis.Client) {
	t.Helper()
	do := func(args ...any) {
		t.Helper()
		if err := c.Do(ctx, args...).Err(); err != nil && err != redis.Nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	future := time.Now().Add(time.Hour).UnixMilli()
	do("FUNCTION", "LOAD", "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return 1 end)")
	do("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function{function_name='f2', callback=function(keys, args) return 2 end, flags={'no-writes'}}")

	do("SET", "str", "hello")
	do("SET", "int", "12345")
	do("SET", "neg", "-42")
	do("SET", "big", strings.Repeat("abc", 100))
	do("SET", "empty", "")
	do("SET", "bin", "a\r\nb\x00c")
	do("PEXPIREAT", "str", future)
	do("PEXPIREAT", "int", future+1)

	do("RPUSH", "list", "a", "1", "b", "-7")
	args := []any{"RPUSH", "biglist"}
	for i := range 300 {
		if i%3 == 0 {
			args = append(args, i)
		} else {
			args = append(args, strings.Repeat("e", i%70)+strconv.Itoa(i))
		}
	}
	do(args...)
	do("PEXPIREAT", "biglist", future+2)

	do("SADD", "iset", 5, 1, -3, 100000, 7)
	do("SADD", "sset", "a", "b", "c")
	args = []any{"SADD", "bigset"}
	for i := range 200 {
		args = append(args, "m"+strconv.Itoa(i))
	}
	do(args...)
	args = []any{"SADD", "bigiset"}
	for i := range 600 {
		args = append(args, i*3)
	}
	do(args...)

	do("HSET", "hash", "f1", "v1", "f2", "2", "f3", "")
	args = []any{"HSET", "bighash"}
	for i := range 200 {
		args = append(args, "field"+strconv.Itoa(i), i)
	}
	do(args...)
	do("PEXPIREAT", "bighash", future+3)

	do("ZADD", "zset", 1.5, "a", "+inf", "b", "-inf", "c", 0.1, "d", 3, "e", 1e20, "f", "-0", "g", 1.0/3, "h")
	args = []any{"ZADD", "bigzset"}
	for i := range 200 {
		args = append(args, float64(i)*0.37-20, "m"+strconv.Itoa(i))
	}
	args = append(args, "inf", "top", "-inf", "bottom")
	do(args...)

	// A stream with deleted entries, entries of other fields, two groups
	// with pending entries, an acknowledged one, an empty consumer and a
	// delivery count above 1.
	for i := 1; i <= 12; i++ {
		if i%4 == 0 {
			do("XADD", "stream", fmt.Sprintf("%d-%d", 1000+i, i%3), "other", i, "x", "y")
		} else {
			do("XADD", "stream", fmt.Sprintf("%d-%d", 1000+i, i%3), "a", i, "b", "v"+strconv.Itoa(i))
		}
	}
	do("XDEL", "stream", "1002-2", "1007-1")
	do("XGROUP", "CREATE", "stream", "g1", "0")
	do("XGROUP", "CREATE", "stream", "g2", "$")
	do("XGROUP", "CREATE", "stream", "a-group", "1005-2")
	do("XREADGROUP", "GROUP", "g1", "c1", "COUNT", 3, "STREAMS", "stream", ">")
	do("XREADGROUP", "GROUP", "g1", "c2", "COUNT", 2, "STREAMS", "stream", ">")
	do("XREADGROUP", "GROUP", "a-group", "zz", "COUNT", 2, "STREAMS", "stream", ">")
	do("XACK", "stream", "g1", "1003-0")
	do("XCLAIM", "stream", "g1", "c2", 0, "1001-1")
	do("XGROUP", "CREATECONSUMER", "stream", "g1", "c3")
	do("XGROUP", "CREATECONSUMER", "stream", "g2", "idle")
	do("PEXPIREAT", "stream", future+4)

	args = []any{"XADD", "bigstream", "*"}
	for i := range 250 {
		do(append(args, "n", i, "pad", strings.Repeat("p", i%50))...)
	}
	do("XDEL", "bigstream", "0-0") // nothing
	// A stream without deletions, whose groups know their entries-read.
	for i := 1; i <= 5; i++ {
		do("XADD", "counted", fmt.Sprintf("7-%d", i), "f", i)
	}
	do("XGROUP", "CREATE", "counted", "g", "0")
	do("XGROUP", "CREATE", "counted", "tail", "$")
	do("XREADGROUP", "GROUP", "g", "c", "COUNT", 2, "STREAMS", "counted", ">")
	do("XADD", "emptystream", "5-1", "a", "b")
	do("XDEL", "emptystream", "5-1")
	do("XGROUP", "CREATE", "newstream", "g", "$", "MKSTREAM")

	do("SELECT", 3)
	do("SET", "db3", "x")
	do("RPUSH", "l3", "y")
	do("PEXPIREAT", "l3", future+5)
	do("SELECT", 0)
}

// aofCommand splits an AOF text into commands; a leading "#TS:" line is
// returned apart.
func aofCommands(t *testing.T, b []byte) (ts string, cmds [][]string) {
	t.Helper()
	cmds = parseCommands(t, b)
	if len(cmds) > 0 && len(cmds[0]) == 1 && strings.HasPrefix(cmds[0][0], "#TS:") {
		return cmds[0][0], cmds[1:]
	}
	return "", cmds
}

// aofKeys groups commands by database and key: each run of commands of
// one key (the key is the second argument, the third of XGROUP) is one
// unit. FUNCTION LOADs are returned apart.
func aofKeys(t *testing.T, cmds [][]string) (functions [][]string, keys map[string][][]string, order []string) {
	t.Helper()
	keys = map[string][][]string{}
	db, last := "", ""
	for _, cmd := range cmds {
		switch {
		case cmd[0] == "FUNCTION":
			if db != "" {
				t.Fatalf("FUNCTION after SELECT: %q", cmd)
			}
			functions = append(functions, cmd)
			continue
		case cmd[0] == "SELECT":
			db = cmd[1]
			last = ""
			continue
		}
		if db == "" {
			t.Fatalf("command before SELECT: %q", cmd)
		}
		k := cmd[1]
		if cmd[0] == "XGROUP" {
			k = cmd[2]
		}
		id := db + "/" + k
		if id != last {
			if _, dup := keys[id]; dup {
				t.Fatalf("key %s written in two places", id)
			}
			order = append(order, id)
			last = id
		}
		keys[id] = append(keys[id], cmd)
	}
	return functions, keys, order
}

// sameZAdds reports whether two runs of ZADD have the same batch sizes and
// the same (score, member) pairs in any order: Redis rewrites a skiplist
// sorted set in the order of its dict, and saves it in score order.
func sameZAdds(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	var pa, pb []string
	for i := range a {
		if len(a[i]) != len(b[i]) || a[i][0] != "ZADD" || b[i][0] != "ZADD" || a[i][1] != b[i][1] {
			return false
		}
		for j := 2; j+1 < len(a[i]); j += 2 {
			pa = append(pa, a[i][j]+" "+a[i][j+1])
			pb = append(pb, b[i][j]+" "+b[i][j+1])
		}
	}
	slices.Sort(pa)
	slices.Sort(pb)
	return slices.Equal(pa, pb)
}

// keyspace describes every key of every database, with its type, TTL,
// encoding and value, and the function libraries, as a client sees them.
func keyspace(t *testing.T, ctx context.Context, c *redis.Client) map[string]string {
	t.Helper()
	out := map[string]string{}
	conn := c.Conn()
	defer conn.Close()
	get := func(args ...any) any {
		t.Helper()
		v, err := conn.Do(ctx, args...).Result()
		if err != nil && err != redis.Nil {
			t.Fatalf("%v: %v", args, err)
		}
		return v
	}
	// FUNCTION LIST follows the order of a dict.
	libs, _ := get("FUNCTION", "LIST", "WITHCODE").([]any)
	var libDescs []string
	for _, l := range libs {
		libDescs = append(libDescs, fmt.Sprint(l))
	}
	slices.Sort(libDescs)
	out["functions"] = strings.Join(libDescs, "\n")
	for db := range 16 {
		get("SELECT", db)
		keys, err := conn.Do(ctx, "KEYS", "*").StringSlice()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			typ := fmt.Sprint(get("TYPE", k))
			desc := typ + " ttl=" + fmt.Sprint(get("PEXPIRETIME", k)) + " enc=" + fmt.Sprint(get("OBJECT", "ENCODING", k)) + " "
			switch typ {
			case "string":
				desc += fmt.Sprintf("%q", get("GET", k))
			case "list":
				desc += fmt.Sprint(get("LRANGE", k, 0, -1))
			case "set":
				m, _ := conn.Do(ctx, "SMEMBERS", k).StringSlice()
				slices.Sort(m)
				desc += fmt.Sprint(m)
			case "hash":
				m, _ := conn.Do(ctx, "HGETALL", k).StringSlice()
				var pairs []string
				for i := 0; i+1 < len(m); i += 2 {
					pairs = append(pairs, m[i]+"="+m[i+1])
				}
				slices.Sort(pairs)
				desc += fmt.Sprint(pairs)
			case "zset":
				desc += fmt.Sprint(get("ZRANGE", k, 0, -1, "WITHSCORES"))
			case "stream":
				desc += fmt.Sprint(normalizeXInfo(get("XINFO", "STREAM", k, "FULL", "COUNT", 0)))
			}
			out[strconv.Itoa(db)+"/"+k] = desc
		}
	}
	return out
}

// normalizeXInfo blanks the fields of XINFO STREAM FULL that depend on
// when or how the stream was built rather than on its content: a
// consumer's seen-time (XCLAIM sets it to now) and the radix tree's
// sizes (the nodes are packed anew).
func normalizeXInfo(v any) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	for i := range list {
		if s, ok := list[i].(string); ok && i+1 < len(list) &&
			(s == "seen-time" || s == "radix-tree-keys" || s == "radix-tree-nodes") {
			list[i+1] = "*"
			continue
		}
		list[i] = normalizeXInfo(list[i])
	}
	return list
}

// TestFromRDBAgainstRedis fills a redis-server with every type, has it save
// dump.rdb and rewrite its AOF without RDB preamble, and checks that
// FromRDB of the dump gives Redis's base file command by command (per key,
// since the order of keys may change between the two; a skiplist sorted
// set's members are compared as a set, in batches of the same sizes).
// Then it loads FromRDB's output as the base of an AOF directory into a
// fresh redis-server and compares the keyspace with the original's.
func TestFromRDBAgainstRedis(t *testing.T) {
	bin := redisBinary(t)
	ctx := context.Background()
	dir := t.TempDir()
	p := startRedis(t, bin, dir, fromRDBPort, "--appendonly", "yes", "--aof-use-rdb-preamble", "yes",
		"--aof-timestamp-enabled", "yes")
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + fromRDBPort, Protocol: 2, DisableIndentity: true})
	defer c.Close()
	fillEveryType(t, ctx, c)

	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigSet(ctx, "aof-use-rdb-preamble", "no").Err(); err != nil {
		t.Fatal(err)
	}
	waitRewrite(t, ctx, c)
	if err := c.BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	waitRewrite(t, ctx, c)
	want := keyspace(t, ctx, c)

	mf, err := os.ReadFile(filepath.Join(dir, "appendonlydir", ManifestName("appendonly.aof")))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(bytes.NewReader(mf))
	if err != nil {
		t.Fatal(err)
	}
	if m.Base == nil || !strings.HasSuffix(m.Base.Name, ".base.aof") {
		t.Fatalf("manifest %q has no AOF base", mf)
	}
	redisBase, err := os.ReadFile(filepath.Join(dir, "appendonlydir", m.Base.Name))
	if err != nil {
		t.Fatal(err)
	}
	redisTS, redisCmds := aofCommands(t, redisBase)
	ts, err := strconv.ParseInt(strings.TrimPrefix(redisTS, "#TS:"), 10, 64)
	if err != nil {
		t.Fatalf("redis's base starts with %q", redisTS)
	}

	dump, err := os.Open(filepath.Join(dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	var ours bytes.Buffer
	err = FromRDB(dump, &ours, FromRDBOptions{Timestamp: ts})
	dump.Close()
	if err != nil {
		t.Fatal(err)
	}
	p.stop()

	ourTS, ourCmds := aofCommands(t, ours.Bytes())
	if ourTS != redisTS || !bytes.HasPrefix(ours.Bytes(), []byte(redisTS+"\r\n")) {
		t.Fatalf("timestamp %q, redis %q", ourTS, redisTS)
	}
	ourFuncs, ourKeys, ourOrder := aofKeys(t, ourCmds)
	redisFuncs, redisKeys, redisOrder := aofKeys(t, redisCmds)
	if !reflect.DeepEqual(ourFuncs, redisFuncs) {
		t.Fatalf("functions:\n%q\nredis:\n%q", ourFuncs, redisFuncs)
	}
	a, b := slices.Sorted(slices.Values(ourOrder)), slices.Sorted(slices.Values(redisOrder))
	if !slices.Equal(a, b) {
		t.Fatalf("keys %v\nredis %v", a, b)
	}
	unordered := 0
	for _, k := range ourOrder {
		if reflect.DeepEqual(ourKeys[k], redisKeys[k]) {
			continue
		}
		if sameZAdds(trimExpire(ourKeys[k]), trimExpire(redisKeys[k])) &&
			reflect.DeepEqual(lastExpire(ourKeys[k]), lastExpire(redisKeys[k])) {
			unordered++
			continue
		}
		t.Errorf("key %s:\nours  %q\nredis %q", k, ourKeys[k], redisKeys[k])
	}
	identical := bytes.Equal(ours.Bytes(), redisBase)
	t.Logf("%d commands, %d keys; %d skiplist sorted sets in another member order; byte-identical file: %v",
		len(ourCmds), len(ourOrder), unordered, identical)
	if unordered == 0 && !identical && slices.Equal(ourOrder, redisOrder) {
		t.Errorf("same commands in the same order but not the same bytes")
	}
	if t.Failed() {
		return
	}

	// Load our output as the base of an AOF directory in a fresh server.
	dir2 := t.TempDir()
	aofDir := filepath.Join(dir2, "appendonlydir")
	if err := os.Mkdir(aofDir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := BaseName("appendonly.aof", 1, false)
	if err := os.WriteFile(filepath.Join(aofDir, base), ours.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	man := &Manifest{Base: &File{Name: base, Seq: 1, Type: TypeBase}, BaseSeq: 1}
	if err := os.WriteFile(filepath.Join(aofDir, ManifestName("appendonly.aof")), man.Append(nil), 0o644); err != nil {
		t.Fatal(err)
	}
	p2 := startRedis(t, bin, dir2, fromRDBPort, "--appendonly", "yes")
	defer p2.stop()
	c2 := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + fromRDBPort, Protocol: 2, DisableIndentity: true})
	defer c2.Close()
	got := keyspace(t, ctx, c2)
	if !strings.Contains(p2.logText(), "DB loaded from base file "+base) {
		t.Fatalf("redis did not load our base:\n%s", p2.logText())
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			t.Errorf("%s after loading our AOF:\n got %s\nwant %s", k, got[k], want[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("extra key %s: %s", k, got[k])
		}
	}
}

func trimExpire(cmds [][]string) [][]string {
	if n := len(cmds); n > 0 && cmds[n-1][0] == "PEXPIREAT" {
		return cmds[:n-1]
	}
	return cmds
}

func lastExpire(cmds [][]string) []string {
	if n := len(cmds); n > 0 && cmds[n-1][0] == "PEXPIREAT" {
		return cmds[n-1]
	}
	return nil
}
