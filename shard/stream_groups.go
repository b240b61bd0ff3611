package shard

import (
	"slices"
	"strings"
)

// Consumer groups of a stream: the data and its bookkeeping. The commands
// are in streams_groups.go.
//
// A group keeps its pending entries list (PEL) as a map from ID to NACK
// plus the IDs in order; each consumer keeps the IDs of its own pending
// entries in order too (Redis keeps three radix trees). New deliveries
// have the largest IDs, so the sorted slices grow at their end.

// streamGroup is a consumer group.
type streamGroup struct {
	name        string
	lastID      StreamID
	entriesRead int64 // -1: unknown (Redis's SCG_INVALID_ENTRIES_READ)
	nacks       map[StreamID]*streamNACK
	pel         idList
	consumers   []*streamConsumer // by name
}

// streamNACK is a delivered, not yet acknowledged entry.
type streamNACK struct {
	deliveryTime  int64 // ms
	deliveryCount int64
	consumer      *streamConsumer // nil only while XCLAIM FORCE creates it
}

// streamConsumer is a consumer of a group.
type streamConsumer struct {
	name     string
	seenTime int64
	pel      idList
}

// idList is a sorted list of distinct IDs.
type idList []StreamID

func (l idList) search(id StreamID) (int, bool) {
	return slices.BinarySearchFunc(l, id, StreamID.Cmp)
}

func (l *idList) add(id StreamID) {
	if n := len(*l); n == 0 || (*l)[n-1].Less(id) {
		*l = append(*l, id)
		return
	}
	if i, found := l.search(id); !found {
		*l = slices.Insert(*l, i, id)
	}
}

func (l *idList) remove(id StreamID) {
	i, found := l.search(id)
	switch {
	case !found:
	case i == 0:
		// Consumers mostly acknowledge the oldest entry: drop it without
		// moving the rest (append reclaims the space when it grows).
		(*l)[0] = StreamID{}
		*l = (*l)[1:]
	default:
		*l = slices.Delete(*l, i, i+1)
	}
}

// from returns the index of the first ID >= id.
func (l idList) from(id StreamID) int {
	i, _ := l.search(id)
	return i
}

const invalidEntriesRead = -1

// group returns the group called name, or nil.
func (s *Stream) group(name []byte) *streamGroup {
	i, found := slices.BinarySearchFunc(s.groups, name, func(g *streamGroup, n []byte) int {
		return strings.Compare(g.name, string(n))
	})
	if !found {
		return nil
	}
	return s.groups[i]
}

// createGroup adds a group; nil when one has that name.
func (s *Stream) createGroup(name []byte, last StreamID, entriesRead int64) *streamGroup {
	i, found := slices.BinarySearchFunc(s.groups, name, func(g *streamGroup, n []byte) int {
		return strings.Compare(g.name, string(n))
	})
	if found {
		return nil
	}
	g := &streamGroup{name: string(name), lastID: last, entriesRead: entriesRead, nacks: map[StreamID]*streamNACK{}}
	s.groups = slices.Insert(s.groups, i, g)
	return g
}

// destroyGroup removes the group called name and reports whether it was.
func (s *Stream) destroyGroup(name []byte) bool {
	i, found := slices.BinarySearchFunc(s.groups, name, func(g *streamGroup, n []byte) int {
		return strings.Compare(g.name, string(n))
	})
	if found {
		s.groups = slices.Delete(s.groups, i, i+1)
	}
	return found
}

func (g *streamGroup) consumerIndex(name []byte) (int, bool) {
	return slices.BinarySearchFunc(g.consumers, name, func(c *streamConsumer, n []byte) int {
		return strings.Compare(c.name, string(n))
	})
}

// consumer finds a consumer; refresh sets its seen time to now.
func (g *streamGroup) consumer(name []byte, refresh bool, now int64) *streamConsumer {
	i, found := g.consumerIndex(name)
	if !found {
		return nil
	}
	c := g.consumers[i]
	if refresh {
		c.seenTime = now
	}
	return c
}

// createConsumer adds a consumer; nil when it exists.
func (g *streamGroup) createConsumer(name []byte, now int64) *streamConsumer {
	i, found := g.consumerIndex(name)
	if found {
		return nil
	}
	c := &streamConsumer{name: string(name), seenTime: now}
	g.consumers = slices.Insert(g.consumers, i, c)
	return c
}

// lookupOrCreate returns the consumer, created if needed (created true).
func (g *streamGroup) lookupOrCreate(name []byte, now int64) (c *streamConsumer, created bool) {
	if c = g.consumer(name, true, now); c != nil {
		return c, false
	}
	return g.createConsumer(name, now), true
}

// deleteConsumer removes a consumer and its pending entries.
func (g *streamGroup) deleteConsumer(c *streamConsumer) {
	for _, id := range c.pel {
		delete(g.nacks, id)
		g.pel.remove(id)
	}
	if i, found := g.consumerIndex([]byte(c.name)); found {
		g.consumers = slices.Delete(g.consumers, i, i+1)
	}
}

// ack removes id from the PELs and reports whether it was pending.
func (g *streamGroup) ack(id StreamID) bool {
	n, ok := g.nacks[id]
	if !ok {
		return false
	}
	delete(g.nacks, id)
	g.pel.remove(id)
	if n.consumer != nil {
		n.consumer.pel.remove(id)
	}
	return true
}

// deliver records id as delivered to c now (XREADGROUP without NOACK).
func (g *streamGroup) deliver(id StreamID, c *streamConsumer, now int64) {
	if n, ok := g.nacks[id]; ok {
		if n.consumer != nil && n.consumer != c {
			n.consumer.pel.remove(id)
		}
		n.consumer, n.deliveryTime, n.deliveryCount = c, now, 1
		c.pel.add(id)
		return
	}
	g.nacks[id] = &streamNACK{deliveryTime: now, deliveryCount: 1, consumer: c}
	g.pel.add(id)
	c.pel.add(id)
}

// moveTo gives the pending id to c.
func (g *streamGroup) moveTo(id StreamID, n *streamNACK, c *streamConsumer) {
	if n.consumer == c {
		return
	}
	if n.consumer != nil {
		n.consumer.pel.remove(id)
	}
	c.pel.add(id)
	n.consumer = c
}

// rangeHasTombstones reports whether [start, end] may hold a deleted
// entry, as Redis 7.0 judges it from max-deleted-entry-id.
func (s *Stream) rangeHasTombstones(start, end StreamID) bool {
	if s.length == 0 || s.maxDeleted.IsZero() {
		return false
	}
	if s.maxDeleted.Less(s.firstID) {
		return false
	}
	return start.Cmp(s.maxDeleted) <= 0 && s.maxDeleted.Cmp(end) <= 0
}

// entriesReadAt estimates the logical read counter of id (Redis's
// streamEstimateDistanceFromFirstEverEntry); -1 when it cannot.
func (s *Stream) entriesReadAt(id StreamID) int64 {
	if s.entriesAdded == 0 {
		return 0
	}
	if s.length == 0 && id.Cmp(s.lastID) <= 0 {
		return s.entriesAdded
	}
	switch id.Cmp(s.lastID) {
	case 0:
		return s.entriesAdded
	case 1:
		return invalidEntriesRead
	}
	if s.maxDeleted.IsZero() || s.maxDeleted.Less(s.firstID) {
		switch id.Cmp(s.firstID) {
		case -1:
			return s.entriesAdded - s.length
		case 0:
			return s.entriesAdded - s.length + 1
		}
	}
	return invalidEntriesRead
}

// lag is the group's lag; ok is false when Redis cannot tell.
func (s *Stream) lag(g *streamGroup) (int64, bool) {
	if s.entriesAdded == 0 {
		return 0, true
	}
	if g.entriesRead != invalidEntriesRead && !s.rangeHasTombstones(g.lastID, maxStreamID) {
		return s.entriesAdded - g.entriesRead, true
	}
	if r := s.entriesReadAt(g.lastID); r != invalidEntriesRead {
		return s.entriesAdded - r, true
	}
	return 0, false
}

// advance moves the group's last delivered ID to id (greater than it),
// keeping entries-read as Redis does.
func (s *Stream) advance(g *streamGroup, id StreamID) {
	if g.entriesRead != invalidEntriesRead && !s.rangeHasTombstones(id, maxStreamID) {
		g.entriesRead++
	} else if s.entriesAdded != 0 {
		g.entriesRead = s.entriesReadAt(id)
	}
	g.lastID = id
}

// cloneGroups deep-copies the groups.
func cloneGroups(src []*streamGroup) []*streamGroup {
	if src == nil {
		return nil
	}
	out := make([]*streamGroup, len(src))
	for i, g := range src {
		ng := &streamGroup{name: g.name, lastID: g.lastID, entriesRead: g.entriesRead,
			nacks: make(map[StreamID]*streamNACK, len(g.nacks)), pel: slices.Clone(g.pel)}
		byName := make(map[*streamConsumer]*streamConsumer, len(g.consumers))
		ng.consumers = make([]*streamConsumer, len(g.consumers))
		for j, c := range g.consumers {
			nc := &streamConsumer{name: c.name, seenTime: c.seenTime, pel: slices.Clone(c.pel)}
			ng.consumers[j] = nc
			byName[c] = nc
		}
		for id, n := range g.nacks {
			nn := *n
			nn.consumer = byName[n.consumer]
			ng.nacks[id] = &nn
		}
		out[i] = ng
	}
	return out
}

// groupsBytes estimates the memory the groups hold.
// Up to samples groups are measured, and up to samples consumers of each.
func (s *Stream) groupsBytes(samples int64) int64 {
	var n int64
	k := 0
	for ; k < len(s.groups) && int64(k) < samples; k++ {
		g := s.groups[k]
		n += 96 + int64(len(g.name)) + int64(len(g.nacks))*(48+16+16)
		var cs int64
		j := 0
		for ; j < len(g.consumers) && int64(j) < samples; j++ {
			c := g.consumers[j]
			cs += 64 + int64(len(c.name)) + 16*int64(cap(c.pel))
		}
		n += sampled(cs, j, len(g.consumers))
	}
	return sampled(n, k, len(s.groups))
}
