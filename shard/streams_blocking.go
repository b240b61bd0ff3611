package shard

import "time"

// XREAD BLOCK and XREADGROUP BLOCK. The handler (xread) registers the
// connection's waiter when no stream has anything for it, after storing
// the IDs it waits after ("$" resolved to the stream's last ID then). XADD
// signals its key. A served XREAD gets [key, entries] of the one stream
// that woke it, as in Redis; an XREADGROUP waiter whose group was
// destroyed, or whose key was deleted or replaced by another type, gets
// Redis's error instead (the tick notices keys that went away:
// sweepStreamWaiters).

// xreadWait is the stream part of a waiter.
type xreadWait struct {
	opts xreadOpts
	args [][]byte   // the command's arguments (cloned)
	ids  []StreamID // per key, set by the handler before it blocks
}

// xreadBlockedCount is Redis's XREAD_BLOCKED_DEFAULT_COUNT: what a blocked
// read without COUNT gets at most.
const xreadBlockedCount = 1000

// newXReadWaiter builds the waiter of XREAD and XREADGROUP with BLOCK, or
// nil without BLOCK (or with bad arguments: the handler replies).
func newXReadWaiter(args [][]byte) *Waiter {
	group := len(args[0]) == len("xreadgroup")
	c := Ctx{Args: args}
	o, ok := c.parseXRead(group)
	if !ok || o.block < 0 {
		return nil
	}
	cl := make([][]byte, len(args))
	for i, a := range args {
		cl[i] = append([]byte(nil), a...)
	}
	o.group, o.consumer = nil, nil
	if group {
		for i := 1; i+2 < len(cl); i++ {
			if equalFold(cl[i], "group") {
				o.group, o.consumer = cl[i+1], cl[i+2]
				break
			}
			if equalFold(cl[i], "streams") {
				break
			}
		}
	}
	if o.count == 0 {
		o.count = xreadBlockedCount
	}
	xw := &xreadWait{opts: o, args: cl}
	w := NewWaiter(0, 0, cl[o.at:o.at+o.n])
	w.Timeout = o.block
	w.xread = xw
	w.Ready = func(c *Ctx, key []byte) bool { return xw.ready(c, key) }
	w.Pop = func(c *Ctx, key []byte, _ *Waiter) { xw.serve(c, key) }
	return w
}

// gt is the ID the waiter reads after on key.
func (xw *xreadWait) gt(key []byte) StreamID {
	for i := 0; i < xw.opts.n && i < len(xw.ids); i++ {
		if string(xw.args[xw.opts.at+i]) == string(key) {
			return xw.ids[i]
		}
	}
	return maxStreamID
}

// ready reports whether key can serve the waiter: new entries, or, for a
// group, an error to deliver.
func (xw *xreadWait) ready(c *Ctx, key []byte) bool {
	v, found := c.lookup(key)
	s, isStream := v.(*Stream)
	if xw.opts.group == nil {
		return found && isStream && xw.gt(key).Less(s.lastID)
	}
	if !found || !isStream {
		return true
	}
	g := s.group(xw.opts.group)
	return g == nil || g.lastID.Less(s.lastID)
}

// serve replies for key: its new entries, or the error that unblocks.
func (xw *xreadWait) serve(c *Ctx, key []byte) {
	c.Args = xw.args
	if xw.opts.group != nil {
		v, found := c.lookup(key)
		s, isStream := v.(*Stream)
		if !found || !isStream {
			c.Error(errStreamKeyGone)
			return
		}
		if s.group(xw.opts.group) == nil {
			c.Error(errGroupGone)
			return
		}
		c.xreadServe(key, xreadGT, &xw.opts, true)
		return
	}
	c.xreadServe(key, xw.gt(key), &xw.opts, true)
}

// sweepStreamWaiters wakes the XREADGROUP waiters whose key is gone or no
// longer a stream, or whose group is gone; the tick calls it.
func (s *Shard) sweepStreamWaiters(db *DB, now int64) {
	c := Ctx{self: s, Now: now, DB: db.num}
	for k, queue := range db.waiters {
		for _, w := range queue {
			if w.xread == nil || w.xread.opts.group == nil || w.Claimed() {
				continue
			}
			v, found := db.get([]byte(k), now)
			st, isStream := v.(*Stream)
			if !found || !isStream || st.group(w.xread.opts.group) == nil {
				c.ready = append(c.ready, readyKey{db: db, key: k})
				break
			}
		}
	}
	if len(c.ready) > 0 {
		c.serveReady()
	}
}

// signalWritten signals the keys with waiters that a write command
// deleted or replaced by another type, so that XREADGROUP clients blocked
// on them are unblocked at once (their Ready decides; other waiters find
// nothing new). Commands without keys (FLUSHDB) are left to the tick.
func (c *Ctx) signalWritten(cmd *Command) {
	var buf [8]int
	for _, i := range cmd.KeyIndexes(c.Args, buf[:0]) {
		if i >= len(c.Args) {
			continue
		}
		k := c.Args[i]
		s := c.shardOf(k)
		if s == nil || len(s.dbs[c.DB].waiters) == 0 {
			continue
		}
		if _, ok := s.dbs[c.DB].waiters[string(k)]; !ok {
			continue
		}
		// Only a key gone or no longer a stream: other writes (XDEL,
		// XSETID, ...) do not wake stream readers in Redis.
		if v, found := c.lookup(k); !found {
			c.signal(k)
		} else if _, isStream := v.(*Stream); !isStream {
			c.signal(k)
		}
	}
}

// streamBornAfter reports whether a blocking XREAD must read s from its
// start for "$": the stream was created after the command arrived (by a
// command another connection sent later, which its goroutine happened to
// run first), so when the command arrived there was no stream and "$"
// meant 0-0. (A gap over a second is rather a wall clock stepped back.)
func (c *Ctx) streamBornAfter(s *Stream) bool {
	w := c.Waiter
	if w == nil || w.Since == 0 || w.Retried || s.born <= w.Since {
		return false
	}
	return s.born-w.Since < int64(time.Second)
}
