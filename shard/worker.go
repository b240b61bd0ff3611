package shard

import (
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/actor"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Msg is what a Worker's mailbox carries: a *Batch to run or a *Loan.
type Msg interface {
	// deliver runs on the worker's goroutine; stop is the worker's stop
	// channel, for a message that waits (a Loan).
	deliver(s *Shard, stop <-chan struct{})
}

// Worker runs one Shard on its own actor. After Start, the actor's
// goroutine is the Shard's only user.
type Worker struct {
	a *actor.Actor[Msg]
	// stop is closed by Stop before the actor is stopped. A worker parked
	// in a Loan watches it, so that Stop cannot hang on a borrower that
	// never gives the shard back (a script that runs forever, say); from
	// then on the worker never touches the shard again, since the borrower
	// may still hold it.
	stop     chan struct{}
	stopOnce sync.Once
	s        *Shard // for Stop's last look (endSnapshotAtStop)
	// busySince is when the script holding this shard started (Unix
	// nanoseconds), or 0: connections reply BUSY instead of waiting for a
	// script that runs too long.
	busySince atomic.Int64
}

// SetBusySince records when a script borrowing the shard started; 0 clears.
func (w *Worker) SetBusySince(ns int64) { w.busySince.Store(ns) }

// BusySince returns what SetBusySince recorded.
func (w *Worker) BusySince() int64 { return w.busySince.Load() }

// WorkerOptions configure a Worker.
type WorkerOptions struct {
	Mailbox int           // batches and loans that may wait; default 1024
	Tick    time.Duration // housekeeping period (Redis's hz); default 100ms
}

// Start runs s on a new actor. The caller must not touch s afterwards.
func Start(s *Shard, opt WorkerOptions) *Worker {
	if opt.Mailbox <= 0 {
		opt.Mailbox = 1024
	}
	if opt.Tick <= 0 {
		opt.Tick = 100 * time.Millisecond
	}
	w := &Worker{stop: make(chan struct{}), s: s}
	s.wake = func(d time.Duration) {
		time.AfterFunc(d, func() { w.a.TrySend(heldWake{}) })
	}
	w.a = actor.Start(actor.Options{
		Mailbox: opt.Mailbox,
		Tick:    opt.Tick,
		OnTick: func() {
			if !w.stopping() {
				s.Tick(time.Now().UnixMilli())
				s.trk.settle()
				calibrateClock()
			}
		},
	}, func(m Msg) {
		if !w.stopping() {
			m.deliver(s, w.stop)
			s.trk.settle()
		}
	})
	return w
}

// stopping reports whether Stop was called. Once it was, the actor may
// still run a few queued messages or a tick before it notices; they are
// dropped, because a Loan cut short by Stop may have left the shard with
// its borrower. Senders of dropped messages see Done close.
func (w *Worker) stopping() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// Submit queues b; the shard answers by sending b on answer, which must
// have room for it. Wait for the answer with a select that also watches
// Done.
func (w *Worker) Submit(b *Batch, answer chan<- *Batch) error {
	b.answer = answer
	return w.a.Send(b)
}

func (b *Batch) deliver(s *Shard, _ <-chan struct{}) {
	defer func() {
		if r := recover(); r != nil {
			s.recoverBatch(b, r)
		}
		b.answer <- b
	}()
	s.Exec(b, UnixMilli())
}

// ErrPanicked is the reply of a command, or of a blocked client's
// wake-up, whose code panicked (a bug).
const ErrPanicked = "ERR internal error in Valkyrie: the command panicked (see the server log)"

// recoverBatch keeps the shard and the server up after a handler panicked
// (a bug): the calls that finished keep their replies, the one that
// panicked and the rest get an error, and the panic is logged with its
// stack so it can be fixed. The shard is left consistent: a waiter that a
// failed call registered is released (its connection gets the error, not
// a wait), the clients that the finished calls woke are still served, and
// the keyspace events of the finished calls go out.
func (s *Shard) recoverBatch(b *Batch, r any) {
	slog.Error("shard: command panicked; replying with an error", "shard", s.ID, "panic", r, "stack", string(debug.Stack()))
	ready, now := s.ctx.ready, s.ctx.Now
	out := s.ctx.Out
	if n := len(b.Ends); n > b.first {
		out = out[:b.Ends[n-1]]
	} else {
		out = out[:0]
	}
	for _, call := range b.Calls[len(b.Ends):] {
		if w := call.Waiter; w != nil && w.Registered {
			w.Claim() // the shards skip it and drop it on the next tick
			w.Registered = false
		}
	}
	for len(b.Ends) < len(b.Calls) {
		out = wire.AppendError(out, ErrPanicked)
		b.Ends = append(b.Ends, len(out))
	}
	b.Out = out
	s.ctx = Ctx{}
	if s.jl != nil { // the finished calls' writes happened: keep them
		for s.jl.depth > 0 {
			s.jl.end()
		}
	}
	if len(ready) > 0 {
		c := Ctx{self: s, Now: now, NumShards: b.NumShards, DB: b.DB, ready: ready}
		c.serveReadyGuarded()
	}
	s.handJournal()
	s.flushEvents()
}

// serveReadyGuarded is serveReady for a recovery path: a second panic is
// logged and ends the serving instead of the worker.
func (c *Ctx) serveReadyGuarded() {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("shard: serving blocked clients after a panic panicked again", "panic", r, "stack", string(debug.Stack()))
			c.ready = c.ready[:0]
		}
	}()
	c.serveReady()
}

// Done is closed when the worker has stopped for good.
func (w *Worker) Done() <-chan struct{} { return w.a.Done() }

// SetTick changes the housekeeping period (CONFIG SET hz).
func (w *Worker) SetTick(d time.Duration) { w.a.SetTick(d) }

// Pending reports the number of messages waiting in the mailbox.
func (w *Worker) Pending() int { return w.a.Pending() }

// Stop stops the worker and waits for it. Pending messages are dropped;
// their senders see Done close. Stop does not wait for a borrower to give
// the shard back: a worker parked in a Loan stops at once and leaves the
// shard to its borrower.
func (w *Worker) Stop() {
	w.stopOnce.Do(func() { close(w.stop) })
	w.a.Stop()
	w.s.endSnapshotAtStop()
}

// Loan hands a shard's data to another goroutine for the length of one
// command. The worker sends its Shard on granted and then waits, parked,
// until the borrower gives it back, so ownership moves with the message
// and never overlaps. A Loan is reusable once returned, with the same
// Worker only: if that worker stopped while lent, the borrower's late
// Return leaves a token in back that another worker would take for its
// own loan's return.
type Loan struct {
	granted chan *Shard
	back    chan struct{}
	// state lets a borrower give up waiting (BorrowWithin): the worker
	// grants only a loan still waiting, and a borrower cancels only a
	// loan not yet granted.
	state atomic.Int32
}

const (
	loanWaiting int32 = iota + 1
	loanGranted
	loanCancelled
)

// NewLoan returns a reusable Loan.
func NewLoan() *Loan {
	return &Loan{granted: make(chan *Shard, 1), back: make(chan struct{}, 1)}
}

func (l *Loan) deliver(s *Shard, stop <-chan struct{}) {
	if !l.state.CompareAndSwap(loanWaiting, loanGranted) {
		return // its borrower gave up (or this message is a stale one)
	}
	l.granted <- s
	select {
	case <-l.back:
	case <-stop:
		// Stop while lent: the worker quits without its shard rather than
		// wait for a borrower that may never return it.
		s.leftLent = true
		slog.Warn("shard: stopped while lent; not waiting for the borrower to return it", "shard", s.ID)
	}
}

// Borrow takes the worker's Shard through l. The caller must call
// l.Return when done, and must borrow several shards in ascending ID order
// so that two borrowers can never wait on each other.
func (w *Worker) Borrow(l *Loan) (*Shard, error) {
	l.state.Store(loanWaiting)
	if err := w.a.Send(l); err != nil {
		return nil, err
	}
	select {
	case s := <-l.granted:
		return s, nil
	case <-w.a.Done():
		return nil, actor.ErrStopped
	}
}

// BorrowWithin is Borrow, but gives up after d, returning nil and no
// error. It is for a borrower that must take a shard out of ascending
// order and so might wait forever on a borrower waiting for it. After a
// give-up the loan's message may still sit in the mailbox: the worker
// skips it, and a later Borrow with l is safe (each message grants at
// most one waiting borrow).
func (w *Worker) BorrowWithin(l *Loan, d time.Duration) (*Shard, error) {
	l.state.Store(loanWaiting)
	if err := w.a.Send(l); err != nil {
		return nil, err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case s := <-l.granted:
		return s, nil
	case <-w.a.Done():
		return nil, actor.ErrStopped
	case <-t.C:
		if l.state.CompareAndSwap(loanWaiting, loanCancelled) {
			return nil, nil
		}
		select { // granted meanwhile
		case s := <-l.granted:
			return s, nil
		case <-w.a.Done():
			return nil, actor.ErrStopped
		}
	}
}

// Return gives the borrowed Shard back to its worker. It never blocks: if
// the worker stopped while the shard was lent, the token stays in back's
// buffer (one slot) and nobody reads it, as the stopped worker lends no more.
func (l *Loan) Return() {
	select {
	case l.back <- struct{}{}:
	default:
	}
}
