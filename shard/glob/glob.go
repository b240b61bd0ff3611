// Package glob matches Redis's glob-style patterns (KEYS, SCAN MATCH,
// CONFIG GET, COMMAND LIST PATTERN) with the semantics of Redis's
// stringmatchlen, quirks included. It has no state and no dependencies.
package glob

// Match reports whether s matches the glob pattern with the semantics of
// Redis's stringmatchlen: '*' matches any run of bytes, '?' one byte,
// "[...]" a class (with '^' negation, 'a-z' ranges in either order and '\'
// escapes) and '\' escapes the next byte. With nocase, ASCII letters compare
// case-insensitively. Redis quirks are kept on purpose: an unterminated '['
// class extends to the end of the pattern, a trailing '\' is literal, and a
// non-empty pattern never matches the empty string unless the pattern itself
// is empty (so "*" does not match "").
func Match(pattern, s string, nocase bool) bool {
	skip := false
	return match(pattern, s, nocase, &skip, 0)
}

// maxNesting is how deep '*'s may nest before a match gives up (fails),
// as Redis protects itself from abusive patterns: KEYS with "*a" repeated
// 1,001 times finds no key, even one of 1,600 a's. Without it a long
// pattern against a long key recursed once per '*', deep enough to
// overflow the goroutine's stack, which kills the process.
const maxNesting = 1000

// at returns p[i], or 0 past the end, mirroring C's NUL terminator.
func at(p string, i int) byte {
	if i < len(p) {
		return p[i]
	}
	return 0
}

func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// signed widens a byte the way a C (signed) char converts to int, which is
// what Redis's range comparisons see.
func signed(c byte) int { return int(int8(c)) }

func match(p, s string, nocase bool, skipLonger *bool, nesting int) bool {
	if nesting > maxNesting {
		return false
	}
	pi, si := 0, 0
	plen, slen := len(p), len(s)
	for plen > 0 && slen > 0 {
		switch p[pi] {
		case '*':
			for plen > 0 && at(p, pi+1) == '*' {
				pi++
				plen--
			}
			if plen == 1 {
				return true
			}
			for slen > 0 {
				if match(p[pi+1:], s[si:], nocase, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				si++
				slen--
			}
			// The rest of the pattern matches nowhere in the rest of s, so
			// no earlier '*' can help either.
			*skipLonger = true
			return false
		case '?':
			si++
			slen--
		case '[':
			pi++
			plen--
			not := at(p, pi) == '^'
			if not {
				pi++
				plen--
			}
			matched := false
			c := s[si]
			for {
				if at(p, pi) == '\\' && plen >= 2 {
					pi++
					plen--
					if p[pi] == c {
						matched = true
					}
				} else if at(p, pi) == ']' {
					break
				} else if plen == 0 {
					pi--
					plen++
					break
				} else if plen >= 3 && p[pi+1] == '-' {
					lo, hi, cc := signed(p[pi]), signed(p[pi+2]), signed(c)
					if lo > hi {
						lo, hi = hi, lo
					}
					if nocase {
						lo, hi, cc = lowerInt(lo), lowerInt(hi), lowerInt(cc)
					}
					pi += 2
					plen -= 2
					if cc >= lo && cc <= hi {
						matched = true
					}
				} else if nocase {
					if lowerByte(p[pi]) == lowerByte(c) {
						matched = true
					}
				} else if p[pi] == c {
					matched = true
				}
				pi++
				plen--
			}
			if not {
				matched = !matched
			}
			if !matched {
				return false
			}
			si++
			slen--
		case '\\':
			if plen >= 2 {
				pi++
				plen--
			}
			fallthrough
		default:
			a, b := p[pi], s[si]
			if nocase {
				a, b = lowerByte(a), lowerByte(b)
			}
			if a != b {
				return false
			}
			si++
			slen--
		}
		pi++
		plen--
		if slen == 0 {
			for plen > 0 && p[pi] == '*' {
				pi++
				plen--
			}
			break
		}
	}
	return plen == 0 && slen == 0
}

func lowerInt(c int) int {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
