package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// drain parses everything rd yields and returns the commands, copied, and
// the first error other than io.EOF.
func drain(t testing.TB, r *Reader, budget int) ([][]string, error) {
	t.Helper()
	var cmds [][]string
	for fills := 0; ; fills++ {
		for {
			args, err := r.Next()
			if err != nil {
				return cmds, err
			}
			if args == nil {
				break
			}
			cmds = append(cmds, strs(args))
		}
		if fills > budget {
			t.Fatalf("no progress after %d fills; %d commands so far", fills, len(cmds))
		}
		if err := r.Fill(); err != nil {
			if err == io.EOF {
				return cmds, nil
			}
			return cmds, err
		}
	}
}

func parse(t testing.TB, in string, lim Limits) ([][]string, error) {
	t.Helper()
	return drain(t, NewReader(strings.NewReader(in), lim), len(in)+16)
}

func strs(args [][]byte) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = string(a)
	}
	return out
}

func cmds(c ...[]string) [][]string { return c }
func cmd(args ...string) []string   { return args }

// chunkReader returns its input in reads of at most n bytes.
type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := copy(p, c.data[:min(c.n, len(c.data))])
	c.data = c.data[k:]
	return k, nil
}

// partsReader returns each part in its own read (or several, when the
// Reader offers less room).
type partsReader struct{ parts [][]byte }

func (p *partsReader) Read(b []byte) (int, error) {
	for len(p.parts) > 0 && len(p.parts[0]) == 0 {
		p.parts = p.parts[1:]
	}
	if len(p.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.parts[0])
	p.parts[0] = p.parts[0][n:]
	return n, nil
}

type validCase struct {
	name string
	in   string
	want [][]string
	lim  Limits
}

// Inline expectations were obtained from redis-server 7.0.15 by sending
// "RPUSH L <line>" and reading the list back with LRANGE.
var validCases = []validCase{
	{"multibulk ping", "*1\r\n$4\r\nPING\r\n", cmds(cmd("PING")), Limits{}},
	{"multibulk set", "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", cmds(cmd("SET", "key", "value")), Limits{}},
	{"empty bulk", "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", cmds(cmd("ECHO", "")), Limits{}},
	{"binary bulk with CRLF and NUL", "*2\r\n$4\r\nECHO\r\n$6\r\na\r\n\x00\r\n\r\n", cmds(cmd("ECHO", "a\r\n\x00\r\n")), Limits{}},
	{"bulk of CRLFs", "*1\r\n$4\r\n\r\n\r\n\r\n", cmds(cmd("\r\n\r\n")), Limits{}},
	{"high bytes in bulk", "*1\r\n$3\r\n\xff\xfe\x80\r\n", cmds(cmd("\xff\xfe\x80")), Limits{}},
	{"star zero skipped", "*0\r\n*1\r\n$4\r\nPING\r\n", cmds(cmd("PING")), Limits{}},
	{"star minus one skipped", "*-1\r\nPING\r\n", cmds(cmd("PING")), Limits{}},
	{"negative count skipped", "*-5\r\n*-2147483649\r\nPING\r\n", cmds(cmd("PING")), Limits{}},
	// Redis skips the two bytes after a header's '\r' and after bulk data
	// without looking at them.
	{"terminators unchecked", "*1\rX$4\rXPINGab", cmds(cmd("PING")), Limits{}},
	{"data followed by CRLF CRLF", "*2\r\n$4\r\nECHO\r\n$3\r\na\r\n\r\n", cmds(cmd("ECHO", "a\r\n")), Limits{}},
	{"max bulk exactly", "*1\r\n$10\r\n0123456789\r\n", cmds(cmd("0123456789")), Limits{MaxBulk: 10}},
	{"pipeline", strings.Repeat("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 3),
		cmds(cmd("SET", "k", "v"), cmd("GET", "k"), cmd("SET", "k", "v"), cmd("GET", "k"), cmd("SET", "k", "v"), cmd("GET", "k")), Limits{}},
	{"mixed inline and multibulk", "PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nECHO there\n*1\r\n$4\r\nPING\r\n\r\nGET k\r\n",
		cmds(cmd("PING"), cmd("ECHO", "hi"), cmd("ECHO", "there"), cmd("PING"), cmd("GET", "k")), Limits{}},

	{"inline crlf", "PING\r\n", cmds(cmd("PING")), Limits{}},
	{"inline lf", "PING\n", cmds(cmd("PING")), Limits{}},
	{"inline words", "a b c\r\n", cmds(cmd("a", "b", "c")), Limits{}},
	{"inline extra spaces", "  a   b  \r\n", cmds(cmd("a", "b")), Limits{}},
	{"inline tabs", "\ta\tb\t\r\n", cmds(cmd("a", "b")), Limits{}},
	{"inline quotes", "\"hello world\" 'single quoted'\r\n", cmds(cmd("hello world", "single quoted")), Limits{}},
	{"inline hex escapes", "\"a\\x41\\x4a\\xff\\x00z\"\r\n", cmds(cmd("aAJ\xff\x00z")), Limits{}},
	{"inline double-quote escapes", "\"\\n\\r\\t\\b\\a\\\\\\\"\\q\\'\"\r\n", cmds(cmd("\n\r\t\b\a\\\"q'")), Limits{}},
	{"inline single-quote escapes", "'it\\'s' 'a\\nb' 'back\\\\slash' 'q\"q'\r\n", cmds(cmd("it's", "a\\nb", "back\\\\slash", "q\"q")), Limits{}},
	{"inline empty quoted args", "\"\" ''\r\n", cmds(cmd("", "")), Limits{}},
	{"inline quote inside word", "foo\"bar\" a'b c'\r\n", cmds(cmd("foobar", "ab c")), Limits{}},
	{"inline bad hex escapes", "\"\\x4g\" \"\\x\" \"\\xZZ\" \"\\x4\"\r\n", cmds(cmd("x4g", "x", "xZZ", "x4")), Limits{}},
	{"inline vtab and formfeed", "a\vb \v\fc\r\n", cmds(cmd("a\vb", "c")), Limits{}},
	{"inline space after quote", "\"a\"\vb 'c'\fd\r\n", cmds(cmd("a", "b", "c", "d")), Limits{}},
	{"inline bare CR splits", "x\ry\n", cmds(cmd("x", "y")), Limits{}},
	{"inline CR inside quotes", "\"a\rb\"\n", cmds(cmd("a\rb")), Limits{}},
	{"inline CR CR LF", "a\r\r\n", cmds(cmd("a")), Limits{}},
	{"inline backslashes", "\"\\\\\" \"a\\\"b\"\r\n", cmds(cmd("\\", "a\"b")), Limits{}},
	{"inline high bytes", "\xff\xfe \"\x80\"\r\n", cmds(cmd("\xff\xfe", "\x80")), Limits{}},
	{"inline quoted tab separated", "\"a\"\t\"b\"\r\n", cmds(cmd("a", "b")), Limits{}},
	{"inline unquoted backslash", "a\\nb\r\n", cmds(cmd("a\\nb")), Limits{}},
	{"blank lines skipped", "\r\n\n  \t\r\n\r\r\nPING\n", cmds(cmd("PING")), Limits{}},
	{"inline pipeline", "SET a 1\r\nGET a\nDEL a\r\n", cmds(cmd("SET", "a", "1"), cmd("GET", "a"), cmd("DEL", "a")), Limits{}},

	// Line limits. A terminator at index MaxInline is accepted; Redis
	// rejects a line once more than MaxInline bytes are pending without one.
	{"inline at limit", "12345678\n", cmds(cmd("12345678")), Limits{MaxInline: 8}},
	{"inline at limit crlf", "1234567\r\n", cmds(cmd("1234567")), Limits{MaxInline: 8}},
	{"mbulk header at limit", "*-123456\r\nPING\n", cmds(cmd("PING")), Limits{MaxInline: 8}},
	{"inline 64KiB", strings.Repeat("x", 65536) + "\n", cmds(cmd(strings.Repeat("x", 65536))), Limits{}},
	{"inline 64KiB-1 crlf", strings.Repeat("x", 65535) + "\r\n", cmds(cmd(strings.Repeat("x", 65535))), Limits{}},
}

func TestReaderValid(t *testing.T) {
	for _, tc := range validCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse(t, tc.in, tc.lim)
			if err != nil {
				t.Fatalf("error %v; commands so far %q", err, got)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestReaderOneByte feeds every valid case, and all of them pipelined
// together, one byte per read.
func TestReaderOneByte(t *testing.T) {
	var all strings.Builder
	var want [][]string
	for _, tc := range validCases {
		if tc.lim != (Limits{}) {
			continue
		}
		all.WriteString(tc.in)
		want = append(want, tc.want...)
	}
	for _, tc := range append(validCases, validCase{"all", all.String(), want, Limits{}}) {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(iotest.OneByteReader(strings.NewReader(tc.in)), tc.lim)
			got, err := drain(t, r, len(tc.in)+16)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

type errorCase struct {
	name   string
	in     string
	before [][]string // commands parsed before the error
	reply  string     // the error line Redis sends, without '-' and CRLF
	lim    Limits
}

const (
	errMbulk     = "ERR Protocol error: invalid multibulk length"
	errBulk      = "ERR Protocol error: invalid bulk length"
	errQuotes    = "ERR Protocol error: unbalanced quotes in request"
	errBigInline = "ERR Protocol error: too big inline request"
	errBigMbulk  = "ERR Protocol error: too big mbulk count string"
	errBigBulk   = "ERR Protocol error: too big bulk count string"
)

var fill = strings.Repeat("x", 100000)

// Every reply below is what redis-server 7.0.15 answered to the same bytes
// (TestErrorsMatchRedis re-checks them against a live server).
var errorCases = []errorCase{
	{"mbulk not a number", "*abc\r\n", nil, errMbulk, Limits{}},
	{"mbulk above INT_MAX", "*3000000000\r\n", nil, errMbulk, Limits{}},
	{"mbulk INT_MAX+1", "*2147483648\r\n", nil, errMbulk, Limits{}},
	{"mbulk empty", "*\r\n", nil, errMbulk, Limits{}},
	{"mbulk plus sign", "*+1\r\n", nil, errMbulk, Limits{}},
	{"mbulk leading zero", "*01\r\n", nil, errMbulk, Limits{}},
	{"mbulk minus zero", "*-0\r\n", nil, errMbulk, Limits{}},
	{"mbulk space", "* 1\r\n", nil, errMbulk, Limits{}},
	{"mbulk overflows int64", "*99999999999999999999\r\n", nil, errMbulk, Limits{}},
	{"mbulk underflows int64", "*-99999999999999999999\r\n", nil, errMbulk, Limits{}},
	{"mbulk LF only", "*1\n$4\r\nPING\r\n", nil, errMbulk, Limits{}},
	{"expected dollar", "*1\r\nfoo\r\n", nil, "ERR Protocol error: expected '$', got 'f'", Limits{}},
	{"expected dollar got CR", "*1\r\n\r\n", nil, "ERR Protocol error: expected '$', got ' '", Limits{}},
	{"expected dollar got LF", "*1\r\n\n\r\n", nil, "ERR Protocol error: expected '$', got ' '", Limits{}},
	{"expected dollar got 0xff", "*1\r\n\xff\r\n", nil, "ERR Protocol error: expected '$', got '\xff'", Limits{}},
	{"expected dollar got star", "*2\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n", nil, "ERR Protocol error: expected '$', got '*'", Limits{}},
	{"bulk minus one", "*1\r\n$-1\r\n", nil, errBulk, Limits{}},
	{"bulk above proto-max-bulk-len", "*1\r\n$536870913\r\n", nil, errBulk, Limits{}},
	{"bulk empty length", "*1\r\n$\r\n", nil, errBulk, Limits{}},
	{"bulk leading zero", "*1\r\n$04\r\nPING\r\n", nil, errBulk, Limits{}},
	{"bulk plus sign", "*1\r\n$+4\r\nPING\r\n", nil, errBulk, Limits{}},
	{"bulk trailing space", "*1\r\n$4 \r\nPING\r\n", nil, errBulk, Limits{}},
	{"bulk minus zero", "*1\r\n$-0\r\n", nil, errBulk, Limits{}},
	{"bulk int64 overflow", "*1\r\n$9223372036854775808\r\n", nil, errBulk, Limits{}},
	{"bulk int64 min", "*1\r\n$-9223372036854775808\r\n", nil, errBulk, Limits{}},
	{"mbulk header over 64KiB", "*" + fill, nil, errBigMbulk, Limits{}},
	{"mbulk header with NUL", "*1\x00\r\n" + fill, nil, errBigMbulk, Limits{}},
	{"bulk header over 64KiB", "*1\r\n$" + fill, nil, errBigBulk, Limits{}},
	{"bulk header over 64KiB without dollar", "*1\r\n" + fill, nil, errBigBulk, Limits{}},
	{"bulk header with NUL", "PING\r\n*1\r\n$4\x00\r\n" + fill, cmds(cmd("PING")), errBigBulk, Limits{}},
	// Past the bytes scan checks one by one (shortLine).
	{"mbulk header with late NUL", "*" + strings.Repeat("0", 40) + "1\x00\r\n" + fill, nil, errBigMbulk, Limits{}},
	{"long mbulk header", "*" + strings.Repeat("0", 40) + "1\r\n$4\r\nPING\r\n", nil, errMbulk, Limits{}},
	{"inline over 64KiB", fill, nil, errBigInline, Limits{}},
	{"inline over 64KiB with CRLF", fill + "\r\n", nil, errBigInline, Limits{}},
	{"inline with NUL", "PING\x00" + fill, nil, errBigInline, Limits{}},
	{"quote followed by text", "\"foo\"bar\r\n", nil, errQuotes, Limits{}},
	{"unterminated double quote", "\"foo\r\n", nil, errQuotes, Limits{}},
	{"unterminated single quote", "'foo\r\n", nil, errQuotes, Limits{}},
	{"single quote followed by text", "echo 'a'b\r\n", nil, errQuotes, Limits{}},
	{"trailing backslash in quotes", "echo \"abc\\\r\n", nil, errQuotes, Limits{}},
	{"quote closes mid word", "echo a\"b c\"d\r\n", nil, errQuotes, Limits{}},
	{"backslash quote unquoted", "a\\nb \\\"\r\n", nil, errQuotes, Limits{}},
	{"second quote mid word", "a\"b\"c\"d e\"\r\n", nil, errQuotes, Limits{}},
	{"escaped backslash before single quote", "'a\\\\'\r\n", nil, errQuotes, Limits{}},
	{"pipeline then bad mbulk", "PING\r\n*abc\r\nPING\r\n", cmds(cmd("PING")), errMbulk, Limits{}},
	{"pipeline then bad bulk", "*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n", cmds(cmd("PING")), errBulk, Limits{}},

	// Limits other than the defaults.
	{"bulk above MaxBulk", "*1\r\n$11\r\n0123456789a\r\n", nil, errBulk, Limits{MaxBulk: 10}},
	{"inline past limit", "123456789\n", nil, errBigInline, Limits{MaxInline: 8}},
	{"inline past limit crlf", "12345678\r\n", nil, errBigInline, Limits{MaxInline: 8}},
	{"mbulk header past limit", "*-1234567\r\n", nil, errBigMbulk, Limits{MaxInline: 8}},
	{"bulk header at limit", "*1\r\n$-123456\r\n", nil, errBulk, Limits{MaxInline: 8}},
	{"bulk header past limit", "*1\r\n$-1234567\r\n", nil, errBigBulk, Limits{MaxInline: 8}},
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, split := range []string{"whole", "one byte"} {
				var src io.Reader = strings.NewReader(tc.in)
				if split == "one byte" {
					if len(tc.in) > 1000 {
						// Redis answers the same when the bytes trickle in;
						// check with reads of a few bytes to keep it quick.
						src = &chunkReader{data: []byte(tc.in), n: 7}
					} else {
						src = iotest.OneByteReader(src)
					}
				}
				r := NewReader(src, tc.lim)
				got, err := drain(t, r, len(tc.in)+16)
				var pe ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("%s: got error %v (commands %q), want ProtocolError %q", split, err, got, tc.reply)
				}
				if pe.Reply() != tc.reply {
					t.Fatalf("%s: reply %q, want %q", split, pe.Reply(), tc.reply)
				}
				if !reflect.DeepEqual(got, tc.before) {
					t.Fatalf("%s: commands before the error %q, want %q", split, got, tc.before)
				}
				// The error is final.
				if args, err2 := r.Next(); args != nil || err2 != err {
					t.Fatalf("%s: Next after error = %q, %v; want nil, %v", split, args, err2, err)
				}
			}
		})
	}
}

// incompleteCases are inputs on which redis-server keeps waiting for more
// bytes: no command, no error.
var incompleteCases = []struct {
	name   string
	in     string
	before [][]string
}{
	{"bulk without CRLF", "*1\r\nfoo", nil},
	{"header CR only", "*1\r", nil},
	{"INT_MAX args", "*2147483647\r\n", nil},
	{"max bulk announced", "*1\r\n$536870912\r\n", nil},
	{"data one byte short", "*1\r\n$4\r\nPING\r", nil},
	{"inline without LF", "PING\r", nil},
	{"inline NUL before CRLF", "PING\x00\r\nPING\r\n", nil},
	{"inline NUL in quotes", "echo \"a\x00b\"\n", nil},
	{"mbulk header NUL", "*1\x00\r\n", nil},
	{"bulk header NUL", "PING\r\n*1\r\n$4\x00\r\nPING\r\n", cmds(cmd("PING"))},
	{"NUL where dollar expected", "*1\r\n\x00\r\n", nil},
	{"inline just under limit", strings.Repeat("x", 65536), nil},
}

func TestReaderIncomplete(t *testing.T) {
	for _, tc := range incompleteCases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), Limits{})
			got, err := drain(t, r, len(tc.in)+16)
			if err != nil {
				t.Fatalf("error %v, want none", err)
			}
			if !reflect.DeepEqual(got, tc.before) {
				t.Fatalf("got %q, want %q", got, tc.before)
			}
			if r.Buffered() == 0 {
				t.Fatalf("Buffered() = 0, want the incomplete request kept")
			}
		})
	}
}

// TestReaderLimitsBeforeAllocation checks that announced sizes do not turn
// into allocations: only received bytes do.
func TestReaderLimitsBeforeAllocation(t *testing.T) {
	const budget = 4 << 20
	measure := func(t *testing.T, src io.Reader) uint64 {
		t.Helper()
		r := NewReader(src, Limits{})
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got, err := drain(t, r, 1<<20)
		runtime.ReadMemStats(&after)
		if err != nil || got != nil {
			t.Fatalf("got %q, %v; want an incomplete request", got, err)
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	t.Run("2e9 arguments announced", func(t *testing.T) {
		if n := measure(t, strings.NewReader("*2000000000\r\n")); n > budget {
			t.Fatalf("allocated %d bytes", n)
		}
	})
	t.Run("2e9 arguments, some sent", func(t *testing.T) {
		in := "*2000000000\r\n" + strings.Repeat("$1\r\na\r\n", 10000)
		if n := measure(t, strings.NewReader(in)); n > budget {
			t.Fatalf("allocated %d bytes for %d input bytes", n, len(in))
		}
	})
	t.Run("512MiB bulk announced", func(t *testing.T) {
		if n := measure(t, strings.NewReader("*1\r\n$536870912\r\n")); n > budget {
			t.Fatalf("allocated %d bytes", n)
		}
	})
	t.Run("512MiB bulk, 1MiB sent", func(t *testing.T) {
		in := "*2\r\n$3\r\nSET\r\n$536870912\r\n" + strings.Repeat("v", 1<<20)
		if n := measure(t, &chunkReader{data: []byte(in), n: 4096}); n > 2*budget {
			t.Fatalf("allocated %d bytes for %d input bytes", n, len(in))
		}
	})
}

func TestReaderBigBulk(t *testing.T) {
	const size = 10 << 20
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i*7 + i>>13)
	}
	var in bytes.Buffer
	in.WriteString("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$10485760\r\n")
	in.Write(payload)
	in.WriteString("\r\n*1\r\n$4\r\nPING\r\nECHO after\r\n")

	for _, chunk := range []int{65521, 1 << 20, 3} {
		if chunk == 3 && testing.Short() {
			continue
		}
		r := NewReader(&chunkReader{data: in.Bytes(), n: chunk}, Limits{})
		var got [][]byte
		var maxBuf int
		for {
			args, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if args != nil {
				got = append(got, bytes.Clone(bytes.Join(args, []byte{' '})))
				continue
			}
			maxBuf = max(maxBuf, len(r.buf))
			if err := r.Fill(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if len(got) != 3 {
			t.Fatalf("chunk %d: got %d commands, want 3", chunk, len(got))
		}
		want := append([]byte("SET big "), payload...)
		if !bytes.Equal(got[0], want) {
			t.Fatalf("chunk %d: big bulk corrupted", chunk)
		}
		if string(got[1]) != "PING" || string(got[2]) != "ECHO after" {
			t.Fatalf("chunk %d: commands after the bulk: %q %q", chunk, got[1], got[2])
		}
		if maxBuf < size || maxBuf > 2*size {
			t.Fatalf("chunk %d: buffer peaked at %d bytes for a %d-byte bulk", chunk, maxBuf, size)
		}
		if len(r.buf) != initialBuf {
			t.Fatalf("chunk %d: buffer is %d bytes after the bulk, want it shrunk to %d", chunk, len(r.buf), initialBuf)
		}
	}
}

// TestReaderShrinkKeepsPending checks that shrinking after a large request
// keeps a pipelined partial command intact.
func TestReaderShrinkKeepsPending(t *testing.T) {
	big := strings.Repeat("z", 300000)
	parts := [][]byte{
		[]byte("*2\r\n$4\r\nECHO\r\n$300000\r\n" + big + "\r\n*2\r\n$4\r\nECHO\r\n$5\r\nhel"),
		[]byte("lo\r\n"),
	}
	r := NewReader(&partsReader{parts: parts}, Limits{})
	got, err := drain(t, r, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cmds(cmd("ECHO", big), cmd("ECHO", "hello"))) {
		t.Fatalf("got %d commands, second %q", len(got), got[len(got)-1])
	}
	if len(r.buf) != initialBuf {
		t.Fatalf("buffer is %d bytes, want %d", len(r.buf), initialBuf)
	}
}

// TestReaderArgsValidUntilFill checks that arguments returned by successive
// Next calls do not overwrite each other before Fill.
func TestReaderArgsValidUntilFill(t *testing.T) {
	in := "SET a \"x\\x41\"\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\nECHO 'q'\r\n"
	r := NewReader(strings.NewReader(in), Limits{})
	if err := r.Fill(); err != nil {
		t.Fatal(err)
	}
	var all [][][]byte
	for {
		args, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if args == nil {
			break
		}
		all = append(all, args)
	}
	var got [][]string
	for _, a := range all {
		got = append(got, strs(a))
	}
	want := cmds(cmd("SET", "a", "xA"), cmd("GET", "b"), cmd("ECHO", "q"))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Appending to a returned argument list must not clobber the next one.
	_ = append(all[0], []byte("extra"))
	if string(all[1][0]) != "GET" {
		t.Fatalf("argv arena shared capacity: %q", all[1][0])
	}
}

func TestReaderSetMaxBulk(t *testing.T) {
	r := NewReader(strings.NewReader("*1\r\n$5\r\nhello\r\n"), Limits{})
	r.SetMaxBulk(4)
	if _, err := drain(t, r, 10); err == nil || err.(ProtocolError).Reply() != errBulk {
		t.Fatalf("got %v, want %q", err, errBulk)
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("PING\r\nPI"), iotest.ErrReader(boom)), Limits{})
	got, err := drain(t, r, 10)
	if err != boom {
		t.Fatalf("got error %v, want boom", err)
	}
	if !reflect.DeepEqual(got, cmds(cmd("PING"))) {
		t.Fatalf("got %q", got)
	}
	if err := r.Fill(); err != boom {
		t.Fatalf("second Fill: %v, want the sticky error", err)
	}
}

func TestParseInt(t *testing.T) {
	for _, tc := range []struct {
		in string
		n  int64
		ok bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"-1", -1, true}, {"123", 123, true},
		{"9223372036854775807", 1<<63 - 1, true}, {"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false}, {"-9223372036854775809", 0, false},
		{"18446744073709551616", 0, false}, {"99999999999999999999", 0, false},
		{"", 0, false}, {"-", 0, false}, {"+1", 0, false}, {"01", 0, false}, {"-0", 0, false},
		{"00", 0, false}, {" 1", 0, false}, {"1 ", 0, false}, {"1a", 0, false}, {"0x10", 0, false},
		{"-01", 0, false}, {"000000000000000000001", 0, false},
		{"18446744073709551615", 0, false}, {"9999999999999999999", 0, false},
		{"1000000000000000000", 1e18, true}, {"-999999999999999999", -999999999999999999, true},
	} {
		n, ok := ParseInt([]byte(tc.in))
		if n != tc.n || ok != tc.ok {
			t.Errorf("ParseInt(%q) = %d, %v; want %d, %v", tc.in, n, ok, tc.n, tc.ok)
		}
	}
}

// cycleReader serves data over and over, one copy per Read when it fits.
type cycleReader struct {
	data []byte
	off  int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	n := copy(p, c.data[c.off:])
	c.off = (c.off + n) % len(c.data)
	return n, nil
}

func pipeline(n int, cmd string) []byte {
	return bytes.Repeat([]byte(cmd), n)
}

func TestReaderSteadyStateAllocs(t *testing.T) {
	for _, tc := range []struct{ name, cmd string }{
		{"multibulk", "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"},
		{"inline", "SET key value\r\n"},
		{"inline quoted", "SET \"k\\x65y\" 'value'\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(&cycleReader{data: pipeline(100, tc.cmd)}, Limits{})
			bad := 0
			run := func() {
				if err := r.Fill(); err != nil {
					t.Fatal(err)
				}
				n := 0
				for {
					args, err := r.Next()
					if err != nil {
						t.Fatal(err)
					}
					if args == nil {
						break
					}
					if len(args) != 3 || string(args[2]) != "value" {
						bad++
					}
					n++
				}
				if n != 100 {
					bad++
				}
			}
			for i := 0; i < 10; i++ {
				run() // warm up the arenas
			}
			if allocs := testing.AllocsPerRun(200, run); allocs != 0 {
				t.Fatalf("%.2f allocations per 100 commands, want 0", allocs)
			}
			if bad != 0 {
				t.Fatalf("%d bad batches", bad)
			}
		})
	}
}

// TestErrorsMatchRedis replays the tables against a live redis-server when
// VALKYRIE_REDIS_ADDR (e.g. 127.0.0.1:16499) is set.
func TestErrorsMatchRedis(t *testing.T) {
	addr := os.Getenv("VALKYRIE_REDIS_ADDR")
	if addr == "" {
		t.Skip("VALKYRIE_REDIS_ADDR not set")
	}
	ask := func(t *testing.T, in string) (lines []string, closed bool) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(in)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		br := bufio.NewReader(c)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				var ne net.Error
				return lines, !(errors.As(err, &ne) && ne.Timeout())
			}
			lines = append(lines, strings.TrimSuffix(l, "\r\n"))
		}
	}
	// Valid cases: Redis must answer one reply per command and keep the
	// connection. A single inline line is also replayed as the arguments
	// of RPUSH to compare the arguments Redis saw with the table.
	for _, tc := range validCases {
		if tc.lim != (Limits{}) || len(tc.in) > 60000 {
			continue
		}
		t.Run("valid/"+tc.name, func(t *testing.T) {
			replies, closed := askReplies(t, addr, tc.in)
			if closed || len(replies) != len(tc.want) {
				t.Fatalf("redis answered %q (closed %v), want %d replies", replies, closed, len(tc.want))
			}
			if tc.in[0] == '*' || strings.IndexByte(tc.in, '\n') != len(tc.in)-1 || len(tc.want) != 1 {
				return
			}
			replies, _ = askReplies(t, addr, "DEL L\r\nRPUSH L "+tc.in+"LRANGE L 0 -1\r\n")
			want := strings.Join(tc.want[0], "\x00|")
			if len(replies) != 3 || replies[2] != want {
				t.Fatalf("redis stored %q, table says %q", replies, want)
			}
		})
	}
	for _, tc := range errorCases {
		if tc.lim != (Limits{}) {
			continue
		}
		t.Run("error/"+tc.name, func(t *testing.T) {
			lines, closed := ask(t, tc.in)
			if !closed || len(lines) == 0 || lines[len(lines)-1] != "-"+tc.reply {
				t.Fatalf("redis answered %q (closed %v), table says %q", lines, closed, tc.reply)
			}
		})
	}
	for _, tc := range incompleteCases {
		t.Run("incomplete/"+tc.name, func(t *testing.T) {
			lines, closed := ask(t, tc.in)
			if closed || len(lines) != len(tc.before) {
				t.Fatalf("redis answered %q (closed %v), want it waiting", lines, closed)
			}
		})
	}
}

// askReplies sends in to a live server and returns its replies, each
// flattened to a string (array elements joined by "\x00|"), and whether
// the server closed the connection.
func askReplies(t *testing.T, addr, in string) ([]string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(in)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	br := bufio.NewReader(c)
	var out []string
	for {
		s, err := readReply(br)
		if err != nil {
			var ne net.Error
			return out, !(errors.As(err, &ne) && ne.Timeout())
		}
		out = append(out, s)
	}
}

func readReply(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply line")
	}
	n, _ := ParseInt([]byte(line[1:]))
	switch line[0] {
	case '$':
		if n < 0 {
			return "(nil)", nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	case '*':
		parts := make([]string, 0, max(n, 0))
		for i := int64(0); i < n; i++ {
			p, err := readReply(br)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\x00|"), nil
	}
	return line, nil
}

// TestReaderShrinksMediumBuffer checks that a buffer grown for a request
// below keepBuf goes back to initialBuf once small requests follow.
func TestReaderShrinksMediumBuffer(t *testing.T) {
	val := strings.Repeat("m", 100000)
	parts := [][]byte{[]byte("*2\r\n$4\r\nECHO\r\n$100000\r\n" + val + "\r\n")}
	for i := 0; i < 3*shrinkWindow; i++ {
		parts = append(parts, []byte("PING\r\n"))
	}
	r := NewReader(&partsReader{parts: parts}, Limits{})
	grown := false
	for fills := 0; fills < 1000; fills++ {
		for {
			args, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if args == nil {
				break
			}
		}
		grown = grown || len(r.buf) > 100000
		if r.Fill() == io.EOF {
			break
		}
	}
	if !grown {
		t.Fatal("buffer never grew to hold the request")
	}
	if len(r.buf) != initialBuf {
		t.Fatalf("buffer is %d bytes after %d small requests, want %d", len(r.buf), 3*shrinkWindow, initialBuf)
	}
}

// TestReaderKeepsBufferForLargeValues checks that one 64 KiB value after
// another, each arriving in a single read, reuses the grown buffer.
func TestReaderKeepsBufferForLargeValues(t *testing.T) {
	val := strings.Repeat("v", 64<<10)
	r := NewReader(&cycleReader{data: []byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$65536\r\n" + val + "\r\n")}, Limits{})
	bad := 0
	one := func() {
		for {
			args, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if args != nil {
				if len(args) != 3 || len(args[2]) != 64<<10 {
					bad++
				}
				return
			}
			if err := r.Fill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < 3*shrinkWindow; i++ {
		one()
	}
	if allocs := testing.AllocsPerRun(100, one); allocs != 0 {
		t.Fatalf("%.2f allocations per 64 KiB request, want 0", allocs)
	}
	if bad != 0 {
		t.Fatalf("%d bad commands", bad)
	}
}

// TestReaderQueryLimit checks client-query-buffer-limit: once more than
// MaxQuery unparsed bytes are held, Fill fails for good, and the buffer
// never grew much past the limit to find out. A bulk that fits is fine.
func TestReaderQueryLimit(t *testing.T) {
	const limit = 1 << 20
	var in bytes.Buffer
	in.WriteString("*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n")
	in.Write(bytes.Repeat([]byte{'x'}, 3000000))
	in.WriteString("\r\n")
	for _, chunk := range []int{4096, 1 << 20, 8 << 20} {
		r := NewReader(&chunkReader{data: in.Bytes(), n: chunk}, Limits{MaxQuery: limit})
		var cmds, maxBuf int
		var err error
		for {
			var args [][]byte
			if args, err = r.Next(); err != nil {
				t.Fatal(err)
			}
			if args != nil {
				cmds++
				continue
			}
			maxBuf = max(maxBuf, len(r.buf))
			if err = r.Fill(); err != nil {
				break
			}
		}
		if err != ErrQueryBufferLimit || cmds != 1 {
			t.Fatalf("chunk %d: %d commands then %v, want 1 then ErrQueryBufferLimit", chunk, cmds, err)
		}
		if maxBuf > limit+1 {
			t.Fatalf("chunk %d: buffer grew to %d bytes with a limit of %d", chunk, maxBuf, limit)
		}
		if err := r.Fill(); err != ErrQueryBufferLimit {
			t.Fatalf("chunk %d: Fill after the limit = %v, want it sticky", chunk, err)
		}
	}

	r := NewReader(&chunkReader{data: in.Bytes(), n: 1 << 16}, Limits{MaxQuery: 4 << 20})
	cmds := 0
	for {
		args, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if args != nil {
			cmds++
			continue
		}
		if err := r.Fill(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if cmds != 2 {
		t.Fatalf("under the limit: %d commands, want 2", cmds)
	}
}

// TestReaderDropsHugeArgOffsets checks that the per-argument offsets of a
// multibulk with many arguments are not kept for the next command.
func TestReaderDropsHugeArgOffsets(t *testing.T) {
	const n = 100000
	var in bytes.Buffer
	in.WriteString("*100000\r\n")
	for i := 0; i < n; i++ {
		in.WriteString("$1\r\na\r\n")
	}
	in.WriteString("*1\r\n$4\r\nPING\r\n")
	r := NewReader(&chunkReader{data: in.Bytes(), n: 1 << 16}, Limits{})
	var got []int
	for {
		args, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if args != nil {
			got = append(got, len(args))
			continue
		}
		if err := r.Fill(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0] != n || got[1] != 1 {
		t.Fatalf("got commands of %v args, want [%d 1]", got, n)
	}
	if cap(r.offs) > 2*maxArgvHint {
		t.Fatalf("offsets kept with capacity %d after the big command", cap(r.offs))
	}
}

// TestReaderWholePipelinePerRead checks that a pipeline larger than the
// initial buffer (16 SETs of 1 KiB, as redis-benchmark -d 1024 -P 16 sends)
// is read whole once the buffer has grown, so that it runs as one segment
// instead of two, as Redis reads it with one read(2).
func TestReaderWholePipelinePerRead(t *testing.T) {
	val := strings.Repeat("v", 1024)
	one := "*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$1024\r\n" + val + "\r\n"
	pipe := pipeline(16, one)
	if len(pipe) <= initialBuf {
		t.Fatalf("pipeline of %d bytes fits the initial buffer", len(pipe))
	}
	const rounds = 20
	parts := make([][]byte, rounds)
	for i := range parts {
		parts[i] = bytes.Clone(pipe)
	}
	r := NewReader(&partsReader{parts: parts}, Limits{})
	var perFill []int
	for {
		if r.Fill() == io.EOF {
			break
		}
		n := 0
		for {
			args, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if args == nil {
				break
			}
			if len(args) != 3 || len(args[2]) != 1024 {
				t.Fatalf("bad command %q", args)
			}
			n++
		}
		perFill = append(perFill, n)
	}
	total := 0
	for _, n := range perFill {
		total += n
	}
	if total != 16*rounds {
		t.Fatalf("%d commands, want %d", total, 16*rounds)
	}
	// The first pipeline fills the initial buffer; every later one must
	// come in a single read.
	if len(perFill) > rounds+1 {
		t.Fatalf("%d reads for %d pipelines, want at most %d; commands per read: %v",
			len(perFill), rounds, rounds+1, perFill)
	}
	if len(r.buf) > 2*initialBuf {
		t.Fatalf("buffer grew to %d bytes for %d-byte pipelines", len(r.buf), len(pipe))
	}
}

// TestReaderQueryLimitCountsUnparsed checks that client-query-buffer-limit
// bounds the bytes not yet parsed, as Redis's query buffer does: a
// multibulk whose arguments are each under the limit passes, however large
// all of them together (Redis accepts MSET of three 600 KB values with a
// 1 MB limit; the Reader used to close the client).
func TestReaderQueryLimitCountsUnparsed(t *testing.T) {
	const limit = 1 << 20
	val := bytes.Repeat([]byte{'x'}, 600000)
	var in bytes.Buffer
	in.WriteString("*7\r\n$4\r\nMSET\r\n")
	for i := 0; i < 3; i++ {
		in.WriteString("$2\r\nk" + string(rune('0'+i)) + "\r\n$600000\r\n")
		in.Write(val)
		in.WriteString("\r\n")
	}
	in.WriteString("*1\r\n$4\r\nPING\r\n")
	for _, chunk := range []int{4096, 1 << 16, 1 << 20, 8 << 20} {
		r := NewReader(&chunkReader{data: in.Bytes(), n: chunk}, Limits{MaxQuery: limit})
		var got []int
		for {
			args, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if args != nil {
				got = append(got, len(args))
				continue
			}
			if err := r.Fill(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("chunk %d: Fill: %v after %v", chunk, err, got)
			}
		}
		if len(got) != 2 || got[0] != 7 || got[1] != 1 {
			t.Fatalf("chunk %d: commands of %v arguments, want [7 1]", chunk, got)
		}
	}
}

// TestReaderRelease checks that Release gives back a buffer a burst grew
// and the arenas, only while nothing is pending, and that the Reader then
// goes on parsing.
func TestReaderRelease(t *testing.T) {
	cmd := "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$100\r\n" + strings.Repeat("x", 100) + "\r\n"
	in := strings.Repeat(cmd, 3000) + "*1\r\n$4\r\nPI"
	r := NewReader(&partsReader{parts: [][]byte{[]byte(in), []byte("NG\r\n")}}, Limits{})
	cmds := 0
	for cmds < 3000 {
		args, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if args == nil {
			if err := r.Fill(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		cmds++
	}
	for r.Buffered() < len("*1\r\n$4\r\nPI") {
		if args, _ := r.Next(); args != nil {
			t.Fatal("PING complete too early")
		}
		if err := r.Fill(); err != nil {
			t.Fatal(err)
		}
	}
	if r.Release() != 0 {
		t.Fatal("Release dropped a buffer holding a partial command")
	}
	if err := r.Fill(); err != nil {
		t.Fatal(err)
	}
	if args, err := r.Next(); err != nil || len(args) != 1 || string(args[0]) != "PING" {
		t.Fatalf("Next = %q, %v", args, err)
	}
	held := r.Held()
	if n := r.Release(); n != held || r.Size() != 0 {
		t.Fatalf("Release freed %d of %d bytes, buffer %d", n, held, r.Size())
	}
	// A released Reader allocates its initial buffer on the next Fill.
	r.rd = &partsReader{parts: [][]byte{[]byte("*1\r\n$4\r\nPING\r\n")}}
	if err := r.Fill(); err != nil {
		t.Fatal(err)
	}
	if args, err := r.Next(); err != nil || len(args) != 1 || string(args[0]) != "PING" || r.Size() != initialBuf {
		t.Fatalf("after Release: Next = %q, %v; buffer %d", args, err, r.Size())
	}
}

// TestReaderQueryFigures checks what CLIENT LIST shows of a Reader: the
// unparsed bytes, the finished arguments of a command still arriving, and
// the bytes since the last Fill.
func TestReaderQueryFigures(t *testing.T) {
	r := NewReader(&partsReader{parts: [][]byte{
		[]byte("*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc"),
	}}, Limits{})
	if err := r.Fill(); err != nil {
		t.Fatal(err)
	}
	args, err := r.Next()
	if err != nil || len(args) != 1 {
		t.Fatalf("Next = %q, %v", args, err)
	}
	if got, want := r.SinceFill(), 14+28; got != want {
		t.Fatalf("SinceFill = %d, want %d", got, want)
	}
	if args, err := r.Next(); args != nil || err != nil {
		t.Fatalf("Next = %q, %v; want the SET incomplete", args, err)
	}
	// Redis's qbuf: "abc" is all that is not parsed; SET and k are argv.
	if r.Unparsed() != 3 || r.ArgBytes() != 4 || r.Buffered() != 28 || r.Size() != initialBuf {
		t.Fatalf("Unparsed %d ArgBytes %d Buffered %d Size %d, want 3 4 28 %d",
			r.Unparsed(), r.ArgBytes(), r.Buffered(), r.Size(), initialBuf)
	}
}

// TestReaderQueryLimitBoundsLongMultibulk: a multibulk that never ends,
// made of small arguments, each parsed at once, must not grow the Reader
// without bound: past the limit plus one largest bulk, the client is
// closed.
func TestReaderQueryLimitBoundsLongMultibulk(t *testing.T) {
	const limit = 1 << 20
	var in bytes.Buffer
	in.WriteString("*2147483647\r\n")
	for in.Len() < 3*limit {
		in.WriteString("$1\r\na\r\n")
	}
	r := NewReader(&chunkReader{data: in.Bytes(), n: 1 << 16}, Limits{MaxQuery: limit, MaxBulk: limit})
	for {
		args, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if args != nil {
			t.Fatal("a command came out of an endless multibulk")
		}
		if err := r.Fill(); err == ErrQueryBufferLimit {
			break
		} else if err != nil {
			t.Fatalf("Fill = %v after %d bytes, want ErrQueryBufferLimit", err, r.Buffered())
		}
	}
	if r.Buffered() > 2*limit+1<<16 {
		t.Fatalf("closed only after %d bytes", r.Buffered())
	}
}
