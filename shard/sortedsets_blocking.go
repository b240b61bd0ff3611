package shard

import "github.com/valkyrie-kv/valkyrie/wire"

// The blocking sorted-set pops, built like the blocking list pops in
// lists_blocking.go: try to pop, else register the connection's Waiter.

func init() {
	register(
		&Command{Spec: Spec{Name: "bzpopmin", Arity: -3, Flags: Write | NoScript | Fast | Blocking, FirstKey: 1, LastKey: -2, Step: 1, ACL: []string{"sortedset"},
			Group: "sorted-set", Since: "5.0.0", Summary: "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
			Complexity: "O(log(N)) with N being the number of elements in the sorted set.", Syntax: "key [key ...] timeout"},
			Run: func(c *Ctx) { blockingZPop(c, false) }, NewWaiter: func(args [][]byte) *Waiter { return zpopWaiter(args, false) }},
		&Command{Spec: Spec{Name: "bzpopmax", Arity: -3, Flags: Write | NoScript | Fast | Blocking, FirstKey: 1, LastKey: -2, Step: 1, ACL: []string{"sortedset"},
			Group: "sorted-set", Since: "5.0.0", Summary: "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
			Complexity: "O(log(N)) with N being the number of elements in the sorted set.", Syntax: "key [key ...] timeout"},
			Run: func(c *Ctx) { blockingZPop(c, true) }, NewWaiter: func(args [][]byte) *Waiter { return zpopWaiter(args, true) }},
		&Command{Spec: Spec{Name: "bzmpop", Arity: -5, Flags: Write | Blocking, ACL: []string{"sortedset"},
			Group: "sorted-set", Since: "7.0.0", Summary: "Remove and return members with scores in a sorted set or block until one is available",
			Complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
			Syntax:     "timeout numkeys key [key ...] MIN|MAX [COUNT count]"},
			Run: cmdBZMPop, Keys: lmpopKeyIndexes(2), NewWaiter: newBZMPopWaiter},
	)
}

// zpopEvent is the event of a sorted-set pop of the lowest or highest.
func zpopEvent(max bool) string {
	if max {
		return "zpopmax"
	}
	return "zpopmin"
}

// zsetReady reports whether key holds a sorted set with members.
func zsetReady(c *Ctx, key []byte) bool {
	v, ok := c.lookup(key)
	if !ok {
		return false
	}
	z, isZ := v.(*ZSet)
	return isZ && z.Len() > 0
}

// replyZPopped writes BZPOPMIN's [key, member, score], or BZMPOP's
// [key, [[member, score], ...]] when multi.
func (c *Ctx) replyZPopped(key []byte, members []string, scores []float64, multi bool) {
	if !multi {
		c.Array(3)
		c.Bulk(key)
		c.BulkString(members[0])
		c.Double(scores[0])
		return
	}
	c.Array(2)
	c.Bulk(key)
	c.Array(len(members))
	for i, m := range members {
		c.Array(2)
		c.BulkString(m)
		c.Double(scores[i])
	}
}

func zpopWaiter(args [][]byte, max bool) *Waiter {
	w := NewWaiter(0, 0, args[1:len(args)-1])
	w.Ready = zsetReady
	w.Pop = func(c *Ctx, key []byte, _ *Waiter) {
		members, scores := c.popZSet(key, max, 1)
		c.replyZPopped(key, members, scores, false)
		c.propagateZPop(key, max, -1)
		c.emitServed(NotifyZset, zpopEvent(max), key)
	}
	return withTimeout(args[len(args)-1], w)
}

func blockingZPop(c *Ctx, max bool) {
	if _, msg := parseTimeout(c.Args[len(c.Args)-1], c.Now); msg != "" {
		c.Error(msg)
		return
	}
	for _, key := range c.Args[1 : len(c.Args)-1] {
		z, found, ok := valueAt[*ZSet](c, key)
		if !ok {
			return
		}
		if found && z.Len() > 0 && !c.bornAfter(key, z.born) {
			members, scores := c.popZSet(key, max, 1)
			c.replyZPopped(key, members, scores, false)
			c.propagateZPop(key, max, -1)
			c.notePop(zpopEvent(max), key)
			return
		}
	}
	c.blockOrTimeout()
}

// zmpopArgs parses "numkeys key... MIN|MAX [COUNT n]" starting at the
// numkeys argument, replying on error, as ZMPOP and BZMPOP do.
func (c *Ctx) zmpopArgs(start int) (keys [][]byte, max bool, count int, ok bool) {
	n, isInt := wire.ParseInt(c.Args[start])
	if !isInt || n < 1 {
		c.Error(errZNumKeys)
		return nil, false, 0, false
	}
	if n >= int64(len(c.Args)-start-1) {
		c.Error(ErrSyntax)
		return nil, false, 0, false
	}
	where := start + 1 + int(n)
	switch {
	case equalFold(c.Args[where], "min"):
	case equalFold(c.Args[where], "max"):
		max = true
	default:
		c.Error(ErrSyntax)
		return nil, false, 0, false
	}
	cnt := int64(-1)
	for j := where + 1; j < len(c.Args); j++ {
		if cnt == -1 && equalFold(c.Args[j], "count") && j+1 < len(c.Args) {
			j++
			if cnt, isInt = wire.ParseInt(c.Args[j]); !isInt || cnt < 1 {
				c.Error(errZCount)
				return nil, false, 0, false
			}
			continue
		}
		c.Error(ErrSyntax)
		return nil, false, 0, false
	}
	if cnt == -1 {
		cnt = 1
	}
	return c.Args[start+1 : where], max, int(min(cnt, 1<<31-1)), true
}

func cmdBZMPop(c *Ctx) {
	if _, msg := parseTimeout(c.Args[1], c.Now); msg != "" {
		c.Error(msg)
		return
	}
	keys, max, count, ok := c.zmpopArgs(2)
	if !ok {
		return
	}
	for _, key := range keys {
		z, found, ok := valueAt[*ZSet](c, key)
		if !ok {
			return
		}
		if found && z.Len() > 0 && !c.bornAfter(key, z.born) {
			members, scores := c.popZSet(key, max, count)
			c.replyZPopped(key, members, scores, true)
			c.propagateZPop(key, max, len(members))
			c.notePop(zpopEvent(max), key)
			return
		}
	}
	c.blockOrTimeout()
}

func newBZMPopWaiter(args [][]byte) *Waiter {
	c := Ctx{Args: args} // errors were already replied by the handler
	keys, max, count, ok := c.zmpopArgs(2)
	if !ok {
		return nil
	}
	w := NewWaiter(0, 0, keys)
	w.Ready = zsetReady
	w.Pop = func(c *Ctx, key []byte, _ *Waiter) {
		members, scores := c.popZSet(key, max, count)
		c.replyZPopped(key, members, scores, true)
		c.propagateZPop(key, max, len(members))
		c.emitServed(NotifyZset, zpopEvent(max), key)
	}
	return withTimeout(args[1], w)
}
