package shard

import (
	"math"
	"strconv"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// The blocking list commands. Each first behaves like its non-blocking
// form; when every key is empty it registers the connection's Waiter
// (c.block) and replies nothing, and the connection waits. Where blocking
// is not allowed (c.Waiter nil: inside MULTI or a script) it replies the
// timeout reply at once, as Redis does.

func init() {
	register(
		&Command{Spec: Spec{Name: "blpop", Arity: -3, Flags: Write | Blocking, FirstKey: 1, LastKey: -2, Step: 1,
			Group: "list", Since: "2.0.0", Summary: "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
			Complexity: "O(N) where N is the number of provided keys.", Syntax: "key [key ...] timeout"},
			Run: func(c *Ctx) { blockingPop(c, true) }, NewWaiter: func(args [][]byte) *Waiter {
				return withTimeout(args[len(args)-1], popWaiter(args[1:len(args)-1], true, 1, false))
			}},
		&Command{Spec: Spec{Name: "brpop", Arity: -3, Flags: Write | Blocking, FirstKey: 1, LastKey: -2, Step: 1,
			Group: "list", Since: "2.0.0", Summary: "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
			Complexity: "O(N) where N is the number of provided keys.", Syntax: "key [key ...] timeout"},
			Run: func(c *Ctx) { blockingPop(c, false) }, NewWaiter: func(args [][]byte) *Waiter {
				return withTimeout(args[len(args)-1], popWaiter(args[1:len(args)-1], false, 1, false))
			}},
		&Command{Spec: Spec{Name: "blmpop", Arity: -5, Flags: Write | Blocking, FirstKey: 2, LastKey: 2, Step: 1,
			Group: "list", Since: "7.0.0", Summary: "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
			Complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
			Syntax:     "timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]"},
			Run: cmdBLMPop, Keys: lmpopKeyIndexes(2), NewWaiter: newBLMPopWaiter},
		&Command{Spec: Spec{Name: "blmove", Arity: 6, Flags: Write | DenyOOM | Blocking, FirstKey: 1, LastKey: 2, Step: 1,
			Group: "list", Since: "6.2.0", Summary: "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
			Complexity: "O(1)", Syntax: "source destination LEFT|RIGHT LEFT|RIGHT timeout"},
			Run: cmdBLMove, NewWaiter: newMoveWaiter},
		&Command{Spec: Spec{Name: "brpoplpush", Arity: 4, Flags: Write | DenyOOM | Blocking, FirstKey: 1, LastKey: 2, Step: 1,
			Group: "list", Since: "2.2.0", Summary: "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
			Complexity: "O(1)", Syntax: "source destination timeout"},
			Run: cmdBRPopLPush, NewWaiter: newMoveWaiter},
	)
}

// ParseTimeout reads a blocking command's timeout in seconds (a float, as
// Redis 6+ accepts) and returns it in milliseconds; 0 means forever. On a
// bad value it returns Redis's error reply.
func ParseTimeout(arg []byte) (ms int64, errReply string) {
	f, err := strconv.ParseFloat(string(arg), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, "ERR timeout is not a float or out of range"
	}
	if f < 0 {
		return 0, "ERR timeout is negative"
	}
	f *= 1000
	if f > math.MaxInt64/2 {
		return 0, "ERR timeout is out of range"
	}
	ms = int64(f)
	if ms == 0 && f > 0 {
		ms = 1 // a sub-millisecond timeout still times out, rather than blocking forever
	}
	return ms, ""
}

// listReady reports whether key holds a list with elements.
func listReady(c *Ctx, key []byte) bool {
	v, ok := c.lookup(key)
	if !ok {
		return false
	}
	l, isList := v.(*List)
	return isList && l.Len() > 0
}

// popWaiter builds the waiter of BLPOP/BRPOP (count 1, array reply
// [key, elem]) and BLMPOP (array reply [key, [elems]]).
func popWaiter(keys [][]byte, left bool, count int, multi bool) *Waiter {
	w := NewWaiter(0, 0, keys)
	w.Ready = listReady
	w.Pop = func(c *Ctx, key []byte, _ *Waiter) {
		elems := c.popList(key, left, count)
		c.replyPopped(key, elems, multi)
	}
	return w
}

// replyPopped writes [key, elem] or, for the *MPOP forms, [key, [elems]].
func (c *Ctx) replyPopped(key []byte, elems []string, multi bool) {
	c.Array(2)
	c.Bulk(key)
	if multi {
		c.Array(len(elems))
	}
	for _, e := range elems {
		c.BulkString(e)
	}
}

func blockingPop(c *Ctx, left bool) {
	if _, msg := ParseTimeout(c.Args[len(c.Args)-1]); msg != "" {
		c.Error(msg)
		return
	}
	keys := c.Args[1 : len(c.Args)-1]
	for _, key := range keys {
		l, found, ok := valueAt[*List](c, key)
		if !ok {
			return
		}
		if found && l.Len() > 0 {
			c.replyPopped(key, c.popList(key, left, 1), false)
			return
		}
	}
	c.blockOrTimeout()
}

// blockOrTimeout registers the waiter, or replies the timeout reply when
// the command may not block.
func (c *Ctx) blockOrTimeout() {
	if c.Waiter == nil {
		c.NullArray()
		return
	}
	c.block()
}

// mpopArgs parses "timeout numkeys key... LEFT|RIGHT [COUNT n]" (start
// is the index of numkeys), replying on error.
func (c *Ctx) mpopArgs(start int) (keys [][]byte, left bool, count int, ok bool) {
	n, isInt := wire.ParseInt(c.Args[start])
	if !isInt {
		c.Error(ErrNotInt)
		return nil, false, 0, false
	}
	if n <= 0 {
		c.Error("ERR numkeys should be greater than 0")
		return nil, false, 0, false
	}
	if n > int64(len(c.Args)-start-1) {
		c.Error("ERR Number of keys can't be greater than number of args")
		return nil, false, 0, false
	}
	keys = c.Args[start+1 : start+1+int(n)]
	rest := c.Args[start+1+int(n):]
	if len(rest) == 0 {
		c.Error(ErrSyntax)
		return nil, false, 0, false
	}
	switch {
	case equalFold(rest[0], "left"):
		left = true
	case equalFold(rest[0], "right"):
	default:
		c.Error(ErrSyntax)
		return nil, false, 0, false
	}
	count = 1
	switch {
	case len(rest) == 1:
	case len(rest) == 3 && equalFold(rest[1], "count"):
		cnt, isInt := wire.ParseInt(rest[2])
		if !isInt || cnt <= 0 {
			c.Error("ERR count should be greater than 0")
			return nil, false, 0, false
		}
		count = int(min(cnt, math.MaxInt32))
	default:
		c.Error(ErrSyntax)
		return nil, false, 0, false
	}
	return keys, left, count, true
}

func cmdBLMPop(c *Ctx) {
	if _, msg := ParseTimeout(c.Args[1]); msg != "" {
		c.Error(msg)
		return
	}
	keys, left, count, ok := c.mpopArgs(2)
	if !ok {
		return
	}
	for _, key := range keys {
		l, found, ok := valueAt[*List](c, key)
		if !ok {
			return
		}
		if found && l.Len() > 0 {
			c.replyPopped(key, c.popList(key, left, count), true)
			return
		}
	}
	c.blockOrTimeout()
}

func newBLMPopWaiter(args [][]byte) *Waiter {
	c := Ctx{Args: args} // errors were already replied by the handler
	keys, left, count, ok := c.mpopArgs(2)
	if !ok {
		return nil
	}
	return withTimeout(args[1], popWaiter(keys, left, count, true))
}

// withTimeout sets w's timeout from arg; a bad timeout gives no waiter, so
// that the handler runs without one and replies the error.
func withTimeout(arg []byte, w *Waiter) *Waiter {
	ms, msg := ParseTimeout(arg)
	if msg != "" || w == nil {
		return nil
	}
	w.Timeout = ms
	return w
}

// moveDirs parses BLMOVE's or BRPOPLPUSH's directions.
func moveDirs(args [][]byte) (srcLeft, dstLeft, ok bool) {
	if len(args) == 4 { // BRPOPLPUSH
		return false, true, true
	}
	srcLeft, ok1 := parseLeftRight(args[3])
	dstLeft, ok2 := parseLeftRight(args[4])
	return srcLeft, dstLeft, ok1 && ok2
}

func cmdBLMove(c *Ctx) {
	if _, _, ok := moveDirs(c.Args); !ok {
		c.Error(ErrSyntax)
		return
	}
	blockingMove(c)
}

func cmdBRPopLPush(c *Ctx) { blockingMove(c) }

func blockingMove(c *Ctx) {
	if _, msg := ParseTimeout(c.Args[len(c.Args)-1]); msg != "" {
		c.Error(msg)
		return
	}
	srcLeft, dstLeft, _ := moveDirs(c.Args)
	elem, ok, wrong := c.moveList(c.Args[1], c.Args[2], srcLeft, dstLeft)
	switch {
	case wrong:
	case ok:
		c.BulkString(elem)
	default:
		c.blockOrTimeout()
	}
}

// newMoveWaiter waits on the source list. When the destination lives on
// the source's shard the move completes where it is served; otherwise the
// shard only hands the waiter a retry, and the connection runs the move
// again with both shards borrowed, so the move stays atomic.
func newMoveWaiter(args [][]byte) *Waiter {
	srcLeft, dstLeft, ok := moveDirs(args)
	if !ok {
		return nil
	}
	src, dst := args[1], args[2]
	w := withTimeout(args[len(args)-1], NewWaiter(0, 0, [][]byte{src}))
	if w == nil {
		return nil
	}
	dstKey := string(dst)
	w.Ready = listReady
	w.Pop = func(c *Ctx, key []byte, w *Waiter) {
		if !w.DstLocal {
			c.wake.Retry = true
			return
		}
		elem, ok, wrong := c.moveList(key, []byte(dstKey), srcLeft, dstLeft)
		if ok && !wrong {
			c.BulkString(elem)
		}
	}
	return w
}
