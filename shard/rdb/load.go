package rdb

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// Entry is one key read from a file.
type Entry struct {
	DB       int
	Key      string
	ExpireAt int64 // Unix ms, or -1 for none
	Idle     int64 // seconds idle from an OpIdle before it, or -1
	Freq     int   // LFU counter from an OpFreq before it, or -1
	Value    *Value
	// End is how many bytes of the input Load had consumed when the
	// record was read in full: a loader's progress, by which Redis times
	// its event points (loading-process-events-interval-bytes).
	End int64
}

// Handler receives what a file holds, in file order. Any error it returns
// stops the load and is returned as it is.
type Handler struct {
	Aux      func(key, val string) error // may be nil
	Function func(code string) error     // may be nil (then functions are skipped)
	Key      func(e *Entry) error        // may be nil (then keys are skipped)
	ResizeDB func(db int, keys, expires uint64)
	// Empty is told of each list, set, hash or sorted set skipped because
	// it holds nothing; may be nil.
	Empty func(db int, key string)
}

// LoadError is an error of Load other than one returned by the Handler.
// Err is ErrChecksum for a bad CRC or version, io.ErrUnexpectedEOF for a
// cut-off file, the reader's error, or ErrFormat.
type LoadError struct {
	Offset int64 // of the byte where the problem was found
	Msg    string
	Err    error
}

func (e *LoadError) Error() string {
	return "rdb: " + e.Msg + " at offset " + strconv.FormatInt(e.Offset, 10)
}

func (e *LoadError) Unwrap() error { return e.Err }

// maxChunk bounds how much is allocated ahead of the bytes actually read,
// so that a length field claiming 2^40 bytes fails at the end of the input
// instead of allocating.
const maxChunk = 1 << 20

// Load reads a whole RDB file from r and calls h. It checks the magic, a
// version from 1 to Version and, for version 5 and later, the CRC64 at the
// end (a CRC of 0 is not checked, as in Redis).
//
// When r is a *bufio.Reader, Load reads from it directly and consumes
// nothing after the CRC, so the caller can go on reading what follows the
// RDB in the same stream (the AOF tail of a file with an RDB preamble, or
// the command stream after a replication payload). Any other reader is
// wrapped in a bufio.Reader that may read past the end.
//
// Memory is bounded by the largest key: Load reads one record at a time,
// first copying the raw bytes of the object into a buffer by following
// its length fields (allocating no more than maxChunk ahead of what has
// been read), then decoding that buffer with the object decoder.
//
// As Redis does, a list, set, hash or sorted set that holds nothing is
// skipped. Duplicate members, fields or keys are not detected here.
// Module values (types 6 and 7), module aux data and the FUNCTION opcode
// of the 7.0 release candidates (246) are refused.
func Load(r io.Reader, h Handler) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	l := &loader{r: br}
	return l.load(h)
}

type loader struct {
	r   *bufio.Reader
	off int64  // bytes consumed
	crc uint64 // CRC64 of the bytes consumed
	buf []byte // raw bytes of the current record
}

func (l *loader) fail(off int64, err error, format string, args ...any) error {
	return &LoadError{Offset: off, Msg: fmt.Sprintf(format, args...), Err: err}
}

// readErr turns an error of the underlying reader into a LoadError.
func (l *loader) readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return l.fail(l.off, io.ErrUnexpectedEOF, "unexpected EOF")
	}
	return l.fail(l.off, err, "read error: %v", err)
}

// copyN appends the next n bytes of the input to l.buf.
func (l *loader) copyN(n uint64) error {
	for n > 0 {
		chunk := int(min(n, maxChunk))
		start := len(l.buf)
		l.buf = slices.Grow(l.buf, chunk)[:start+chunk]
		m, err := io.ReadFull(l.r, l.buf[start:])
		l.crc = CRC64(l.crc, l.buf[start:start+m])
		l.off += int64(m)
		if err != nil {
			l.buf = l.buf[:start+m]
			return l.readErr(err)
		}
		n -= uint64(chunk)
	}
	return nil
}

// byte reads one byte and appends it to l.buf.
func (l *loader) byte() (byte, error) {
	c, err := l.r.ReadByte()
	if err != nil {
		return 0, l.readErr(err)
	}
	l.crc = CRC64(l.crc, []byte{c})
	l.off++
	l.buf = append(l.buf, c)
	return c, nil
}

// length copies an RDB length and returns it; special is set for the
// string encodings 11xxxxxx, whose kind is returned.
func (l *loader) length() (n uint64, special bool, err error) {
	start := l.off
	c, err := l.byte()
	if err != nil {
		return 0, false, err
	}
	switch c >> 6 {
	case 0:
		return uint64(c), false, nil
	case 1:
		c2, err := l.byte()
		return uint64(c&0x3f)<<8 | uint64(c2), false, err
	case 3:
		return uint64(c & 0x3f), true, nil
	}
	var w uint64
	switch c {
	case 0x80:
		w = 4
	case 0x81:
		w = 8
	default:
		return 0, false, l.fail(start, ErrFormat, "bad length byte %#x", c)
	}
	at := len(l.buf)
	if err := l.copyN(w); err != nil {
		return 0, false, err
	}
	for _, b := range l.buf[at:] {
		n = n<<8 | uint64(b)
	}
	return n, false, nil
}

// count copies a length that is not a string encoding.
func (l *loader) count() (uint64, error) {
	start := l.off
	n, special, err := l.length()
	if err == nil && special {
		err = l.fail(start, ErrFormat, "bad length")
	}
	return n, err
}

// str copies an RDB string in any encoding.
func (l *loader) str() error {
	start := l.off
	n, special, err := l.length()
	if err != nil {
		return err
	}
	if !special {
		return l.copyN(n)
	}
	switch n {
	case encInt8:
		return l.copyN(1)
	case encInt16:
		return l.copyN(2)
	case encInt32:
		return l.copyN(4)
	case encLZF:
		clen, err := l.count()
		if err != nil {
			return err
		}
		if _, err := l.count(); err != nil {
			return err
		}
		return l.copyN(clen)
	}
	return l.fail(start, ErrFormat, "bad string encoding %d", n)
}

// strs copies n strings.
func (l *loader) strs(n uint64) error {
	for ; n > 0; n-- {
		if err := l.str(); err != nil {
			return err
		}
	}
	return nil
}

// object copies the body of an object of type t. Every element it loops
// over takes at least one byte, so a huge count ends at the end of input.
func (l *loader) object(t byte) error {
	switch t {
	case typeString, typeHashZipmap, typeListZiplist, typeSetIntset, typeZSetZiplist,
		typeHashZiplist, typeHashListpack, typeZSetListpack:
		return l.str()
	case typeList, typeSet, typeListQuicklist:
		n, err := l.count()
		if err != nil {
			return err
		}
		return l.strs(n)
	case typeHash:
		n, err := l.count()
		if err != nil {
			return err
		}
		for ; n > 0; n-- {
			if err := l.strs(2); err != nil {
				return err
			}
		}
		return nil
	case typeZSet, typeZSet2:
		n, err := l.count()
		if err != nil {
			return err
		}
		for ; n > 0; n-- {
			if err := l.str(); err != nil {
				return err
			}
			if t == typeZSet2 {
				err = l.copyN(8)
			} else {
				var c byte
				if c, err = l.byte(); err == nil && c < 253 {
					err = l.copyN(uint64(c))
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	case typeListQuicklist2:
		n, err := l.count()
		if err != nil {
			return err
		}
		for ; n > 0; n-- {
			if _, err := l.count(); err != nil {
				return err
			}
			if err := l.str(); err != nil {
				return err
			}
		}
		return nil
	case typeStreamListpacks, typeStreamListpacks2:
		return l.stream(t)
	}
	return l.fail(l.off, ErrFormat, "unknown object type %d", t)
}

func (l *loader) lengths(n int) error {
	for range n {
		if _, _, err := l.length(); err != nil {
			return err
		}
	}
	return nil
}

// stream copies a stream: nodes, bookkeeping and consumer groups.
func (l *loader) stream(t byte) error {
	n, _, err := l.length()
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		if err := l.strs(2); err != nil {
			return err
		}
	}
	meta, groupHead := 3, 2
	if t == typeStreamListpacks2 {
		meta, groupHead = 8, 3
	}
	if err := l.lengths(meta); err != nil {
		return err
	}
	ngroups, err := l.count()
	if err != nil {
		return err
	}
	for ; ngroups > 0; ngroups-- {
		if err := l.str(); err != nil {
			return err
		}
		if err := l.lengths(groupHead); err != nil {
			return err
		}
		npel, err := l.count()
		if err != nil {
			return err
		}
		for ; npel > 0; npel-- {
			if err := l.copyN(24); err != nil { // ID and delivery time
				return err
			}
			if err := l.lengths(1); err != nil {
				return err
			}
		}
		ncons, err := l.count()
		if err != nil {
			return err
		}
		for ; ncons > 0; ncons-- {
			if err := l.str(); err != nil {
				return err
			}
			if err := l.copyN(8); err != nil { // seen time
				return err
			}
			np, err := l.count()
			if err != nil {
				return err
			}
			for ; np > 0; np-- {
				if err := l.copyN(16); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// readStrings copies n strings and returns them decoded.
func (l *loader) readStrings(n int) ([]string, error) {
	l.buf = l.buf[:0]
	start := l.off
	if err := l.strs(uint64(n)); err != nil {
		return nil, err
	}
	out := make([]string, n)
	d := decoder{b: l.buf}
	for i := range out {
		s, err := d.str()
		if err != nil {
			return nil, l.fail(start, ErrFormat, "bad string")
		}
		out[i] = string(s)
	}
	return out, nil
}

// resetBuf drops a buffer that a big key has grown.
func (l *loader) resetBuf() {
	if cap(l.buf) > maxChunk {
		l.buf = nil
	}
	l.buf = l.buf[:0]
}

func (l *loader) load(h Handler) error {
	if err := l.copyN(9); err != nil {
		return err
	}
	magic := l.buf[:9]
	if string(magic[:5]) != "REDIS" {
		return l.fail(0, ErrFormat, "not an RDB file")
	}
	ver := 0
	for _, c := range magic[5:] {
		if c < '0' || c > '9' {
			return l.fail(5, ErrFormat, "bad RDB version %q", magic[5:])
		}
		ver = ver*10 + int(c-'0')
	}
	if ver < 1 || ver > Version {
		return l.fail(5, ErrChecksum, "cannot load RDB version %d", ver)
	}
	db := 0
	expireAt, idle, freq := int64(-1), int64(-1), -1
	var small [8]byte
	fixed := func(n int) ([]byte, error) {
		l.buf = l.buf[:0]
		if err := l.copyN(uint64(n)); err != nil {
			return nil, err
		}
		copy(small[:], l.buf)
		return small[:n], nil
	}
	for {
		l.resetBuf()
		at := l.off
		t, err := l.byte()
		if err != nil {
			return err
		}
		switch t {
		case OpEOF:
			if ver < 5 {
				return nil
			}
			computed := l.crc
			b, err := fixed(8)
			if err != nil {
				return err
			}
			if stored := binary.LittleEndian.Uint64(b); stored != 0 && stored != computed && !skipChecksum.Load() {
				return l.fail(l.off-8, ErrChecksum, "RDB CRC error (file %#016x, computed %#016x)", stored, computed)
			}
			return nil
		case OpExpireMs:
			b, err := fixed(8)
			if err != nil {
				return err
			}
			expireAt = int64(binary.LittleEndian.Uint64(b))
		case OpExpireSec:
			b, err := fixed(4)
			if err != nil {
				return err
			}
			expireAt = int64(int32(binary.LittleEndian.Uint32(b))) * 1000
		case OpIdle:
			n, err := l.count()
			if err != nil {
				return err
			}
			idle = int64(min(n, math.MaxInt64))
		case OpFreq:
			b, err := fixed(1)
			if err != nil {
				return err
			}
			freq = int(b[0])
		case OpSelectDB:
			n, err := l.count()
			if err != nil {
				return err
			}
			if n > math.MaxInt32 {
				return l.fail(at, ErrFormat, "bad database number %d", n)
			}
			db = int(n)
		case OpResizeDB:
			keys, err := l.count()
			if err != nil {
				return err
			}
			expires, err := l.count()
			if err != nil {
				return err
			}
			if h.ResizeDB != nil {
				h.ResizeDB(db, keys, expires)
			}
		case OpAux:
			kv, err := l.readStrings(2)
			if err != nil {
				return err
			}
			if h.Aux != nil {
				if err := h.Aux(kv[0], kv[1]); err != nil {
					return err
				}
			}
		case OpFunction2:
			code, err := l.readStrings(1)
			if err != nil {
				return err
			}
			if h.Function != nil {
				if err := h.Function(code[0]); err != nil {
					return err
				}
			}
		case OpFunction:
			return l.fail(at, ErrFormat, "FUNCTION opcode %d of Redis 7.0 release candidates is not supported", t)
		case OpModuleAux:
			return l.fail(at, ErrFormat, "module aux data (opcode %d) is not supported", t)
		case typeModule, typeModule2:
			return l.fail(at, ErrFormat, "module value (type %d) is not supported", t)
		default:
			if t > typeStreamListpacks2 {
				return l.fail(at, ErrFormat, "unknown opcode %d", t)
			}
			if t == 8 {
				return l.fail(at, ErrFormat, "unknown object type %d", t)
			}
			e, err := l.key(t, at)
			if err != nil {
				return err
			}
			switch {
			case e.Value == nil:
				if h.Empty != nil {
					h.Empty(db, e.Key)
				}
			case h.Key != nil:
				e.DB, e.ExpireAt, e.Idle, e.Freq, e.End = db, expireAt, idle, freq, l.off
				if err := h.Key(e); err != nil {
					return err
				}
			}
			expireAt, idle, freq = -1, -1, -1
		}
	}
}

// key reads the key and object of a record of type t that starts (with
// its type byte) at offset at. For an empty collection, which Redis
// skips, the Entry has only its Key.
func (l *loader) key(t byte, at int64) (*Entry, error) {
	l.buf = l.buf[:0]
	if err := l.str(); err != nil {
		return nil, err
	}
	if err := l.object(t); err != nil {
		return nil, err
	}
	d := decoder{b: l.buf}
	key, err := d.str()
	if err != nil {
		return nil, l.fail(at, ErrFormat, "bad key")
	}
	e := &Entry{Key: string(key)}
	v, err := d.object(t)
	if reason := Reason(err); reason != "" {
		return nil, l.fail(at, err, "bad value of type %d for key %.64q: %s", t, e.Key, reason)
	}
	if err != nil || len(d.b) != 0 {
		return nil, l.fail(at, ErrFormat, "bad value of type %d for key %.64q", t, e.Key)
	}
	if v.Kind != String && v.Kind != Stream && len(v.Elems) == 0 {
		return e, nil // empty: no Value
	}
	e.Value = v
	return e, nil
}
