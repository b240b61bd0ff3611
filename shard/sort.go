package shard

import (
	"bytes"
	"cmp"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// SORT and SORT_RO, as Redis 7.0 runs them.
//
// BY and GET patterns name other keys, which may live on any shard. A call
// whose patterns will be looked up needs every shard (NeedsAllShards); any
// other call needs only the sorted key and the STORE destination, found by
// Keys the way Redis's COMMAND GETKEYS finds them. The handler asks c.db for
// every key it reads, so it works inside one shard's batch and across
// borrowed shards alike.

func init() {
	const (
		summary    = "Sort the elements in a list, set or sorted set"
		complexity = "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N)."
		syntax     = "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA]"
	)
	acl := []string{"set", "sortedset", "list", "dangerous"}
	register(
		&Command{Spec: Spec{Name: "sort", Arity: -2, Flags: Write | DenyOOM, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "generic", Since: "1.0.0", Summary: summary, Complexity: complexity,
			Syntax: syntax + " [STORE destination]", ACL: acl},
			Run:            func(c *Ctx) { cmdSort(c, false) },
			Keys:           sortKeys,
			NeedsAllShards: func(args [][]byte) bool { return sortNeedsAllShards(args, false) }},
		&Command{Spec: Spec{Name: "sort_ro", Arity: -2, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "generic", Since: "7.0.0", Summary: summary + ". Read-only variant of SORT.",
			Complexity: complexity, Syntax: syntax, ACL: acl},
			Run:            func(c *Ctx) { cmdSort(c, true) },
			Keys:           func(args [][]byte, dst []int) []int { return append(dst, 1) },
			NeedsAllShards: func(args [][]byte) bool { return sortNeedsAllShards(args, true) }},
	)
}

// sortOptions is a parsed SORT command line.
type sortOptions struct {
	desc, alpha bool
	dontSort    bool // a BY pattern without '*': keep the natural order
	by          []byte
	gets        [][]byte
	store       []byte // nil without STORE
	storeAt     int    // argument index of the destination
	offset      int64
	count       int64
}

// parseSort parses args (the whole command line) with Redis's rules: later
// options override earlier ones, and a BY without '*' turns sorting off
// for good. It returns the error reply, or "".
func parseSort(args [][]byte, readonly bool) (o sortOptions, errMsg string) {
	o.count = -1
	for j := 2; j < len(args); j++ {
		a, left := args[j], len(args)-j-1
		switch {
		case equalFold(a, "asc"):
			o.desc = false
		case equalFold(a, "desc"):
			o.desc = true
		case equalFold(a, "alpha"):
			o.alpha = true
		case equalFold(a, "limit") && left >= 2:
			var ok1, ok2 bool
			o.offset, ok1 = wire.ParseInt(args[j+1])
			o.count, ok2 = wire.ParseInt(args[j+2])
			if !ok1 || !ok2 {
				return o, ErrNotInt
			}
			j += 2
		case !readonly && equalFold(a, "store") && left >= 1:
			o.store, o.storeAt = args[j+1], j+1
			j++
		case equalFold(a, "by") && left >= 1:
			o.by = args[j+1]
			if !sortHasStar(o.by) {
				o.dontSort = true
			}
			j++
		case equalFold(a, "get") && left >= 1:
			o.gets = append(o.gets, args[j+1])
			j++
		default:
			return o, ErrSyntax
		}
	}
	return o, ""
}

// sortHasStar reports whether a pattern has a '*' before any NUL byte
// (Redis looks for it with strchr).
func sortHasStar(p []byte) bool {
	if i := bytes.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	return bytes.IndexByte(p, '*') >= 0
}

// sortKeys finds the keys of SORT as Redis's COMMAND GETKEYS does: the
// sorted key and the last STORE destination, skipping the arguments of
// LIMIT, GET and BY (but not of STORE) whether or not they are valid.
func sortKeys(args [][]byte, dst []int) []int {
	dst = append(dst, 1)
	store := 0
	for i := 2; i < len(args); i++ {
		switch a := args[i]; {
		case equalFold(a, "limit"):
			i += 2
		case equalFold(a, "get"), equalFold(a, "by"):
			i++
		case equalFold(a, "store") && i+1 < len(args):
			store = i + 1
		}
	}
	if store > 0 {
		dst = append(dst, store)
	}
	return dst
}

// sortNeedsAllShards reports whether a call will read keys named by its
// patterns, or (in contrived lines such as "STORE by STORE d") store to a
// key that sortKeys does not report.
func sortNeedsAllShards(args [][]byte, readonly bool) bool {
	o, errMsg := parseSort(args, readonly)
	if errMsg != "" {
		return false // it replies an error and reads nothing
	}
	if o.by != nil && !o.dontSort {
		return true
	}
	for _, g := range o.gets {
		if sortHasStar(g) {
			return true
		}
	}
	if o.store != nil {
		keys := sortKeys(args, nil)
		return len(keys) != 2 || keys[1] != o.storeAt
	}
	return false
}

// sortPattern is a BY or GET pattern split for lookups.
type sortPattern struct {
	self           bool // "#": the element itself
	none           bool // no '*': nothing matches
	prefix, suffix []byte
	field          []byte // "key->field": a hash field; nil for a string key
}

func newSortPattern(p []byte) sortPattern {
	// Redis reads the pattern partly as a C string: "#" and the '*' and
	// "->" searches stop at a NUL byte, the lengths do not.
	if len(p) > 0 && p[0] == '#' && (len(p) == 1 || p[1] == 0) {
		return sortPattern{self: true}
	}
	cstr := p
	if i := bytes.IndexByte(p, 0); i >= 0 {
		cstr = p[:i]
	}
	star := bytes.IndexByte(cstr, '*')
	if star < 0 {
		return sortPattern{none: true}
	}
	sp := sortPattern{prefix: p[:star], suffix: p[star+1:]}
	if f := bytes.Index(cstr[star+1:], []byte("->")); f >= 0 {
		f += star + 1
		if f+2 < len(p) && p[f+2] != 0 {
			sp.suffix, sp.field = p[star+1:f], p[f+2:]
		}
	}
	return sp
}

// sortLookup returns the value the pattern names for elem: a string key's
// value or a hash field. Anything else, missing or of another type, is
// not found. buf is scratch space for the key name.
func (c *Ctx) sortLookup(p *sortPattern, elem string, buf *[]byte) (string, bool) {
	if p.self {
		return elem, true
	}
	if p.none {
		return "", false
	}
	key := append(append(append((*buf)[:0], p.prefix...), elem...), p.suffix...)
	*buf = key
	v, ok := c.lookup(key)
	if !ok {
		return "", false
	}
	if p.field == nil {
		s, isStr := v.(string)
		return s, isStr
	}
	h, isHash := v.(*Hash)
	if !isHash {
		return "", false
	}
	return h.get(p.field)
}

// sortItem is one element being sorted with what it is sorted by.
type sortItem struct {
	elem  string
	score float64 // numeric sorts
	by    string  // ALPHA with BY: the looked-up value
	hasBy bool    // false when the BY lookup found nothing
}

const errSortScore = "ERR One or more scores can't be converted into double"

func cmdSort(c *Ctx, readonly bool) {
	o, errMsg := parseSort(c.Args, readonly)
	if errMsg != "" {
		c.Error(errMsg)
		return
	}
	val, found := c.lookup(c.Args[1])
	var n int
	switch v := val.(type) {
	case *List:
		n = v.Len()
	case Set:
		n = len(v)
	case *ZSet:
		n = v.Len()
	default:
		if found {
			c.Error(ErrWrongType)
			return
		}
	}
	if _, isSet := val.(Set); isSet && o.dontSort && (o.store != nil || c.script) {
		// A set has no natural order to keep; Redis sorts it ALPHA so that
		// a stored result, and what a script sees, is deterministic.
		o.dontSort, o.alpha, o.by = false, true, nil
	}

	// The output range, clamped the way Redis clamps it.
	start := min(max(o.offset, 0), int64(n))
	count := min(max(o.count, -1), int64(n))
	end := int64(n) - 1
	if count >= 0 {
		end = start + count - 1
	}
	if start >= int64(n) {
		start, end = int64(n)-1, int64(n)-2
	}
	end = min(end, int64(n)-1)

	items := sortLoad(val, n, &o, int(start), int(end))
	if o.dontSort {
		// sortLoad already cut lists and sorted sets to the range.
		if _, isSet := val.(Set); !isSet {
			start, end = 0, int64(len(items))-1
		}
	} else if !c.sortItems(items, &o) {
		c.Error(errSortScore)
		return
	}
	if end < start {
		items = nil
	} else {
		items = items[start : end+1]
	}
	c.sortReply(items, &o)
}

// sortLoad returns the elements to sort. Without sorting, a list or sorted
// set gives only the range start..end, in its order or reversed for DESC.
func sortLoad(val any, n int, o *sortOptions, start, end int) []sortItem {
	var items []sortItem
	switch v := val.(type) {
	case *List:
		if !o.dontSort {
			items = make([]sortItem, n)
			for i := range items {
				items[i].elem = v.At(i)
			}
			break
		}
		if end < start {
			break
		}
		items = make([]sortItem, end-start+1)
		for i := range items {
			if o.desc {
				items[i].elem = v.At(n - 1 - start - i)
			} else {
				items[i].elem = v.At(start + i)
			}
		}
	case Set:
		items = make([]sortItem, 0, n)
		for m := range v {
			items = append(items, sortItem{elem: m})
		}
		if v.encoding() == "intset" {
			// Redis walks an intset in ascending order; BY nosort shows it.
			slices.SortFunc(items, func(a, b sortItem) int {
				x, _ := strconv.ParseInt(a.elem, 10, 64)
				y, _ := strconv.ParseInt(b.elem, 10, 64)
				return cmp.Compare(x, y)
			})
		}
	case *ZSet:
		if !o.dontSort {
			items = make([]sortItem, 0, n)
			v.each(func(it *zitem) bool {
				items = append(items, sortItem{elem: it.member})
				return true
			})
			break
		}
		if end < start {
			break
		}
		items = make([]sortItem, end-start+1)
		if o.desc {
			cur := v.at(n - 1 - start)
			for i := range items {
				items[i].elem = cur.item().member
				if i+1 < len(items) {
					cur.prev()
				}
			}
		} else {
			cur := v.at(start)
			for i := range items {
				items[i].elem = cur.item().member
				if i+1 < len(items) {
					cur.next()
				}
			}
		}
	}
	return items
}

// sortItems computes what each element sorts by and sorts them. It
// returns false when a numeric sort meets a value that is not a number.
func (c *Ctx) sortItems(items []sortItem, o *sortOptions) bool {
	var by sortPattern
	if o.by != nil {
		by = newSortPattern(o.by)
	}
	var buf []byte
	for i := range items {
		it := &items[i]
		v := it.elem
		if o.by != nil {
			var ok bool
			if v, ok = c.sortLookup(&by, it.elem, &buf); !ok {
				continue // sorts as 0, or before everything with ALPHA
			}
		}
		if o.alpha {
			if o.by != nil {
				it.by, it.hasBy = v, true
			}
			continue
		}
		f, ok := sortStrtod(v)
		if !ok {
			return false
		}
		it.score = f
	}
	// Redis's qsort (glibc's merge sort) is stable, which decides the
	// order of ALPHA ties.
	slices.SortStableFunc(items, func(a, b sortItem) int {
		var r int
		switch {
		case !o.alpha:
			// Equal scores fall back to the elements' bytes.
			if r = cmp.Compare(a.score, b.score); r == 0 {
				r = strings.Compare(a.elem, b.elem)
			}
		case o.by != nil && (!a.hasBy || !b.hasBy):
			r = sortB2i(a.hasBy) - sortB2i(b.hasBy) // nothing found sorts first
		case o.by != nil:
			r = sortCompareAlpha(a.by, b.by, o.store != nil)
		default:
			r = sortCompareAlpha(a.elem, b.elem, o.store != nil)
		}
		if o.desc {
			r = -r
		}
		return r
	})
	return true
}

func sortB2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sortCompareAlpha orders ALPHA values. With STORE Redis compares the
// bytes; otherwise it uses strcoll, which reads C strings (up to a NUL
// byte) and, in the C and C.UTF-8 locales, orders them by bytes.
func sortCompareAlpha(a, b string, binary bool) int {
	if !binary {
		if i := strings.IndexByte(a, 0); i >= 0 {
			a = a[:i]
		}
		if i := strings.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
	}
	return strings.Compare(a, b)
}

// sortReply sends the sorted range, or stores it with STORE.
func (c *Ctx) sortReply(items []sortItem, o *sortOptions) {
	gets := make([]sortPattern, len(o.gets))
	for i, g := range o.gets {
		gets[i] = newSortPattern(g)
	}
	n := len(items) * max(len(gets), 1)
	var buf []byte
	if o.store == nil {
		c.Array(n)
		for _, it := range items {
			if len(gets) == 0 {
				c.BulkString(it.elem)
			}
			for i := range gets {
				if v, ok := c.sortLookup(&gets[i], it.elem, &buf); ok {
					c.BulkString(v)
				} else {
					c.Null()
				}
			}
		}
		return
	}
	if n == 0 {
		c.remove(o.store)
		c.Int(0)
		return
	}
	l := &List{buf: make([]string, max(4, ceilPow2(n))), n: n}
	k := 0
	for _, it := range items {
		if len(gets) == 0 {
			l.buf[k], k = it.elem, k+1
		}
		for i := range gets {
			v, _ := c.sortLookup(&gets[i], it.elem, &buf) // "" when missing
			l.buf[k], k = v, k+1
		}
	}
	c.overwrite(o.store, l, false)
	c.signal(o.store)
	c.Int(int64(n))
}

// sortStrtod reads a value for a numeric sort the way Redis does with
// strtod: as a C string (up to a NUL byte), after optional white space,
// in decimal or hex, or inf/infinity, and it must use every byte. NaN,
// overflow and inexact underflow are errors; "" reads as 0.
func sortStrtod(s string) (float64, bool) {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return 0, true
	}
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	body := s
	if body != "" && (body[0] == '+' || body[0] == '-') {
		body = body[1:]
	}
	if len(body) >= 3 && strings.EqualFold(body[:3], "inf") {
		if len(body) == 3 || strings.EqualFold(body, "infinity") {
			if s[0] == '-' {
				return math.Inf(-1), true
			}
			return math.Inf(1), true
		}
		return 0, false
	}
	hex := len(body) >= 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')
	nonzero, ok := sortNumberSyntax(body, hex)
	if !ok {
		return 0, false
	}
	in := s
	if hex && !strings.ContainsAny(body, "pP") {
		in += "p0" // Go wants a binary exponent in hex
	}
	f, err := strconv.ParseFloat(in, 64)
	if err != nil {
		return 0, false // out of range
	}
	if f == 0 {
		return f, !nonzero // underflow to zero
	}
	if math.Abs(f) < 0x1p-1022 {
		// A subnormal result is an underflow unless exact.
		exact, _ := new(big.Rat).SetString(in)
		return f, exact != nil && new(big.Rat).SetFloat64(f).Cmp(exact) == 0
	}
	return f, true
}

// sortNumberSyntax checks an unsigned decimal or (with hex) 0x number
// with an optional exponent, and reports whether a mantissa digit is not
// zero.
func sortNumberSyntax(b string, hex bool) (nonzero, ok bool) {
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	digit, exp := isDigit, byte('e')
	if hex {
		b = b[2:]
		digit = func(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }
		exp = 'p'
	}
	i, n := 0, 0
	for ; i < len(b) && (digit(b[i]) || b[i] == '.' && !strings.Contains(b[:i], ".")); i++ {
		if b[i] != '.' {
			n++
			nonzero = nonzero || b[i] != '0'
		}
	}
	if n == 0 {
		return false, false
	}
	if i < len(b) && b[i]|0x20 == exp {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		if i == j {
			return false, false
		}
	}
	return nonzero, i == len(b)
}
