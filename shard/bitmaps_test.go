package shard

import (
	"math/big"
	"math/rand"
	"strconv"
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

const (
	bitErrOffset = "-ERR bit offset is not an integer or out of range\r\n"
	bitErrType   = "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n"
)

func TestSetBitGetBit(t *testing.T) {
	strRun(t, New(0), 0, []strCase{
		{[]string{"SETBIT", "k", "7", "1"}, ":0\r\n"},
		{[]string{"GET", "k"}, "$1\r\n\x01\r\n"},
		{[]string{"SETBIT", "k", "7", "0"}, ":1\r\n"},
		{[]string{"SETBIT", "k", "7", "0"}, ":0\r\n"},
		{[]string{"SETBIT", "k", "0", "1"}, ":0\r\n"},
		{[]string{"GETBIT", "k", "0"}, ":1\r\n"},
		{[]string{"GETBIT", "k", "1"}, ":0\r\n"},
		{[]string{"GETBIT", "k", "100"}, ":0\r\n"},
		{[]string{"SETBIT", "k", "23", "1"}, ":0\r\n"},
		{[]string{"GET", "k"}, "$3\r\n\x80\x00\x01\r\n"},
		{[]string{"SETBIT", "z", "100", "0"}, ":0\r\n"}, // clearing still grows
		{[]string{"STRLEN", "z"}, ":13\r\n"},
		{[]string{"GETBIT", "nosuch", "5"}, ":0\r\n"},
		{[]string{"SETBIT", "k", "-1", "1"}, bitErrOffset},
		{[]string{"SETBIT", "k", "x", "1"}, bitErrOffset},
		{[]string{"SETBIT", "k", "4294967296", "1"}, bitErrOffset},
		{[]string{"GETBIT", "k", "4294967296"}, bitErrOffset},
		{[]string{"SETBIT", "k", "1", "2"}, "-ERR bit is not an integer or out of range\r\n"},
		{[]string{"SETBIT", "k", "1", "-1"}, "-ERR bit is not an integer or out of range\r\n"},
		{[]string{"SETBIT", "k", "1", "x"}, "-ERR bit is not an integer or out of range\r\n"},
	})
}

func TestBitCount(t *testing.T) {
	s := New(0)
	run(t, s, 0, "SET", "k", "foobar")
	run(t, s, 0, "SET", "e", "")
	strRun(t, s, 0, []strCase{
		{[]string{"BITCOUNT", "k"}, ":26\r\n"},
		{[]string{"BITCOUNT", "k", "0", "0"}, ":4\r\n"},
		{[]string{"BITCOUNT", "k", "1", "1", "BYTE"}, ":6\r\n"},
		{[]string{"BITCOUNT", "k", "5", "30", "BIT"}, ":17\r\n"},
		{[]string{"BITCOUNT", "k", "5", "30", "bit"}, ":17\r\n"},
		{[]string{"BITCOUNT", "k", "-2", "-1"}, ":7\r\n"},
		{[]string{"BITCOUNT", "k", "-1", "-2"}, ":0\r\n"},
		{[]string{"BITCOUNT", "k", "-100", "100"}, ":26\r\n"},
		{[]string{"BITCOUNT", "k", "-8", "-1", "BIT"}, ":4\r\n"},
		{[]string{"BITCOUNT", "k", "0", "9223372036854775807"}, ":26\r\n"},
		{[]string{"BITCOUNT", "k", "-9223372036854775808", "-1", "BIT"}, ":26\r\n"},
		{[]string{"BITCOUNT", "k", "1"}, strSyntax},
		{[]string{"BITCOUNT", "k", "1", "2", "3"}, strSyntax},
		{[]string{"BITCOUNT", "k", "1", "2", "BITS"}, strSyntax},
		{[]string{"BITCOUNT", "k", "a", "b"}, strNotInt},
		// Redis 7.0 answers 0 for a missing key before parsing the range.
		{[]string{"BITCOUNT", "nosuch", "1"}, ":0\r\n"},
		{[]string{"BITCOUNT", "nosuch", "a", "b"}, ":0\r\n"},
		{[]string{"BITCOUNT", "e"}, ":0\r\n"},
		{[]string{"BITCOUNT", "e", "0", "-1", "BIT"}, ":0\r\n"},
	})
}

func TestBitPos(t *testing.T) {
	s := New(0)
	run(t, s, 0, "SET", "k", "\xff\xf0\x00")
	run(t, s, 0, "SET", "ones", "\xff\xff")
	run(t, s, 0, "SET", "e", "")
	strRun(t, s, 0, []strCase{
		{[]string{"BITPOS", "k", "0"}, ":12\r\n"},
		{[]string{"BITPOS", "k", "1"}, ":0\r\n"},
		{[]string{"BITPOS", "k", "0", "2"}, ":16\r\n"},
		{[]string{"BITPOS", "k", "1", "2"}, ":-1\r\n"},
		{[]string{"BITPOS", "k", "1", "1"}, ":8\r\n"},
		{[]string{"BITPOS", "k", "0", "0", "0"}, ":-1\r\n"},
		{[]string{"BITPOS", "k", "0", "0", "1"}, ":12\r\n"},
		{[]string{"BITPOS", "k", "0", "0", "11", "BIT"}, ":-1\r\n"},
		{[]string{"BITPOS", "k", "0", "0", "12", "BIT"}, ":12\r\n"},
		{[]string{"BITPOS", "k", "1", "5", "6", "BIT"}, ":5\r\n"},
		{[]string{"BITPOS", "k", "1", "-10", "-1", "BIT"}, ":-1\r\n"},
		{[]string{"BITPOS", "k", "0", "9", "BIT"}, strNotInt}, // BIT needs an end
		{[]string{"BITPOS", "k", "1", "10", "2"}, ":-1\r\n"},
		{[]string{"BITPOS", "k", "0", "100"}, ":-1\r\n"},
		{[]string{"BITPOS", "ones", "0"}, ":16\r\n"},
		{[]string{"BITPOS", "ones", "0", "0", "-1"}, ":-1\r\n"},
		{[]string{"BITPOS", "ones", "0", "3", "-1", "BIT"}, ":-1\r\n"},
		{[]string{"BITPOS", "ones", "0", "3"}, ":-1\r\n"},
		{[]string{"BITPOS", "ones", "0", "1"}, ":16\r\n"},
		{[]string{"BITPOS", "k", "2"}, "-ERR The bit argument must be 1 or 0.\r\n"},
		{[]string{"BITPOS", "k", "x"}, strNotInt},
		{[]string{"BITPOS", "k", "1", "x"}, strNotInt},
		{[]string{"BITPOS", "k", "1", "0", "1", "BITS"}, strSyntax},
		{[]string{"BITPOS", "k", "1", "0", "1", "BIT", "3"}, strSyntax},
		{[]string{"BITPOS", "nosuch", "0"}, ":0\r\n"},
		{[]string{"BITPOS", "nosuch", "1"}, ":-1\r\n"},
		{[]string{"BITPOS", "nosuch", "0", "x"}, ":0\r\n"},
		{[]string{"BITPOS", "nosuch", "2"}, "-ERR The bit argument must be 1 or 0.\r\n"},
		{[]string{"BITPOS", "e", "0"}, ":-1\r\n"},
	})
}

// bitModelPos is BITPOS written out bit by bit from Redis's semantics.
func bitModelPos(s string, bit byte, start, end int64, unit string, given int) int64 {
	n := int64(len(s))
	isBit := unit == "BIT"
	total := n
	if isBit {
		total *= 8
	}
	if given < 2 {
		end = total - 1
	}
	if given == 0 {
		start = 0
	}
	start, end = bitClamp(start, end, total)
	if start > end {
		return -1
	}
	if !isBit {
		start, end = start*8, end*8+7
	}
	for i := start; i <= end; i++ {
		if byte(bitAt([]byte(s), uint64(i))) == bit {
			return i
		}
	}
	if bit == 0 && given < 2 {
		return (end/8 + 1) * 8
	}
	return -1
}

// TestBitCountPosModel compares BITCOUNT and BITPOS with bit-by-bit
// models on random strings and ranges, exercising the word-at-a-time paths.
func TestBitCountPosModel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	s := New(0)
	for iter := 0; iter < 3000; iter++ {
		b := make([]byte, rng.Intn(40))
		for i := range b {
			switch rng.Intn(4) {
			case 0:
				b[i] = 0
			case 1:
				b[i] = 0xff
			default:
				b[i] = byte(rng.Intn(256))
			}
		}
		val := string(b)
		s.DB(0).set([]byte("k"), val, false, 0)
		lim := int64(len(b))*8 + 10
		start, end := rng.Int63n(2*lim)-lim, rng.Int63n(2*lim)-lim
		unit := []string{"BYTE", "BIT"}[rng.Intn(2)]
		// BITCOUNT.
		total := int64(len(b))
		if unit == "BIT" {
			total *= 8
		}
		var want int64
		if !(start < 0 && end < 0 && start > end) {
			lo, hi := bitClamp(start, end, total)
			if unit == "BYTE" && lo <= hi {
				lo, hi = lo*8, hi*8+7
			}
			for i := lo; i <= hi; i++ {
				want += int64(bitAt(b, uint64(i)))
			}
		}
		got := run(t, s, 0, "BITCOUNT", "k", strconv.FormatInt(start, 10), strconv.FormatInt(end, 10), unit)
		if got != ":"+strconv.FormatInt(want, 10)+"\r\n" {
			t.Fatalf("BITCOUNT %x %d %d %s = %q, want %d", b, start, end, unit, got, want)
		}
		// BITPOS with 0, 1 or 2 range arguments.
		bit := byte(rng.Intn(2))
		given := rng.Intn(3)
		args := []string{"BITPOS", "k", strconv.Itoa(int(bit))}
		if given >= 1 {
			args = append(args, strconv.FormatInt(start, 10))
		}
		if given == 2 {
			args = append(args, strconv.FormatInt(end, 10), unit)
		}
		u := "BYTE"
		if given == 2 {
			u = unit
		}
		want = bitModelPos(val, bit, start, end, u, given)
		if got := run(t, s, 0, args...); got != ":"+strconv.FormatInt(want, 10)+"\r\n" {
			t.Fatalf("%q on %x = %q, want %d", args, b, got, want)
		}
	}
}

func TestBitOp(t *testing.T) {
	s := New(0)
	run(t, s, 0, "SET", "a", "\xff\x0f\xaa")
	run(t, s, 0, "SET", "b", "\x0f\xf0")
	run(t, s, 0, "SET", "c", "\x01")
	strRun(t, s, 0, []strCase{
		{[]string{"BITOP", "AND", "d", "a", "b", "c"}, ":3\r\n"},
		{[]string{"GET", "d"}, "$3\r\n\x01\x00\x00\r\n"},
		{[]string{"BITOP", "AND", "d", "a", "b"}, ":3\r\n"},
		{[]string{"GET", "d"}, "$3\r\n\x0f\x00\x00\r\n"},
		{[]string{"BITOP", "OR", "d", "a", "b", "c"}, ":3\r\n"},
		{[]string{"GET", "d"}, "$3\r\n\xff\xff\xaa\r\n"},
		{[]string{"BITOP", "XOR", "d", "a", "b", "c"}, ":3\r\n"},
		{[]string{"GET", "d"}, "$3\r\n\xf1\xff\xaa\r\n"},
		{[]string{"BITOP", "not", "d", "b"}, ":2\r\n"},
		{[]string{"GET", "d"}, "$2\r\n\xf0\x0f\r\n"},
		{[]string{"BITOP", "AND", "d", "a", "nosuch"}, ":3\r\n"},
		{[]string{"GET", "d"}, "$3\r\n\x00\x00\x00\r\n"},
		{[]string{"BITOP", "AND", "d", "nosuch", "nosuch2"}, ":0\r\n"},
		{[]string{"EXISTS", "d"}, ":0\r\n"},
		{[]string{"BITOP", "NOT", "d", "a", "b"}, "-ERR BITOP NOT must be called with a single source key.\r\n"},
		{[]string{"BITOP", "NAND", "d", "a"}, strSyntax},
		{[]string{"BITOP", "AND", "a", "a", "b"}, ":3\r\n"},
		{[]string{"GET", "a"}, "$3\r\n\x0f\x00\x00\r\n"},
	})
	// The destination may hold any type and loses its TTL.
	s = strWithHash()
	run(t, s, 0, "SET", "a", "x")
	run(t, s, 0, "SETEX", "t", "100", "y")
	strRun(t, s, 0, []strCase{
		{[]string{"BITOP", "OR", "h", "a"}, ":1\r\n"},
		{[]string{"GET", "h"}, "$1\r\nx\r\n"},
		{[]string{"BITOP", "OR", "t", "a"}, ":1\r\n"},
	})
	if _, ok := s.DB(0).ttl([]byte("t")); ok {
		t.Fatal("BITOP kept the destination's TTL")
	}
}

func TestBitOpAcrossShards(t *testing.T) {
	shards := []*Shard{New(0), New(1), New(2), New(3)}
	k := strKeysOn("bm", 4, len(shards))
	strAcross(t, shards, wire.RESP2, "MSET", k[0], "\xff\x0f", k[1], "\x0f\xff\x01")
	if got := strAcross(t, shards, wire.RESP2, "BITOP", "XOR", k[2], k[0], k[1], k[3]); got != ":3\r\n" {
		t.Fatalf("BITOP across shards = %q", got)
	}
	if got := strAcross(t, shards, wire.RESP2, "GET", k[2]); got != "$3\r\n\xf0\xf0\x01\r\n" {
		t.Fatalf("BITOP result = %q", got)
	}
	owner := shards[Owner([]byte(k[2]), len(shards))]
	if _, ok := owner.DB(0).strs[k[2]]; !ok {
		t.Fatal("BITOP stored the destination on the wrong shard")
	}
}

func TestBitField(t *testing.T) {
	s := New(0)
	strRun(t, s, 0, []strCase{
		{[]string{"BITFIELD", "k", "SET", "u8", "0", "255"}, "*1\r\n:0\r\n"},
		{[]string{"BITFIELD", "k", "GET", "u8", "0", "GET", "i8", "0", "GET", "u4", "0", "GET", "i4", "4", "GET", "u1", "7"},
			"*5\r\n:255\r\n:-1\r\n:15\r\n:-1\r\n:1\r\n"},
		{[]string{"BITFIELD", "k", "INCRBY", "u8", "0", "1"}, "*1\r\n:0\r\n"},
		{[]string{"BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "300", "INCRBY", "i8", "0", "-300"},
			"*2\r\n:255\r\n:-128\r\n"},
		{[]string{"BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "300", "GET", "u8", "0"},
			"*2\r\n$-1\r\n:128\r\n"},
		{[]string{"BITFIELD", "k", "SET", "i8", "#1", "-100", "GET", "i8", "#1", "GET", "u8", "8"},
			"*3\r\n:0\r\n:-100\r\n:156\r\n"},
		{[]string{"BITFIELD", "k", "SET", "u8", "#0", "1", "SET", "u8", "#2", "2", "GET", "u16", "#0", "GET", "u24", "0"},
			"*4\r\n:128\r\n:0\r\n:412\r\n:105474\r\n"},
		{[]string{"GET", "k"}, "$3\r\n\x01\x9c\x02\r\n"},
		{[]string{"BITFIELD", "k", "OVERFLOW", "WRAP", "INCRBY", "i8", "0", "-1000"}, "*1\r\n:25\r\n"},
		{[]string{"BITFIELD", "k", "SET", "u8", "0", "-1"}, "*1\r\n:25\r\n"},
		{[]string{"BITFIELD", "k", "OVERFLOW", "FAIL", "SET", "u8", "0", "-1", "SET", "u8", "0", "256", "SET", "u8", "0", "255"},
			"*3\r\n$-1\r\n$-1\r\n:255\r\n"},
		{[]string{"BITFIELD", "k", "OVERFLOW", "SAT", "SET", "i8", "0", "200", "SET", "i8", "0", "-200"},
			"*2\r\n:-1\r\n:127\r\n"},
		{[]string{"BITFIELD", "k", "SET", "i64", "0", "-1", "GET", "i64", "0", "GET", "u63", "0", "GET", "u63", "1"},
			"*4\r\n:-9179459741464657920\r\n:-1\r\n:9223372036854775807\r\n:9223372036854775807\r\n"},
		{[]string{"BITFIELD", "k", "INCRBY", "i64", "0", "-9223372036854775807", "INCRBY", "i64", "0", "-1"},
			"*2\r\n:-9223372036854775808\r\n:9223372036854775807\r\n"},
		{[]string{"BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "i64", "0", "-1", "INCRBY", "i64", "0", "9223372036854775807"},
			"*2\r\n:9223372036854775806\r\n:9223372036854775807\r\n"},
		{[]string{"BITFIELD", "k", "SET", "u63", "0", "9223372036854775807", "INCRBY", "u63", "0", "1"},
			"*2\r\n:4611686018427387903\r\n:0\r\n"},
		{[]string{"BITFIELD", "k", "SET", "i8", "0", "-9223372036854775808", "OVERFLOW", "SAT", "SET", "i8", "0", "-9223372036854775808"},
			"*2\r\n:0\r\n:0\r\n"}, // Redis saturates the out-of-range minimum to the maximum
		{[]string{"BITFIELD", "k", "GET", "u8", "100"}, "*1\r\n:0\r\n"},
		{[]string{"BITFIELD", "k"}, "*0\r\n"},
		{[]string{"BITFIELD", "k", "OVERFLOW", "FAIL"}, "*0\r\n"},
		// Reads do not create the key; failed writes still size it.
		{[]string{"BITFIELD", "n", "GET", "u8", "0"}, "*1\r\n:0\r\n"},
		{[]string{"EXISTS", "n"}, ":0\r\n"},
		{[]string{"BITFIELD", "n", "OVERFLOW", "FAIL", "INCRBY", "u2", "100", "5"}, "*1\r\n$-1\r\n"},
		{[]string{"STRLEN", "n"}, ":13\r\n"},
		// Errors.
		{[]string{"BITFIELD", "k", "GET"}, strSyntax},
		{[]string{"BITFIELD", "k", "GET", "u8"}, strSyntax},
		{[]string{"BITFIELD", "k", "GET", "u8", "0", "FOO"}, strSyntax},
		{[]string{"BITFIELD", "k", "SET", "u8", "0"}, strSyntax},
		{[]string{"BITFIELD", "k", "GET", "u64", "0"}, bitErrType},
		{[]string{"BITFIELD", "k", "GET", "i65", "0"}, bitErrType},
		{[]string{"BITFIELD", "k", "GET", "i0", "0"}, bitErrType},
		{[]string{"BITFIELD", "k", "GET", "U8", "0"}, bitErrType},
		{[]string{"BITFIELD", "k", "GET", "", "0"}, bitErrType},
		{[]string{"BITFIELD", "k", "GET", "i8\x00zz", "0"}, "*1\r\n:127\r\n"},
		{[]string{"BITFIELD", "k", "GET", "u8", "-1"}, bitErrOffset},
		{[]string{"BITFIELD", "k", "GET", "u8", "#-1"}, bitErrOffset},
		{[]string{"BITFIELD", "k", "GET", "u8", "#"}, bitErrOffset},
		{[]string{"BITFIELD", "k", "GET", "u8", "4294967296"}, bitErrOffset},
		{[]string{"BITFIELD", "k", "GET", "u8", "#536870912"}, bitErrOffset},
		{[]string{"BITFIELD", "k", "GET", "u8", "#2305843009213693952"}, "*1\r\n:127\r\n"}, // wraps to 0, as in Redis
		{[]string{"BITFIELD", "k", "SET", "u8", "0", "x"}, strNotInt},
		{[]string{"BITFIELD", "k", "OVERFLOW", "FOO", "GET", "u8", "0"}, "-ERR Invalid OVERFLOW type specified\r\n"},
		{[]string{"BITFIELD", "k", "OVERFLOW"}, strSyntax},
		{[]string{"BITFIELD_RO", "k", "GET", "u8", "0", "GET", "u16", "#1"}, "*2\r\n:127\r\n:0\r\n"},
		{[]string{"BITFIELD_RO", "k", "SET", "u8", "0", "1"}, "-ERR BITFIELD_RO only supports the GET subcommand\r\n"},
		{[]string{"BITFIELD_RO", "k", "GET", "u8", "0", "INCRBY", "u8", "0", "1"}, "-ERR BITFIELD_RO only supports the GET subcommand\r\n"},
		{[]string{"BITFIELD_RO", "k", "OVERFLOW", "SAT", "GET", "u8", "0"}, "*1\r\n:127\r\n"},
		{[]string{"BITFIELD_RO", "nosuch", "GET", "u8", "0"}, "*1\r\n:0\r\n"},
	})
}

// TestBitFieldOverflowModel checks the overflow rules against exact
// arithmetic for every width below 64 and values in the field's range.
func TestBitFieldOverflowModel(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for iter := 0; iter < 20000; iter++ {
		width := 1 + rng.Intn(63)
		behaviour := rng.Intn(3)
		incr := rng.Int63() >> rng.Intn(64)
		if rng.Intn(2) == 0 {
			incr = -incr
		}
		// Unsigned.
		limit := uint64(1)<<width - 1
		value := rng.Uint64() & limit
		sum := new(big.Int).Add(new(big.Int).SetUint64(value), big.NewInt(incr))
		wantOver := sum.Sign() < 0 || sum.Cmp(new(big.Int).SetUint64(limit)) > 0
		over, v := bfUnsignedOverflow(value, incr, width, behaviour)
		if over != wantOver {
			t.Fatalf("u%d %d%+d: overflow %v, want %v", width, value, incr, over, wantOver)
		}
		if over {
			wrapped := new(big.Int).And(sum, new(big.Int).SetUint64(limit)).Uint64()
			want := map[int]uint64{bfWrap: wrapped, bfSat: limit, bfFail: 0}[behaviour]
			if sum.Sign() < 0 && behaviour == bfSat {
				want = 0
			}
			if behaviour != bfFail && v != want {
				t.Fatalf("u%d %d%+d: got %d, want %d", width, value, incr, v, want)
			}
		}
		// Signed.
		hi := int64(1)<<(width-1) - 1
		lo := -hi - 1
		sv := int64(rng.Uint64()) >> (64 - width)
		ssum := new(big.Int).Add(big.NewInt(sv), big.NewInt(incr))
		wantOver = ssum.Cmp(big.NewInt(hi)) > 0 || ssum.Cmp(big.NewInt(lo)) < 0
		sover, sres := bfSignedOverflow(sv, incr, width, behaviour)
		if sover != wantOver {
			t.Fatalf("i%d %d%+d: overflow %v, want %v", width, sv, incr, sover, wantOver)
		}
		if sover && behaviour != bfFail {
			var want int64
			switch {
			case behaviour == bfSat && ssum.Sign() > 0:
				want = hi
			case behaviour == bfSat:
				want = lo
			default:
				m := new(big.Int).Lsh(big.NewInt(1), uint(width))
				w := new(big.Int).Mod(ssum, m)
				if w.Cmp(big.NewInt(hi)) > 0 {
					w.Sub(w, m)
				}
				want = w.Int64()
			}
			if sres != want {
				t.Fatalf("i%d %d%+d behaviour %d: got %d, want %d", width, sv, incr, behaviour, sres, want)
			}
		}
	}
}

func TestBitmapsWrongType(t *testing.T) {
	s := strWithHash()
	for _, args := range [][]string{
		{"SETBIT", "h", "1", "1"}, {"GETBIT", "h", "1"}, {"BITCOUNT", "h"}, {"BITCOUNT", "h", "1"},
		{"BITPOS", "h", "1"}, {"BITPOS", "h", "1", "x"}, {"BITOP", "AND", "d", "h"}, {"BITOP", "AND", "d", "x", "h"},
		{"BITFIELD", "h", "GET", "u8", "0"}, {"BITFIELD", "h", "SET", "u8", "0", "1"}, {"BITFIELD", "h"},
		{"BITFIELD_RO", "h", "GET", "u8", "0"},
	} {
		if got := run(t, s, 0, args...); got != strWrong {
			t.Errorf("%q: got %q", args, got)
		}
	}
	strRun(t, s, 0, []strCase{
		{[]string{"SETBIT", "h", "-1", "1"}, bitErrOffset},
		{[]string{"GETBIT", "h", "x"}, bitErrOffset},
		{[]string{"BITPOS", "h", "2"}, "-ERR The bit argument must be 1 or 0.\r\n"},
		{[]string{"BITFIELD", "h", "GET", "u64", "0"}, bitErrType},
		{[]string{"BITFIELD_RO", "h", "SET", "u8", "0", "1"}, "-ERR BITFIELD_RO only supports the GET subcommand\r\n"},
	})
}

func TestBitFieldRESP3(t *testing.T) {
	s := New(0)
	args := [][]byte{[]byte("BITFIELD"), []byte("k"), []byte("OVERFLOW"), []byte("FAIL"),
		[]byte("SET"), []byte("u8"), []byte("0"), []byte("999"), []byte("SET"), []byte("u8"), []byte("0"), []byte("9")}
	b := &Batch{Proto: wire.RESP3, Calls: []Call{{Cmd: Lookup("bitfield"), Args: args}}}
	s.Exec(b, 0)
	if got := string(b.Reply(0)); got != "*2\r\n_\r\n:0\r\n" {
		t.Fatalf("BITFIELD FAIL in RESP3 = %q", got)
	}
}
