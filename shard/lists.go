package shard

import (
	"math"

	"github.com/valkyrie-kv/valkyrie/wire"
)

func init() {
	register(
		&Command{Spec: Spec{Name: "lindex", Arity: 3, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "1.0.0", Summary: "Get an element from a list by its index",
			Complexity: "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).",
			Syntax:     "key index"}, Run: cmdLIndex},
		&Command{Spec: Spec{Name: "linsert", Arity: 5, Flags: Write | DenyOOM, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "2.2.0", Summary: "Insert an element before or after another element in a list",
			Complexity: "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).",
			Syntax:     "key <BEFORE|AFTER> pivot element"}, Run: cmdLInsert},
		&Command{Spec: Spec{Name: "llen", Arity: 2, Flags: ReadOnly | Fast, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "1.0.0", Summary: "Get the length of a list", Complexity: "O(1)",
			Syntax: "key"}, Run: cmdLLen},
		&Command{Spec: Spec{Name: "lmove", Arity: 5, Flags: Write | DenyOOM, FirstKey: 1, LastKey: 2, Step: 1,
			Group: "list", Since: "6.2.0", Summary: "Pop an element from a list, push it to another list and return it",
			Complexity: "O(1)", Syntax: "source destination <LEFT|RIGHT> <LEFT|RIGHT>"}, Run: cmdLMove},
		&Command{Spec: Spec{Name: "lmpop", Arity: -4, Flags: Write,
			Group: "list", Since: "7.0.0", Summary: "Pop elements from a list",
			Complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
			Syntax:     "numkeys key [key ...] <LEFT|RIGHT> [COUNT count]"},
			Run: cmdLMPop, Keys: lmpopKeyIndexes(1)},
		&Command{Spec: Spec{Name: "lpop", Arity: -2, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "1.0.0", Summary: "Remove and get the first elements in a list",
			Complexity: "O(N) where N is the number of elements returned", Syntax: "key [count]"},
			Run: func(c *Ctx) { cmdPop(c, true) }},
		&Command{Spec: Spec{Name: "rpop", Arity: -2, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "1.0.0", Summary: "Remove and get the last elements in a list",
			Complexity: "O(N) where N is the number of elements returned", Syntax: "key [count]"},
			Run: func(c *Ctx) { cmdPop(c, false) }},
		&Command{Spec: Spec{Name: "lpos", Arity: -3, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "6.0.6", Summary: "Return the index of matching elements on a list",
			Complexity: "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.",
			Syntax:     "key element [RANK rank] [COUNT num-matches] [MAXLEN len]"}, Run: cmdLPos},
		&Command{Spec: Spec{Name: "lpush", Arity: -3, Flags: Write | DenyOOM | Fast, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "1.0.0", Summary: "Prepend one or multiple elements to a list",
			Complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
			Syntax:     "key element [element ...]"}, Run: func(c *Ctx) { cmdPush(c, true, false) }},
		&Command{Spec: Spec{Name: "rpush", Arity: -3, Flags: Write | DenyOOM | Fast, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "1.0.0", Summary: "Append one or multiple elements to a list",
			Complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
			Syntax:     "key element [element ...]"}, Run: func(c *Ctx) { cmdPush(c, false, false) }},
		&Command{Spec: Spec{Name: "lpushx", Arity: -3, Flags: Write | DenyOOM | Fast, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "2.2.0", Summary: "Prepend an element to a list, only if the list exists",
			Complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
			Syntax:     "key element [element ...]"}, Run: func(c *Ctx) { cmdPush(c, true, true) }},
		&Command{Spec: Spec{Name: "rpushx", Arity: -3, Flags: Write | DenyOOM | Fast, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "2.2.0", Summary: "Append an element to a list, only if the list exists",
			Complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
			Syntax:     "key element [element ...]"}, Run: func(c *Ctx) { cmdPush(c, false, true) }},
		&Command{Spec: Spec{Name: "lrange", Arity: 4, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "1.0.0", Summary: "Get a range of elements from a list",
			Complexity: "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.",
			Syntax:     "key start stop"}, Run: cmdLRange},
		&Command{Spec: Spec{Name: "lrem", Arity: 4, Flags: Write, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "1.0.0", Summary: "Remove elements from a list",
			Complexity: "O(N+M) where N is the length of the list and M is the number of elements removed.",
			Syntax:     "key count element"}, Run: cmdLRem},
		&Command{Spec: Spec{Name: "lset", Arity: 4, Flags: Write | DenyOOM, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "1.0.0", Summary: "Set the value of an element in a list by its index",
			Complexity: "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).",
			Syntax:     "key index element"}, Run: cmdLSet},
		&Command{Spec: Spec{Name: "ltrim", Arity: 4, Flags: Write, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "list", Since: "1.0.0", Summary: "Trim a list to the specified range",
			Complexity: "O(N) where N is the number of elements to be removed by the operation.",
			Syntax:     "key start stop"}, Run: cmdLTrim},
		&Command{Spec: Spec{Name: "rpoplpush", Arity: 3, Flags: Write | DenyOOM, FirstKey: 1, LastKey: 2, Step: 1,
			Group: "list", Since: "1.2.0", Summary: "Remove the last element in a list, prepend it to another list and return it",
			Complexity: "O(1)", Syntax: "source destination"}, Run: cmdRPopLPush},
	)
}

// Error replies of the list commands, as Redis 7.0 words them.
const (
	errListCountPositive = "ERR value is out of range, must be positive"
	errListNumkeys       = "ERR numkeys should be greater than 0"
	errListMPopCount     = "ERR count should be greater than 0"
	errListRankZero      = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
	errListCountNegative = "ERR COUNT can't be negative"
	errListMaxlenNeg     = "ERR MAXLEN can't be negative"
)

// lmpopKeyIndexes returns the Keys function of a command whose numkeys
// argument is at position at and whose keys follow it (LMPOP: 1, BLMPOP:
// 2). Invalid or too large numkeys yields no keys; the handler then replies
// the error.
func lmpopKeyIndexes(at int) func(args [][]byte, dst []int) []int {
	return func(args [][]byte, dst []int) []int {
		if len(args) <= at {
			return dst
		}
		n, ok := wire.ParseInt(args[at])
		// The keys must leave room for the LEFT|RIGHT after them.
		if !ok || n <= 0 || n > int64(len(args)-at-2) {
			return dst
		}
		for i := at + 1; i <= at+int(n); i++ {
			dst = append(dst, i)
		}
		return dst
	}
}

// parseLeftRight recognises LEFT or RIGHT in any case.
func parseLeftRight(b []byte) (left, ok bool) {
	switch {
	case equalFold(b, "left"):
		return true, true
	case equalFold(b, "right"):
		return false, true
	}
	return false, false
}

// popList pops up to count elements from the left or right of the list at
// key (which must exist and be a list), deleting the key when it empties.
func (c *Ctx) popList(key []byte, left bool, count int) []string {
	db := c.db(key)
	v, _ := db.get(key, c.Now)
	l := v.(*List)
	count = min(count, l.Len())
	out := make([]string, count)
	for i := range out {
		if left {
			out[i] = l.PopFront()
		} else {
			out[i] = l.PopBack()
		}
	}
	if l.Len() == 0 {
		db.remove(key)
	}
	return out
}

// popOne pops one element from l, stored at key, deleting key when the
// list empties. It is popList without the slice.
func (c *Ctx) popOne(key []byte, l *List, left bool) string {
	var s string
	if left {
		s = l.PopFront()
	} else {
		s = l.PopBack()
	}
	if l.Len() == 0 {
		c.db(key).remove(key)
	}
	return s
}

// listToPush returns the list at key for pushing, creating and storing an
// empty one when the key is missing. It returns nil after replying
// WRONGTYPE. The caller must push at least one element.
func (c *Ctx) listToPush(key []byte) *List {
	l, found, ok := valueAt[*List](c, key)
	if !ok {
		return nil
	}
	if !found {
		l = &List{born: c.stamp}
		c.store(key, l, false)
	}
	return l
}

// pushList pushes elems to the left or right of the list at key, creating
// it; it calls c.signal(key). It replies nothing. It returns the new length,
// or -1 after replying WRONGTYPE when key holds another type.
func (c *Ctx) pushList(key []byte, left bool, elems ...string) int {
	if len(elems) == 0 {
		l, _, ok := valueAt[*List](c, key)
		if !ok {
			return -1
		}
		if l == nil {
			return 0
		}
		return l.Len()
	}
	l := c.listToPush(key)
	if l == nil {
		return -1
	}
	for _, e := range elems {
		if left {
			l.PushFront(e)
		} else {
			l.PushBack(e)
		}
	}
	c.signal(key)
	return l.Len()
}

// moveList implements LMOVE's data step: pops from src (from left if
// srcLeft) and pushes to dst; ok false when src is empty/missing. It
// replies nothing, but replies WRONGTYPE and returns wrong=true if either
// key has the wrong type (check both BEFORE popping, as Redis does).
func (c *Ctx) moveList(src, dst []byte, srcLeft, dstLeft bool) (elem string, ok, wrong bool) {
	sl, found, typeOK := valueAt[*List](c, src)
	if !typeOK {
		return "", false, true
	}
	if !found {
		return "", false, false
	}
	if string(src) == string(dst) {
		// Rotate in place: the key never disappears, so it keeps its TTL.
		if srcLeft {
			elem = sl.PopFront()
		} else {
			elem = sl.PopBack()
		}
		if dstLeft {
			sl.PushFront(elem)
		} else {
			sl.PushBack(elem)
		}
		c.signal(dst)
		return elem, true, false
	}
	dl, dstFound, typeOK := valueAt[*List](c, dst)
	if !typeOK {
		return "", false, true
	}
	elem = c.popOne(src, sl, srcLeft)
	if !dstFound {
		dl = &List{born: c.stamp}
		c.store(dst, dl, false)
	}
	if dstLeft {
		dl.PushFront(elem)
	} else {
		dl.PushBack(elem)
	}
	c.signal(dst)
	return elem, true, false
}

// cmdPush is LPUSH, RPUSH, LPUSHX and RPUSHX.
func cmdPush(c *Ctx, left, onlyExisting bool) {
	key := c.Args[1]
	var l *List
	if onlyExisting {
		var found, ok bool
		l, found, ok = valueAt[*List](c, key)
		if !ok {
			return
		}
		if !found {
			c.Int(0)
			return
		}
	} else if l = c.listToPush(key); l == nil {
		return
	}
	// Pushing the arguments directly saves pushList's []string.
	for _, e := range c.Args[2:] {
		if left {
			l.PushFront(string(e))
		} else {
			l.PushBack(string(e))
		}
	}
	c.signal(key)
	c.Int(int64(l.Len()))
}

// cmdPop is LPOP and RPOP, with or without a count.
func cmdPop(c *Ctx, left bool) {
	key := c.Args[1]
	if len(c.Args) > 3 {
		c.ArityError()
		return
	}
	if len(c.Args) == 2 {
		l, found, ok := valueAt[*List](c, key)
		switch {
		case !ok:
		case !found:
			c.Null()
		default:
			c.BulkString(c.popOne(key, l, left))
		}
		return
	}
	n, valid := wire.ParseInt(c.Args[2])
	if !valid || n < 0 {
		c.Error(errListCountPositive)
		return
	}
	_, found, ok := valueAt[*List](c, key)
	switch {
	case !ok:
	case !found:
		c.NullArray()
	case n == 0:
		c.Array(0)
	default:
		c.replyStrings(c.popList(key, left, int(min(n, math.MaxInt32))))
	}
}

// replyStrings replies an array of bulk strings.
func (c *Ctx) replyStrings(elems []string) {
	c.Array(len(elems))
	for _, e := range elems {
		c.BulkString(e)
	}
}

func cmdLMPop(c *Ctx) {
	args := c.Args
	n, valid := wire.ParseInt(args[1])
	if !valid || n <= 0 {
		c.Error(errListNumkeys)
		return
	}
	if n > int64(len(args)-3) {
		c.Error(ErrSyntax)
		return
	}
	keys := args[2 : 2+n]
	left, ok := parseLeftRight(args[2+n])
	if !ok {
		c.Error(ErrSyntax)
		return
	}
	count := int64(0)
	for j := 3 + int(n); j < len(args); j++ {
		if count != 0 || j+1 == len(args) || !equalFold(args[j], "count") {
			c.Error(ErrSyntax)
			return
		}
		j++
		count, valid = wire.ParseInt(args[j])
		if !valid || count <= 0 {
			c.Error(errListMPopCount)
			return
		}
	}
	count = max(count, 1)
	for _, key := range keys {
		_, found, ok := valueAt[*List](c, key)
		if !ok {
			return
		}
		if found {
			c.Array(2)
			c.Bulk(key)
			elems := c.popList(key, left, int(min(count, math.MaxInt32)))
			c.replyStrings(elems)
			c.propagateListPop(key, left, len(elems))
			c.notePop(popEvent(left), key)
			return
		}
	}
	c.NullArray()
}

func cmdLMove(c *Ctx) {
	srcLeft, ok1 := parseLeftRight(c.Args[3])
	dstLeft, ok2 := parseLeftRight(c.Args[4])
	if !ok1 || !ok2 {
		c.Error(ErrSyntax)
		return
	}
	c.replyMove(srcLeft, dstLeft)
}

func cmdRPopLPush(c *Ctx) { c.replyMove(false, true) }

// replyMove moves one element from Args[1] to Args[2] and replies it.
func (c *Ctx) replyMove(srcLeft, dstLeft bool) {
	elem, ok, wrong := c.moveList(c.Args[1], c.Args[2], srcLeft, dstLeft)
	switch {
	case wrong:
	case !ok:
		c.Null()
	default:
		c.BulkString(elem)
	}
}

func cmdLLen(c *Ctx) {
	l, found, ok := valueAt[*List](c, c.Args[1])
	switch {
	case !ok:
	case !found:
		c.Int(0)
	default:
		c.Int(int64(l.Len()))
	}
}

// listIndex converts a possibly negative index into a position in a list
// of length n; ok is false when it falls outside.
func listIndex(i int64, n int) (int, bool) {
	if i < 0 {
		i += int64(n)
	}
	if i < 0 || i >= int64(n) {
		return 0, false
	}
	return int(i), true
}

// listRange clamps start and stop (inclusive, possibly negative) to a list
// of length n; ok is false when the range is empty.
func listRange(start, stop int64, n int) (int, int, bool) {
	ln := int64(n)
	if start < 0 {
		start += ln
	}
	if stop < 0 {
		stop += ln
	}
	start = max(start, 0)
	if start > stop || start >= ln {
		return 0, 0, false
	}
	return int(start), int(min(stop, ln-1)), true
}

func cmdLIndex(c *Ctx) {
	l, found, ok := valueAt[*List](c, c.Args[1])
	if !ok {
		return
	}
	if !found {
		c.Null()
		return
	}
	i, valid := wire.ParseInt(c.Args[2])
	if !valid {
		c.Error(ErrNotInt)
		return
	}
	if at, in := listIndex(i, l.Len()); in {
		c.BulkString(l.At(at))
	} else {
		c.Null()
	}
}

func cmdLSet(c *Ctx) {
	l, found, ok := valueAt[*List](c, c.Args[1])
	if !ok {
		return
	}
	if !found {
		c.Error(ErrNoSuchKey)
		return
	}
	i, valid := wire.ParseInt(c.Args[2])
	if !valid {
		c.Error(ErrNotInt)
		return
	}
	at, in := listIndex(i, l.Len())
	if !in {
		c.Error(ErrOutOfRange)
		return
	}
	l.SetAt(at, string(c.Args[3]))
	c.OK()
}

func cmdLRange(c *Ctx) {
	start, ok1 := wire.ParseInt(c.Args[2])
	stop, ok2 := wire.ParseInt(c.Args[3])
	if !ok1 || !ok2 {
		c.Error(ErrNotInt)
		return
	}
	l, found, ok := valueAt[*List](c, c.Args[1])
	if !ok {
		return
	}
	if !found {
		c.Array(0)
		return
	}
	from, to, nonEmpty := listRange(start, stop, l.Len())
	if !nonEmpty {
		c.Array(0)
		return
	}
	c.Array(to - from + 1)
	for i := from; i <= to; i++ {
		c.BulkString(l.At(i))
	}
}

func cmdLTrim(c *Ctx) {
	key := c.Args[1]
	start, ok1 := wire.ParseInt(c.Args[2])
	stop, ok2 := wire.ParseInt(c.Args[3])
	if !ok1 || !ok2 {
		c.Error(ErrNotInt)
		return
	}
	l, found, ok := valueAt[*List](c, key)
	if !ok {
		return
	}
	if found {
		from, to, nonEmpty := listRange(start, stop, l.Len())
		switch {
		case !nonEmpty:
			c.db(key).remove(key)
		case from > 0 || to < l.Len()-1:
			l.Keep(from, to)
		}
	}
	c.OK()
}

func cmdLInsert(c *Ctx) {
	key := c.Args[1]
	var after bool
	switch where := c.Args[2]; {
	case equalFold(where, "after"):
		after = true
	case !equalFold(where, "before"):
		c.Error(ErrSyntax)
		return
	}
	l, found, ok := valueAt[*List](c, key)
	if !ok {
		return
	}
	if !found {
		c.Int(0)
		return
	}
	pivot := c.Args[3]
	for i, n := 0, l.Len(); i < n; i++ {
		if l.At(i) == string(pivot) {
			if after {
				i++
			}
			l.Insert(i, string(c.Args[4]))
			c.signal(key)
			c.Int(int64(l.Len()))
			return
		}
	}
	c.Int(-1)
}

func cmdLRem(c *Ctx) {
	key := c.Args[1]
	count, valid := wire.ParseInt(c.Args[2])
	if !valid {
		c.Error(ErrNotInt)
		return
	}
	l, found, ok := valueAt[*List](c, key)
	if !ok {
		return
	}
	if !found {
		c.Int(0)
		return
	}
	elem := c.Args[3]
	limit := count
	if limit < 0 {
		limit = -limit // MinInt64 stays negative: no limit, like 0
	}
	n := l.Len()
	removed := int64(0)
	// Compact the kept elements towards the end we scan from, then cut
	// the other end.
	if count >= 0 {
		w := 0
		for r := 0; r < n; r++ {
			e := l.At(r)
			if (limit <= 0 || removed < limit) && e == string(elem) {
				removed++
				continue
			}
			if w != r {
				l.SetAt(w, e)
			}
			w++
		}
		if removed > 0 && w > 0 {
			l.Keep(0, w-1)
		}
	} else {
		w := n - 1
		for r := n - 1; r >= 0; r-- {
			e := l.At(r)
			if (limit <= 0 || removed < limit) && e == string(elem) {
				removed++
				continue
			}
			if w != r {
				l.SetAt(w, e)
			}
			w--
		}
		if removed > 0 && w < n-1 {
			l.Keep(w+1, n-1)
		}
	}
	if removed == int64(n) {
		c.db(key).remove(key)
	}
	c.Int(removed)
}

func cmdLPos(c *Ctx) {
	args := c.Args
	rank, count, maxlen := int64(1), int64(0), int64(0)
	hasCount := false
	for j := 3; j < len(args); j++ {
		more := j+1 < len(args)
		switch a := args[j]; {
		case more && equalFold(a, "rank"):
			j++
			n, valid := wire.ParseInt(args[j])
			if !valid {
				c.Error(ErrNotInt)
				return
			}
			if n == 0 {
				c.Error(errListRankZero)
				return
			}
			rank = n
		case more && equalFold(a, "count"):
			j++
			n, valid := wire.ParseInt(args[j])
			if !valid || n < 0 {
				c.Error(errListCountNegative)
				return
			}
			count, hasCount = n, true
		case more && equalFold(a, "maxlen"):
			j++
			n, valid := wire.ParseInt(args[j])
			if !valid || n < 0 {
				c.Error(errListMaxlenNeg)
				return
			}
			maxlen = n
		default:
			c.Error(ErrSyntax)
			return
		}
	}
	l, found, ok := valueAt[*List](c, args[1])
	if !ok {
		return
	}
	if !found {
		if hasCount {
			c.Array(0)
		} else {
			c.Null()
		}
		return
	}
	// Matches to skip before reporting; a negative rank scans from the
	// tail. Redis negates the rank, so RANK -9223372036854775808 stays
	// negative there: every match qualifies and COUNT never stops the
	// scan. We follow.
	fromTail := rank < 0
	skip := rank - 1
	if fromTail {
		skip = -rank - 1
	}
	if rank == math.MinInt64 {
		skip, count = 0, 0
	}
	if !hasCount {
		count = 1
	}
	n := l.Len()
	steps := n
	if maxlen > 0 && maxlen < int64(n) {
		steps = int(maxlen)
	}
	elem := args[2]
	var buf [16]int64
	hits := buf[:0]
	for k := 0; k < steps; k++ {
		i := k
		if fromTail {
			i = n - 1 - k
		}
		if l.At(i) != string(elem) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		hits = append(hits, int64(i))
		if count > 0 && int64(len(hits)) >= count {
			break
		}
	}
	if !hasCount {
		if len(hits) == 0 {
			c.Null()
		} else {
			c.Int(hits[0])
		}
		return
	}
	c.Array(len(hits))
	for _, h := range hits {
		c.Int(h)
	}
}
