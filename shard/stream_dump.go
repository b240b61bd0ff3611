package shard

import (
	"encoding/binary"
	"strconv"

	"github.com/valkyrie-kv/valkyrie/shard/rdb"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// DUMP and RESTORE of streams: each block becomes the listpack Redis
// would hold for that node, so a dumped stream restores in Redis and one
// dumped by Redis restores here with the same nodes.

// dumpStream serializes s (without consumer groups) as RDB type 19.
func dumpStream(s *Stream) []byte {
	nodes := make([]rdb.StreamNode, len(s.blocks))
	for i, b := range s.blocks {
		binary.BigEndian.PutUint64(nodes[i].Key[:8], b.first.Ms)
		binary.BigEndian.PutUint64(nodes[i].Key[8:], b.first.Seq)
		var lp rdb.Listpack
		lp.AddInt(int64(b.live))
		lp.AddInt(int64(b.dead))
		lp.AddInt(int64(b.nfields))
		for p := 0; p < int(b.entStart); {
			var f []byte
			f, p = readChunk(b.buf, p)
			lp.Add(f)
		}
		lp.AddInt(0)
		for p := int(b.entStart); p < len(b.buf); {
			e := b.decode(p)
			p = e.end
			lp.AddInt(int64(e.flags))
			lp.AddInt(int64(e.ID.Ms - b.first.Ms))
			lp.AddInt(int64(e.ID.Seq - b.first.Seq))
			same := e.flags&entSameFields != 0
			if !same {
				lp.AddInt(int64(e.n))
			}
			e.Fields(func(f, v []byte) {
				if !same {
					lp.Add(f)
				}
				lp.Add(v)
			})
			count := int64(e.n) + 3
			if !same {
				count += int64(e.n) + 1
			}
			lp.AddInt(count)
		}
		nodes[i].LP = lp.Bytes()
	}
	return rdb.AppendStream(nil, nodes, rdb.StreamMeta{
		Length: uint64(s.length), LastMs: s.lastID.Ms, LastSeq: s.lastID.Seq,
		FirstMs: s.firstID.Ms, FirstSeq: s.firstID.Seq,
		MaxDeletedMs: s.maxDeleted.Ms, MaxDelSeq: s.maxDeleted.Seq,
		EntriesAdded: uint64(s.entriesAdded),
	}, dumpGroups(s.groups))
}

func idKey(id StreamID) (k [16]byte) {
	binary.BigEndian.PutUint64(k[:8], id.Ms)
	binary.BigEndian.PutUint64(k[8:], id.Seq)
	return k
}

func keyID(k [16]byte) StreamID {
	return StreamID{binary.BigEndian.Uint64(k[:8]), binary.BigEndian.Uint64(k[8:])}
}

// dumpGroups converts the consumer groups to their RDB form.
func dumpGroups(groups []*streamGroup) []rdb.StreamGroup {
	out := make([]rdb.StreamGroup, len(groups))
	for i, g := range groups {
		rg := &out[i]
		rg.Name = []byte(g.name)
		rg.LastMs, rg.LastSeq = g.lastID.Ms, g.lastID.Seq
		rg.EntriesRead, rg.HasEntriesRead = g.entriesRead, true
		rg.PEL = make([]rdb.StreamNACK, len(g.pel))
		for j, id := range g.pel {
			n := g.nacks[id]
			rg.PEL[j] = rdb.StreamNACK{ID: idKey(id), DeliveryTime: n.deliveryTime, DeliveryCount: uint64(n.deliveryCount)}
		}
		rg.Consumers = make([]rdb.StreamConsumer, len(g.consumers))
		for j, c := range g.consumers {
			rc := &rg.Consumers[j]
			rc.Name, rc.SeenTime = []byte(c.name), c.seenTime
			rc.PEL = make([][16]byte, len(c.pel))
			for k, id := range c.pel {
				rc.PEL[k] = idKey(id)
			}
		}
	}
	return out
}

// groupsFromDump rebuilds the consumer groups of s; false when they are
// inconsistent (as Redis's loading rejects them: duplicate groups,
// consumers or PEL entries, a consumer's entry missing from its group's
// PEL, a pending entry that no consumer owns).
func groupsFromDump(s *Stream, groups []rdb.StreamGroup) bool {
	for _, rg := range groups {
		last := StreamID{rg.LastMs, rg.LastSeq}
		er := rg.EntriesRead
		if !rg.HasEntriesRead {
			er = s.entriesReadAt(last)
		}
		g := s.createGroup(rg.Name, last, er)
		if g == nil {
			return false
		}
		for _, n := range rg.PEL {
			id := keyID(n.ID)
			if _, dup := g.nacks[id]; dup {
				return false
			}
			g.nacks[id] = &streamNACK{deliveryTime: n.DeliveryTime, deliveryCount: int64(n.DeliveryCount)}
			g.pel.add(id)
		}
		for _, rc := range rg.Consumers {
			c := g.createConsumer(rc.Name, rc.SeenTime)
			if c == nil {
				return false
			}
			for _, k := range rc.PEL {
				id := keyID(k)
				n, ok := g.nacks[id]
				if !ok || n.consumer != nil {
					return false
				}
				n.consumer = c
				c.pel.add(id)
			}
		}
		for _, n := range g.nacks {
			if n.consumer == nil {
				return false
			}
		}
	}
	return true
}

// lpItem is one listpack entry.
type lpItem struct {
	s     []byte
	v     int64
	isInt bool
}

func (it lpItem) int() (int64, bool) {
	if it.isInt {
		return it.v, true
	}
	return wire.ParseInt(it.s)
}

func (it lpItem) bytes() []byte {
	if it.isInt {
		return strconv.AppendInt(nil, it.v, 10)
	}
	return it.s
}

// streamFromDump rebuilds a stream from its decoded nodes, or returns
// nil when they do not make a consistent stream.
func streamFromDump(v *rdb.Value) *Stream {
	s := NewStream()
	var prev StreamID
	havePrev := false
	var items []lpItem
	for _, node := range v.Nodes {
		first := StreamID{binary.BigEndian.Uint64(node.Key[:8]), binary.BigEndian.Uint64(node.Key[8:])}
		items = items[:0]
		if rdb.EachListpackEntry(node.LP, func(b []byte, n int64, isInt bool) error {
			items = append(items, lpItem{b, n, isInt})
			return nil
		}) != nil {
			return nil
		}
		b := streamBlockFromItems(first, items)
		if b == nil || havePrev && !prev.Less(b.first) {
			return nil
		}
		b.lpBody = int32(len(node.LP) - lpIntSize(int64(b.live)) - lpIntSize(int64(b.dead)))
		prev, havePrev = b.last, true
		if b.live == 0 {
			continue // a node of deleted entries only: keep no empty block
		}
		s.blocks = append(s.blocks, b)
		s.length += int64(b.live)
	}
	m := v.Meta
	if uint64(s.length) != m.Length {
		return nil
	}
	s.lastID = StreamID{m.LastMs, m.LastSeq}
	if havePrev && s.lastID.Less(prev) {
		return nil
	}
	s.entriesAdded = int64(m.EntriesAdded)
	s.maxDeleted = StreamID{m.MaxDeletedMs, m.MaxDelSeq}
	s.firstID = StreamID{m.FirstMs, m.FirstSeq}
	if v.OldStream {
		s.firstID, _ = s.First()
	}
	if !groupsFromDump(s, v.Groups) {
		return nil
	}
	return s
}

// streamBlockFromItems parses one node's listpack: the master entry, then
// the entries, each checked as Redis's deep sanitization checks them and
// in increasing ID order from the node's key.
func streamBlockFromItems(first StreamID, items []lpItem) *streamBlock {
	p := 0
	next := func() (int64, bool) {
		if p >= len(items) {
			return 0, false
		}
		p++
		return items[p-1].int()
	}
	live, ok1 := next()
	dead, ok2 := next()
	nf, ok3 := next()
	if !ok1 || !ok2 || !ok3 || live < 0 || dead < 0 || nf < 0 || live+dead == 0 || nf > int64(len(items)) {
		return nil
	}
	b := &streamBlock{first: first, nfields: int32(nf)}
	var names [][]byte
	for range nf {
		if p >= len(items) {
			return nil
		}
		names = append(names, items[p].bytes())
		b.buf = appendChunk(b.buf, items[p].bytes())
		p++
	}
	if z, ok := next(); !ok || z != 0 {
		return nil
	}
	b.entStart = int32(len(b.buf))
	last := first
	var gotLive, gotDead int64
	for n := int64(0); n < live+dead; n++ {
		flags, ok1 := next()
		msd, ok2 := next()
		seqd, ok3 := next()
		if !ok1 || !ok2 || !ok3 || flags&^(entDeleted|entSameFields) != 0 {
			return nil
		}
		id := StreamID{first.Ms + uint64(msd), first.Seq + uint64(seqd)}
		if id.Less(first) || n > 0 && !last.Less(id) {
			return nil
		}
		last = id
		fields := nf
		same := flags&entSameFields != 0
		if !same {
			var ok bool
			if fields, ok = next(); !ok || fields < 0 || fields > int64(len(items)) {
				return nil
			}
		}
		if fields == 0 {
			return nil
		}
		per := int64(1)
		if !same {
			per = 2
		}
		if int64(len(items)-p) < per*fields+1 {
			return nil
		}
		b.lastAt = int32(len(b.buf))
		b.buf = append(b.buf, byte(flags))
		b.buf = binary.AppendUvarint(b.buf, id.Ms-first.Ms)
		seq := id.Seq
		if id.Ms == first.Ms {
			seq -= first.Seq
		}
		b.buf = binary.AppendUvarint(b.buf, seq)
		if !same {
			b.buf = binary.AppendUvarint(b.buf, uint64(fields))
		}
		for range per * fields {
			b.buf = appendChunk(b.buf, items[p].bytes())
			p++
		}
		want := fields + 3
		if !same {
			want += fields + 1
		}
		if c, ok := next(); !ok || c != want {
			return nil
		}
		if flags&entDeleted != 0 {
			gotDead++
		} else {
			gotLive++
		}
	}
	if p != len(items) || gotLive != live || gotDead != dead {
		return nil
	}
	b.live, b.dead, b.last = int32(live), int32(dead), last
	return b
}
