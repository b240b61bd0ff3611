package wire

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// Expected bytes come from redis-server 7.0.15: DEBUG PROTOCOL <type>,
// ZSCORE, BLPOP, SUBSCRIBE and EVAL replies, read raw before and after
// HELLO 3.
func TestAppend(t *testing.T) {
	seq := func(fs ...func([]byte) []byte) []byte {
		var b []byte
		for _, f := range fs {
			b = f(b)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"OK", AppendOK(nil), "+OK\r\n"},
		{"simple", AppendSimple(nil, "PONG"), "+PONG\r\n"},
		{"simple empty", AppendSimple(nil, ""), "+\r\n"},
		// EVAL "return redis.status_reply('a\r\nb\n')" 0
		{"simple with line breaks", AppendSimple(nil, "a\r\nb\n"), "+a  b \r\n"},
		{"error", AppendError(nil, "ERR syntax error"), "-ERR syntax error\r\n"},
		// EVAL "return redis.error_reply('ERR a\nb\rc\r\n')" 0
		{"error with line breaks", AppendError(nil, "ERR a\nb\rc\r\n"), "-ERR a b c\r\n"},
		// EVAL "return redis.error_reply('\r\nERR x\n')" 0
		{"error with leading line break", AppendError(nil, "\r\nERR x\n"), "-  ERR x\r\n"},
		// EVAL "return {err='\nERR a\nb'}" 0 and EVAL "return {err='\r\n'}" 0
		{"error from script table", AppendError(nil, "\nERR a\nb"), "- ERR a b\r\n"},
		{"error only line breaks", AppendError(nil, "\r\n"), "-\r\n"},
		{"int", AppendInt(nil, 12345), ":12345\r\n"},
		{"int zero", AppendInt(nil, 0), ":0\r\n"},
		{"int digits", AppendIntDigits(nil, []byte("-9223372036854775808")), ":-9223372036854775808\r\n"},
		{"int negative", AppendInt(nil, -7), ":-7\r\n"},
		{"int max", AppendInt(nil, math.MaxInt64), ":9223372036854775807\r\n"},
		{"int min", AppendInt(nil, math.MinInt64), ":-9223372036854775808\r\n"},
		{"bulk", AppendBulk(nil, []byte("Hello World")), "$11\r\nHello World\r\n"},
		{"bulk empty", AppendBulk(nil, []byte{}), "$0\r\n\r\n"},
		{"bulk nil", AppendBulk(nil, nil), "$0\r\n\r\n"},
		{"bulk binary", AppendBulk(nil, []byte("a\r\n\x00b")), "$5\r\na\r\n\x00b\r\n"},
		{"bulk string", AppendBulkString(nil, "Hello World"), "$11\r\nHello World\r\n"},
		{"bulk string with CRLF kept", AppendBulkString(nil, "a\r\nb"), "$4\r\na\r\nb\r\n"},
		{"bulk int", AppendBulkInt(nil, 12345), "$5\r\n12345\r\n"},
		{"bulk int min", AppendBulkInt(nil, math.MinInt64), "$20\r\n-9223372036854775808\r\n"},
		{"array", AppendArray(nil, 3), "*3\r\n"},
		{"array empty", AppendArray(nil, 0), "*0\r\n"},
		{"appends to dst", AppendInt([]byte("prefix"), 1), "prefix:1\r\n"},

		// DEBUG PROTOCOL string / integer / array.
		{"debug array", seq(
			func(b []byte) []byte { return AppendArray(b, 3) },
			func(b []byte) []byte { return AppendInt(b, 0) },
			func(b []byte) []byte { return AppendInt(b, 1) },
			func(b []byte) []byte { return AppendInt(b, 2) },
		), "*3\r\n:0\r\n:1\r\n:2\r\n"},

		// DEBUG PROTOCOL null; BLPOP timeout for the null array.
		{"null RESP2", AppendNull(nil, RESP2), "$-1\r\n"},
		{"null RESP3", AppendNull(nil, RESP3), "_\r\n"},
		{"null zero Proto is RESP2", AppendNull(nil, 0), "$-1\r\n"},
		{"null array RESP2", AppendNullArray(nil, RESP2), "*-1\r\n"},
		{"null array RESP3", AppendNullArray(nil, RESP3), "_\r\n"},

		// DEBUG PROTOCOL true / false.
		{"true RESP2", AppendBool(nil, true, RESP2), ":1\r\n"},
		{"false RESP2", AppendBool(nil, false, RESP2), ":0\r\n"},
		{"true RESP3", AppendBool(nil, true, RESP3), "#t\r\n"},
		{"false RESP3", AppendBool(nil, false, RESP3), "#f\r\n"},

		// DEBUG PROTOCOL map: {0: false, 1: true, 2: false}.
		{"debug map RESP2", debugMap(RESP2), "*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n"},
		{"debug map RESP3", debugMap(RESP3), "%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n"},
		{"map empty RESP2", AppendMap(nil, 0, RESP2), "*0\r\n"},

		// DEBUG PROTOCOL set.
		{"debug set RESP2", debugSet(RESP2), "*3\r\n:0\r\n:1\r\n:2\r\n"},
		{"debug set RESP3", debugSet(RESP3), "~3\r\n:0\r\n:1\r\n:2\r\n"},

		// SUBSCRIBE ch, before and after HELLO 3.
		{"subscribe push RESP2", subscribe(RESP2), "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"},
		{"subscribe push RESP3", subscribe(RESP3), ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"},

		// DEBUG PROTOCOL attrib (RESP3 only).
		{"debug attrib", seq(
			func(b []byte) []byte { return AppendAttribute(b, 1) },
			func(b []byte) []byte { return AppendBulkString(b, "key-popularity") },
			func(b []byte) []byte { return AppendArray(b, 2) },
			func(b []byte) []byte { return AppendBulkString(b, "key:123") },
			func(b []byte) []byte { return AppendInt(b, 90) },
			func(b []byte) []byte { return AppendBulkString(b, "Some real reply following the attribute") },
		), "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n$39\r\nSome real reply following the attribute\r\n"},

		// DEBUG PROTOCOL bignum.
		{"bignum RESP2", AppendBigNumber(nil, "1234567999999999999999999999999999999", RESP2),
			"$37\r\n1234567999999999999999999999999999999\r\n"},
		{"bignum RESP3", AppendBigNumber(nil, "1234567999999999999999999999999999999", RESP3),
			"(1234567999999999999999999999999999999\r\n"},
		// A script's big_number may hold line breaks: one line still.
		{"bignum RESP3 line breaks", AppendBigNumber(nil, "1\r\n:4", RESP3), "(1  :4\r\n"},

		// DEBUG PROTOCOL verbatim.
		{"verbatim RESP2", AppendVerbatim(nil, "txt", []byte("This is a verbatim\nstring"), RESP2),
			"$25\r\nThis is a verbatim\nstring\r\n"},
		{"verbatim RESP3", AppendVerbatim(nil, "txt", []byte("This is a verbatim\nstring"), RESP3),
			"=29\r\ntxt:This is a verbatim\nstring\r\n"},
		// addReplyVerbatim pads a short format with spaces and truncates a
		// long one: the type always has exactly three bytes.
		{"verbatim short format", AppendVerbatim(nil, "md", []byte("x"), RESP3), "=5\r\nmd :x\r\n"},
		{"verbatim empty format", AppendVerbatim(nil, "", []byte("x"), RESP3), "=5\r\n   :x\r\n"},
		{"verbatim long format", AppendVerbatim(nil, "markdown", []byte("x"), RESP3), "=5\r\nmar:x\r\n"},
		{"verbatim empty", AppendVerbatim(nil, "txt", nil, RESP3), "=4\r\ntxt:\r\n"},
	} {
		if string(tc.got) != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func debugMap(p Proto) []byte {
	b := AppendMap(nil, 3, p)
	for i := 0; i < 3; i++ {
		b = AppendInt(b, int64(i))
		b = AppendBool(b, i == 1, p)
	}
	return b
}

func debugSet(p Proto) []byte {
	b := AppendSet(nil, 3, p)
	for i := 0; i < 3; i++ {
		b = AppendInt(b, int64(i))
	}
	return b
}

func subscribe(p Proto) []byte {
	b := AppendPush(nil, 3, p)
	b = AppendBulkString(b, "subscribe")
	b = AppendBulkString(b, "ch")
	return AppendInt(b, 1)
}

// The digits are what redis-server 7.0.15 answered to ZADD z <score> m;
// ZSCORE z m (RESP2 bulk, then RESP3 double after HELLO 3), except the
// signed zero and NaNs, which came from EVAL "return {double=...}" 0.
func TestAppendDouble(t *testing.T) {
	negNaN := math.Float64frombits(0xfff8000000000000) // x86's 0/0
	posNaN := math.Float64frombits(0x7ff8000000000000) // -(0/0)
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0.1, "0.10000000000000001"},
		{1e17, "1e+17"},
		{math.Copysign(0, -1), "-0"},
		{0, "0"},
		{math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"},
		{negNaN, "-nan"},
		{posNaN, "nan"},
		{math.NaN(), "nan"},
		{1.5, "1.5"},
		{3, "3"},
		{3.141, "3.141"},
		{1e-5, "1.0000000000000001e-05"},
		{0.0001, "0.0001"},
		{0.000123, "0.00012300000000000001"},
		{123456789012345678, "1.2345678901234568e+17"},
		{12345678901234567, "12345678901234568"},
		{1e16, "10000000000000000"},
		{1e21, "1e+21"},
		{1e300, "1.0000000000000001e+300"},
		{5e-324, "4.9406564584124654e-324"},
		{-1e-320, "-9.9998886718268301e-321"},
		{0.3, "0.29999999999999999"},
		{2.5e-7, "2.4999999999999999e-07"},
		{-1.25, "-1.25"},
		{100, "100"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
	} {
		if got := string(FormatDouble(nil, tc.f)); got != tc.want {
			t.Errorf("FormatDouble(%v) = %q, want %q", tc.f, got, tc.want)
		}
		if got, want := string(AppendDouble(nil, tc.f, RESP3)), ","+tc.want+"\r\n"; got != want {
			t.Errorf("AppendDouble(%v, RESP3) = %q, want %q", tc.f, got, want)
		}
		want := "$" + strconv.Itoa(len(tc.want)) + "\r\n" + tc.want + "\r\n"
		if got := string(AppendDouble(nil, tc.f, RESP2)); got != want {
			t.Errorf("AppendDouble(%v, RESP2) = %q, want %q", tc.f, got, want)
		}
	}
}

// TestAppendErrorNeverBreaksLines checks the invariant behind sanitizing:
// whatever the message, an error or status reply is exactly one line.
func TestAppendErrorNeverBreaksLines(t *testing.T) {
	for _, msg := range []string{"", "\r", "\n", "a\r\nb", "\r\n\r\nx\r\n\r\n", strings.Repeat("\n", 100), "ERR \x00 ok"} {
		for _, b := range [][]byte{AppendError(nil, msg), AppendSimple(nil, msg)} {
			if strings.Index(string(b), "\r\n") != len(b)-2 || strings.IndexByte(string(b[:len(b)-2]), '\n') >= 0 {
				t.Errorf("%q encodes to %q: not a single line", msg, b)
			}
		}
	}
}

func TestAppendAllocs(t *testing.T) {
	buf := make([]byte, 0, 4096)
	val := []byte("some value of moderate length")
	allocs := testing.AllocsPerRun(1000, func() {
		b := buf[:0]
		b = AppendArray(b, 12)
		b = AppendInt(b, 1234567890)
		b = AppendInt(b, -42)
		b = AppendBulk(b, val)
		b = AppendBulkString(b, "key")
		b = AppendBulkInt(b, 987654321)
		b = AppendDouble(b, 3.141, RESP2)
		b = AppendDouble(b, 0.1, RESP3)
		b = AppendNull(b, RESP2)
		b = AppendBool(b, true, RESP3)
		b = AppendMap(b, 2, RESP2)
		b = AppendOK(b)
		b = AppendError(b, "ERR x")
		b = AppendSimple(b, "PONG")
		buf = b[:0]
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per run into a pre-sized buffer, want 0", allocs)
	}
}
