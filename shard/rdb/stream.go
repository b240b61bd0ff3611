package rdb

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

// AppendStream appends a stream without consumer groups.
func AppendStream(dst []byte, nodes []StreamNode, m StreamMeta) []byte {
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
	return appendLen(dst, 0) // consumer groups
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
	groups, _, err := d.length()
	if err != nil {
		return nil, err
	}
	if groups != 0 {
		// Consumer groups are not stored yet.
		return nil, ErrFormat
	}
	return v, nil
}
