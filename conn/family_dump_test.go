package conn

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// dumpContent describes a key for comparison: its type, encoding and
// contents, with sets and hashes in sorted order.
func dumpContent(t *testing.T, c *redis.Client, key string) string {
	t.Helper()
	ctx := context.Background()
	typ, err := c.Type(ctx, key).Result()
	if err != nil {
		t.Fatalf("TYPE %s: %v", key, err)
	}
	enc, _ := c.ObjectEncoding(ctx, key).Result()
	var body any
	switch typ {
	case "none":
		return typ
	case "string":
		body, err = c.Get(ctx, key).Result()
	case "list":
		body, err = c.LRange(ctx, key, 0, -1).Result()
	case "set":
		var m []string
		m, err = c.SMembers(ctx, key).Result()
		slices.Sort(m)
		body = m
	case "hash":
		var h map[string]string
		h, err = c.HGetAll(ctx, key).Result()
		body = h // fmt prints maps sorted by key
	case "zset":
		body, err = c.Do(ctx, "ZRANGE", key, 0, -1, "WITHSCORES").Result()
	case "stream":
		// XINFO FULL shows every entry and the node counts.
		body, err = c.Do(ctx, "XINFO", "STREAM", key, "FULL", "COUNT", 0).Result()
	}
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return fmt.Sprintf("%s/%s %q", typ, enc, body)
}

// dumpFixtures fills c with values of every type and size; the keys named
// "exact:..." have payloads Redis writes without LZF, which Valkyrie must
// reproduce byte for byte.
func dumpFixtures(t *testing.T, c *redis.Client) []string {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewSource(7))
	randBytes := func(n int) string {
		b := make([]byte, n)
		r.Read(b)
		return string(b)
	}
	words := func(n int, f func(i int) string) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	long := strings.Repeat("valkyrie ", 30)
	cmds := [][]any{
		{"SET", "exact:str", "hello"},
		{"SET", "exact:empty", ""},
		{"SET", "exact:int8", "-7"},
		{"SET", "exact:int32", "2147483647"},
		{"SET", "exact:int64", "-9223372036854775808"},
		{"SET", "exact:zeros", "007"},
		{"SET", "str:long", long},
		{"SET", "str:random", randBytes(5000)},
		{"SET", "str:huge", strings.Repeat("0123456789", 100000)},
		{"RPUSH", "exact:list", "a", "1", "-70000", "", "5000000000", "x y"},
		{"SADD", "exact:intset", "1", "-5", "70000"},
		{"SADD", "set:int64", "1", "5000000000"},    // LZF: Valkyrie compresses differently
		{"HSET", "exact:hash", "f", "v"},            // one field: Go map order cannot vary
		{"HSET", "hash:small", "f", "v", "n", "12"}, // field order varies: contents only
		{"ZADD", "exact:zset", "1", "a", "2.5", "b", "-inf", "c", "inf", "d", "3", "e"},
		{"RPUSH", "list:long", long, long, randBytes(100)},
		{"SADD", "set:str", "a", "b", long},
		{"HSET", "hash:long", "f", long, long, "v"},
		{"ZADD", "zset:long", "0.1", long, "-2", "x", "1e300", "y"},
	}
	cmds = append(cmds,
		append([]any{"RPUSH", "list:big"}, words(5000, func(i int) string {
			if i%3 == 0 {
				return strconv.Itoa(i * 37)
			}
			return "element-" + strconv.Itoa(i)
		})...),
		append([]any{"RPUSH", "list:bigelems"}, words(20, func(i int) string { return randBytes(3000 + i) })...),
		append([]any{"SADD", "set:bigints"}, words(600, func(i int) string { return strconv.Itoa(i*i - 1000) })...),
		append([]any{"SADD", "set:intset500"}, words(500, func(i int) string { return strconv.Itoa(i << 20) })...),
		append([]any{"SADD", "set:big"}, words(2000, func(i int) string { return "m" + strconv.Itoa(i) })...),
		append([]any{"HSET", "hash:big"}, words(1200, func(i int) string { return "f" + strconv.Itoa(i/2*(1+i%2)) })...),
		append([]any{"HSET", "hash:128"}, words(256, func(i int) string { return strconv.Itoa(i) })...),
		append([]any{"ZADD", "zset:big"}, words(1000, func(i int) string {
			if i%2 == 0 {
				return strconv.FormatFloat(float64(i)/7, 'g', -1, 64)
			}
			return "member" + strconv.Itoa(i)
		})...),
		append([]any{"ZADD", "zset:128"}, words(256, func(i int) string { return strconv.Itoa(i) })...),
	)
	// Streams: several nodes, deleted entries, a trimmed node that keeps
	// deleted ones, entries with their own fields, big values, set IDs.
	// (Valkyrie's LZF finds matches Redis's misses, so only the empty
	// stream has the same bytes.)
	cmds = append(cmds, []any{"XADD", "exact:stream:empty", "1-1", "f", "v"}, []any{"XDEL", "exact:stream:empty", "1-1"})
	for i := 1; i <= 250; i++ {
		fields := []any{"XADD", "stream:big", strconv.Itoa(i*1000+i%7) + "-" + strconv.Itoa(i%3), "f", strconv.Itoa(i * 37), "g", "v" + strconv.Itoa(i)}
		if i%50 == 0 {
			fields = append(fields, "h", long)
		}
		cmds = append(cmds, fields)
	}
	cmds = append(cmds,
		[]any{"XDEL", "stream:big", "2002-2", "5005-2", "6006-0", "101101-2"},
		[]any{"XTRIM", "stream:big", "MINID", "3003"},
		[]any{"XSETID", "stream:big", "999999-0", "ENTRIESADDED", "1000", "MAXDELETEDID", "500000-1"},
		[]any{"XADD", "stream:small", "5-1", "a", "1"},
		[]any{"XADD", "stream:small", "5-2", "a", "-70000", "b", ""},
		[]any{"XADD", "stream:small", "7-0", "a", "x y"},
	)
	var keys []string
	for _, cmd := range cmds {
		if err := c.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd[:2], err)
		}
		if k := cmd[1].(string); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func TestGoRedisDumpRestore(t *testing.T) {
	_, addr := startServer(t, 8)
	c := newClient2(t, addr, 3)
	ctx := context.Background()
	keys := dumpFixtures(t, c)
	for _, k := range keys {
		p, err := c.Dump(ctx, k).Result()
		if err != nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		// The copies land on other shards than their originals.
		if err := c.Restore(ctx, "copy:"+k, 0, p).Err(); err != nil {
			t.Fatalf("RESTORE %s: %v", k, err)
		}
		if got, want := dumpContent(t, c, "copy:"+k), dumpContent(t, c, k); got != want {
			t.Errorf("%s: copy differs:\n got %.200s\nwant %.200s", k, got, want)
		}
	}
	p, _ := c.Dump(ctx, "exact:str").Result()
	if err := c.Restore(ctx, "exact:str", 0, p).Err(); err == nil || err.Error() != "BUSYKEY Target key name already exists." {
		t.Errorf("RESTORE onto an existing key: %v", err)
	}
	if err := c.RestoreReplace(ctx, "exact:list", 60*time.Second, p).Err(); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, "exact:list").Val(); ttl <= 59*time.Second || ttl > 60*time.Second {
		t.Errorf("PTTL after RESTORE with a TTL: %v", ttl)
	}
	if _, err := c.Dump(ctx, "missing").Result(); err != redis.Nil {
		t.Errorf("DUMP of a missing key: %v", err)
	}

	// RESTORE of a list serves a client blocked on the key.
	lp, _ := c.Dump(ctx, "list:long").Result()
	popped := make(chan []string, 1)
	blocker := newClient2(t, addr, 2)
	go func() {
		v, _ := blocker.BLPop(ctx, 5*time.Second, "waited").Result()
		popped <- v
	}()
	time.Sleep(100 * time.Millisecond)
	if err := c.Restore(ctx, "waited", 0, lp).Err(); err != nil {
		t.Fatal(err)
	}
	if v := <-popped; len(v) != 2 || v[0] != "waited" || !strings.HasPrefix(v[1], "valkyrie") {
		t.Errorf("BLPOP after RESTORE = %.60q", v)
	}
}

// Hand-built payloads in older or malformed encodings. Redis 7.0 with
// sanitize-dump-payload yes accepts and refuses exactly the same ones.
var dumpCrafted = []struct{ name, hex string }{
	{"list", "01030161c007c1e8030a00ede5e2aaeec22e52"},
	{"list ziplist", "0ac339407904790000002f200319090000016103fd02feff03c02c0104f070110105e000f2052a01201c0d0af06079fe0" +
		"5f000ee8505404671e03c0000ff0a003a70f5947a010287"},
	{"quicklist", "0e0211110000000d0000000200000161030162ff0d0d0000000a000000010000f2ff0a00562ad9e96554fb10"},
	{"quicklist empty node", "0e020b0b0000000a0000000000ff0d0d0000000a000000010000f2ff0a000312e9a10376caec"},
	{"quicklist2 plain", "1202020c0c00000002008161020101ff01036269670a00fca6b233c1049195"},
	{"into footer", "120101020a009824d7931c8eceff"},
	{"hash ziplist", "0d161600000013000000040000016603017603016703f2ff0a0064e5c279146b1fa7"},
	{"hash zipmap", "09c31a41181202016601017600046c6f6e67fe040100000176e0fa000100ff0a007f83f6ab6617765c"},
	{"zset ziplist", "0c21210000001b000000060000016303042d696e6606016103f20201620303322e35ff0a00b4f90ee3243a5af5"},
	{"zset", "0303016103312e350162fe0163ff0a0006d6b5d11bd0084f"},
	{"empty list", "01000a005bf825cc6c174356"},
	{"empty listpack", "12010207070000000000ff0a00e4b021a107436c1a"},
	{"set dup", "0202016101610a0057be762fc2d6523a"},
	{"hash dup", "040201660176016601770a00a2ab60bb0fc3fdc7"},
	{"hash listpack dup", "1013130000000400816602817602816602817702ff0a009d9aaa00030faf0d"},
	{"hash listpack odd", "1010100000000300816602817602816702ff0a0050c326b85583be3a"},
	{"zset2 dup", "05020161000000000000f03f0161000000000000f03f0a004813952cbdd571ce"},
	{"zset2 nan", "05010161010000000000f87f0a003cbfa84209a6c388"},
	{"zset listpack dup", "111111000000040081610201018161020201ff0a00ac37f501823474f2"},
	{"intset unsorted", "0b0c0200000002000000050005000a002d1d385838bcf206"},
	{"intset empty", "0b0802000000000000000a005a433b1d95db8d39"},
	{"trailing bytes", "0001760102030a00d37cac3899470bf0"},
	{"lzf empty", "00c300000a0088dcde65932c4b75"},
	{"bad checksum", "0001760102030a00d37cac3899470bf1"},
	{"rdb version 11", "0001760b00f8d773c1e4a76347"},
	{"rdb version 9", "000176090041fa9f7e4dbee97f"},
}

// redisAndValkyrie returns RESP2 clients of a fresh redis-server and of an
// in-process Valkyrie with 8 shards, or skips the test when redis-server
// is not installed.
func redisAndValkyrie(t *testing.T) (red, val *redis.Client) {
	t.Helper()
	bin := trRedisBinary()
	if bin == "" {
		t.Skip("redis-server is not on PATH")
	}
	red = redis.NewClient(&redis.Options{Addr: trStartRedis(t, bin), Protocol: 2})
	t.Cleanup(func() { red.Close() })
	_, addr := startServer(t, 8)
	return red, newClient2(t, addr, 2)
}

// TestDumpRestoreDifferential moves every type both ways between Valkyrie
// and a real redis-server.
func TestDumpRestoreDifferential(t *testing.T) {
	ctx := context.Background()
	red, val := redisAndValkyrie(t)

	keys := dumpFixtures(t, red)
	dumpFixtures(t, val)
	for _, k := range keys {
		want := dumpContent(t, red, k)
		if got := dumpContent(t, val, k); got != want {
			t.Fatalf("%s: the fixtures differ before any DUMP:\nvalkyrie %.300s\n   redis %.300s", k, got, want)
		}
		fromRedis, err := red.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		fromValkyrie, err := val.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(k, "exact:") && fromValkyrie != fromRedis {
			t.Errorf("%s: DUMP differs:\nvalkyrie %x\n   redis %x", k, fromValkyrie, fromRedis)
		}
		if err := val.Restore(ctx, "r:"+k, 0, fromRedis).Err(); err != nil {
			t.Errorf("%s: Redis's payload refused by Valkyrie: %v", k, err)
		} else if got := dumpContent(t, val, "r:"+k); got != want {
			t.Errorf("%s: Redis → Valkyrie:\n got %.300s\nwant %.300s", k, got, want)
		}
		if err := red.Restore(ctx, "v:"+k, 0, fromValkyrie).Err(); err != nil {
			t.Errorf("%s: Valkyrie's payload refused by Redis: %v", k, err)
		} else if got := dumpContent(t, red, "v:"+k); got != want {
			t.Errorf("%s: Valkyrie → Redis:\n got %.300s\nwant %.300s", k, got, want)
		}
	}

	if err := red.ConfigSet(ctx, "sanitize-dump-payload", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range dumpCrafted {
		p, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		key := "crafted:" + tc.name
		errR := red.Restore(ctx, key, 0, string(p)).Err()
		errV := val.Restore(ctx, key, 0, string(p)).Err()
		if fmt.Sprint(errV) != fmt.Sprint(errR) {
			t.Errorf("%s: RESTORE: Valkyrie %v, Redis %v", tc.name, errV, errR)
			continue
		}
		if got, want := dumpContent(t, val, key), dumpContent(t, red, key); got != want {
			t.Errorf("%s:\nvalkyrie %s\n   redis %s", tc.name, got, want)
		}
	}

	// TTLs, relative and absolute.
	p := red.Dump(ctx, "exact:str").Val()
	at := time.Now().Add(time.Hour).UnixMilli()
	for _, c := range []*redis.Client{red, val} {
		c.Restore(ctx, "ttl:rel", 50*time.Second, p)
		c.Do(ctx, "RESTORE", "ttl:abs", at, p, "ABSTTL")
		c.Do(ctx, "RESTORE", "ttl:past", 1, p, "ABSTTL")
		if d := c.PTTL(ctx, "ttl:rel").Val(); d <= 49*time.Second || d > 50*time.Second {
			t.Errorf("relative TTL: PTTL %v", d)
		}
		if got := c.PExpireTime(ctx, "ttl:abs").Val(); got != time.Duration(at)*time.Millisecond {
			t.Errorf("ABSTTL: PEXPIRETIME %v, want %v", got, at)
		}
		if n := c.Exists(ctx, "ttl:past").Val(); n != 0 {
			t.Errorf("a TTL in the past created the key")
		}
	}
}
