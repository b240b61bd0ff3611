package rdb

import "encoding/binary"

// Streams, as Redis 7.0 saves them (RDB_TYPE_STREAM_LISTPACKS_2): the
// number of nodes, each node's 16-byte key (its master ID, big endian)
// and listpack, then the length, last ID, first ID, max deleted ID and
// entries added, then the consumer groups.

// StreamNode is one node of a stream: its key and its listpack.
type StreamNode struct {
	Key [16]byte
	LP  []byte
}

// StreamMeta is the stream's bookkeeping after its nodes.
type StreamMeta struct {
	Length                  uint64
	LastMs, LastSeq         uint64
	FirstMs, FirstSeq       uint64
	MaxDeletedMs, MaxDelSeq uint64
	EntriesAdded            uint64
}

// StreamGroup is a consumer group as saved: its name, last delivered ID,
// entries-read counter (-1: unknown; HasEntriesRead false when the 5.0
// type did not save it), its pending entries and its consumers.
type StreamGroup struct {
	Name            []byte
	LastMs, LastSeq uint64
	EntriesRead     int64
	HasEntriesRead  bool
	PEL             []StreamNACK
	Consumers       []StreamConsumer
}

// StreamNACK is a pending entry: its ID (16 bytes, big endian), when it
// was last delivered (Unix ms) and how many times.
type StreamNACK struct {
	ID            [16]byte
	DeliveryTime  int64
	DeliveryCount uint64
}

// StreamConsumer is a consumer: its name, seen time (Unix ms) and the IDs
// of its pending entries.
type StreamConsumer struct {
	Name     []byte
	SeenTime int64
	PEL      [][16]byte
}

// AppendStream appends a stream and its consumer groups.
func AppendStream(dst []byte, nodes []StreamNode, m StreamMeta, groups []StreamGroup) []byte {
	dst = append(dst, typeStreamListpacks2)
	dst = appendLen(dst, uint64(len(nodes)))
	for i := range nodes {
		dst = appendStr(dst, nodes[i].Key[:])
		dst = appendStr(dst, nodes[i].LP)
	}
	for _, n := range [...]uint64{m.Length, m.LastMs, m.LastSeq, m.FirstMs, m.FirstSeq,
		m.MaxDeletedMs, m.MaxDelSeq, m.EntriesAdded} {
		dst = appendLen(dst, n)
	}
	dst = appendLen(dst, uint64(len(groups)))
	for i := range groups {
		g := &groups[i]
		dst = appendStr(dst, g.Name)
		dst = appendLen(dst, g.LastMs)
		dst = appendLen(dst, g.LastSeq)
		dst = appendLen(dst, uint64(g.EntriesRead))
		dst = appendLen(dst, uint64(len(g.PEL)))
		for _, n := range g.PEL {
			dst = append(dst, n.ID[:]...)
			dst = binary.LittleEndian.AppendUint64(dst, uint64(n.DeliveryTime))
			dst = appendLen(dst, n.DeliveryCount)
		}
		dst = appendLen(dst, uint64(len(g.Consumers)))
		for _, c := range g.Consumers {
			dst = appendStr(dst, c.Name)
			dst = binary.LittleEndian.AppendUint64(dst, uint64(c.SeenTime))
			dst = appendLen(dst, uint64(len(c.PEL)))
			for _, id := range c.PEL {
				dst = append(dst, id[:]...)
			}
		}
	}
	return dst
}

// Listpack builds a listpack entry by entry.
type Listpack struct{ w lpWriter }

// Add appends b, as an integer entry when it reads as one.
func (l *Listpack) Add(b []byte) { l.w.add(string(b)) }

// AddInt appends an integer entry.
func (l *Listpack) AddInt(v int64) {
	if l.w.b == nil {
		l.w.b = make([]byte, lpHeader, 64)
	}
	start := len(l.w.b)
	l.w.b = lpAppendInt(l.w.b, v)
	l.w.b = lpAppendBacklen(l.w.b, len(l.w.b)-start)
	l.w.n++
}

// Bytes terminates the listpack and returns it.
func (l *Listpack) Bytes() []byte { return l.w.finish() }

// EachListpackEntry calls fn with every entry of listpack b: a string, or
// an integer when isInt. It fails on a malformed listpack.
func EachListpackEntry(b []byte, fn func(s []byte, v int64, isInt bool) error) error {
	_, err := lpEach(b, fn)
	return err
}

func (d *decoder) stream(t byte) (*Value, error) {
	n, _, err := d.length()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.b))/2 {
		return nil, ErrFormat
	}
	v := &Value{Kind: Stream, Nodes: make([]StreamNode, 0, n)}
	for range n {
		key, err := d.str()
		if err != nil {
			return nil, err
		}
		if len(key) != 16 {
			return nil, ErrFormat
		}
		lp, err := d.str()
		if err != nil {
			return nil, err
		}
		n, err := lpEach(lp, func([]byte, int64, bool) error { return nil })
		if err != nil {
			return nil, corrupt(err, "Stream listpack integrity check failed.")
		}
		if n == 0 {
			return nil, corrupt(ErrFormat, "Empty listpack inside stream")
		}
		var node StreamNode
		copy(node.Key[:], key)
		node.LP = append([]byte(nil), lp...)
		v.Nodes = append(v.Nodes, node)
	}
	m := &v.Meta
	fields := []*uint64{&m.Length, &m.LastMs, &m.LastSeq}
	if t == typeStreamListpacks2 {
		fields = append(fields, &m.FirstMs, &m.FirstSeq, &m.MaxDeletedMs, &m.MaxDelSeq, &m.EntriesAdded)
	}
	for _, f := range fields {
		if *f, _, err = d.length(); err != nil {
			return nil, err
		}
	}
	if t != typeStreamListpacks2 {
		m.EntriesAdded = m.Length
		v.OldStream = true
	}
	ngroups, err := d.count(4)
	if err != nil {
		return nil, err
	}
	var groupNames map[string]struct{}
	for range ngroups {
		var g StreamGroup
		if g.Name, err = d.str(); err != nil {
			return nil, err
		}
		g.Name = append([]byte(nil), g.Name...)
		if g.LastMs, _, err = d.length(); err != nil {
			return nil, err
		}
		if g.LastSeq, _, err = d.length(); err != nil {
			return nil, err
		}
		if t == typeStreamListpacks2 {
			n, _, err := d.length()
			if err != nil {
				return nil, err
			}
			g.EntriesRead, g.HasEntriesRead = int64(n), true
		}
		npel, err := d.count(18)
		if err != nil {
			return nil, err
		}
		g.PEL = make([]StreamNACK, npel)
		for i := range g.PEL {
			n := &g.PEL[i]
			b, err := d.take(24)
			if err != nil {
				return nil, err
			}
			copy(n.ID[:], b)
			n.DeliveryTime = int64(binary.LittleEndian.Uint64(b[16:]))
			if n.DeliveryCount, _, err = d.length(); err != nil {
				return nil, err
			}
		}
		ncons, err := d.count(10)
		if err != nil {
			return nil, err
		}
		g.Consumers = make([]StreamConsumer, ncons)
		for i := range g.Consumers {
			c := &g.Consumers[i]
			if c.Name, err = d.str(); err != nil {
				return nil, err
			}
			c.Name = append([]byte(nil), c.Name...)
			b, err := d.take(8)
			if err != nil {
				return nil, err
			}
			c.SeenTime = int64(binary.LittleEndian.Uint64(b))
			np, err := d.count(16)
			if err != nil {
				return nil, err
			}
			c.PEL = make([][16]byte, np)
			for j := range c.PEL {
				b, err := d.take(16)
				if err != nil {
					return nil, err
				}
				copy(c.PEL[j][:], b)
			}
		}
		if len(g.Consumers) > 1 {
			names := make(map[string]struct{}, len(g.Consumers))
			for i := range g.Consumers {
				if _, dup := names[string(g.Consumers[i].Name)]; dup {
					return nil, corrupt(ErrFormat, "Duplicate stream consumer detected.")
				}
				names[string(g.Consumers[i].Name)] = struct{}{}
			}
		}
		if groupNames == nil {
			groupNames = make(map[string]struct{}, ngroups)
		}
		if _, dup := groupNames[string(g.Name)]; dup {
			return nil, corrupt(ErrFormat, "Duplicated consumer group name")
		}
		groupNames[string(g.Name)] = struct{}{}
		v.Groups = append(v.Groups, g)
	}
	return v, nil
}
