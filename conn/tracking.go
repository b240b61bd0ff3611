package conn

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// CLIENT TRACKING, the connection side. The shards keep the table of who
// read what and send each invalidation themselves (shard/tracking.go);
// this file holds each connection's settings, the delivery of the
// messages into the output queue of the tracking client or of the client
// it redirects to, and the server-wide list of tracking clients and BCAST
// prefixes.

// clientTracking is a connection's CLIENT TRACKING settings, owned by its
// goroutine. The tracker and sink are made on the first CLIENT TRACKING
// ON and kept: the table's entries outlive an OFF, as in Redis.
type clientTracking struct {
	t    *shard.Tracker
	sink *trackSink

	on, bcast, optin, optout, noloop bool
	caching                          bool // CLIENT CACHING, for the next command
	redirect                         int64
	prefixes                         []string
}

// remembers reports whether the keys of the next read are remembered.
func (t *clientTracking) remembers() bool {
	switch {
	case !t.on || t.bcast:
		return false
	case t.optin:
		return t.caching
	case t.optout:
		return !t.caching
	}
	return true
}

// tracker returns the tracker to give the shards with a call: nil unless
// tracking is on.
func (c *client) tracker() (*shard.Tracker, bool) {
	if c.trk == nil || !c.trk.on {
		return nil, false
	}
	return c.trk.t, c.trk.remembers()
}

// trackSink delivers one tracking client's invalidations; shards call it.
type trackSink struct {
	// c is the connection; nil once it has gone (endTracking), so that
	// the shards' table, which keeps the tracker until the keys change,
	// does not keep the whole connection alive.
	c        atomic.Pointer[client]
	t        *shard.Tracker
	redirect atomic.Int64 // client ID, 0 for the connection itself
	broken   atomic.Bool  // the redirect target has gone
}

func (k *trackSink) Invalidate(keys []string, all bool) {
	c := k.c.Load()
	if c == nil {
		return
	}
	id := k.redirect.Load()
	if id == 0 {
		if c.protoNow() == wire.RESP3 {
			c.pushTracking(invalidation(nil, wire.RESP3, false, keys, all))
		}
		return
	}
	target := c.srv.clientByID(id)
	if target == nil || target.closing.Load() {
		k.broken.Store(true)
		if c.protoNow() == wire.RESP3 {
			b := wire.AppendPush(nil, 2, wire.RESP3)
			b = wire.AppendBulkString(b, "tracking-redir-broken")
			c.pushTracking(wire.AppendInt(b, id))
		}
		return
	}
	switch p := target.protoNow(); {
	case p == wire.RESP3:
		target.pushTracking(invalidation(nil, p, false, keys, all))
	case target.subscribed2():
		// RESP2 has no pushes: a subscriber gets a message on
		// __redis__:invalidate instead.
		target.pushTracking(invalidation(nil, p, true, keys, all))
	}
}

// invalidation appends an invalidation message: a push, or for a RESP2
// subscriber a Pub/Sub message; its value is the array of keys, or a null
// when every key changed.
func invalidation(b []byte, p wire.Proto, message bool, keys []string, all bool) []byte {
	if message {
		b = wire.AppendArray(b, 3)
		b = wire.AppendBulkString(b, "message")
		b = wire.AppendBulkString(b, "__redis__:invalidate")
	} else {
		b = wire.AppendPush(b, 2, p)
		b = wire.AppendBulkString(b, "invalidate")
	}
	if all {
		return wire.AppendNull(b, p)
	}
	b = wire.AppendArray(b, len(keys))
	for _, k := range keys {
		b = wire.AppendBulkString(b, k)
	}
	return b
}

// protoNow is the connection's protocol, for other goroutines.
func (c *client) protoNow() wire.Proto {
	c.info.mu.Lock()
	p := c.info.proto
	c.info.mu.Unlock()
	return p
}

// subscribed2 reports, from any goroutine, whether the connection is
// subscribed to a channel or pattern (Redis's CLIENT_PUBSUB).
func (c *client) subscribed2() bool {
	s := c.pubsub()
	return s != nil && s.Total() > 0
}

func (s *Server) clientByID(id int64) *client {
	s.mu.Lock()
	c := s.clients[id]
	s.mu.Unlock()
	return c
}

// pushState orders the pushes other goroutines make for a connection
// (invalidations) with its own replies. While the connection works on a
// segment, pushes wait in held and follow its replies into the output
// queue: a key's invalidation never overtakes the reply that read it. A
// connection that has no output queue yet (a RESP3 redirect target that
// never subscribed) keeps them in early and is woken to make one.
type pushState struct {
	mu    sync.Mutex
	hold  bool
	held  []byte
	early []byte
	wake  atomic.Bool // early has bytes: the connection must adopt them

	// waiter is the blocked command's while the connection waits
	// (waitPushes): pushes then go out at once, unless a shard has
	// claimed it to serve it.
	waiter *shard.Waiter
}

// pushLimit caps the bytes a connection may have waiting in held or early:
// past it, like past the pub/sub output limit, the connection is closed.
const pushLimit = 32 << 20

// pushTracking queues b for the connection without blocking.
func (c *client) pushTracking(b []byte) {
	p := &c.push
	p.mu.Lock()
	defer p.mu.Unlock()
	sub := c.pubsub()
	switch {
	case sub == nil:
		if len(p.early)+len(b) > pushLimit {
			c.closeAsync()
			return
		}
		p.early = append(p.early, b...)
		if !p.wake.Load() {
			p.wake.Store(true)
			// Wake its read so it makes a queue; adopt resets it under
			// the same lock, so the two cannot cross.
			c.nc.SetReadDeadline(time.Unix(1, 0))
		}
	case p.hold || p.waiter != nil && p.waiter.Claimed():
		if len(p.held)+len(b) > pushLimit {
			c.closeAsync()
			return
		}
		p.held = append(p.held, b...)
	default:
		sub.Queue().Push(b)
	}
}

// holdPushes starts a segment: pushes wait for its replies.
func (c *client) holdPushes() {
	c.push.mu.Lock()
	c.push.hold = true
	c.push.mu.Unlock()
}

// releasePushes ends a segment whose replies are queued: what waited goes
// after them.
func (c *client) releasePushes() {
	p := &c.push
	p.mu.Lock()
	p.hold = false
	if len(p.held) > 0 {
		if sub := c.pubsub(); sub != nil {
			sub.Queue().Push(p.held)
		}
		p.held = nil
	}
	p.mu.Unlock()
}

// queueBacklog is how many bytes a tracking client's output queue may
// hold before the connection stops reading commands until its client has
// read some: a client that does not read is held back, as one whose
// socket write blocks is, instead of the server buffering every reply.
const queueBacklog = 1 << 20

// awaitQueue applies queueBacklog, between segments. Only a normal-class
// queue (a client that only tracks) waits: a subscriber's or a monitor's
// has the pubsub output limit.
func (c *client) awaitQueue() {
	if c.sub != nil && c.sub.Queue().Normal() {
		c.sub.Queue().WaitBelow(queueBacklog, c.srv.stopping)
	}
}

// waitPushes lets pushes through while the connection waits (blocked,
// paused), the replies before the wait queued: as in Redis, a blocked
// client hears of a change at once, not when its wait ends. w is the
// waiter of a blocked command, or nil. Once a shard has claimed w to
// serve it, what the serving changes (BLMOVE's destination) is the
// client's own doing: those pushes wait for its reply again, as Redis
// sends them after it.
func (c *client) waitPushes(w *shard.Waiter) {
	p := &c.push
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiter = w
	if w != nil && w.Claimed() {
		// Served already, before the wait began: what it held may be
		// the serving's, and the wake is on its way.
		return
	}
	p.hold = false
	if len(p.held) > 0 {
		if sub := c.pubsub(); sub != nil {
			sub.Queue().Push(p.held)
		}
		p.held = nil
	}
}

// endWaitPushes ends waitPushes: pushes wait for the replies of the rest
// of the segment.
func (c *client) endWaitPushes() {
	p := &c.push
	p.mu.Lock()
	p.waiter = nil
	p.hold = c.trk.on
	p.mu.Unlock()
}

// adoptPushes gives a connection woken by pushTracking its output queue
// and moves the early pushes into it.
func (c *client) adoptPushes() {
	p := &c.push
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.wake.Load() {
		return
	}
	c.startQueue()
	c.sub.Queue().Push(p.early)
	p.early = nil
	p.wake.Store(false)
	c.nc.SetReadDeadline(time.Time{})
}

// trackingRegistry is the server's list of tracking clients (for flushes
// and INFO) and the BCAST prefixes, published to the shards as a
// snapshot.
type trackingRegistry struct {
	table *shard.TrackingTable

	mu       sync.Mutex
	clients  map[*client]struct{}
	prefixes map[string]map[*shard.Tracker]struct{}
	nClients atomic.Int64
	nPrefix  atomic.Int64
}

func newTrackingRegistry() *trackingRegistry {
	r := &trackingRegistry{
		table:    shard.NewTrackingTable(),
		clients:  map[*client]struct{}{},
		prefixes: map[string]map[*shard.Tracker]struct{}{},
	}
	r.table.Flushed = r.flushed
	return r
}

// flushed tells every tracking client that all keys changed.
func (r *trackingRegistry) flushed() {
	r.mu.Lock()
	sinks := make([]*trackSink, 0, len(r.clients))
	for c := range r.clients {
		sinks = append(sinks, c.trk.sink)
	}
	r.mu.Unlock()
	for _, k := range sinks {
		k.Invalidate(nil, true)
	}
}

// enable records c as tracking, with its BCAST prefixes.
func (r *trackingRegistry) enable(c *client, prefixes []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clients[c] = struct{}{}
	r.nClients.Store(int64(len(r.clients)))
	if len(prefixes) == 0 {
		return
	}
	for _, p := range prefixes {
		set := r.prefixes[p]
		if set == nil {
			set = map[*shard.Tracker]struct{}{}
			r.prefixes[p] = set
		}
		set[c.trk.t] = struct{}{}
	}
	r.publish()
}

// disable forgets c and its prefixes.
func (r *trackingRegistry) disable(c *client, prefixes []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.clients, c)
	r.nClients.Store(int64(len(r.clients)))
	if len(prefixes) == 0 {
		return
	}
	for _, p := range prefixes {
		if set := r.prefixes[p]; set != nil {
			delete(set, c.trk.t)
			if len(set) == 0 {
				delete(r.prefixes, p)
			}
		}
	}
	r.publish()
}

// publish hands the shards a new snapshot of the prefixes. r.mu is held.
func (r *trackingRegistry) publish() {
	r.nPrefix.Store(int64(len(r.prefixes)))
	snap := make([]*shard.Prefix, 0, len(r.prefixes))
	for p, set := range r.prefixes {
		e := &shard.Prefix{Prefix: p}
		for t := range set {
			e.Trackers = append(e.Trackers, t)
		}
		snap = append(snap, e)
	}
	sort.Slice(snap, func(i, j int) bool { return snap[i].Prefix < snap[j].Prefix })
	r.table.SetPrefixes(snap)
}

// Commands: CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO.

func cmdClientTracking(c *client, args [][]byte) {
	var redirect int64
	var bcast, optin, optout, noloop bool
	var prefixes []string
	for j := 3; j < len(args); j++ {
		more := j < len(args)-1
		switch a := args[j]; {
		case equalFold(a, "redirect") && more:
			j++
			if redirect != 0 {
				c.replyError("ERR A client can only redirect to a single other client")
				return
			}
			n, err := strconv.ParseInt(string(args[j]), 10, 64)
			if err != nil {
				c.replyError("ERR value is not an integer or out of range")
				return
			}
			if c.srv.clientByID(n) == nil {
				c.replyError("ERR The client ID you want redirect to does not exist")
				return
			}
			redirect = n
		case equalFold(a, "bcast"):
			bcast = true
		case equalFold(a, "optin"):
			optin = true
		case equalFold(a, "optout"):
			optout = true
		case equalFold(a, "noloop"):
			noloop = true
		case equalFold(a, "prefix") && more:
			j++
			prefixes = append(prefixes, string(args[j]))
		default:
			c.replyError("ERR syntax error")
			return
		}
	}
	switch {
	case equalFold(args[2], "on"):
		if msg := c.trackingConflict(bcast, optin, optout, prefixes); msg != "" {
			c.replyError(msg)
			return
		}
		c.enableTracking(redirect, bcast, optin, optout, noloop, prefixes)
	case equalFold(args[2], "off"):
		c.disableTracking()
	default:
		c.replyError("ERR syntax error")
		return
	}
	c.replyOK()
}

// trackingConflict checks CLIENT TRACKING ON's options against each other
// and the connection's state, with Redis's errors.
func (c *client) trackingConflict(bcast, optin, optout bool, prefixes []string) string {
	t := c.trk
	on := t != nil && t.on
	switch {
	case !bcast && len(prefixes) > 0:
		return "ERR PREFIX option requires BCAST mode to be enabled"
	case on && t.bcast != bcast:
		return "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."
	case bcast && (optin || optout):
		return "ERR OPTIN and OPTOUT are not compatible with BCAST"
	case optin && optout:
		return "ERR You can't specify both OPTIN mode and OPTOUT mode"
	case on && (optin && t.optout || optout && t.optin):
		return "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."
	}
	if !bcast {
		return ""
	}
	for i, p := range prefixes {
		if on {
			for _, q := range t.prefixes {
				if overlaps(p, q) {
					return "ERR Prefix '" + p + "' overlaps with an existing prefix '" + q + "'. Prefixes for a single client must not overlap."
				}
			}
		}
		for _, q := range prefixes[i+1:] {
			if overlaps(p, q) {
				return "ERR Prefix '" + p + "' overlaps with another provided prefix '" + q + "'. Prefixes for a single client must not overlap."
			}
		}
	}
	return ""
}

// overlaps reports whether one prefix begins the other: both would match
// the same keys.
func overlaps(a, b string) bool { return strings.HasPrefix(a, b) || strings.HasPrefix(b, a) }

func (c *client) enableTracking(redirect int64, bcast, optin, optout, noloop bool, prefixes []string) {
	if c.trk == nil {
		c.trk = &clientTracking{}
		c.trk.sink = &trackSink{}
		c.trk.sink.c.Store(c)
		c.trk.t = shard.NewTracker(c.trk.sink)
		c.trk.sink.t = c.trk.t
		c.trkSink.Store(c.trk.sink)
	}
	t := c.trk
	// Every byte now goes through the output queue, so that the shards'
	// pushes and the replies keep one order (see pushState).
	c.settle()
	c.startQueue()
	if c.write() != nil {
		c.closeAfter = true
	}
	c.holdPushes()
	var add []string
	if bcast {
		if len(prefixes) == 0 {
			prefixes = []string{""}
		}
		for _, p := range prefixes {
			if !slices.Contains(t.prefixes, p) {
				add = append(add, p)
				t.prefixes = append(t.prefixes, p)
			}
		}
	}
	t.on, t.bcast, t.optin, t.optout, t.noloop = true, bcast, optin, optout, noloop
	t.redirect = redirect
	t.sink.redirect.Store(redirect)
	t.sink.broken.Store(false)
	mode := uint32(shard.TrackOn)
	if bcast {
		mode |= shard.TrackBcast
	}
	if noloop {
		mode |= shard.TrackNoloop
	}
	t.t.SetMode(mode)
	c.srv.tracking.enable(c, add)
}

// disableTracking turns tracking off (CLIENT TRACKING OFF, RESET, a
// hang-up). The table forgets the connection's keys lazily.
func (c *client) disableTracking() {
	t := c.trk
	if t == nil || !t.on {
		return
	}
	t.t.SetMode(0)
	c.srv.tracking.disable(c, t.prefixes)
	prefixes := t.prefixes[:0]
	clear(t.prefixes)
	*t = clientTracking{t: t.t, sink: t.sink, prefixes: prefixes}
	t.sink.broken.Store(false)
}

// endTracking is a hang-up's: tracking off, and the sink let go of the
// connection.
func (c *client) endTracking() {
	c.disableTracking()
	if c.trk != nil {
		c.trk.sink.c.Store(nil)
	}
}

func cmdClientCaching(c *client, args [][]byte) {
	t := c.trk
	if t == nil || !t.on {
		c.replyError("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
		return
	}
	switch {
	case equalFold(args[2], "yes"):
		if !t.optin {
			c.replyError("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
			return
		}
	case equalFold(args[2], "no"):
		if !t.optout {
			c.replyError("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
			return
		}
	default:
		c.replyError("ERR syntax error")
		return
	}
	t.caching = true
	c.replyOK()
}

// redirection is CLIENT GETREDIR's answer: -1 when tracking is off.
func (c *client) redirection() int64 {
	if c.trk == nil || !c.trk.on {
		return -1
	}
	return c.trk.redirect
}

func cmdClientGetRedir(c *client, args [][]byte) { c.replyInt(c.redirection()) }

func cmdClientTrackingInfo(c *client, args [][]byte) {
	t := c.trk
	on := t != nil && t.on
	var flags []string
	if !on {
		flags = append(flags, "off")
	} else {
		flags = append(flags, "on")
		if t.bcast {
			flags = append(flags, "bcast")
		}
		if t.optin {
			flags = append(flags, "optin")
			if t.caching {
				flags = append(flags, "caching-yes")
			}
		}
		if t.optout {
			flags = append(flags, "optout")
			if t.caching {
				flags = append(flags, "caching-no")
			}
		}
		if t.noloop {
			flags = append(flags, "noloop")
		}
		if t.sink.broken.Load() {
			flags = append(flags, "broken_redirect")
		}
	}
	c.replyMap(3)
	c.replyBulkString("flags")
	c.replySet(len(flags))
	for _, f := range flags {
		c.replyBulkString(f)
	}
	c.replyBulkString("redirect")
	c.replyInt(c.redirection())
	c.replyBulkString("prefixes")
	var prefixes []string
	if on {
		prefixes = append(prefixes, t.prefixes...)
		sort.Strings(prefixes)
	}
	c.replyArray(len(prefixes))
	for _, p := range prefixes {
		c.replyBulkString(p)
	}
}

// trackingFlags appends CLIENT LIST's tracking letters, t, R (broken
// redirect) and B (BCAST); any goroutine may call it.
func (c *client) trackingFlags(b []byte) []byte {
	k := c.trkSink.Load()
	if k == nil {
		return b
	}
	m := k.t.Mode()
	if m&shard.TrackOn == 0 {
		return b
	}
	b = append(b, 't')
	if k.broken.Load() {
		b = append(b, 'R')
	}
	if m&shard.TrackBcast != 0 {
		b = append(b, 'B')
	}
	return b
}

// trackingRedir is CLIENT LIST's redir field; any goroutine may call it.
func (c *client) trackingRedir() int64 {
	k := c.trkSink.Load()
	if k == nil || k.t.Mode()&shard.TrackOn == 0 {
		return -1
	}
	return k.redirect.Load()
}

// closeAsync closes the connection from a goroutine that must not wait:
// Close waits while the connection's own goroutine holds its read lock
// (holdReads), for at most one segment. Unlike hangUp, the close is a
// real one. (With hangUp here TestReviewTrackingStress once failed 1 run
// in 8, on a build that still had the actor's gathered wake-up; 30 of 30
// passed without it. The cause was not found.)
//
// Only the first call starts a close: every push past the limit calls it,
// and each goroutine would wait as long as the first. A connection that
// hangUp ended already is closed by its own goroutine.
func (c *client) closeAsync() {
	if c.hungUp.CompareAndSwap(false, true) {
		go c.nc.Close()
	}
}
