package rdb

import (
	"encoding/binary"
	"iter"
	"math"
	"slices"
	"strconv"
)

// Version is the RDB version of the payloads: Redis 7.0's.
const Version = 10

// Object type bytes.
const (
	typeString           = 0
	typeList             = 1
	typeSet              = 2
	typeZSet             = 3
	typeHash             = 4
	typeZSet2            = 5
	typeModule           = 6
	typeModule2          = 7
	typeHashZipmap       = 9
	typeListZiplist      = 10
	typeSetIntset        = 11
	typeZSetZiplist      = 12
	typeHashZiplist      = 13
	typeListQuicklist    = 14
	typeStreamListpacks  = 15
	typeHashListpack     = 16
	typeZSetListpack     = 17
	typeListQuicklist2   = 18
	typeStreamListpacks2 = 19
)

// Special string encodings: the low six bits of a length byte 11xxxxxx.
const (
	encInt8  = 0
	encInt16 = 1
	encInt32 = 2
	encLZF   = 3
)

// Quicklist node containers.
const (
	containerPlain  = 1
	containerPacked = 2
)

const (
	// quicklistNodeBytes is the listpack size of a list node, Redis's
	// list-max-listpack-size -2.
	quicklistNodeBytes = 8192
	// plainThreshold is the element size from which Redis 7.0 stores a
	// list element in a node of its own, outside a listpack.
	plainThreshold = 1 << 30
)

// Seal appends the footer to an object appended by one of the Append
// functions to an empty slice, making it a DUMP payload: the RDB version
// and the CRC64 of everything before the CRC, both little endian.
func Seal(obj []byte) []byte {
	obj = binary.LittleEndian.AppendUint16(obj, Version)
	return binary.LittleEndian.AppendUint64(obj, CRC64(0, obj))
}

// AppendRawString appends s as an RDB string without a type byte, as
// Redis writes a function library's code in FUNCTION DUMP.
func AppendRawString(dst []byte, s string) []byte {
	return appendStr(dst, s)
}

// AppendString appends a string object.
func AppendString(dst []byte, s string) []byte {
	return appendStr(append(dst, typeString), s)
}

// AppendList appends a list of elements as a quicklist of listpacks of
// up to 8 KB each.
func AppendList(dst []byte, elems iter.Seq[string]) []byte {
	type node struct {
		plain string // an element too large for a listpack
		lp    []byte
	}
	var nodes []node
	var lp lpWriter
	for e := range elems {
		if len(e) >= plainThreshold {
			if lp.n > 0 {
				nodes = append(nodes, node{lp: lp.finish()})
				lp = lpWriter{}
			}
			nodes = append(nodes, node{plain: e})
			continue
		}
		// Redis 7.0.15's _quicklistNodeAllowInsert, for RPUSH: the node's
		// listpack bytes (with its end byte), the element's length and 8
		// must stay within 8 KB.
		if lp.n > 0 && len(lp.b)+1+len(e)+8 > quicklistNodeBytes {
			nodes = append(nodes, node{lp: lp.finish()})
			lp = lpWriter{}
		}
		lp.add(e)
	}
	if lp.n > 0 {
		nodes = append(nodes, node{lp: lp.finish()})
	}
	dst = append(dst, typeListQuicklist2)
	dst = appendLen(dst, uint64(len(nodes)))
	for _, nd := range nodes {
		if nd.lp == nil {
			dst = appendLen(dst, containerPlain)
			dst = appendStr(dst, nd.plain)
		} else {
			dst = appendLen(dst, containerPacked)
			dst = appendStr(dst, nd.lp)
		}
	}
	return dst
}

// AppendSet appends a set of n members: an intset when intset is set and
// every member is an integer, else a plain set.
func AppendSet(dst []byte, n int, members iter.Seq[string], intset bool) []byte {
	if intset {
		if b, ok := makeIntset(n, members); ok {
			return appendStr(append(dst, typeSetIntset), b)
		}
	}
	dst = appendLen(append(dst, typeSet), uint64(n))
	for m := range members {
		dst = appendStr(dst, m)
	}
	return dst
}

// makeIntset builds an intset blob: encoding width and count (4 bytes
// each, little endian), then the values in ascending order.
func makeIntset(n int, members iter.Seq[string]) ([]byte, bool) {
	vals := make([]int64, 0, n)
	width := 2
	for m := range members {
		v, ok := parseInt(m)
		if !ok {
			return nil, false
		}
		switch {
		case v < math.MinInt32 || v > math.MaxInt32:
			width = 8
		case (v < math.MinInt16 || v > math.MaxInt16) && width < 4:
			width = 4
		}
		vals = append(vals, v)
	}
	slices.Sort(vals)
	b := make([]byte, 8, 8+width*len(vals))
	binary.LittleEndian.PutUint32(b, uint32(width))
	binary.LittleEndian.PutUint32(b[4:], uint32(len(vals)))
	for _, v := range vals {
		switch width {
		case 2:
			b = binary.LittleEndian.AppendUint16(b, uint16(v))
		case 4:
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		default:
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
	}
	return b, true
}

// AppendHash appends a hash of n fields: a listpack of fields and values
// when listpack is set, else a plain hash.
func AppendHash(dst []byte, n int, pairs iter.Seq2[string, string], listpack bool) []byte {
	if listpack {
		var lp lpWriter
		for f, v := range pairs {
			lp.add(f)
			lp.add(v)
		}
		return appendStr(append(dst, typeHashListpack), lp.finish())
	}
	dst = appendLen(append(dst, typeHash), uint64(n))
	for f, v := range pairs {
		dst = appendStr(dst, f)
		dst = appendStr(dst, v)
	}
	return dst
}

// AppendZSet appends a sorted set of n members, given in ascending order:
// a listpack of members and scores when listpack is set, else a ZSET_2
// with binary scores, written from the highest as Redis does.
func AppendZSet(dst []byte, n int, items iter.Seq2[string, float64], listpack bool) []byte {
	if listpack {
		var lp lpWriter
		var buf []byte
		for m, s := range items {
			lp.add(m)
			buf = formatScore(buf[:0], s)
			lp.add(string(buf))
		}
		return appendStr(append(dst, typeZSetListpack), lp.finish())
	}
	type item struct {
		m string
		s float64
	}
	all := make([]item, 0, n)
	for m, s := range items {
		all = append(all, item{m, s})
	}
	dst = appendLen(append(dst, typeZSet2), uint64(len(all)))
	for i := len(all) - 1; i >= 0; i-- {
		dst = appendStr(dst, all[i].m)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(all[i].s))
	}
	return dst
}

// formatScore writes a score as Redis 7.0.15's zzlInsertAt puts one in a
// listpack: a score that double2ll converts to a long long without loss
// (an integer of magnitude up to 2^62, -0 included, which becomes 0) as an
// integer, others as d2string does ("inf", "-inf" or %.17g).
func formatScore(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "nan"...)
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	case f >= -(1<<62) && f <= 1<<62 && f == math.Trunc(f):
		return strconv.AppendInt(dst, int64(f), 10)
	}
	return strconv.AppendFloat(dst, f, 'g', 17, 64)
}

// appendLen appends an RDB length: 6 bits, 14 bits, or a marker byte and
// a 32- or 64-bit big-endian number.
func appendLen(dst []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(dst, byte(n))
	case n < 1<<14:
		return append(dst, 0x40|byte(n>>8), byte(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0x80), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0x81), n)
}

// appendStr appends a string as Redis writes one: a short integer as an
// int8/16/32, a string over 20 bytes LZF-compressed when that saves at
// least 4 bytes and compression is on (SetCompression), anything else as
// its length and bytes.
func appendStr[T string | []byte](dst []byte, s T) []byte {
	if len(s) <= 11 {
		if v, ok := parseInt(s); ok && v >= math.MinInt32 && v <= math.MaxInt32 {
			switch {
			case v >= math.MinInt8 && v <= math.MaxInt8:
				return append(dst, 0xc0|encInt8, byte(v))
			case v >= math.MinInt16 && v <= math.MaxInt16:
				return binary.LittleEndian.AppendUint16(append(dst, 0xc0|encInt16), uint16(v))
			}
			return binary.LittleEndian.AppendUint32(append(dst, 0xc0|encInt32), uint32(v))
		}
	}
	if len(s) > 20 && !compressionOff.Load() {
		if c := lzfCompress(s, len(s)-4); c != nil {
			dst = append(dst, 0xc0|encLZF)
			dst = appendLen(dst, uint64(len(c)))
			dst = appendLen(dst, uint64(len(s)))
			return append(dst, c...)
		}
	}
	return append(appendLen(dst, uint64(len(s))), s...)
}

// parseInt parses s as Redis's string2ll does: an optional '-', no
// leading zeros, no other characters, within 64 bits.
func parseInt[T string | []byte](s T) (int64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	if len(s) == 1 && s[0] == '0' {
		return 0, true
	}
	i, neg := 0, false
	if s[0] == '-' {
		neg, i = true, 1
	}
	if i >= len(s) || s[i] < '1' || s[i] > '9' {
		return 0, false
	}
	var v uint64
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}
