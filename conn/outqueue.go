package conn

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard/osmem"
)

// A normal client's output buffer. The connection writes its replies to
// the socket itself as long as the socket takes them (tryWrite, which
// never waits). When a write would block, what the socket did not take is
// copied into the connection's outQueue and a writer goroutine sends it;
// until the queue drains, every later reply is appended to it, in order,
// and the connection goes on reading and running commands, as Redis does:
// a client that pipelines and does not read makes its output buffer grow,
// and client-output-buffer-limit and maxmemory-clients bound it.
//
// A connection without a non-blocking write (TLS) blocks in Write as
// before: its output buffer is at most one segment.

// outGrace is how long a connection that closes after its reply (QUIT)
// waits for its queued replies to be written.
const outGrace = 5 * time.Second

// outQueue is a connection's queue of replies waiting for the socket.
// The connection's goroutine is its only producer; the writer goroutine,
// started when the queue gets bytes and gone once it is empty, its only
// consumer. The connection's goroutine owns the writer: it stops it
// (finish or drop) before it goes away.
type outQueue struct {
	srv    *Server
	nc     net.Conn
	hangUp func() // ends the connection without waiting for its goroutine

	// pending is the bytes queued or being written: the client's omem.
	// The connection's goroutine reads it without the lock to learn
	// whether the writer owns the socket (pending > 0).
	pending atomic.Int64

	mu        sync.Mutex
	buf       []byte
	spare     []byte
	running   bool          // the writer goroutine runs
	dead      bool          // dropped, or a write failed: nothing more goes out
	softSince int64         // when pending passed the normal soft limit (Unix s)
	exited    chan struct{} // closed by the writer when it returns; nil before the first
}

// busy reports whether replies wait in the queue, so that the next ones
// must join them. Only the connection's goroutine calls it.
func (q *outQueue) busy() bool { return q.pending.Load() > 0 }

// push appends the bufs to the queue and starts the writer if it is not
// running. It reports false if the queue is dead (the connection is going
// away).
func (q *outQueue) push(bufs [][]byte) bool {
	q.mu.Lock()
	if q.dead {
		q.mu.Unlock()
		return false
	}
	added := 0
	for _, b := range bufs {
		q.buf = append(q.buf, b...)
		added += len(b)
	}
	q.pending.Add(int64(added))
	if !q.running && len(q.buf) > 0 {
		q.running = true
		q.exited = make(chan struct{})
		go q.run(q.exited)
	}
	q.mu.Unlock()
	q.srv.addOwnMem(int64(added))
	return true
}

// run writes the queue until it is empty, or dead.
func (q *outQueue) run(exited chan struct{}) {
	defer close(exited)
	var w []byte
	for {
		q.mu.Lock()
		if len(q.buf) == 0 || q.dead {
			q.running = false
			q.mu.Unlock()
			return
		}
		w, q.buf = q.buf, q.spare[:0]
		q.spare = nil
		q.mu.Unlock()
		n, err := q.nc.Write(w)
		q.srv.stats.netOut.Add(int64(n))
		q.mu.Lock()
		q.pending.Add(-int64(len(w)))
		if err != nil && !q.dead {
			q.dead = true
			q.srv.addClientMem(-int64(len(q.buf)))
			q.pending.Add(-int64(len(q.buf)))
			q.buf = nil
		}
		if cap(w) <= osmem.Keep && q.spare == nil {
			q.spare = w[:0]
		} else if cap(w) > osmem.Keep {
			osmem.Released(cap(w))
		}
		q.mu.Unlock()
		q.srv.addClientMem(-int64(len(w)))
		if err != nil {
			q.hangUp()
		}
	}
}

// drop forgets what is queued (CLIENT KILL, an output limit, eviction):
// the connection is being closed, and the writer, if it runs, stops at
// its current write, which the close fails. Any goroutine may call it.
func (q *outQueue) drop() {
	q.mu.Lock()
	if q.dead {
		q.mu.Unlock()
		return
	}
	q.dead = true
	n := int64(len(q.buf))
	q.buf, q.spare = nil, nil
	q.pending.Add(-n)
	q.mu.Unlock()
	q.srv.addClientMem(-n)
}

// finish lets the writer send what is queued, for at most grace, then
// stops it: the connection's last act before it closes the socket, so
// that QUIT's reply and what precedes it go out.
func (q *outQueue) finish(grace time.Duration) {
	q.mu.Lock()
	exited := q.exited
	running := q.running
	q.mu.Unlock()
	if running {
		q.nc.SetWriteDeadline(time.Now().Add(grace))
		<-exited
	}
	q.drop()
}

// writerDone returns a channel closed once the writer has sent everything
// (or died), or nil if it is not running. The connection's goroutine
// calls it when another writer takes the socket (a pub/sub queue), and
// pushes nothing more here afterwards: the writer ends once the queue is
// empty, or once closing the connection (every close path does) or a
// write deadline fails its write.
func (q *outQueue) writerDone() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.running {
		return nil
	}
	return q.exited
}

// softReached applies the normal class's soft limit to what the queue
// holds, from the server's cron: Redis closes a client that stayed above
// it for longer than its seconds even when nothing more is written.
func (q *outQueue) softReached(now int64) bool {
	l := q.srv.normalLimit.Load()
	if l == nil || l.Soft <= 0 {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead || q.pending.Load() < l.Soft {
		q.softSince = 0
		return false
	}
	if q.softSince == 0 {
		q.softSince = now
		return false
	}
	return now-q.softSince > l.SoftSecs
}
