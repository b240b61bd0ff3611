package shard

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// strCase is one command and its raw RESP2 reply.
type strCase struct {
	args []string
	want string
}

// strRun runs cases in order on s and reports every mismatch.
func strRun(t *testing.T, s *Shard, now int64, cases []strCase) {
	t.Helper()
	for _, tc := range cases {
		if got := run(t, s, now, tc.args...); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.args, got, tc.want)
		}
	}
}

// strWithHash returns a shard whose key "h" holds a hash, for WRONGTYPE.
func strWithHash() *Shard {
	s := New(0)
	s.DB(0).set([]byte("h"), hashOf("f", "v"), false, 0)
	return s
}

// strAcross runs one command over several shards, as the connection does
// for keys on different shards, and returns the raw reply.
func strAcross(t *testing.T, shards []*Shard, proto wire.Proto, args ...string) string {
	t.Helper()
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	cmd := Lookup(strings.ToLower(args[0]))
	return string(RunAcross(shards, cmd, argv, nil, 0, proto, 1000, nil))
}

// strKeysOn returns n distinct keys with the given prefix that live on
// pairwise different shards out of len(shards).
func strKeysOn(prefix string, n, shards int) []string {
	seen := map[int]bool{}
	var keys []string
	for i := 0; len(keys) < n; i++ {
		k := prefix + strconv.Itoa(i)
		if o := Owner([]byte(k), shards); !seen[o] {
			seen[o] = true
			keys = append(keys, k)
		}
	}
	return keys
}

const (
	strNotInt   = "-ERR value is not an integer or out of range\r\n"
	strNotFloat = "-ERR value is not a valid float\r\n"
	strWrong    = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
	strSyntax   = "-ERR syntax error\r\n"
)

func TestAppendStrlen(t *testing.T) {
	strRun(t, New(0), 0, []strCase{
		{[]string{"APPEND", "k", "hello"}, ":5\r\n"},
		{[]string{"APPEND", "k", " world"}, ":11\r\n"},
		{[]string{"GET", "k"}, "$11\r\nhello world\r\n"},
		{[]string{"STRLEN", "k"}, ":11\r\n"},
		{[]string{"APPEND", "k", ""}, ":11\r\n"},
		{[]string{"APPEND", "e", ""}, ":0\r\n"},
		{[]string{"EXISTS", "e"}, ":1\r\n"},
		{[]string{"STRLEN", "e"}, ":0\r\n"},
		{[]string{"STRLEN", "nosuch"}, ":0\r\n"},
		{[]string{"APPEND", "b", "\x00\xff"}, ":2\r\n"},
		{[]string{"GET", "b"}, "$2\r\n\x00\xff\r\n"},
	})
}

func TestIncrDecr(t *testing.T) {
	strRun(t, New(0), 0, []strCase{
		{[]string{"INCR", "n"}, ":1\r\n"},
		{[]string{"INCR", "n"}, ":2\r\n"},
		{[]string{"DECR", "n"}, ":1\r\n"},
		{[]string{"INCRBY", "n", "10"}, ":11\r\n"},
		{[]string{"DECRBY", "n", "20"}, ":-9\r\n"},
		{[]string{"DECRBY", "n", "-5"}, ":-4\r\n"},
		{[]string{"GET", "n"}, "$2\r\n-4\r\n"},
		{[]string{"DECR", "fresh"}, ":-1\r\n"},
		{[]string{"SET", "big", "9223372036854775806"}, "+OK\r\n"},
		{[]string{"INCR", "big"}, ":9223372036854775807\r\n"},
		{[]string{"INCR", "big"}, "-ERR increment or decrement would overflow\r\n"},
		{[]string{"GET", "big"}, "$19\r\n9223372036854775807\r\n"},
		{[]string{"SET", "small", "-9223372036854775807"}, "+OK\r\n"},
		{[]string{"DECR", "small"}, ":-9223372036854775808\r\n"},
		{[]string{"DECR", "small"}, "-ERR increment or decrement would overflow\r\n"},
		{[]string{"DECRBY", "n", "-9223372036854775808"}, "-ERR decrement would overflow\r\n"},
		{[]string{"INCRBY", "n", "9223372036854775808"}, strNotInt},
		{[]string{"INCRBY", "n", "1.5"}, strNotInt},
		{[]string{"INCRBY", "n", "+1"}, strNotInt},
		{[]string{"INCRBY", "n", " 1"}, strNotInt},
		{[]string{"INCRBY", "n", "01"}, strNotInt},
		{[]string{"SET", "s", "foo"}, "+OK\r\n"},
		{[]string{"INCR", "s"}, strNotInt},
		{[]string{"SET", "s", "12 "}, "+OK\r\n"},
		{[]string{"INCR", "s"}, strNotInt},
		{[]string{"SET", "s", ""}, "+OK\r\n"},
		{[]string{"INCR", "s"}, strNotInt},
		{[]string{"SET", "s", "123456789012345678901"}, "+OK\r\n"},
		{[]string{"INCR", "s"}, strNotInt},
		// Around the boundary of the shared small integers.
		{[]string{"SET", "z", "9998"}, "+OK\r\n"},
		{[]string{"INCR", "z"}, ":9999\r\n"},
		{[]string{"INCR", "z"}, ":10000\r\n"},
		{[]string{"DECRBY", "z", "10001"}, ":-1\r\n"},
		{[]string{"GET", "z"}, "$2\r\n-1\r\n"},
	})
}

func TestIncrKeepsTTL(t *testing.T) {
	s := New(0)
	strRun(t, s, 1000, []strCase{
		{[]string{"SET", "t", "5", "PX", "500"}, "+OK\r\n"},
		{[]string{"INCR", "t"}, ":6\r\n"},
		{[]string{"APPEND", "t", "0"}, ":2\r\n"},
		{[]string{"INCRBYFLOAT", "t", "0.5"}, "$4\r\n60.5\r\n"},
		{[]string{"SETRANGE", "t", "0", "7"}, ":4\r\n"},
	})
	if at, ok := s.DB(0).ttl([]byte("t")); !ok || at != 1500 {
		t.Fatalf("TTL after updates = %d, %v; want 1500", at, ok)
	}
	if got := run(t, s, 1500, "GET", "t"); got != "$-1\r\n" {
		t.Fatalf("key outlived its TTL: %q", got)
	}
	// An expired counter starts again from zero.
	if got := run(t, s, 1500, "INCR", "t"); got != ":1\r\n" {
		t.Fatalf("INCR of an expired key = %q", got)
	}
	if _, ok := s.DB(0).ttl([]byte("t")); ok {
		t.Fatal("INCR of an expired key kept the old TTL")
	}
}

func TestIncrByFloat(t *testing.T) {
	// Expected replies recorded from Redis 7.0.15 (x86-64 long double).
	cases := []struct{ start, incr, want string }{
		{"", "10.5", "10.5"},
		{"10.5", "0.1", "10.6"},
		{"3.0e3", "0", "3000"},
		{"5.0e3", "200", "5200"},
		{"0.1", "0.2", "0.3"},
		{"0", "1.5e-17", "0.00000000000000002"},
		{"0", "1e-20", "0"},
		{"0", "-1e-20", "0"},
		{"-1.5", "1.5", "0"},
		{"", "0x10", "16"},
		{"", "0x1p-3", "0.125"},
		{"", "+1.5", "1.5"},
		{"", ".5", "0.5"},
		{"", "5.", "5"},
		{"", "123456789.123456789", "123456789.12345678899873747"},
		{"", "3.14159265358979323846264338327950288", "3.14159265358979324"},
		{"9223372036854775807", "1", "9223372036854775808"},
		{"1.1e308", "1e308", "209999999999999999990116753073855856163070194963210134643110932732057140966499557994246381928736004742198484652848824690851891499277894625099545959343851551198740713852272904609333146859477982093710985234509755626071301604384898052631293444078263374948510342325321042113242046458160188686604787020324675780608"},
		{"1e4932", "1e4932", "-ERR increment would produce NaN or Infinity"},
		{"", "inf", "-ERR increment would produce NaN or Infinity"},
		{"", "-infinity", "-ERR increment would produce NaN or Infinity"},
		{"inf", "1", "-ERR increment would produce NaN or Infinity"},
		{"", "nan", "-ERR value is not a valid float"},
		{"", " 1", "-ERR value is not a valid float"},
		{"", "1 ", "-ERR value is not a valid float"},
		{"", "1e", "-ERR value is not a valid float"},
		{"", "0x", "-ERR value is not a valid float"},
		{"", "", "-ERR value is not a valid float"},
		{"", "1e5000", "-ERR value is not a valid float"},
		{"", "1e-5000", "-ERR value is not a valid float"},
		{"", "0e-5000", "0"},
		{"", "1/2", "-ERR value is not a valid float"},
		{"", "1_0", "-ERR value is not a valid float"},
		{"foo", "1", "-ERR value is not a valid float"},
		{"1", strings.Repeat("1", 5120), "-ERR value is not a valid float"},
	}
	for _, tc := range cases {
		s := New(0)
		if tc.start != "" {
			run(t, s, 0, "SET", "f", tc.start)
		}
		got := run(t, s, 0, "INCRBYFLOAT", "f", tc.incr)
		want := "$" + strconv.Itoa(len(tc.want)) + "\r\n" + tc.want + "\r\n"
		if strings.HasPrefix(tc.want, "-") {
			want = tc.want + "\r\n"
		}
		if got != want {
			t.Errorf("INCRBYFLOAT %q by %q: got %q, want %q", tc.start, tc.incr, got, want)
		}
	}
	// The largest long double prints in full and stays usable.
	s := New(0)
	run(t, s, 0, "SET", "f", "1e4931")
	got := run(t, s, 0, "INCRBYFLOAT", "f", "1e4932")
	if !strings.HasPrefix(got, "$4933\r\n11000000000000000000388685811") {
		t.Fatalf("INCRBYFLOAT near the long double maximum = %.60q", got)
	}
}

func TestGetDelGetSet(t *testing.T) {
	s := New(0)
	strRun(t, s, 1000, []strCase{
		{[]string{"SET", "k", "v"}, "+OK\r\n"},
		{[]string{"GETDEL", "k"}, "$1\r\nv\r\n"},
		{[]string{"GETDEL", "k"}, "$-1\r\n"},
		{[]string{"EXISTS", "k"}, ":0\r\n"},
		{[]string{"GETSET", "g", "a"}, "$-1\r\n"},
		{[]string{"GETSET", "g", "b"}, "$1\r\na\r\n"},
		{[]string{"SET", "g", "c", "PX", "100"}, "+OK\r\n"},
		{[]string{"GETSET", "g", "d"}, "$1\r\nc\r\n"},
	})
	if _, ok := s.DB(0).ttl([]byte("g")); ok {
		t.Fatal("GETSET kept the TTL")
	}
}

func TestGetEx(t *testing.T) {
	s := New(0)
	now := int64(1_000_000)
	ttl := func() int64 {
		at, ok := s.DB(0).ttl([]byte("k"))
		if !ok {
			return -1
		}
		return at
	}
	steps := []struct {
		args    []string
		want    string
		wantTTL int64
	}{
		{[]string{"SET", "k", "v"}, "+OK\r\n", -1},
		{[]string{"GETEX", "k"}, "$1\r\nv\r\n", -1},
		{[]string{"GETEX", "k", "EX", "100"}, "$1\r\nv\r\n", now + 100_000},
		{[]string{"GETEX", "k"}, "$1\r\nv\r\n", now + 100_000},
		{[]string{"GETEX", "k", "PERSIST"}, "$1\r\nv\r\n", -1},
		{[]string{"GETEX", "k", "px", "5"}, "$1\r\nv\r\n", now + 5},
		{[]string{"GETEX", "k", "EXAT", "2000"}, "$1\r\nv\r\n", 2_000_000},
		{[]string{"GETEX", "k", "PXAT", "3000000"}, "$1\r\nv\r\n", 3_000_000},
		{[]string{"GETEX", "k", "EX", "10", "EX", "20"}, "$1\r\nv\r\n", now + 20_000},
		{[]string{"GETEX", "k", "PERSIST", "persist"}, "$1\r\nv\r\n", -1},
		{[]string{"GETEX", "k", "EX", "10", "PX", "20"}, strSyntax, -1},
		{[]string{"GETEX", "k", "EX", "10", "PERSIST"}, strSyntax, -1},
		{[]string{"GETEX", "k", "PERSIST", "EX", "10"}, strSyntax, -1},
		{[]string{"GETEX", "k", "EX"}, strSyntax, -1},
		{[]string{"GETEX", "k", "KEEPTTL"}, strSyntax, -1},
		{[]string{"GETEX", "k", "NX"}, strSyntax, -1},
		{[]string{"GETEX", "k", "GET"}, strSyntax, -1},
		{[]string{"GETEX", "k", "EX", "0"}, "-ERR invalid expire time in 'getex' command\r\n", -1},
		{[]string{"GETEX", "k", "PX", "-1"}, "-ERR invalid expire time in 'getex' command\r\n", -1},
		{[]string{"GETEX", "k", "EX", "x"}, strNotInt, -1},
		{[]string{"GETEX", "k", "EX", "9223372036854775807"}, "-ERR invalid expire time in 'getex' command\r\n", -1},
		// Options are checked before the key, values only for a live string.
		{[]string{"GETEX", "nosuch", "EX", "0"}, "$-1\r\n", -1},
		{[]string{"GETEX", "nosuch", "FOO"}, strSyntax, -1},
		// An absolute time in the past deletes the key after replying.
		{[]string{"GETEX", "k", "PXAT", "1"}, "$1\r\nv\r\n", -1},
		{[]string{"EXISTS", "k"}, ":0\r\n", -1},
	}
	for _, st := range steps {
		if got := run(t, s, now, st.args...); got != st.want {
			t.Errorf("%q: got %q, want %q", st.args, got, st.want)
		}
		if got := ttl(); got != st.wantTTL {
			t.Errorf("%q: TTL %d, want %d", st.args, got, st.wantTTL)
		}
	}
}

func TestGetRange(t *testing.T) {
	s := New(0)
	run(t, s, 0, "SET", "k", "This is a string")
	run(t, s, 0, "SET", "e", "")
	strRun(t, s, 0, []strCase{
		{[]string{"GETRANGE", "k", "0", "3"}, "$4\r\nThis\r\n"},
		{[]string{"GETRANGE", "k", "-3", "-1"}, "$3\r\ning\r\n"},
		{[]string{"GETRANGE", "k", "0", "-1"}, "$16\r\nThis is a string\r\n"},
		{[]string{"GETRANGE", "k", "10", "100"}, "$6\r\nstring\r\n"},
		{[]string{"GETRANGE", "k", "5", "3"}, "$0\r\n\r\n"},
		{[]string{"GETRANGE", "k", "-1", "-5"}, "$0\r\n\r\n"},
		{[]string{"GETRANGE", "k", "-100", "2"}, "$3\r\nThi\r\n"},
		{[]string{"GETRANGE", "k", "-100", "-50"}, "$1\r\nT\r\n"},
		{[]string{"GETRANGE", "k", "100", "200"}, "$0\r\n\r\n"},
		{[]string{"GETRANGE", "k", "0", "9223372036854775807"}, "$16\r\nThis is a string\r\n"},
		{[]string{"GETRANGE", "k", "-9223372036854775808", "0"}, "$1\r\nT\r\n"},
		{[]string{"GETRANGE", "k", "x", "1"}, strNotInt},
		{[]string{"GETRANGE", "nosuch", "0", "-1"}, "$0\r\n\r\n"},
		{[]string{"GETRANGE", "e", "0", "-1"}, "$0\r\n\r\n"},
		{[]string{"SUBSTR", "k", "-6", "-1"}, "$6\r\nstring\r\n"},
	})
}

func TestSetNXSetExPSetEx(t *testing.T) {
	s := New(0)
	now := int64(5000)
	strRun(t, s, now, []strCase{
		{[]string{"SETNX", "n", "a"}, ":1\r\n"},
		{[]string{"SETNX", "n", "b"}, ":0\r\n"},
		{[]string{"GET", "n"}, "$1\r\na\r\n"},
		{[]string{"SETEX", "e", "100", "v"}, "+OK\r\n"},
		{[]string{"SETEX", "e", "0", "v"}, "-ERR invalid expire time in 'setex' command\r\n"},
		{[]string{"SETEX", "e", "-5", "v"}, "-ERR invalid expire time in 'setex' command\r\n"},
		{[]string{"SETEX", "e", "x", "v"}, strNotInt},
		{[]string{"SETEX", "e", "9223372036854775807", "v"}, "-ERR invalid expire time in 'setex' command\r\n"},
		{[]string{"PSETEX", "p", "250", "w"}, "+OK\r\n"},
		{[]string{"PSETEX", "p", "0", "w"}, "-ERR invalid expire time in 'psetex' command\r\n"},
		{[]string{"PSETEX", "p", "9223372036854775807", "w"}, "-ERR invalid expire time in 'psetex' command\r\n"},
	})
	if at, _ := s.DB(0).ttl([]byte("e")); at != now+100_000 {
		t.Errorf("SETEX TTL = %d", at)
	}
	if at, _ := s.DB(0).ttl([]byte("p")); at != now+250 {
		t.Errorf("PSETEX TTL = %d", at)
	}
	// SETEX replaces a value of any type.
	s = strWithHash()
	strRun(t, s, now, []strCase{
		{[]string{"SETEX", "h", "10", "v"}, "+OK\r\n"},
		{[]string{"GET", "h"}, "$1\r\nv\r\n"},
	})
}

func TestMSetNX(t *testing.T) {
	strRun(t, New(0), 0, []strCase{
		{[]string{"MSETNX", "a", "1", "b", "2"}, ":1\r\n"},
		{[]string{"MSETNX", "a", "x", "c", "3"}, ":0\r\n"},
		{[]string{"EXISTS", "c"}, ":0\r\n"},
		{[]string{"MGET", "a", "b"}, "*2\r\n$1\r\n1\r\n$1\r\n2\r\n"},
		{[]string{"MSETNX", "d", "1", "d", "2"}, ":1\r\n"},
		{[]string{"GET", "d"}, "$1\r\n2\r\n"},
		{[]string{"MSETNX", "e", "1", "f"}, "-ERR wrong number of arguments for 'msetnx' command\r\n"},
	})
}

func TestSetRange(t *testing.T) {
	s := New(0)
	strRun(t, s, 0, []strCase{
		{[]string{"SET", "k", "Hello World"}, "+OK\r\n"},
		{[]string{"SETRANGE", "k", "6", "Redis"}, ":11\r\n"},
		{[]string{"GET", "k"}, "$11\r\nHello Redis\r\n"},
		{[]string{"SETRANGE", "k", "13", "!"}, ":14\r\n"},
		{[]string{"GET", "k"}, "$14\r\nHello Redis\x00\x00!\r\n"},
		{[]string{"SETRANGE", "k", "0", ""}, ":14\r\n"},
		{[]string{"SETRANGE", "n", "5", ""}, ":0\r\n"},
		{[]string{"EXISTS", "n"}, ":0\r\n"},
		{[]string{"SETRANGE", "n", "2", "ab"}, ":4\r\n"},
		{[]string{"GET", "n"}, "$4\r\n\x00\x00ab\r\n"},
		{[]string{"SETRANGE", "k", "-1", "x"}, "-ERR offset is out of range\r\n"},
		{[]string{"SETRANGE", "k", "x", "x"}, strNotInt},
		{[]string{"SETRANGE", "k", "536870911", "xx"}, "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"},
		{[]string{"SETRANGE", "k", "9223372036854775807", "x"}, "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"},
	})
}

func TestStringLimit(t *testing.T) {
	defer SetMaxStringLength(512 << 20)
	SetMaxStringLength(10)
	strRun(t, New(0), 0, []strCase{
		{[]string{"APPEND", "k", "0123456789"}, ":10\r\n"}, // creating is not checked
		{[]string{"APPEND", "k", "x"}, "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"},
		{[]string{"SETRANGE", "k", "9", "xy"}, "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"},
		{[]string{"SETRANGE", "k", "9", "x"}, ":10\r\n"},
		{[]string{"SETBIT", "k", "80", "1"}, "-ERR bit offset is not an integer or out of range\r\n"},
		{[]string{"SETBIT", "k", "79", "1"}, ":0\r\n"},
	})
}

func TestLCS(t *testing.T) {
	s := New(0)
	run(t, s, 0, "MSET", "a", "ohmytext", "b", "mynewtext", "e", "")
	strRun(t, s, 0, []strCase{
		{[]string{"LCS", "a", "b"}, "$6\r\nmytext\r\n"},
		{[]string{"LCS", "a", "b", "LEN"}, ":6\r\n"},
		{[]string{"LCS", "a", "b", "IDX"},
			"*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n"},
		{[]string{"LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"},
			"*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"},
		{[]string{"LCS", "a", "b", "idx", "minmatchlen", "-5", "withmatchlen"},
			"*4\r\n$7\r\nmatches\r\n*2\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n*3\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n:2\r\n$3\r\nlen\r\n:6\r\n"},
		{[]string{"LCS", "a", "b", "IDX", "LEN"}, "-ERR If you want both the length and indexes, please just use IDX.\r\n"},
		{[]string{"LCS", "a", "b", "MINMATCHLEN"}, strSyntax},
		{[]string{"LCS", "a", "b", "MINMATCHLEN", "x"}, strNotInt},
		{[]string{"LCS", "a", "b", "FOO"}, strSyntax},
		{[]string{"LCS", "a", "nosuch"}, "$0\r\n\r\n"},
		{[]string{"LCS", "nosuch", "e", "LEN"}, ":0\r\n"},
		{[]string{"LCS", "nosuch", "nosuch2", "IDX"}, "*4\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n"},
		{[]string{"LCS", "a", "a"}, "$8\r\nohmytext\r\n"},
	})
}

func TestStringsWrongType(t *testing.T) {
	s := strWithHash()
	for _, args := range [][]string{
		{"APPEND", "h", "x"}, {"INCR", "h"}, {"DECR", "h"}, {"INCRBY", "h", "1"},
		{"DECRBY", "h", "1"}, {"INCRBYFLOAT", "h", "1"}, {"GETDEL", "h"}, {"GETEX", "h"},
		{"GETEX", "h", "EX", "0"}, {"GETRANGE", "h", "0", "1"}, {"SUBSTR", "h", "0", "1"},
		{"GETSET", "h", "v"}, {"SETRANGE", "h", "0", "x"}, {"SETRANGE", "h", "0", ""},
		{"STRLEN", "h"},
	} {
		if got := run(t, s, 0, args...); got != strWrong {
			t.Errorf("%q: got %q", args, got)
		}
	}
	// Argument errors come first where Redis checks them first.
	strRun(t, s, 0, []strCase{
		{[]string{"INCRBY", "h", "x"}, strNotInt},
		{[]string{"GETRANGE", "h", "x", "1"}, strNotInt},
		{[]string{"SETRANGE", "h", "-1", "x"}, "-ERR offset is out of range\r\n"},
		{[]string{"GETEX", "h", "FOO"}, strSyntax},
		{[]string{"LCS", "h", "x"}, "-ERR The specified keys must contain string values\r\n"},
		{[]string{"LCS", "x", "h", "FOO"}, "-ERR The specified keys must contain string values\r\n"},
		{[]string{"SETNX", "h", "v"}, ":0\r\n"},
		{[]string{"MSETNX", "x", "1", "h", "v"}, ":0\r\n"},
	})
	if v, _ := s.DB(0).get([]byte("h"), 0); typeName(v) != "hash" {
		t.Fatalf("a failed command replaced the hash with %T", v)
	}
	// GETSET and plain writes replace the hash.
	run(t, s, 0, "SETEX", "h", "100", "v")
	if got := run(t, s, 0, "GET", "h"); got != "$1\r\nv\r\n" {
		t.Fatalf("SETEX over a hash: GET = %q", got)
	}
}

// TestStringsAcrossShards runs multi-key string commands with their keys
// on different shards, the way the connection runs them after borrowing.
func TestStringsAcrossShards(t *testing.T) {
	shards := []*Shard{New(0), New(1), New(2), New(3)}
	k := strKeysOn("k", 3, len(shards))
	for _, p := range []wire.Proto{wire.RESP2, wire.RESP3} {
		for _, s := range shards {
			s.DB(0).flush()
		}
		if got := strAcross(t, shards, p, "MSETNX", k[0], "ohmytext", k[1], "mynewtext"); got != ":1\r\n" {
			t.Fatalf("MSETNX = %q", got)
		}
		if got := strAcross(t, shards, p, "MSETNX", k[2], "x", k[1], "y"); got != ":0\r\n" {
			t.Fatalf("MSETNX over an existing key = %q", got)
		}
		for i, s := range shards {
			for _, key := range k[:2] {
				has := s.DB(0).has([]byte(key), 0)
				if want := Owner([]byte(key), len(shards)) == i; has != want {
					t.Fatalf("key %s on shard %d: %v, want %v", key, i, has, want)
				}
			}
		}
		if got := strAcross(t, shards, p, "LCS", k[0], k[1]); got != "$6\r\nmytext\r\n" {
			t.Fatalf("LCS across shards = %q", got)
		}
		want := "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
		if p == wire.RESP3 {
			want = "%2\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
		}
		if got := strAcross(t, shards, p, "LCS", k[0], k[1], "IDX", "MINMATCHLEN", "3", "WITHMATCHLEN"); got != want {
			t.Fatalf("LCS IDX in %v = %q", p, got)
		}
	}
}

func TestStringsRESP3Nulls(t *testing.T) {
	s := New(0)
	for _, args := range [][]string{{"GETDEL", "x"}, {"GETEX", "x"}, {"GETSET", "y", "v"}} {
		argv := make([][]byte, len(args))
		for i, a := range args {
			argv[i] = []byte(a)
		}
		b := &Batch{Proto: wire.RESP3, Calls: []Call{{Cmd: Lookup(strings.ToLower(args[0])), Args: argv}}}
		s.Exec(b, 0)
		if got := string(b.Reply(0)); got != "_\r\n" {
			t.Errorf("%q in RESP3: got %q", args, got)
		}
	}
}

// strBench runs batches of 100 calls of args (with "key" replaced by
// key:0..key:99) on one shard.
func strBench(b *testing.B, reset func(s *Shard), args ...string) {
	s := New(0)
	batch := &Batch{Proto: wire.RESP2}
	cmd := Lookup(strings.ToLower(args[0]))
	for i := 0; i < 100; i++ {
		argv := make([][]byte, len(args))
		for j, a := range args {
			if a == "key" {
				a = "key:" + strconv.Itoa(i)
			}
			argv[j] = []byte(a)
		}
		batch.Calls = append(batch.Calls, Call{Cmd: cmd, Args: argv})
	}
	now := time.Now().UnixMilli()
	s.Exec(batch, now)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if reset != nil && i%1000 == 0 {
			b.StopTimer()
			reset(s)
			b.StartTimer()
		}
		batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
		s.Exec(batch, now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/cmd")
}

// BenchmarkIncr: counters past the shared small integers, the usual case
// for hot counters.
func BenchmarkIncr(b *testing.B) {
	strBench(b, func(s *Shard) {
		for i := 0; i < 100; i++ {
			s.DB(0).set([]byte("key:"+strconv.Itoa(i)), "100000", false, 0)
		}
	}, "INCR", "key")
}

// BenchmarkIncrSmall: counters within the shared small integers.
func BenchmarkIncrSmall(b *testing.B) {
	strBench(b, func(s *Shard) {
		for i := 0; i < 100; i++ {
			s.DB(0).set([]byte("key:"+strconv.Itoa(i)), "0", false, 0)
		}
	}, "INCR", "key")
}

// BenchmarkAppend appends 16 bytes to values that are reset to empty
// every 1000 rounds, so they stay below 16 KB.
func BenchmarkAppend(b *testing.B) {
	strBench(b, func(s *Shard) { s.DB(0).flush() }, "APPEND", "key", "0123456789abcdef")
}
