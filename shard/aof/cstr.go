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
