package pubsub

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/rawsock"
	"github.com/valkyrie-kv/valkyrie/shard/osmem"
)

// QueueConfig is what every Queue of a server shares: the settings it
// reads and the counters it adds to. Every field must be set.
type QueueConfig struct {
	Limit       *atomic.Pointer[Limit] // client-output-buffer-limit pubsub; a nil Limit is none
	NetOut      *atomic.Int64          // bytes written to sockets (INFO total_net_output_bytes)
	Disconnects *atomic.Int64          // connections closed past Limit (INFO client_output_buffer_limit_disconnections)
	Log         *slog.Logger
	// Mem, if set, is told of every change of the bytes the queues hold
	// (the server's client memory).
	Mem func(delta int64)
}

func (c *QueueConfig) mem(delta int64) {
	if c.Mem != nil && delta != 0 {
		c.Mem(delta)
	}
}

// Queue is a connection's outbound byte queue and the writer goroutine
// that drains it. Once a connection has one, every byte it sends goes
// through it: its own replies and the pushes other goroutines append, so
// they reach the socket in the order they were queued and only the writer
// writes. Push never blocks: past the limit it closes the connection.
type Queue struct {
	cfg *QueueConfig
	nc  net.Conn
	raw *rawsock.Writer // writes without waiting; nil where there is none (TLS)
	one [1][]byte       // Push's argument for raw

	mu       sync.Mutex
	buf      []byte
	pending  int64 // bytes queued or being written
	closed   bool
	stopping bool
	// after, when not nil, is closed once an earlier writer of the
	// socket is done (NewQueueAfter); until then the writer waits and
	// Push writes nothing itself (waiting is set).
	after   <-chan struct{}
	waiting bool

	softSince int64 // Unix second the soft limit was first passed; 0 if under it

	// normal: the connection is in Redis's normal output buffer class
	// (it needs a queue only for pushes such as CLIENT TRACKING's, and
	// never subscribed or monitored), to which the pubsub Limit does not
	// apply.
	normal atomic.Bool

	wake    chan struct{} // capacity 1
	drained chan struct{} // capacity 1: the writer wrote a block (WaitBelow)
	exited  chan struct{}
}

// ErrClosed is what a connection reports when its queue refused bytes.
var ErrClosed = errors.New("pubsub: output queue closed")

// NewQueue starts the writer of nc. From now on only the queue writes to
// nc; the caller owns the queue and must Stop it.
func NewQueue(nc net.Conn, cfg *QueueConfig) *Queue {
	return NewQueueAfter(nc, cfg, nil)
}

// NewQueueAfter is NewQueue for a socket that another writer still
// writes to: the queue writes nothing before after is closed (nil: at
// once). Bytes pushed meanwhile wait in the queue, in order.
func NewQueueAfter(nc net.Conn, cfg *QueueConfig, after <-chan struct{}) *Queue {
	q := &Queue{cfg: cfg, nc: nc, raw: rawsock.New(nc), wake: make(chan struct{}, 1), drained: make(chan struct{}, 1), exited: make(chan struct{})}
	q.after, q.waiting = after, after != nil
	go q.run()
	return q
}

// Push queues b (copying it) and reports false if the connection is
// closed, was just closed for passing the output buffer limit, or its
// writer has stopped. Any goroutine may call it; it never blocks on the
// socket.
func (q *Queue) Push(b []byte) bool { return q.PushAfter(b, nil) }

// PushAfter is Push that first runs before, with the queue locked: what
// other goroutines push meanwhile waits and follows b. MONITOR joins the
// feed this way, so that no line of the feed overtakes its +OK and no
// command the client sends after reading +OK is missed.
func (q *Queue) PushAfter(b []byte, before func()) bool {
	q.mu.Lock()
	if before != nil {
		before()
	}
	if len(b) == 0 {
		closed := q.closed
		q.mu.Unlock()
		return !closed
	}
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if q.pending == 0 && q.raw != nil && !q.stopping && !q.waiting {
		// Nothing queued or being written: what the socket takes now
		// goes at once, and only the rest waits for the writer (and
		// counts as memory held).
		q.one[0] = b
		n, rest, err := q.raw.Write(q.one[:])
		q.one[0] = nil // rest shares it: read what is left from b
		q.cfg.NetOut.Add(int64(n))
		if err == nil && len(rest) == 0 {
			q.mu.Unlock()
			return true
		}
		b = b[n:] // on an error, the writer meets it again and closes
	}
	q.buf = append(q.buf, b...)
	q.pending += int64(len(b))
	if lim := q.cfg.Limit.Load(); lim != nil && !q.normal.Load() && lim.reached(q.pending, &q.softSince) {
		n := q.dropLocked()
		q.mu.Unlock()
		q.cfg.mem(int64(len(b)) - n)
		q.cfg.Disconnects.Add(1)
		q.cfg.Log.Debug("client closed for overcoming of output buffer limits")
		q.nc.Close()
		return false
	}
	q.mu.Unlock()
	q.cfg.mem(int64(len(b)))
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// dropLocked forgets the queued bytes that the writer has not taken and
// closes the queue; it returns how many it dropped. q.mu is held.
func (q *Queue) dropLocked() int64 {
	n := int64(len(q.buf))
	q.closed = true
	q.buf = nil
	q.pending -= n
	return n
}

// Drop closes the queue and forgets what it holds (the connection is
// being closed: CLIENT KILL, client eviction). The writer stops after its
// current write, which closing the connection fails.
func (q *Queue) Drop() {
	q.mu.Lock()
	n := q.dropLocked()
	q.mu.Unlock()
	q.cfg.mem(-n)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// CheckSoft applies the soft limit to what the queue holds, from a cron:
// as in Redis, a subscriber that stays above it for longer than its
// seconds is closed even when nothing more is published. It reports
// whether it closed the connection.
func (q *Queue) CheckSoft() bool {
	lim := q.cfg.Limit.Load()
	if lim == nil || lim.Soft <= 0 || q.normal.Load() {
		return false
	}
	q.mu.Lock()
	if q.closed || q.pending < lim.Soft {
		q.softSince = 0
		q.mu.Unlock()
		return false
	}
	if !lim.reached(q.pending, &q.softSince) {
		q.mu.Unlock()
		return false
	}
	n := q.dropLocked()
	q.mu.Unlock()
	q.cfg.mem(-n)
	q.cfg.Disconnects.Add(1)
	q.cfg.Log.Debug("client closed for overcoming of output buffer limits")
	q.nc.Close()
	return true
}

// SetNormal puts the queue in the normal output buffer class (on) or the
// pubsub class (off, as a new queue is): only the pubsub class has a limit.
func (q *Queue) SetNormal(on bool) { q.normal.Store(on) }

// Normal reports whether the queue is in the normal class (SetNormal).
func (q *Queue) Normal() bool { return q.normal.Load() }

// WaitBelow waits until at most limit bytes are queued or being written,
// the queue is closed, or stop is closed: the back-pressure a blocking
// write to the socket gives. Only the connection's own goroutine calls
// it, never while it holds shards.
func (q *Queue) WaitBelow(limit int64, stop <-chan struct{}) {
	for {
		q.mu.Lock()
		done := q.pending <= limit || q.closed
		q.mu.Unlock()
		if done {
			return
		}
		select {
		case <-q.drained:
		case <-q.exited:
			return
		case <-stop:
			return
		}
	}
}

// Closed reports whether the queue takes no more bytes: the connection
// was closed (output limit, write error) or the writer has stopped.
func (q *Queue) Closed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// Pending reports the bytes queued or being written, and in how many
// blocks: the one the writer is writing and the one filling behind it
// (CLIENT LIST omem and oll).
func (q *Queue) Pending() (bytes, blocks int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.buf) > 0 {
		blocks++
	}
	if q.pending > int64(len(q.buf)) {
		blocks++
	}
	return int(q.pending), blocks
}

func (q *Queue) run() {
	defer close(q.exited)
	if q.after != nil {
		<-q.after // every close path of the connection ends the earlier writer
		q.mu.Lock()
		q.waiting = false
		q.mu.Unlock()
	}
	var w []byte
	for {
		q.mu.Lock()
		for len(q.buf) == 0 && !q.stopping && !q.closed {
			q.mu.Unlock()
			<-q.wake
			q.mu.Lock()
		}
		if len(q.buf) == 0 || q.closed {
			// Stopped with everything written, or closed: nothing
			// pushed from now on would ever be written.
			n := q.dropLocked()
			q.mu.Unlock()
			q.cfg.mem(-n)
			return
		}
		w, q.buf = q.buf, w[:0]
		q.mu.Unlock()
		n, err := q.nc.Write(w)
		q.cfg.NetOut.Add(int64(n))
		q.mu.Lock()
		q.pending -= int64(len(w))
		dropped := int64(0)
		if err != nil {
			dropped = q.dropLocked()
		}
		q.mu.Unlock()
		q.cfg.mem(-int64(len(w)) - dropped)
		select {
		case q.drained <- struct{}{}:
		default:
		}
		if err != nil {
			q.nc.Close()
			return
		}
		if cap(w) > osmem.Keep {
			osmem.Released(cap(w))
			w = nil
		}
	}
}

// Stop flushes what is queued (for at most a second) and waits for the
// writer to return. It does not close the connection.
func (q *Queue) Stop() {
	q.mu.Lock()
	q.stopping = true
	q.mu.Unlock()
	q.nc.SetWriteDeadline(time.Now().Add(time.Second))
	select {
	case q.wake <- struct{}{}:
	default:
	}
	<-q.exited
}
