package shard

import (
	"log/slog"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// Waiter is a client blocked on one or more keys (BLPOP, BZPOPMIN, ...).
// It is registered in the DB of every shard that owns one of its keys, in
// the order clients blocked, and is served by whichever shard first gets
// data for it. Shards and the blocked connection race to claim it with a
// compare-and-swap, so exactly one of them acts: a shard pops one element
// for it, or the connection gives up (timeout, disconnect, CLIENT UNBLOCK).
//
// The claim flag is the only state shared between goroutines; everything
// else is written before registration and read-only afterwards.
type Waiter struct {
	claimed atomic.Bool

	DB      int
	Proto   wire.Proto
	Keys    []string // the keys it waits on, in the order given
	Timeout int64    // milliseconds; 0 blocks forever

	// Ready reports whether key can serve the waiter now (non-empty and of
	// the right type); Pop then consumes for it and appends the reply to
	// c.Out. Both run on the goroutine that owns key's shard.
	Ready func(c *Ctx, key []byte) bool
	Pop   func(c *Ctx, key []byte, w *Waiter)

	// Woken receives the result exactly once, from the shard that served
	// the waiter. It has room for it, so the shard never blocks.
	Woken chan Wake

	// DstLocal is set for BLMOVE and BRPOPLPUSH when the destination lives
	// on the source's shard, so the move can complete where it is served.
	// block sets it from moveDst when it registers the waiter.
	DstLocal bool
	// moveDst is the destination of BLMOVE and BRPOPLPUSH, isMove set.
	moveDst string
	isMove  bool

	// NeedAcross is set by a move run on its source's shard alone (see
	// SourceFirst) that found elements to move: the connection must run it
	// again with both shards borrowed. It replied nothing.
	NeedAcross bool
	// Across makes a move that set NeedAcross run across shards at once.
	Across bool

	// Since is when the command's bytes reached the machine (the kernel's
	// receive time in Unix nanoseconds, or the read's time; 0 if unknown).
	// Waiters queue on a key in this order, not in the order their
	// connections happen to reach the shard: clients that sent their
	// blocking commands one after the other are served in that order, as
	// by Redis's single event loop, even when the second connection's
	// goroutine registered first (see arrival.go). A retried move keeps
	// its Since, and so its place.
	Since int64

	// Retried is set by the connection on the waiter of a run that retries
	// a move a shard could not finish alone (Wake.Retry). That run keeps
	// the waiter's turn: it re-signals the source when it is done, so the
	// waiters queued behind it get served, and if it must block again it
	// goes back to the head of the queue.
	Retried bool

	// xread is set for XREAD and XREADGROUP (streams_blocking.go). Their
	// waiters do not consume what they wait for (but for a group's new
	// entries), so one that a key cannot serve does not stop the serving
	// of those queued behind it.
	xread *xreadWait

	// Set by the blocking command's handler when it found nothing and
	// registered the waiter; read by the connection after the answer.
	Registered bool
}

// Wake is what a shard sends a served waiter.
type Wake struct {
	Reply []byte // the complete reply for the client
	// Retry asks the connection to run the command again instead: the
	// shard saw data but could not finish alone (BLMOVE to another shard).
	Retry bool
	// Logged is the journal offset the served pop's record ends at (0:
	// none): the reply waits for the AOF up to there.
	Logged int64
	// Done comes with Retry. The connection closes it once its retry has
	// run, and the run whose write woke the waiter holds its own replies
	// until then (Batch.Gates, Across.TakeGates): as in Redis, a client
	// that pushed sees the blocked client served. Then are more such
	// gates, of pushes made while the key was held (arrival.go), that open
	// with it.
	Done chan struct{}
	Then []chan struct{}
}

// Release opens the gates of a retry (see Done): the connection calls it
// once the retry has run.
func (w *Wake) Release() {
	if w.Done != nil {
		close(w.Done)
	}
	for _, g := range w.Then {
		close(g)
	}
	w.Done, w.Then = nil, nil
}

// NewWaiter returns a waiter for the given keys.
func NewWaiter(db int, proto wire.Proto, keys [][]byte) *Waiter {
	w := &Waiter{DB: db, Proto: proto, Woken: make(chan Wake, 1)}
	for _, k := range keys {
		w.Keys = append(w.Keys, string(k))
	}
	return w
}

// SourceFirst reports whether a blocking move whose keys span shards may
// run first on its source's shard alone. Most such moves find the source
// empty and only register there, as fast as a one-shard command, so they
// queue in the order they were sent instead of after commands that
// followed them while two shards were being borrowed. One that finds
// elements sets NeedAcross. A retried move goes across at once.
func (w *Waiter) SourceFirst() bool { return w.isMove && !w.Retried && !w.Across }

// Claim takes the waiter for the caller. Only the first call succeeds.
func (w *Waiter) Claim() bool { return w.claimed.CompareAndSwap(false, true) }

// Claimed reports whether someone has claimed the waiter.
func (w *Waiter) Claimed() bool { return w.claimed.Load() }

// block registers the context's waiter on every one of its keys. Called
// by a blocking command's handler after it found nothing to pop. Keys
// that live on shards this context cannot see are skipped: the connection
// made sure it sees all of them.
func (c *Ctx) block() {
	w := c.Waiter
	if w.isMove {
		w.DstLocal = c.NumShards <= 1 || Owner([]byte(w.Keys[0]), c.NumShards) == Owner([]byte(w.moveDst), c.NumShards)
	}
	for _, k := range w.Keys {
		db := c.db([]byte(k))
		if db.waiters == nil {
			db.waiters = make(map[string][]*Waiter)
		}
		db.waiters[k] = enqueueWaiter(db.waiters[k], w)
	}
	w.Registered = true
}

// enqueueWaiter adds w to a key's queue after every waiter whose command
// was read no later than w's (see Waiter.Since); normally at the end. A
// retry goes ahead of every waiter not retried, keeping the turn it had
// when it was served.
func enqueueWaiter(queue []*Waiter, w *Waiter) []*Waiter {
	i := len(queue)
	if w.Retried {
		i = 0
	}
	for i > 0 && queue[i-1].Since > w.Since {
		i--
	}
	return slices.Insert(queue, i, w)
}

// sees reports whether the context can reach the shard that owns key
// beyond its own: a run across shards that borrowed it.
func (c *Ctx) sees(key []byte) bool {
	return c.self == nil && len(c.shards) > 0 && c.shards[Owner(key, len(c.shards))] != nil
}

// signal notes that key may now serve blocked clients. Every command that
// adds elements to a list or sorted set calls it; the cost without
// waiters is one length check.
func (c *Ctx) signal(key []byte) {
	db := c.db(key)
	if len(db.waiters) == 0 {
		return
	}
	if _, ok := db.waiters[string(key)]; !ok {
		return
	}
	for _, r := range c.ready {
		if r.db == db && r.key == string(key) {
			return
		}
	}
	c.ready = append(c.ready, readyKey{db: db, key: string(key)})
}

type readyKey struct {
	db  *DB
	key string
}

// serveReady hands elements of signalled keys to their waiters, first come
// first served, until a key runs dry or has no waiters left. It runs after
// each command (after the whole transaction, for MULTI and scripts), on the
// goroutine that owns the keys.
func (c *Ctx) serveReady() {
	for len(c.ready) > 0 {
		r := c.ready[0]
		c.ready = c.ready[1:]
		if _, ok := r.db.stalled[r.key]; ok {
			continue // a retried move has the turn (see below)
		}
		if len(r.db.held) > 0 && r.db.heldNow(r.key, time.Now().UnixNano()) {
			// Late blocked clients may still come (arrival.go). Waiters
			// that came first are served when the hold ends: the run that
			// pushed holds its replies until then, as in Redis they come
			// after the blocked clients are served. (Not a blocking
			// command's own run: it would wait for itself.)
			if c.Waiter == nil && hasUnclaimed(r.db.waiters[r.key]) {
				g := make(chan struct{})
				c.gates = append(c.gates, g)
				if r.db.heldGates == nil {
					r.db.heldGates = make(map[string][]chan struct{})
				}
				r.db.heldGates[r.key] = append(r.db.heldGates[r.key], g)
			}
			continue
		}
		heldGates := r.db.heldGates[r.key]
		if heldGates != nil {
			delete(r.db.heldGates, r.key)
		}
		key := []byte(r.key)
		queue := r.db.waiters[r.key]
		var skipped []*Waiter // stream readers this key cannot serve yet
		for len(queue) > 0 {
			w := queue[0]
			if w.Claimed() {
				queue = queue[1:]
				continue
			}
			wc := Ctx{DB: w.DB, Proto: w.Proto, NumShards: c.NumShards, Now: c.Now, self: c.self, shards: c.shards, Waiter: w}
			if !w.Ready(&wc, key) {
				if w.xread != nil {
					skipped = append(skipped, w)
					queue = queue[1:]
					continue
				}
				break
			}
			queue = queue[1:]
			if !w.Claim() {
				continue
			}
			// The waiter's writes are a unit of their own, as Redis
			// propagates each served client's after its call.
			jl := wc.journal()
			if jl != nil {
				jl.begin()
			}
			popped := popFor(&wc, key, w)
			if jl != nil {
				jl.end()
			}
			r.db.reaccount(key)
			// A pop may push elsewhere (BLMOVE) and wake others in turn.
			c.ready = append(c.ready, wc.ready...)
			if !popped {
				continue // it panicked; its client got an error reply
			}
			if wc.wake.Retry {
				// The waiter's connection runs the move again with both
				// shards borrowed. The waiters behind it keep their places
				// until that run re-signals the key, so none is served
				// ahead of it; the tick re-serves the key should the
				// run never come (serveStalled).
				wc.wake.Done = make(chan struct{})
				wc.wake.Then, heldGates = heldGates, nil
				c.gates = append(c.gates, wc.wake.Done)
				w.Woken <- wc.wake
				if r.db.stalled == nil {
					r.db.stalled = make(map[string]int64)
				}
				r.db.stalled[r.key] = c.Now
				break
			}
			if w.xread == nil { // stream reads do not signal the key in Redis
				wc.touchKey(key) // the pop changed it, on the waiter's behalf
			}
			if wc.wake.Reply == nil {
				wc.wake.Reply = wc.Out
			}
			if jl != nil {
				// The reply acknowledges the pop: it leaves once the pop
				// is in the journal (handTo), never before.
				jl.wakes = append(jl.wakes, pendingWake{w, wc.wake})
			} else {
				w.Woken <- wc.wake
			}
		}
		for _, g := range heldGates {
			close(g) // the waiters that came first are served
		}
		if len(skipped) > 0 {
			queue = append(skipped, queue...)
		}
		if len(queue) == 0 {
			delete(r.db.waiters, r.key)
		} else {
			r.db.waiters[r.key] = queue
		}
	}
	c.ready = c.ready[:0]
}

// hasUnclaimed reports whether a queue holds a waiter still to serve (the
// claimed ones leave it lazily).
func hasUnclaimed(queue []*Waiter) bool {
	for _, w := range queue {
		if !w.Claimed() {
			return true
		}
	}
	return false
}

// popFor runs w's Pop for key. A Pop that panics (a bug) must not leave
// its client waiting forever: the waiter, already claimed, gets an error
// reply, the panic is logged, and ok is false.
func popFor(wc *Ctx, key []byte, w *Waiter) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("shard: serving a blocked client panicked; replying with an error", "key", string(key), "panic", r, "stack", string(debug.Stack()))
			w.Woken <- Wake{Reply: wire.AppendError(nil, ErrPanicked)}
		}
	}()
	w.Pop(wc, key, w)
	return true
}

// unstall ends the wait for a retried move on key: its run has come.
func (c *Ctx) unstall(key []byte) {
	if db := c.db(key); db.stalled != nil {
		delete(db.stalled, string(key))
	}
}

// stallGrace is how long a key waits for a retried move (see serveReady)
// before the tick serves its other waiters anyway: the retry normally
// comes within a millisecond, and only a run that never reaches the shard
// (a BUSY reply, a shutdown) should need this.
const stallGrace = 1000 // milliseconds

// serveStalled serves the keys whose serving has waited too long for a
// retried move that never re-signalled them. The tick calls it.
func (s *Shard) serveStalled(db *DB, now int64) {
	c := Ctx{self: s, Now: now, DB: db.num}
	for k, since := range db.stalled {
		if now-since < stallGrace {
			continue
		}
		delete(db.stalled, k)
		if _, ok := db.waiters[k]; ok {
			c.ready = append(c.ready, readyKey{db: db, key: k})
		}
	}
	c.serveReady()
}

// sweepWaiters drops waiters that were claimed elsewhere (served by another
// shard, timed out, disconnected). The tick calls it.
func (db *DB) sweepWaiters() {
	for k, queue := range db.waiters {
		kept := queue[:0]
		for _, w := range queue {
			if !w.Claimed() {
				kept = append(kept, w)
			}
		}
		clear(queue[len(kept):])
		if len(kept) == 0 {
			delete(db.waiters, k)
		} else {
			db.waiters[k] = kept
		}
	}
}
