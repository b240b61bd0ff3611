package shard

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// Bitmaps are plain strings read as bit arrays: bit 0 is the most
// significant bit of byte 0, as in Redis.

func init() {
	bitmap := func(name string, arity int, flags Flag, since, summary, complexity, syntax string, run func(*Ctx)) *Command {
		return &Command{Spec: Spec{Name: name, Arity: arity, Flags: flags, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "bitmap", Since: since, Summary: summary, Complexity: complexity, Syntax: syntax}, Run: run}
	}
	const bitfieldOps = "GET encoding offset|[OVERFLOW WRAP|SAT|FAIL] <SET encoding offset value|INCRBY encoding offset increment>"
	register(
		bitmap("setbit", 4, Write|DenyOOM, "2.2.0", "Sets or clears the bit at offset in the string value stored at key",
			"O(1)", "key offset value", cmdSetBit),
		bitmap("getbit", 3, ReadOnly|Fast, "2.2.0", "Returns the bit value at offset in the string value stored at key",
			"O(1)", "key offset", cmdGetBit),
		bitmap("bitcount", -2, ReadOnly, "2.6.0", "Count set bits in a string", "O(N)",
			"key [start end [BYTE|BIT]]", cmdBitCount),
		bitmap("bitpos", -3, ReadOnly, "2.8.7", "Find first bit set or clear in a string", "O(N)",
			"key bit [start [end [BYTE|BIT]]]", cmdBitPos),
		&Command{Spec: Spec{Name: "bitop", Arity: -4, Flags: Write | DenyOOM, FirstKey: 2, LastKey: -1, Step: 1,
			Group: "bitmap", Since: "2.6.0", Summary: "Perform bitwise operations between strings", Complexity: "O(N)",
			Syntax: "operation destkey key [key ...]"}, Run: cmdBitOp},
		bitmap("bitfield", -2, Write|DenyOOM, "3.2.0", "Perform arbitrary bitfield integer operations on strings",
			"O(1) for each subcommand specified", "key ["+bitfieldOps+" ["+bitfieldOps+" ...]]", cmdBitField),
		bitmap("bitfield_ro", -2, ReadOnly|Fast, "6.0.0",
			"Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
			"O(1) for each subcommand specified", "key [GET encoding offset [GET encoding offset ...]]", cmdBitFieldRO),
	)
}

// Error replies of the bitmap family.
const (
	errBitOffset    = "ERR bit offset is not an integer or out of range"
	errBitValue     = "ERR bit is not an integer or out of range"
	errBitArg       = "ERR The bit argument must be 1 or 0."
	errBitOpNot     = "ERR BITOP NOT must be called with a single source key."
	errBitfieldType = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
	errOverflowType = "ERR Invalid OVERFLOW type specified"
	errBitfieldRO   = "ERR BITFIELD_RO only supports the GET subcommand"
)

// bitOffset parses a bit offset. With hash, "#n" means n*width (BITFIELD's
// positional form). Offsets whose byte lies beyond proto-max-bulk-len are
// refused.
func (c *Ctx) bitOffset(arg []byte, hash bool, width int) (uint64, bool) {
	positional := hash && width > 0 && len(arg) > 0 && arg[0] == '#'
	if positional {
		arg = arg[1:]
	}
	n, ok := wire.ParseInt(arg)
	if positional {
		n = int64(uint64(n) * uint64(width)) // wraps like Redis's C
	}
	if !ok || n < 0 || n>>3 >= strMaxLen.Load() {
		c.Error(errBitOffset)
		return 0, false
	}
	return uint64(n), true
}

// bitAt returns bit i of b, 0 beyond its end.
func bitAt(b []byte, i uint64) uint64 {
	if i>>3 >= uint64(len(b)) {
		return 0
	}
	return uint64(b[i>>3]>>(7-i&7)) & 1
}

func cmdSetBit(c *Ctx) {
	off, ok := c.bitOffset(c.Args[2], false, 0)
	if !ok {
		return
	}
	on, ok := wire.ParseInt(c.Args[3])
	if !ok || on&^1 != 0 {
		c.Error(errBitValue)
		return
	}
	key := c.Args[1]
	s, _, ok := valueAt[string](c, key)
	if !ok {
		return
	}
	old := bitAt(strBytes(s), off)
	idx := off >> 3
	if idx < uint64(len(s)) && old == uint64(on) {
		c.noChange = true
		c.Int(int64(old)) // nothing changes
		return
	}
	b := make([]byte, max(uint64(len(s)), idx+1))
	copy(b, s)
	mask := byte(1) << (7 - off&7)
	if on == 1 {
		b[idx] |= mask
	} else {
		b[idx] &^= mask
	}
	c.store(key, strOwn(b), true)
	c.Int(int64(old))
}

func cmdGetBit(c *Ctx) {
	off, ok := c.bitOffset(c.Args[2], false, 0)
	if !ok {
		return
	}
	if s, _, ok := valueAt[string](c, c.Args[1]); ok {
		c.Int(int64(bitAt(strBytes(s), off)))
	}
}

// bitUnit parses BYTE or BIT; it replies a syntax error otherwise.
func (c *Ctx) bitUnit(arg []byte) (isBit, ok bool) {
	switch {
	case equalFold(arg, "bit"):
		return true, true
	case equalFold(arg, "byte"):
		return false, true
	}
	c.Error(ErrSyntax)
	return false, false
}

// bitClamp converts negative indexes and clamps them to [0, total-1], as
// BITCOUNT and BITPOS do. The range may come out empty (start > end).
func bitClamp(start, end, total int64) (int64, int64) {
	if start < 0 {
		start += total
	}
	if end < 0 {
		end += total
	}
	start, end = max(start, 0), max(end, 0)
	if end >= total {
		end = total - 1
	}
	return start, end
}

// bitPopcount counts the set bits of s.
func bitPopcount(s string) int64 {
	var n int
	for len(s) >= 8 {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(strBytes(s[:8])))
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		n += bits.OnesCount8(s[i])
	}
	return int64(n)
}

// bitCountRange counts the set bits of s between bit positions from and to,
// inclusive; both lie inside s.
func bitCountRange(s string, from, to int64) int64 {
	first, last := from>>3, to>>3
	n := bitPopcount(s[first : last+1])
	n -= int64(bits.OnesCount8(s[first] &^ (0xff >> (from & 7))))
	n -= int64(bits.OnesCount8(s[last] & (0x7f >> (to & 7))))
	return n
}

func cmdBitCount(c *Ctx) {
	s, found, ok := valueAt[string](c, c.Args[1])
	if !ok {
		return
	}
	if !found {
		c.Int(0) // before looking at the arguments, as Redis 7.0 does
		return
	}
	n := int64(len(s))
	switch len(c.Args) {
	case 2:
		c.Int(bitPopcount(s))
		return
	case 4, 5:
	default:
		c.Error(ErrSyntax)
		return
	}
	start, ok1 := wire.ParseInt(c.Args[2])
	if !ok1 {
		c.Error(ErrNotInt)
		return
	}
	end, ok2 := wire.ParseInt(c.Args[3])
	if !ok2 {
		c.Error(ErrNotInt)
		return
	}
	isBit := false
	if len(c.Args) == 5 {
		if isBit, ok = c.bitUnit(c.Args[4]); !ok {
			return
		}
	}
	total := n
	if isBit {
		total <<= 3
	}
	if start < 0 && end < 0 && start > end {
		c.Int(0)
		return
	}
	start, end = bitClamp(start, end, total)
	if start > end {
		c.Int(0)
		return
	}
	if !isBit {
		start, end = start<<3, end<<3|7
	}
	c.Int(bitCountRange(s, start, end))
}

// bitFind returns the position of the first bit equal to want between bit
// positions from and to (inclusive, inside s), or -1.
func bitFind(s string, from, to int64, want byte) int64 {
	skip := byte(0) // a byte that cannot hold the bit
	if want == 0 {
		skip = 0xff
	}
	for i := from; i <= to; {
		if i&7 == 0 && i+63 <= to {
			w := binary.BigEndian.Uint64(strBytes(s[i>>3 : i>>3+8]))
			if want == 0 {
				w = ^w
			}
			if w == 0 {
				i += 64
				continue
			}
			return i + int64(bits.LeadingZeros64(w))
		}
		if i&7 == 0 && i+7 <= to && s[i>>3] == skip {
			i += 8
			continue
		}
		if (s[i>>3]>>(7-i&7))&1 == want {
			return i
		}
		i++
	}
	return -1
}

func cmdBitPos(c *Ctx) {
	bit, ok := wire.ParseInt(c.Args[2])
	if !ok {
		c.Error(ErrNotInt)
		return
	}
	if bit != 0 && bit != 1 {
		c.Error(errBitArg)
		return
	}
	s, found, ok := valueAt[string](c, c.Args[1])
	if !ok {
		return
	}
	if !found {
		c.Int(-bit) // no key: an endless run of zeros
		return
	}
	n := int64(len(s))
	start, end := int64(0), n-1
	isBit, endGiven := false, false
	switch len(c.Args) {
	case 3:
	case 4, 5, 6:
		if start, ok = wire.ParseInt(c.Args[3]); !ok {
			c.Error(ErrNotInt)
			return
		}
		if len(c.Args) == 6 {
			if isBit, ok = c.bitUnit(c.Args[5]); !ok {
				return
			}
		}
		total := n
		if isBit {
			total <<= 3
		}
		if len(c.Args) >= 5 {
			if end, ok = wire.ParseInt(c.Args[4]); !ok {
				c.Error(ErrNotInt)
				return
			}
			endGiven = true
		} else {
			end = total - 1
		}
		start, end = bitClamp(start, end, total)
	default:
		c.Error(ErrSyntax)
		return
	}
	if start > end {
		c.Int(-1)
		return
	}
	if !isBit {
		start, end = start<<3, end<<3|7
	}
	pos := bitFind(s, start, end, byte(bit))
	if pos < 0 && bit == 0 && !endGiven {
		// Looking for a clear bit with no end given: the string continues
		// with zeros to the right.
		pos = (end>>3 + 1) << 3
	}
	c.Int(pos)
}

func cmdBitOp(c *Ctx) {
	op := c.Args[1]
	var kind byte
	switch {
	case equalFold(op, "and"):
		kind = '&'
	case equalFold(op, "or"):
		kind = '|'
	case equalFold(op, "xor"):
		kind = '^'
	case equalFold(op, "not"):
		kind = '~'
	default:
		c.Error(ErrSyntax)
		return
	}
	if kind == '~' && len(c.Args) != 4 {
		c.Error(errBitOpNot)
		return
	}
	srcs := make([]string, 0, len(c.Args)-3)
	maxLen := 0
	for _, key := range c.Args[3:] {
		s, _, ok := valueAt[string](c, key)
		if !ok {
			return
		}
		srcs = append(srcs, s)
		maxLen = max(maxLen, len(s))
	}
	dest := c.Args[2]
	if maxLen == 0 {
		c.remove(dest)
		c.Int(0)
		return
	}
	res := make([]byte, maxLen)
	copy(res, srcs[0])
	switch kind {
	case '~':
		for i := range res {
			res[i] = ^res[i]
		}
	case '&':
		for _, s := range srcs[1:] {
			for i := 0; i < len(s); i++ {
				res[i] &= s[i]
			}
			clear(res[len(s):]) // missing bytes are zeros
		}
	case '|':
		for _, s := range srcs[1:] {
			for i := 0; i < len(s); i++ {
				res[i] |= s[i]
			}
		}
	case '^':
		for _, s := range srcs[1:] {
			for i := 0; i < len(s); i++ {
				res[i] ^= s[i]
			}
		}
	}
	c.overwrite(dest, strOwn(res), false)
	c.Int(int64(maxLen))
}

// BITFIELD.

// Overflow behaviours of BITFIELD SET and INCRBY.
const (
	bfWrap = iota
	bfSat
	bfFail
)

// bfOp is one parsed BITFIELD operation.
type bfOp struct {
	op       byte // 'g'et, 's'et, 'i'ncrby
	signed   bool
	width    int
	overflow int
	offset   uint64
	arg      int64
}

// bitfieldType parses i1..i64 or u1..u63. Like Redis's C code it reads the
// argument only up to a NUL byte.
func (c *Ctx) bitfieldType(arg []byte) (signed bool, width int, ok bool) {
	if i := bytes.IndexByte(arg, 0); i >= 0 {
		arg = arg[:i]
	}
	if len(arg) > 0 && (arg[0] == 'i' || arg[0] == 'u') {
		signed = arg[0] == 'i'
		n, ok := wire.ParseInt(arg[1:])
		if ok && n >= 1 && (signed && n <= 64 || !signed && n <= 63) {
			return signed, int(n), true
		}
	}
	c.Error(errBitfieldType)
	return false, 0, false
}

// bfGet reads a width-bit unsigned field at bit offset off of b.
func bfGet(b []byte, off uint64, width int) uint64 {
	var v uint64
	for i := 0; i < width; i++ {
		v = v<<1 | bitAt(b, off+uint64(i))
	}
	return v
}

// bfGetSigned reads a width-bit two's complement field.
func bfGetSigned(b []byte, off uint64, width int) int64 {
	v := bfGet(b, off, width)
	if width < 64 && v>>(width-1)&1 != 0 {
		v |= ^uint64(0) << width
	}
	return int64(v)
}

// bfSet writes the low width bits of v at bit offset off of b, which is
// long enough.
func bfSet(b []byte, off uint64, width int, v uint64) {
	for i := 0; i < width; i++ {
		pos := off + uint64(i)
		mask := byte(1) << (7 - pos&7)
		if v>>(width-1-i)&1 != 0 {
			b[pos>>3] |= mask
		} else {
			b[pos>>3] &^= mask
		}
	}
}

// bfUnsignedOverflow reports whether value+incr leaves a width-bit unsigned
// field and, unless the behaviour is FAIL, the value to store instead.
func bfUnsignedOverflow(value uint64, incr int64, width, behaviour int) (bool, uint64) {
	limit := uint64(1)<<width - 1
	maxIncr := int64(limit - value)
	minIncr := -int64(value)
	var sat uint64
	switch {
	case value > limit || (incr > 0 && incr > maxIncr):
		sat = limit
	case incr < 0 && incr < minIncr:
		sat = 0
	default:
		return false, 0
	}
	if behaviour == bfWrap {
		return true, (value + uint64(incr)) & limit
	}
	return true, sat
}

// bfSignedOverflow is the same for a signed field, with Redis's checks
// (including how they wrap for out-of-range SET values).
func bfSignedOverflow(value, incr int64, width, behaviour int) (bool, int64) {
	hi := int64(math.MaxInt64)
	if width < 64 {
		hi = int64(1)<<(width-1) - 1
	}
	lo := -hi - 1
	maxIncr := int64(uint64(hi) - uint64(value))
	minIncr := lo - value
	var sat int64
	switch {
	case value > hi || (width != 64 && incr > maxIncr) || (value >= 0 && incr > 0 && incr > maxIncr):
		sat = hi
	case value < lo || (width != 64 && incr < minIncr) || (value < 0 && incr < 0 && incr < minIncr):
		sat = lo
	default:
		return false, 0
	}
	if behaviour != bfWrap {
		return true, sat
	}
	v := uint64(value) + uint64(incr)
	if width < 64 {
		high := ^uint64(0) << width
		if v>>(width-1)&1 != 0 {
			v |= high
		} else {
			v &^= high
		}
	}
	return true, int64(v)
}

func cmdBitField(c *Ctx)   { c.bitfield(false) }
func cmdBitFieldRO(c *Ctx) { c.bitfield(true) }

func (c *Ctx) bitfield(readOnlyCmd bool) {
	var ops []bfOp
	overflow := bfWrap
	writes := false
	var highest uint64 // last bit a write touches
	args := c.Args
	for j := 2; j < len(args); j++ {
		rem := len(args) - j - 1
		var op bfOp
		switch a := args[j]; {
		case equalFold(a, "get") && rem >= 2:
			op.op = 'g'
		case equalFold(a, "set") && rem >= 3:
			op.op = 's'
		case equalFold(a, "incrby") && rem >= 3:
			op.op = 'i'
		case equalFold(a, "overflow") && rem >= 1:
			j++
			switch t := args[j]; {
			case equalFold(t, "wrap"):
				overflow = bfWrap
			case equalFold(t, "sat"):
				overflow = bfSat
			case equalFold(t, "fail"):
				overflow = bfFail
			default:
				c.Error(errOverflowType)
				return
			}
			continue
		default:
			c.Error(ErrSyntax)
			return
		}
		var ok bool
		if op.signed, op.width, ok = c.bitfieldType(args[j+1]); !ok {
			return
		}
		if op.offset, ok = c.bitOffset(args[j+2], true, op.width); !ok {
			return
		}
		if op.op != 'g' {
			writes = true
			highest = max(highest, op.offset+uint64(op.width)-1)
			if op.arg, ok = wire.ParseInt(args[j+3]); !ok {
				c.Error(ErrNotInt)
				return
			}
			j++
		}
		op.overflow = overflow
		ops = append(ops, op)
		j += 2
	}

	key := args[1]
	if writes && readOnlyCmd {
		c.Error(errBitfieldRO)
		return
	}
	s, found, ok := valueAt[string](c, key)
	if !ok {
		return
	}
	changed := false
	b := strBytes(s) // read only, unless replaced by a copy to write
	if writes {
		b = make([]byte, max(uint64(len(s)), highest>>3+1))
		copy(b, s)
	}
	c.Array(len(ops))
	for _, op := range ops {
		if op.op == 'g' {
			if op.signed {
				c.Int(bfGetSigned(b, op.offset, op.width))
			} else {
				c.Int(int64(bfGet(b, op.offset, op.width)))
			}
			continue
		}
		var overflowed bool
		var store uint64
		var reply int64
		if op.signed {
			old := bfGetSigned(b, op.offset, op.width)
			var v, limit int64
			if op.op == 'i' {
				overflowed, limit = bfSignedOverflow(old, op.arg, op.width, op.overflow)
				v = old + op.arg
				reply = v
			} else {
				v = op.arg
				overflowed, limit = bfSignedOverflow(v, 0, op.width, op.overflow)
				reply = old
			}
			if overflowed {
				v = limit
				if op.op == 'i' {
					reply = v
				}
			}
			store = uint64(v)
		} else {
			old := bfGet(b, op.offset, op.width)
			var v, limit uint64
			if op.op == 'i' {
				overflowed, limit = bfUnsignedOverflow(old, op.arg, op.width, op.overflow)
				v = old + uint64(op.arg)
			} else {
				v = uint64(op.arg)
				overflowed, limit = bfUnsignedOverflow(v, 0, op.width, op.overflow)
			}
			if overflowed {
				v = limit
			}
			reply = int64(old)
			if op.op == 'i' {
				reply = int64(v)
			}
			store = v
		}
		if overflowed && op.overflow == bfFail {
			c.Null()
			continue
		}
		c.Int(reply)
		before := bfGet(b, op.offset, op.width)
		bfSet(b, op.offset, op.width, store)
		changed = changed || bfGet(b, op.offset, op.width) != before
	}
	if writes {
		if !changed && found && len(b) == len(s) {
			c.noChange = true // as Redis: no change, no dirty, no signal
			return
		}
		c.store(key, strOwn(b), true)
	}
}
