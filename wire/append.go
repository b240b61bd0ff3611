package wire

import (
	"math"
	"strconv"
	"strings"
)

// The AppendX functions encode one reply, or the header of an aggregate,
// onto dst and return the extended slice. Functions that take a Proto emit
// the RESP3 type on RESP3 connections and Redis's RESP2 stand-in otherwise.

// AppendSimple appends a simple string: +s.
func AppendSimple(dst []byte, s string) []byte {
	dst = append(dst, '+')
	dst = appendLine(dst, s)
	return append(dst, '\r', '\n')
}

// AppendOK appends +OK, the most common reply.
func AppendOK(dst []byte) []byte { return append(dst, "+OK\r\n"...) }

// AppendError appends an error reply. msg carries its own code, as in
// "ERR syntax error" or "WRONGTYPE ...". As Redis does for formatted and
// script errors, trailing line breaks are dropped and the others become
// spaces, so that the reply stays one line.
func AppendError(dst []byte, msg string) []byte {
	for len(msg) > 0 && (msg[len(msg)-1] == '\r' || msg[len(msg)-1] == '\n') {
		msg = msg[:len(msg)-1]
	}
	dst = append(dst, '-')
	dst = appendLine(dst, msg)
	return append(dst, '\r', '\n')
}

// appendLine appends s with \r and \n replaced by spaces.
func appendLine(dst []byte, s string) []byte {
	if strings.IndexByte(s, '\r') < 0 && strings.IndexByte(s, '\n') < 0 {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

// AppendInt appends an integer: :n.
func AppendInt(dst []byte, n int64) []byte {
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '\r', '\n')
}

// AppendIntDigits is AppendInt for a number already formatted in base 10.
func AppendIntDigits(dst, digits []byte) []byte {
	dst = append(dst, ':')
	dst = append(dst, digits...)
	return append(dst, '\r', '\n')
}

// AppendBulk appends a bulk string: $len data.
func AppendBulk(dst []byte, b []byte) []byte {
	dst = appendHeader(dst, '$', len(b))
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

// AppendBulkString is AppendBulk for a string.
func AppendBulkString(dst []byte, s string) []byte {
	dst = appendHeader(dst, '$', len(s))
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

// AppendBulkInt appends n formatted in decimal as a bulk string.
func AppendBulkInt(dst []byte, n int64) []byte {
	var tmp [20]byte
	return AppendBulk(dst, strconv.AppendInt(tmp[:0], n, 10))
}

// AppendArray appends the header of an array of n elements.
func AppendArray(dst []byte, n int) []byte { return appendHeader(dst, '*', n) }

// AppendNull appends the null reply: _ in RESP3, the null bulk $-1 in RESP2.
func AppendNull(dst []byte, p Proto) []byte {
	if p == RESP3 {
		return append(dst, "_\r\n"...)
	}
	return append(dst, "$-1\r\n"...)
}

// AppendNullArray appends a null where an array was expected: _ in RESP3,
// *-1 in RESP2 (BLPOP timeout, EXEC after a failed WATCH).
func AppendNullArray(dst []byte, p Proto) []byte {
	if p == RESP3 {
		return append(dst, "_\r\n"...)
	}
	return append(dst, "*-1\r\n"...)
}

// AppendMap appends the header of a map of n pairs; RESP2 gets a flat
// array of 2n elements.
func AppendMap(dst []byte, n int, p Proto) []byte {
	if p == RESP3 {
		return appendHeader(dst, '%', n)
	}
	return appendHeader(dst, '*', 2*n)
}

// AppendSet appends the header of a set of n elements; RESP2 gets an array.
func AppendSet(dst []byte, n int, p Proto) []byte {
	if p == RESP3 {
		return appendHeader(dst, '~', n)
	}
	return appendHeader(dst, '*', n)
}

// AppendPush appends the header of an out-of-band push of n elements;
// RESP2 gets an array.
func AppendPush(dst []byte, n int, p Proto) []byte {
	if p == RESP3 {
		return appendHeader(dst, '>', n)
	}
	return appendHeader(dst, '*', n)
}

// AppendAttribute appends the header of an attribute map of n pairs. RESP2
// has no attributes; callers must not send one to a RESP2 client.
func AppendAttribute(dst []byte, n int) []byte { return appendHeader(dst, '|', n) }

// AppendDouble appends a double; RESP2 gets it as a bulk string. The digits
// follow Redis 7.0 (printf "%.17g"), with inf, -inf and nan spelled out.
func AppendDouble(dst []byte, f float64, p Proto) []byte {
	var tmp [32]byte
	num := FormatDouble(tmp[:0], f)
	if p == RESP3 {
		dst = append(dst, ',')
		dst = append(dst, num...)
		return append(dst, '\r', '\n')
	}
	return AppendBulk(dst, num)
}

// FormatDouble appends f the way Redis 7.0 prints a double reply.
func FormatDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	case math.IsNaN(f) && math.Signbit(f):
		return append(dst, "-nan"...) // glibc's spelling, e.g. Lua's 0/0
	case math.IsNaN(f):
		return append(dst, "nan"...)
	}
	return strconv.AppendFloat(dst, f, 'g', 17, 64)
}

// AppendBool appends a boolean; RESP2 gets the integer 1 or 0.
func AppendBool(dst []byte, v bool, p Proto) []byte {
	switch {
	case p == RESP3 && v:
		return append(dst, "#t\r\n"...)
	case p == RESP3:
		return append(dst, "#f\r\n"...)
	case v:
		return append(dst, ":1\r\n"...)
	}
	return append(dst, ":0\r\n"...)
}

// AppendBigNumber appends a big number given in decimal; RESP2 gets a bulk
// string.
func AppendBigNumber(dst []byte, digits string, p Proto) []byte {
	if p == RESP3 {
		dst = append(dst, '(')
		dst = appendLine(dst, digits) // a script may put anything here
		return append(dst, '\r', '\n')
	}
	return AppendBulkString(dst, digits)
}

// AppendVerbatim appends a verbatim string with a three-letter format such
// as "txt"; RESP2 gets a plain bulk string without the format. Like Redis,
// a shorter format is padded with spaces and a longer one truncated, since
// RESP3 requires exactly three bytes before the colon.
func AppendVerbatim(dst []byte, format string, b []byte, p Proto) []byte {
	if p != RESP3 {
		return AppendBulk(dst, b)
	}
	dst = appendHeader(dst, '=', 4+len(b))
	for i := 0; i < 3; i++ {
		c := byte(' ')
		if i < len(format) {
			c = format[i]
		}
		dst = append(dst, c)
	}
	dst = append(dst, ':')
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

func appendHeader(dst []byte, kind byte, n int) []byte {
	dst = append(dst, kind)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}
