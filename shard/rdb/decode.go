package rdb

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"sync/atomic"
)

// Errors of Decode.
var (
	// ErrChecksum: the payload is too short, from a newer RDB version, or
	// its CRC does not match.
	ErrChecksum = errors.New("rdb: payload version or checksum are wrong")
	// ErrFormat: the object is malformed or of a type Valkyrie does not
	// store (streams, modules).
	ErrFormat = errors.New("rdb: bad data format")
)

// CorruptError is ErrFormat (errors.Is matches it) with the reason the
// object was refused, in the words Redis logs where it logs one, so that
// RESTORE and the file loader can log why.
type CorruptError struct{ Reason string }

func (e *CorruptError) Error() string { return "rdb: bad data format: " + e.Reason }

// Is makes errors.Is(err, ErrFormat) true.
func (e *CorruptError) Is(target error) bool { return target == ErrFormat }

// corrupt labels a validation failure with reason, keeping a reason
// given further down.
func corrupt(err error, reason string) error {
	if err == nil {
		return nil
	}
	var c *CorruptError
	if errors.As(err, &c) {
		return err
	}
	return &CorruptError{Reason: reason}
}

// Reason returns the reason of a CorruptError in err's chain, or "".
func Reason(err error) string {
	var c *CorruptError
	if errors.As(err, &c) {
		return c.Reason
	}
	return ""
}

// Kind is the type of a decoded value.
type Kind uint8

const (
	String Kind = iota
	List
	Set
	Hash
	ZSet
	Stream
)

// Value is a decoded object.
type Value struct {
	Kind Kind
	Str  string // String
	// Elems holds a list's elements in order, a set's members, a hash's
	// fields and values alternating, or a sorted set's members.
	Elems  []string
	Scores []float64 // ZSet: the score of each member
	// Compact reports that the payload used a compact encoding (listpack,
	// ziplist, intset, zipmap) rather than one entry per element.
	Compact bool
	// Zipmap reports a hash in the zipmap encoding of RDB 3 and older.
	Zipmap bool

	// Stream: its nodes and bookkeeping. OldStream: the 5.0 type, which
	// has no first ID, max deleted ID or entries added (the caller finds
	// the first ID).
	Nodes     []StreamNode
	Meta      StreamMeta
	OldStream bool
	Groups    []StreamGroup
}

// Decode verifies a DUMP payload's footer and decodes its object. As in
// Redis, the object is read from the whole payload: bytes left after it
// are ignored, and a malformed one may run into the footer.
func Decode(payload []byte) (*Value, error) {
	if _, err := Verify(payload); err != nil {
		return nil, err
	}
	return DecodeObject(payload)
}

// Verify checks the version and CRC of a payload and returns the part
// before them.
func Verify(payload []byte) ([]byte, error) {
	if len(payload) < 10 {
		return nil, ErrChecksum
	}
	n := len(payload) - 10
	if binary.LittleEndian.Uint16(payload[n:]) > Version {
		return nil, ErrChecksum
	}
	if !skipChecksum.Load() && CRC64(0, payload[:n+2]) != binary.LittleEndian.Uint64(payload[n+2:]) {
		return nil, ErrChecksum
	}
	return payload[:n], nil
}

var skipChecksum atomic.Bool

// SetSkipChecksum turns off (or back on) the CRC checks of DUMP payloads
// and files, process-wide, as Redis's DEBUG SET-SKIP-CHECKSUM-VALIDATION
// does for its tests of corrupt payloads.
func SetSkipChecksum(skip bool) { skipChecksum.Store(skip) }

// DecodeObject decodes one object (type byte and body). The Value shares
// no memory with b. Duplicate members are not detected here.
func DecodeObject(b []byte) (*Value, error) {
	d := decoder{b: b}
	t, err := d.u8()
	if err != nil {
		return nil, err
	}
	v, err := d.object(t)
	if err != nil {
		return nil, err
	}
	if v.Kind != String && v.Kind != Stream && len(v.Elems) == 0 {
		return nil, ErrFormat // Redis refuses empty keys
	}
	return v, nil
}

// ReadString reads one RDB string, in any of its encodings, from the
// start of b and returns it with the rest of b.
func ReadString(b []byte) (string, []byte, error) {
	d := decoder{b: b}
	s, err := d.str()
	if err != nil {
		return "", b, err
	}
	return string(s), d.b, nil
}

// ReadLength reads one RDB length from the start of b and returns it with
// the rest of b. A string encoding marker (11xxxxxx) reads as its low six
// bits, as Redis's rdbLoadLen does when not asked about encodings.
func ReadLength(b []byte) (uint64, []byte, error) {
	d := decoder{b: b}
	n, _, err := d.length()
	if err != nil {
		return 0, b, err
	}
	return n, d.b, nil
}

type decoder struct{ b []byte }

func (d *decoder) u8() (byte, error) {
	if len(d.b) == 0 {
		return 0, ErrFormat
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c, nil
}

func (d *decoder) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.b)) {
		return nil, ErrFormat
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p, nil
}

// length reads an RDB length; special is set for the 11xxxxxx string
// encodings, whose kind is then returned as the length.
func (d *decoder) length() (n uint64, special bool, err error) {
	c, err := d.u8()
	if err != nil {
		return 0, false, err
	}
	switch c >> 6 {
	case 0:
		return uint64(c), false, nil
	case 1:
		c2, err := d.u8()
		return uint64(c&0x3f)<<8 | uint64(c2), false, err
	case 3:
		return uint64(c & 0x3f), true, nil
	}
	switch c {
	case 0x80:
		p, err := d.take(4)
		if err != nil {
			return 0, false, err
		}
		return uint64(binary.BigEndian.Uint32(p)), false, nil
	case 0x81:
		p, err := d.take(8)
		if err != nil {
			return 0, false, err
		}
		return binary.BigEndian.Uint64(p), false, nil
	}
	return 0, false, ErrFormat
}

// count reads a plain length that counts items of at least per bytes
// each, so it is bounded by what is left of the input.
func (d *decoder) count(per uint64) (int, error) {
	n, special, err := d.length()
	if err != nil || special {
		return 0, ErrFormat
	}
	if n > uint64(len(d.b))/per {
		return 0, ErrFormat
	}
	return int(n), nil
}

// str reads a string in any of its encodings. The result may alias the
// input.
func (d *decoder) str() ([]byte, error) {
	n, special, err := d.length()
	if err != nil {
		return nil, err
	}
	if !special {
		return d.take(n)
	}
	switch n {
	case encInt8:
		p, err := d.take(1)
		if err != nil {
			return nil, err
		}
		return strconv.AppendInt(nil, int64(int8(p[0])), 10), nil
	case encInt16:
		p, err := d.take(2)
		if err != nil {
			return nil, err
		}
		return strconv.AppendInt(nil, int64(int16(binary.LittleEndian.Uint16(p))), 10), nil
	case encInt32:
		p, err := d.take(4)
		if err != nil {
			return nil, err
		}
		return strconv.AppendInt(nil, int64(int32(binary.LittleEndian.Uint32(p))), 10), nil
	case encLZF:
		clen, s1, err := d.length()
		if err != nil {
			return nil, err
		}
		ulen, s2, err := d.length()
		if err != nil || s1 || s2 {
			return nil, ErrFormat
		}
		in, err := d.take(clen)
		if err != nil {
			return nil, err
		}
		if ulen == 0 {
			return []byte{}, nil
		}
		if ulen > uint64(len(in))*lzfMaxRatio {
			return nil, ErrFormat
		}
		out := make([]byte, ulen)
		if !lzfDecompress(in, out) {
			return nil, ErrFormat
		}
		return out, nil
	}
	return nil, ErrFormat
}

func (d *decoder) strings(n int) ([]string, error) {
	out := make([]string, 0, n)
	for range n {
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		out = append(out, string(s))
	}
	return out, nil
}

func (d *decoder) object(t byte) (*Value, error) {
	switch t {
	case typeString:
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		return &Value{Kind: String, Str: string(s)}, nil

	case typeList, typeSet:
		n, err := d.count(1)
		if err != nil {
			return nil, err
		}
		elems, err := d.strings(n)
		kind := List
		if t == typeSet {
			kind = Set
		}
		return &Value{Kind: kind, Elems: elems}, err

	case typeHash:
		n, err := d.count(2)
		if err != nil {
			return nil, err
		}
		elems, err := d.strings(2 * n)
		return &Value{Kind: Hash, Elems: elems}, err

	case typeZSet, typeZSet2:
		per := uint64(2)
		if t == typeZSet2 {
			per = 9
		}
		n, err := d.count(per)
		if err != nil {
			return nil, err
		}
		v := &Value{Kind: ZSet, Elems: make([]string, 0, n), Scores: make([]float64, 0, n)}
		for range n {
			m, err := d.str()
			if err != nil {
				return nil, err
			}
			var score float64
			if t == typeZSet2 {
				p, err := d.take(8)
				if err != nil {
					return nil, err
				}
				score = math.Float64frombits(binary.LittleEndian.Uint64(p))
			} else if score, err = d.oldScore(); err != nil {
				return nil, err
			}
			if math.IsNaN(score) {
				return nil, ErrFormat
			}
			v.Elems = append(v.Elems, string(m))
			v.Scores = append(v.Scores, score)
		}
		return v, nil

	case typeListZiplist, typeListQuicklist, typeListQuicklist2:
		return d.list(t)

	case typeSetIntset:
		blob, err := d.str()
		if err != nil {
			return nil, err
		}
		elems, err := intsetStrings(blob)
		return &Value{Kind: Set, Elems: elems, Compact: true}, corrupt(err, "Intset integrity check failed.")

	case typeHashZipmap, typeHashZiplist, typeHashListpack:
		blob, err := d.str()
		if err != nil {
			return nil, err
		}
		var elems []string
		switch t {
		case typeHashZipmap:
			if elems, err = zipmapStrings(blob); err != nil {
				return nil, corrupt(err, "Zipmap integrity check failed.")
			}
			if dupPairs(elems) {
				return nil, corrupt(ErrFormat, "Hash zipmap with dup elements")
			}
		case typeHashZiplist:
			elems, err = ziplistStrings(blob, nil)
			if err != nil || len(elems)%2 != 0 || dupPairs(elems) {
				return nil, corrupt(ErrFormat, "Hash ziplist integrity check failed.")
			}
		default:
			elems, err = lpStrings(blob, nil)
			if err != nil || len(elems)%2 != 0 {
				return nil, corrupt(ErrFormat, "Hash listpack integrity check failed.")
			}
			if dupPairs(elems) {
				return nil, corrupt(ErrFormat, "Hash listpack integrity check failed: listpack with dup elements.")
			}
		}
		return &Value{Kind: Hash, Elems: elems, Compact: true, Zipmap: t == typeHashZipmap}, nil

	case typeZSetZiplist, typeZSetListpack:
		blob, err := d.str()
		if err != nil {
			return nil, err
		}
		var flat []string
		reason := "Zset listpack integrity check failed."
		if t == typeZSetZiplist {
			flat, err = ziplistStrings(blob, nil)
			reason = "Zset ziplist integrity check failed."
		} else {
			flat, err = lpStrings(blob, nil)
		}
		if err != nil || len(flat)%2 != 0 || dupPairs(flat) {
			return nil, corrupt(ErrFormat, reason)
		}
		v := &Value{Kind: ZSet, Compact: true, Elems: make([]string, 0, len(flat)/2), Scores: make([]float64, 0, len(flat)/2)}
		for i := 0; i < len(flat); i += 2 {
			score, err := parseScore(flat[i+1])
			if err != nil {
				return nil, err
			}
			v.Elems = append(v.Elems, flat[i])
			v.Scores = append(v.Scores, score)
		}
		return v, nil
	}
	if t == typeStreamListpacks || t == typeStreamListpacks2 {
		return d.stream(t)
	}
	// Modules, functions and opcodes: nothing Valkyrie stores.
	return nil, ErrFormat
}

// list reads the three list encodings made of ziplists or listpacks.
func (d *decoder) list(t byte) (*Value, error) {
	v := &Value{Kind: List}
	if t == typeListZiplist {
		blob, err := d.str()
		if err != nil {
			return nil, err
		}
		v.Elems, err = ziplistStrings(blob, nil)
		return v, corrupt(err, "List ziplist integrity check failed.")
	}
	nodes, err := d.count(1)
	if err != nil {
		return nil, err
	}
	for range nodes {
		container := uint64(containerPacked)
		if t == typeListQuicklist2 {
			var special bool
			if container, special, err = d.length(); err != nil || special {
				return nil, ErrFormat
			}
			if container != containerPlain && container != containerPacked {
				return nil, corrupt(ErrFormat, "Quicklist integrity check failed.")
			}
		}
		blob, err := d.str()
		if err != nil {
			return nil, err
		}
		if len(blob) == 0 { // Redis refuses an empty node of either kind
			return nil, corrupt(ErrFormat, "Quicklist node of length 0.")
		}
		switch {
		case container == containerPlain:
			v.Elems = append(v.Elems, string(blob))
		case t == typeListQuicklist:
			v.Elems, err = ziplistStrings(blob, v.Elems)
			err = corrupt(err, "Ziplist integrity check failed.")
		default:
			v.Elems, err = lpStrings(blob, v.Elems)
			err = corrupt(err, "Listpack integrity check failed.")
		}
		if err != nil {
			return nil, err
		}
	}
	return v, nil
}

// dupPairs reports whether the fields of flat (field, value, field,
// value...) repeat. Redis checks this in ziplists and zipmaps always, in
// listpacks under deep sanitization; Valkyrie always does, as it could not
// build the value otherwise.
func dupPairs(flat []string) bool {
	n := len(flat) / 2
	if n < 2 {
		return false
	}
	if n <= 8 {
		for i := 0; i < len(flat); i += 2 {
			for j := i + 2; j < len(flat); j += 2 {
				if flat[i] == flat[j] {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[string]struct{}, n)
	for i := 0; i < len(flat); i += 2 {
		if _, ok := seen[flat[i]]; ok {
			return true
		}
		seen[flat[i]] = struct{}{}
	}
	return false
}

// oldScore reads a score of the original ZSET type: a length byte (253
// NaN, 254 +inf, 255 -inf) and that many characters.
func (d *decoder) oldScore() (float64, error) {
	n, err := d.u8()
	if err != nil {
		return 0, err
	}
	switch n {
	case 253:
		return math.NaN(), nil
	case 254:
		return math.Inf(1), nil
	case 255:
		return math.Inf(-1), nil
	}
	p, err := d.take(uint64(n))
	if err != nil {
		return 0, err
	}
	return parseScore(string(p))
}

// parseScore reads a score written as text.
func parseScore(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !(errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0)) || math.IsNaN(f) {
		return 0, ErrFormat
	}
	return f, nil
}

// A ziplist is a 4-byte total size, a 4-byte offset of the last entry and
// a 2-byte count (65535 when unknown), all little endian, the entries, and
// a 0xff terminator. Each entry is the previous entry's length (1 byte, or
// 0xfe and 4 bytes), an encoding and the data:
//
//	00xxxxxx, 01xxxxxx xxxxxxxx, 10000000 + 4 bytes   string, big-endian length
//	11000000, 11010000, 11100000                      int16, int32, int64
//	11110000, 11111110                                int24, int8
//	11110001..11111101                                the integers 0..12
//
// As Redis 7.0 does when it loads one (it always converts ziplists, so it
// always checks every entry), the header must give the real size, a tail
// offset that is the start of the last entry and, unless 65535, the real
// count; every entry's previous length must be the length of the entry
// before it, and no entry may reach past the terminator.
func ziplistStrings(b []byte, out []string) ([]string, error) {
	if len(b) < 11 || binary.LittleEndian.Uint32(b) != uint32(len(b)) || b[len(b)-1] != 0xff ||
		binary.LittleEndian.Uint32(b[4:]) > uint32(len(b)-1) {
		return nil, ErrFormat
	}
	want := int(binary.LittleEndian.Uint16(b[8:]))
	end := len(b) - 1 // the terminator
	p, count, prevLen, last := 10, 0, 0, -1
	for b[p] != 0xff {
		start := p
		var prev int
		if b[p] < 0xfe {
			prev, p = int(b[p]), p+1
		} else {
			if end-p < 5 {
				return nil, ErrFormat
			}
			prev, p = int(binary.LittleEndian.Uint32(b[p+1:])), p+5
		}
		if prev != prevLen {
			return nil, ErrFormat
		}
		c := b[p]    // p <= end
		var n uint64 // string length
		intLen := 0  // integer width
		switch c >> 6 {
		case 0:
			n, p = uint64(c&0x3f), p+1
		case 1:
			if end-p < 2 {
				return nil, ErrFormat
			}
			n, p = uint64(c&0x3f)<<8|uint64(b[p+1]), p+2
		case 2: // Redis ignores the low six bits here
			if end-p < 5 {
				return nil, ErrFormat
			}
			n, p = uint64(binary.BigEndian.Uint32(b[p+1:])), p+5
		default:
			p++
			switch {
			case c == 0xc0:
				intLen = 2
			case c == 0xd0:
				intLen = 4
			case c == 0xe0:
				intLen = 8
			case c == 0xf0:
				intLen = 3
			case c == 0xfe:
				intLen = 1
			case c >= 0xf1 && c <= 0xfd:
				if p > end {
					return nil, ErrFormat
				}
				out = append(out, strconv.Itoa(int(c&0x0f)-1))
				count, prevLen, last = count+1, p-start, start
				continue
			default:
				return nil, ErrFormat
			}
		}
		if intLen == 0 {
			if n > uint64(end-p) {
				return nil, ErrFormat
			}
			out = append(out, string(b[p:p+int(n)]))
			p += int(n)
		} else {
			if intLen > end-p {
				return nil, ErrFormat
			}
			var u uint64
			for i := intLen - 1; i >= 0; i-- {
				u = u<<8 | uint64(b[p+i])
			}
			shift := 64 - 8*intLen
			out = append(out, strconv.FormatInt(int64(u<<shift)>>shift, 10))
			p += intLen
		}
		count, prevLen, last = count+1, p-start, start
	}
	if p != end || last >= 0 && uint32(last) != binary.LittleEndian.Uint32(b[4:]) ||
		want != 65535 && want != count {
		return nil, ErrFormat
	}
	return out, nil
}

// An intset is its element width (2, 4 or 8) and count, 4 bytes each,
// then the elements in ascending order, all little endian.
func intsetStrings(b []byte) ([]string, error) {
	if len(b) < 8 {
		return nil, ErrFormat
	}
	width := uint64(binary.LittleEndian.Uint32(b))
	n := uint64(binary.LittleEndian.Uint32(b[4:]))
	if width != 2 && width != 4 && width != 8 || 8+width*n != uint64(len(b)) {
		return nil, ErrFormat
	}
	out := make([]string, 0, n)
	var prev int64
	for i := range int(n) {
		p := b[8+i*int(width):]
		var v int64
		switch width {
		case 2:
			v = int64(int16(binary.LittleEndian.Uint16(p)))
		case 4:
			v = int64(int32(binary.LittleEndian.Uint32(p)))
		default:
			v = int64(binary.LittleEndian.Uint64(p))
		}
		if i > 0 && v <= prev {
			return nil, ErrFormat
		}
		prev = v
		out = append(out, strconv.FormatInt(v, 10))
	}
	return out, nil
}

// A zipmap (hashes before Redis 2.6) is a count byte, then for each pair
// the field's length and bytes, the value's length, a count of free
// bytes, the value and the free bytes, and a 0xff terminator. Lengths are
// one byte below 254, or 254 and 4 bytes little endian.
func zipmapStrings(b []byte) ([]string, error) {
	if len(b) < 2 || b[len(b)-1] != 0xff {
		return nil, ErrFormat
	}
	end := len(b) - 1
	p := 1
	readLen := func() (int, bool) {
		if p >= end {
			return 0, false
		}
		switch c := b[p]; {
		case c < 254:
			p++
			return int(c), true
		case c == 254 && end-p > 4:
			n := binary.LittleEndian.Uint32(b[p+1:])
			p += 5
			return int(n), uint64(n) <= uint64(end-p)
		}
		return 0, false
	}
	var out []string
	for p < end {
		n, ok := readLen()
		if !ok || n > end-p {
			return nil, ErrFormat
		}
		field := string(b[p : p+n])
		p += n
		n, ok = readLen()
		if !ok || p >= end {
			return nil, ErrFormat
		}
		free := int(b[p])
		p++
		if n+free > end-p {
			return nil, ErrFormat
		}
		out = append(out, field, string(b[p:p+n]))
		p += n + free
	}
	// As Redis: not empty, and the count byte right unless 254 (unknown).
	if len(out) == 0 || b[0] != 254 && int(b[0]) != len(out)/2 {
		return nil, ErrFormat
	}
	return out, nil
}
