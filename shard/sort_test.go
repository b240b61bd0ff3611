package shard

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// sortCases run in order on one database. The replies were recorded from
// redis-server 7.0.15.
var sortCases = []struct {
	args []string
	want string
}{
	{[]string{"flushall"}, "+OK\r\n"},
	// Numbers, ASC/DESC, ALPHA, LIMIT.
	{[]string{"rpush", "l", "3", "1", "2", "10", "1.5", "-1"}, ":6\r\n"},
	{[]string{"sort", "l"}, "*6\r\n$2\r\n-1\r\n$1\r\n1\r\n$3\r\n1.5\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n"},
	{[]string{"sort", "l", "desc"}, "*6\r\n$2\r\n10\r\n$1\r\n3\r\n$1\r\n2\r\n$3\r\n1.5\r\n$1\r\n1\r\n$2\r\n-1\r\n"},
	{[]string{"sort", "l", "alpha"}, "*6\r\n$2\r\n-1\r\n$1\r\n1\r\n$3\r\n1.5\r\n$2\r\n10\r\n$1\r\n2\r\n$1\r\n3\r\n"},
	{[]string{"sort", "l", "alpha", "desc"}, "*6\r\n$1\r\n3\r\n$1\r\n2\r\n$2\r\n10\r\n$3\r\n1.5\r\n$1\r\n1\r\n$2\r\n-1\r\n"},
	{[]string{"sort", "l", "asc", "desc"}, "*6\r\n$2\r\n10\r\n$1\r\n3\r\n$1\r\n2\r\n$3\r\n1.5\r\n$1\r\n1\r\n$2\r\n-1\r\n"},
	{[]string{"sort", "l", "desc", "asc"}, "*6\r\n$2\r\n-1\r\n$1\r\n1\r\n$3\r\n1.5\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n"},
	{[]string{"sort", "l", "alpha", "alpha"}, "*6\r\n$2\r\n-1\r\n$1\r\n1\r\n$3\r\n1.5\r\n$2\r\n10\r\n$1\r\n2\r\n$1\r\n3\r\n"},
	{[]string{"sort", "l", "limit", "1", "2"}, "*2\r\n$1\r\n1\r\n$3\r\n1.5\r\n"},
	{[]string{"sort", "l", "limit", "-1", "2"}, "*2\r\n$2\r\n-1\r\n$1\r\n1\r\n"},
	{[]string{"sort", "l", "limit", "2", "-1"}, "*4\r\n$3\r\n1.5\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n"},
	{[]string{"sort", "l", "limit", "2", "0"}, "*0\r\n"},
	{[]string{"sort", "l", "limit", "100", "2"}, "*0\r\n"},
	{[]string{"sort", "l", "limit", "5", "9223372036854775807"}, "*1\r\n$2\r\n10\r\n"},
	{[]string{"sort", "l", "limit", "9223372036854775807", "9223372036854775807"}, "*0\r\n"},
	{[]string{"sort", "l", "limit", "-9223372036854775808", "-9223372036854775808"}, "*6\r\n$2\r\n-1\r\n$1\r\n1\r\n$3\r\n1.5\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n"},
	{[]string{"sort", "l", "limit", "0", "1", "limit", "1", "1"}, "*1\r\n$1\r\n1\r\n"},
	{[]string{"sort", "l", "desc", "limit", "1", "2"}, "*2\r\n$1\r\n3\r\n$1\r\n2\r\n"},
	{[]string{"sort_ro", "l", "desc", "limit", "1", "2"}, "*2\r\n$1\r\n3\r\n$1\r\n2\r\n"},
	// Syntax and option errors, checked before the key's type.
	{[]string{"sort", "l", "limit", "x", "1"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"sort", "l", "limit", "1", "x"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"sort", "l", "limit", "1"}, "-ERR syntax error\r\n"},
	{[]string{"sort", "l", "limit"}, "-ERR syntax error\r\n"},
	{[]string{"sort", "l", "store"}, "-ERR syntax error\r\n"},
	{[]string{"sort", "l", "by"}, "-ERR syntax error\r\n"},
	{[]string{"sort", "l", "get"}, "-ERR syntax error\r\n"},
	{[]string{"sort", "l", "foo"}, "-ERR syntax error\r\n"},
	{[]string{"sort_ro", "l", "store", "d"}, "-ERR syntax error\r\n"},
	{[]string{"set", "str", "v"}, "+OK\r\n"},
	{[]string{"sort", "str", "limit", "x", "y"}, "-ERR value is not an integer or out of range\r\n"},
	{[]string{"sort", "str", "foo"}, "-ERR syntax error\r\n"},
	{[]string{"sort", "str"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"sort_ro", "str"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"hset", "hh", "a", "1"}, ":1\r\n"},
	{[]string{"sort", "hh"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"sort", "str", "by", "nosort"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"sort", "nosuch"}, "*0\r\n"},
	{[]string{"sort", "nosuch", "desc", "limit", "1", "2", "get", "#", "by", "nosort"}, "*0\r\n"},
	{[]string{"sort_ro", "nosuch"}, "*0\r\n"},
	// BY nosort keeps the natural order, reversed by DESC, LIMIT on the range.
	{[]string{"sort", "l", "by", "nosort"}, "*6\r\n$1\r\n3\r\n$1\r\n1\r\n$1\r\n2\r\n$2\r\n10\r\n$3\r\n1.5\r\n$2\r\n-1\r\n"},
	{[]string{"sort", "l", "by", "nosort", "desc"}, "*6\r\n$2\r\n-1\r\n$3\r\n1.5\r\n$2\r\n10\r\n$1\r\n2\r\n$1\r\n1\r\n$1\r\n3\r\n"},
	{[]string{"sort", "l", "by", "nosort", "limit", "1", "2"}, "*2\r\n$1\r\n1\r\n$1\r\n2\r\n"},
	{[]string{"sort", "l", "by", "nosort", "desc", "limit", "1", "2"}, "*2\r\n$3\r\n1.5\r\n$2\r\n10\r\n"},
	{[]string{"sort", "l", "by", "nosort", "limit", "10", "2"}, "*0\r\n"},
	{[]string{"sort", "l", "by", "nosort", "limit", "-5", "2"}, "*2\r\n$1\r\n3\r\n$1\r\n1\r\n"},
	{[]string{"sort", "l", "by", "nosort", "desc", "limit", "4", "100"}, "*2\r\n$1\r\n1\r\n$1\r\n3\r\n"},
	{[]string{"sort", "l", "by", "nosort", "by", "w_*"}, "*6\r\n$1\r\n3\r\n$1\r\n1\r\n$1\r\n2\r\n$2\r\n10\r\n$3\r\n1.5\r\n$2\r\n-1\r\n"},
	{[]string{"sort", "l", "by", "w_*", "by", "nosort"}, "*6\r\n$1\r\n3\r\n$1\r\n1\r\n$1\r\n2\r\n$2\r\n10\r\n$3\r\n1.5\r\n$2\r\n-1\r\n"},
	// Equal scores: the element bytes decide, also reversed by DESC.
	{[]string{"rpush", "l2", "d", "a", "c", "b", "e"}, ":5\r\n"},
	{[]string{"sort", "l2", "by", "nosuch_*"}, "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"},
	{[]string{"sort", "l2", "by", "nosuch_*", "desc"}, "*5\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"},
	{[]string{"sort", "l2", "by", "nosuch_*", "desc", "limit", "1", "2"}, "*2\r\n$1\r\nd\r\n$1\r\nc\r\n"},
	// External keys: strings, hash fields, GET #, missing values.
	{[]string{"mset", "w_a", "3", "w_b", "1", "w_c", "2", "o_a", "A", "o_b", "B", "o_c", "C", "k_a", "x", "k_b", "x", "k_c", "y", "k_d", "x"}, "+OK\r\n"},
	{[]string{"hset", "h_a", "f", "30", "g", "x"}, ":2\r\n"},
	{[]string{"hset", "h_b", "f", "10"}, ":1\r\n"},
	{[]string{"hset", "h_c", "f", "20"}, ":1\r\n"},
	{[]string{"sort", "l2", "by", "w_*"}, "*5\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n"},
	{[]string{"sort", "l2", "by", "w_*", "desc"}, "*5\r\n$1\r\na\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\ne\r\n$1\r\nd\r\n"},
	{[]string{"sort", "l2", "by", "w_*", "get", "o_*", "get", "#"}, "*10\r\n$-1\r\n$1\r\nd\r\n$-1\r\n$1\r\ne\r\n$1\r\nB\r\n$1\r\nb\r\n$1\r\nC\r\n$1\r\nc\r\n$1\r\nA\r\n$1\r\na\r\n"},
	{[]string{"sort", "l2", "by", "w_*", "limit", "1", "2", "get", "#"}, "*2\r\n$1\r\ne\r\n$1\r\nb\r\n"},
	{[]string{"sort", "l2", "by", "h_*->f"}, "*5\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n"},
	{[]string{"sort", "l2", "by", "h_*->f", "get", "h_*->g", "get", "h_*->f"}, "*10\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$2\r\n10\r\n$-1\r\n$2\r\n20\r\n$1\r\nx\r\n$2\r\n30\r\n"},
	{[]string{"sort", "l2", "by", "w_*->f"}, "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"},
	{[]string{"sort", "l2", "by", "h_*"}, "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"},
	{[]string{"sort", "l2", "alpha", "get", "h_*->"}, "*5\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n"},
	{[]string{"sort", "l2", "alpha", "get", "h_*-"}, "*5\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n"},
	{[]string{"sort", "l2", "alpha", "get", "nostar", "get", "#"}, "*10\r\n$-1\r\n$1\r\na\r\n$-1\r\n$1\r\nb\r\n$-1\r\n$1\r\nc\r\n$-1\r\n$1\r\nd\r\n$-1\r\n$1\r\ne\r\n"},
	{[]string{"sort", "l2", "by", "w_*", "get", "#foo"}, "*5\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n"},
	{[]string{"sort", "l2", "by", "w_***", "get", "o_**"}, "*5\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n"},
	{[]string{"sort", "l2", "by", "nosort", "get", "o_*"}, "*5\r\n$-1\r\n$1\r\nA\r\n$1\r\nC\r\n$1\r\nB\r\n$-1\r\n"},
	{[]string{"sort", "l2", "by", "h_*->f->g"}, "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"},
	// ALPHA BY: missing values first; ties keep the input order.
	{[]string{"sort", "l2", "by", "o_*", "alpha"}, "*5\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"},
	{[]string{"sort", "l2", "by", "o_*", "alpha", "desc"}, "*5\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\ne\r\n"},
	{[]string{"sort", "l2", "by", "k_*", "alpha"}, "*5\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"},
	{[]string{"sort", "l2", "by", "k_*", "alpha", "desc"}, "*5\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\ne\r\n"},
	{[]string{"sort", "l2", "by", "k_*", "alpha", "desc", "limit", "1", "3"}, "*3\r\n$1\r\nd\r\n$1\r\na\r\n$1\r\nb\r\n"},
	{[]string{"sort", "l2", "by", "o_*"}, "-ERR One or more scores can't be converted into double\r\n"},
	// Patterns are partly C strings: "#" and the '*' and "->" searches stop at NUL.
	{[]string{"sort", "l2", "alpha", "get", "#\x00zz"}, "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"},
	{[]string{"set", "o_a\x00zz", "X"}, "+OK\r\n"},
	{[]string{"sort", "l2", "alpha", "get", "o_*\x00zz"}, "*5\r\n$1\r\nX\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n"},
	{[]string{"sort", "l2", "alpha", "desc", "by", "nos\x00*"}, "*5\r\n$1\r\ne\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nd\r\n"},
	{[]string{"hset", "h_a", "f\x00zz", "FZ"}, ":1\r\n"},
	{[]string{"sort", "l2", "alpha", "get", "h_*->f\x00zz"}, "*5\r\n$2\r\nFZ\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n"},
	{[]string{"set", "h_a->\x00f", "HF"}, "+OK\r\n"},
	{[]string{"sort", "l2", "alpha", "get", "h_*->\x00f"}, "*5\r\n$2\r\nHF\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n"},
	// ALPHA compares C strings (strcoll) but STORE compares bytes.
	{[]string{"rpush", "n", "a\x00b", "a\x00a", "a", "a\x00c", "", "\xff", "B"}, ":7\r\n"},
	{[]string{"sort", "n", "alpha"}, "*7\r\n$0\r\n\r\n$1\r\nB\r\n$3\r\na\x00b\r\n$3\r\na\x00a\r\n$1\r\na\r\n$3\r\na\x00c\r\n$1\r\n\xff\r\n"},
	{[]string{"sort", "n", "alpha", "desc"}, "*7\r\n$1\r\n\xff\r\n$3\r\na\x00b\r\n$3\r\na\x00a\r\n$1\r\na\r\n$3\r\na\x00c\r\n$1\r\nB\r\n$0\r\n\r\n"},
	{[]string{"sort", "n", "alpha", "store", "nd"}, ":7\r\n"},
	{[]string{"lrange", "nd", "0", "-1"}, "*7\r\n$0\r\n\r\n$1\r\nB\r\n$1\r\na\r\n$3\r\na\x00a\r\n$3\r\na\x00b\r\n$3\r\na\x00c\r\n$1\r\n\xff\r\n"},
	// Sets: an intset walks in order; nosort with STORE sorts ALPHA.
	{[]string{"sadd", "s", "5", "3", "10", "1"}, ":4\r\n"},
	{[]string{"sadd", "t", "b", "c", "a", "10", "2"}, ":5\r\n"},
	{[]string{"sort", "s"}, "*4\r\n$1\r\n1\r\n$1\r\n3\r\n$1\r\n5\r\n$2\r\n10\r\n"},
	{[]string{"sort", "s", "desc"}, "*4\r\n$2\r\n10\r\n$1\r\n5\r\n$1\r\n3\r\n$1\r\n1\r\n"},
	{[]string{"sort", "s", "by", "nosort"}, "*4\r\n$1\r\n1\r\n$1\r\n3\r\n$1\r\n5\r\n$2\r\n10\r\n"},
	{[]string{"sort", "s", "by", "nosort", "desc"}, "*4\r\n$1\r\n1\r\n$1\r\n3\r\n$1\r\n5\r\n$2\r\n10\r\n"},
	{[]string{"sort", "s", "by", "nosort", "limit", "1", "2"}, "*2\r\n$1\r\n3\r\n$1\r\n5\r\n"},
	{[]string{"sort", "s", "by", "nosort", "store", "d"}, ":4\r\n"},
	{[]string{"lrange", "d", "0", "-1"}, "*4\r\n$1\r\n1\r\n$2\r\n10\r\n$1\r\n3\r\n$1\r\n5\r\n"},
	{[]string{"sort", "t", "by", "nosort", "store", "d"}, ":5\r\n"},
	{[]string{"lrange", "d", "0", "-1"}, "*5\r\n$2\r\n10\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"},
	{[]string{"sort", "t", "by", "nosort", "desc", "limit", "1", "2", "store", "d"}, ":2\r\n"},
	{[]string{"lrange", "d", "0", "-1"}, "*2\r\n$1\r\nb\r\n$1\r\na\r\n"},
	{[]string{"sort", "t", "alpha"}, "*5\r\n$2\r\n10\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"},
	{[]string{"sort", "t"}, "-ERR One or more scores can't be converted into double\r\n"},
	// Sorted sets: nosort is score order, LIMIT on the range.
	{[]string{"zadd", "z", "1", "c", "2", "a", "3", "b", "3", "aa"}, ":4\r\n"},
	{[]string{"mset", "w_aa", "0"}, "+OK\r\n"},
	{[]string{"sort", "z"}, "-ERR One or more scores can't be converted into double\r\n"},
	{[]string{"sort", "z", "alpha"}, "*4\r\n$1\r\na\r\n$2\r\naa\r\n$1\r\nb\r\n$1\r\nc\r\n"},
	{[]string{"sort", "z", "alpha", "desc", "limit", "1", "2"}, "*2\r\n$1\r\nb\r\n$2\r\naa\r\n"},
	{[]string{"sort", "z", "by", "nosort"}, "*4\r\n$1\r\nc\r\n$1\r\na\r\n$2\r\naa\r\n$1\r\nb\r\n"},
	{[]string{"sort", "z", "by", "nosort", "desc"}, "*4\r\n$1\r\nb\r\n$2\r\naa\r\n$1\r\na\r\n$1\r\nc\r\n"},
	{[]string{"sort", "z", "by", "nosort", "limit", "1", "2"}, "*2\r\n$1\r\na\r\n$2\r\naa\r\n"},
	{[]string{"sort", "z", "by", "nosort", "desc", "limit", "1", "2"}, "*2\r\n$2\r\naa\r\n$1\r\na\r\n"},
	{[]string{"sort", "z", "by", "nosort", "limit", "3", "10"}, "*1\r\n$1\r\nb\r\n"},
	{[]string{"sort", "z", "by", "nosort", "limit", "4", "1"}, "*0\r\n"},
	{[]string{"sort", "z", "by", "nosort", "desc", "limit", "-2", "10"}, "*4\r\n$1\r\nb\r\n$2\r\naa\r\n$1\r\na\r\n$1\r\nc\r\n"},
	{[]string{"sort", "z", "by", "w_*"}, "*4\r\n$2\r\naa\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n"},
	{[]string{"sort", "z", "by", "nosort", "get", "w_*", "get", "#"}, "*8\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\na\r\n$1\r\n0\r\n$2\r\naa\r\n$1\r\n1\r\n$1\r\nb\r\n"},
	{[]string{"sort", "z", "by", "nosort", "desc", "store", "d"}, ":4\r\n"},
	{[]string{"lrange", "d", "0", "-1"}, "*4\r\n$1\r\nb\r\n$2\r\naa\r\n$1\r\na\r\n$1\r\nc\r\n"},
	// STORE: a list, replacing any type and TTL; empty deletes; GET misses store "".
	{[]string{"set", "d", "old", "ex", "100"}, "+OK\r\n"},
	{[]string{"sort", "l", "store", "d"}, ":6\r\n"},
	{[]string{"ttl", "d"}, ":-1\r\n"},
	{[]string{"type", "d"}, "+list\r\n"},
	{[]string{"lrange", "d", "0", "-1"}, "*6\r\n$2\r\n-1\r\n$1\r\n1\r\n$3\r\n1.5\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n"},
	{[]string{"sort", "l", "get", "#", "get", "nosuch_*", "store", "d"}, ":12\r\n"},
	{[]string{"lrange", "d", "0", "-1"}, "*12\r\n$2\r\n-1\r\n$0\r\n\r\n$1\r\n1\r\n$0\r\n\r\n$3\r\n1.5\r\n$0\r\n\r\n$1\r\n2\r\n$0\r\n\r\n$1\r\n3\r\n$0\r\n\r\n$2\r\n10\r\n$0\r\n\r\n"},
	{[]string{"sort", "nosuch", "store", "d"}, ":0\r\n"},
	{[]string{"exists", "d"}, ":0\r\n"},
	{[]string{"set", "d", "old"}, "+OK\r\n"},
	{[]string{"sort", "l", "limit", "5", "5", "store", "d"}, ":1\r\n"},
	{[]string{"exists", "d"}, ":1\r\n"},
	{[]string{"set", "d", "old"}, "+OK\r\n"},
	{[]string{"sort", "str", "store", "d"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{[]string{"get", "d"}, "$3\r\nold\r\n"},
	{[]string{"sort", "l", "store", "l"}, ":6\r\n"},
	{[]string{"lrange", "l", "0", "-1"}, "*6\r\n$2\r\n-1\r\n$1\r\n1\r\n$3\r\n1.5\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n"},
	{[]string{"sort", "l2", "store", "d", "store", "e", "by", "nosort"}, ":5\r\n"},
	{[]string{"exists", "d"}, ":1\r\n"},
	{[]string{"lrange", "e", "0", "-1"}, "*5\r\n$1\r\nd\r\n$1\r\na\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\ne\r\n"},
	{[]string{"rpush", "bad", "x", "1"}, ":2\r\n"},
	{[]string{"sort", "bad", "store", "d2"}, "-ERR One or more scores can't be converted into double\r\n"},
	{[]string{"exists", "d2"}, ":0\r\n"},
	// Conversion errors come last: Redis leaves errno set after ERANGE.
	{[]string{"sort", "bad"}, "-ERR One or more scores can't be converted into double\r\n"},
	{[]string{"sort", "bad", "by", "nosort"}, "*2\r\n$1\r\nx\r\n$1\r\n1\r\n"},
	{[]string{"sort", "l2", "by", "k_*"}, "-ERR One or more scores can't be converted into double\r\n"},
	{[]string{"rpush", "big", "1", "1e400"}, ":2\r\n"},
	{[]string{"sort", "big"}, "-ERR One or more scores can't be converted into double\r\n"},
	{[]string{"sort", "big", "desc"}, "-ERR One or more scores can't be converted into double\r\n"},
}

func TestSortSync(t *testing.T) {
	s := New(0)
	for _, tc := range sortCases {
		if got := run(t, s, 1000, tc.args...); got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
}

// runAll runs one command with every shard available, as the router does
// for a call that needs all shards.
func runAll(t *testing.T, shards []*Shard, args ...string) string {
	t.Helper()
	cmd := Lookup(strings.ToLower(args[0]))
	if cmd == nil {
		t.Fatalf("no command %q", args[0])
	}
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	return string(RunAcross(shards, cmd, argv, nil, 0, wire.RESP2, 1000, nil))
}

// The same cases with the keys spread over four shards: every external
// key is read from the shard that owns it.
func TestSortAcrossShards(t *testing.T) {
	shards := []*Shard{New(0), New(1), New(2), New(3)}
	for _, tc := range sortCases {
		if got := runAll(t, shards, tc.args...); got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
	used := 0
	for _, s := range shards {
		if s.DB(0).Len() > 0 {
			used++
		}
	}
	if used < 3 {
		t.Errorf("the keys landed on %d shards; the test wants them spread", used)
	}
}

func TestSortKeys(t *testing.T) {
	// What COMMAND GETKEYS answers in Redis 7.0.15.
	cases := []struct {
		args string
		want []int
	}{
		{"sort l", []int{1}},
		{"sort l store d", []int{1, 3}},
		{"sort l by w_* get o_* store d", []int{1, 7}},
		{"sort l store d store e", []int{1, 5}},
		{"sort l limit 1 store d", []int{1}},
		{"sort l limit 0 1 store d", []int{1, 6}},
		{"sort l store", []int{1}},
		{"sort l by store d", []int{1}},
		{"sort l get store d", []int{1}},
		{"sort l foo store d", []int{1, 4}},
		{"sort l STORE d limit 0", []int{1, 3}},
		{"sort l limit store d x", []int{1}},
		{"sort l store by store d", []int{1, 3}},
	}
	for _, tc := range cases {
		args := sortArgs(tc.args)
		if got := Lookup("sort").KeyIndexes(args, nil); !slices.Equal(got, tc.want) {
			t.Errorf("%s: keys at %v, want %v", tc.args, got, tc.want)
		}
	}
	if got := Lookup("sort_ro").KeyIndexes(sortArgs("sort_ro l store d"), nil); !slices.Equal(got, []int{1}) {
		t.Errorf("sort_ro keys at %v, want [1]", got)
	}
}

func sortArgs(line string) [][]byte {
	var args [][]byte
	for _, w := range strings.Fields(line) {
		args = append(args, []byte(w))
	}
	return args
}

func TestSortNeedsAllShards(t *testing.T) {
	cases := []struct {
		args string
		want bool
	}{
		{"sort l", false},
		{"sort l desc alpha limit 0 10 store d", false},
		{"sort l by nosort", false},
		{"sort l by nosort get #", false},
		{"sort l get # get nostar", false},
		{"sort l by w_*", true},
		{"sort l by h_*->f", true},
		{"sort l get o_*", true},
		{"sort l by nosort get o_*", true},
		{"sort l by w_* by nosort", false}, // nosort wins: nothing is read
		{"sort l by nosort by w_*", false},
		{"sort l by w_* foo", false}, // a syntax error reads nothing
		{"sort l limit x 1 by w_*", false},
		{"sort l store by store d", true}, // GETKEYS would name "by"
		{"sort l store d store e", false},
		{"sort_ro l get o_*", true},
		{"sort_ro l store d", false},
	}
	for _, tc := range cases {
		args := sortArgs(tc.args)
		if got := Lookup(string(args[0])).NeedsAllShards(args); got != tc.want {
			t.Errorf("%s: NeedsAllShards = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestSortStrtod(t *testing.T) {
	// Each accepted or refused by Redis 7.0.15's numeric SORT.
	cases := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"", 0, true},
		{"\x00x", 0, true},
		{"3\x00x", 3, true},
		{" 1", 1, true},
		{"\t3", 3, true},
		{"\n3", 3, true},
		{"\v7", 7, true},
		{"+5", 5, true},
		{".5", 0.5, true},
		{"5.", 5, true},
		{"00012", 12, true},
		{"-0", math.Copysign(0, -1), true},
		{"1e308", 1e308, true},
		{"0x10", 16, true},
		{"0x1p3", 8, true},
		{"0X1P-2", 0.25, true},
		{"0x.8", 0.5, true},
		{"inf", math.Inf(1), true},
		{"-infinity", math.Inf(-1), true},
		{"iNfInItY", math.Inf(1), true},
		{"0e-400", 0, true},
		{"0x1p-1074", 0x1p-1074, true},
		{"-0x1p-1074", -0x1p-1074, true},
		{"0x1p-1022", 0x1p-1022, true},
		{"2.2250738585072014e-308", 2.2250738585072014e-308, true},
		{"abc", 0, false},
		{"  ", 0, false},
		{"1 ", 0, false},
		{"x\x00", 0, false},
		{"1,5", 0, false},
		{"1_0", 0, false},
		{"0x", 0, false},
		{"0x.", 0, false},
		{"0x1p", 0, false},
		{"1e", 0, false},
		{"1e+", 0, false},
		{"1e5.5", 0, false},
		{"1.2.3", 0, false},
		{"+-1", 0, false},
		{"-", 0, false},
		{".", 0, false},
		{"-.e1", 0, false},
		{"nan", 0, false},
		{"-nan", 0, false},
		{"nan(123)", 0, false},
		{"infinit", 0, false},
		{"infinityx", 0, false},
		{"1e400", 0, false},
		{"1.8e308", 0, false},
		{"0x1p1024", 0, false},
		{"1e-400", 0, false},
		{"1e-310", 0, false},
		{"4.9e-324", 0, false},
		{"0x1.8p-1074", 0, false},
		{"0x1p-1075", 0, false},
		{"2.2250738585072011e-308", 0, false},
	}
	for _, tc := range cases {
		got, ok := sortStrtod(tc.in)
		if ok != tc.ok || ok && (got != tc.want || math.Signbit(got) != math.Signbit(tc.want)) {
			t.Errorf("sortStrtod(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
