package pubsub

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/actor"
	"github.com/valkyrie-kv/valkyrie/shard/glob"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Kind is a kind of subscription.
type Kind int

const (
	Channel Kind = iota // SUBSCRIBE
	Pattern             // PSUBSCRIBE
	Shard               // SSUBSCRIBE
)

// Events is a batch of messages for ordinary channels, handed to the hub
// by a goroutine that must not wait (a shard's keyspace notifications).
// The hub calls Emit on its own goroutine, so that naming the channels is
// not the sender's work; Emit calls publish once per message, in order.
type Events interface {
	Emit(publish func(channel, message string))
}

type op uint8

const (
	opSub      op = iota // subscribe sub to names of kind
	opUnsub              // unsubscribe names (all when empty)
	opDrop               // forget sub without replies (RESET, hang-up)
	opPublish            // deliver msg on channel (kind Channel or Shard)
	opChannels           // active channels of kind matching pattern
	opNumsub             // subscriber counts of names
	opNumpat             // number of patterns
	opEvents             // a batch of Events
	opList               // the subscriptions of sub
)

type msg struct {
	op     op
	kind   Kind
	sub    *Subscriber
	proto  wire.Proto
	inline bool // put confirmations in the reply instead of the queue
	names  []string
	ch     string
	msg    string
	events Events
	reply  chan reply
	at     int64     // PUBLISH: when its command arrived (Unix ns), 0 if unknown
	seen   time.Time // PUBLISH: when the hub first put it back (monotonic)
	from   *Subscriber
}

type reply struct {
	n      int64
	out    []byte
	names  []string
	counts []int64
	lists  [3][]string
}

// Hub is the pub/sub actor: one goroutine owns every subscription, so no
// mutex guards the maps, and PUBLISH never goes near a shard. Callers talk
// to it with messages and wait for its answer; it delivers by pushing
// bytes to each subscriber's Queue, which never blocks it.
type Hub struct {
	a    *actor.Actor[*msg]
	subs [3]map[string]map[*Subscriber]struct{} // owned by the actor
	emit func(channel, message string)          // publish on an ordinary channel, for Events

	// Snapshots for INFO, written by the actor.
	nChannels, nPatterns, nShard atomic.Int64
	dropped                      atomic.Int64 // Events batches lost to a full mailbox
	retries                      atomic.Int64 // PUBLISHes put back (Retries)
}

// New starts a hub. Close stops it.
func New() *Hub {
	h := &Hub{}
	for i := range h.subs {
		h.subs[i] = map[string]map[*Subscriber]struct{}{}
	}
	h.emit = func(channel, message string) { h.publish(Channel, channel, message) }
	h.a = actor.Start(actor.Options{Mailbox: 4096}, h.handle)
	return h
}

// Close stops the hub's goroutine and waits for it. Calls made after it
// (or cut short by it) report false.
func (h *Hub) Close() { h.a.Stop() }

// call sends m and waits for the answer; false if the hub has stopped.
func (h *Hub) call(m *msg) (reply, bool) {
	m.reply = make(chan reply, 1)
	if h.a.Send(m) != nil {
		return reply{}, false
	}
	select {
	case r := <-m.reply:
		return r, true
	case <-h.a.Done():
		return reply{}, false
	}
}

// SubscriptionsOf returns the names s is subscribed to, by Kind; false if
// the hub has stopped.
func (h *Hub) SubscriptionsOf(s *Subscriber) ([3][]string, bool) {
	r, ok := h.call(&msg{op: opList, sub: s})
	return r.lists, ok
}

// TryEvents hands ev to the hub without ever blocking: a batch that finds
// the mailbox full is dropped and counted (DroppedEvents).
func (h *Hub) TryEvents(ev Events) {
	if !h.a.TrySend(&msg{op: opEvents, events: ev}) {
		h.dropped.Add(1)
	}
}

// Subscribe subscribes s to names of kind k, or with unsub set
// unsubscribes them (every subscription of kind k when names is empty),
// answering in protocol p with one confirmation per name and the running
// count, as Redis sends them. With inline set, or if s has no queue, the
// confirmations are returned; otherwise they are pushed to s's queue in
// the same step, so that no message can overtake them. ok is false if the
// hub has stopped.
func (h *Hub) Subscribe(s *Subscriber, k Kind, unsub bool, p wire.Proto, names []string, inline bool) (out []byte, ok bool) {
	o := opSub
	if unsub {
		o = opUnsub
	}
	r, ok := h.call(&msg{op: o, kind: k, sub: s, proto: p, names: names, inline: inline})
	return r.out, ok
}

// Drop forgets every subscription of s without confirmations (RESET,
// hang-up); false if the hub has stopped.
func (h *Hub) Drop(s *Subscriber) bool {
	_, ok := h.call(&msg{op: opDrop, sub: s})
	return ok
}

// Publish delivers message on channel (kind Channel or Shard; ordinary
// channels reach matching patterns too) and returns how many subscribers
// got it; ok is false if the hub has stopped.
func (h *Hub) Publish(k Kind, channel, message string) (n int64, ok bool) {
	return h.PublishAt(k, channel, message, 0, nil)
}

// PublishAt is Publish for a command that arrived at time at (Unix ns,
// the clock of Subscriber's busy function): it waits, for at most
// maxPublishLag after at, for the subscribers that may still hold
// commands that arrived before it (an UNSUBSCRIBE) to run them, so that
// it sees what a single-threaded server would. Other work goes on
// meanwhile. from, if not nil, is the publisher's own record: it is not
// waited for, since its earlier commands have run (it is busy with this
// very one).
func (h *Hub) PublishAt(k Kind, channel, message string, at int64, from *Subscriber) (n int64, ok bool) {
	r, ok := h.call(&msg{op: opPublish, kind: k, ch: channel, msg: message, at: at, from: from})
	return r.n, ok
}

// Retries is how many times a PUBLISH was put back to wait for a busy
// subscriber (see PublishAt).
func (h *Hub) Retries() int64 { return h.retries.Load() }

// maxPublishLag bounds how long a PUBLISH waits for busy subscribers, and
// lagCheck how many subscribers it looks at (more: it does not wait).
const (
	maxPublishLag = 2 * time.Millisecond
	lagRetry      = 20 * time.Microsecond
	lagCheck      = 8
)

// lagging reports whether a subscriber of m's channel may still hold a
// command that arrived before m.
func (h *Hub) lagging(m *msg) bool {
	now := time.Now()
	if m.at == 0 || now.UnixNano()-m.at > int64(maxPublishLag) {
		return false
	}
	// The wall clock may step back (or a kernel stamp run ahead of it):
	// the hub's own monotonic clock bounds the wait as well.
	if m.seen.IsZero() {
		m.seen = now
	} else if now.Sub(m.seen) > maxPublishLag {
		return false
	}
	checked := 0
	busy := func(set map[*Subscriber]struct{}) bool {
		for s := range set {
			if checked++; checked > lagCheck {
				return false
			}
			if b := s.busy; b != nil && s != m.from && b(m.at) {
				return true
			}
		}
		return false
	}
	if busy(h.subs[m.kind][m.ch]) {
		return true
	}
	if m.kind != Channel {
		return false
	}
	for pattern, set := range h.subs[Pattern] {
		if glob.Match(pattern, m.ch, false) && busy(set) {
			return true
		}
	}
	return false
}

// retry hands m back to the hub a little later.
func (h *Hub) retry(m *msg) {
	h.retries.Add(1)
	time.AfterFunc(lagRetry, func() {
		if h.a.Send(m) != nil {
			m.reply <- reply{}
		}
	})
}

// Channels returns the active channels of kind k matching pattern (all if
// empty), sorted.
func (h *Hub) Channels(k Kind, pattern string) []string {
	r, _ := h.call(&msg{op: opChannels, kind: k, ch: pattern})
	return r.names
}

// NumSub returns the number of subscribers of each name, of kind k. It
// may be short (empty) if the hub has stopped.
func (h *Hub) NumSub(k Kind, names []string) []int64 {
	r, _ := h.call(&msg{op: opNumsub, kind: k, names: names})
	return r.counts
}

// NumPat returns the number of patterns subscribed to.
func (h *Hub) NumPat() int64 {
	r, _ := h.call(&msg{op: opNumpat})
	return r.n
}

// ChannelCount, PatternCount and ShardChannelCount are the sizes of the
// hub's tables as of its last message, for INFO; any goroutine may call
// them.
func (h *Hub) ChannelCount() int64      { return h.nChannels.Load() }
func (h *Hub) PatternCount() int64      { return h.nPatterns.Load() }
func (h *Hub) ShardChannelCount() int64 { return h.nShard.Load() }

// DroppedEvents is how many Events batches found the mailbox full.
func (h *Hub) DroppedEvents() int64 { return h.dropped.Load() }

// Subscriber is a connection's pub/sub state. subs belongs to the hub;
// counts are written by the hub and read by anyone; q is shared (it has
// its own lock).
type Subscriber struct {
	q      *Queue
	proto  wire.Proto // hub-owned: the protocol of the latest request
	subs   [3]map[string]struct{}
	counts [3]atomic.Int64
	busy   func(before int64) bool // see SetBusy
}

// SetBusy gives the hub a way to ask whether the subscriber's connection
// may hold commands, read or not, that arrived before a time (Unix ns):
// PublishAt waits for those. Set it before the first Subscribe.
func (s *Subscriber) SetBusy(fn func(before int64) bool) { s.busy = fn }

// NewSubscriber makes the pub/sub record of a connection that writes
// through q.
func NewSubscriber(q *Queue) *Subscriber { return &Subscriber{q: q} }

// Queue returns the subscriber's output queue.
func (s *Subscriber) Queue() *Queue { return s.q }

// Subscriptions returns how many subscriptions of kind k s has.
func (s *Subscriber) Subscriptions(k Kind) int64 { return s.counts[k].Load() }

// count is the running count Redis reports: channels plus patterns, or
// shard channels alone.
func (s *Subscriber) count(k Kind) int64 {
	if k == Shard {
		return s.counts[Shard].Load()
	}
	return s.counts[Channel].Load() + s.counts[Pattern].Load()
}

// Total is the number of subscriptions of every kind.
func (s *Subscriber) Total() int64 {
	return s.counts[0].Load() + s.counts[1].Load() + s.counts[2].Load()
}

func (h *Hub) handle(m *msg) {
	var r reply
	switch m.op {
	case opSub, opUnsub:
		r = h.subscribe(m)
	case opDrop:
		for kind := range m.sub.subs {
			for name := range m.sub.subs[kind] {
				h.remove(m.sub, Kind(kind), name)
			}
		}
	case opPublish:
		if h.lagging(m) {
			h.retry(m)
			return
		}
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
		r.n = int64(len(h.subs[Pattern]))
	case opEvents:
		m.events.Emit(h.emit)
	case opList:
		for k := range m.sub.subs {
			for name := range m.sub.subs[k] {
				r.lists[k] = append(r.lists[k], name)
			}
		}
	}
	h.nChannels.Store(int64(len(h.subs[Channel])))
	h.nPatterns.Store(int64(len(h.subs[Pattern])))
	h.nShard.Store(int64(len(h.subs[Shard])))
	if m.reply != nil {
		m.reply <- r
	}
}

var kindVerbs = [3][2]string{
	{"subscribe", "unsubscribe"},
	{"psubscribe", "punsubscribe"},
	{"ssubscribe", "sunsubscribe"},
}

// subscribe runs (UN)SUBSCRIBE and friends.
func (h *Hub) subscribe(m *msg) reply {
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
					set = map[*Subscriber]struct{}{}
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
		return reply{out: out}
	}
	s.q.Push(out)
	return reply{}
}

// UnsubscribeReply is the unsubscribe confirmation, in protocol p, of a
// connection that has never subscribed: no hub involved.
func UnsubscribeReply(k Kind, p wire.Proto, names []string) []byte {
	var out []byte
	verb := kindVerbs[k][1]
	if len(names) == 0 {
		out = wire.AppendPush(out, 3, p)
		out = wire.AppendBulkString(out, verb)
		out = wire.AppendNull(out, p)
		return wire.AppendInt(out, 0)
	}
	for _, n := range names {
		out = wire.AppendPush(out, 3, p)
		out = wire.AppendBulkString(out, verb)
		out = wire.AppendBulkString(out, n)
		out = wire.AppendInt(out, 0)
	}
	return out
}

func (h *Hub) remove(s *Subscriber, k Kind, name string) {
	if _, ok := s.subs[k][name]; !ok {
		return
	}
	delete(s.subs[k], name)
	s.counts[k].Add(-1)
	if set := h.subs[k][name]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.subs[k], name)
		}
	}
}

// publish delivers message to the subscribers of channel (and, for
// ordinary channels, of matching patterns) and returns how many got it.
func (h *Hub) publish(k Kind, channel, message string) int64 {
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
		return wire.AppendBulkString(b, message)
	}
	verb := "message"
	if k == Shard {
		verb = "smessage"
	}
	for s := range h.subs[k][channel] {
		i := protoIndex(s.proto)
		if enc[i] == nil {
			enc[i] = encode(s.proto, verb, "")
		}
		s.q.Push(enc[i])
		n++
	}
	if k != Channel {
		return n
	}
	for pattern, set := range h.subs[Pattern] {
		if !glob.Match(pattern, channel, false) {
			continue
		}
		var penc [2][]byte
		for s := range set {
			i := protoIndex(s.proto)
			if penc[i] == nil {
				penc[i] = encode(s.proto, "pmessage", pattern)
			}
			s.q.Push(penc[i])
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
