package aof

import "math"

// The helpers in this file reproduce the few C library and sds routines
// whose exact behaviour decides what Redis accepts: strtol/atoi/atoll,
// isspace/isprint in the C locale, sdssplitargs and sdscatrepr.

// cIsSpace is isspace in the C locale.
func cIsSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

// cIsPrint is isprint in the C locale (bytes above 0x7e are not printable).
func cIsPrint(c byte) bool {
	return c >= 0x20 && c <= 0x7e
}

// cString returns b up to (not including) its first NUL byte, as a C
// function that takes a char* would see it.
func cString(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// cStrtol is strtol(s, NULL, 10) on a 64-bit platform: leading C-locale
// spaces, an optional sign, then decimal digits up to the first other byte
// (or NUL). No digits gives 0; overflow saturates.
func cStrtol(s []byte) int64 {
	i := 0
	for i < len(s) && cIsSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var v uint64
	over := false
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if over {
			continue
		}
		d := uint64(s[i] - '0')
		if v > (math.MaxUint64-d)/10 {
			over = true
			continue
		}
		v = v*10 + d
	}
	if neg {
		if over || v > math.MaxInt64+1 {
			return math.MinInt64
		}
		return -int64(v-1) - 1
	}
	if over || v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// cAtoi is atoi as glibc implements it: (int)strtol(s, NULL, 10), so the
// saturated 64-bit value is truncated to 32 bits.
func cAtoi(s []byte) int32 {
	return int32(cStrtol(s))
}

// splitArgs is sdssplitargs: it splits a line into arguments, honouring
// "double quotes" (with \xHH, \n, \r, \t, \b, \a and \<any> escapes) and
// 'single quotes' (with \' only). ok is false for unbalanced quotes or a
// closing quote followed by something other than a space. The line is read
// as a C string: it ends at its first NUL.
func splitArgs(line []byte) (args [][]byte, ok bool) {
	line = cString(line)
	p := 0
	at := func(i int) byte { // the byte at i, or NUL past the end
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	for {
		for p < len(line) && cIsSpace(line[p]) {
			p++
		}
		if p >= len(line) {
			return args, true
		}
		cur := []byte{}
		inq, insq, done := false, false, false
		for !done {
			c := at(p)
			switch {
			case inq:
				switch {
				case c == '\\' && at(p+1) == 'x' && isHex(at(p+2)) && isHex(at(p+3)):
					cur = append(cur, hexVal(at(p+2))<<4|hexVal(at(p+3)))
					p += 3
				case c == '\\' && at(p+1) != 0:
					p++
					e := at(p)
					switch e {
					case 'n':
						e = '\n'
					case 'r':
						e = '\r'
					case 't':
						e = '\t'
					case 'b':
						e = '\b'
					case 'a':
						e = '\a'
					}
					cur = append(cur, e)
				case c == '"':
					if n := at(p + 1); n != 0 && !cIsSpace(n) {
						return nil, false
					}
					done = true
				case c == 0:
					return nil, false
				default:
					cur = append(cur, c)
				}
			case insq:
				switch {
				case c == '\\' && at(p+1) == '\'':
					p++
					cur = append(cur, '\'')
				case c == '\'':
					if n := at(p + 1); n != 0 && !cIsSpace(n) {
						return nil, false
					}
					done = true
				case c == 0:
					return nil, false
				default:
					cur = append(cur, c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					cur = append(cur, c)
				}
			}
			if at(p) != 0 {
				p++
			}
		}
		args = append(args, cur)
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// needsRepr is sdsneedsrepr: whether s must be quoted to survive
// splitArgs.
func needsRepr(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' || c == '"' || !cIsPrint(c) || cIsSpace(c) {
			return true
		}
	}
	return false
}

const hexDigits = "0123456789abcdef"

// appendRepr is sdscatrepr: s in double quotes with C-style escapes.
func appendRepr(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\', '"':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\a':
			dst = append(dst, '\\', 'a')
		case '\b':
			dst = append(dst, '\\', 'b')
		default:
			if cIsPrint(c) {
				dst = append(dst, c)
			} else {
				dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
			}
		}
	}
	return append(dst, '"')
}
