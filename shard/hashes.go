package shard

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// Hash commands. A hash that loses its last field is deleted.

func init() {
	hash := func(name string, arity int, flags Flag, since, summary, complexity, syntax string, run func(*Ctx)) *Command {
		return &Command{Spec: Spec{Name: name, Arity: arity, Flags: flags, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "hash", Since: since, Summary: summary, Complexity: complexity, Syntax: syntax}, Run: run}
	}
	const on = "O(N) where N is the size of the hash."
	register(
		hash("hdel", -3, Write|Fast, "2.0.0", "Delete one or more hash fields",
			"O(N) where N is the number of fields to be removed.", "key field [field ...]", cmdHDel),
		hash("hexists", 3, ReadOnly|Fast, "2.0.0", "Determine if a hash field exists", "O(1)",
			"key field", cmdHExists),
		hash("hget", 3, ReadOnly|Fast, "2.0.0", "Get the value of a hash field", "O(1)", "key field", cmdHGet),
		hash("hgetall", 2, ReadOnly, "2.0.0", "Get all the fields and values in a hash", on, "key", cmdHGetAll),
		hash("hincrby", 4, Write|DenyOOM|Fast, "2.0.0",
			"Increment the integer value of a hash field by the given number", "O(1)",
			"key field increment", cmdHIncrBy),
		hash("hincrbyfloat", 4, Write|DenyOOM|Fast, "2.6.0",
			"Increment the float value of a hash field by the given amount", "O(1)",
			"key field increment", cmdHIncrByFloat),
		hash("hkeys", 2, ReadOnly, "2.0.0", "Get all the fields in a hash", on, "key",
			func(c *Ctx) { hashList(c, true, false) }),
		hash("hlen", 2, ReadOnly|Fast, "2.0.0", "Get the number of fields in a hash", "O(1)", "key", cmdHLen),
		hash("hmget", -3, ReadOnly|Fast, "2.0.0", "Get the values of all the given hash fields",
			"O(N) where N is the number of fields being requested.", "key field [field ...]", cmdHMGet),
		hash("hmset", -4, Write|DenyOOM|Fast, "2.0.0", "Set multiple hash fields to multiple values",
			"O(N) where N is the number of fields being set.", "key field value [field value ...]",
			func(c *Ctx) { cmdHSet(c, true) }),
		hash("hrandfield", -2, ReadOnly, "6.2.0", "Get one or multiple random fields from a hash",
			"O(N) where N is the number of fields returned", "key [count [WITHVALUES]]", cmdHRandField),
		hash("hset", -4, Write|DenyOOM|Fast, "2.0.0", "Set the string value of a hash field",
			"O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is "+
				"called with multiple field/value pairs.",
			"key field value [field value ...]", func(c *Ctx) { cmdHSet(c, false) }),
		hash("hsetnx", 4, Write|DenyOOM|Fast, "2.0.0",
			"Set the value of a hash field, only if the field does not exist", "O(1)",
			"key field value", cmdHSetNX),
		hash("hstrlen", 3, ReadOnly|Fast, "3.2.0", "Get the length of the value of a hash field", "O(1)",
			"key field", cmdHStrLen),
		hash("hvals", 2, ReadOnly, "2.0.0", "Get all the values in a hash", on, "key",
			func(c *Ctx) { hashList(c, false, true) }),
	)
}

// Error replies of the hash commands.
const (
	ErrHashNotInt      = "ERR hash value is not an integer"
	ErrHashNotFloat    = "ERR hash value is not a float"
	ErrNaNOrInf        = "ERR value is NaN or Infinity"
	ErrIncrNaNOrInf    = "ERR increment would produce NaN or Infinity"
	ErrOutOfRangeValue = "ERR value is out of range"
)

// hashFor returns the hash at key, creating (and storing) an empty one when
// the key is missing, with room for the fields and values args (see
// newHash). It replies WRONGTYPE and returns false for another type. Call
// it only when the command will add a field.
func (c *Ctx) hashFor(key []byte, args ...[]byte) (*Hash, bool) {
	h, found, ok := valueAt[*Hash](c, key)
	if !ok {
		return nil, false
	}
	if !found {
		h = newHash(packedSize(args, c.db(key).hashLimits()))
		c.store(key, h, false)
	}
	return h, true
}

// packedSize is the room args take in a compact hash, or 0 when they are
// too many or too long to stay compact.
func packedSize(args [][]byte, lim hashLimits) int {
	if int64(len(args)/2) > lim.entries {
		return 0
	}
	n := 0
	for _, a := range args {
		if int64(len(a)) > lim.value {
			return 0
		}
		n += elemSize(len(a))
	}
	if n > hashSafeBytes {
		return 0
	}
	return n
}

func cmdHSet(c *Ctx, hmset bool) {
	if len(c.Args)%2 == 1 {
		c.ArityError()
		return
	}
	h, ok := c.hashFor(c.Args[1], c.Args[2:]...)
	if !ok {
		return
	}
	lim := c.db(c.Args[1]).hashLimits()
	var added int64
	for i := 2; i < len(c.Args); i += 2 {
		if h.set(c.Args[i], c.Args[i+1], lim) {
			added++
		}
	}
	if hmset {
		c.OK()
	} else {
		c.Int(added)
	}
}

func cmdHSetNX(c *Ctx) {
	key, f := c.Args[1], c.Args[2]
	h, found, ok := valueAt[*Hash](c, key)
	if !ok {
		return
	}
	if found {
		if h.has(f) {
			c.Int(0)
			return
		}
	} else {
		h, _ = c.hashFor(key, f, c.Args[3])
	}
	h.set(f, c.Args[3], c.db(key).hashLimits())
	c.Int(1)
}

func cmdHGet(c *Ctx) {
	h, found, ok := valueAt[*Hash](c, c.Args[1])
	if !ok {
		return
	}
	if !found {
		c.Null()
	} else if v, exists := h.lookup(c.Args[2]); exists {
		c.BulkString(v)
	} else {
		c.Null()
	}
}

func cmdHMGet(c *Ctx) {
	h, found, ok := valueAt[*Hash](c, c.Args[1])
	if !ok {
		return
	}
	c.Array(len(c.Args) - 2)
	for _, f := range c.Args[2:] {
		if !found {
			c.Null()
		} else if v, exists := h.lookup(f); exists {
			c.BulkString(v)
		} else {
			c.Null()
		}
	}
}

func cmdHDel(c *Ctx) {
	key := c.Args[1]
	h, found, ok := valueAt[*Hash](c, key)
	if !ok {
		return
	}
	var n int64
	if found {
		for _, f := range c.Args[2:] {
			if h.del(f) {
				n++
			}
		}
		if h.Len() == 0 {
			c.remove(key)
		}
	}
	c.Int(n)
}

func cmdHExists(c *Ctx) {
	h, found, ok := valueAt[*Hash](c, c.Args[1])
	if ok {
		c.Int(b2i(found && h.has(c.Args[2])))
	}
}

func cmdHLen(c *Ctx) {
	if h, found, ok := valueAt[*Hash](c, c.Args[1]); ok {
		n := 0
		if found {
			n = h.Len()
		}
		c.Int(int64(n))
	}
}

func cmdHStrLen(c *Ctx) {
	if h, found, ok := valueAt[*Hash](c, c.Args[1]); ok {
		var v string
		if found {
			v, _ = h.lookup(c.Args[2])
		}
		c.Int(int64(len(v)))
	}
}

func cmdHGetAll(c *Ctx) {
	h, found, ok := valueAt[*Hash](c, c.Args[1])
	if !ok {
		return
	}
	if !found {
		c.Map(0)
		return
	}
	c.Map(h.Len())
	for f, v := range h.All() {
		c.BulkString(f)
		c.BulkString(v)
	}
}

// hashList answers HKEYS and HVALS.
func hashList(c *Ctx, fields, values bool) {
	h, found, ok := valueAt[*Hash](c, c.Args[1])
	if !ok {
		return
	}
	if !found {
		c.Array(0)
		return
	}
	c.Array(h.Len())
	for f, v := range h.All() {
		if fields {
			c.BulkString(f)
		}
		if values {
			c.BulkString(v)
		}
	}
}

func cmdHIncrBy(c *Ctx) {
	key, f := c.Args[1], c.Args[2]
	incr, ok := wire.ParseInt(c.Args[3])
	if !ok {
		c.Error(ErrNotInt)
		return
	}
	h, found, ok := valueAt[*Hash](c, key)
	if !ok {
		return
	}
	var cur int64
	if found {
		if old, exists := h.lookup(f); exists {
			if cur, ok = parseIntString(old); !ok {
				c.Error(ErrHashNotInt)
				return
			}
		}
	}
	if (incr < 0 && cur < 0 && incr < math.MinInt64-cur) || (incr > 0 && cur > 0 && incr > math.MaxInt64-cur) {
		c.Error(ErrOverflow)
		return
	}
	cur += incr
	var buf [20]byte
	v := strconv.AppendInt(buf[:0], cur, 10)
	if !found {
		h, _ = c.hashFor(key, f, v)
	}
	h.set(f, v, c.db(key).hashLimits())
	c.Int(cur)
}

// parseIntString is wire.ParseInt for a string.
func parseIntString(s string) (int64, bool) {
	if len(s) > 20 {
		return 0, false
	}
	var buf [20]byte
	return wire.ParseInt(append(buf[:0], s...))
}

func cmdHIncrByFloat(c *Ctx) {
	key, f := c.Args[1], c.Args[2]
	incr, inf, ok := parseLongDouble(c.Args[3])
	switch {
	case !ok:
		c.Error(ErrNotFloat)
		return
	case inf:
		c.Error(ErrNaNOrInf)
		return
	}
	h, found, ok := valueAt[*Hash](c, key)
	if !ok {
		return
	}
	sum := newLongDouble()
	old, exists := "", false
	if found {
		old, exists = h.lookup(f)
	}
	if exists {
		cur, curInf, ok := parseLongDouble([]byte(old))
		switch {
		case !ok:
			c.Error(ErrHashNotFloat)
			return
		case curInf:
			c.Error(ErrIncrNaNOrInf)
			return
		}
		sum.Add(cur, incr)
	} else {
		sum.Set(incr)
	}
	if !longDoubleFinite(sum) {
		c.Error(ErrIncrNaNOrInf)
		return
	}
	s := formatLongDouble(sum)
	if !found {
		h, _ = c.hashFor(key, f, []byte(s))
	}
	h.set(f, []byte(s), c.db(key).hashLimits())
	c.BulkString(s)
	if c.journaling() {
		c.propagate(hsetName, key, f, []byte(s))
	}
}

func cmdHRandField(c *Ctx) {
	key := c.Args[1]
	if len(c.Args) == 2 {
		h, found, ok := valueAt[*Hash](c, key)
		switch {
		case !ok:
		case !found:
			c.Null()
		default:
			f, _ := h.random()
			c.BulkString(f)
		}
		return
	}
	n, ok := c.parseRandCount(c.Args[2])
	if !ok {
		return
	}
	withValues := false
	if len(c.Args) > 4 || (len(c.Args) == 4 && !equalFold(c.Args[3], "withvalues")) {
		c.Error(ErrSyntax)
		return
	} else if len(c.Args) == 4 {
		withValues = true
		if n < -math.MaxInt64/2 || n > math.MaxInt64/2 {
			c.Error(ErrOutOfRangeValue)
			return
		}
	}
	h, found, ok := valueAt[*Hash](c, key)
	if !ok {
		return
	}
	if n == 0 || !found || h.Len() == 0 {
		c.Array(0)
		return
	}
	size := h.Len()
	// RESP2 gets a flat array; RESP3 a pair per field.
	header := func(count int) {
		if withValues && c.Proto == wire.RESP2 {
			c.Array(2 * count)
		} else {
			c.Array(count)
		}
	}
	emit := func(f, v string) {
		if withValues && c.Proto != wire.RESP2 {
			c.Array(2)
		}
		c.BulkString(f)
		if withValues {
			c.BulkString(v)
		}
	}
	switch {
	case n < 0 || n == 1:
		// Negative: that many draws, repeats allowed, in the order drawn.
		count := int(min(-n, math.MaxInt32))
		if n == 1 {
			count = 1
		}
		header(count)
		if h.compact() && count == 1 {
			emit(h.random())
		} else if h.compact() {
			pairs := h.pairs()
			for i := 0; i < count && !c.OutFull(); i++ {
				p := pairs[rand.IntN(len(pairs))]
				emit(p[0], p[1])
			}
		} else {
			pickKeys(c, h.m, count, func(f string) { emit(f, h.m[f]) })
		}
	case n >= int64(size):
		// The whole hash, in its order (insertion order while compact).
		header(size)
		for f, v := range h.All() {
			emit(f, v)
		}
	case h.compact() && n*3 <= int64(size):
		// A small share of a listpack: Redis picks it in one pass over
		// the listpack, so the fields come in listpack order.
		header(int(n))
		picks, i := sampleIndexes(size, int(n)), 0
		for f, v := range h.All() {
			if len(picks) == 0 {
				break
			}
			if picks[0] == i {
				emit(f, v)
				picks = picks[1:]
			}
			i++
		}
	case h.compact():
		// A large share: Redis copies the hash into a dict and deletes
		// random fields; the rest come in no particular order.
		header(int(n))
		pairs := h.pairs()
		for _, i := range rand.Perm(size)[:n] {
			emit(pairs[i][0], pairs[i][1])
		}
	default:
		header(int(n))
		for _, f := range sampleKeys(h.m, int(n)) {
			emit(f, h.m[f])
		}
	}
}

// sampleIndexes returns n distinct indexes below size, chosen uniformly,
// in ascending order (selection sampling, as Redis's lpRandomPairsUnique).
func sampleIndexes(size, n int) []int {
	out := make([]int, 0, n)
	for i := 0; i < size && len(out) < n; i++ {
		// Take i with probability (still needed) / (still left).
		if rand.IntN(size-i) < n-len(out) {
			out = append(out, i)
		}
	}
	return out
}

// b2i is 1 for true, 0 for false.
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Long doubles. HINCRBYFLOAT computes in C's long double, which on x86-64
// is the 80-bit x87 format: a 64-bit mantissa and a 15-bit exponent. A
// big.Float with 64 bits of precision rounds the same way, so sums and
// their printed digits match Redis's.

const (
	ldMaxExp = 16384  // largest finite: just under 2^16384
	ldMinExp = -16444 // smallest subnormal: 2^-16445
	ldMaxLen = 5*1024 - 1
)

func newLongDouble() *big.Float {
	return new(big.Float).SetPrec(64).SetMode(big.ToNearestEven)
}

// longDoubleFinite reports whether f is within the long double's range.
func longDoubleFinite(f *big.Float) bool {
	return !f.IsInf() && (f.Sign() == 0 || f.MantExp(nil) <= ldMaxExp)
}

// parseLongDouble reads b as Redis's string2ld does with strtold: the
// whole string, no leading space, decimal or hexadecimal, "inf" and
// "infinity" in any case (reported by isInf). NaN, values that overflow
// and non-zero values that underflow to zero are rejected.
func parseLongDouble(b []byte) (f *big.Float, isInf, ok bool) {
	if len(b) == 0 || len(b) > ldMaxLen {
		return nil, false, false
	}
	rest := b
	if rest[0] == '+' || rest[0] == '-' {
		rest = rest[1:]
	}
	if equalFold(rest, "inf") || equalFold(rest, "infinity") {
		return nil, true, true
	}
	nonzero, valid := scanFloat(rest)
	if !valid {
		return nil, false, false
	}
	f, _, err := big.ParseFloat(string(b), 0, 64, big.ToNearestEven)
	if err != nil || f.IsInf() {
		return nil, false, false
	}
	if f.Sign() == 0 {
		if nonzero {
			return nil, false, false // underflow
		}
		return f, false, true
	}
	if e := f.MantExp(nil); e > ldMaxExp || e < ldMinExp {
		return nil, false, false
	}
	return f, false, true
}

// scanFloat checks that s is one unsigned C floating constant and nothing
// else: digits with an optional point and exponent, or 0x hex digits with
// an optional point and p exponent. nonzero reports a non-zero digit in
// the mantissa.
func scanFloat(s []byte) (nonzero, valid bool) {
	hex := len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
	if hex {
		s = s[2:]
	}
	isDigit := func(ch byte) bool {
		return '0' <= ch && ch <= '9' || hex && ('a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F')
	}
	i, digits := 0, 0
	run := func() {
		for i < len(s) && isDigit(s[i]) {
			nonzero = nonzero || s[i] != '0'
			i++
			digits++
		}
	}
	run()
	if i < len(s) && s[i] == '.' {
		i++
		run()
	}
	if digits == 0 {
		return false, false
	}
	if i < len(s) {
		e := s[i] | 0x20
		if (hex && e != 'p') || (!hex && e != 'e') {
			return false, false
		}
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == start {
			return false, false
		}
	}
	return nonzero, i == len(s)
}

// formatLongDouble prints f as Redis's ld2string in human mode: 17
// decimals ("%.17Lf"), trailing zeros and point dropped, "-0" as "0".
func formatLongDouble(f *big.Float) string {
	s := f.Text('f', 17)
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}
