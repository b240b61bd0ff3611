package shard

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// The expected replies of the tables below were recorded from Redis 7.0.15.

// zcase is one command and its exact reply. cmd is a string split on
// spaces, or a []string when an argument is empty or holds spaces.
type zcase struct {
	cmd  any
	want string
}

func zargs(cmd any) []string {
	if s, ok := cmd.(string); ok {
		return strings.Fields(s)
	}
	return cmd.([]string)
}

// zrun executes one command synchronously with the given protocol.
func zrun(t testing.TB, s *Shard, proto wire.Proto, args ...string) string {
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

func zrunCases(t *testing.T, s *Shard, proto wire.Proto, cases []zcase) {
	t.Helper()
	for _, tc := range cases {
		args := zargs(tc.cmd)
		if got := zrun(t, s, proto, args...); got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", args, got, tc.want)
		}
	}
}

func TestZAddSync(t *testing.T) {
	zrunCases(t, New(0), wire.RESP2, []zcase{
		// new members, updates, CH
		{"ZADD z 1 a 2 b 3 c", ":3\r\n"},
		{"ZADD z 1 a 5 b 4 d", ":1\r\n"},
		{"ZADD z CH 1 a 6 b 7 e", ":2\r\n"},
		{"ZRANGE z 0 -1 WITHSCORES", "*10\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nb\r\n$1\r\n6\r\n$1\r\ne\r\n$1\r\n7\r\n"},
		// NX and XX
		{"ZADD z NX 100 a 8 f", ":1\r\n"},
		{"ZADD z XX 100 a 9 g", ":0\r\n"},
		{"ZADD z XX CH 1 a 9 g", ":1\r\n"},
		{"ZSCORE z g", "$-1\r\n"},
		{"ZADD missing XX 1 a", ":0\r\n"},
		{"EXISTS missing", ":0\r\n"},
		{"ZADD missing XX INCR 1 a", "$-1\r\n"},
		// GT and LT only update existing members in one direction; new ones are added
		{"ZADD z GT CH 0 a 10 b 2 h", ":2\r\n"},
		{"ZADD z LT CH 0 a 10 b 3 i", ":2\r\n"},
		{"ZADD z XX GT CH 20 e", ":1\r\n"},
		{"ZRANGE z 0 -1 WITHSCORES", "*16\r\n$1\r\na\r\n$1\r\n0\r\n$1\r\nh\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\ni\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nf\r\n$1\r\n8\r\n$1\r\nb\r\n$2\r\n10\r\n$1\r\ne\r\n$2\r\n20\r\n"},
		// INCR
		{"ZADD z INCR 2.5 a", "$3\r\n2.5\r\n"},
		{"ZADD z INCR -inf newm", "$4\r\n-inf\r\n"},
		{"ZADD z NX INCR 1 a", "$-1\r\n"},
		{"ZADD z GT INCR -1 a", "$-1\r\n"},
		{"ZADD z LT INCR -1 a", "$3\r\n1.5\r\n"},
		{"ZADD z XX INCR 1 nosuch", "$-1\r\n"},
		{"ZADD z INCR 0 a", "$3\r\n1.5\r\n"},
		{"ZADD z INCR +inf a", "$3\r\ninf\r\n"},
		{"ZADD z INCR -inf a", "-ERR resulting score is not a number (NaN)\r\n"},
		{"ZSCORE z a", "$3\r\ninf\r\n"},
		{"ZINCRBY z 1 a", "$3\r\ninf\r\n"},
		{"ZINCRBY z -inf a", "-ERR resulting score is not a number (NaN)\r\n"},
		{"ZINCRBY z 1.5 fresh", "$3\r\n1.5\r\n"},
		{"ZINCRBY z abc fresh", "-ERR value is not a valid float\r\n"},
		{"ZINCRBY z NX fresh", "-ERR syntax error\r\n"},
		// errors
		{"ZADD z NX XX 1 a", "-ERR XX and NX options at the same time are not compatible\r\n"},
		{"ZADD z GT LT 1 a", "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"},
		{"ZADD z NX GT 1 a", "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"},
		{"ZADD z NX LT 1 a", "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"},
		{"ZADD z INCR 1 a 2 b", "-ERR INCR option supports a single increment-element pair\r\n"},
		{"ZADD z 1 a 2", "-ERR syntax error\r\n"},
		{"ZADD z abc a", "-ERR value is not a valid float\r\n"},
		{"ZADD z 1 a x b", "-ERR value is not a valid float\r\n"},
		{"ZADD z nan a", "-ERR value is not a valid float\r\n"},
		{"ZADD z 1e400 a", "-ERR value is not a valid float\r\n"},
		{"ZADD z 1e-400 a", "-ERR value is not a valid float\r\n"},
		{[]string{"ZADD", "z", " 1", "a"}, "-ERR value is not a valid float\r\n"},
		{[]string{"ZADD", "z", "1 ", "a"}, "-ERR value is not a valid float\r\n"},
		{[]string{"ZADD", "z", "", "a"}, "-ERR value is not a valid float\r\n"},
		{"ZADD z 1_0 a", "-ERR value is not a valid float\r\n"},
		// accepted spellings
		{"ZADD s inf a -inf b +INF c 0x10 d 1e3 e .5 f -0 g 5. h 0x1.8 i 4.9e-324 j", ":10\r\n"},
		{"ZRANGE s 0 -1 WITHSCORES", "*20\r\n$1\r\nb\r\n$4\r\n-inf\r\n$1\r\ng\r\n$1\r\n0\r\n$1\r\nj\r\n$23\r\n4.9406564584124654e-324\r\n$1\r\nf\r\n$3\r\n0.5\r\n$1\r\ni\r\n$3\r\n1.5\r\n$1\r\nh\r\n$1\r\n5\r\n$1\r\nd\r\n$2\r\n16\r\n$1\r\ne\r\n$4\r\n1000\r\n$1\r\na\r\n$3\r\ninf\r\n$1\r\nc\r\n$3\r\ninf\r\n"},
		{"ZADD s 0.1 k 1.5e300 l 123456789012345678 m", ":3\r\n"},
		{"ZMSCORE s k l m", "*3\r\n$19\r\n0.10000000000000001\r\n$23\r\n1.5000000000000001e+300\r\n$22\r\n1.2345678901234568e+17\r\n"},
	})
}

func TestZRangeSync(t *testing.T) {
	zrunCases(t, New(0), wire.RESP2, []zcase{
		{"ZADD z 1 a 2 b 3 c 4 d 5 e -inf ninf +inf pinf", ":7\r\n"},
		// by rank, negative indexes and clamping
		{"ZRANGE z 0 -1", "*7\r\n$4\r\nninf\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$4\r\npinf\r\n"},
		{"ZRANGE z 2 3 WITHSCORES", "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"},
		{"ZRANGE z -2 -1", "*2\r\n$1\r\ne\r\n$4\r\npinf\r\n"},
		{"ZRANGE z -100 1", "*2\r\n$4\r\nninf\r\n$1\r\na\r\n"},
		{"ZRANGE z 5 100", "*2\r\n$1\r\ne\r\n$4\r\npinf\r\n"},
		{"ZRANGE z 7 100", "*0\r\n"},
		{"ZRANGE z 3 1", "*0\r\n"},
		{"ZRANGE z -1 -2", "*0\r\n"},
		{"ZREVRANGE z 0 1 WITHSCORES", "*4\r\n$4\r\npinf\r\n$3\r\ninf\r\n$1\r\ne\r\n$1\r\n5\r\n"},
		{"ZREVRANGE z -2 -1", "*2\r\n$1\r\na\r\n$4\r\nninf\r\n"},
		{"ZRANGE z 0 2 REV", "*3\r\n$4\r\npinf\r\n$1\r\ne\r\n$1\r\nd\r\n"},
		{"ZRANGE nosuch 0 -1", "*0\r\n"},
		// by score: infinities and exclusive bounds
		{"ZRANGEBYSCORE z -inf +inf", "*7\r\n$4\r\nninf\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$4\r\npinf\r\n"},
		{"ZRANGEBYSCORE z (1 (4", "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"},
		{"ZRANGEBYSCORE z (1 4 WITHSCORES", "*6\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"},
		{"ZRANGEBYSCORE z 2 2", "*1\r\n$1\r\nb\r\n"},
		{"ZRANGEBYSCORE z (2 2", "*0\r\n"},
		{"ZRANGEBYSCORE z 4 2", "*0\r\n"},
		{"ZRANGEBYSCORE z (-inf (+inf", "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"},
		{"ZRANGEBYSCORE z -inf -inf", "*1\r\n$4\r\nninf\r\n"},
		{"ZRANGEBYSCORE z 1e400 +inf", "*1\r\n$4\r\npinf\r\n"},
		{"ZRANGEBYSCORE z -inf +inf LIMIT 1 2", "*2\r\n$1\r\na\r\n$1\r\nb\r\n"},
		{"ZRANGEBYSCORE z -inf +inf LIMIT 6 -1 WITHSCORES", "*2\r\n$4\r\npinf\r\n$3\r\ninf\r\n"},
		{"ZRANGEBYSCORE z -inf +inf LIMIT 7 1", "*0\r\n"},
		{"ZRANGEBYSCORE z -inf +inf LIMIT -1 1", "*0\r\n"},
		{"ZRANGEBYSCORE z -inf +inf LIMIT 0 0", "*0\r\n"},
		{"ZREVRANGEBYSCORE z +inf -inf LIMIT 1 2 WITHSCORES", "*4\r\n$1\r\ne\r\n$1\r\n5\r\n$1\r\nd\r\n$1\r\n4\r\n"},
		{"ZREVRANGEBYSCORE z (5 (1", "*3\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"},
		{"ZREVRANGEBYSCORE z 1 5", "*0\r\n"},
		{"ZRANGE z (1 5 BYSCORE LIMIT 1 2 WITHSCORES", "*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"},
		{"ZRANGE z 5 (1 BYSCORE REV LIMIT 1 2 WITHSCORES", "*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n"},
		{"ZRANGE z 5 (1 BYSCORE REV LIMIT 10 2", "*0\r\n"},
		{"ZRANGE z +inf -inf BYSCORE REV LIMIT 0 1", "*1\r\n$4\r\npinf\r\n"},
		{[]string{"ZRANGEBYSCORE", "z", "", ""}, "*0\r\n"},
		{"ZRANGEBYSCORE z ( +inf", "*6\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$4\r\npinf\r\n"},
		// score range errors
		{"ZRANGEBYSCORE z a 1", "-ERR min or max is not a float\r\n"},
		{"ZRANGEBYSCORE z 1 (x", "-ERR min or max is not a float\r\n"},
		{"ZRANGEBYSCORE z (nan 1", "-ERR min or max is not a float\r\n"},
		{"ZRANGEBYSCORE z 1 2 LIMIT 0", "-ERR syntax error\r\n"},
		{"ZRANGEBYSCORE z 1 2 LIMIT a 1", "-ERR value is not an integer or out of range\r\n"},
		{"ZRANGEBYSCORE z 1 2 WITHSCORES FOO", "-ERR syntax error\r\n"},
		{"ZRANGE z 0 1 LIMIT 0 1", "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"},
		{"ZREVRANGE z 0 1 LIMIT 0 1", "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"},
		{"ZRANGE z a b", "-ERR value is not an integer or out of range\r\n"},
		{"ZRANGE z 0 1 REV REV", "-ERR syntax error\r\n"},
		{"ZRANGE z 0 1 BYSCORE BYLEX", "-ERR syntax error\r\n"},
		// by lex (equal scores)
		{"ZADD l 0 a 0 b 0 c 0 d 0 e 0 f", ":6\r\n"},
		{"ZRANGEBYLEX l - +", "*6\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n"},
		{"ZRANGEBYLEX l [b (e", "*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"},
		{"ZRANGEBYLEX l (b [e", "*3\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"},
		{"ZRANGEBYLEX l [aa [bb", "*1\r\n$1\r\nb\r\n"},
		{"ZRANGEBYLEX l + -", "*0\r\n"},
		{"ZRANGEBYLEX l - + LIMIT 2 2", "*2\r\n$1\r\nc\r\n$1\r\nd\r\n"},
		{"ZRANGEBYLEX l - + LIMIT 2 -1", "*4\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n"},
		{"ZREVRANGEBYLEX l + -", "*6\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"},
		{"ZREVRANGEBYLEX l [e (b LIMIT 1 2", "*2\r\n$1\r\nd\r\n$1\r\nc\r\n"},
		{"ZREVRANGEBYLEX l (b [e", "*0\r\n"},
		{"ZRANGE l [c + BYLEX", "*4\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n"},
		{"ZRANGE l (d - BYLEX REV LIMIT 0 2", "*2\r\n$1\r\nc\r\n$1\r\nb\r\n"},
		{"ZRANGEBYLEX l [c [c", "*1\r\n$1\r\nc\r\n"},
		{"ZRANGEBYLEX l (c [c", "*0\r\n"},
		{"ZRANGEBYLEX l a +", "-ERR min or max not valid string range item\r\n"},
		{"ZRANGEBYLEX l [a +x", "-ERR min or max not valid string range item\r\n"},
		{"ZRANGEBYLEX l - + WITHSCORES", "-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"},
		{"ZRANGE l - + BYLEX WITHSCORES", "-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"},
		{"ZRANGEBYLEX nosuch - +", "*0\r\n"},
		// ZRANGESTORE
		{"ZRANGESTORE dst z 1 3", ":3\r\n"},
		{"ZRANGE dst 0 -1 WITHSCORES", "*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"},
		{"ZRANGESTORE dst z (1 +inf BYSCORE LIMIT 0 2", ":2\r\n"},
		{"ZRANGE dst 0 -1 WITHSCORES", "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"},
		{"ZRANGESTORE dst z +inf -inf BYSCORE REV LIMIT 1 2", ":2\r\n"},
		{"ZRANGE dst 0 -1 WITHSCORES", "*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\ne\r\n$1\r\n5\r\n"},
		{"ZRANGESTORE dst l [b [c BYLEX", ":2\r\n"},
		{"ZRANGE dst 0 -1 WITHSCORES", "*4\r\n$1\r\nb\r\n$1\r\n0\r\n$1\r\nc\r\n$1\r\n0\r\n"},
		{"ZRANGESTORE dst z 10 20", ":0\r\n"},
		{"EXISTS dst", ":0\r\n"},
		{"ZRANGESTORE dst z 0 -1 WITHSCORES", "-ERR syntax error\r\n"},
		{"ZRANGESTORE dst z 0 -1 LIMIT 0 1", "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"},
		{"ZRANGESTORE dst nosuch 0 -1", ":0\r\n"},
		{"SET dst x", "+OK\r\n"},
		{"ZRANGESTORE dst z 0 0", ":1\r\n"},
		{"TYPE dst", "+zset\r\n"},
	})
}

func TestZCountRankScoreSync(t *testing.T) {
	zrunCases(t, New(0), wire.RESP2, []zcase{
		{"ZADD z 1 a 2 b 3 c 4 d 5 e -inf ninf +inf pinf", ":7\r\n"},
		{"ZCARD z", ":7\r\n"},
		{"ZCARD nosuch", ":0\r\n"},
		{"ZCOUNT z -inf +inf", ":7\r\n"},
		{"ZCOUNT z (1 3", ":2\r\n"},
		{"ZCOUNT z (1 (1", ":0\r\n"},
		{"ZCOUNT z 3 1", ":0\r\n"},
		{"ZCOUNT z a 1", "-ERR min or max is not a float\r\n"},
		{"ZCOUNT nosuch 1 2", ":0\r\n"},
		{"ZCOUNT nosuch a 2", "-ERR min or max is not a float\r\n"},
		{"ZADD l 0 a 0 b 0 c 0 d", ":4\r\n"},
		{"ZLEXCOUNT l - +", ":4\r\n"},
		{"ZLEXCOUNT l [b (d", ":2\r\n"},
		{"ZLEXCOUNT l + -", ":0\r\n"},
		{"ZLEXCOUNT l b +", "-ERR min or max not valid string range item\r\n"},
		{"ZLEXCOUNT nosuch - +", ":0\r\n"},
		{"ZRANK z a", ":1\r\n"},
		{"ZRANK z ninf", ":0\r\n"},
		{"ZRANK z pinf", ":6\r\n"},
		{"ZRANK z nosuch", "$-1\r\n"},
		{"ZRANK nosuch a", "$-1\r\n"},
		{"ZREVRANK z a", ":5\r\n"},
		{"ZREVRANK z pinf", ":0\r\n"},
		{"ZREVRANK z nosuch", "$-1\r\n"},
		{"ZSCORE z a", "$1\r\n1\r\n"},
		{"ZSCORE z ninf", "$4\r\n-inf\r\n"},
		{"ZSCORE z nosuch", "$-1\r\n"},
		{"ZSCORE nosuch a", "$-1\r\n"},
		{"ZMSCORE z a nosuch pinf", "*3\r\n$1\r\n1\r\n$-1\r\n$3\r\ninf\r\n"},
		{"ZMSCORE nosuch a b", "*2\r\n$-1\r\n$-1\r\n"},
	})
}

func TestZRemSync(t *testing.T) {
	zrunCases(t, New(0), wire.RESP2, []zcase{
		{"ZADD z 1 a 2 b 3 c 4 d 5 e 6 f", ":6\r\n"},
		{"ZREM z a nosuch b", ":2\r\n"},
		{"ZREM nosuch a", ":0\r\n"},
		{"ZREMRANGEBYRANK z 0 0", ":1\r\n"},
		{"ZREMRANGEBYRANK z -1 -1", ":1\r\n"},
		{"ZREMRANGEBYRANK z 5 10", ":0\r\n"},
		{"ZREMRANGEBYRANK z 2 1", ":0\r\n"},
		{"ZREMRANGEBYRANK z a 1", "-ERR value is not an integer or out of range\r\n"},
		{"ZRANGE z 0 -1", "*2\r\n$1\r\nd\r\n$1\r\ne\r\n"},
		{"ZREMRANGEBYSCORE z (4 5", ":1\r\n"},
		{"ZREMRANGEBYSCORE z x 5", "-ERR min or max is not a float\r\n"},
		{"ZREMRANGEBYSCORE z 10 20", ":0\r\n"},
		{"ZRANGE z 0 -1", "*1\r\n$1\r\nd\r\n"},
		{"ZREM z d", ":1\r\n"},
		{"EXISTS z", ":0\r\n"},
		{"ZADD l 0 a 0 b 0 c 0 d", ":4\r\n"},
		{"ZREMRANGEBYLEX l [b (d", ":2\r\n"},
		{"ZREMRANGEBYLEX l x (d", "-ERR min or max not valid string range item\r\n"},
		{"ZREMRANGEBYLEX l - +", ":2\r\n"},
		{"EXISTS l", ":0\r\n"},
		{"ZREMRANGEBYRANK nosuch 0 -1", ":0\r\n"},
		{"ZREMRANGEBYSCORE nosuch -inf +inf", ":0\r\n"},
		{"ZREMRANGEBYLEX nosuch - +", ":0\r\n"},
		{"ZADD z 1 a 2 b", ":2\r\n"},
		{"ZREMRANGEBYRANK z 0 -1", ":2\r\n"},
		{"EXISTS z", ":0\r\n"},
		{"ZADD z 1 a 2 b", ":2\r\n"},
		{"ZREMRANGEBYSCORE z -inf +inf", ":2\r\n"},
		{"EXISTS z", ":0\r\n"},
	})
}

func TestZPopSync(t *testing.T) {
	zrunCases(t, New(0), wire.RESP2, []zcase{
		{"ZADD z 1 a 2 b 3 c 4 d 5 e", ":5\r\n"},
		{"ZPOPMIN z", "*2\r\n$1\r\na\r\n$1\r\n1\r\n"},
		{"ZPOPMAX z", "*2\r\n$1\r\ne\r\n$1\r\n5\r\n"},
		{"ZPOPMIN z 2", "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"},
		{"ZPOPMAX z 0", "*0\r\n"},
		{"ZPOPMIN z -1", "-ERR value is out of range, must be positive\r\n"},
		{"ZPOPMIN z x", "-ERR value is out of range, must be positive\r\n"},
		{"ZPOPMIN z 1 2", "-ERR syntax error\r\n"},
		{"ZPOPMAX z 10", "*2\r\n$1\r\nd\r\n$1\r\n4\r\n"},
		{"EXISTS z", ":0\r\n"},
		{"ZPOPMIN z", "*0\r\n"},
		{"ZPOPMIN z 3", "*0\r\n"},
		{"ZADD z 1 a 2 b 3 c", ":3\r\n"},
		{"ZADD y 10 x", ":1\r\n"},
		{"ZMPOP 2 nosuch z MIN", "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"},
		{"ZMPOP 2 nosuch z MAX COUNT 10", "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"},
		{"EXISTS z", ":0\r\n"},
		{"ZMPOP 2 nosuch z MIN", "*-1\r\n"},
		{"ZMPOP 1 y max count 1", "*2\r\n$1\r\ny\r\n*1\r\n*2\r\n$1\r\nx\r\n$2\r\n10\r\n"},
		{"ZMPOP 0 z MIN", "-ERR numkeys should be greater than 0\r\n"},
		{"ZMPOP x z MIN", "-ERR numkeys should be greater than 0\r\n"},
		{"ZMPOP 2 z MIN", "-ERR syntax error\r\n"},
		{"ZMPOP 1 z LEFT", "-ERR syntax error\r\n"},
		{"ZMPOP 1 z MIN COUNT", "-ERR syntax error\r\n"},
		{"ZMPOP 1 z MIN COUNT 0", "-ERR count should be greater than 0\r\n"},
		{"ZMPOP 1 z MIN COUNT x", "-ERR count should be greater than 0\r\n"},
		{"ZMPOP 1 z MIN COUNT 1 COUNT 1", "-ERR syntax error\r\n"},
		{"ZMPOP 1 z MIN FOO", "-ERR syntax error\r\n"},
	})
}

func TestZSetAlgebraSync(t *testing.T) {
	zrunCases(t, New(0), wire.RESP2, []zcase{
		{"ZADD a 1 x 2 y 3 z", ":3\r\n"},
		{"ZADD b 10 y 20 z 30 w", ":3\r\n"},
		{"SADD s z w v", ":3\r\n"},
		{"ZUNION 2 a b WITHSCORES", "*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n23\r\n$1\r\nw\r\n$2\r\n30\r\n"},
		{"ZUNION 2 a b WEIGHTS 2 0.5 WITHSCORES", "*8\r\n$1\r\nx\r\n$1\r\n2\r\n$1\r\ny\r\n$1\r\n9\r\n$1\r\nw\r\n$2\r\n15\r\n$1\r\nz\r\n$2\r\n16\r\n"},
		{"ZUNION 2 a b AGGREGATE MIN WITHSCORES", "*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$1\r\n2\r\n$1\r\nz\r\n$1\r\n3\r\n$1\r\nw\r\n$2\r\n30\r\n"},
		{"ZUNION 2 a b AGGREGATE MAX WITHSCORES", "*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n10\r\n$1\r\nz\r\n$2\r\n20\r\n$1\r\nw\r\n$2\r\n30\r\n"},
		{"ZUNION 3 a b s WITHSCORES", "*10\r\n$1\r\nv\r\n$1\r\n1\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n24\r\n$1\r\nw\r\n$2\r\n31\r\n"},
		{"ZUNION 2 a nosuch", "*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n"},
		{"ZINTER 2 a b WITHSCORES", "*4\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n23\r\n"},
		{"ZINTER 2 a b AGGREGATE MAX WEIGHTS 1 -1 WITHSCORES", "*4\r\n$1\r\ny\r\n$1\r\n2\r\n$1\r\nz\r\n$1\r\n3\r\n"},
		{"ZINTER 3 a b s WITHSCORES", "*2\r\n$1\r\nz\r\n$2\r\n24\r\n"},
		{"ZINTER 2 a nosuch", "*0\r\n"},
		{"ZINTERCARD 2 a b", ":2\r\n"},
		{"ZINTERCARD 2 a b LIMIT 1", ":1\r\n"},
		{"ZINTERCARD 2 a b LIMIT 0", ":2\r\n"},
		{"ZINTERCARD 3 a b s", ":1\r\n"},
		{"ZDIFF 2 a b WITHSCORES", "*2\r\n$1\r\nx\r\n$1\r\n1\r\n"},
		{"ZDIFF 2 b s WITHSCORES", "*2\r\n$1\r\ny\r\n$2\r\n10\r\n"},
		{"ZDIFF 2 nosuch a", "*0\r\n"},
		{"ZDIFF 1 a", "*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n"},
		{"ZUNIONSTORE out 2 a b WEIGHTS 1 2", ":4\r\n"},
		{"ZRANGE out 0 -1 WITHSCORES", "*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n22\r\n$1\r\nz\r\n$2\r\n43\r\n$1\r\nw\r\n$2\r\n60\r\n"},
		{"ZINTERSTORE out 2 a b AGGREGATE MIN", ":2\r\n"},
		{"ZRANGE out 0 -1 WITHSCORES", "*4\r\n$1\r\ny\r\n$1\r\n2\r\n$1\r\nz\r\n$1\r\n3\r\n"},
		{"ZDIFFSTORE out 2 a b", ":1\r\n"},
		{"ZRANGE out 0 -1 WITHSCORES", "*2\r\n$1\r\nx\r\n$1\r\n1\r\n"},
		{"ZINTERSTORE out 2 a nosuch", ":0\r\n"},
		{"EXISTS out", ":0\r\n"},
		{"ZUNIONSTORE a 2 a b", ":4\r\n"},
		{"ZRANGE a 0 -1 WITHSCORES", "*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n23\r\n$1\r\nw\r\n$2\r\n30\r\n"},
		// infinities: inf + -inf is 0, and 0 * inf is 0
		{"ZADD p 1 m +inf n", ":2\r\n"},
		{"ZADD q 1 m -inf n", ":2\r\n"},
		{"ZUNION 2 p q WITHSCORES", "*4\r\n$1\r\nn\r\n$1\r\n0\r\n$1\r\nm\r\n$1\r\n2\r\n"},
		{"ZUNION 2 p q WEIGHTS 0 1 WITHSCORES", "*4\r\n$1\r\nn\r\n$4\r\n-inf\r\n$1\r\nm\r\n$1\r\n1\r\n"},
		{"ZINTER 2 p q WITHSCORES", "*4\r\n$1\r\nn\r\n$1\r\n0\r\n$1\r\nm\r\n$1\r\n2\r\n"},
		// errors
		{"ZUNION 0 a", "-ERR at least 1 input key is needed for 'zunion' command\r\n"},
		{"ZUNION -1 a", "-ERR at least 1 input key is needed for 'zunion' command\r\n"},
		{"ZUNION x a", "-ERR value is not an integer or out of range\r\n"},
		{"ZUNIONSTORE out 0 a", "-ERR at least 1 input key is needed for 'zunionstore' command\r\n"},
		{"ZINTERCARD 0 a", "-ERR at least 1 input key is needed for 'zintercard' command\r\n"},
		{"ZUNION 3 a b", "-ERR syntax error\r\n"},
		{"ZUNION 1 a WEIGHTS", "-ERR syntax error\r\n"},
		{"ZUNION 1 a WEIGHTS x", "-ERR weight value is not a float\r\n"},
		{"ZUNION 1 a WEIGHTS 1 2", "-ERR syntax error\r\n"},
		{"ZUNION 1 a AGGREGATE AVG", "-ERR syntax error\r\n"},
		{"ZUNION 1 a AGGREGATE", "-ERR syntax error\r\n"},
		{"ZUNION 1 a FOO", "-ERR syntax error\r\n"},
		{"ZUNIONSTORE out 1 a WITHSCORES", "-ERR syntax error\r\n"},
		{"ZDIFF 1 a WEIGHTS 1", "-ERR syntax error\r\n"},
		{"ZDIFF 1 a AGGREGATE SUM", "-ERR syntax error\r\n"},
		{"ZINTERCARD 1 a WITHSCORES", "-ERR syntax error\r\n"},
		{"ZINTERCARD 1 a LIMIT -1", "-ERR LIMIT can't be negative\r\n"},
		{"ZINTERCARD 1 a LIMIT x", "-ERR LIMIT can't be negative\r\n"},
		{"ZINTERCARD 1 a LIMIT", "-ERR syntax error\r\n"},
		{"SET str x", "+OK\r\n"},
		{"ZUNION 2 a str", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZUNION 2 str a FOO", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZINTERSTORE out 2 a str", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZUNIONSTORE str 1 a", ":4\r\n"},
		{"TYPE str", "+zset\r\n"},
	})
}

func TestZSetWrongTypeSync(t *testing.T) {
	s := New(0)
	s.DB(0).set([]byte("h"), hashOf("f", "v"), false, 0)
	zrunCases(t, s, wire.RESP2, []zcase{
		{"ZADD h 1 a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZADD h x a", "-ERR value is not a valid float\r\n"},
		{"ZINCRBY h 1 a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZCARD h", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZCOUNT h 0 1", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZLEXCOUNT h - +", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZSCORE h a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZMSCORE h a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZRANK h a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZREVRANK h a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZREM h a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZRANGE h 0 -1", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZRANGEBYSCORE h 0 1", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZRANGEBYLEX h - +", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZREVRANGE h 0 -1", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZREVRANGEBYSCORE h 1 0", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZREVRANGEBYLEX h + -", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZRANGESTORE dst h 0 -1", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZREMRANGEBYRANK h 0 -1", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZREMRANGEBYSCORE h 0 1", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZREMRANGEBYLEX h - +", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZPOPMIN h", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZPOPMAX h 2", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZMPOP 1 h MIN", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZRANDMEMBER h", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZRANDMEMBER h 2", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZUNION 1 h", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZINTERSTORE dst 1 h", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZDIFF 1 h", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"ZINTERCARD 1 h", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"EXISTS dst", ":0\r\n"},
	})
}

func TestZSetRESP3Sync(t *testing.T) {
	zrunCases(t, New(0), wire.RESP3, []zcase{
		{"ZADD z 1 a 2.5 b +inf c", ":3\r\n"},
		{"ZRANGE z 0 -1 WITHSCORES", "*3\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n*2\r\n$1\r\nc\r\n,inf\r\n"},
		{"ZRANGE z 0 -1", "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"},
		{"ZRANGEBYSCORE z -inf +inf WITHSCORES LIMIT 1 5", "*2\r\n*2\r\n$1\r\nb\r\n,2.5\r\n*2\r\n$1\r\nc\r\n,inf\r\n"},
		{"ZREVRANGE z 0 0 WITHSCORES", "*1\r\n*2\r\n$1\r\nc\r\n,inf\r\n"},
		{"ZRANGE z 0 -1 BYSCORE REV WITHSCORES", "*0\r\n"},
		{"ZRANGE nosuch 0 -1 WITHSCORES", "*0\r\n"},
		{"ZSCORE z b", ",2.5\r\n"},
		{"ZSCORE z nosuch", "_\r\n"},
		{"ZMSCORE z a nosuch", "*2\r\n,1\r\n_\r\n"},
		{"ZRANK z nosuch", "_\r\n"},
		{"ZINCRBY z 1 a", ",2\r\n"},
		{"ZADD z XX INCR 1 nosuch", "_\r\n"},
		{"ZUNION 1 z WITHSCORES", "*3\r\n*2\r\n$1\r\na\r\n,2\r\n*2\r\n$1\r\nb\r\n,2.5\r\n*2\r\n$1\r\nc\r\n,inf\r\n"},
		{"ZINTER 1 z WITHSCORES", "*3\r\n*2\r\n$1\r\na\r\n,2\r\n*2\r\n$1\r\nb\r\n,2.5\r\n*2\r\n$1\r\nc\r\n,inf\r\n"},
		{"ZDIFF 1 z WITHSCORES", "*3\r\n*2\r\n$1\r\na\r\n,2\r\n*2\r\n$1\r\nb\r\n,2.5\r\n*2\r\n$1\r\nc\r\n,inf\r\n"},
		{"ZPOPMIN z", "*2\r\n$1\r\na\r\n,2\r\n"},
		{"ZPOPMIN z 1", "*1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n"},
		{"ZPOPMAX z 0", "*0\r\n"},
		{"ZPOPMIN nosuch", "*0\r\n"},
		{"ZMPOP 1 z MAX", "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nc\r\n,inf\r\n"},
		{"ZMPOP 1 nosuch MAX", "_\r\n"},
		{"ZADD one 7 m", ":1\r\n"},
		{"ZRANDMEMBER one", "$1\r\nm\r\n"},
		{"ZRANDMEMBER one 1 WITHSCORES", "*1\r\n*2\r\n$1\r\nm\r\n,7\r\n"},
		{"ZRANDMEMBER one 5 WITHSCORES", "*1\r\n*2\r\n$1\r\nm\r\n,7\r\n"},
		{"ZRANDMEMBER one -2 WITHSCORES", "*2\r\n*2\r\n$1\r\nm\r\n,7\r\n*2\r\n$1\r\nm\r\n,7\r\n"},
		{"ZRANDMEMBER one 0", "*0\r\n"},
		{"ZRANDMEMBER nosuch", "_\r\n"},
		{"ZRANDMEMBER nosuch 2", "*0\r\n"},
	})
}

func TestZRandMemberSync(t *testing.T) {
	zrunCases(t, New(0), wire.RESP2, []zcase{
		{"ZADD one 7 m", ":1\r\n"},
		{"ZRANDMEMBER one", "$1\r\nm\r\n"},
		{"ZRANDMEMBER one 1", "*1\r\n$1\r\nm\r\n"},
		{"ZRANDMEMBER one 1 WITHSCORES", "*2\r\n$1\r\nm\r\n$1\r\n7\r\n"},
		{"ZRANDMEMBER one 3 WITHSCORES", "*2\r\n$1\r\nm\r\n$1\r\n7\r\n"},
		{"ZRANDMEMBER one -2", "*2\r\n$1\r\nm\r\n$1\r\nm\r\n"},
		{"ZRANDMEMBER one -2 WITHSCORES", "*4\r\n$1\r\nm\r\n$1\r\n7\r\n$1\r\nm\r\n$1\r\n7\r\n"},
		{"ZRANDMEMBER one 0", "*0\r\n"},
		{"ZRANDMEMBER one 0 WITHSCORES", "*0\r\n"},
		{"ZRANDMEMBER nosuch", "$-1\r\n"},
		{"ZRANDMEMBER nosuch 2", "*0\r\n"},
		{"ZRANDMEMBER one x", "-ERR value is not an integer or out of range\r\n"},
		{"ZRANDMEMBER one 1 FOO", "-ERR syntax error\r\n"},
		{"ZRANDMEMBER one 1 WITHSCORES FOO", "-ERR syntax error\r\n"},
		{"ZRANDMEMBER one -9223372036854775808", "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"},
		{"ZRANDMEMBER one 9223372036854775807 WITHSCORES", "-ERR value is out of range\r\n"},
		{"ZRANDMEMBER one -4611686018427387904 WITHSCORES", "-ERR value is out of range\r\n"},
	})
}

// TestZRandMemberRandom checks the random replies' shapes: distinct
// members for a positive count (both sampling methods), repeats allowed
// for a negative one, and scores that match.
func TestZRandMemberRandom(t *testing.T) {
	s := New(0)
	args := []string{"ZADD", "z"}
	for i := 0; i < 100; i++ {
		args = append(args, strconv.Itoa(i*2), "m"+strconv.Itoa(i))
	}
	zrun(t, s, wire.RESP2, args...)
	z, _ := s.DB(0).get([]byte("z"), 1000)
	for _, tc := range []struct {
		count    int
		distinct bool
		want     int
	}{{10, true, 10}, {60, true, 60}, {99, true, 99}, {100, true, 100}, {500, true, 100}, {-250, false, 250}} {
		for _, withScores := range []bool{false, true} {
			args := []string{"ZRANDMEMBER", "z", strconv.Itoa(tc.count)}
			if withScores {
				args = append(args, "WITHSCORES")
			}
			got := zparseArray(t, zrun(t, s, wire.RESP2, args...))
			step := 1
			if withScores {
				step = 2
			}
			if len(got) != tc.want*step {
				t.Fatalf("%v: %d items, want %d", args, len(got), tc.want*step)
			}
			seen := map[string]bool{}
			for i := 0; i < len(got); i += step {
				score, ok := z.(*ZSet).Score(got[i])
				if !ok {
					t.Fatalf("%v: %q is not a member", args, got[i])
				}
				if withScores && got[i+1] != strconv.FormatFloat(score, 'g', 17, 64) {
					t.Fatalf("%v: %q has score %s, want %v", args, got[i], got[i+1], score)
				}
				if tc.distinct && seen[got[i]] {
					t.Fatalf("%v: %q repeated", args, got[i])
				}
				seen[got[i]] = true
			}
		}
	}
}

// zparseArray reads a flat RESP2 array of bulk strings.
func zparseArray(t *testing.T, r string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r, "\r\n"), "\r\n")
	if !strings.HasPrefix(lines[0], "*") {
		t.Fatalf("not an array: %q", r)
	}
	var out []string
	for i := 2; i < len(lines); i += 2 {
		out = append(out, lines[i])
	}
	return out
}

// TestZSetEncodings follows Redis 7.0's listpack and skiplist choices,
// which OBJECT ENCODING shows and which decide whether -0 survives.
func TestZSetEncodings(t *testing.T) {
	s := New(0)
	enc := func(key string) string {
		v, ok := s.DB(0).get([]byte(key), 1000)
		if !ok {
			return "none"
		}
		return v.(*ZSet).encoding()
	}
	long := strings.Repeat("x", 65)
	many := []string{"ZADD", "big"}
	for i := 0; i < 200; i++ {
		many = append(many, strconv.Itoa(i), "m"+strconv.Itoa(i))
	}
	zrunCases(t, s, wire.RESP2, []zcase{
		{"ZADD small -0 a", ":1\r\n"},
		{"ZSCORE small a", "$1\r\n0\r\n"}, // a listpack stores -0 as 0
		{"ZINCRBY small3 -0 a", "$2\r\n-0\r\n"},
		{"ZSCORE small3 a", "$1\r\n0\r\n"},
		{many, ":200\r\n"},
		{"ZADD big -0 negz", ":1\r\n"},
		{"ZSCORE big negz", "$2\r\n-0\r\n"},
		{"ZRANGESTORE r big 0 2", ":3\r\n"},
		{"ZRANGE r 0 -1 WITHSCORES", "*6\r\n$2\r\nm0\r\n$1\r\n0\r\n$4\r\nnegz\r\n$1\r\n0\r\n$2\r\nm1\r\n$1\r\n1\r\n"},
		{"ZUNIONSTORE u 1 big", ":201\r\n"},
		{"ZSCORE u negz", "$2\r\n-0\r\n"},
		{[]string{"ZADD", "long", "1", long}, ":1\r\n"},
		{[]string{"ZADD", "long2", "1", "a", "2", long}, ":2\r\n"},
		{"ZADD dup 1 a 1 a 1 a", ":1\r\n"},
	})
	for key, want := range map[string]string{"small": "listpack", "big": "skiplist", "r": "listpack",
		"u": "skiplist", "long": "skiplist", "long2": "skiplist", "dup": "listpack"} {
		if got := enc(key); got != want {
			t.Errorf("encoding of %s = %s, want %s", key, got, want)
		}
	}
	// The 129th member converts.
	args := []string{"ZADD", "grow"}
	for i := 0; i < zsetListpackEntries; i++ {
		args = append(args, "1", "m"+strconv.Itoa(i))
	}
	zrun(t, s, wire.RESP2, args...)
	if enc("grow") != "listpack" {
		t.Fatal("128 members must stay a listpack")
	}
	zrun(t, s, wire.RESP2, "ZADD", "grow", "1", "one-more")
	if enc("grow") != "skiplist" {
		t.Fatal("129 members must be a skiplist")
	}
	// Shrinking does not convert back.
	zrun(t, s, wire.RESP2, "ZREMRANGEBYRANK", "grow", "0", "100")
	if enc("grow") != "skiplist" {
		t.Fatal("a shrunk skiplist converted back")
	}
}

// TestZSetSignalsWaiters registers a waiter the way BZPOPMIN would and
// checks that every command adding members serves it.
func TestZSetSignalsWaiters(t *testing.T) {
	for _, tc := range []struct {
		setup []string
		args  []string
		reply string
	}{
		{nil, []string{"ZADD", "k", "1", "a"}, ":1\r\n"},
		{nil, []string{"ZINCRBY", "k", "1", "a"}, "$1\r\n1\r\n"},
		{[]string{"ZADD", "src", "1", "a"}, []string{"ZUNIONSTORE", "k", "1", "src"}, ":1\r\n"},
		{[]string{"ZADD", "src", "1", "a"}, []string{"ZINTERSTORE", "k", "1", "src"}, ":1\r\n"},
		{[]string{"ZADD", "src", "1", "a"}, []string{"ZDIFFSTORE", "k", "1", "src"}, ":1\r\n"},
		{[]string{"ZADD", "src", "1", "a"}, []string{"ZRANGESTORE", "k", "src", "0", "-1"}, ":1\r\n"},
	} {
		s := New(0)
		if tc.setup != nil {
			zrun(t, s, wire.RESP2, tc.setup...)
		}
		w := NewWaiter(0, wire.RESP2, [][]byte{[]byte("k")})
		w.Ready = func(c *Ctx, key []byte) bool {
			_, found, ok := valueAt[*ZSet](c, key)
			return found && ok
		}
		w.Pop = func(c *Ctx, key []byte, w *Waiter) {
			m, sc := c.popZSet(key, false, 1)
			c.Array(2)
			c.BulkString(m[0])
			c.Double(sc[0])
		}
		c := &Ctx{Proto: wire.RESP2, Now: 1000, self: s, Waiter: w}
		c.block()
		if got := zrun(t, s, wire.RESP2, tc.args...); got != tc.reply {
			t.Errorf("%v = %q, want %q", tc.args, got, tc.reply)
		}
		select {
		case wk := <-w.Woken:
			if want := "*2\r\n$1\r\na\r\n$1\r\n1\r\n"; string(wk.Reply) != want {
				t.Errorf("%v: waiter got %q, want %q", tc.args, wk.Reply, want)
			}
		default:
			t.Errorf("%v did not serve the waiter", tc.args)
		}
		if _, found := s.DB(0).get([]byte("k"), 1000); found {
			t.Errorf("%v: the emptied key remains", tc.args)
		}
	}
}

func TestPopZSet(t *testing.T) {
	s := New(0)
	zrun(t, s, wire.RESP2, "ZADD", "k", "1", "a", "2", "b", "3", "c", "-inf", "d")
	c := &Ctx{Proto: wire.RESP2, Now: 1000, self: s}
	m, sc := c.popZSet([]byte("k"), true, 2)
	if !slices.Equal(m, []string{"c", "b"}) || !slices.Equal(sc, []float64{3, 2}) {
		t.Fatalf("popZSet max 2 = %v %v", m, sc)
	}
	m, sc = c.popZSet([]byte("k"), false, 10)
	if !slices.Equal(m, []string{"d", "a"}) || !slices.Equal(sc, []float64{math.Inf(-1), 1}) {
		t.Fatalf("popZSet min 10 = %v %v", m, sc)
	}
	if _, found := s.DB(0).get([]byte("k"), 1000); found {
		t.Fatal("popZSet left the emptied key")
	}
	if m, _ := c.popZSet([]byte("k"), false, 1); m != nil {
		t.Fatalf("popZSet of a missing key = %v", m)
	}
}

func TestZSetKeysOfNumkeysCommands(t *testing.T) {
	for _, tc := range []struct {
		args string
		want []int
	}{
		{"ZUNION 2 a b WITHSCORES", []int{2, 3}},
		{"ZUNION 3 a b", nil},
		{"ZUNION 0 a", nil},
		{"ZUNION x a", nil},
		{"ZINTERCARD 1 a LIMIT 1", []int{2}},
		{"ZMPOP 2 a b MIN", []int{2, 3}},
		{"ZUNIONSTORE d 2 a b WEIGHTS 1 2", []int{1, 3, 4}},
		{"ZDIFFSTORE d 3 a b", nil},
		{"ZRANGESTORE d s 0 -1", []int{1, 2}},
	} {
		args := strings.Fields(tc.args)
		argv := make([][]byte, len(args))
		for i, a := range args {
			argv[i] = []byte(a)
		}
		got := Lookup(strings.ToLower(args[0])).KeyIndexes(argv, nil)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: keys at %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestZSetExpiredKeyIsNew(t *testing.T) {
	s := New(0)
	zrun(t, s, wire.RESP2, "ZADD", "k", "1", "a")
	s.DB(0).setExpire([]byte("k"), 1500)
	b := &Batch{Proto: wire.RESP2, Calls: []Call{{Cmd: Lookup("zadd"), Args: [][]byte{[]byte("ZADD"), []byte("k"), []byte("2"), []byte("b")}}}}
	s.Exec(b, 2000)
	if got := string(b.Reply(0)); got != ":1\r\n" {
		t.Fatalf("ZADD to an expired key = %q", got)
	}
	b = &Batch{Proto: wire.RESP2, Calls: []Call{{Cmd: Lookup("zcard"), Args: [][]byte{[]byte("ZCARD"), []byte("k")}}}}
	s.Exec(b, 2000)
	if got := string(b.Reply(0)); got != ":1\r\n" {
		t.Fatalf("ZCARD after re-creating an expired key = %q", got)
	}
}

// zbenchSet fills key with n members m0..m(n-1) scored by their index.
func zbenchSet(s *Shard, key string, n int) {
	c := Lookup("zadd")
	for i := 0; i < n; i += 1000 {
		args := [][]byte{[]byte("ZADD"), []byte(key)}
		for j := i; j < min(i+1000, n); j++ {
			args = append(args, []byte(strconv.Itoa(j)), []byte("m"+strconv.Itoa(j)))
		}
		s.Exec(&Batch{Proto: wire.RESP2, Calls: []Call{{Cmd: c, Args: args}}}, 0)
	}
}

// zbench runs one call per iteration through Exec, reusing the batch.
func zbench(b *testing.B, s *Shard, next func(i int) [][]byte) {
	c := Lookup(strings.ToLower(string(next(0)[0])))
	batch := &Batch{Proto: wire.RESP2, Calls: make([]Call, 1)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
		batch.Calls[0] = Call{Cmd: c, Args: next(i)}
		s.Exec(batch, 0)
	}
}

// BenchmarkZAddNew adds a new member per call to a growing set with
// random scores: the member's copy is the one allocation that must stay.
func BenchmarkZAddNew(b *testing.B) {
	s := New(0)
	members := make([][]byte, b.N)
	scores := make([][]byte, b.N)
	for i := range members {
		members[i] = []byte("member:" + strconv.Itoa(i))
		scores[i] = []byte(strconv.Itoa(int(uint32(i) * 2654435761 % 1000000)))
	}
	args := [][]byte{[]byte("ZADD"), []byte("z"), nil, nil}
	zbench(b, s, func(i int) [][]byte {
		if i < b.N {
			args[2], args[3] = scores[i], members[i]
		}
		return args
	})
}

// BenchmarkZRank asks the rank of random members of a 100,000-member set.
func BenchmarkZRank(b *testing.B) {
	s := New(0)
	zbenchSet(s, "z", 100000)
	members := make([][]byte, 1024)
	for i := range members {
		members[i] = []byte("m" + strconv.Itoa(i*97%100000))
	}
	args := [][]byte{[]byte("ZRANK"), []byte("z"), nil}
	zbench(b, s, func(i int) [][]byte {
		args[2] = members[i%len(members)]
		return args
	})
}

// BenchmarkZRange10 reads 10 members with scores from the middle of a
// 100,000-member set.
func BenchmarkZRange10(b *testing.B) {
	s := New(0)
	zbenchSet(s, "z", 100000)
	args := [][]byte{[]byte("ZRANGE"), []byte("z"), []byte("50000"), []byte("50009"), []byte("WITHSCORES")}
	zbench(b, s, func(int) [][]byte { return args })
}

// TestZSetHotPathsDoNotAllocate covers reads and score updates of
// existing members.
func TestZSetHotPathsDoNotAllocate(t *testing.T) {
	s := New(0)
	zbenchSet(s, "z", 5000)
	zbenchSet(s, "small", 10)
	for _, cmd := range []string{"ZSCORE z m77", "ZRANK z m4000", "ZRANGE z 100 109 WITHSCORES",
		"ZRANGEBYSCORE z (10 20 LIMIT 2 3", "ZCOUNT z 5 +inf", "ZCARD z", "ZSCORE small m3", "ZMSCORE z m1 m2 x",
		"ZRANGE small - + BYLEX", "ZINCRBY z 1 m77", "ZADD z XX 5 m1 6 m2", "ZINCRBY small 1 m3", "ZREM z nosuch"} {
		args := strings.Fields(cmd)
		argv := make([][]byte, len(args))
		for i, a := range args {
			argv[i] = []byte(a)
		}
		batch := &Batch{Proto: wire.RESP2, Calls: []Call{{Cmd: Lookup(strings.ToLower(args[0])), Args: argv}}}
		s.Exec(batch, 0)
		allocs := testing.AllocsPerRun(100, func() {
			batch.Out, batch.Ends = batch.Out[:0], batch.Ends[:0]
			s.Exec(batch, 0)
		})
		if allocs != 0 {
			t.Errorf("%s allocated %.1f times; want 0", cmd, allocs)
		}
	}
}
