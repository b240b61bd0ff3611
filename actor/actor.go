package actor

import (
	"errors"
	"sync"
	"time"
)

// ErrStopped is returned by Send once the actor has been asked to stop.
var ErrStopped = errors.New("actor: stopped")

// Actor serialises messages of type M onto one goroutine.
type Actor[M any] struct {
	mailbox  chan M
	retick   chan time.Duration
	stop     chan struct{} // closed by Stop
	done     chan struct{} // closed when the run loop has returned
	stopOnce sync.Once
}

// Options configure Start.
type Options struct {
	Mailbox int           // mailbox capacity; senders block when it is full
	Tick    time.Duration // period of OnTick; 0 disables it
	OnTick  func()        // runs on the actor's goroutine
}

// Start launches the run loop. handle is called for each message, in
// arrival order, on the actor's goroutine only.
func Start[M any](opt Options, handle func(M)) *Actor[M] {
	a := &Actor[M]{
		mailbox: make(chan M, opt.Mailbox),
		retick:  make(chan time.Duration, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go a.run(opt, handle)
	return a
}

func (a *Actor[M]) run(opt Options, handle func(M)) {
	defer close(a.done)
	var tick <-chan time.Time
	var ticker *time.Ticker
	if opt.Tick > 0 && opt.OnTick != nil {
		ticker = time.NewTicker(opt.Tick)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		// Fast path: while messages are waiting, take them with a cheap
		// non-blocking receive, but only a bounded run of them, so that
		// ticks and Stop are still seen under constant load.
		for i := 0; i < 64; i++ {
			select {
			case m := <-a.mailbox:
				handle(m)
				continue
			default:
			}
			break
		}
		select {
		case m := <-a.mailbox:
			handle(m)
		case <-tick:
			opt.OnTick()
		case d := <-a.retick:
			if ticker != nil && d > 0 {
				ticker.Reset(d)
			}
		case <-a.stop:
			return
		}
	}
}

// Send queues m. It blocks while the mailbox is full (backpressure) and
// returns ErrStopped instead of blocking forever once Stop was called. A
// message accepted just before the stop may never be handled, so a sender
// waiting for a reply must also select on Done.
func (a *Actor[M]) Send(m M) error {
	select {
	case <-a.stop:
		return ErrStopped
	default:
	}
	select {
	case a.mailbox <- m: // room in the mailbox: the common case
		return nil
	default:
	}
	select {
	case a.mailbox <- m:
		return nil
	case <-a.stop:
		return ErrStopped
	}
}

// SetTick changes the tick period. Only the latest pending change is kept;
// after Stop it does nothing.
func (a *Actor[M]) SetTick(d time.Duration) {
	for {
		select {
		case a.retick <- d:
			return
		case <-a.stop:
			return
		default:
		}
		select {
		case <-a.retick: // drop a stale pending change
		default:
		}
	}
}

// Stop asks the run loop to return and waits until it has. Messages still
// in the mailbox are dropped. Stop is idempotent.
func (a *Actor[M]) Stop() {
	a.stopOnce.Do(func() { close(a.stop) })
	<-a.done
}

// Done is closed once the run loop has returned.
func (a *Actor[M]) Done() <-chan struct{} { return a.done }

// Pending reports how many messages wait in the mailbox. It is a snapshot
// for monitoring, safe to call from any goroutine.
func (a *Actor[M]) Pending() int { return len(a.mailbox) }

// TrySend queues m only if the mailbox has room, without blocking, and
// reports whether it did. It is for senders that must never wait, such as
// a shard handing keyspace events to the pub/sub actor.
func (a *Actor[M]) TrySend(m M) bool {
	select {
	case <-a.stop:
		return false
	default:
	}
	select {
	case a.mailbox <- m:
		return true
	default:
		return false
	}
}
