package conn

import (
	"errors"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/actor"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/glob"
	"github.com/valkyrie-kv/valkyrie/shard/osmem"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Pub/Sub. One actor goroutine, the hub, owns every subscription: the maps
// below are touched by nothing else, so no mutex guards them, and PUBLISH
// never goes near a shard. A connection talks to the hub with messages and
// waits for its answer; the hub delivers by appending bytes to each
// subscriber's outQueue, which never blocks it.

// Subscription kinds.
const (
	kindChannel = iota
	kindPattern
	kindShard
)

type psOp uint8

const (
	opSub      psOp = iota // subscribe sub to names of kind
	opUnsub                // unsubscribe names (all when empty)
	opDrop                 // forget sub without replies (RESET, hang-up)
	opPublish              // deliver msg on channel (kind channel or shard)
	opChannels             // active channels of kind matching pattern
	opNumsub               // subscriber counts of names
	opNumpat               // number of patterns
	opEvents               // keyspace notifications from a shard
)

type psMsg struct {
	op     psOp
	kind   int
	sub    *subscriber
	proto  wire.Proto
	inline bool // put confirmations in the reply instead of the queue
	names  []string
	ch     string
	msg    string
	events []shard.Event
	reply  chan psReply
}

type psReply struct {
	n      int64
	out    []byte
	names  []string
	counts []int64
}

// hub is the pub/sub actor.
type hub struct {
	a    *actor.Actor[*psMsg]
	subs [3]map[string]map[*subscriber]struct{} // owned by the actor

	// Snapshots for INFO, written by the actor.
	nChannels, nPatterns, nShard atomic.Int64
	dropped                      atomic.Int64 // keyspace event batches lost to a full mailbox
}

func newHub() *hub {
	h := &hub{}
	for i := range h.subs {
		h.subs[i] = map[string]map[*subscriber]struct{}{}
	}
	h.a = actor.Start(actor.Options{Mailbox: 4096}, h.handle)
	return h
}

// call sends m and waits for the answer; false if the hub has stopped.
func (h *hub) call(m *psMsg) (psReply, bool) {
	m.reply = make(chan psReply, 1)
	if h.a.Send(m) != nil {
		return psReply{}, false
	}
	select {
	case r := <-m.reply:
		return r, true
	case <-h.a.Done():
		return psReply{}, false
	}
}

// sink is the shards' event sink: it never blocks; a batch of events that
// finds the mailbox full is dropped and counted.
func (h *hub) sink(evs []shard.Event) {
	if !h.a.TrySend(&psMsg{op: opEvents, events: evs}) {
		h.dropped.Add(1)
	}
}

// subscriber is a connection's pub/sub state. subs belongs to the hub;
// counts are written by the hub and read by CLIENT LIST; q is shared (it
// has its own lock).
type subscriber struct {
	q      *outQueue
	proto  wire.Proto // hub-owned: the protocol of the latest request
	subs   [3]map[string]struct{}
	counts [3]atomic.Int64
}

func (h *hub) handle(m *psMsg) {
	var r psReply
	switch m.op {
	case opSub, opUnsub:
		r = h.subscribe(m)
	case opDrop:
		for kind := range m.sub.subs {
			for name := range m.sub.subs[kind] {
				h.remove(m.sub, kind, name)
			}
		}
	case opPublish:
		r.n = h.publish(m.kind, m.ch, m.msg)
	case opChannels:
		for name := range h.subs[m.kind] {
			if m.ch == "" || glob.Match(m.ch, name, false) {
				r.names = append(r.names, name)
			}
		}
		sort.Strings(r.names)
	case opNumsub:
		for _, name := range m.names {
			r.counts = append(r.counts, int64(len(h.subs[m.kind][name])))
		}
	case opNumpat:
		r.n = int64(len(h.subs[kindPattern]))
	case opEvents:
		for i := range m.events {
			e := &m.events[i]
			if e.Flags&shard.NotifyKeyspace != 0 {
				h.publish(kindChannel, shard.KeyspaceChannel(e), e.Type)
			}
			if e.Flags&shard.NotifyKeyevent != 0 {
				h.publish(kindChannel, shard.KeyeventChannel(e), e.Key)
			}
		}
	}
	h.nChannels.Store(int64(len(h.subs[kindChannel])))
	h.nPatterns.Store(int64(len(h.subs[kindPattern])))
	h.nShard.Store(int64(len(h.subs[kindShard])))
	if m.reply != nil {
		m.reply <- r
	}
}

var kindVerbs = [3][2]string{
	{"subscribe", "unsubscribe"},
	{"psubscribe", "punsubscribe"},
	{"ssubscribe", "sunsubscribe"},
}

// subscribe runs (UN)SUBSCRIBE and friends: one confirmation per name with
// the running count, as Redis sends them.
func (h *hub) subscribe(m *psMsg) psReply {
	s := m.sub
	s.proto = m.proto
	verb := kindVerbs[m.kind][0]
	names := m.names
	if m.op == opUnsub {
		verb = kindVerbs[m.kind][1]
		if len(names) == 0 {
			for name := range s.subs[m.kind] {
				names = append(names, name)
			}
		}
	}
	var out []byte
	if m.op == opUnsub && len(names) == 0 {
		out = wire.AppendPush(out, 3, m.proto)
		out = wire.AppendBulkString(out, verb)
		out = wire.AppendNull(out, m.proto)
		out = wire.AppendInt(out, s.count(m.kind))
	}
	for _, name := range names {
		if m.op == opSub {
			if s.subs[m.kind] == nil {
				s.subs[m.kind] = map[string]struct{}{}
			}
			if _, ok := s.subs[m.kind][name]; !ok {
				s.subs[m.kind][name] = struct{}{}
				set := h.subs[m.kind][name]
				if set == nil {
					set = map[*subscriber]struct{}{}
					h.subs[m.kind][name] = set
				}
				set[s] = struct{}{}
				s.counts[m.kind].Add(1)
			}
		} else {
			h.remove(s, m.kind, name)
		}
		out = wire.AppendPush(out, 3, m.proto)
		out = wire.AppendBulkString(out, verb)
		out = wire.AppendBulkString(out, name)
		out = wire.AppendInt(out, s.count(m.kind))
	}
	if m.inline || s.q == nil {
		return psReply{out: out}
	}
	s.q.push(out)
	return psReply{}
}

// count is the running count Redis reports: channels plus patterns, or
// shard channels alone.
func (s *subscriber) count(kind int) int64 {
	if kind == kindShard {
		return s.counts[kindShard].Load()
	}
	return s.counts[kindChannel].Load() + s.counts[kindPattern].Load()
}

func (s *subscriber) total() int64 {
	return s.counts[0].Load() + s.counts[1].Load() + s.counts[2].Load()
}

func (h *hub) remove(s *subscriber, kind int, name string) {
	if _, ok := s.subs[kind][name]; !ok {
		return
	}
	delete(s.subs[kind], name)
	s.counts[kind].Add(-1)
	if set := h.subs[kind][name]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.subs[kind], name)
		}
	}
}

// publish delivers msg to the subscribers of channel (and, for ordinary
// channels, of matching patterns) and returns how many got it.
func (h *hub) publish(kind int, channel, msg string) int64 {
	var n int64
	var enc [2][]byte // by protocol, built once
	encode := func(p wire.Proto, verb, pattern string) []byte {
		var b []byte
		if pattern == "" {
			b = wire.AppendPush(b, 3, p)
		} else {
			b = wire.AppendPush(b, 4, p)
		}
		b = wire.AppendBulkString(b, verb)
		if pattern != "" {
			b = wire.AppendBulkString(b, pattern)
		}
		b = wire.AppendBulkString(b, channel)
		return wire.AppendBulkString(b, msg)
	}
	verb := "message"
	if kind == kindShard {
		verb = "smessage"
	}
	for s := range h.subs[kind][channel] {
		i := protoIndex(s.proto)
		if enc[i] == nil {
			enc[i] = encode(s.proto, verb, "")
		}
		s.q.push(enc[i])
		n++
	}
	if kind != kindChannel {
		return n
	}
	for pattern, set := range h.subs[kindPattern] {
		if !glob.Match(pattern, channel, false) {
			continue
		}
		var penc [2][]byte
		for s := range set {
			i := protoIndex(s.proto)
			if penc[i] == nil {
				penc[i] = encode(s.proto, "pmessage", pattern)
			}
			s.q.push(penc[i])
			n++
		}
	}
	return n
}

func protoIndex(p wire.Proto) int {
	if p == wire.RESP3 {
		return 1
	}
	return 0
}

// outQueue is a subscriber connection's outbound byte queue and the
// writer goroutine that drains it. Once a connection has subscribed, every
// byte it sends goes through the queue: its own replies (appended by the
// connection goroutine) and pushes (appended by the hub), so they reach the
// socket in the order they were queued and only the writer writes. push
// never blocks: past the pub/sub hard limit it closes the connection.
type outQueue struct {
	srv *Server
	nc  net.Conn

	mu       sync.Mutex
	buf      []byte
	pending  int64 // bytes queued or being written
	closed   bool
	stopping bool

	softSince int64 // Unix second the soft limit was first passed; 0 if under it

	wake   chan struct{} // capacity 1
	exited chan struct{}
}

var errQueueClosed = errors.New("conn: output queue closed")

func newOutQueue(s *Server, nc net.Conn) *outQueue {
	q := &outQueue{srv: s, nc: nc, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	go q.run()
	return q
}

// push queues b (copying it) and reports false if the connection is closed
// or was just closed for passing the output buffer limit.
func (q *outQueue) push(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.buf = append(q.buf, b...)
	q.pending += int64(len(b))
	if lim := q.srv.pubsubLimit.Load(); lim != nil && lim.reached(q.pending, &q.softSince) {
		q.closed = true
		q.buf = nil
		q.mu.Unlock()
		q.srv.stats.obufDisconnects.Add(1)
		q.srv.log.Debug("client closed for overcoming of output buffer limits")
		q.nc.Close()
		return false
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

func (q *outQueue) run() {
	defer close(q.exited)
	var w []byte
	for {
		q.mu.Lock()
		for len(q.buf) == 0 && !q.stopping && !q.closed {
			q.mu.Unlock()
			<-q.wake
			q.mu.Lock()
		}
		if len(q.buf) == 0 || q.closed {
			q.mu.Unlock()
			return
		}
		w, q.buf = q.buf, w[:0]
		q.mu.Unlock()
		n, err := q.nc.Write(w)
		q.srv.stats.netOut.Add(int64(n))
		q.mu.Lock()
		q.pending -= int64(len(w))
		if err != nil {
			q.closed = true
			q.buf = nil
		}
		q.mu.Unlock()
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

// stop flushes what is queued (for at most a second) and waits for the
// writer to return.
func (q *outQueue) stop() {
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

// startPubSub gives the connection its subscriber record and writer.
func (c *client) startPubSub() {
	if c.sub == nil {
		c.sub = &subscriber{q: newOutQueue(c.srv, c.nc)}
		c.subPtr.Store(c.sub)
	}
}

// pubsub returns the connection's subscriber record, or nil; any goroutine
// may call it.
func (c *client) pubsub() *subscriber { return c.subPtr.Load() }

// endPubSub forgets the connection's subscriptions and stops its writer
// after flushing. The connection goroutine's last act (Server.forget).
func (c *client) endPubSub() {
	if c.sub == nil {
		return
	}
	c.srv.hub.call(&psMsg{op: opDrop, sub: c.sub})
	c.sub.q.stop()
}

// subscribed reports whether the connection is in RESP2 subscriber mode's
// sense subscribed to anything.
func (c *client) subscribed() bool { return c.sub != nil && c.sub.total() > 0 }

// subModeAllowed reports whether a command may run in RESP2 subscriber
// mode.
func subModeAllowed(name string) bool {
	switch name {
	case "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe", "ping", "quit", "reset":
		return true
	}
	return false
}

func subModeError(name string) string {
	return "ERR Can't execute '" + name + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
}

// Commands.

const psFlags = shard.PubSub | shard.NoScript | shard.Loading | shard.Stale

func init() {
	sub := func(name string, arity int, kind int, op psOp, since, summary, syntax string, keys bool) *localCommand {
		lc := &localCommand{Spec: shard.Spec{Name: name, Arity: arity, Flags: psFlags, Group: "pubsub", Since: since,
			Summary: summary, Complexity: "O(N) where N is the number of channels to subscribe to.", Syntax: syntax}}
		if keys {
			lc.FirstKey, lc.LastKey, lc.Step = 1, -1, 1
		}
		lc.direct = func(c *client, args [][]byte) { c.pubsubDirect(kind, op, args) }
		lc.run = func(c *client, args [][]byte) { c.pubsubInline(kind, op, args) }
		return lc
	}
	pubsubSubs, pubsubSpecs := newSubcommands("pubsub",
		&subcommand{Spec: shard.Spec{Name: "channels", Arity: -2, Flags: shard.PubSub | shard.Loading | shard.Stale, Group: "pubsub", Since: "2.8.0",
			Summary: "Returns the active channels.", Complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)", Syntax: "[pattern]"},
			run: func(c *client, args [][]byte) { c.pubsubChannels(kindChannel, args) }},
		&subcommand{Spec: shard.Spec{Name: "shardchannels", Arity: -2, Flags: shard.PubSub | shard.Loading | shard.Stale, Group: "pubsub", Since: "7.0.0",
			Summary: "Returns the active shard channels.", Complexity: "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).", Syntax: "[pattern]"},
			run: func(c *client, args [][]byte) { c.pubsubChannels(kindShard, args) }},
		&subcommand{Spec: shard.Spec{Name: "numsub", Arity: -2, Flags: shard.PubSub | shard.Loading | shard.Stale, Group: "pubsub", Since: "2.8.0",
			Summary: "Returns a count of subscribers to channels.", Complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels", Syntax: "[channel [channel ...]]"},
			run: func(c *client, args [][]byte) { c.pubsubNumsub(kindChannel, args) }},
		&subcommand{Spec: shard.Spec{Name: "shardnumsub", Arity: -2, Flags: shard.PubSub | shard.Loading | shard.Stale, Group: "pubsub", Since: "7.0.0",
			Summary: "Returns the count of subscribers of shard channels.", Complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels", Syntax: "[shardchannel [shardchannel ...]]"},
			run: func(c *client, args [][]byte) { c.pubsubNumsub(kindShard, args) }},
		&subcommand{Spec: shard.Spec{Name: "numpat", Arity: 2, Flags: shard.PubSub | shard.Loading | shard.Stale, Group: "pubsub", Since: "2.8.0",
			Summary: "Returns a count of unique pattern subscriptions.", Complexity: "O(1)"},
			run: func(c *client, args [][]byte) {
				r, _ := c.srv.hub.call(&psMsg{op: opNumpat})
				c.replyInt(r.n)
			}},
		&subcommand{Spec: shard.Spec{Name: "help", Arity: 2, Flags: shard.Loading | shard.Stale, Group: "pubsub", Since: "6.2.0",
			Summary: "Returns helpful text about the different subcommands.", Complexity: "O(1)"},
			run: func(c *client, args [][]byte) {
				c.replyHelp("PUBSUB",
					"CHANNELS [<pattern>]",
					"    Return the currently active channels matching a <pattern> (default: '*').",
					"NUMPAT",
					"    Return number of subscriptions to patterns.",
					"NUMSUB [<channel> ...]",
					"    Return the number of subscribers for the specified channels, excluding",
					"    pattern subscriptions(default: no channels).",
					"SHARDCHANNELS [<pattern>]",
					"    Return the currently active shard level channels matching a <pattern> (default: '*').",
					"SHARDNUMSUB [<shardchannel> ...]",
					"    Return the number of subscribers for the specified shard level channel(s)")
			}},
	)
	registerLocal(
		sub("subscribe", -2, kindChannel, opSub, "2.0.0", "Listens for messages published to channels.", "channel [channel ...]", false),
		sub("unsubscribe", -1, kindChannel, opUnsub, "2.0.0", "Stops listening to messages posted to channels.", "[channel [channel ...]]", false),
		sub("psubscribe", -2, kindPattern, opSub, "2.0.0", "Listens for messages published to channels that match one or more patterns.", "pattern [pattern ...]", false),
		sub("punsubscribe", -1, kindPattern, opUnsub, "2.0.0", "Stops listening to messages published to channels that match one or more patterns.", "[pattern [pattern ...]]", false),
		sub("ssubscribe", -2, kindShard, opSub, "7.0.0", "Listens for messages published to shard channels.", "shardchannel [shardchannel ...]", true),
		sub("sunsubscribe", -1, kindShard, opUnsub, "7.0.0", "Stops listening to messages posted to shard channels.", "[shardchannel [shardchannel ...]]", true),
		&localCommand{Spec: shard.Spec{Name: "publish", Arity: 3, Flags: shard.PubSub | shard.Loading | shard.Stale | shard.Fast | shard.MayReplicate,
			Group: "pubsub", Since: "2.0.0", Summary: "Posts a message to a channel.",
			Complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
			Syntax:     "channel message"},
			run: func(c *client, args [][]byte) { c.publish(kindChannel, args) }},
		&localCommand{Spec: shard.Spec{Name: "spublish", Arity: 3, Flags: shard.PubSub | shard.Loading | shard.Stale | shard.Fast | shard.MayReplicate,
			Group: "pubsub", Since: "7.0.0", Summary: "Post a message to a shard channel",
			Complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel.",
			Syntax:     "shardchannel message", FirstKey: 1, LastKey: 1, Step: 1},
			run: func(c *client, args [][]byte) { c.publish(kindShard, args) }},
		&localCommand{Spec: shard.Spec{Name: "pubsub", Arity: -2, Group: "pubsub", Since: "2.8.0",
			Summary: "A container for Pub/Sub commands.", Complexity: "Depends on subcommand.",
			Subcommands: pubsubSpecs}, run: func(c *client, args [][]byte) { pubsubSubs.dispatch(c, args) }},
	)
}

func psNames(args [][]byte) []string {
	names := make([]string, len(args))
	for i, a := range args {
		names[i] = string(a)
	}
	return names
}

// pubsubDirect runs (P|S)(UN)SUBSCRIBE outside a transaction: replies
// queued before it are flushed into the connection's queue, then the hub
// registers the subscriptions and queues the confirmations in the same
// step, so no message can overtake them.
func (c *client) pubsubDirect(kind int, op psOp, args [][]byte) {
	if op == opUnsub && c.sub == nil {
		c.replyLocal(func() { c.pubsubInline(kind, op, args) })
		return
	}
	c.settle()
	c.startPubSub()
	if c.write() != nil {
		c.closeAfter = true
		return
	}
	if _, ok := c.srv.hub.call(&psMsg{op: op, kind: kind, sub: c.sub, proto: c.proto, names: psNames(args[1:])}); !ok {
		c.closeAfter = true
	}
}

// pubsubInline runs them inside EXEC (or before the connection has a
// subscriber record): the confirmations join the local reply.
func (c *client) pubsubInline(kind int, op psOp, args [][]byte) {
	if c.sub == nil {
		if op == opUnsub {
			// Nothing to leave: answer without bothering the hub.
			s := &subscriber{}
			r := (&hub{}).subscribeEmpty(s, kind, c.proto, psNames(args[1:]))
			c.local = append(c.local, r...)
			return
		}
		c.startPubSub()
	}
	r, ok := c.srv.hub.call(&psMsg{op: op, kind: kind, sub: c.sub, proto: c.proto, inline: true, names: psNames(args[1:])})
	if !ok {
		c.closeAfter = true
		return
	}
	c.local = append(c.local, r.out...)
}

// subscribeEmpty is the unsubscribe confirmation of a connection that has
// never subscribed.
func (h *hub) subscribeEmpty(s *subscriber, kind int, proto wire.Proto, names []string) []byte {
	var out []byte
	verb := kindVerbs[kind][1]
	if len(names) == 0 {
		out = wire.AppendPush(out, 3, proto)
		out = wire.AppendBulkString(out, verb)
		out = wire.AppendNull(out, proto)
		return wire.AppendInt(out, 0)
	}
	for _, n := range names {
		out = wire.AppendPush(out, 3, proto)
		out = wire.AppendBulkString(out, verb)
		out = wire.AppendBulkString(out, n)
		out = wire.AppendInt(out, 0)
	}
	return out
}

func (c *client) publish(kind int, args [][]byte) {
	r, ok := c.srv.hub.call(&psMsg{op: opPublish, kind: kind, ch: string(args[1]), msg: string(args[2])})
	if !ok {
		c.replyInt(0)
		return
	}
	c.replyInt(r.n)
}

func (c *client) pubsubChannels(kind int, args [][]byte) {
	if len(args) > 3 {
		c.replyError("ERR unknown subcommand or wrong number of arguments for '" + string(args[1]) + "'. Try PUBSUB HELP.")
		return
	}
	m := &psMsg{op: opChannels, kind: kind}
	if len(args) == 3 {
		m.ch = string(args[2])
	}
	r, _ := c.srv.hub.call(m)
	c.replyArray(len(r.names))
	for _, n := range r.names {
		c.replyBulkString(n)
	}
}

func (c *client) pubsubNumsub(kind int, args [][]byte) {
	names := psNames(args[2:])
	r, _ := c.srv.hub.call(&psMsg{op: opNumsub, kind: kind, names: names})
	c.replyArray(2 * len(names))
	for i, n := range names {
		c.replyBulkString(n)
		var k int64
		if i < len(r.counts) {
			k = r.counts[i]
		}
		c.replyInt(k)
	}
}

// pingSubscribed is PING in RESP2 subscriber mode: ["pong", message].
func (c *client) pingSubscribed(args [][]byte) {
	c.replyArray(2)
	c.replyBulkString("pong")
	if len(args) > 1 {
		c.replyBulk(args[1])
	} else {
		c.replyBulkString("")
	}
}

// obufLimit is the pubsub class of client-output-buffer-limit: a hard
// limit in bytes, and a soft limit in bytes that may be passed for at most
// softSecs seconds. 0 disables a limit.
type obufLimit struct {
	hard, soft, softSecs int64
}

// reached reports whether pending queued bytes pass the limit, as Redis's
// checkClientOutputBufferLimits decides at each append: the hard limit at
// once, the soft limit once it has been passed continuously for more than
// softSecs (whole seconds, as Redis counts them). since is the queue's
// record of when it passed the soft limit, updated here; the clock is read
// only while the queue is over the soft limit.
func (l *obufLimit) reached(pending int64, since *int64) bool {
	if l.hard > 0 && pending > l.hard {
		return true
	}
	if l.soft <= 0 || pending < l.soft {
		*since = 0
		return false
	}
	now := time.Now().Unix()
	if *since == 0 {
		*since = now
		return false
	}
	return now-*since > l.softSecs
}

// parsePubsubLimit reads the pubsub class from a client-output-buffer-limit
// value.
func parsePubsubLimit(v string) *obufLimit {
	f := strings.Fields(v)
	for i := 0; i+3 < len(f); i += 4 {
		if f[i] == "pubsub" {
			var l obufLimit
			l.hard, _ = strconv.ParseInt(f[i+1], 10, 64)
			l.soft, _ = strconv.ParseInt(f[i+2], 10, 64)
			l.softSecs, _ = strconv.ParseInt(f[i+3], 10, 64)
			return &l
		}
	}
	return &obufLimit{hard: 32 << 20, soft: 8 << 20, softSecs: 60}
}
