package shard

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// bulkPayload extracts the bytes of a bulk string reply.
func bulkPayload(t *testing.T, reply string) string {
	t.Helper()
	i := strings.Index(reply, "\r\n")
	if !strings.HasPrefix(reply, "$") || i < 0 {
		t.Fatalf("not a bulk reply: %q", reply)
	}
	n, err := strconv.Atoi(reply[1:i])
	if err != nil || len(reply) != i+2+n+2 {
		t.Fatalf("malformed bulk reply: %q", reply)
	}
	return reply[i+2 : i+2+n]
}

// describeKey describes a key's contents in a form that does not depend on
// map order: type, encoding and the sorted reply of a full read.
func describeKey(t *testing.T, s *Shard, now int64, key string) string {
	t.Helper()
	typ := run(t, s, now, "TYPE", key)
	var read []string
	switch typ {
	case "+string\r\n":
		read = []string{"GET", key}
	case "+list\r\n":
		read = []string{"LRANGE", key, "0", "-1"}
	case "+set\r\n":
		read = []string{"SMEMBERS", key}
	case "+hash\r\n":
		read = []string{"HGETALL", key}
	case "+zset\r\n":
		read = []string{"ZRANGE", key, "0", "-1", "WITHSCORES"}
	default:
		return typ
	}
	body := run(t, s, now, read...)
	if typ == "+set\r\n" || typ == "+hash\r\n" {
		// Group each element's (or pair's) lines, then sort the groups.
		lines := strings.Split(body, "\r\n")[1:]
		per := 2
		if typ == "+hash\r\n" {
			per = 4
		}
		var groups []string
		for i := 0; i+per <= len(lines); i += per {
			groups = append(groups, strings.Join(lines[i:i+per], "|"))
		}
		slices.Sort(groups)
		body = strings.Join(groups, "\n")
	}
	return typ + run(t, s, now, "OBJECT", "ENCODING", key) + body
}

func TestDumpRestoreEveryType(t *testing.T) {
	s := New(0)
	const now = 1_000_000
	long := strings.Repeat("abc", 40)
	var cmds [][]string
	cmds = append(cmds,
		[]string{"SET", "s:short", "hello"},
		[]string{"SET", "s:int", "-123456"},
		[]string{"SET", "s:bigint", "12345678901234"},
		[]string{"SET", "s:long", long},
		[]string{"SET", "s:empty", ""},
		[]string{"RPUSH", "l:small", "a", "1", "-70000", long},
		[]string{"SADD", "st:int", "1", "-5", "70000"},
		[]string{"SADD", "st:str", "a", "b", long},
		[]string{"HSET", "h:small", "f", "v", "n", "12"},
		[]string{"HSET", "h:long", "f", long + long},
		[]string{"ZADD", "z:small", "1", "a", "2.5", "b", "-inf", "c"},
		[]string{"ZADD", "z:long", "1", long, "0.1", "x"},
	)
	big := []string{"RPUSH", "l:big"}
	bigSet := []string{"SADD", "st:big"}
	bigInts := []string{"SADD", "st:bigints"}
	bigHash := []string{"HSET", "h:big"}
	bigZ := []string{"ZADD", "z:big"}
	for i := range 3000 {
		v := "element:" + strconv.Itoa(i)
		big = append(big, v)
		bigSet = append(bigSet, v)
		bigInts = append(bigInts, strconv.Itoa(i*1000))
		bigHash = append(bigHash, v, strconv.Itoa(i))
		bigZ = append(bigZ, strconv.Itoa(i%17)+".5", v)
	}
	cmds = append(cmds, big, bigSet, bigInts, bigHash, bigZ)
	var keys []string
	for _, c := range cmds {
		run(t, s, now, c...)
		keys = append(keys, c[1])
	}
	for _, k := range keys {
		payload := bulkPayload(t, run(t, s, now, "DUMP", k))
		if got := run(t, s, now, "RESTORE", k+":copy", "0", payload); got != "+OK\r\n" {
			t.Fatalf("RESTORE of %s: %q", k, got)
		}
		want, got := describeKey(t, s, now, k), describeKey(t, s, now, k+":copy")
		if got != want {
			t.Errorf("%s: restored copy differs:\n got %.300q\nwant %.300q", k, got, want)
		}
	}
	if got := run(t, s, now, "DUMP", "nokey"); got != "$-1\r\n" {
		t.Errorf("DUMP of a missing key: %q", got)
	}
}

// Payloads captured from Redis 7.0.15.
var redisDumps = []struct {
	name, hex string
	check     []string // a read command, then the expected reply
}{
	{"lzf string", "00c3094064016161e057000161610a00e8a3b507b06df271",
		[]string{"GET", "$100\r\n" + strings.Repeat("a", 100) + "\r\n"}},
	{"int string", "00c2000000800a00c74f873e33558187", []string{"GET", "$11\r\n-2147483648\r\n"}},
	{"list", "1201021313000000040081610282626203dff9028001ff0a00bc0a01b3e2e50742",
		[]string{"LRANGE", "*4\r\n$1\r\na\r\n$2\r\nbb\r\n$2\r\n-7\r\n$0\r\n\r\n"}},
	{"intset", "0b0e0200000003000000fdff050064000a00c294c18c013c0d27",
		[]string{"SMISMEMBER", "*4\r\n:1\r\n:1\r\n:1\r\n:0\r\n"}},
	{"hash", "10151500000004008266310382763103826632030c01ff0a0083ebdfcfc8bb7bc8",
		[]string{"HGET", "$2\r\n12\r\n"}},
	{"zset listpack", "111d1d0000000600816302842d302e3505816102010181620283322e3504ff0a0084500fe322bce131",
		[]string{"ZRANGE", "*6\r\n$1\r\nc\r\n$4\r\n-0.5\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n"}},
	{"zset2", "0503026d330000000000000840026d320000000000000040026d31000000000000f03f0a00a4f034fec6ca68e1",
		[]string{"ZRANGE", "*6\r\n$2\r\nm1\r\n$1\r\n1\r\n$2\r\nm2\r\n$1\r\n2\r\n$2\r\nm3\r\n$1\r\n3\r\n"}},
}

func TestRestoreRedisPayloads(t *testing.T) {
	s := New(0)
	for _, tc := range redisDumps {
		p, _ := hex.DecodeString(tc.hex)
		if got := run(t, s, 0, "RESTORE", tc.name, "0", string(p)); got != "+OK\r\n" {
			t.Fatalf("%s: RESTORE replied %q", tc.name, got)
		}
		args := []string{tc.check[0], tc.name}
		switch tc.check[0] {
		case "LRANGE", "ZRANGE":
			args = append(args, "0", "-1")
		case "SMISMEMBER":
			args = append(args, "-3", "5", "100", "4")
		case "HGET":
			args = append(args, "f2")
		}
		if tc.check[0] == "ZRANGE" {
			args = append(args, "WITHSCORES")
		}
		if got := run(t, s, 0, args...); got != tc.check[1] {
			t.Errorf("%s: %v = %q, want %q", tc.name, args, got, tc.check[1])
		}
	}
	// Redis keeps a small ZSET_2 as a listpack.
	if got := run(t, s, 0, "OBJECT", "ENCODING", "zset2"); got != "$8\r\nlistpack\r\n" {
		t.Errorf("encoding of a small restored zset2: %q", got)
	}
}

func TestRestoreErrorsAndTTL(t *testing.T) {
	s := New(0)
	const now = 1_000_000
	payload := func(v string) string { return string(rdb.Seal(rdb.AppendString(nil, v))) }
	good := payload("v")
	badCRC := []byte(good)
	badCRC[len(badCRC)-1] ^= 1
	newer := []byte(good)
	binary.LittleEndian.PutUint16(newer[len(newer)-10:], 11)
	binary.LittleEndian.PutUint64(newer[len(newer)-8:], rdb.CRC64(0, newer[:len(newer)-8]))
	garbage := string(rdb.Seal([]byte{0x12, 0x01, 0x02, 0x05, 1, 2, 3}))
	run(t, s, now, "SET", "exists", "x")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"RESTORE", "k", "0", "bogus"}, "-ERR DUMP payload version or checksum are wrong\r\n"},
		{[]string{"RESTORE", "k", "0", string(badCRC)}, "-ERR DUMP payload version or checksum are wrong\r\n"},
		{[]string{"RESTORE", "k", "0", string(newer)}, "-ERR DUMP payload version or checksum are wrong\r\n"},
		{[]string{"RESTORE", "k", "0", garbage}, "-ERR Bad data format\r\n"},
		{[]string{"RESTORE", "exists", "0", good}, "-BUSYKEY Target key name already exists.\r\n"},
		{[]string{"RESTORE", "exists", "x", "bogus"}, "-BUSYKEY Target key name already exists.\r\n"},
		{[]string{"RESTORE", "k", "-1", good}, "-ERR Invalid TTL value, must be >= 0\r\n"},
		{[]string{"RESTORE", "k", "1.5", good}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"RESTORE", "exists", "0", good, "REPLACE", "bogus"}, "-ERR syntax error\r\n"},
		{[]string{"RESTORE", "k", "0", good, "IDLETIME"}, "-ERR syntax error\r\n"},
		{[]string{"RESTORE", "k", "0", good, "IDLETIME", "-1"}, "-ERR Invalid IDLETIME value, must be >= 0\r\n"},
		{[]string{"RESTORE", "k", "0", good, "IDLETIME", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"RESTORE", "k", "0", good, "FREQ", "256"}, "-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n"},
		{[]string{"RESTORE", "k", "0", good, "IDLETIME", "5", "FREQ", "5"}, "-ERR syntax error\r\n"},
		{[]string{"RESTORE", "k", "0", good, "FREQ", "5", "IDLETIME", "5"}, "-ERR syntax error\r\n"},
		{[]string{"EXISTS", "k"}, ":0\r\n"},
		{[]string{"RESTORE", "k", "0", good, "idletime", "100", "replace"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$1\r\nv\r\n"},
		{[]string{"PTTL", "k"}, ":-1\r\n"},
		{[]string{"RESTORE", "exists", "5000", payload("new"), "REPLACE", "FREQ", "0"}, "+OK\r\n"},
		{[]string{"GET", "exists"}, "$3\r\nnew\r\n"},
		{[]string{"PTTL", "exists"}, ":5000\r\n"},
		{[]string{"RESTORE", "abs", strconv.Itoa(now + 7000), good, "ABSTTL"}, "+OK\r\n"},
		{[]string{"PTTL", "abs"}, ":7000\r\n"},
		// A TTL already in the past: OK, but no key, and REPLACE deletes.
		{[]string{"RESTORE", "past", "1", good, "ABSTTL"}, "+OK\r\n"},
		{[]string{"EXISTS", "past"}, ":0\r\n"},
		{[]string{"RESTORE", "exists", strconv.Itoa(now), good, "ABSTTL", "REPLACE"}, "+OK\r\n"},
		{[]string{"EXISTS", "exists"}, ":0\r\n"},
		{[]string{"RESTORE", "huge", "9223372036854775807", good}, "+OK\r\n"},
		{[]string{"EXISTS", "huge"}, ":0\r\n"},
	}
	for _, tc := range cases {
		if got := run(t, s, now, tc.args...); got != tc.want {
			t.Errorf("%.60q: got %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestRestoreRejectsDuplicates(t *testing.T) {
	s := New(0)
	one := binary.LittleEndian.AppendUint64(nil, math.Float64bits(1))
	zset := append(append(append([]byte{5, 2, 1, 'a'}, one...), 1, 'a'), one...)
	for _, obj := range [][]byte{
		{2, 2, 1, 'a', 1, 'a'},                 // set
		{4, 2, 1, 'f', 1, 'v', 1, 'f', 1, 'w'}, // hash
		zset,
	} {
		if got := run(t, s, 0, "RESTORE", "k", "0", string(rdb.Seal(obj))); got != "-ERR Bad data format\r\n" {
			t.Errorf("%x: %q", obj, got)
		}
	}
}

func FuzzRestore(f *testing.F) {
	for _, tc := range redisDumps {
		p, _ := hex.DecodeString(tc.hex)
		f.Add(p[:len(p)-10])
	}
	f.Add(rdb.AppendList(nil, slices.Values([]string{"a", "1", "300", strings.Repeat("x", 100)})))
	f.Add(rdb.AppendSet(nil, 2, slices.Values([]string{"1", "2"}), true))
	f.Add(rdb.AppendSet(nil, 2, slices.Values([]string{"a", "b"}), false))
	f.Add(rdb.AppendHash(nil, 1, maps.All(map[string]string{"f": "v"}), true))
	f.Add(rdb.AppendHash(nil, 1, maps.All(map[string]string{"f": "v"}), false))
	f.Add(rdb.AppendString(nil, strings.Repeat("ab", 30)))
	f.Fuzz(func(t *testing.T, obj []byte) {
		// The fuzzer mutates the object; the footer is made valid so that
		// the decoder sees every input.
		s := New(0)
		got := run(t, s, 0, "RESTORE", "k", "0", string(rdb.Seal(bytes.Clone(obj))))
		if got != "+OK\r\n" && got != "-ERR Bad data format\r\n" {
			t.Fatalf("unexpected reply %q", got)
		}
		if got == "+OK\r\n" {
			// Whatever was accepted must dump and restore to itself.
			p := bulkPayload(t, run(t, s, 0, "DUMP", "k"))
			if r := run(t, s, 0, "RESTORE", "k2", "0", p); r != "+OK\r\n" {
				t.Fatalf("re-RESTORE replied %q", r)
			}
			if a, b := describeKey(t, s, 0, "k"), describeKey(t, s, 0, "k2"); a != b {
				t.Fatalf("round trip differs:\n%q\n%q", a, b)
			}
		}
	})
}
