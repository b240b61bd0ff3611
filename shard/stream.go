package shard

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
)

// Stream is a Redis stream.
//
// Layout. Entries live in blocks kept in ID order in a slice (Redis keeps
// listpacks in a radix tree; a sorted slice searched by binary search does
// the same job here). A block is one []byte holding, first, its "master"
// field names (those of the first entry added to it), then its entries,
// each encoded as
//
//	flags (1 byte: deleted, same-fields)
//	uvarint ms - first.ms
//	uvarint seq - first.seq when ms equals first.ms, else the raw seq
//	[uvarint n, then n times uvarint len + field name]  unless same-fields
//	n times uvarint len + value
//
// so an entry costs its values plus a few bytes. Deleting marks the flag;
// a block whose entries are all deleted is dropped. A block is closed
// when it reaches stream-node-max-entries entries (live or deleted) or its
// Redis listpack would reach stream-node-max-bytes: the block keeps the
// size the listpack would have (lpSize), so block boundaries — and what
// approximate ("~") trimming removes, which is whole blocks — follow
// Redis. A closed block's buffer is trimmed to size.
type Stream struct {
	blocks []*streamBlock
	length int64

	lastID       StreamID // last-generated-id
	firstID      StreamID // recorded-first-entry-id
	maxDeleted   StreamID // max-deleted-entry-id
	entriesAdded int64

	groups []*streamGroup // consumer groups, by name (stream_groups.go)
	born   int64          // arrival time of the command that created it (arrival.go)

	// seek is where the last forward Range stopped, so that reading a
	// block an entry at a time (XREADGROUP >, XREAD) does not decode it
	// from its start on every read. Its offset stays valid: a block only
	// grows at its end, and Delete marks entries in place.
	seek streamSeek
}

// streamSeek is a position in a block: the offset after the entry id.
type streamSeek struct {
	b   *streamBlock
	off int
	id  StreamID
}

// StreamID is an entry ID, ms-seq.
type StreamID struct{ Ms, Seq uint64 }

// Cmp compares two IDs: -1, 0 or 1.
func (a StreamID) Cmp(b StreamID) int {
	switch {
	case a.Ms < b.Ms:
		return -1
	case a.Ms > b.Ms:
		return 1
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}

// Less reports a < b.
func (a StreamID) Less(b StreamID) bool { return a.Cmp(b) < 0 }

// IsZero reports a == 0-0.
func (a StreamID) IsZero() bool { return a.Ms == 0 && a.Seq == 0 }

// Next returns the ID after a; ok is false when a is the largest ID.
func (a StreamID) Next() (StreamID, bool) {
	switch {
	case a.Seq < ^uint64(0):
		return StreamID{a.Ms, a.Seq + 1}, true
	case a.Ms < ^uint64(0):
		return StreamID{a.Ms + 1, 0}, true
	}
	return StreamID{}, false
}

// Prev returns the ID before a; ok is false for 0-0.
func (a StreamID) Prev() (StreamID, bool) {
	switch {
	case a.Seq > 0:
		return StreamID{a.Ms, a.Seq - 1}, true
	case a.Ms > 0:
		return StreamID{a.Ms - 1, ^uint64(0)}, true
	}
	return StreamID{}, false
}

// Append appends the ID as ms-seq.
func (a StreamID) Append(dst []byte) []byte {
	dst = strconv.AppendUint(dst, a.Ms, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, a.Seq, 10)
}

func (a StreamID) String() string { return string(a.Append(nil)) }

var maxStreamID = StreamID{^uint64(0), ^uint64(0)}

const (
	entDeleted = 1 << iota
	entSameFields
)

type streamBlock struct {
	first      StreamID // the ID of its first entry (deleted or not)
	last       StreamID // the ID of its last entry (deleted or not)
	live, dead int32
	nfields    int32  // master field count
	entStart   int32  // where entries start in buf
	lastAt     int32  // where its last entry starts
	lpBody     int32  // Redis listpack size without the count fields
	buf        []byte // master fields, then entries
}

func (b *streamBlock) total() int { return int(b.live + b.dead) }

// lpSize is the size Redis's listpack for this block would have.
func (b *streamBlock) lpSize() int {
	return int(b.lpBody) + lpIntSize(int64(b.live)) + lpIntSize(int64(b.dead))
}

// StreamLimits are stream-node-max-bytes and stream-node-max-entries.
type StreamLimits struct {
	MaxBytes   int64
	MaxEntries int64
}

// DefaultStreamLimits are Redis's defaults.
var DefaultStreamLimits = StreamLimits{MaxBytes: 4096, MaxEntries: 100}

// lpMaxSize is Redis's STREAM_LISTPACK_MAX_SIZE (1 GiB).
const lpMaxSize = 1 << 30

// NewStream returns an empty stream.
func NewStream() *Stream { return &Stream{} }

func (*Stream) typeName() string { return "stream" }
func (*Stream) encoding() string { return "stream" }

// Len is the number of entries.
func (s *Stream) Len() int64 { return s.length }

// LastID is last-generated-id.
func (s *Stream) LastID() StreamID { return s.lastID }

// FirstRecorded is recorded-first-entry-id.
func (s *Stream) FirstRecorded() StreamID { return s.firstID }

// MaxDeleted is max-deleted-entry-id.
func (s *Stream) MaxDeleted() StreamID { return s.maxDeleted }

// EntriesAdded counts every entry ever added.
func (s *Stream) EntriesAdded() int64 { return s.entriesAdded }

// Blocks is the number of blocks (Redis's radix-tree-keys).
func (s *Stream) Blocks() int { return len(s.blocks) }

// SetMeta sets last-generated-id, entries-added and max-deleted-entry-id
// (XSETID, RESTORE).
func (s *Stream) SetMeta(last StreamID, added int64, maxDel StreamID) {
	s.lastID, s.entriesAdded, s.maxDeleted = last, added, maxDel
}

// NextAutoID is the ID XADD * would use at time now (ms), or false when
// the stream has used the last possible ID.
func (s *Stream) NextAutoID(now uint64) (StreamID, bool) {
	if now > s.lastID.Ms {
		return StreamID{now, 0}, true
	}
	return s.lastID.Next()
}

// Add appends an entry with id, which must be greater than LastID; fv
// holds field, value, field, value... It updates the counters.
func (s *Stream) Add(id StreamID, fv [][]byte, lim StreamLimits) {
	var b *streamBlock
	if n := len(s.blocks); n > 0 {
		b = s.blocks[n-1]
		total := 0
		for _, x := range fv {
			total += len(x)
		}
		maxBytes := lim.MaxBytes
		if maxBytes <= 0 || maxBytes > lpMaxSize {
			maxBytes = lpMaxSize
		}
		if int64(b.lpSize()+total) >= maxBytes ||
			(lim.MaxEntries > 0 && int64(b.total()) >= lim.MaxEntries) {
			if cap(b.buf)-len(b.buf) > cap(b.buf)/4 {
				b.buf = append([]byte(nil), b.buf...)
			}
			b = nil
		}
	}
	nf := len(fv) / 2
	if b == nil {
		b = &streamBlock{first: id, nfields: int32(nf)}
		b.lpBody = int32(6 + 1 + lpIntSize(int64(nf)) + lpIntSize(0))
		buf := make([]byte, 0, blockCap(fv, lim))
		for i := 0; i < nf; i++ {
			buf = appendChunk(buf, fv[2*i])
			b.lpBody += int32(lpStrSize(fv[2*i]))
		}
		b.buf = buf
		b.entStart = int32(len(buf))
		s.blocks = append(s.blocks, b)
	}
	same := b.sameFields(fv)
	flags := byte(0)
	if same {
		flags = entSameFields
	}
	b.lastAt = int32(len(b.buf))
	b.buf = append(b.buf, flags)
	b.buf = binary.AppendUvarint(b.buf, id.Ms-b.first.Ms)
	seq := id.Seq
	if id.Ms == b.first.Ms {
		seq -= b.first.Seq
	}
	b.buf = binary.AppendUvarint(b.buf, seq)
	lp := lpIntSize(int64(flags)) + lpIntSize(int64(id.Ms-b.first.Ms)) + lpIntSize(int64(id.Seq-b.first.Seq))
	count := int64(nf + 3)
	if same {
		for i := 0; i < nf; i++ {
			b.buf = appendChunk(b.buf, fv[2*i+1])
			lp += lpStrSize(fv[2*i+1])
		}
	} else {
		b.buf = binary.AppendUvarint(b.buf, uint64(nf))
		lp += lpIntSize(int64(nf))
		for _, x := range fv {
			b.buf = appendChunk(b.buf, x)
			lp += lpStrSize(x)
		}
		count += int64(nf) + 1
	}
	lp += lpIntSize(count)
	b.lpBody += int32(lp)
	b.live++
	b.last = id
	s.length++
	s.entriesAdded++
	s.lastID = id
	if s.length == 1 {
		s.firstID = id
	}
}

// blockCap guesses the final size of a block that starts with entry fv:
// that many entries like it, bounded by the byte limit (an entry here is
// never bigger than in a listpack). A good guess spares the garbage of
// growing the buffer by doubling.
func blockCap(fv [][]byte, lim StreamLimits) int {
	head, one := 16, 4 // one: flags, ID deltas (usually), values
	for i := 0; i+1 < len(fv); i += 2 {
		head += len(fv[i]) + 1
		one += len(fv[i+1]) + 1
	}
	n := head + one
	if lim.MaxEntries > 0 {
		n = head + one*int(min(lim.MaxEntries, 1024))
	}
	if lim.MaxBytes > 0 && int64(n) > lim.MaxBytes {
		n = int(lim.MaxBytes)
	}
	return max(n, 64)
}

func appendChunk(dst, x []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(x)))
	return append(dst, x...)
}

func readChunk(buf []byte, p int) ([]byte, int) {
	n, w := binary.Uvarint(buf[p:])
	p += w
	return buf[p : p+int(n)], p + int(n)
}

func skipChunk(buf []byte, p int) int {
	n, w := binary.Uvarint(buf[p:])
	return p + w + int(n)
}

// sameFields reports whether fv's field names are the block's master ones.
func (b *streamBlock) sameFields(fv [][]byte) bool {
	if len(fv)/2 != int(b.nfields) {
		return false
	}
	p := 0
	for i := 0; i < int(b.nfields); i++ {
		var f []byte
		f, p = readChunk(b.buf, p)
		if string(f) != string(fv[2*i]) {
			return false
		}
	}
	return true
}

// entry is a decoded entry header: where it is and what it holds.
type streamEntry struct {
	ID    StreamID
	flags byte
	at    int // offset of the flags byte
	body  int // offset of the field/value data
	end   int // offset after the entry
	n     int // field count
	b     *streamBlock
}

// decode reads the entry at offset p of b.
func (b *streamBlock) decode(p int) streamEntry {
	e := streamEntry{at: p, b: b, flags: b.buf[p]}
	p++
	ms, w := binary.Uvarint(b.buf[p:])
	p += w
	seq, w := binary.Uvarint(b.buf[p:])
	p += w
	e.ID.Ms = b.first.Ms + ms
	if ms == 0 {
		e.ID.Seq = b.first.Seq + seq
	} else {
		e.ID.Seq = seq
	}
	if e.flags&entSameFields != 0 {
		e.n = int(b.nfields)
		e.body = p
		for i := 0; i < e.n; i++ {
			p = skipChunk(b.buf, p)
		}
	} else {
		n, w := binary.Uvarint(b.buf[p:])
		p += w
		e.n = int(n)
		e.body = p
		for i := 0; i < 2*e.n; i++ {
			p = skipChunk(b.buf, p)
		}
	}
	e.end = p
	return e
}

// Fields calls fn with each field and value of the entry; the slices
// alias the stream and are valid until it changes.
func (e *streamEntry) Fields(fn func(f, v []byte)) {
	buf := e.b.buf
	if e.flags&entSameFields != 0 {
		names, p := 0, e.body
		for i := 0; i < e.n; i++ {
			var f, v []byte
			f, names = readChunk(buf, names)
			v, p = readChunk(buf, p)
			fn(f, v)
		}
		return
	}
	p := e.body
	for i := 0; i < e.n; i++ {
		var f, v []byte
		f, p = readChunk(buf, p)
		v, p = readChunk(buf, p)
		fn(f, v)
	}
}

// Deleted reports whether the entry is marked deleted.
func (e *streamEntry) deleted() bool { return e.flags&entDeleted != 0 }

// blockFor returns the index of the last block whose first ID is <= id,
// or -1.
func (s *Stream) blockFor(id StreamID) int {
	i, _ := slices.BinarySearchFunc(s.blocks, id, func(b *streamBlock, id StreamID) int {
		if b.first.Cmp(id) <= 0 {
			return -1
		}
		return 1
	})
	return i - 1
}

// Range calls fn for the live entries with start <= ID <= end, in order
// (or in reverse order if rev), until fn returns false or count entries
// have been seen (count <= 0: no limit). It returns how many it saw.
func (s *Stream) Range(start, end StreamID, rev bool, count int, fn func(e *streamEntry) bool) int {
	if end.Less(start) || len(s.blocks) == 0 {
		return 0
	}
	n := 0
	if !rev {
		i := max(s.blockFor(start), 0)
		for ; i < len(s.blocks); i++ {
			b := s.blocks[i]
			if end.Less(b.first) {
				return n
			}
			if b.last.Less(start) {
				continue
			}
			p := int(b.entStart)
			if s.seek.b == b && s.seek.id.Less(start) {
				p = s.seek.off // every entry before it is below start
			}
			for p < len(b.buf) {
				e := b.decode(p)
				p = e.end
				if e.ID.Less(start) || e.deleted() {
					continue
				}
				if end.Less(e.ID) {
					return n
				}
				n++
				if !fn(&e) || n == count {
					s.seek = streamSeek{b: b, off: e.end, id: e.ID}
					return n
				}
			}
		}
		return n
	}
	var stack [128]int
	offs := stack[:0]
	for i := s.blockFor(end); i >= 0; i-- {
		b := s.blocks[i]
		if b.last.Less(start) {
			return n
		}
		offs = offs[:0]
		for p := int(b.entStart); p < len(b.buf); {
			offs = append(offs, p)
			p = b.decode(p).end
		}
		for j := len(offs) - 1; j >= 0; j-- {
			e := b.decode(offs[j])
			if e.deleted() || end.Less(e.ID) {
				continue
			}
			if e.ID.Less(start) {
				return n
			}
			n++
			if !fn(&e) || n == count {
				return n
			}
		}
	}
	return n
}

// First returns the first live entry's ID.
func (s *Stream) First() (StreamID, bool) {
	var id StreamID
	ok := false
	s.Range(StreamID{}, maxStreamID, false, 1, func(e *streamEntry) bool { id, ok = e.ID, true; return false })
	return id, ok
}

// Last returns the last live entry's ID.
func (s *Stream) Last() (StreamID, bool) {
	if n := len(s.blocks); n > 0 && s.blocks[n-1].total() > 0 { // most often the last entry is live
		if e := s.blocks[n-1].decode(int(s.blocks[n-1].lastAt)); !e.deleted() {
			return e.ID, true
		}
	}
	var id StreamID
	ok := false
	s.Range(StreamID{}, maxStreamID, true, 1, func(e *streamEntry) bool { id, ok = e.ID, true; return false })
	return id, ok
}

// Has reports whether a live entry has this ID.
func (s *Stream) Has(id StreamID) bool {
	return s.Range(id, id, false, 1, func(*streamEntry) bool { return false }) == 1
}

// Delete marks the entry id deleted and reports whether it was live. It
// does not touch the recorded first ID or max-deleted-entry-id (XDEL
// does).
func (s *Stream) Delete(id StreamID) bool {
	i := s.blockFor(id)
	if i < 0 {
		return false
	}
	b := s.blocks[i]
	if b.last.Less(id) {
		return false
	}
	for p := int(b.entStart); p < len(b.buf); {
		e := b.decode(p)
		p = e.end
		if e.ID.Cmp(id) < 0 {
			continue
		}
		if e.ID != id || e.deleted() {
			return false
		}
		s.markDeleted(i, &e)
		if b.live == 0 {
			s.dropBlocks(i, i+1)
		}
		return true
	}
	return false
}

func (s *Stream) markDeleted(i int, e *streamEntry) {
	b := s.blocks[i]
	b.buf[e.at] |= entDeleted
	b.live--
	b.dead++
	s.length--
}

// dropBlocks removes blocks [i, j).
func (s *Stream) dropBlocks(i, j int) {
	if i == 0 {
		clear(s.blocks[:j])
		s.blocks = s.blocks[j:]
		return
	}
	s.blocks = slices.Delete(s.blocks, i, j)
}

// TrimArgs says how to trim: by MaxLen (ByID false) or MinID, exactly or
// approximately (whole blocks only), deleting at most Limit entries when
// Limit > 0.
type TrimArgs struct {
	ByID   bool
	MaxLen int64
	MinID  StreamID
	Approx bool
	Limit  int64
}

// Trim removes entries from the head as Redis's streamTrim does and
// returns how many it removed.
func (s *Stream) Trim(t TrimArgs) int64 {
	var deleted int64
	for len(s.blocks) > 0 {
		if !t.ByID && s.length <= t.MaxLen {
			break
		}
		b := s.blocks[0]
		live := int64(b.live)
		if t.Limit > 0 && deleted+live > t.Limit {
			break
		}
		var whole bool
		if t.ByID {
			whole = b.last.Less(t.MinID)
		} else {
			whole = s.length-live >= t.MaxLen
		}
		if whole {
			s.dropBlocks(0, 1)
			s.length -= live
			deleted += live
			continue
		}
		if t.Approx {
			break
		}
		for p := int(b.entStart); p < len(b.buf); {
			e := b.decode(p)
			p = e.end
			if t.ByID {
				if !e.ID.Less(t.MinID) {
					break
				}
			} else if s.length <= t.MaxLen {
				break
			}
			if !e.deleted() {
				s.markDeleted(0, &e)
				deleted++
			}
		}
		if b.live == 0 {
			// As Redis removes an emptied node: a block with no live
			// entry could otherwise sit before entries that XSETID let
			// come in below its IDs.
			s.dropBlocks(0, 1)
		}
		break
	}
	if s.length == 0 {
		s.firstID = StreamID{}
	} else if deleted > 0 {
		s.firstID, _ = s.First()
	}
	return deleted
}

// clone copies the stream and its consumer groups.
func (s *Stream) clone() any {
	d := *s
	d.seek = streamSeek{}
	d.groups = cloneGroups(s.groups)
	d.blocks = make([]*streamBlock, len(s.blocks))
	for i, b := range s.blocks {
		nb := *b
		nb.buf = slices.Clone(b.buf)
		d.blocks[i] = &nb
	}
	return &d
}

// Bytes estimates the memory the stream holds, measuring all of it.
func (s *Stream) Bytes() int64 { return s.usage(math.MaxInt64) }

// usage estimates the memory the stream holds from up to samples of its
// blocks, groups and consumers per group, scaled to all of them, as
// Redis's MEMORY USAGE samples a stream's nodes and groups. The
// accounting measures a stream after each write to it, so that must not
// cost a walk of every block.
func (s *Stream) usage(samples int64) int64 {
	n := int64(96 + 8*cap(s.blocks))
	var blocks int64
	k := 0
	for ; k < len(s.blocks) && int64(k) < samples; k++ {
		blocks += 80 + int64(cap(s.blocks[k].buf))
	}
	return n + sampled(blocks, k, len(s.blocks)) + s.groupsBytes(samples)
}

// Sizes of Redis listpack entries, to place block boundaries where Redis
// places its nodes'.

func lpIntSize(v int64) int {
	switch {
	case v >= 0 && v <= 127:
		return 2
	case v >= -4096 && v <= 4095:
		return 3
	case v >= -32768 && v <= 32767:
		return 4
	case v >= -8388608 && v <= 8388607:
		return 5
	case v >= -2147483648 && v <= 2147483647:
		return 6
	}
	return 10
}

func lpStrSize(b []byte) int {
	if len(b) <= 20 {
		if v, ok := parseIntString(string(b)); ok {
			return lpIntSize(v)
		}
	}
	n := len(b)
	switch {
	case n < 64:
		n++
	case n < 4096:
		n += 2
	default:
		n += 5
	}
	return n + lpBacklen(n)
}

func lpBacklen(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	case n < 268435456:
		return 4
	}
	return 5
}
