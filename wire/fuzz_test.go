package wire

import (
	"bytes"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// outcome is everything observable about parsing a stream to its end.
type outcome struct {
	cmds     [][]string
	err      string // ProtocolError reply, "" when none
	buffered int    // bytes kept for an incomplete request (no error only)
}

func run(t testing.TB, src io.Reader, cfg fuzzConfig, budget int) outcome {
	t.Helper()
	r := NewReader(src, cfg.lim)
	r.SetUnauthenticated(cfg.unauth)
	var o outcome
	for fills := 0; ; {
		args, err := r.Next()
		if err != nil {
			var pe ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("Next returned %T %v", err, err)
			}
			o.err = pe.Reply()
			return o
		}
		if args != nil {
			if len(args) == 0 {
				t.Fatalf("Next returned an empty command")
			}
			o.cmds = append(o.cmds, strs(args))
			continue
		}
		if fills++; fills > budget {
			t.Fatalf("no progress after %d fills", fills)
		}
		if err := r.Fill(); err == io.EOF {
			o.buffered = r.Buffered()
			return o
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// fuzzConfig is a set of limits and whether the client has yet to
// authenticate (requirepass set), which caps counts at 10 and bulks at 16384.
type fuzzConfig struct {
	lim    Limits
	unauth bool
}

// fuzzConfigs are the defaults and tiny limits, so that short fuzz inputs
// also reach the size checks, and the defaults for a client that has not
// authenticated yet.
var fuzzConfigs = []fuzzConfig{
	{},
	{lim: Limits{MaxBulk: 20, MaxInline: 12}},
	{lim: Limits{MaxBulk: math.MaxInt64, MaxInline: math.MaxInt}},
	{unauth: true},
}

func FuzzReader(f *testing.F) {
	for _, tc := range validCases {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in), uint(len(tc.in)/2))
		}
	}
	for _, tc := range errorCases {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in), uint(len(tc.in)/3))
		}
	}
	for _, tc := range incompleteCases {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in), uint(1))
		}
	}
	for _, s := range fuzzRegressions {
		f.Add([]byte(s), uint(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint) {
		cut := int(split % uint(len(data)+1))
		for _, cfg := range fuzzConfigs {
			whole := run(t, bytes.NewReader(data), cfg, len(data)+16)
			parts := &partsReader{parts: [][]byte{
				bytes.Clone(data[:cut]), bytes.Clone(data[cut:]),
			}}
			two := run(t, parts, cfg, len(data)+16)
			if !reflect.DeepEqual(whole, two) {
				t.Fatalf("config %+v, split at %d:\nwhole %+v\ntwo   %+v", cfg, cut, whole, two)
			}
			if len(data) > 2048 {
				continue
			}
			one := run(t, iotest.OneByteReader(bytes.NewReader(data)), cfg, len(data)+16)
			if !reflect.DeepEqual(whole, one) {
				t.Fatalf("config %+v, one byte per read:\nwhole %+v\none   %+v", cfg, whole, one)
			}
			ref := refParse(data, cfg)
			if !reflect.DeepEqual(whole.cmds, ref.cmds) || whole.err != ref.err {
				t.Fatalf("config %+v: differs from the Redis model:\nreader %+v\nmodel  %+v", cfg, whole, ref)
			}
		}
	})
}

// fuzzRegressions are edge cases worth keeping as seeds, hand-picked or
// found by the fuzzer (they also run as a table in TestReaderRegressions).
var fuzzRegressions = []string{
	"*1\r\n$3\r\nfoo\r",                   // bulk data one terminator byte short
	"*1\r\n$0\r\n",                        // empty bulk waiting for its CRLF
	"*1\r\n\r\n",                          // empty bulk header line: used to panic
	"*-123456789\r\n",                     // header CR exactly at the tiny limit
	"\"\\x4",                              // hex escape cut by the end of input
	"*1\r\n$1\r\n\x00\r\n\x00",            // NUL as data, then as a request
	"12345678901\r\n*1\r\n$2\r\nab\r\n",   // inline just within the tiny limit
	"*2\r\n$20\r\n01234567890123456789\r", // bulk of exactly the tiny MaxBulk
	"*1\r\n$9223372036854775807\r\nabc",   // bulkLen+2 overflows: used to panic
	"*1\r\n$9223372036854775806\r\n\r\n",
	"*1\r\n$01\r\na\r\n",                // leading zero: not headerInt's
	"*01\r\n$1\r\na\r\n",                // the same in a count
	"*1\r\n$00\r\n\r\n",                 // two zeros
	"*1\r\n$123456789012345678\r\nab",   // 18 digits: headerInt's last
	"*1\r\n$1234567890123456789\r\nab",  // 19 digits: ParseInt's
	"*1\r\n$123456789012\r\n",           // CR past the tiny MaxInline
	"*10\r\n",                           // most arguments before AUTH
	"*11\r\n",                           // one too many before AUTH
	"*1\r\n$16384\r\n",                  // longest bulk before AUTH
	"*1\r\n$16385\r\n",                  // one byte too long before AUTH
	"*-1\r\n*0\r\n*1\r\n$4\r\nPING\r\n", // null and empty counts are skipped
}

func TestReaderRegressions(t *testing.T) {
	for _, s := range fuzzRegressions {
		for _, cfg := range fuzzConfigs {
			got := run(t, strings.NewReader(s), cfg, len(s)+16)
			want := refParse([]byte(s), cfg)
			if !reflect.DeepEqual(got.cmds, want.cmds) || got.err != want.err {
				t.Errorf("%q config %+v:\nreader %+v\nmodel  %+v", s, cfg, got, want)
			}
		}
	}
}

// refParse is an independent model of Redis 7.0's processInputBuffer,
// processMultibulkBuffer, processInlineBuffer and sdssplitargs, written
// from their C source, run as if the client sent one byte at a time. It
// is slow (quadratic) and only meant as a test oracle.
func refParse(data []byte, cfg fuzzConfig) outcome {
	lim := cfg.lim
	if lim.MaxBulk <= 0 {
		lim.MaxBulk = DefaultMaxBulk
	}
	if lim.MaxInline <= 0 {
		lim.MaxInline = DefaultMaxInline
	}
	c := &refClient{lim: lim, unauth: cfg.unauth, bulklen: -1}
	for i := range data {
		c.qb = data[:i+1]
		c.processInputBuffer()
		if c.err != "" {
			break
		}
	}
	return outcome{cmds: c.cmds, err: c.err}
}

type refClient struct {
	lim          Limits
	unauth       bool   // authRequired(c)
	qb           []byte // the query buffer; C sees a NUL after it
	pos          int
	reqtype      byte
	multibulklen int64
	bulklen      int64
	argv         []string
	cmds         [][]string
	err          string
}

// at reads the query buffer as a C string.
func (c *refClient) at(i int) byte {
	if i >= len(c.qb) {
		return 0
	}
	return c.qb[i]
}

// strchr finds ch from pos on, stopping at NUL; -1 when absent.
func (c *refClient) strchr(ch byte) int {
	for i := c.pos; ; i++ {
		b := c.at(i)
		if b == ch {
			return i
		}
		if b == 0 {
			return -1
		}
	}
}

func (c *refClient) protoErr(msg string) {
	c.err = "ERR Protocol error: " + msg
}

func (c *refClient) processInputBuffer() {
	for c.pos < len(c.qb) && c.err == "" {
		if c.reqtype == 0 {
			if c.qb[c.pos] == '*' {
				c.reqtype = '*'
			} else {
				c.reqtype = 'i'
			}
		}
		var ok bool
		if c.reqtype == 'i' {
			ok = c.processInline()
		} else {
			ok = c.processMultibulk()
		}
		if !ok {
			break
		}
		if len(c.argv) > 0 {
			c.cmds = append(c.cmds, c.argv)
		}
		c.argv, c.reqtype, c.multibulklen, c.bulklen = nil, 0, 0, -1
	}
}

func (c *refClient) processInline() bool {
	newline := c.strchr('\n')
	if newline < 0 {
		if len(c.qb)-c.pos > c.lim.MaxInline {
			c.protoErr("too big inline request")
		}
		return false
	}
	end := newline
	if newline != c.pos && c.qb[newline-1] == '\r' {
		end--
	}
	argv, ok := refSplitArgs(c.qb[c.pos:end])
	if !ok {
		c.protoErr("unbalanced quotes in request")
		return false
	}
	c.pos = newline + 1
	c.argv = argv
	return true
}

func (c *refClient) processMultibulk() bool {
	if c.multibulklen == 0 {
		newline := c.strchr('\r')
		if newline < 0 {
			if len(c.qb)-c.pos > c.lim.MaxInline {
				c.protoErr("too big mbulk count string")
			}
			return false
		}
		if newline-c.pos > len(c.qb)-c.pos-2 {
			return false
		}
		ll, ok := refString2ll(c.qb[c.pos+1 : newline])
		if !ok || ll > 1<<31-1 {
			c.protoErr("invalid multibulk length")
			return false
		} else if ll > 10 && c.unauth {
			c.protoErr("unauthenticated multibulk length")
			return false
		}
		c.pos = newline + 2
		if ll <= 0 {
			return true
		}
		c.multibulklen = ll
	}
	for c.multibulklen > 0 {
		if c.bulklen == -1 {
			newline := c.strchr('\r')
			if newline < 0 {
				if len(c.qb)-c.pos > c.lim.MaxInline {
					c.protoErr("too big bulk count string")
				}
				return false
			}
			if newline-c.pos > len(c.qb)-c.pos-2 {
				return false
			}
			if c.qb[c.pos] != '$' {
				got := c.qb[c.pos]
				if got == '\r' || got == '\n' {
					got = ' ' // addReplyErrorFormat maps CR and LF to spaces
				}
				c.protoErr("expected '$', got '" + string([]byte{got}) + "'")
				return false
			}
			ll, ok := refString2ll(c.qb[c.pos+1 : newline])
			if !ok || ll < 0 || ll > c.lim.MaxBulk {
				c.protoErr("invalid bulk length")
				return false
			} else if ll > 16384 && c.unauth {
				c.protoErr("unauthenticated bulk length")
				return false
			}
			c.pos = newline + 2
			c.bulklen = ll
		}
		// C compares as size_t; bulklen+2 wraps when MaxBulk is LLONG_MAX.
		if uint64(len(c.qb)-c.pos) < uint64(c.bulklen+2) {
			return false
		}
		c.argv = append(c.argv, string(c.qb[c.pos:c.pos+int(c.bulklen)]))
		c.pos += int(c.bulklen) + 2
		c.bulklen = -1
		c.multibulklen--
	}
	return true
}

// refString2ll follows Redis's string2ll.
func refString2ll(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) >= 21 {
		return 0, false
	}
	if len(s) == 1 && s[0] == '0' {
		return 0, true
	}
	p := 0
	negative := false
	if s[p] == '-' {
		negative = true
		p++
		if p == len(s) {
			return 0, false
		}
	}
	if s[p] < '1' || s[p] > '9' {
		return 0, false
	}
	v := uint64(s[p] - '0')
	p++
	for p < len(s) && s[p] >= '0' && s[p] <= '9' {
		if v > ^uint64(0)/10 {
			return 0, false
		}
		v *= 10
		d := uint64(s[p] - '0')
		if v > ^uint64(0)-d {
			return 0, false
		}
		v += d
		p++
	}
	if p < len(s) {
		return 0, false
	}
	if negative {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// refSplitArgs follows sdssplitargs, reading line as a C string.
func refSplitArgs(line []byte) ([]string, bool) {
	at := func(i int) byte {
		if i >= len(line) {
			return 0
		}
		return line[i]
	}
	isspace := func(b byte) bool { return b == ' ' || (b >= '\t' && b <= '\r') }
	ishex := func(b byte) bool { return strings.IndexByte("0123456789abcdefABCDEF", b) >= 0 }
	hexval := func(b byte) byte {
		return byte(strings.IndexByte("0123456789abcdef", b|0x20))
	}
	var argv []string
	p := 0
	for {
		for at(p) != 0 && isspace(at(p)) {
			p++
		}
		if at(p) == 0 {
			return argv, true
		}
		var cur []byte
		inq, insq, done := false, false, false
		for !done {
			switch {
			case inq:
				switch {
				case at(p) == '\\' && at(p+1) == 'x' && ishex(at(p+2)) && ishex(at(p+3)):
					cur = append(cur, hexval(at(p+2))*16+hexval(at(p+3)))
					p += 3
				case at(p) == '\\' && at(p+1) != 0:
					p++
					ch := at(p)
					switch ch {
					case 'n':
						ch = '\n'
					case 'r':
						ch = '\r'
					case 't':
						ch = '\t'
					case 'b':
						ch = '\b'
					case 'a':
						ch = '\a'
					}
					cur = append(cur, ch)
				case at(p) == '"':
					if at(p+1) != 0 && !isspace(at(p+1)) {
						return nil, false
					}
					done = true
				case at(p) == 0:
					return nil, false
				default:
					cur = append(cur, at(p))
				}
			case insq:
				switch {
				case at(p) == '\\' && at(p+1) == '\'':
					p++
					cur = append(cur, '\'')
				case at(p) == '\'':
					if at(p+1) != 0 && !isspace(at(p+1)) {
						return nil, false
					}
					done = true
				case at(p) == 0:
					return nil, false
				default:
					cur = append(cur, at(p))
				}
			default:
				switch at(p) {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					cur = append(cur, at(p))
				}
			}
			if at(p) != 0 {
				p++
			}
		}
		argv = append(argv, string(cur))
	}
}
