package shard

import (
	"maps"
	"math"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// Set commands. A set that loses its last member is deleted; the *STORE
// forms overwrite their destination whatever it held, and delete it when
// the result is empty.

func init() {
	set := func(name string, arity int, flags Flag, since, summary, complexity, syntax string, run func(*Ctx)) *Command {
		return &Command{Spec: Spec{Name: name, Arity: arity, Flags: flags, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "set", Since: since, Summary: summary, Complexity: complexity, Syntax: syntax}, Run: run}
	}
	multi := func(c *Command) *Command { c.LastKey = -1; return c }
	const (
		total = "O(N) where N is the total number of elements in all given sets."
		inter = "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."
	)
	smove := set("smove", 4, Write|Fast, "1.0.0", "Move a member from one set to another", "O(1)",
		"source destination member", cmdSMove)
	smove.LastKey = 2
	register(
		set("sadd", -3, Write|DenyOOM|Fast, "1.0.0", "Add one or more members to a set",
			"O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
			"key member [member ...]", cmdSAdd),
		set("scard", 2, ReadOnly|Fast, "1.0.0", "Get the number of members in a set", "O(1)", "key", cmdSCard),
		multi(set("sdiff", -2, ReadOnly, "1.0.0", "Subtract multiple sets", total, "key [key ...]",
			func(c *Ctx) { setAlgebra(c, setDiff, false) })),
		multi(set("sdiffstore", -3, Write|DenyOOM, "1.0.0", "Subtract multiple sets and store the resulting set in a key",
			total, "destination key [key ...]", func(c *Ctx) { setAlgebra(c, setDiff, true) })),
		multi(set("sinter", -2, ReadOnly, "1.0.0", "Intersect multiple sets", inter, "key [key ...]",
			func(c *Ctx) { setAlgebra(c, setInter, false) })),
		&Command{Spec: Spec{Name: "sintercard", Arity: -3, Flags: ReadOnly, Group: "set", Since: "7.0.0",
			Summary:    "Intersect multiple sets and return the cardinality of the result",
			Complexity: inter, Syntax: "numkeys key [key ...] [LIMIT limit]"},
			Run: cmdSInterCard, Keys: sinterCardKeys},
		multi(set("sinterstore", -3, Write|DenyOOM, "1.0.0", "Intersect multiple sets and store the resulting set in a key",
			inter, "destination key [key ...]", func(c *Ctx) { setAlgebra(c, setInter, true) })),
		set("sismember", 3, ReadOnly|Fast, "1.0.0", "Determine if a given value is a member of a set", "O(1)",
			"key member", cmdSIsMember),
		set("smembers", 2, ReadOnly, "1.0.0", "Get all the members in a set",
			"O(N) where N is the set cardinality.", "key", cmdSMembers),
		set("smismember", -3, ReadOnly|Fast, "6.2.0", "Returns the membership associated with the given elements for a set",
			"O(N) where N is the number of elements being checked for membership", "key member [member ...]",
			cmdSMIsMember),
		smove,
		set("spop", -2, Write|Fast, "1.0.0", "Remove and return one or multiple random members from a set",
			"Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
			"key [count]", cmdSPop),
		set("srandmember", -2, ReadOnly, "1.0.0", "Get one or multiple random members from a set",
			"Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.",
			"key [count]", cmdSRandMember),
		set("srem", -3, Write|Fast, "1.0.0", "Remove one or more members from a set",
			"O(N) where N is the number of members to be removed.", "key member [member ...]", cmdSRem),
		multi(set("sunion", -2, ReadOnly, "1.0.0", "Add multiple sets", total, "key [key ...]",
			func(c *Ctx) { setAlgebra(c, setUnion, false) })),
		multi(set("sunionstore", -3, Write|DenyOOM, "1.0.0", "Add multiple sets and store the resulting set in a key",
			total, "destination key [key ...]", func(c *Ctx) { setAlgebra(c, setUnion, true) })),
	)
}

func (s Set) clone() any { return maps.Clone(s) }

// encoding follows set-max-intset-entries 512. Redis 7.0 has no listpack
// sets; everything else is a hashtable.
func (s Set) encoding() string {
	if len(s) > 512 {
		return "hashtable"
	}
	for m := range s {
		if _, ok := parseIntString(m); !ok {
			return "hashtable"
		}
	}
	return "intset"
}

func cmdSAdd(c *Ctx) {
	key := c.Args[1]
	s, found, ok := valueAt[Set](c, key)
	if !ok {
		return
	}
	if !found {
		s = make(Set, len(c.Args)-2)
		c.store(key, s, false)
	}
	var added int64
	for _, m := range c.Args[2:] {
		if _, exists := s[string(m)]; !exists {
			s[string(m)] = struct{}{}
			added++
		}
	}
	c.Int(added)
}

func cmdSRem(c *Ctx) {
	key := c.Args[1]
	s, found, ok := valueAt[Set](c, key)
	if !ok {
		return
	}
	var n int64
	if found {
		for _, m := range c.Args[2:] {
			if _, exists := s[string(m)]; exists {
				delete(s, string(m))
				n++
			}
		}
		if len(s) == 0 {
			c.remove(key)
		}
	}
	c.Int(n)
}

func cmdSCard(c *Ctx) {
	if s, _, ok := valueAt[Set](c, c.Args[1]); ok {
		c.Int(int64(len(s)))
	}
}

func cmdSIsMember(c *Ctx) {
	if s, _, ok := valueAt[Set](c, c.Args[1]); ok {
		_, exists := s[string(c.Args[2])]
		c.Int(b2i(exists))
	}
}

func cmdSMIsMember(c *Ctx) {
	s, _, ok := valueAt[Set](c, c.Args[1])
	if !ok {
		return
	}
	c.Array(len(c.Args) - 2)
	for _, m := range c.Args[2:] {
		_, exists := s[string(m)]
		c.Int(b2i(exists))
	}
}

func cmdSMembers(c *Ctx) {
	if s, _, ok := valueAt[Set](c, c.Args[1]); ok {
		c.replyMembers(s)
	}
}

// replyMembers sends the members of s as a set (an array in RESP2).
func (c *Ctx) replyMembers(s Set) {
	c.Set(len(s))
	for m := range s {
		c.BulkString(m)
	}
}

func cmdSMove(c *Ctx) {
	src, dst, m := c.Args[1], c.Args[2], c.Args[3]
	c.smoveSame = false
	srcVal, found := c.lookup(src)
	if !found {
		c.Int(0)
		return
	}
	dstVal, dstFound := c.lookup(dst)
	srcSet, isSet := srcVal.(Set)
	dstSet, dstIsSet := dstVal.(Set)
	if !isSet || (dstFound && !dstIsSet) {
		c.Error(ErrWrongType)
		return
	}
	if _, exists := srcSet[string(m)]; !exists {
		c.Int(0)
		return
	}
	if string(src) == string(dst) {
		c.smoveSame = true
		c.Int(1) // moving onto itself changes nothing
		return
	}
	delete(srcSet, string(m))
	if len(srcSet) == 0 {
		c.remove(src)
	}
	if !dstFound {
		dstSet = make(Set, 1)
		c.store(dst, dstSet, false)
	}
	if _, had := dstSet[string(m)]; had {
		c.smoveSame = true
	}
	dstSet[string(m)] = struct{}{}
	c.Int(1)
}

func cmdSPop(c *Ctx) {
	key := c.Args[1]
	switch {
	case len(c.Args) > 3:
		c.Error(ErrSyntax)
		return
	case len(c.Args) == 2:
		s, found, ok := valueAt[Set](c, key)
		switch {
		case !ok:
		case !found:
			c.Null()
		default:
			m := randomKey(s)
			delete(s, m)
			if len(s) == 0 {
				c.remove(key)
			}
			c.BulkString(m)
			if c.journaling() {
				c.propagate(sremName, key, []byte(m))
			}
		}
		return
	}
	n, ok := wire.ParseInt(c.Args[2])
	if !ok || n < 0 {
		c.Error(ErrNotPositive)
		return
	}
	s, found, ok := valueAt[Set](c, key)
	switch {
	case !ok:
		return
	case !found || n == 0:
		c.Set(0)
		c.propagateNone()
		return
	case n >= int64(len(s)):
		c.replyMembers(s)
		c.remove(key)
		c.propagateDel(key)
		return
	}
	c.Set(int(n))
	var popped [][]byte
	if c.journaling() {
		popped = make([][]byte, 0, min(n, sremBatch))
	}
	for i := int64(0); i < n; i++ {
		m := randomKey(s)
		delete(s, m)
		c.BulkString(m)
		if popped != nil {
			popped = append(popped, []byte(m))
			if len(popped) == sremBatch {
				c.propagateSrem(key, popped)
				popped = popped[:0]
			}
		}
	}
	if len(popped) > 0 {
		c.propagateSrem(key, popped)
	}
}

// sremBatch is the most members one recorded SREM of SPOP's removes.
const sremBatch = 1024

// propagateSrem records SREM key members...: what SPOP with a count took.
func (c *Ctx) propagateSrem(key []byte, members [][]byte) {
	args := make([][]byte, 0, 2+len(members))
	c.propagate(append(append(args, sremName, key), members...)...)
}

func cmdSRandMember(c *Ctx) {
	key := c.Args[1]
	switch {
	case len(c.Args) > 3:
		c.Error(ErrSyntax)
		return
	case len(c.Args) == 2:
		s, found, ok := valueAt[Set](c, key)
		switch {
		case !ok:
		case !found:
			c.Null()
		default:
			c.BulkString(randomKey(s))
		}
		return
	}
	n, ok := c.parseRandCount(c.Args[2])
	if !ok {
		return
	}
	s, _, ok := valueAt[Set](c, key)
	if !ok {
		return
	}
	emit := func(m string) { c.BulkString(m) }
	switch {
	case n == 0 || len(s) == 0:
		c.Array(0)
	case n < 0 || n == 1:
		// Negative: that many draws, repeats allowed.
		count := int(min(-n, math.MaxInt32))
		if n == 1 {
			count = 1
		}
		c.Array(count)
		pickKeys(c, s, count, emit)
	case n >= int64(len(s)):
		c.Array(len(s))
		for m := range s {
			emit(m)
		}
	default:
		c.Array(int(n))
		for _, m := range sampleKeys(s, int(n)) {
			emit(m)
		}
	}
}

// setOp is an operation of SINTER, SUNION and SDIFF.
type setOp uint8

const (
	setInter setOp = iota
	setUnion
	setDiff
)

// setsAt returns the sets at keys, nil for a missing key. Every key is
// checked: any other type replies WRONGTYPE and returns false.
func (c *Ctx) setsAt(keys [][]byte) ([]Set, bool) {
	sets := make([]Set, len(keys))
	for i, k := range keys {
		v, found := c.lookup(k)
		if !found {
			continue
		}
		s, isSet := v.(Set)
		if !isSet {
			c.Error(ErrWrongType)
			return nil, false
		}
		sets[i] = s
	}
	return sets, true
}

// setAlgebra answers SINTER, SUNION, SDIFF and, with store, their *STORE
// forms, whose first argument is the destination.
func setAlgebra(c *Ctx, op setOp, store bool) {
	keys := c.Args[1:]
	if store {
		keys = c.Args[2:]
	}
	sets, ok := c.setsAt(keys)
	if !ok {
		return
	}
	var result Set
	switch op {
	case setInter:
		result = make(Set)
		interEach(sets, 0, func(m string) { result[m] = struct{}{} })
	case setUnion:
		result = make(Set)
		for _, s := range sets {
			for m := range s {
				result[m] = struct{}{}
			}
		}
	case setDiff:
		result = make(Set)
		if sets[0] != nil {
		members:
			for m := range sets[0] {
				for _, other := range sets[1:] {
					if _, in := other[m]; in {
						continue members
					}
				}
				result[m] = struct{}{}
			}
		}
	}
	if !store {
		c.replyMembers(result)
		return
	}
	dst := c.Args[1]
	if len(result) == 0 {
		c.remove(dst)
		c.Int(0)
		return
	}
	c.overwrite(dst, result, false)
	c.Int(int64(len(result)))
}

// interEach calls fn for each member common to all sets, stopping after
// limit of them when limit > 0, and returns how many it found. A missing
// set (nil) makes the intersection empty.
func interEach(sets []Set, limit int, fn func(m string)) int {
	smallest := 0
	for i, s := range sets {
		if len(s) == 0 {
			return 0
		}
		if len(s) < len(sets[smallest]) {
			smallest = i
		}
	}
	n := 0
outer:
	for m := range sets[smallest] {
		for i, s := range sets {
			if i != smallest {
				if _, in := s[m]; !in {
					continue outer
				}
			}
		}
		n++
		if fn != nil {
			fn(m)
		}
		if n == limit {
			break
		}
	}
	return n
}

// sinterCardKeys finds SINTERCARD's keys: numkeys of them after numkeys.
func sinterCardKeys(args [][]byte, dst []int) []int {
	if len(args) < 3 {
		return dst
	}
	n, ok := wire.ParseInt(args[1])
	if !ok || n < 1 || n > int64(len(args)-2) {
		return dst
	}
	for i := 2; i < 2+int(n); i++ {
		dst = append(dst, i)
	}
	return dst
}

func cmdSInterCard(c *Ctx) {
	n, ok := wire.ParseInt(c.Args[1])
	if !ok || n < 1 {
		c.Error("ERR numkeys should be greater than 0")
		return
	}
	if n > int64(len(c.Args)-2) {
		c.Error("ERR Number of keys can't be greater than number of args")
		return
	}
	end := 2 + int(n)
	var limit int64
	for j := end; j < len(c.Args); j++ {
		if equalFold(c.Args[j], "limit") && j+1 < len(c.Args) {
			j++
			if limit, ok = wire.ParseInt(c.Args[j]); !ok || limit < 0 {
				c.Error("ERR LIMIT can't be negative")
				return
			}
		} else {
			c.Error(ErrSyntax)
			return
		}
	}
	sets, ok := c.setsAt(c.Args[2:end])
	if !ok {
		return
	}
	c.Int(int64(interEach(sets, int(min(limit, math.MaxInt32)), nil)))
}
