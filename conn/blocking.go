package conn

import (
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// blockState is a connection's view of its own blocking: whether it is
// blocked now, and the channel CLIENT UNBLOCK uses to wake it.
type blockState struct {
	blocked atomic.Bool
	paused  atomic.Bool // the wait is CLIENT PAUSE's (pause.go)
	unblock chan bool   // true: reply with an error; false: as a timeout
	failed  bool        // the wait ended with CLIENT UNBLOCK's error
	// roleChanged: the unblock is REPLICAOF's, whose error closes the
	// connection (replica.go).
	roleChanged atomic.Bool
}

// runBlocking runs a blocking command (BLPOP, BLMOVE, ...). It first runs
// like any other command, carrying a Waiter; a shard that finds nothing to
// pop registers the waiter, atomically with looking, and the connection
// then waits for a shard to serve it, the timeout, CLIENT UNBLOCK, a
// disconnect or shutdown.
func (c *client) runBlocking(e *entry, args [][]byte) {
	c.settle() // replies before this one go out before we block
	w := e.data.NewWaiter(args)
	if w == nil || c.noBlock() {
		c.route(e.data, args, nil) // bad arguments, or must not block: the handler replies
		return
	}
	// Whatever way this ends, the waiter must not stay claimable: after a
	// panic (a bug) the connection closes, and a shard must not pop an
	// element for it. On every normal return it is claimed already, or
	// was never registered.
	defer func() { w.Claim() }()
	var deadline time.Time
	if w.Timeout > 0 {
		deadline = time.Now().Add(time.Duration(w.Timeout) * time.Millisecond)
	}
	copied := false
	since := c.readAt
	// gate is the Wake.Done of a retry in progress: closed once the retry
	// has run, whatever its outcome, so the pusher's replies go.
	var gate *shard.Wake
	openGate := func() {
		if gate != nil {
			gate.Release()
			gate = nil
		}
	}
	defer openGate()
	for {
		w.DB, w.Proto, w.Since = c.db, c.proto, since
		c.route(e.data, args, w)
		c.settle()
		openGate()
		if w.NeedAcross {
			// A move run on its source's shard alone found elements: run
			// it again with both shards borrowed.
			w = e.data.NewWaiter(args)
			w.DB, w.Proto, w.Since, w.Across = c.db, c.proto, since, true
			c.route(e.data, args, w)
			c.settle()
		}
		if !w.Registered {
			return // it popped, or replied an error
		}
		if !copied {
			// args alias the Reader's buffer, which the socket watcher
			// refills (and may move) while we wait; a retry after the
			// wait must not read them from there.
			args, copied = cloneArgs(args), true
		}
		wake, ok := c.wait(w, deadline)
		c.readAt = wallClock() // commands the watcher read queue from now
		if !ok {
			c.countUnblockError(e, args)
			return
		}
		if !wake.Retry {
			if c.srv.aof.wait.Load() {
				// The pop is a write: its reply waits for the AOF.
				c.aofSync = true
				c.aofWant = max(c.aofWant, wake.Logged)
			}
			// Redis logs a blocked command when it is served.
			c.slowlogLocal(e, args, 0)
			if r := wake.Reply; len(r) > 0 && r[0] == '-' {
				// A blocked XREADGROUP unblocked with -NOGROUP or
				// -UNBLOCKED: an error reply like any other.
				c.srv.stats.errs.count(r)
				c.srv.stats.errors.Add(1)
				c.countUnblocked(e, args)
			}
			if !c.muted() {
				c.out = append(c.out, wake.Reply...)
			}
			return
		}
		// A shard saw data but could not finish alone: try again with a
		// fresh waiter, which pops if the data is still there.
		gate = &wake
		w = e.data.NewWaiter(args)
		w.Retried = true
		if !c.awaitScripts(e.data, args, deadline) {
			c.countUnblockError(e, args)
			return
		}
	}
}

// awaitScripts waits while a slow script holds a shard that a retried move
// needs. The client is still blocked as far as it knows: the retry must
// not be answered BUSY (Redis serves blocked clients only when no script
// runs), and borrowing the shards at once would park the source's shard
// behind the script too. Meanwhile it stays blocked for everyone else
// (INFO, CLIENT UNBLOCK, its timeout, a hang-up), as in wait. It returns
// false when the wait ended that way, its reply (if any) written.
func (c *client) awaitScripts(cmd *shard.Command, args [][]byte, deadline time.Time) bool {
	if !c.scriptHolds(cmd, args) {
		return true
	}
	timeout, gone, leave := c.beginBlockedWait(deadline, nil)
	defer leave()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	var giveUp func()
	for giveUp == nil {
		select {
		case <-poll.C:
			if !c.scriptHolds(cmd, args) {
				return true
			}
		case <-timeout:
			giveUp = c.giveUpReply(false)
		case withError := <-c.block.unblock:
			giveUp = c.giveUpReply(withError)
		case err := <-gone:
			if err == nil {
				gone = nil
				continue
			}
			c.readFailed(err)
			giveUp = func() { c.closeAfter = true }
		case <-c.srv.stopping:
			giveUp = func() { c.closeAfter = true }
		}
	}
	if !c.muted() || c.closeAfter {
		giveUp()
	}
	return false
}

// scriptHolds reports whether a script has held a shard of the command's
// keys past busy-reply-threshold.
func (c *client) scriptHolds(cmd *shard.Command, args [][]byte) bool {
	n := len(c.batches)
	for _, k := range cmd.KeyIndexes(args, c.keys[:0]) {
		if c.busyShard(shard.Owner(args[k], n)) != "" {
			return true
		}
	}
	return false
}

// cloneArgs copies an argument list into memory of its own, one buffer
// for all the arguments.
func cloneArgs(args [][]byte) [][]byte {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(args))
	for i, a := range args {
		off := len(buf)
		buf = append(buf, a...)
		out[i] = buf[off:len(buf):len(buf)]
	}
	return out
}

// noBlock reports whether the connection may not block now (inside MULTI
// or EXEC); blocking commands then answer as if they timed out.
func (c *client) noBlock() bool { return c.tx.on || c.tx.execing }

// wait parks the connection until w is served or given up. It returns the
// shard's wake-up, or ok false after writing the timeout or unblock reply
// (or deciding to close the connection).
func (c *client) wait(w *shard.Waiter, deadline time.Time) (wake shard.Wake, ok bool) {
	c.publishInfo()
	if c.write() != nil {
		c.closeAfter = true
	}
	select { // drop an unblock meant for an earlier wait
	case <-c.block.unblock:
	default:
	}
	c.block.roleChanged.Store(false)
	// A blocked client runs nothing else until it is served, as in
	// Redis: a PUBLISH or CLIENT LIST need not wait for it (busyBefore).
	at := c.segmentAt.Swap(-1)
	defer c.segmentAt.Store(at)
	timeout, gone, leave := c.beginBlockedWait(deadline, w)
	defer leave()

	var giveUp func()
	for giveUp == nil {
		select {
		case wake := <-w.Woken:
			return wake, true
		case <-timeout:
			giveUp = c.giveUpReply(false)
		case withError := <-c.block.unblock:
			giveUp = c.giveUpReply(withError)
		case err := <-gone:
			if err == nil { // the watcher stopped reading: keep waiting without it
				gone = nil
				continue
			}
			c.readFailed(err)
			giveUp = func() { c.closeAfter = true }
		case <-c.srv.stopping:
			giveUp = func() { c.closeAfter = true }
		}
	}
	if !w.Claim() {
		// A shard claimed the waiter first and is sending its result.
		return <-w.Woken, true
	}
	if !c.muted() || c.closeAfter {
		giveUp()
	}
	return shard.Wake{}, false
}

// countUnblockError counts a wait ended by CLIENT UNBLOCK ... ERROR as a
// failed call with an error reply, as Redis does.
func (c *client) countUnblockError(e *entry, args [][]byte) {
	if !c.block.failed {
		return
	}
	c.block.failed = false
	c.srv.stats.errs.countMsg(errUnblocked)
	c.srv.stats.errors.Add(1)
	c.countUnblocked(e, args)
}

const errUnblocked = "UNBLOCKED client unblocked via CLIENT UNBLOCK"

// giveUpReply returns what ends a blocked wait that was given up: the
// timeout's null array, or CLIENT UNBLOCK's (ERROR gives Redis's error).
func (c *client) giveUpReply(withError bool) func() {
	if withError && c.block.roleChanged.Swap(false) {
		return func() {
			c.out = wire.AppendError(c.out, errRoleChanged)
			c.closeAfter = true
		}
	}
	if withError {
		return func() {
			c.out = wire.AppendError(c.out, errUnblocked)
			c.block.failed = true
		}
	}
	return func() { c.out = wire.AppendNullArray(c.out, c.proto) }
}

// beginBlockedWait marks the connection blocked (INFO, CLIENT LIST,
// CLIENT UNBLOCK see it) and returns what its wait selects on: the timeout
// (nil for none) and the socket watcher's channel. leave undoes it all.
// w is the waiter of a blocked command (nil for other waits): see
// waitPushes.
func (c *client) beginBlockedWait(deadline time.Time, w *shard.Waiter) (timeout <-chan time.Time, gone <-chan error, leave func()) {
	c.block.blocked.Store(true)
	c.srv.blocked.Add(1)
	held := c.trk != nil && len(c.out) == 0
	if held {
		c.waitPushes(w)
	}
	var t *time.Timer
	if !deadline.IsZero() {
		t = time.NewTimer(time.Until(deadline))
		timeout = t.C
		c.srv.blockedTimed.Add(1)
	}
	gone, stopWatch := c.watchSocket()
	return timeout, gone, func() {
		stopWatch()
		if t != nil {
			t.Stop()
			c.srv.blockedTimed.Add(-1)
		}
		c.block.blocked.Store(false)
		c.srv.blocked.Add(-1)
		if held {
			c.endWaitPushes()
		}
	}
}

// watchSocket reads from the connection in the background while it is
// blocked, so that a client that hangs up is noticed and its waiter given
// up (as Redis does) instead of an element being popped for nobody. Bytes
// that arrive meanwhile stay buffered for after the wait. The returned
// function stops the reader and waits for it; until then the caller must
// not touch c.rd.
func (c *client) watchSocket() (<-chan error, func()) {
	gone := make(chan error, 1)
	done := make(chan struct{})
	var stop atomic.Bool
	go func() {
		defer close(done)
		for first := true; ; first = false {
			// A wake for pushes (pushTracking's deadline in the past),
			// before this wait or during it: make the output queue
			// now, so that the pushes go out during the wait and the
			// watcher can go on reading. The connection's goroutine
			// does not touch c.sub until the watcher has stopped; stop
			// is checked after the adoption (and endIdleWake) reset the
			// deadline, so a stop is never missed.
			if c.push.wake.Load() {
				c.adoptPushes()
			}
			if stop.Load() || !first && c.rd.Buffered() > 1<<20 {
				gone <- nil
				return
			}
			before := c.rd.Buffered()
			err := c.rd.Fill()
			if n := c.rd.Buffered() - before; n > 0 {
				c.srv.stats.netIn.Add(int64(n)) // total_net_input_bytes
				c.active = true                 // serve reads it after stopWatch
			}
			if err != nil {
				gone <- err
				return
			}
			if c.idleWake.Load() {
				c.endIdleWake() // it blocked as the cron woke it: not idle
			}
		}
	}()
	return gone, func() {
		stop.Store(true)
		c.nc.SetReadDeadline(time.Now())
		<-done
		c.nc.SetReadDeadline(time.Time{})
	}
}

// unblockClient wakes a blocked connection for CLIENT UNBLOCK. It reports
// whether the client exists and was blocked.
func (s *Server) unblockClient(id int64, withError bool) bool {
	s.mu.Lock()
	c := s.clients[id]
	s.mu.Unlock()
	if c == nil || !c.block.blocked.Load() || c.block.paused.Load() {
		return false // a client held by CLIENT PAUSE is not blocked on keys
	}
	select {
	case c.block.unblock <- withError:
	default: // an unblock is already pending
	}
	return true
}

// gateWait bounds how long replies wait for the blocked moves their
// writes woke: a retry normally runs within a millisecond, but one may
// wait for a slow script (awaitScripts).
const gateWait = time.Second

// waitGates holds the connection's replies until the blocked moves its
// writes woke have run their retries across shards (shard.Wake.Done), or
// gateWait has passed: as in Redis, whose single thread serves a blocked
// client before the pusher reads its reply, a client that pushed and then
// reads the destination finds the element moved. While the connection
// holds shards (a large reply flushed mid-run) it does not wait: the
// retries may need them.
func (c *client) waitGates() {
	for _, s := range c.borrowed {
		if s != nil {
			return
		}
	}
	var timer *time.Timer
	for _, g := range c.gates {
		select {
		case <-g:
			continue
		default:
		}
		if timer == nil {
			timer = time.NewTimer(gateWait)
			defer timer.Stop()
		}
		select {
		case <-g:
		case <-timer.C:
			clear(c.gates)
			c.gates = c.gates[:0]
			return
		case <-c.srv.stopping:
			clear(c.gates)
			c.gates = c.gates[:0]
			return
		}
	}
	clear(c.gates)
	c.gates = c.gates[:0]
}
