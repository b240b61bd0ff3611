package actor

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStopped is returned by Send once the actor has been asked to stop.
var ErrStopped = errors.New("actor: stopped")

// Actor serialises messages of type M onto one goroutine.
//
// The run loop waits on the mailbox alone: a receive from one channel
// costs far less than a select over several, and it is paid once per
// message when the actor keeps going idle (an unpipelined client). Ticks
// and Stop raise a flag and drop a wake-up letter into the mailbox; the
// loop looks at the flags before each receive, so a full mailbox (the
// wake-up does not fit) still sees them after the next message.
type Actor[M any] struct {
	mailbox  chan letter[M]
	stop     chan struct{} // closed by Stop
	done     chan struct{} // closed when the run loop has returned
	stopOnce sync.Once

	stopping atomic.Bool
	tickDue  atomic.Bool
	// woken is set while a wake-up letter is in the mailbox (or on its
	// way): one is enough, and ticks that fall while the handler is busy
	// (a long Loan) must not fill the mailbox with wake-ups, which would
	// take the room of real messages.
	woken  atomic.Bool
	period atomic.Int64 // tick period in nanoseconds
	ticker *time.Timer  // nil without ticks
}

// letter is what the mailbox holds: a message, or a bare wake-up.
type letter[M any] struct {
	msg  M
	wake bool
}

// Options configure Start.
type Options struct {
	Mailbox int           // mailbox capacity (at least 1); senders block when it is full
	Tick    time.Duration // period of OnTick; 0 disables it
	OnTick  func()        // runs on the actor's goroutine
}

// Start launches the run loop. handle is called for each message, in
// arrival order, on the actor's goroutine only.
func Start[M any](opt Options, handle func(M)) *Actor[M] {
	// The wake-ups of ticks and Stop need a buffer: in an unbuffered
	// mailbox one sent while the loop is on its way to the receive would
	// be dropped, and Stop would wait forever.
	a := &Actor[M]{
		mailbox: make(chan letter[M], max(opt.Mailbox, 1)),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	onTick := opt.OnTick
	if opt.Tick > 0 && onTick != nil {
		a.period.Store(int64(opt.Tick))
		// Armed only once stored: fire reads a.ticker.
		a.ticker = time.AfterFunc(time.Duration(1<<63-1), a.fire)
		a.ticker.Reset(opt.Tick)
	} else {
		onTick = nil
	}
	go a.run(onTick, handle)
	return a
}

func (a *Actor[M]) run(onTick func(), handle func(M)) {
	defer close(a.done)
	for {
		if a.stopping.Load() {
			return
		}
		if onTick != nil && a.tickDue.Load() {
			a.tickDue.Store(false)
			onTick()
		}
		if l := <-a.mailbox; !l.wake {
			handle(l.msg)
		} else {
			// Cleared before the flags are looked at again: a wake-up
			// skipped because this one was pending is seen.
			a.woken.Store(false)
		}
	}
}

// fire runs on the timer's goroutine: it marks a tick due, wakes the run
// loop and arms the next tick. It touches nothing the handler owns.
func (a *Actor[M]) fire() {
	a.tickDue.Store(true)
	a.wake()
	if !a.stopping.Load() {
		a.ticker.Reset(time.Duration(a.period.Load()))
	}
}

// wake drops a wake-up letter into the mailbox unless one is pending
// already (the loop looks at the flags after taking it) or the mailbox is
// full, in which case the run loop is busy and sees the flags after its
// next message.
func (a *Actor[M]) wake() {
	if !a.woken.CompareAndSwap(false, true) {
		return
	}
	select {
	case a.mailbox <- letter[M]{wake: true}:
	default:
		a.woken.Store(false)
	}
}

// Send queues m. It blocks while the mailbox is full (backpressure) and
// returns ErrStopped instead of blocking forever once Stop was called. A
// message accepted just before the stop may never be handled, so a sender
// waiting for a reply must also select on Done.
func (a *Actor[M]) Send(m M) error {
	if a.stopping.Load() {
		return ErrStopped
	}
	select {
	case a.mailbox <- letter[M]{msg: m}: // room in the mailbox: the common case
		return nil
	default:
	}
	select {
	case a.mailbox <- letter[M]{msg: m}:
		return nil
	case <-a.stop:
		return ErrStopped
	}
}

// SetTick changes the tick period from the next tick on; d <= 0 is
// ignored, and so is an actor started without ticks. After Stop it does
// nothing.
func (a *Actor[M]) SetTick(d time.Duration) {
	if a.ticker == nil || d <= 0 || a.stopping.Load() {
		return
	}
	a.period.Store(int64(d))
	a.ticker.Reset(d)
}

// Stop asks the run loop to return and waits until it has. Messages still
// in the mailbox are dropped. Stop is idempotent.
func (a *Actor[M]) Stop() {
	a.stopOnce.Do(func() {
		a.stopping.Store(true)
		close(a.stop)
		if a.ticker != nil {
			a.ticker.Stop()
		}
		a.wake()
	})
	<-a.done
}

// Done is closed once the run loop has returned.
func (a *Actor[M]) Done() <-chan struct{} { return a.done }

// Pending reports how many messages wait in the mailbox, not counting a
// wake-up. It is a snapshot for monitoring, safe to call from any
// goroutine.
func (a *Actor[M]) Pending() int {
	n := len(a.mailbox)
	if a.woken.Load() {
		n--
	}
	return max(n, 0)
}

// TrySend queues m only if the mailbox has room and the actor is not
// stopping, without blocking, and reports whether it did. It is for
// senders that must never wait, such as a shard handing keyspace events
// to the pub/sub actor.
func (a *Actor[M]) TrySend(m M) bool {
	if a.stopping.Load() {
		return false
	}
	select {
	case a.mailbox <- letter[M]{msg: m}:
		return true
	default:
		return false
	}
}
