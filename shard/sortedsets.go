package shard

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// Sorted set commands. A set that loses its last member is deleted; the
// *STORE forms overwrite their destination whatever it held, and delete it
// when the result is empty. Every command that adds members signals the
// key for blocked clients (BZPOPMIN and friends).

func init() {
	acl := []string{"sortedset"} // the group is "sorted-set", which implies no category
	z := func(name string, arity int, flags Flag, since, summary, complexity, syntax string, run func(*Ctx)) *Command {
		return &Command{Spec: Spec{Name: name, Arity: arity, Flags: flags, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "sorted-set", Since: since, Summary: summary, Complexity: complexity, Syntax: syntax, ACL: acl},
			Run: run}
	}
	// Commands whose keys follow a numkeys argument: COMMAND INFO shows
	// 0 0 0, or 1 1 1 for the destination of the *STORE forms.
	movable := func(c *Command, store bool) *Command {
		if store {
			c.Keys = zStoreKeys
		} else {
			c.FirstKey, c.LastKey, c.Step = 0, 0, 0
			c.Keys = zNumKeys
		}
		return c
	}
	const (
		logN      = "O(log(N)) with N being the number of elements in the sorted set."
		rangeM    = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."
		rangeMLim = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."
		removed   = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."
		union     = "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."
		inter     = "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."
		diff      = "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."
		pop       = "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."
	)
	zrangestore := z("zrangestore", -5, Write|DenyOOM, "6.2.0", "Store a range of members from sorted set into another key",
		"O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.",
		"dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]",
		func(c *Ctx) { zrangeGeneric(c, 2, true, zrAuto, zdirAuto) })
	zrangestore.LastKey = 2
	register(
		z("zadd", -4, Write|DenyOOM|Fast, "1.2.0", "Add one or more members to a sorted set, or update its score if it already exists",
			"O(log(N)) for each item added, where N is the number of elements in the sorted set.",
			"key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]", func(c *Ctx) { zaddGeneric(c, false) }),
		z("zcard", 2, ReadOnly|Fast, "1.2.0", "Get the number of members in a sorted set", "O(1)", "key", cmdZCard),
		z("zcount", 4, ReadOnly|Fast, "2.0.0", "Count the members in a sorted set with scores within the given values",
			logN, "key min max", cmdZCount),
		movable(z("zdiff", -3, ReadOnly, "6.2.0", "Subtract multiple sorted sets", diff,
			"numkeys key [key ...] [WITHSCORES]", func(c *Ctx) { zsetAlgebra(c, zopDiff, false, false) }), false),
		movable(z("zdiffstore", -4, Write|DenyOOM, "6.2.0", "Subtract multiple sorted sets and store the resulting sorted set in a new key",
			diff, "destination numkeys key [key ...]", func(c *Ctx) { zsetAlgebra(c, zopDiff, true, false) }), true),
		z("zincrby", 4, Write|DenyOOM|Fast, "1.2.0", "Increment the score of a member in a sorted set",
			"O(log(N)) where N is the number of elements in the sorted set.", "key increment member",
			func(c *Ctx) { zaddGeneric(c, true) }),
		movable(z("zinter", -3, ReadOnly, "6.2.0", "Intersect multiple sorted sets", inter,
			"numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM|MIN|MAX>] [WITHSCORES]",
			func(c *Ctx) { zsetAlgebra(c, zopInter, false, false) }), false),
		movable(z("zintercard", -3, ReadOnly, "7.0.0", "Intersect multiple sorted sets and return the cardinality of the result",
			"O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.",
			"numkeys key [key ...] [LIMIT limit]", func(c *Ctx) { zsetAlgebra(c, zopInter, false, true) }), false),
		movable(z("zinterstore", -4, Write|DenyOOM, "2.0.0", "Intersect multiple sorted sets and store the resulting sorted set in a new key",
			inter, "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM|MIN|MAX>]",
			func(c *Ctx) { zsetAlgebra(c, zopInter, true, false) }), true),
		z("zlexcount", 4, ReadOnly|Fast, "2.8.9", "Count the number of members in a sorted set between a given lexicographical range",
			logN, "key min max", cmdZLexCount),
		movable(z("zmpop", -4, Write, "7.0.0", "Remove and return members with scores in a sorted set",
			"O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
			"numkeys key [key ...] <MIN|MAX> [COUNT count]", cmdZMPop), false),
		z("zmscore", -3, ReadOnly|Fast, "6.2.0", "Get the score associated with the given members in a sorted set",
			"O(N) where N is the number of members being requested.", "key member [member ...]", cmdZMScore),
		z("zpopmax", -2, Write|Fast, "5.0.0", "Remove and return members with the highest scores in a sorted set",
			pop, "key [count]", func(c *Ctx) { zpopCommand(c, true) }),
		z("zpopmin", -2, Write|Fast, "5.0.0", "Remove and return members with the lowest scores in a sorted set",
			pop, "key [count]", func(c *Ctx) { zpopCommand(c, false) }),
		z("zrandmember", -2, ReadOnly, "6.2.0", "Get one or multiple random elements from a sorted set",
			"O(N) where N is the number of elements returned", "key [count [WITHSCORES]]", cmdZRandMember),
		z("zrange", -4, ReadOnly, "1.2.0", "Return a range of members in a sorted set", rangeM,
			"key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]",
			func(c *Ctx) { zrangeGeneric(c, 1, false, zrAuto, zdirAuto) }),
		z("zrangebylex", -4, ReadOnly, "2.8.9", "Return a range of members in a sorted set, by lexicographical range",
			rangeMLim, "key min max [LIMIT offset count]", func(c *Ctx) { zrangeGeneric(c, 1, false, zrLex, zdirForward) }),
		z("zrangebyscore", -4, ReadOnly, "1.0.5", "Return a range of members in a sorted set, by score",
			rangeMLim, "key min max [WITHSCORES] [LIMIT offset count]",
			func(c *Ctx) { zrangeGeneric(c, 1, false, zrScore, zdirForward) }),
		zrangestore,
		z("zrank", 3, ReadOnly|Fast, "2.0.0", "Determine the index of a member in a sorted set", "O(log(N))",
			"key member", func(c *Ctx) { zrankCommand(c, false) }),
		z("zrem", -3, Write|Fast, "1.2.0", "Remove one or more members from a sorted set",
			"O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.",
			"key member [member ...]", cmdZRem),
		z("zremrangebylex", 4, Write, "2.8.9", "Remove all members in a sorted set between the given lexicographical range",
			removed, "key min max", func(c *Ctx) { zremRange(c, zrLex) }),
		z("zremrangebyrank", 4, Write, "2.0.0", "Remove all members in a sorted set within the given indexes",
			removed, "key start stop", func(c *Ctx) { zremRange(c, zrRank) }),
		z("zremrangebyscore", 4, Write, "1.2.0", "Remove all members in a sorted set within the given scores",
			removed, "key min max", func(c *Ctx) { zremRange(c, zrScore) }),
		z("zrevrange", -4, ReadOnly, "1.2.0", "Return a range of members in a sorted set, by index, with scores ordered from high to low",
			rangeM, "key start stop [WITHSCORES]", func(c *Ctx) { zrangeGeneric(c, 1, false, zrRank, zdirReverse) }),
		z("zrevrangebylex", -4, ReadOnly, "2.8.9", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
			rangeMLim, "key max min [LIMIT offset count]", func(c *Ctx) { zrangeGeneric(c, 1, false, zrLex, zdirReverse) }),
		z("zrevrangebyscore", -4, ReadOnly, "2.2.0", "Return a range of members in a sorted set, by score, with scores ordered from high to low",
			rangeMLim, "key max min [WITHSCORES] [LIMIT offset count]",
			func(c *Ctx) { zrangeGeneric(c, 1, false, zrScore, zdirReverse) }),
		z("zrevrank", 3, ReadOnly|Fast, "2.0.0", "Determine the index of a member in a sorted set, with scores ordered from high to low",
			"O(log(N))", "key member", func(c *Ctx) { zrankCommand(c, true) }),
		z("zscore", 3, ReadOnly|Fast, "1.2.0", "Get the score associated with the given member in a sorted set", "O(1)",
			"key member", cmdZScore),
		movable(z("zunion", -3, ReadOnly, "6.2.0", "Add multiple sorted sets", union,
			"numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM|MIN|MAX>] [WITHSCORES]",
			func(c *Ctx) { zsetAlgebra(c, zopUnion, false, false) }), false),
		movable(z("zunionstore", -4, Write|DenyOOM, "2.0.0", "Add multiple sorted sets and store the resulting sorted set in a new key",
			"O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
			"destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM|MIN|MAX>]",
			func(c *Ctx) { zsetAlgebra(c, zopUnion, true, false) }), true),
	)
}

// Error replies of the sorted set commands.
const (
	errZNaN          = "ERR resulting score is not a number (NaN)"
	errZXXNX         = "ERR XX and NX options at the same time are not compatible"
	errZGTLTNX       = "ERR GT, LT, and/or NX options at the same time are not compatible"
	errZIncrPair     = "ERR INCR option supports a single increment-element pair"
	errZMinMax       = "ERR min or max is not a float"
	errZLexRange     = "ERR min or max not valid string range item"
	errZLimitRank    = "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
	errZScoresLex    = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
	errZPositive     = "ERR value is out of range, must be positive"
	errZNumKeys      = "ERR numkeys should be greater than 0"
	errZCount        = "ERR count should be greater than 0"
	errZWeight       = "ERR weight value is not a float"
	errZLimitNeg     = "ERR LIMIT can't be negative"
	errZOutOfRange   = "ERR value is out of range"
	errZRandMinRange = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
)

// zNumKeys finds the keys of ZUNION, ZINTER, ZDIFF, ZINTERCARD and ZMPOP:
// numkeys of them after numkeys. None when numkeys is invalid, since the
// command then fails before touching any key.
func zNumKeys(args [][]byte, dst []int) []int { return zKeysAfter(args, 1, dst) }

// zStoreKeys finds the keys of the *STORE forms: the destination, then
// numkeys keys after numkeys.
func zStoreKeys(args [][]byte, dst []int) []int {
	if len(args) < 2 {
		return dst
	}
	n := len(dst)
	dst = zKeysAfter(args, 2, append(dst, 1))
	if len(dst) == n+1 {
		return dst[:n]
	}
	return dst
}

func zKeysAfter(args [][]byte, numIdx int, dst []int) []int {
	if len(args) <= numIdx {
		return dst
	}
	n, ok := wire.ParseInt(args[numIdx])
	if !ok || n < 1 || n > int64(len(args)-numIdx-1) {
		return dst
	}
	for i := numIdx + 1; i <= numIdx+int(n); i++ {
		dst = append(dst, i)
	}
	return dst
}

// zsetAt returns the sorted set at key, nil when missing; ok is false
// after a WRONGTYPE reply.
func (c *Ctx) zsetAt(key []byte) (*ZSet, bool) {
	z, _, ok := valueAt[*ZSet](c, key)
	return z, ok
}

// isCSpace is C's isspace.
func isCSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r'
}

// strtod parses all of s (no leading space) with C's strtod syntax:
// decimal or hex, inf, infinity. It reports whether s is well formed, and
// whether the value overflowed to infinity or underflowed to zero.
func strtod(s string) (f float64, ok, overflow, underflow bool) {
	if strings.IndexByte(s, '_') >= 0 {
		return 0, false, false, false // Go allows digit separators, C does not
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, isNum := err.(*strconv.NumError); isNum && ne.Err == strconv.ErrRange {
			return f, true, true, false
		}
		// C reads a hex mantissa without the binary exponent Go requires.
		if hexPrefix(s) && strings.IndexAny(s, "pP") < 0 {
			return strtod(s + "p0")
		}
		return 0, false, false, false
	}
	if math.IsNaN(f) {
		return 0, false, false, false
	}
	if f == 0 && nonzeroMantissa(s) {
		return f, true, false, true
	}
	return f, true, false, false
}

func hexPrefix(s string) bool {
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	return len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
}

// nonzeroMantissa reports whether a number that parsed as zero has a
// nonzero digit before its exponent, i.e. whether it underflowed.
func nonzeroMantissa(s string) bool {
	hex := hexPrefix(s)
	if s[0] == '+' || s[0] == '-' {
		s = s[1:]
	}
	if hex {
		s = s[2:]
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '.' || ch == '0':
		case hex && (ch == 'p' || ch == 'P'), !hex && (ch == 'e' || ch == 'E'):
			return false
		default:
			return true
		}
	}
	return false
}

// zParseScore parses a score or weight as Redis's string2d: strtod with no
// space before and nothing after; NaN, overflow and underflow to zero are
// errors.
func zParseScore(b []byte) (float64, bool) {
	if len(b) == 0 || isCSpace(b[0]) {
		return 0, false
	}
	f, ok, over, under := strtod(zview(b))
	return f, ok && !over && !under
}

// zParseRangeScore parses one end of a score range as Redis's
// zslParseRange: an optional '(' for exclusive, then strtod up to a NUL,
// which allows leading spaces, an empty string (0) and out-of-range values.
func zParseRangeScore(b []byte) (f float64, ex, ok bool) {
	if len(b) > 0 && b[0] == '(' {
		ex, b = true, b[1:]
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return 0, ex, true
	}
	i := 0
	for i < len(b) && isCSpace(b[i]) {
		i++
	}
	if i == len(b) {
		return 0, ex, false
	}
	f, ok, _, _ = strtod(zview(b[i:]))
	return f, ex, ok
}

// zScoreRange turns a score range into the bounds of its ranks: the
// elements before lo are below the range, those before hi are not above it.
func zScoreRange(minArg, maxArg []byte) (lo, hi zbound, ok bool) {
	min, minex, ok1 := zParseRangeScore(minArg)
	max, maxex, ok2 := zParseRangeScore(maxArg)
	if !ok1 || !ok2 {
		return lo, hi, false
	}
	lo = zbound{kind: zbScore, score: min, incl: minex}
	hi = zbound{kind: zbScore, score: max, incl: !maxex}
	return lo, hi, true
}

// zLexRange parses a lex range as Redis's zslParseLexRange. The bounds
// view the arguments.
func zLexRange(minArg, maxArg []byte) (lo, hi zbound, ok bool) {
	item := func(b []byte, isMax bool) (zbound, bool) {
		if len(b) == 0 {
			return zbound{}, false
		}
		switch b[0] {
		case '+', '-':
			if len(b) > 1 && b[1] != 0 {
				return zbound{}, false
			}
			if b[0] == '+' {
				return zbound{kind: zbAll}, true
			}
			return zbound{kind: zbNone}, true
		case '[':
			return zbound{kind: zbLex, member: zview(b[1:]), incl: isMax}, true
		case '(':
			return zbound{kind: zbLex, member: zview(b[1:]), incl: !isMax}, true
		}
		return zbound{}, false
	}
	lo, ok1 := item(minArg, false)
	hi, ok2 := item(maxArg, true)
	return lo, hi, ok1 && ok2
}

// zRanks returns the ranks [lo, hi) of the elements within the bounds.
func (z *ZSet) zRanks(lo, hi *zbound) (int, int) {
	a := z.countTo(lo)
	b := z.countTo(hi)
	if b < a {
		b = a
	}
	return a, b
}

// zreplyRange replies count elements starting at rank first, going down
// when rev. With scores, RESP2 gets a flat array and RESP3 pairs.
func (c *Ctx) zreplyRange(z *ZSet, first, count int, rev, withScores bool) {
	pairs := withScores && c.Proto == wire.RESP3
	if withScores && !pairs {
		c.Array(2 * count)
	} else {
		c.Array(count)
	}
	if count == 0 {
		return
	}
	cur := z.at(first)
	for i := 0; i < count; i++ {
		it := cur.item()
		if pairs {
			c.Array(2)
		}
		c.BulkString(it.member)
		if withScores {
			c.Double(it.score)
		}
		if rev {
			cur.prev()
		} else {
			cur.next()
		}
	}
}

// zreplyItems replies a computed result, like zreplyRange.
func (c *Ctx) zreplyItems(items []zitem, withScores bool) {
	pairs := withScores && c.Proto == wire.RESP3
	if withScores && !pairs {
		c.Array(2 * len(items))
	} else {
		c.Array(len(items))
	}
	for i := range items {
		if pairs {
			c.Array(2)
		}
		c.BulkString(items[i].member)
		if withScores {
			c.Double(items[i].score)
		}
	}
}

// zstore stores a computed result (sorted, distinct) at dst and replies
// its size; an empty result deletes dst.
func (c *Ctx) zstore(dst []byte, items []zitem) {
	if len(items) == 0 {
		c.remove(dst)
		c.Int(0)
		return
	}
	maxLen := 0
	for i := range items {
		maxLen = max(maxLen, len(items[i].member))
	}
	c.overwrite(dst, zsetFromSorted(items, zsetPacked(len(items), maxLen)), false)
	c.signal(dst)
	c.Int(int64(len(items)))
}

// ZADD and ZINCRBY.

const (
	zaddNX = 1 << iota
	zaddXX
	zaddGT
	zaddLT
	zaddCH
	zaddIncr
)

// zaddGeneric runs ZADD, and ZINCRBY (incr), which Redis parses the same
// way: options may come before the score either way.
func zaddGeneric(c *Ctx, incr bool) {
	key := c.Args[1]
	flags := 0
	if incr {
		flags = zaddIncr
	}
	i := 2
options:
	for ; i < len(c.Args); i++ {
		a := c.Args[i]
		switch {
		case equalFold(a, "nx"):
			flags |= zaddNX
		case equalFold(a, "xx"):
			flags |= zaddXX
		case equalFold(a, "ch"):
			flags |= zaddCH
		case equalFold(a, "incr"):
			flags |= zaddIncr
		case equalFold(a, "gt"):
			flags |= zaddGT
		case equalFold(a, "lt"):
			flags |= zaddLT
		default:
			break options
		}
	}
	elements := len(c.Args) - i
	if elements%2 != 0 || elements == 0 {
		c.Error(ErrSyntax)
		return
	}
	pairs := elements / 2
	nx, xx, gt, lt := flags&zaddNX != 0, flags&zaddXX != 0, flags&zaddGT != 0, flags&zaddLT != 0
	incr = flags&zaddIncr != 0
	switch {
	case nx && xx:
		c.Error(errZXXNX)
		return
	case gt && nx || lt && nx || gt && lt:
		c.Error(errZGTLTNX)
		return
	case incr && pairs > 1:
		c.Error(errZIncrPair)
		return
	}
	// Every score is checked before anything changes.
	var buf [16]float64
	scores := buf[:0]
	for j := 0; j < pairs; j++ {
		f, ok := zParseScore(c.Args[i+2*j])
		if !ok {
			c.Error(ErrNotFloat)
			return
		}
		scores = append(scores, f)
	}
	z, ok := c.zsetAt(key)
	if !ok {
		return
	}
	if z == nil {
		if xx {
			if incr {
				c.Null()
			} else {
				c.Int(0)
			}
			c.noChange = true
			return
		}
		// Redis 7.0 picks the encoding from the first member alone.
		z = newZSet(len(c.Args[i+1]) <= zsetListpackValue)
		z.born = c.stamp
		c.store(key, z, false)
	}
	added, updated, processed := 0, 0, 0
	var score float64
	for j := 0; j < pairs; j++ {
		m := c.Args[i+2*j+1]
		s := scores[j]
		cur, exists := z.Score(zview(m))
		switch {
		case exists && nx, !exists && xx:
			continue
		case exists:
			if incr {
				s += cur
				if math.IsNaN(s) {
					if added > 0 {
						c.signal(key)
					}
					c.Error(errZNaN)
					return
				}
			}
			if lt && s >= cur || gt && s <= cur {
				continue
			}
			if s != cur {
				z.SetScore(zview(m), cur, s)
				updated++
			}
		default:
			z.Insert(string(m), s)
			added++
		}
		processed++
		score = s
	}
	if added > 0 {
		c.signal(key)
	}
	c.changed = added+updated > 0 // Redis emits zadd/zincr only then
	// Nor does Redis count, signal or propagate a ZADD that changed
	// nothing (its reply may be 0 with scores updated, or a score).
	c.noChange = !c.changed
	switch {
	case incr && processed > 0:
		c.Double(score)
	case incr:
		c.Null()
	case flags&zaddCH != 0:
		c.Int(int64(added + updated))
	default:
		c.Int(int64(added))
	}
}

func cmdZCard(c *Ctx) {
	z, ok := c.zsetAt(c.Args[1])
	if !ok {
		return
	}
	if z == nil {
		c.Int(0)
		return
	}
	c.Int(int64(z.Len()))
}

func cmdZScore(c *Ctx) {
	z, ok := c.zsetAt(c.Args[1])
	if !ok {
		return
	}
	if z != nil {
		if s, found := z.Score(zview(c.Args[2])); found {
			c.Double(s)
			return
		}
	}
	c.Null()
}

func cmdZMScore(c *Ctx) {
	z, ok := c.zsetAt(c.Args[1])
	if !ok {
		return
	}
	c.Array(len(c.Args) - 2)
	for _, m := range c.Args[2:] {
		if z != nil {
			if s, found := z.Score(zview(m)); found {
				c.Double(s)
				continue
			}
		}
		c.Null()
	}
}

func zrankCommand(c *Ctx, rev bool) {
	z, ok := c.zsetAt(c.Args[1])
	if !ok {
		return
	}
	if z != nil {
		if r, found := z.Rank(zview(c.Args[2])); found {
			if rev {
				r = z.Len() - 1 - r
			}
			c.Int(int64(r))
			return
		}
	}
	c.Null()
}

func cmdZRem(c *Ctx) {
	key := c.Args[1]
	z, ok := c.zsetAt(key)
	if !ok {
		return
	}
	if z == nil {
		c.Int(0)
		return
	}
	n := 0
	for _, m := range c.Args[2:] {
		if z.Remove(zview(m)) {
			n++
			if z.Len() == 0 {
				c.remove(key)
				break
			}
		}
	}
	c.Int(int64(n))
}

func cmdZCount(c *Ctx) {
	lo, hi, ok := zScoreRange(c.Args[2], c.Args[3])
	if !ok {
		c.Error(errZMinMax)
		return
	}
	zcountIn(c, &lo, &hi)
}

func cmdZLexCount(c *Ctx) {
	lo, hi, ok := zLexRange(c.Args[2], c.Args[3])
	if !ok {
		c.Error(errZLexRange)
		return
	}
	zcountIn(c, &lo, &hi)
}

func zcountIn(c *Ctx, lo, hi *zbound) {
	z, ok := c.zsetAt(c.Args[1])
	if !ok {
		return
	}
	if z == nil {
		c.Int(0)
		return
	}
	a, b := z.zRanks(lo, hi)
	c.Int(int64(b - a))
}

// Ranges.

type zrangeKind uint8

const (
	zrAuto zrangeKind = iota
	zrRank
	zrScore
	zrLex
)

type zrangeDir uint8

const (
	zdirAuto zrangeDir = iota
	zdirForward
	zdirReverse
)

// zrankSpan sanitises a rank range as Redis does; ok is false when it is
// empty.
func zrankSpan(start, end int64, n int) (int, int, bool) {
	ln := int64(n)
	if start < 0 {
		start += ln
	}
	if end < 0 {
		end += ln
	}
	if start < 0 {
		start = 0
	}
	if start > end || start >= ln {
		return 0, 0, false
	}
	if end >= ln {
		end = ln - 1
	}
	return int(start), int(end), true
}

// zrangeGeneric runs ZRANGE, ZRANGESTORE and the older range commands.
// src is the index of the source key, followed by the two ends of the
// range; the options follow them.
func zrangeGeneric(c *Ctx, src int, store bool, kind zrangeKind, dir zrangeDir) {
	withScores := false
	var offset, limit int64 = 0, -1
	for j := src + 3; j < len(c.Args); j++ {
		a := c.Args[j]
		left := len(c.Args) - j - 1
		switch {
		case !store && equalFold(a, "withscores"):
			withScores = true
		case equalFold(a, "limit") && left >= 2:
			var ok bool
			if offset, ok = wire.ParseInt(c.Args[j+1]); ok {
				limit, ok = wire.ParseInt(c.Args[j+2])
			}
			if !ok {
				c.Error(ErrNotInt)
				return
			}
			j += 2
		case dir == zdirAuto && equalFold(a, "rev"):
			dir = zdirReverse
		case kind == zrAuto && equalFold(a, "bylex"):
			kind = zrLex
		case kind == zrAuto && equalFold(a, "byscore"):
			kind = zrScore
		default:
			c.Error(ErrSyntax)
			return
		}
	}
	rev := dir == zdirReverse
	if kind == zrAuto {
		kind = zrRank
	}
	if limit != -1 && kind == zrRank {
		c.Error(errZLimitRank)
		return
	}
	if withScores && kind == zrLex {
		c.Error(errZScoresLex)
		return
	}
	minArg, maxArg := c.Args[src+1], c.Args[src+2]
	if rev && kind != zrRank {
		minArg, maxArg = maxArg, minArg // given as max, min
	}
	var start, end int64
	var lo, hi zbound
	var ok bool
	switch kind {
	case zrRank:
		if start, ok = wire.ParseInt(minArg); ok {
			end, ok = wire.ParseInt(maxArg)
		}
		if !ok {
			c.Error(ErrNotInt)
			return
		}
	case zrScore:
		if lo, hi, ok = zScoreRange(minArg, maxArg); !ok {
			c.Error(errZMinMax)
			return
		}
	case zrLex:
		if lo, hi, ok = zLexRange(minArg, maxArg); !ok {
			c.Error(errZLexRange)
			return
		}
	}
	z, ok := c.zsetAt(c.Args[src])
	if !ok {
		return
	}
	if z == nil {
		if store {
			c.zstore(c.Args[1], nil)
		} else {
			c.Array(0)
		}
		return
	}
	// The answer is count elements from rank first, going down when rev.
	first, count := 0, 0
	if kind == zrRank {
		if s, e, nonEmpty := zrankSpan(start, end, z.Len()); nonEmpty {
			first, count = s, e-s+1
			if rev {
				first = z.Len() - 1 - s
			}
		}
	} else {
		a, b := z.zRanks(&lo, &hi)
		if offset >= 0 && !(offset > 0 && offset >= int64(z.Len())) && int64(b-a) > offset {
			count = b - a - int(offset)
			if limit >= 0 && limit < int64(count) {
				count = int(limit)
			}
			first = a + int(offset)
			if rev {
				first = b - 1 - int(offset)
			}
		}
	}
	if !store {
		c.zreplyRange(z, first, count, rev, withScores)
		return
	}
	// Redis 7.0 adds the elements one by one, in reply order, to a
	// listpack unless the count is known to be too large, converting it when
	// it must; the elements added before that have any -0 stored as 0.
	items := make([]zitem, count)
	packed := kind != zrRank || count <= zsetListpackEntries
	if count > 0 {
		cur := z.at(first)
		for i := 0; i < count; i++ {
			it := *cur.item()
			if packed && (i+1 > zsetListpackEntries || len(it.member) > zsetListpackValue) {
				packed = false
			}
			if packed && it.score == 0 {
				it.score = 0
			}
			if rev {
				items[count-1-i] = it
				cur.prev()
			} else {
				items[i] = it
				cur.next()
			}
		}
	}
	if count == 0 {
		c.zstore(c.Args[1], nil)
		return
	}
	c.overwrite(c.Args[1], zsetFromSorted(items, packed), false)
	c.signal(c.Args[1])
	c.Int(int64(count))
}

// zremRange runs ZREMRANGEBYRANK, ZREMRANGEBYSCORE and ZREMRANGEBYLEX.
func zremRange(c *Ctx, kind zrangeKind) {
	key := c.Args[1]
	var start, end int64
	var lo, hi zbound
	ok := true
	switch kind {
	case zrRank:
		if start, ok = wire.ParseInt(c.Args[2]); ok {
			end, ok = wire.ParseInt(c.Args[3])
		}
		if !ok {
			c.Error(ErrNotInt)
			return
		}
	case zrScore:
		if lo, hi, ok = zScoreRange(c.Args[2], c.Args[3]); !ok {
			c.Error(errZMinMax)
			return
		}
	case zrLex:
		if lo, hi, ok = zLexRange(c.Args[2], c.Args[3]); !ok {
			c.Error(errZLexRange)
			return
		}
	}
	z, ok := c.zsetAt(key)
	if !ok {
		return
	}
	if z == nil {
		c.Int(0)
		return
	}
	var a, b int // ranks [a, b)
	if kind == zrRank {
		s, e, nonEmpty := zrankSpan(start, end, z.Len())
		if !nonEmpty {
			c.Int(0)
			return
		}
		a, b = s, e+1
	} else {
		a, b = z.zRanks(&lo, &hi)
	}
	if b > a {
		if b-a == z.Len() {
			c.remove(key)
		} else {
			z.RemoveRange(a, b-1)
		}
	}
	c.Int(int64(b - a))
}

// Pops.

// zpop removes the lowest element, or the highest when max.
func (z *ZSet) zpop(max bool) zitem {
	if max {
		return z.RemoveAt(z.Len() - 1)
	}
	return z.RemoveAt(0)
}

// popZSet pops up to count members from the sorted set at key, which
// must exist, lowest first or highest first when max, and deletes the key
// when it empties. The blocking commands use it.
func (c *Ctx) popZSet(key []byte, max bool, count int) (members []string, scores []float64) {
	v, _ := c.lookup(key)
	z, isZ := v.(*ZSet)
	if !isZ {
		return nil, nil
	}
	k := min(count, z.Len())
	members, scores = make([]string, k), make([]float64, k)
	for i := range k {
		it := z.zpop(max)
		members[i], scores[i] = it.member, it.score
	}
	if z.Len() == 0 {
		c.remove(key)
	}
	return members, scores
}

// zpopReply pops count elements from z at key and replies them, each a
// [member, score] pair when nested, else flat.
func (c *Ctx) zpopReply(key []byte, z *ZSet, max bool, count int, nested bool) {
	k := min(count, z.Len())
	if nested {
		c.Array(k)
	} else {
		c.Array(2 * k)
	}
	for range k {
		it := z.zpop(max)
		if nested {
			c.Array(2)
		}
		c.BulkString(it.member)
		c.Double(it.score)
	}
	if z.Len() == 0 {
		c.remove(key)
	}
}

func zpopCommand(c *Ctx, max bool) {
	if len(c.Args) > 3 {
		c.Error(ErrSyntax)
		return
	}
	count := int64(-1)
	if len(c.Args) == 3 {
		n, ok := wire.ParseInt(c.Args[2])
		if !ok || n < 0 {
			c.Error(errZPositive)
			return
		}
		count = n
	}
	key := c.Args[1]
	z, ok := c.zsetAt(key)
	if !ok {
		return
	}
	if z == nil || count == 0 {
		c.Array(0)
		return
	}
	// RESP3 nests pairs when a count was given.
	nested := c.Proto == wire.RESP3 && count != -1
	if count == -1 {
		count = 1
	}
	c.zpopReply(key, z, max, int(min(count, int64(z.Len()))), nested)
}

func cmdZMPop(c *Ctx) {
	keys, max, count, ok := c.zmpopArgs(1)
	if !ok {
		return
	}
	for _, key := range keys {
		v, found := c.lookup(key)
		if !found {
			continue
		}
		z, isZ := v.(*ZSet)
		if !isZ {
			c.Error(ErrWrongType)
			return
		}
		c.Array(2)
		c.Bulk(key)
		n := min(count, z.Len())
		c.zpopReply(key, z, max, n, true)
		c.propagateZPop(key, max, n)
		c.notePop(zpopEvent(max), key)
		return
	}
	c.NullArray()
}

// ZRANDMEMBER.

func cmdZRandMember(c *Ctx) {
	if len(c.Args) >= 3 {
		l, ok := wire.ParseInt(c.Args[2])
		if !ok {
			c.Error(ErrNotInt)
			return
		}
		if l == math.MinInt64 {
			c.Error(errZRandMinRange)
			return
		}
		if len(c.Args) > 4 || len(c.Args) == 4 && !equalFold(c.Args[3], "withscores") {
			c.Error(ErrSyntax)
			return
		}
		withScores := len(c.Args) == 4
		if withScores && (l < -math.MaxInt64/2 || l > math.MaxInt64/2) {
			c.Error(errZOutOfRange)
			return
		}
		zrandWithCount(c, l, withScores)
		return
	}
	z, ok := c.zsetAt(c.Args[1])
	if !ok {
		return
	}
	if z == nil {
		c.Null()
		return
	}
	cur := z.at(rand.IntN(z.Len()))
	c.BulkString(cur.item().member)
}

func zrandWithCount(c *Ctx, l int64, withScores bool) {
	z, ok := c.zsetAt(c.Args[1])
	if !ok {
		return
	}
	if z == nil || l == 0 {
		c.Array(0)
		return
	}
	size := z.Len()
	pairs := withScores && c.Proto == wire.RESP3
	emit := func(it *zitem) {
		if pairs {
			c.Array(2)
		}
		c.BulkString(it.member)
		if withScores {
			c.Double(it.score)
		}
	}
	header := func(n int64) {
		if withScores && !pairs {
			c.Array(int(2 * n))
		} else {
			c.Array(int(n))
		}
	}
	// A negative count may repeat members, in random order.
	if l < 0 || l == 1 {
		n := l
		if n < 0 {
			n = -n
		}
		header(n)
		for ; n > 0 && !c.OutFull(); n-- {
			cur := z.at(rand.IntN(size))
			emit(cur.item())
		}
		return
	}
	// Asking for at least the whole set returns it whole.
	if l >= int64(size) {
		c.zreplyRange(z, 0, size, false, withScores)
		return
	}
	count := int(l)
	header(int64(count))
	if count*3 > size {
		// Most of the set: shuffle its ranks partially.
		ranks := make([]int, size)
		for i := range ranks {
			ranks[i] = i
		}
		for i := 0; i < count; i++ {
			j := i + rand.IntN(size-i)
			ranks[i], ranks[j] = ranks[j], ranks[i]
		}
		for _, r := range ranks[:count] {
			cur := z.at(r)
			emit(cur.item())
		}
		return
	}
	seen := make(map[int]struct{}, count)
	for len(seen) < count {
		r := rand.IntN(size)
		if _, dup := seen[r]; dup {
			continue
		}
		seen[r] = struct{}{}
		cur := z.at(r)
		emit(cur.item())
	}
}

// ZUNION, ZINTER, ZDIFF, their *STORE forms and ZINTERCARD.

type zop uint8

const (
	zopUnion zop = iota
	zopInter
	zopDiff
)

// zsrc is an input of the set operations: a sorted set, or a plain set
// whose members all score 1, or nothing.
type zsrc struct {
	z      *ZSet
	s      Set
	weight float64
}

func (s *zsrc) size() int {
	if s.z != nil {
		return s.z.Len()
	}
	return len(s.s)
}

func (s *zsrc) find(m string) (float64, bool) {
	if s.z != nil {
		return s.z.Score(m)
	}
	_, ok := s.s[m]
	return 1, ok
}

func (s *zsrc) each(fn func(m string, score float64) bool) {
	if s.z != nil {
		s.z.each(func(it *zitem) bool { return fn(it.member, it.score) })
		return
	}
	for m := range s.s {
		if !fn(m, 1) {
			return
		}
	}
}

const (
	zaggSum = iota
	zaggMin
	zaggMax
)

// zaggregate folds val into target as Redis does; a sum of opposite
// infinities is 0.
func zaggregate(target *float64, val float64, agg int) {
	switch agg {
	case zaggSum:
		*target += val
		if math.IsNaN(*target) {
			*target = 0
		}
	case zaggMin:
		if val < *target {
			*target = val
		}
	case zaggMax:
		if val > *target {
			*target = val
		}
	}
}

func zsetAlgebra(c *Ctx, op zop, store, cardOnly bool) {
	numIdx := 1
	if store {
		numIdx = 2
	}
	n, ok := wire.ParseInt(c.Args[numIdx])
	if !ok {
		c.Error(ErrNotInt)
		return
	}
	if n < 1 {
		c.Error("ERR at least 1 input key is needed for '" + c.name() + "' command")
		return
	}
	if n > int64(len(c.Args)-numIdx-1) {
		c.Error(ErrSyntax)
		return
	}
	srcs := make([]zsrc, n)
	j := numIdx + 1
	for i := range srcs {
		srcs[i].weight = 1
		v, found := c.lookup(c.Args[j])
		j++
		if !found {
			continue
		}
		switch v := v.(type) {
		case *ZSet:
			srcs[i].z = v
		case Set:
			srcs[i].s = v
		default:
			c.Error(ErrWrongType)
			return
		}
	}
	agg := zaggSum
	withScores := false
	var limit int64
	for j < len(c.Args) {
		a := c.Args[j]
		left := len(c.Args) - j
		switch {
		case op != zopDiff && !cardOnly && left >= len(srcs)+1 && equalFold(a, "weights"):
			j++
			for i := range srcs {
				w, ok := zParseScore(c.Args[j])
				if !ok {
					c.Error(errZWeight)
					return
				}
				srcs[i].weight = w
				j++
			}
		case op != zopDiff && !cardOnly && left >= 2 && equalFold(a, "aggregate"):
			switch x := c.Args[j+1]; {
			case equalFold(x, "sum"):
				agg = zaggSum
			case equalFold(x, "min"):
				agg = zaggMin
			case equalFold(x, "max"):
				agg = zaggMax
			default:
				c.Error(ErrSyntax)
				return
			}
			j += 2
		case !store && !cardOnly && equalFold(a, "withscores"):
			withScores = true
			j++
		case cardOnly && left >= 2 && equalFold(a, "limit"):
			if limit, ok = wire.ParseInt(c.Args[j+1]); !ok || limit < 0 {
				c.Error(errZLimitNeg)
				return
			}
			j += 2
		default:
			c.Error(ErrSyntax)
			return
		}
	}
	if op != zopDiff {
		// Smallest first, as Redis orders them (which can matter for sums).
		slices.SortStableFunc(srcs, func(a, b zsrc) int { return a.size() - b.size() })
	}
	var items []zitem
	card := 0
	switch op {
	case zopInter:
		if srcs[0].size() == 0 {
			break
		}
		srcs[0].each(func(m string, s float64) bool {
			score := srcs[0].weight * s
			if math.IsNaN(score) {
				score = 0
			}
			for k := 1; k < len(srcs); k++ {
				v, found := srcs[k].find(m)
				if !found {
					return true
				}
				zaggregate(&score, v*srcs[k].weight, agg)
			}
			if cardOnly {
				card++
				return limit == 0 || int64(card) < limit
			}
			items = append(items, zitem{m, score})
			return true
		})
	case zopUnion:
		acc := make(map[string]float64, srcs[len(srcs)-1].size())
		for k := range srcs {
			w := srcs[k].weight
			srcs[k].each(func(m string, s float64) bool {
				score := w * s
				if math.IsNaN(score) {
					score = 0
				}
				if cur, dup := acc[m]; dup {
					zaggregate(&cur, score, agg)
					acc[m] = cur
				} else {
					acc[m] = score
				}
				return true
			})
		}
		items = make([]zitem, 0, len(acc))
		for m, s := range acc {
			items = append(items, zitem{m, s})
		}
	case zopDiff:
		srcs[0].each(func(m string, s float64) bool {
			for k := 1; k < len(srcs); k++ {
				if _, found := srcs[k].find(m); found {
					return true
				}
			}
			items = append(items, zitem{m, s})
			return true
		})
	}
	if cardOnly {
		c.Int(int64(card))
		return
	}
	slices.SortFunc(items, zcompare)
	if store {
		c.zstore(c.Args[1], items)
		return
	}
	c.zreplyItems(items, withScores)
}
