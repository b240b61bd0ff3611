package conn

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Client memory: what the connections hold in buffers, as Redis counts it
// for used_memory, CLIENT LIST's tot-mem and maxmemory-clients. Each
// connection's figure has two parts, each added to the server's total only
// when it changes:
//
//   - its own buffers and record (read buffer, a command still arriving,
//     reply and segment buffers, a queued transaction, watched keys,
//     subscriptions), which its goroutine publishes once per segment
//     (refreshMem), not per command, after the segment's write;
//   - the replies queued for its socket: a normal client's outQueue and a
//     subscriber's pub/sub queue, which add and subtract as bytes are
//     queued and written.
//
// When the total passes maxmemory-clients, the clients that hold the most
// are closed until it is no longer above the limit (Redis's evictClients,
// which stops below it: at exactly the limit Valkyrie keeps the client),
// skipping CLIENT NO-EVICT ones and monitors. A connection's goroutine
// that passes it evicts at once, before its next command; a pub/sub
// queue filled by another goroutine wakes the cron's goroutine to do it.

// clientMemState is the server's side of it.
type clientMemState struct {
	evicting sync.Mutex   // one eviction at a time
	total    atomic.Int64 // bytes all clients hold
	limit    atomic.Int64 // maxmemory-clients in bytes; 0: none
	wake     chan struct{}
}

// clientMemory is the memory the clients hold in buffers (query buffers,
// pending replies, pub/sub queues), which counts in used_memory and
// toward maxmemory as in Redis.
func (s *Server) clientMemory() int64 { return max(0, s.cmem.total.Load()) }

// initClientMem follows maxmemory-clients (New).
func (s *Server) initClientMem() {
	s.cmem.wake = make(chan struct{}, 1)
	s.queueCfg.Mem = s.addClientMem
	s.setClientMemLimit()
	s.cfg.OnChange("maxmemory-clients", func(string) { s.setClientMemLimit() })
	s.cfg.OnChange("maxmemory", func(string) { s.setClientMemLimit() })
}

// setClientMemLimit reads maxmemory-clients: bytes, or a percentage of
// maxmemory (the table returns it negated); lowering it evicts at once.
func (s *Server) setClientMemLimit() {
	v := s.cfg.Int("maxmemory-clients")
	if v < 0 {
		// As Redis computes it, in floating point.
		v = int64(float64(uint64(s.cfg.Int("maxmemory"))) * float64(-v) / 100)
	}
	s.cmem.limit.Store(v)
	s.evictClients() // before the next command, as Redis's beforeSleep
}

// addClientMem adds delta to the clients' total; passing the limit wakes
// the evictor. Any goroutine may call it, holding any lock.
func (s *Server) addClientMem(delta int64) {
	t := s.cmem.total.Add(delta)
	if delta > 0 {
		if lim := s.cmem.limit.Load(); lim > 0 && t > lim {
			s.wakeEvictor()
		}
	}
}

// addOwnMem is addClientMem for a connection's goroutine holding no lock:
// past the limit it evicts at once, so that the effect of a command is
// seen by the next one, as in Redis.
func (s *Server) addOwnMem(delta int64) {
	t := s.cmem.total.Add(delta)
	if delta > 0 {
		if lim := s.cmem.limit.Load(); lim > 0 && t > lim {
			s.evictClients()
		}
	}
}

func (s *Server) wakeEvictor() {
	select {
	case s.cmem.wake <- struct{}{}:
	default:
	}
}

// setMem publishes the connection's own figure (refreshMem): the total
// changes only when the figure did.
func (c *client) setMem(fig int64) {
	old := c.mem.Load()
	if old < 0 || old == fig || !c.mem.CompareAndSwap(old, fig) {
		return // evicted or gone (-1), or unchanged
	}
	c.srv.addOwnMem(fig - old)
}

// refreshMem publishes the connection's own figure, between segments:
// what CLIENT LIST shows as tot-mem, less the output queues.
func (c *client) refreshMem() {
	n := clientSize + c.heldBytes() + c.stateMem()
	if c.tx.on {
		n += len(c.tx.buf) + argHeader*len(c.tx.args)
	}
	c.setMem(int64(n))
}

// dropMem takes the connection's own figure out of the total for good
// (it leaves, or is evicted).
func (c *client) dropMem() {
	if old := c.mem.Swap(-1); old > 0 {
		c.srv.addClientMem(-old)
	}
}

// queuedBytes is what the connection has queued for its socket: its
// omem. Any goroutine may call it.
func (c *client) queuedBytes() int64 {
	n := c.oq.pending.Load()
	if sub := c.pubsub(); sub != nil {
		q, _ := sub.Queue().Pending()
		n += int64(q)
	}
	return n
}

// memUsage is the connection's figure for eviction: what CLIENT LIST
// shows as tot-mem as of its last segment.
func (c *client) memUsage() int64 { return max(0, c.mem.Load()) + c.queuedBytes() }

// evictClients closes the clients that hold the most memory until the
// total is no longer above maxmemory-clients.
func (s *Server) evictClients() {
	lim := s.cmem.limit.Load()
	if lim <= 0 || s.cmem.total.Load() <= lim {
		return
	}
	s.cmem.evicting.Lock()
	defer s.cmem.evicting.Unlock()
	type cand struct {
		c   *client
		mem int64
	}
	var cands []cand
	s.mu.Lock()
	for _, c := range s.clients {
		if c.noEvict.Load() || c.evicted.Load() || c.monitoringNow() || c.isReplica.Load() {
			continue // as Redis's clientEvictionAllowed: normal and pub/sub clients only
		}
		cands = append(cands, cand{c, c.memUsage()})
	}
	s.mu.Unlock()
	slices.SortFunc(cands, func(a, b cand) int { return int(b.mem - a.mem) })
	for _, k := range cands {
		if s.cmem.total.Load() <= lim {
			return
		}
		k.c.evict()
	}
	if s.cmem.total.Load() > lim {
		s.log.Warn("Over client maxmemory after evicting all evictable clients")
	}
}

// evict closes the connection for maxmemory-clients, and takes what it
// holds out of the total at once.
func (c *client) evict() {
	if c.evicted.Swap(true) {
		return
	}
	c.srv.stats.evictedClients.Add(1)
	c.srv.log.Info("Evicting client", "client", c.id, "addr", c.ident.Addr, "tot-mem", c.memUsage())
	c.dropMem()
	if sub := c.pubsub(); sub != nil {
		sub.Queue().Drop()
	}
	c.dropOutput()
}

// killOutput forgets what a killed connection has queued: CLIENT KILL
// sends nothing more.
func (c *client) killOutput() {
	if sub := c.pubsub(); sub != nil {
		sub.Queue().Drop()
	}
	c.dropOutput()
}

// checkClientLimits is the cron's part: the soft output limits of queued
// replies, which must close a client even when nothing more is written,
// and eviction missed by a wake-up.
func (s *Server) checkClientLimits(now int64) {
	var over []*client
	s.mu.Lock()
	for _, c := range s.clients {
		if c.oq.pending.Load() > 0 && c.oq.softReached(now) {
			over = append(over, c)
		} else if sub := c.pubsub(); sub != nil && sub.Queue().CheckSoft() {
			continue // closed by the queue
		}
	}
	s.mu.Unlock()
	for _, c := range over {
		c.obufClosed(c.oq.pending.Load())
		c.dropOutput()
	}
	s.evictClients()
}

// catchUpMax bounds catchUp.
const catchUpMax = 100 * time.Millisecond

// catchUp waits, for at most catchUpMax, until the other connections have
// run what they had received when this command ran: Redis, single
// threaded, has read a query sent before CLIENT LIST (and evicted its
// client if it passed maxmemory-clients) when it answers, and tests rely
// on it. A connection has caught up once it works on no segment read
// before this command (busyBefore) and has no unread bytes, or is closing.
// Blocked connections do not read, and are not waited for.
func (c *client) catchUp() {
	var deadline time.Time
	before := c.readAt
	for _, cl := range c.srv.clientsByID() {
		if cl == c || cl.closing.Load() || !cl.busyBefore(before) {
			continue
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(catchUpMax)
		}
		for time.Now().Before(deadline) && !cl.closing.Load() && cl.busyBefore(before) {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// entryCost is what one watched key, subscription or tracking prefix
// costs a connection besides its name, roughly as in Redis (a list node,
// a dictionary entry and an object header).
const entryCost = 96

// stateMem is the memory of what the connection registered: watched
// keys, subscriptions and tracking prefixes, which Redis counts in the
// client's memory too. It is O(1): entries are counted, not measured.
func (c *client) stateMem() int {
	n := len(c.tx.watchKeys)
	if c.sub != nil {
		n += int(c.sub.Total())
	}
	if c.trk != nil {
		n += len(c.trk.prefixes)
	}
	return n * entryCost
}
