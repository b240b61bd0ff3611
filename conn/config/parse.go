package config

import (
	"math"
	"strconv"
	"strings"
)

// Parsers below reproduce the C helpers Redis uses (string2ll, memtoull,
// strtoll, string2d), including their edge cases, so that accepted values and
// error choices match the real server.

// cstr truncates v at the first NUL byte, as a C string would be.
func cstr(v string) string {
	if i := strings.IndexByte(v, 0); i >= 0 {
		return v[:i]
	}
	return v
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

// string2ll is Redis's strict integer parser: no spaces, no '+', no leading
// zeros, no "-0", at most 20 bytes.
func string2ll(s string) (int64, bool) {
	if len(s) == 0 || len(s) >= 21 {
		return 0, false
	}
	if s == "0" {
		return 0, true
	}
	i := 0
	if s[0] == '-' {
		i++
		if i == len(s) {
			return 0, false
		}
	}
	if s[i] < '1' || s[i] > '9' {
		return 0, false
	}
	for j := i + 1; j < len(s); j++ {
		if !isDigit(s[j]) {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// memToULL parses "<digits>[b|k|kb|m|mb|g|gb]" (unit case-insensitive) like
// Redis 7.0's memtoull: digits saturate at 2^64-1 and the unit multiplication
// wraps modulo 2^64; an empty digit run counts as 0.
func memToULL(v string) (uint64, bool) {
	v = cstr(v)
	i := 0
	for i < len(v) && isDigit(v[i]) {
		i++
	}
	var mul uint64
	switch strings.ToLower(v[i:]) {
	case "", "b":
		mul = 1
	case "k":
		mul = 1000
	case "kb":
		mul = 1024
	case "m":
		mul = 1000 * 1000
	case "mb":
		mul = 1024 * 1024
	case "g":
		mul = 1000 * 1000 * 1000
	case "gb":
		mul = 1024 * 1024 * 1024
	default:
		return 0, false
	}
	if i >= 128 {
		return 0, false
	}
	var n uint64
	if i > 0 {
		var err error
		if n, err = strconv.ParseUint(v[:i], 10, 64); err != nil {
			n = math.MaxUint64 // strtoull saturates on overflow
		}
	}
	return n * mul, true
}

// strtoll mimics C strtoll on a C string: leading spaces, optional sign,
// digits in base; it saturates on overflow (reporting it, as errno would).
// rest is what *endptr would point at (the whole input when no digits were
// read).
func strtoll(v string, base int) (n int64, rest string, overflow bool) {
	v = cstr(v)
	i := 0
	for i < len(v) && isSpace(v[i]) {
		i++
	}
	neg := false
	if i < len(v) && (v[i] == '+' || v[i] == '-') {
		neg = v[i] == '-'
		i++
	}
	start := i
	var acc uint64
	over := false
	for i < len(v) {
		d := int(v[i]) - '0'
		if d < 0 || d >= base {
			break
		}
		if !over {
			if acc > (math.MaxUint64-uint64(d))/uint64(base) {
				over = true
			} else {
				acc = acc*uint64(base) + uint64(d)
			}
		}
		i++
	}
	if i == start {
		return 0, v, false
	}
	switch {
	case neg && (over || acc > 1<<63):
		n, overflow = math.MinInt64, true
	case neg:
		n = -int64(acc)
	case over || acc > math.MaxInt64:
		n, overflow = math.MaxInt64, true
	default:
		n = int64(acc)
	}
	return n, v[i:], overflow
}

// strtollFull reports the strtoll value and whether the whole C string was
// consumed (the "*eptr == '\0'" test Redis uses).
func strtollFull(v string) (int64, bool) {
	n, rest, _ := strtoll(v, 10)
	return n, rest == ""
}

// string2d mirrors Redis's string2d: strtod syntax (decimal, hex, inf, nan)
// with no leading space and no trailing bytes; NaN, overflow and underflow
// to zero are rejected.
func string2d(s string) (float64, bool) {
	if s == "" || isSpace(s[0]) {
		return 0, false
	}
	body := s
	if body[0] == '+' || body[0] == '-' {
		body = body[1:]
	}
	lb := strings.ToLower(body)
	switch lb {
	case "inf", "infinity":
		f, _ := strconv.ParseFloat(s[:len(s)-len(body)]+"inf", 64)
		return f, true
	}
	if strings.HasPrefix(lb, "nan") {
		return 0, false
	}
	hex := strings.HasPrefix(lb, "0x")
	mant, ok := floatSyntax(lb, hex)
	if !ok {
		return 0, false
	}
	in := s
	if hex && !strings.Contains(lb, "p") {
		in += "p0"
	}
	f, err := strconv.ParseFloat(in, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	if f == 0 && strings.Trim(mant, "0.") != "" {
		return 0, false // underflow to zero
	}
	return f, true
}

// floatSyntax checks a lower-cased unsigned strtod body and returns its
// mantissa digits.
func floatSyntax(b string, hex bool) (string, bool) {
	digit := isDigit
	exp := byte('e')
	if hex {
		b = b[2:]
		digit = func(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') }
		exp = 'p'
	}
	i, n := 0, 0
	for i < len(b) && digit(b[i]) {
		i, n = i+1, n+1
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && digit(b[i]) {
			i, n = i+1, n+1
		}
	}
	if n == 0 {
		return "", false
	}
	mant := b[:i]
	if i < len(b) && b[i] == exp {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		if i == j {
			return "", false
		}
	}
	return mant, i == len(b)
}

// formatPercentile prints like "%f" followed by Redis's trimDoubleString.
func formatPercentile(f float64) string {
	s := strconv.FormatFloat(f, 'f', 6, 64)
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	return s
}

// splitArgs splits a multi-argument value on single spaces like sdssplitlen:
// empty input yields no arguments, and runs of spaces yield empty ones.
func splitArgs(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, " ")
}
