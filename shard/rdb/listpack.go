package rdb

import (
	"encoding/binary"
	"math"
	"strconv"
)

// A listpack is a 4-byte total size and a 2-byte entry count (65535 when
// unknown), both little endian, the entries, and a 0xff terminator. Each
// entry is an encoding byte, its data, and its own length written so it
// can be read backwards ("backlen"). Encodings:
//
//	0xxxxxxx                 7-bit unsigned integer
//	10xxxxxx                 string of up to 63 bytes
//	110xxxxx xxxxxxxx        13-bit signed integer
//	1110xxxx xxxxxxxx        string of up to 4095 bytes (length big endian)
//	11110000 + 4 bytes       string, 32-bit length
//	11110001..11110100       16-, 24-, 32-, 64-bit signed integer
const (
	lpHeader     = 6
	lpEOF        = 0xff
	lpUnknownLen = 65535
)

// lpWriter builds a listpack.
type lpWriter struct {
	b []byte
	n int
}

// add appends s, as an integer entry when it reads as one.
func (w *lpWriter) add(s string) {
	if w.b == nil {
		w.b = make([]byte, lpHeader, 64)
	}
	start := len(w.b)
	if v, ok := parseInt(s); ok {
		w.b = lpAppendInt(w.b, v)
	} else {
		switch n := len(s); {
		case n < 1<<6:
			w.b = append(w.b, 0x80|byte(n))
		case n < 1<<12:
			w.b = append(w.b, 0xe0|byte(n>>8), byte(n))
		default:
			w.b = binary.LittleEndian.AppendUint32(append(w.b, 0xf0), uint32(n))
		}
		w.b = append(w.b, s...)
	}
	w.b = lpAppendBacklen(w.b, len(w.b)-start)
	w.n++
}

// finish terminates the listpack and returns it.
func (w *lpWriter) finish() []byte {
	if w.b == nil {
		w.b = make([]byte, lpHeader)
	}
	w.b = append(w.b, lpEOF)
	binary.LittleEndian.PutUint32(w.b, uint32(len(w.b)))
	binary.LittleEndian.PutUint16(w.b[4:], uint16(min(w.n, lpUnknownLen)))
	return w.b
}

func lpAppendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 127:
		return append(b, byte(v))
	case v >= -4096 && v <= 4095:
		u := uint16(v) & 0x1fff
		return append(b, 0xc0|byte(u>>8), byte(u))
	case v >= math.MinInt16 && v <= math.MaxInt16:
		return binary.LittleEndian.AppendUint16(append(b, 0xf1), uint16(v))
	case v >= -1<<23 && v < 1<<23:
		return append(b, 0xf2, byte(v), byte(v>>8), byte(v>>16))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return binary.LittleEndian.AppendUint32(append(b, 0xf3), uint32(v))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xf4), uint64(v))
}

// lpBacklenSize is how many bytes Redis uses to store an entry length l.
func lpBacklenSize(l int) int {
	switch {
	case l <= 127:
		return 1
	case l < 16383:
		return 2
	case l < 2097151:
		return 3
	case l < 268435455:
		return 4
	}
	return 5
}

// lpAppendBacklen appends l in lpBacklenSize(l) bytes: seven bits a byte,
// most significant first, every byte but the first with its top bit set,
// so that reading backwards stops at the first byte.
func lpAppendBacklen(b []byte, l int) []byte {
	n := lpBacklenSize(l)
	for i := n - 1; i >= 0; i-- {
		c := byte(l >> (7 * i) & 127)
		if i < n-1 {
			c |= 128
		}
		b = append(b, c)
	}
	return b
}

// lpEach calls fn with every entry of listpack b in order: a string, or
// an integer when isInt. It rejects a malformed listpack. The bytes given
// to fn alias b.
func lpEach(b []byte, fn func(s []byte, v int64, isInt bool) error) (int, error) {
	if len(b) < lpHeader+1 || binary.LittleEndian.Uint32(b) != uint32(len(b)) || b[len(b)-1] != lpEOF {
		return 0, ErrFormat
	}
	want := int(binary.LittleEndian.Uint16(b[4:]))
	end := len(b) - 1
	p, count := lpHeader, 0
	for p < end {
		start := p
		c := b[p]
		var s []byte
		var v int64
		isInt := true
		need := func(n int) bool { return n <= end-p }
		switch {
		case c&0x80 == 0:
			v, p = int64(c), p+1
		case c&0xc0 == 0x80:
			n := int(c & 0x3f)
			if !need(1 + n) {
				return 0, ErrFormat
			}
			s, p, isInt = b[p+1:p+1+n], p+1+n, false
		case c&0xe0 == 0xc0:
			if !need(2) {
				return 0, ErrFormat
			}
			u := int64(c&0x1f)<<8 | int64(b[p+1])
			if u >= 1<<12 {
				u -= 1 << 13
			}
			v, p = u, p+2
		case c&0xf0 == 0xe0:
			if !need(2) {
				return 0, ErrFormat
			}
			n := int(c&0x0f)<<8 | int(b[p+1])
			if !need(2 + n) {
				return 0, ErrFormat
			}
			s, p, isInt = b[p+2:p+2+n], p+2+n, false
		case c == 0xf0:
			if !need(5) {
				return 0, ErrFormat
			}
			n := uint64(binary.LittleEndian.Uint32(b[p+1:]))
			if n > uint64(end-p-5) {
				return 0, ErrFormat
			}
			s, p, isInt = b[p+5:p+5+int(n)], p+5+int(n), false
		case c == 0xf1:
			if !need(3) {
				return 0, ErrFormat
			}
			v, p = int64(int16(binary.LittleEndian.Uint16(b[p+1:]))), p+3
		case c == 0xf2:
			if !need(4) {
				return 0, ErrFormat
			}
			u := uint32(b[p+1]) | uint32(b[p+2])<<8 | uint32(b[p+3])<<16
			v, p = int64(int32(u<<8)>>8), p+4
		case c == 0xf3:
			if !need(5) {
				return 0, ErrFormat
			}
			v, p = int64(int32(binary.LittleEndian.Uint32(b[p+1:]))), p+5
		case c == 0xf4:
			if !need(9) {
				return 0, ErrFormat
			}
			v, p = int64(binary.LittleEndian.Uint64(b[p+1:])), p+9
		default:
			return 0, ErrFormat
		}
		l := p - start
		bl := lpBacklenSize(l)
		if bl > end-p || !lpBacklenIs(b[p:p+bl], l) {
			return 0, ErrFormat
		}
		p += bl
		count++
		if err := fn(s, v, isInt); err != nil {
			return 0, err
		}
	}
	if want != lpUnknownLen && want != count {
		return 0, ErrFormat
	}
	return count, nil
}

// lpBacklenIs reports whether the backlen bytes b encode l.
func lpBacklenIs(b []byte, l int) bool {
	v := 0
	for i, c := range b {
		if (i > 0) != (c&128 != 0) {
			return false
		}
		v = v<<7 | int(c&127)
	}
	return v == l
}

// lpStrings returns the entries of listpack b as strings.
func lpStrings(b []byte, out []string) ([]string, error) {
	_, err := lpEach(b, func(s []byte, v int64, isInt bool) error {
		if isInt {
			out = append(out, strconv.FormatInt(v, 10))
		} else {
			out = append(out, string(s))
		}
		return nil
	})
	return out, err
}
