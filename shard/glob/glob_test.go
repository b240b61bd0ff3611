package glob

import (
	"strings"
	"testing"
)

var globCases = []struct {
	pattern, s string
	nocase     bool
	want       bool
}{
	{"", "", false, true},
	{"", "a", false, false},
	{"*", "", false, false}, // Redis quirk: a pattern never matches ""
	{"**", "", false, false},
	{"*", "abc", false, true},
	{"a*", "a", false, true},
	{"a*c", "abbbc", false, true},
	{"a*c", "abbb", false, false},
	{"a**b", "ab", false, true},
	{"*a*b*", "xaxbx", false, true},
	{"*?", "", false, false},
	{"*?", "a", false, true},
	{"?", "", false, false},
	{"?", "a", false, true},
	{"??", "a", false, false},
	{"a?c", "abc", false, true},
	{"[abc]", "b", false, true},
	{"[abc]", "d", false, false},
	{"[^abc]", "d", false, true},
	{"[^abc]", "a", false, false},
	{"[!a]", "!", false, true}, // '!' is not a negation
	{"[a-c]", "b", false, true},
	{"[c-a]", "b", false, true}, // reversed range
	{"[z-a]", "m", false, true},
	{"[z-a]", "A", false, false},
	{"[a-c]", "B", true, true},
	{"[a-c]", "B", false, false},
	{"[A-C]", "b", true, true},
	{"[a-]", "-", false, false}, // "a-]" is the range ']'..'a'
	{"[a-]", "_", false, true},
	{"[abc", "a", false, true}, // unterminated class runs to the end
	{"[abc", "ab", false, false},
	{"[", "[", false, false},
	{"[^", "x", false, true},
	{"[^", "xy", false, false},
	{"[]]", "]", false, false},
	{"[\\]]", "]", false, true},
	{"[\\-]", "-", false, true},
	{"[\\a]", "A", true, false}, // escaped class bytes compare exactly
	{"\\*", "*", false, true},
	{"\\*", "a", false, false},
	{"\\", "\\", false, true}, // trailing backslash is literal
	{"a\\", "a\\", false, true},
	{"a\\", "a", false, false},
	{"*[", "a[", false, false},
	{"h[^e]llo", "hallo", false, true},
	{"h[^e]llo", "hello", false, false},
	{"h[a-b]llo", "hbllo", false, true},
	{"HELLO", "hello", true, true},
	{"HELLO", "hello", false, false},
	{"A*", "a", false, false},
	{"a*", "A", true, true},
	{"[a-\xe9]", "0", false, true}, // bytes >= 0x80 compare as signed chars
	{"[a-\xe9]", "b", false, false},
	{"a*a*a*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 60), false, false},
	{"*a*a*a*a*a*a*a*a*a*a*a*a*", strings.Repeat("a", 60), false, true},
}

func TestMatch(t *testing.T) {
	for _, c := range globCases {
		if got := Match(c.pattern, c.s, c.nocase); got != c.want {
			t.Errorf("Match(%q, %q, %v) = %v, want %v", c.pattern, c.s, c.nocase, got, c.want)
		}
	}
}

func BenchmarkMatchPathological(b *testing.B) {
	p := strings.Repeat("a*", 30) + "b"
	s := strings.Repeat("a", 200)
	for b.Loop() {
		Match(p, s, false)
	}
}

// Redis 7.0.15 gives up past 1000 nested '*' (checked against
// redis-server: KEYS "*a"x1001 finds no key of 1,600 a's, "*a"x1000 does).
func TestMatchNestingLimit(t *testing.T) {
	key := strings.Repeat("a", 1600)
	if Match(strings.Repeat("*a", 1500), key, false) {
		t.Error(`"*a"x1500 matched: no nesting limit`)
	}
	if !Match(strings.Repeat("*a", 900), key, false) {
		t.Error(`"*a"x900 did not match`)
	}
	if !Match(strings.Repeat("*a", 1000), key, false) {
		t.Error(`"*a"x1000 did not match`)
	}
	if Match(strings.Repeat("*a", 1001), key, false) {
		t.Error(`"*a"x1001 matched`)
	}
}
