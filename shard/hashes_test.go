package shard

import (
	"strconv"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

func TestHashCommandsSync(t *testing.T) {
	s := New(0)
	wrong := kvErr(ErrWrongType)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"SET", "str", "v"}, kvOK},
		{[]string{"HSET", "h", "a", "1", "b"}, kvErr("ERR wrong number of arguments for 'hset' command")},
		{[]string{"HMSET", "h", "a", "1", "b"}, kvErr("ERR wrong number of arguments for 'hmset' command")},
		{[]string{"EXISTS", "h"}, kvZero},
		{[]string{"HSET", "h", "a", "1", "b", "2"}, ":2\r\n"},
		{[]string{"HSET", "h", "a", "10", "c", "3", "c", "4"}, kvOne},
		{[]string{"HMSET", "h", "d", "5"}, kvOK},
		{[]string{"HGET", "h", "a"}, kvBulk("10")},
		{[]string{"HGET", "h", "c"}, kvBulk("4")},
		{[]string{"HGET", "h", "nope"}, kvNil},
		{[]string{"HGET", "nokey", "a"}, kvNil},
		{[]string{"HMGET", "h", "a", "nope", "b"}, "*3\r\n" + kvBulk("10") + kvNil + kvBulk("2")},
		{[]string{"HMGET", "nokey", "a", "b"}, "*2\r\n" + kvNil + kvNil},
		{[]string{"HLEN", "h"}, ":4\r\n"},
		{[]string{"HLEN", "nokey"}, kvZero},
		{[]string{"HEXISTS", "h", "a"}, kvOne},
		{[]string{"HEXISTS", "h", "z"}, kvZero},
		{[]string{"HEXISTS", "nokey", "a"}, kvZero},
		{[]string{"HSTRLEN", "h", "a"}, ":2\r\n"},
		{[]string{"HSTRLEN", "h", "z"}, kvZero},
		{[]string{"HSTRLEN", "nokey", "a"}, kvZero},
		{[]string{"HSETNX", "h", "a", "x"}, kvZero},
		{[]string{"HSETNX", "h", "e", "x"}, kvOne},
		{[]string{"HSETNX", "new", "f", "v"}, kvOne},
		{[]string{"HGET", "h", "e"}, kvBulk("x")},
		{[]string{"HKEYS", "h"}, "~sorted a b c d e"},
		{[]string{"HVALS", "h"}, "~sorted 10 2 4 5 x"},
		{[]string{"HKEYS", "nokey"}, "*0\r\n"},
		{[]string{"HVALS", "nokey"}, "*0\r\n"},
		{[]string{"HGETALL", "new"}, "*2\r\n" + kvBulk("f") + kvBulk("v")},
		{[]string{"HGETALL", "nokey"}, "*0\r\n"},
		{[]string{"HDEL", "h", "a", "b", "nope", "a"}, ":2\r\n"},
		{[]string{"HDEL", "nokey", "a"}, kvZero},
		{[]string{"HDEL", "h", "c", "d", "e"}, ":3\r\n"},
		{[]string{"EXISTS", "h"}, kvZero}, // an emptied hash is deleted
		{[]string{"HDEL", "new", "f"}, kvOne},
		{[]string{"EXISTS", "new"}, kvZero},
		// Binary-safe fields and values.
		{[]string{"HSET", "bin", "f\x00\r\n", "v\x00"}, kvOne},
		{[]string{"HGET", "bin", "f\x00\r\n"}, kvBulk("v\x00")},
		// Every command checks the type.
		{[]string{"HSET", "str", "f", "v"}, wrong},
		{[]string{"HMSET", "str", "f", "v"}, wrong},
		{[]string{"HSETNX", "str", "f", "v"}, wrong},
		{[]string{"HGET", "str", "f"}, wrong},
		{[]string{"HMGET", "str", "f"}, wrong},
		{[]string{"HDEL", "str", "f"}, wrong},
		{[]string{"HLEN", "str"}, wrong},
		{[]string{"HEXISTS", "str", "f"}, wrong},
		{[]string{"HSTRLEN", "str", "f"}, wrong},
		{[]string{"HKEYS", "str"}, wrong},
		{[]string{"HVALS", "str"}, wrong},
		{[]string{"HGETALL", "str"}, wrong},
		{[]string{"HINCRBY", "str", "f", "1"}, wrong},
		{[]string{"HINCRBYFLOAT", "str", "f", "1"}, wrong},
		{[]string{"HRANDFIELD", "str"}, wrong},
		{[]string{"HRANDFIELD", "str", "0"}, wrong},
		{[]string{"GET", "str"}, kvBulk("v")},
	})
}

func TestHashTTLKept(t *testing.T) {
	s := New(0)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"HSET", "h", "a", "1"}, kvOne},
		{[]string{"PEXPIRE", "h", "100"}, kvOne},
		{[]string{"HSET", "h", "b", "2"}, kvOne},
		{[]string{"HINCRBY", "h", "a", "1"}, ":2\r\n"},
		{[]string{"PTTL", "h"}, ":100\r\n"},
	})
	kvScript(t, s, 1100, []kvStep{
		{[]string{"HGET", "h", "a"}, kvNil},
		{[]string{"HSETNX", "h", "a", "x"}, kvOne},
		{[]string{"PTTL", "h"}, ":-1\r\n"},
	})
}

func TestHGetAllRESP3(t *testing.T) {
	s := New(0)
	kvExec(t, s, 0, wire.RESP3, 0, "HSET", "h", "f", "v")
	if got := kvExec(t, s, 0, wire.RESP3, 0, "HGETALL", "h"); got != "%1\r\n$1\r\nf\r\n$1\r\nv\r\n" {
		t.Fatalf("HGETALL RESP3 = %q", got)
	}
	if got := kvExec(t, s, 0, wire.RESP3, 0, "HGETALL", "nokey"); got != "%0\r\n" {
		t.Fatalf("HGETALL RESP3 missing = %q", got)
	}
	if got := kvExec(t, s, 0, wire.RESP3, 0, "HGET", "h", "nope"); got != "_\r\n" {
		t.Fatalf("HGET RESP3 missing = %q", got)
	}
	kvExec(t, s, 0, wire.RESP3, 0, "HSET", "h", "g", "w", "h", "x")
	got := kvExec(t, s, 0, wire.RESP3, 0, "HGETALL", "h")
	if !strings.HasPrefix(got, "%3\r\n") {
		t.Fatalf("HGETALL RESP3 = %q", got)
	}
	pairs := map[string]string{}
	lines := strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n")[1:]
	for i := 0; i+3 < len(lines); i += 4 {
		pairs[lines[i+1]] = lines[i+3]
	}
	if len(pairs) != 3 || pairs["f"] != "v" || pairs["g"] != "w" || pairs["h"] != "x" {
		t.Fatalf("HGETALL RESP3 pairs = %v from %q", pairs, got)
	}
}

func TestHIncrBy(t *testing.T) {
	s := New(0)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"HINCRBY", "h", "a", "x"}, kvErr(ErrNotInt)},
		{[]string{"HINCRBY", "h", "a", "1.5"}, kvErr(ErrNotInt)},
		{[]string{"EXISTS", "h"}, kvZero},
		{[]string{"HINCRBY", "h", "a", "5"}, ":5\r\n"},
		{[]string{"HINCRBY", "h", "a", "-7"}, ":-2\r\n"},
		{[]string{"HGET", "h", "a"}, kvBulk("-2")},
		{[]string{"HSET", "h", "c", "9223372036854775804"}, kvOne},
		{[]string{"HINCRBY", "h", "c", "9223372036854775807"}, kvErr(ErrOverflow)},
		{[]string{"HINCRBY", "h", "c", "3"}, ":9223372036854775807\r\n"},
		{[]string{"HINCRBY", "h", "c", "1"}, kvErr(ErrOverflow)},
		{[]string{"HSET", "h", "m", "-9223372036854775807"}, kvOne},
		{[]string{"HINCRBY", "h", "m", "-1"}, ":-9223372036854775808\r\n"},
		{[]string{"HINCRBY", "h", "m", "-1"}, kvErr(ErrOverflow)},
		{[]string{"HSET", "h", "f", "foo", "sp", " 1", "z", "01"}, ":3\r\n"},
		{[]string{"HINCRBY", "h", "f", "1"}, kvErr("ERR hash value is not an integer")},
		{[]string{"HINCRBY", "h", "sp", "1"}, kvErr("ERR hash value is not an integer")},
		{[]string{"HINCRBY", "h", "z", "1"}, kvErr("ERR hash value is not an integer")},
	})
}

func TestHIncrByFloat(t *testing.T) {
	s := New(0)
	e400 := "10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880"
	kvScript(t, s, 1000, []kvStep{
		// Replies recorded from redis-server 7.0.15 on x86-64.
		{[]string{"HINCRBYFLOAT", "h", "g", "0.1"}, kvBulk("0.1")},
		{[]string{"HINCRBYFLOAT", "h", "g", "0.2"}, kvBulk("0.3")},
		{[]string{"HINCRBYFLOAT", "h", "z", "10.5"}, kvBulk("10.5")},
		{[]string{"HINCRBYFLOAT", "h", "z", "0.1"}, kvBulk("10.6")},
		{[]string{"HINCRBYFLOAT", "h", "x", "1e400"}, kvBulk(e400)},
		{[]string{"HGET", "h", "x"}, kvBulk(e400)},
		{[]string{"HINCRBYFLOAT", "h", "w", "-1e-20"}, kvBulk("0")},
		{[]string{"HINCRBYFLOAT", "h", "w2", "5.0e3"}, kvBulk("5000")},
		{[]string{"HINCRBYFLOAT", "h", "w3", "0x1p3"}, kvBulk("8")},
		{[]string{"HINCRBYFLOAT", "h", "w4", ".5"}, kvBulk("0.5")},
		{[]string{"HINCRBYFLOAT", "h", "w5", "5."}, kvBulk("5")},
		{[]string{"HINCRBYFLOAT", "h", "w6", "+5"}, kvBulk("5")},
		{[]string{"HINCRBYFLOAT", "h", "w7", "0x1.8"}, kvBulk("1.5")},
		{[]string{"HINCRBYFLOAT", "h", "w8", "1e-4950"}, kvBulk("0")},
		{[]string{"HINCRBYFLOAT", "h", "y", "0x10"}, kvBulk("16")},
		{[]string{"HINCRBYFLOAT", "h", "y", "-16"}, kvBulk("0")},
		{[]string{"HINCRBYFLOAT", "h", "i", "3"}, kvBulk("3")},
		{[]string{"HINCRBY", "h", "i", "2"}, ":5\r\n"},
		{[]string{"HINCRBYFLOAT", "h", "i", "1.25"}, kvBulk("6.25")},
		{[]string{"HINCRBYFLOAT", "h", "y", "inf"}, kvErr("ERR value is NaN or Infinity")},
		{[]string{"HINCRBYFLOAT", "h", "y", "-Infinity"}, kvErr("ERR value is NaN or Infinity")},
		{[]string{"HINCRBYFLOAT", "h", "y", "nan"}, kvErr(ErrNotFloat)},
		{[]string{"HINCRBYFLOAT", "h", "y", "abc"}, kvErr(ErrNotFloat)},
		{[]string{"HINCRBYFLOAT", "h", "y", "1_0"}, kvErr(ErrNotFloat)},
		{[]string{"HINCRBYFLOAT", "h", "y", " 1"}, kvErr(ErrNotFloat)},
		{[]string{"HINCRBYFLOAT", "h", "y", "1 "}, kvErr(ErrNotFloat)},
		{[]string{"HINCRBYFLOAT", "h", "y", "1e"}, kvErr(ErrNotFloat)},
		{[]string{"HINCRBYFLOAT", "h", "y", ""}, kvErr(ErrNotFloat)},
		{[]string{"HINCRBYFLOAT", "h", "y", "0b1"}, kvErr(ErrNotFloat)},
		{[]string{"HINCRBYFLOAT", "h", "y", "0x"}, kvErr(ErrNotFloat)},
		{[]string{"HINCRBYFLOAT", "h", "y", "1e-5000"}, kvErr(ErrNotFloat)},
		{[]string{"HINCRBYFLOAT", "h", "y", "1e5000"}, kvErr(ErrNotFloat)},
		{[]string{"HSET", "h", "f", "foo", "inf", "inf"}, ":2\r\n"},
		{[]string{"HINCRBYFLOAT", "h", "f", "1"}, kvErr("ERR hash value is not a float")},
		{[]string{"HINCRBYFLOAT", "h", "inf", "1"}, kvErr("ERR increment would produce NaN or Infinity")},
		{[]string{"HINCRBYFLOAT", "nokey", "f", "x"}, kvErr(ErrNotFloat)},
		{[]string{"EXISTS", "nokey"}, kvZero},
	})
	// Long doubles reach far beyond float64, up to about 1.19e4932.
	big := kvExec(t, s, 0, wire.RESP2, 1000, "HINCRBYFLOAT", "h", "big", "1e4932")
	if !strings.HasPrefix(big, "$4933\r\n1000000000000000000006018949387963891323837774254533114773785041") {
		t.Fatalf("HINCRBYFLOAT 1e4932 = %.80q", big)
	}
	if got := kvExec(t, s, 0, wire.RESP2, 1000, "HINCRBYFLOAT", "h", "big", "1e4932"); got != kvErr("ERR increment would produce NaN or Infinity") {
		t.Fatalf("HINCRBYFLOAT past the long double range = %q", got)
	}
}

func TestHRandField(t *testing.T) {
	s := New(0)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"HRANDFIELD", "nokey"}, kvNil},
		{[]string{"HRANDFIELD", "nokey", "5"}, "*0\r\n"},
		{[]string{"HRANDFIELD", "nokey", "-5", "WITHVALUES"}, "*0\r\n"},
		{[]string{"HSET", "one", "f", "v"}, kvOne},
		{[]string{"HRANDFIELD", "one"}, kvBulk("f")},
		{[]string{"HRANDFIELD", "one", "0"}, "*0\r\n"},
		{[]string{"HRANDFIELD", "one", "1"}, "*1\r\n" + kvBulk("f")},
		{[]string{"HRANDFIELD", "one", "5"}, "*1\r\n" + kvBulk("f")},
		{[]string{"HRANDFIELD", "one", "-3"}, "*3\r\n" + kvBulk("f") + kvBulk("f") + kvBulk("f")},
		{[]string{"HRANDFIELD", "one", "1", "withvalues"}, "*2\r\n" + kvBulk("f") + kvBulk("v")},
		{[]string{"HRANDFIELD", "one", "-2", "WITHVALUES"}, "*4\r\n" + kvBulk("f") + kvBulk("v") + kvBulk("f") + kvBulk("v")},
		{[]string{"HRANDFIELD", "one", "x"}, kvErr(ErrNotInt)},
		{[]string{"HRANDFIELD", "one", "-9223372036854775808"}, kvErr(ErrCountRange)},
		{[]string{"HRANDFIELD", "one", "5", "foo"}, kvErr(ErrSyntax)},
		{[]string{"HRANDFIELD", "one", "5", "withvalues", "x"}, kvErr(ErrSyntax)},
		{[]string{"HRANDFIELD", "one", "4611686018427387904", "withvalues"}, kvErr("ERR value is out of range")},
		{[]string{"HRANDFIELD", "one", "-4611686018427387904", "withvalues"}, kvErr("ERR value is out of range")},
		{[]string{"HRANDFIELD", "one", "4611686018427387903", "withvalues"}, "*2\r\n" + kvBulk("f") + kvBulk("v")},
		{[]string{"HRANDFIELD", "one", "9223372036854775807"}, "*1\r\n" + kvBulk("f")},
	})
	// RESP3 nests each field-value pair.
	if got := kvExec(t, s, 0, wire.RESP3, 1000, "HRANDFIELD", "one", "-2", "WITHVALUES"); got != "*2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n" {
		t.Fatalf("HRANDFIELD RESP3 WITHVALUES = %q", got)
	}
	if got := kvExec(t, s, 0, wire.RESP3, 1000, "HRANDFIELD", "nokey"); got != "_\r\n" {
		t.Fatalf("HRANDFIELD RESP3 missing = %q", got)
	}

	// A bigger hash: distinct fields for positive counts, all of them for
	// counts at least the size, repeats allowed for negative counts.
	args := []string{"HSET", "h"}
	for i := 0; i < 200; i++ {
		args = append(args, "f"+strconv.Itoa(i), "v"+strconv.Itoa(i))
	}
	kvExec(t, s, 0, wire.RESP2, 1000, args...)
	for _, n := range []int{1, 2, 10, 66, 150, 199, 200, 500} {
		got := kvMembers(t, kvExec(t, s, 0, wire.RESP2, 1000, "HRANDFIELD", "h", strconv.Itoa(n)))
		if want := min(n, 200); len(got) != want {
			t.Fatalf("HRANDFIELD h %d: %d fields", n, len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i] == got[i-1] {
				t.Fatalf("HRANDFIELD h %d repeated %q", n, got[i])
			}
		}
	}
	got := kvMembers(t, kvExec(t, s, 0, wire.RESP2, 1000, "HRANDFIELD", "h", "-1000"))
	if len(got) != 1000 {
		t.Fatalf("HRANDFIELD h -1000: %d fields", len(got))
	}
	seen := map[string]bool{}
	for _, f := range got {
		seen[f] = true
	}
	if len(seen) < 100 {
		t.Fatalf("HRANDFIELD h -1000 saw only %d distinct fields", len(seen))
	}
	// WITHVALUES pairs each field with its own value.
	raw := kvExec(t, s, 0, wire.RESP2, 1000, "HRANDFIELD", "h", "30", "WITHVALUES")
	lines := strings.Split(strings.TrimSuffix(raw, "\r\n"), "\r\n")
	if lines[0] != "*60" {
		t.Fatalf("HRANDFIELD h 30 WITHVALUES header %q", lines[0])
	}
	for i := 1; i+3 < len(lines); i += 4 {
		if f, v := lines[i+1], lines[i+3]; "v"+f[1:] != v {
			t.Fatalf("field %q came with value %q", f, v)
		}
	}
}

func TestLongDouble(t *testing.T) {
	for _, tc := range []struct {
		in         string
		want       string // formatted value; "" for invalid, "inf" for infinite
		isInf, bad bool
	}{
		{in: "0.1", want: "0.1"},
		{in: "-0", want: "0"},
		{in: "010", want: "10"},
		{in: "1.5e3", want: "1500"},
		{in: "1E3", want: "1000"},
		{in: "-0x1P-2", want: "-0.25"},
		{in: "0X.8", want: "0.5"},
		{in: "123456789012345678901234567890", want: "123456789012345678899921813504"}, // 64-bit mantissa
		{in: "0.000000000000000001", want: "0"},
		{in: "0.00000000000000001", want: "0.00000000000000001"},
		{in: "INF", isInf: true},
		{in: "-inFinity", isInf: true},
		{in: "+inf", isInf: true},
		{in: "infin", bad: true},
		{in: "nan", bad: true},
		{in: "1e+", bad: true},
		{in: "1e+5", want: "100000"},
		{in: ".", bad: true},
		{in: "-", bad: true},
		{in: "--1", bad: true},
		{in: "0x1p", bad: true},
		{in: "0xg", bad: true},
		{in: "1.2.3", bad: true},
		{in: "0o7", bad: true},
		{in: "1e99999999999", bad: true},
		{in: "1e-99999999999", bad: true},
		{in: "0e-99999999999", want: "0"},
		{in: strings.Repeat("1", 5120), bad: true},
	} {
		f, inf, ok := parseLongDouble([]byte(tc.in))
		switch {
		case tc.bad:
			if ok {
				t.Errorf("%q: accepted, want rejected", tc.in)
			}
		case tc.isInf:
			if !ok || !inf {
				t.Errorf("%q: ok=%v inf=%v, want infinity", tc.in, ok, inf)
			}
		case !ok || inf:
			t.Errorf("%q: ok=%v inf=%v, want %s", tc.in, ok, inf, tc.want)
		default:
			if got := formatLongDouble(f); got != tc.want {
				t.Errorf("%q: formatted %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}
