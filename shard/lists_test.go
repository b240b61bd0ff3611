package shard

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// runListProto executes one command synchronously on s with the given
// protocol and returns the raw reply.
func runListProto(t *testing.T, s *Shard, proto wire.Proto, args ...string) string {
	t.Helper()
	cmd := Lookup(strings.ToLower(args[0]))
	if cmd == nil {
		t.Fatalf("no command %q", args[0])
	}
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	b := &Batch{Proto: proto, Calls: []Call{{Cmd: cmd, Args: argv}}}
	s.Exec(b, 1000)
	return string(b.Reply(0))
}

// listCases were recorded from redis-server 7.0.15 in RESP2, after
// HSET h f v. In RESP3 a null reply is "_" instead.
var listCases = []struct {
	args []string
	want string
}{
	// push and range
	{[]string{"LPUSH", "l", "c", "b", "a"}, ":3\r\n"},
	{[]string{"RPUSH", "l", "d", "e"}, ":5\r\n"},
	{[]string{"LRANGE", "l", "0", "-1"}, "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"},
	{[]string{"LRANGE", "l", "1", "2"}, "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"},
	{[]string{"LRANGE", "l", "-2", "-1"}, "*2\r\n$1\r\nd\r\n$1\r\ne\r\n"},
	{[]string{"LRANGE", "l", "-100", "100"}, "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"},
	{[]string{"LRANGE", "l", "3", "1"}, "*0\r\n"},
	{[]string{"LRANGE", "l", "5", "10"}, "*0\r\n"},
	{[]string{"LRANGE", "l", "2", "-4"}, "*0\r\n"},
	{[]string{"LRANGE", "l", "-1", "-2"}, "*0\r\n"},
	{[]string{"LRANGE", "l", "0", "9223372036854775807"}, "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"},
	{[]string{"LRANGE", "l", "-9223372036854775808", "0"}, "*1\r\n$1\r\na\r\n"},
	{[]string{"LRANGE", "l", "x", "1"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"LRANGE", "l", "0", "1.5"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"LRANGE", "nokey", "0", "-1"}, "*0\r\n"},
	{[]string{"LLEN", "l"}, ":5\r\n"},
	{[]string{"LLEN", "nokey"}, ":0\r\n"},
	{[]string{"LPUSHX", "nokey", "a"}, ":0\r\n"},
	{[]string{"RPUSHX", "nokey", "a"}, ":0\r\n"},
	{[]string{"EXISTS", "nokey"}, ":0\r\n"},
	{[]string{"LPUSHX", "l", "z", "y"}, ":7\r\n"},
	{[]string{"RPUSHX", "l", "f"}, ":8\r\n"},
	{[]string{"LRANGE", "l", "0", "-1"}, "*8\r\n$1\r\ny\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n"},
	// index and set
	{[]string{"LINDEX", "l", "0"}, "$1\r\ny\r\n"},
	{[]string{"LINDEX", "l", "-1"}, "$1\r\nf\r\n"},
	{[]string{"LINDEX", "l", "7"}, "$1\r\nf\r\n"},
	{[]string{"LINDEX", "l", "-8"}, "$1\r\ny\r\n"},
	{[]string{"LINDEX", "l", "8"}, "$-1\r\n"},
	{[]string{"LINDEX", "l", "-9"}, "$-1\r\n"},
	{[]string{"LINDEX", "l", "x"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"LINDEX", "nokey", "0"}, "$-1\r\n"},
	{[]string{"LINDEX", "nokey", "x"}, "$-1\r\n"},
	{[]string{"LSET", "l", "0", "Y"}, "+OK\r\n"},
	{[]string{"LSET", "l", "-1", "F"}, "+OK\r\n"},
	{[]string{"LSET", "l", "8", "q"}, "-ERR index out of range\r\n"},
	{[]string{"LSET", "l", "-9", "q"}, "-ERR index out of range\r\n"},
	{[]string{"LSET", "l", "x", "q"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"LSET", "nokey", "0", "q"}, "-ERR no such key\r\n"},
	{[]string{"LSET", "nokey", "x", "q"}, "-ERR no such key\r\n"},
	{[]string{"LRANGE", "l", "0", "-1"}, "*8\r\n$1\r\nY\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nF\r\n"},
	// insert
	{[]string{"LINSERT", "l", "BEFORE", "a", "A"}, ":9\r\n"},
	{[]string{"LINSERT", "l", "after", "e", "E"}, ":10\r\n"},
	{[]string{"LINSERT", "l", "before", "Y", "first"}, ":11\r\n"},
	{[]string{"LINSERT", "l", "AFTER", "F", "last"}, ":12\r\n"},
	{[]string{"LINSERT", "l", "before", "nope", "x"}, ":-1\r\n"},
	{[]string{"LINSERT", "l", "middle", "a", "x"}, "-ERR syntax error\r\n"},
	{[]string{"LINSERT", "nokey", "before", "a", "x"}, ":0\r\n"},
	{[]string{"LINSERT", "nokey", "middle", "a", "x"}, "-ERR syntax error\r\n"},
	{[]string{"EXISTS", "nokey"}, ":0\r\n"},
	{[]string{"LRANGE", "l", "0", "-1"}, "*12\r\n$5\r\nfirst\r\n$1\r\nY\r\n$1\r\nz\r\n$1\r\nA\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nE\r\n$1\r\nF\r\n$4\r\nlast\r\n"},
	// pops
	{[]string{"LPOP", "l"}, "$5\r\nfirst\r\n"},
	{[]string{"RPOP", "l"}, "$4\r\nlast\r\n"},
	{[]string{"LPOP", "l", "2"}, "*2\r\n$1\r\nY\r\n$1\r\nz\r\n"},
	{[]string{"RPOP", "l", "2"}, "*2\r\n$1\r\nF\r\n$1\r\nE\r\n"},
	{[]string{"LPOP", "l", "0"}, "*0\r\n"},
	{[]string{"RPOP", "l", "0"}, "*0\r\n"},
	{[]string{"LPOP", "l", "-1"}, "-ERR value is out of range, must be positive\r\n"},
	{[]string{"LPOP", "l", "x"}, "-ERR value is out of range, must be positive\r\n"},
	{[]string{"LPOP", "l", "1", "2"}, "-ERR wrong number of arguments for 'lpop' command\r\n"},
	{[]string{"LPOP", "nokey"}, "$-1\r\n"},
	{[]string{"RPOP", "nokey"}, "$-1\r\n"},
	{[]string{"LPOP", "nokey", "1"}, "*-1\r\n"},
	{[]string{"RPOP", "nokey", "0"}, "*-1\r\n"},
	{[]string{"LRANGE", "l", "0", "-1"}, "*6\r\n$1\r\nA\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"},
	{[]string{"RPOP", "l", "100"}, "*6\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nA\r\n"},
	{[]string{"EXISTS", "l"}, ":0\r\n"},
	{[]string{"LPOP", "l"}, "$-1\r\n"},
	// trim
	{[]string{"RPUSH", "t", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, ":10\r\n"},
	{[]string{"LTRIM", "t", "1", "-2"}, "+OK\r\n"},
	{[]string{"LRANGE", "t", "0", "-1"}, "*8\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5\r\n$1\r\n6\r\n$1\r\n7\r\n$1\r\n8\r\n"},
	{[]string{"LTRIM", "t", "-3", "100"}, "+OK\r\n"},
	{[]string{"LRANGE", "t", "0", "-1"}, "*3\r\n$1\r\n6\r\n$1\r\n7\r\n$1\r\n8\r\n"},
	{[]string{"LTRIM", "t", "0", "0"}, "+OK\r\n"},
	{[]string{"LRANGE", "t", "0", "-1"}, "*1\r\n$1\r\n6\r\n"},
	{[]string{"LTRIM", "t", "x", "0"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"LTRIM", "t", "0", "x"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"LTRIM", "t", "1", "0"}, "+OK\r\n"},
	{[]string{"EXISTS", "t"}, ":0\r\n"},
	{[]string{"LTRIM", "nokey", "0", "1"}, "+OK\r\n"},
	{[]string{"RPUSH", "t", "a", "b", "c"}, ":3\r\n"},
	{[]string{"LTRIM", "t", "5", "10"}, "+OK\r\n"},
	{[]string{"EXISTS", "t"}, ":0\r\n"},
	{[]string{"RPUSH", "t", "a", "b", "c"}, ":3\r\n"},
	{[]string{"LTRIM", "t", "-1", "-2"}, "+OK\r\n"},
	{[]string{"EXISTS", "t"}, ":0\r\n"},
	// rem
	{[]string{"RPUSH", "r", "a", "b", "a", "c", "a", "b", "a"}, ":7\r\n"},
	{[]string{"LREM", "r", "2", "a"}, ":2\r\n"},
	{[]string{"LRANGE", "r", "0", "-1"}, "*5\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n"},
	{[]string{"LREM", "r", "-1", "b"}, ":1\r\n"},
	{[]string{"LRANGE", "r", "0", "-1"}, "*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\na\r\n"},
	{[]string{"RPUSH", "r", "a", "a"}, ":6\r\n"},
	{[]string{"LREM", "r", "-2", "a"}, ":2\r\n"},
	{[]string{"LRANGE", "r", "0", "-1"}, "*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\na\r\n"},
	{[]string{"LREM", "r", "0", "a"}, ":2\r\n"},
	{[]string{"LRANGE", "r", "0", "-1"}, "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"},
	{[]string{"LREM", "r", "0", "zz"}, ":0\r\n"},
	{[]string{"LREM", "r", "x", "a"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"LREM", "nokey", "1", "a"}, ":0\r\n"},
	{[]string{"LREM", "nokey", "x", "a"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"LREM", "r", "-9223372036854775808", "b"}, ":1\r\n"},
	{[]string{"LREM", "r", "1", "c"}, ":1\r\n"},
	{[]string{"EXISTS", "r"}, ":0\r\n"},
	// lpos
	{[]string{"RPUSH", "p", "a", "b", "c", "a", "b", "c", "a"}, ":7\r\n"},
	{[]string{"LPOS", "p", "a"}, ":0\r\n"},
	{[]string{"LPOS", "p", "c"}, ":2\r\n"},
	{[]string{"LPOS", "p", "z"}, "$-1\r\n"},
	{[]string{"LPOS", "p", "a", "RANK", "2"}, ":3\r\n"},
	{[]string{"LPOS", "p", "a", "RANK", "-1"}, ":6\r\n"},
	{[]string{"LPOS", "p", "a", "RANK", "-2"}, ":3\r\n"},
	{[]string{"LPOS", "p", "a", "RANK", "4"}, "$-1\r\n"},
	{[]string{"LPOS", "p", "a", "RANK", "-9223372036854775808"}, ":6\r\n"},
	{[]string{"LPOS", "p", "a", "RANK", "9223372036854775807"}, "$-1\r\n"},
	{[]string{"LPOS", "p", "a", "COUNT", "0"}, "*3\r\n:0\r\n:3\r\n:6\r\n"},
	{[]string{"LPOS", "p", "a", "COUNT", "2"}, "*2\r\n:0\r\n:3\r\n"},
	{[]string{"LPOS", "p", "a", "COUNT", "2", "RANK", "-1"}, "*2\r\n:6\r\n:3\r\n"},
	{[]string{"LPOS", "p", "a", "COUNT", "0", "RANK", "-1"}, "*3\r\n:6\r\n:3\r\n:0\r\n"},
	{[]string{"LPOS", "p", "a", "RANK", "-9223372036854775808", "COUNT", "1"}, "*3\r\n:6\r\n:3\r\n:0\r\n"},
	{[]string{"LPOS", "p", "a", "COUNT", "0", "MAXLEN", "4"}, "*2\r\n:0\r\n:3\r\n"},
	{[]string{"LPOS", "p", "a", "COUNT", "0", "MAXLEN", "4", "RANK", "-1"}, "*2\r\n:6\r\n:3\r\n"},
	{[]string{"LPOS", "p", "c", "MAXLEN", "2"}, "$-1\r\n"},
	{[]string{"LPOS", "p", "c", "MAXLEN", "0"}, ":2\r\n"},
	{[]string{"LPOS", "p", "z", "COUNT", "0"}, "*0\r\n"},
	{[]string{"LPOS", "p", "a", "RANK", "2", "RANK", "1"}, ":0\r\n"},
	{[]string{"LPOS", "p", "a", "rank", "0"}, "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n"},
	{[]string{"LPOS", "p", "a", "RANK", "x"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"LPOS", "p", "a", "COUNT", "-1"}, "-ERR COUNT can't be negative\r\n"},
	{[]string{"LPOS", "p", "a", "COUNT", "x"}, "-ERR COUNT can't be negative\r\n"},
	{[]string{"LPOS", "p", "a", "MAXLEN", "-1"}, "-ERR MAXLEN can't be negative\r\n"},
	{[]string{"LPOS", "p", "a", "MAXLEN", "x"}, "-ERR MAXLEN can't be negative\r\n"},
	{[]string{"LPOS", "p", "a", "RANK"}, "-ERR syntax error\r\n"},
	{[]string{"LPOS", "p", "a", "foo", "1"}, "-ERR syntax error\r\n"},
	{[]string{"LPOS", "p", "a", "RANK", "0", "foo"}, "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n"},
	{[]string{"LPOS", "p", "a", "foo", "RANK", "0"}, "-ERR syntax error\r\n"},
	{[]string{"LPOS", "nokey", "a"}, "$-1\r\n"},
	{[]string{"LPOS", "nokey", "a", "COUNT", "0"}, "*0\r\n"},
	{[]string{"LPOS", "nokey", "a", "RANK", "0"}, "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n"},
	// lmove and rpoplpush
	{[]string{"RPUSH", "m1", "a", "b", "c"}, ":3\r\n"},
	{[]string{"LMOVE", "m1", "m2", "LEFT", "RIGHT"}, "$1\r\na\r\n"},
	{[]string{"LMOVE", "m1", "m2", "right", "left"}, "$1\r\nc\r\n"},
	{[]string{"LRANGE", "m1", "0", "-1"}, "*1\r\n$1\r\nb\r\n"},
	{[]string{"LRANGE", "m2", "0", "-1"}, "*2\r\n$1\r\nc\r\n$1\r\na\r\n"},
	{[]string{"LMOVE", "m2", "m2", "LEFT", "RIGHT"}, "$1\r\nc\r\n"},
	{[]string{"LRANGE", "m2", "0", "-1"}, "*2\r\n$1\r\na\r\n$1\r\nc\r\n"},
	{[]string{"LMOVE", "m2", "m2", "RIGHT", "LEFT"}, "$1\r\nc\r\n"},
	{[]string{"LRANGE", "m2", "0", "-1"}, "*2\r\n$1\r\nc\r\n$1\r\na\r\n"},
	{[]string{"LMOVE", "m1", "m1", "left", "left"}, "$1\r\nb\r\n"},
	{[]string{"LMOVE", "m1", "m2", "LEFT", "LEFT"}, "$1\r\nb\r\n"},
	{[]string{"EXISTS", "m1"}, ":0\r\n"},
	{[]string{"LMOVE", "m1", "m2", "LEFT", "LEFT"}, "$-1\r\n"},
	{[]string{"LMOVE", "m2", "m1", "MIDDLE", "LEFT"}, "-ERR syntax error\r\n"},
	{[]string{"LMOVE", "m2", "m1", "LEFT", "up"}, "-ERR syntax error\r\n"},
	{[]string{"RPOPLPUSH", "m2", "m3"}, "$1\r\na\r\n"},
	{[]string{"RPOPLPUSH", "m2", "m3"}, "$1\r\nc\r\n"},
	{[]string{"RPOPLPUSH", "m2", "m3"}, "$1\r\nb\r\n"},
	{[]string{"RPOPLPUSH", "m2", "m3"}, "$-1\r\n"},
	{[]string{"LRANGE", "m3", "0", "-1"}, "*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n"},
	{[]string{"EXISTS", "m2"}, ":0\r\n"},
	{[]string{"RPOPLPUSH", "m3", "m3"}, "$1\r\na\r\n"},
	{[]string{"LRANGE", "m3", "0", "-1"}, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"},
	// lmpop
	{[]string{"RPUSH", "q1", "a", "b", "c", "d"}, ":4\r\n"},
	{[]string{"RPUSH", "q2", "x"}, ":1\r\n"},
	{[]string{"LMPOP", "2", "nokey", "q1", "LEFT"}, "*2\r\n$2\r\nq1\r\n*1\r\n$1\r\na\r\n"},
	{[]string{"LMPOP", "2", "nokey", "q1", "RIGHT", "COUNT", "2"}, "*2\r\n$2\r\nq1\r\n*2\r\n$1\r\nd\r\n$1\r\nc\r\n"},
	{[]string{"LMPOP", "2", "q1", "q2", "left", "count", "10"}, "*2\r\n$2\r\nq1\r\n*1\r\n$1\r\nb\r\n"},
	{[]string{"EXISTS", "q1"}, ":0\r\n"},
	{[]string{"LMPOP", "2", "q1", "q2", "RIGHT"}, "*2\r\n$2\r\nq2\r\n*1\r\n$1\r\nx\r\n"},
	{[]string{"LMPOP", "2", "q1", "q2", "RIGHT"}, "*-1\r\n"},
	{[]string{"LMPOP", "1", "nokey", "LEFT", "COUNT", "3"}, "*-1\r\n"},
	{[]string{"LMPOP", "0", "q1", "LEFT"}, "-ERR numkeys should be greater than 0\r\n"},
	{[]string{"LMPOP", "-1", "q1", "LEFT"}, "-ERR numkeys should be greater than 0\r\n"},
	{[]string{"LMPOP", "x", "q1", "LEFT"}, "-ERR numkeys should be greater than 0\r\n"},
	{[]string{"LMPOP", "2", "q1", "LEFT"}, "-ERR syntax error\r\n"},
	{[]string{"LMPOP", "3", "q1", "q2", "LEFT"}, "-ERR syntax error\r\n"},
	{[]string{"LMPOP", "1", "q1", "MIDDLE"}, "-ERR syntax error\r\n"},
	{[]string{"LMPOP", "1", "q1", "LEFT", "COUNT", "0"}, "-ERR count should be greater than 0\r\n"},
	{[]string{"LMPOP", "1", "q1", "LEFT", "COUNT", "-1"}, "-ERR count should be greater than 0\r\n"},
	{[]string{"LMPOP", "1", "q1", "LEFT", "COUNT", "x"}, "-ERR count should be greater than 0\r\n"},
	{[]string{"LMPOP", "1", "q1", "LEFT", "COUNT"}, "-ERR syntax error\r\n"},
	{[]string{"LMPOP", "1", "q1", "LEFT", "COUNT", "1", "COUNT", "2"}, "-ERR syntax error\r\n"},
	{[]string{"LMPOP", "1", "q1", "LEFT", "COUNT", "x", "extra"}, "-ERR count should be greater than 0\r\n"},
	{[]string{"LMPOP", "1", "q1", "LEFT", "foo"}, "-ERR syntax error\r\n"},
	{[]string{"LMPOP", "9223372036854775807", "q1", "LEFT"}, "-ERR syntax error\r\n"},
	// wrong type
	{[]string{"SET", "s", "v"}, "+OK\r\n"},
	{[]string{"LPUSH", "h", "a"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"RPUSH", "h", "a"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LPUSHX", "h", "a"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"RPUSHX", "h", "a"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LLEN", "h"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LRANGE", "h", "0", "-1"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LRANGE", "h", "x", "0"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"LINDEX", "h", "0"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LINDEX", "h", "x"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LSET", "h", "0", "a"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LSET", "h", "x", "a"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LINSERT", "h", "BEFORE", "a", "b"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LINSERT", "h", "MIDDLE", "a", "b"}, "-ERR syntax error\r\n"},
	{[]string{"LPOP", "h"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"RPOP", "h", "1"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LPOP", "h", "0"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LPOP", "h", "x"}, "-ERR value is out of range, must be positive\r\n"},
	{[]string{"LTRIM", "h", "0", "1"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LTRIM", "h", "x", "1"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"LREM", "h", "0", "a"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LREM", "h", "x", "a"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"LPOS", "h", "a"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LPOS", "h", "a", "RANK", "0"}, "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n"},
	{[]string{"RPUSH", "w", "a", "b"}, ":2\r\n"},
	{[]string{"LMOVE", "h", "w", "LEFT", "LEFT"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LMOVE", "w", "h", "LEFT", "LEFT"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LMOVE", "nokey", "h", "LEFT", "LEFT"}, "$-1\r\n"},
	{[]string{"LMOVE", "h", "nokey", "LEFT", "LEFT"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"RPOPLPUSH", "w", "s"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LRANGE", "w", "0", "-1"}, "*2\r\n$1\r\na\r\n$1\r\nb\r\n"},
	{[]string{"LMPOP", "2", "h", "w", "LEFT"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LMPOP", "2", "w", "h", "LEFT"}, "*2\r\n$1\r\nw\r\n*1\r\n$1\r\na\r\n"},
	{[]string{"LMPOP", "2", "nokey", "s", "LEFT"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"LPUSH", "s", "a"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
}

func TestListCommandsSync(t *testing.T) {
	for _, proto := range []wire.Proto{wire.RESP2, wire.RESP3} {
		s := New(0)
		s.DB(0).set([]byte("h"), hashOf("f", "v"), false, 0)
		for _, tc := range listCases {
			want := tc.want
			if proto == wire.RESP3 && (want == "$-1\r\n" || want == "*-1\r\n") {
				want = "_\r\n"
			}
			if got := runListProto(t, s, proto, tc.args...); got != want {
				t.Errorf("RESP%d %v: got %q, want %q", proto, tc.args, got, want)
			}
		}
		// Every key that was emptied is gone; only these remain.
		var keys []string
		db := s.DB(0)
		db.eachKey(1000, func(k string) bool {
			keys = append(keys, k)
			v, _ := db.get([]byte(k), 1000)
			if l, ok := v.(*List); ok && l.Len() == 0 {
				t.Errorf("RESP%d: empty list left at %q", proto, k)
			}
			return true
		})
		slices.Sort(keys)
		if want := []string{"h", "m3", "p", "s", "w"}; !slices.Equal(keys, want) {
			t.Errorf("RESP%d: keys left %v, want %v", proto, keys, want)
		}
	}
}

// listCtx returns a context that runs directly on s, as Exec does.
func listCtx(s *Shard) *Ctx { return &Ctx{Proto: wire.RESP2, Now: 1000, self: s} }

func listContents(t *testing.T, s *Shard, key string) []string {
	t.Helper()
	v, ok := s.DB(0).get([]byte(key), 1000)
	if !ok {
		return nil
	}
	l := v.(*List)
	if l.Len() == 0 {
		t.Fatalf("empty list stored at %q", key)
	}
	return l.Slice(0, l.Len()-1)
}

func TestListHelpers(t *testing.T) {
	s := New(0)
	c := listCtx(s)
	if n := c.pushList([]byte("k"), false); n != 0 || len(c.Out) != 0 {
		t.Fatalf("pushList of nothing on a missing key = %d, %q", n, c.Out)
	}
	if s.DB(0).Len() != 0 {
		t.Fatal("pushList of nothing created the key")
	}
	if n := c.pushList([]byte("k"), false, "a", "b"); n != 2 {
		t.Fatalf("pushList = %d, want 2", n)
	}
	if n := c.pushList([]byte("k"), true, "z", "y"); n != 4 {
		t.Fatalf("pushList = %d, want 4", n)
	}
	if got := listContents(t, s, "k"); !slices.Equal(got, []string{"y", "z", "a", "b"}) {
		t.Fatalf("list = %v", got)
	}
	if got := c.popList([]byte("k"), false, 1); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("popList right 1 = %v", got)
	}
	if got := c.popList([]byte("k"), true, 10); !slices.Equal(got, []string{"y", "z", "a"}) {
		t.Fatalf("popList left 10 = %v", got)
	}
	if s.DB(0).Len() != 0 {
		t.Fatal("popList left an empty list behind")
	}

	s.DB(0).set([]byte("h"), hashOf(), false, 0)
	wrongType := "-" + ErrWrongType + "\r\n"
	if n := c.pushList([]byte("h"), true, "a"); n != -1 || string(c.Out) != wrongType {
		t.Fatalf("pushList on a hash = %d, %q", n, c.Out)
	}
	c.Out = c.Out[:0]

	c.pushList([]byte("src"), false, "1", "2")
	if _, ok, wrong := c.moveList([]byte("nokey"), []byte("h"), true, true); ok || wrong || len(c.Out) != 0 {
		t.Fatalf("moveList from a missing key: ok %v, wrong %v, out %q", ok, wrong, c.Out)
	}
	if _, ok, wrong := c.moveList([]byte("src"), []byte("h"), true, true); ok || !wrong || string(c.Out) != wrongType {
		t.Fatalf("moveList to a hash: ok %v, wrong %v, out %q", ok, wrong, c.Out)
	}
	c.Out = c.Out[:0]
	if got := listContents(t, s, "src"); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("moveList to a hash popped anyway: %v", got)
	}
	if _, ok, wrong := c.moveList([]byte("h"), []byte("src"), true, true); ok || !wrong || string(c.Out) != wrongType {
		t.Fatalf("moveList from a hash: ok %v, wrong %v, out %q", ok, wrong, c.Out)
	}
	c.Out = c.Out[:0]
	if e, ok, wrong := c.moveList([]byte("src"), []byte("dst"), false, true); e != "2" || !ok || wrong {
		t.Fatalf("moveList = %q, %v, %v", e, ok, wrong)
	}
	if e, ok, _ := c.moveList([]byte("src"), []byte("dst"), true, false); e != "1" || !ok {
		t.Fatalf("moveList = %q, %v", e, ok)
	}
	if got := listContents(t, s, "dst"); !slices.Equal(got, []string{"2", "1"}) {
		t.Fatalf("dst = %v", got)
	}
	if _, ok := s.DB(0).get([]byte("src"), 1000); ok {
		t.Fatal("moveList left an empty source")
	}
	if len(c.Out) != 0 {
		t.Fatalf("helpers replied %q", c.Out)
	}

	for _, tc := range []struct {
		in   string
		left bool
		ok   bool
	}{{"LEFT", true, true}, {"left", true, true}, {"Right", false, true}, {"RIGHT", false, true}, {"up", false, false}, {"", false, false}} {
		if left, ok := parseLeftRight([]byte(tc.in)); left != tc.left || ok != tc.ok {
			t.Errorf("parseLeftRight(%q) = %v, %v", tc.in, left, ok)
		}
	}
}

// TestListMoveSameKeyKeepsTTL checks that rotating a one-element list in
// place neither deletes the key nor loses its TTL, as in Redis, while a
// source drained into another key is deleted.
func TestListMoveSameKeyKeepsTTL(t *testing.T) {
	s := New(0)
	now := int64(1000)
	run(t, s, now, "RPUSH", "x", "a")
	s.DB(0).setExpire([]byte("x"), now+5000)
	for _, args := range [][]string{
		{"LMOVE", "x", "x", "LEFT", "RIGHT"},
		{"LMOVE", "x", "x", "RIGHT", "LEFT"},
		{"RPOPLPUSH", "x", "x"},
	} {
		if got := run(t, s, now, args...); got != "$1\r\na\r\n" {
			t.Fatalf("%v = %q", args, got)
		}
	}
	if at, ok := s.DB(0).ttl([]byte("x")); !ok || at != now+5000 {
		t.Fatalf("TTL after rotating = %d, %v", at, ok)
	}
	// Pushing to an existing list keeps its TTL too.
	run(t, s, now, "RPUSH", "x", "b")
	run(t, s, now, "LMOVE", "x", "y", "LEFT", "LEFT")
	if at, ok := s.DB(0).ttl([]byte("x")); !ok || at != now+5000 {
		t.Fatalf("TTL after push/move = %d, %v", at, ok)
	}
	if _, ok := s.DB(0).ttl([]byte("y")); ok {
		t.Fatal("a created destination got a TTL")
	}
	if got := run(t, s, now+5000, "LLEN", "x"); got != ":0\r\n" {
		t.Fatalf("LLEN of an expired list = %q", got)
	}
}

// TestListSignalsWaiters registers a waiter the way a blocking command
// would and checks that each command adding elements serves it.
func TestListSignalsWaiters(t *testing.T) {
	for _, tc := range []struct {
		setup []string
		args  []string
		reply string // of the command itself
		want  string // what the waiter gets
	}{
		{nil, []string{"LPUSH", "k", "a", "b"}, ":2\r\n", "$1\r\nb\r\n"},
		{nil, []string{"RPUSH", "k", "a", "b"}, ":2\r\n", "$1\r\na\r\n"},
		{[]string{"RPUSH", "src", "s"}, []string{"LMOVE", "src", "k", "LEFT", "RIGHT"}, "$1\r\ns\r\n", "$1\r\ns\r\n"},
		{[]string{"RPUSH", "src", "s"}, []string{"RPOPLPUSH", "src", "k"}, "$1\r\ns\r\n", "$1\r\ns\r\n"},
	} {
		s := New(0)
		if tc.setup != nil {
			run(t, s, 1000, tc.setup...)
		}
		w := NewWaiter(0, wire.RESP2, [][]byte{[]byte("k")})
		w.Ready = func(c *Ctx, key []byte) bool {
			_, found, ok := valueAt[*List](c, key)
			return found && ok
		}
		w.Pop = func(c *Ctx, key []byte, w *Waiter) { c.BulkString(c.popList(key, true, 1)[0]) }
		c := listCtx(s)
		c.Waiter = w
		c.block()
		if got := run(t, s, 1000, tc.args...); got != tc.reply {
			t.Errorf("%v = %q, want %q", tc.args, got, tc.reply)
		}
		select {
		case wk := <-w.Woken:
			if string(wk.Reply) != tc.want {
				t.Errorf("%v: waiter got %q, want %q", tc.args, wk.Reply, tc.want)
			}
		default:
			t.Errorf("%v did not serve the waiter", tc.args)
		}
	}
}

// TestListRemTrimModel checks LREM and LTRIM against a slice model on
// random lists with many repeated elements.
func TestListRemTrimModel(t *testing.T) {
	s := New(0)
	seed := uint64(7)
	rnd := func(n int) int { // xorshift, deterministic
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return int(seed % uint64(n))
	}
	for iter := 0; iter < 2000; iter++ {
		n := 1 + rnd(40)
		ref := make([]string, n)
		args := []string{"RPUSH", "k"}
		for i := range ref {
			ref[i] = strconv.Itoa(rnd(3))
			args = append(args, ref[i])
		}
		run(t, s, 0, "DEL", "k")
		run(t, s, 0, args...)
		if iter%2 == 0 {
			count := rnd(7) - 3
			elem := strconv.Itoa(rnd(3))
			var want []string
			removed := 0
			if count >= 0 {
				for _, e := range ref {
					if e == elem && (count == 0 || removed < count) {
						removed++
					} else {
						want = append(want, e)
					}
				}
			} else {
				for i := len(ref) - 1; i >= 0; i-- {
					if ref[i] == elem && removed < -count {
						removed++
					} else {
						want = append([]string{ref[i]}, want...)
					}
				}
			}
			got := run(t, s, 0, "LREM", "k", strconv.Itoa(count), elem)
			if got != ":"+strconv.Itoa(removed)+"\r\n" {
				t.Fatalf("LREM %v %d %s = %q, want %d", ref, count, elem, got, removed)
			}
			if have := listContents(t, s, "k"); !slices.Equal(have, want) {
				t.Fatalf("LREM %v %d %s left %v, want %v", ref, count, elem, have, want)
			}
		} else {
			start, stop := rnd(2*n+2)-n-1, rnd(2*n+2)-n-1
			from, to := start, stop
			if from < 0 {
				from += n
			}
			if to < 0 {
				to += n
			}
			from = max(from, 0)
			var want []string
			if from <= to && from < n {
				want = ref[from : min(to, n-1)+1]
			}
			run(t, s, 0, "LTRIM", "k", strconv.Itoa(start), strconv.Itoa(stop))
			if have := listContents(t, s, "k"); !slices.Equal(have, want) {
				t.Fatalf("LTRIM %v %d %d left %v, want %v", ref, start, stop, have, want)
			}
		}
	}
}

// TestListBigRotate pushes past the ring buffer's growth and shrink
// points and checks order and LINDEX from both ends.
func TestListBigRotate(t *testing.T) {
	s := New(0)
	const n = 1000
	for i := 0; i < n; i++ {
		run(t, s, 0, "RPUSH", "k", strconv.Itoa(i))
	}
	for i := 0; i < 2*n+7; i++ {
		run(t, s, 0, "RPOPLPUSH", "k", "k")
	}
	// Rotated right by 2n+7 = 7 mod n: element 0 is at index 7.
	if got := run(t, s, 0, "LINDEX", "k", "7"); got != "$1\r\n0\r\n" {
		t.Fatalf("LINDEX 7 = %q", got)
	}
	if got := run(t, s, 0, "LINDEX", "k", "-1"); got != "$3\r\n992\r\n" {
		t.Fatalf("LINDEX -1 = %q", got)
	}
	if got := run(t, s, 0, "LPOS", "k", "0"); got != ":7\r\n" {
		t.Fatalf("LPOS = %q", got)
	}
	for i := 0; i < n-1; i++ {
		run(t, s, 0, "LPOP", "k")
	}
	if got := run(t, s, 0, "LRANGE", "k", "0", "-1"); got != "*1\r\n$3\r\n992\r\n" {
		t.Fatalf("LRANGE after draining = %q", got)
	}
}

// listPushPopBatch is a batch alternating LPUSH k v and RPOP k.
func listPushPopBatch(pairs int) *Batch {
	push, pop := Lookup("lpush"), Lookup("rpop")
	b := &Batch{Proto: wire.RESP2}
	for i := 0; i < pairs; i++ {
		b.Calls = append(b.Calls,
			Call{Cmd: push, Args: [][]byte{[]byte("lpush"), []byte("k"), []byte("0123456789abcdef")}},
			Call{Cmd: pop, Args: [][]byte{[]byte("rpop"), []byte("k")}})
	}
	return b
}

// BenchmarkListPushPop measures 50 LPUSH+RPOP pairs on one list that never
// empties: the pushed value's copy is the only allocation.
func BenchmarkListPushPop(b *testing.B) {
	s := New(0)
	s.Exec(&Batch{Calls: []Call{{Cmd: Lookup("rpush"), Args: [][]byte{[]byte("rpush"), []byte("k"), []byte("base")}}}}, 0)
	batch := listPushPopBatch(50)
	now := time.Now().UnixMilli()
	s.Exec(batch, now)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
		s.Exec(batch, now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/cmd")
}

func TestListPushPopAllocs(t *testing.T) {
	s := New(0)
	s.Exec(&Batch{Calls: []Call{{Cmd: Lookup("rpush"), Args: [][]byte{[]byte("rpush"), []byte("k"), []byte("base")}}}}, 0)
	batch := listPushPopBatch(50)
	s.Exec(batch, 0)
	allocs := testing.AllocsPerRun(100, func() {
		batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
		s.Exec(batch, 0)
	})
	if allocs > 50 {
		t.Fatalf("%v allocations per 50 LPUSH+RPOP, want at most 50 (the value copies)", allocs)
	}
}
