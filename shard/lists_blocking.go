package shard

import (
	"errors"
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
		&Command{Spec: Spec{Name: "blpop", Arity: -3, Flags: Write | NoScript | Blocking, FirstKey: 1, LastKey: -2, Step: 1,
			Group: "list", Since: "2.0.0", Summary: "Remove and get the first element in a list, or block until one is available",
			Complexity: "O(N) where N is the number of provided keys.", Syntax: "key [key ...] timeout"},
			Run: func(c *Ctx) { blockingPop(c, true) }, NewWaiter: func(args [][]byte) *Waiter {
				return withTimeout(args[len(args)-1], popWaiter(args[1:len(args)-1], true, 1, false))
			}},
		&Command{Spec: Spec{Name: "brpop", Arity: -3, Flags: Write | NoScript | Blocking, FirstKey: 1, LastKey: -2, Step: 1,
			Group: "list", Since: "2.0.0", Summary: "Remove and get the last element in a list, or block until one is available",
			Complexity: "O(N) where N is the number of provided keys.", Syntax: "key [key ...] timeout"},
			Run: func(c *Ctx) { blockingPop(c, false) }, NewWaiter: func(args [][]byte) *Waiter {
				return withTimeout(args[len(args)-1], popWaiter(args[1:len(args)-1], false, 1, false))
			}},
		&Command{Spec: Spec{Name: "blmpop", Arity: -5, Flags: Write | Blocking,
			Group: "list", Since: "7.0.0", Summary: "Pop elements from a list, or block until one is available",
			Complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
			Syntax:     "timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]"},
			Run: cmdBLMPop, Keys: lmpopKeyIndexes(2), NewWaiter: newBLMPopWaiter},
		&Command{Spec: Spec{Name: "blmove", Arity: 6, Flags: Write | DenyOOM | NoScript | Blocking, FirstKey: 1, LastKey: 2, Step: 1,
			Group: "list", Since: "6.2.0", Summary: "Pop an element from a list, push it to another list and return it; or block until one is available",
			Complexity: "O(1)", Syntax: "source destination LEFT|RIGHT LEFT|RIGHT timeout"},
			Run: cmdBLMove, NewWaiter: newMoveWaiter},
		&Command{Spec: Spec{Name: "brpoplpush", Arity: 4, Flags: Write | DenyOOM | NoScript | Blocking, FirstKey: 1, LastKey: 2, Step: 1,
			Group: "list", Since: "2.2.0", Summary: "Pop an element from a list, push it to another list and return it; or block until one is available",
			Complexity: "O(1)", Syntax: "source destination timeout"},
			Run: cmdBRPopLPush, NewWaiter: newMoveWaiter},
	)
}

// parseTimeout reads a blocking command's timeout in seconds, a float as
// Redis 6+ accepts, and returns it in milliseconds; 0 means forever. It
// follows Redis 7.0's conversion exactly: the product with 1000 is
// truncated to an integer (so 0.0001 blocks forever), and a value too big
// for that integer becomes negative, as C's conversion makes it. now, when
// not 0, is used for the final overflow check. On a bad value it returns
// Redis's error reply.
func parseTimeout(arg []byte, now int64) (ms int64, errReply string) {
	f, err := strconv.ParseFloat(string(arg), 64)
	switch {
	case err != nil && !(errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0)):
		return 0, "ERR timeout is not a float or out of range"
	case math.IsNaN(f):
		return 0, "ERR timeout is not a float or out of range"
	}
	t := f * 1000
	if t >= math.MaxInt64 || t <= math.MinInt64 {
		return 0, "ERR timeout is negative"
	}
	ms = int64(t) // truncates toward zero, as C does
	if ms < 0 {
		return 0, "ERR timeout is negative"
	}
	if ms > 0 && ms > math.MaxInt64-now {
		return 0, "ERR timeout is out of range"
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

// listBornAfter reports whether key holds a list that was created after
// the blocking command arrived (see bornAfter).
func (c *Ctx) listBornAfter(key []byte) bool {
	if c.Waiter == nil {
		return false
	}
	v, ok := c.lookup(key)
	l, isList := v.(*List)
	return ok && isList && l.Len() > 0 && c.bornAfter(key, l.born)
}

// popWaiter builds the waiter of BLPOP/BRPOP (count 1, array reply
// [key, elem]) and BLMPOP (array reply [key, [elems]]).
func popWaiter(keys [][]byte, left bool, count int, multi bool) *Waiter {
	w := NewWaiter(0, 0, keys)
	w.Ready = listReady
	w.Pop = func(c *Ctx, key []byte, _ *Waiter) {
		elems := c.popList(key, left, count)
		c.replyPopped(key, elems, multi)
		if multi {
			c.propagateListPop(key, left, len(elems))
		} else {
			c.propagateListPop(key, left, -1)
		}
		c.emitServed(NotifyList, popEvent(left), key)
	}
	return w
}

// popEvent is the event of a list pop from the left or right.
func popEvent(left bool) string {
	if left {
		return "lpop"
	}
	return "rpop"
}

// pushEvent is the event of a list push to the left or right.
func pushEvent(left bool) string {
	if left {
		return "lpush"
	}
	return "rpush"
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
	if _, msg := parseTimeout(c.Args[len(c.Args)-1], c.Now); msg != "" {
		c.Error(msg)
		return
	}
	keys := c.Args[1 : len(c.Args)-1]
	for _, key := range keys {
		l, found, ok := valueAt[*List](c, key)
		if !ok {
			return
		}
		if found && l.Len() > 0 && !c.bornAfter(key, l.born) {
			c.replyPopped(key, c.popList(key, left, 1), false)
			c.propagateListPop(key, left, -1)
			c.notePop(popEvent(left), key)
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
	if _, msg := parseTimeout(c.Args[1], c.Now); msg != "" {
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
		if found && l.Len() > 0 && !c.bornAfter(key, l.born) {
			elems := c.popList(key, left, count)
			c.replyPopped(key, elems, true)
			c.propagateListPop(key, left, len(elems))
			c.notePop(popEvent(left), key)
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
	ms, msg := parseTimeout(arg, 0)
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
	if _, msg := parseTimeout(c.Args[len(c.Args)-1], c.Now); msg != "" {
		c.Error(msg)
		return
	}
	srcLeft, dstLeft, _ := moveDirs(c.Args)
	if w := c.Waiter; w != nil && c.self != nil && c.NumShards > 1 && Owner(c.Args[2], c.NumShards) != c.self.ID {
		// Routed to the source's shard alone (Waiter.SourceFirst): the
		// destination is not here, so do only what needs no destination.
		l, found, ok := valueAt[*List](c, c.Args[1])
		switch {
		case !ok: // WRONGTYPE, replied
		case found && l.Len() > 0 && !c.bornAfter(c.Args[1], l.born):
			w.NeedAcross = true // the connection runs it with both shards
		default:
			c.block()
		}
		return
	}
	if c.listBornAfter(c.Args[1]) {
		c.block() // the source got its elements after this command arrived
		return
	}
	elem, ok, wrong := c.moveList(c.Args[1], c.Args[2], srcLeft, dstLeft)
	if w := c.Waiter; w != nil && w.Retried {
		// This run retries a served waiter (see serveReady): the waiters
		// queued behind it on the source get their turn now, or after it
		// if it must block again (it then goes back to the queue's head).
		c.unstall(c.Args[1])
		if ok || wrong {
			c.signal(c.Args[1])
		}
	}
	switch {
	case wrong:
	case ok:
		c.BulkString(elem)
		retried := c.Waiter != nil && c.Waiter.Retried
		c.propagateMove(c.Args[1], c.Args[2], srcLeft, dstLeft, len(c.Args) == 4, !retried)
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
	rpoplpush := len(args) == 4
	w := withTimeout(args[len(args)-1], NewWaiter(0, 0, [][]byte{src}))
	if w == nil {
		return nil
	}
	dstKey := string(dst)
	w.moveDst, w.isMove = dstKey, true
	w.Ready = listReady
	w.Pop = func(c *Ctx, key []byte, w *Waiter) {
		dst := []byte(dstKey)
		if !w.DstLocal && !c.sees(dst) {
			c.wake.Retry = true
			return
		}
		ddb := c.db(dst)
		notify := ddb.notifying()
		dstExisted := notify && ddb.exists(dst)
		elem, ok, wrong := c.moveList(key, dst, srcLeft, dstLeft)
		if ok && !wrong {
			ddb.reaccount(dst) // serveReady measures the source only
			c.BulkString(elem)
			c.propagateMove(key, dst, srcLeft, dstLeft, rpoplpush, false)
			c.touchKey(dst)
			if notify {
				// Redis 7.0's order: the push, then the pop.
				if !dstExisted {
					ddb.emit(NotifyNew, "new", dstKey)
				}
				ddb.emit(NotifyList, pushEvent(dstLeft), dstKey)
				c.emitServed(NotifyList, popEvent(srcLeft), key)
			}
		}
	}
	return w
}
