package shard

import (
	"encoding/binary"
	"math"
)

// HyperLogLogs are strings in Redis's own format, so values move between
// Redis and Valkyrie unchanged:
//
//	"HYLL" | encoding (0 dense, 1 sparse) | 3 unused | cached count (8 LE)
//
// The cached count is valid unless the top bit of its last byte is set.
// Dense: 16384 registers of 6 bits, least significant bits first. Sparse:
// run-length opcodes, ZERO 00xxxxxx (1-64 zero registers), XZERO 01xxxxxx
// yyyyyyyy (1-16384 zero registers), VAL 1vvvvvxx (1-4 registers of value
// 1-32). New values start sparse and turn dense when a register exceeds 32
// or the value would grow past hllSparseMaxBytes, the way Redis does it,
// so the bytes match what Redis would hold after the same commands.

func init() {
	register(
		&Command{Spec: Spec{Name: "pfadd", Arity: -2, Flags: Write | DenyOOM | Fast, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "hyperloglog", Since: "2.8.9", Summary: "Adds the specified elements to the specified HyperLogLog.",
			Complexity: "O(1) to add every element.", Syntax: "key [element [element ...]]"}, Run: cmdPFAdd},
		&Command{Spec: Spec{Name: "pfcount", Arity: -2, Flags: ReadOnly | MayReplicate, FirstKey: 1, LastKey: -1, Step: 1,
			Group: "hyperloglog", Since: "2.8.9",
			Summary:    "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
			Complexity: "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.",
			Syntax:     "key [key ...]"}, Run: cmdPFCount},
		&Command{Spec: Spec{Name: "pfmerge", Arity: -2, Flags: Write | DenyOOM, FirstKey: 1, LastKey: -1, Step: 1,
			Group: "hyperloglog", Since: "2.8.9", Summary: "Merge N different HyperLogLogs into a single one.",
			Complexity: "O(N) to merge N HyperLogLogs, but with high constant times.",
			Syntax:     "destkey sourcekey [sourcekey ...]"}, Run: cmdPFMerge},
	)
}

const (
	hllP          = 14
	hllQ          = 64 - hllP
	hllRegisters  = 1 << hllP
	hllBits       = 6
	hllRegMax     = 1<<hllBits - 1
	hllHeaderSize = 16
	hllDenseSize  = hllHeaderSize + (hllRegisters*hllBits+7)/8
	hllDense      = 0
	hllSparse     = 1
	hllAlphaInf   = 0.721347520444481703680 // 0.5/ln(2)

	hllSparseValMax   = 32
	hllSparseValLen   = 4
	hllSparseZeroLen  = 64
	hllSparseXZeroLen = 16384
	// hllSparseMaxBytes is Redis's hll-sparse-max-bytes default.
	hllSparseMaxBytes = 3000
)

const (
	errHLLType    = "WRONGTYPE Key is not a valid HyperLogLog string value."
	errHLLCorrupt = "INVALIDOBJ Corrupted HLL object detected"
)

// murmurHash64A is Austin Appleby's MurmurHash64A, reading 8-byte blocks
// little-endian, as Redis's HyperLogLog hashes elements.
func murmurHash64A(data []byte, seed uint64) uint64 {
	const m = 0xc6a4a7935bd1e995
	const r = 47
	h := seed ^ uint64(len(data))*m
	for len(data) >= 8 {
		k := binary.LittleEndian.Uint64(data)
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
		data = data[8:]
	}
	if len(data) > 0 {
		for i := len(data) - 1; i >= 0; i-- {
			h ^= uint64(data[i]) << (8 * i)
		}
		h *= m
	}
	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}

// hllPatLen hashes an element to its register and the length of the run
// of zeros (plus one) that it observed, at most hllQ+1.
func hllPatLen(ele []byte) (reg int, count uint8) {
	h := murmurHash64A(ele, 0xadc83b19)
	reg = int(h & (hllRegisters - 1))
	h >>= hllP
	h |= 1 << hllQ
	count = 1
	for h&1 == 0 {
		count++
		h >>= 1
	}
	return reg, count
}

// Dense registers.

func hllDenseGet(regs []byte, i int) uint8 {
	b := i * hllBits / 8
	fb := uint(i * hllBits & 7)
	v := uint(regs[b]) >> fb
	if b+1 < len(regs) {
		v |= uint(regs[b+1]) << (8 - fb)
	}
	return uint8(v & hllRegMax)
}

func hllDenseSetReg(regs []byte, i int, v uint8) {
	b := i * hllBits / 8
	fb := uint(i * hllBits & 7)
	regs[b] &^= hllRegMax << fb
	regs[b] |= v << fb
	if b+1 < len(regs) {
		regs[b+1] &^= hllRegMax >> (8 - fb)
		regs[b+1] |= v >> (8 - fb)
	}
}

// hll is a HyperLogLog being read or updated: the whole value, header
// included. The bytes are a private copy whenever they will be written.
type hll struct {
	b []byte
}

func (h *hll) encoding() byte { return h.b[4] }

// invalidate marks the cached count stale.
func (h *hll) invalidate() { h.b[15] |= 0x80 }

// hllNew returns an empty HyperLogLog as Redis creates it: sparse, one
// XZERO opcode covering every register, cached count 0.
func hllNew() *hll {
	b := make([]byte, hllHeaderSize+2, hllHeaderSize+64)
	copy(b, "HYLL")
	b[4] = hllSparse
	b[16] = 0x40 | (hllRegisters-1)>>8
	b[17] = (hllRegisters - 1) & 0xff
	return &hll{b: b}
}

// hllValid reports whether s is a HyperLogLog by Redis's checks.
func hllValid(s string) bool {
	if len(s) < hllHeaderSize || s[:4] != "HYLL" || s[4] > hllSparse {
		return false
	}
	return s[4] != hllDense || len(s) == hllDenseSize
}

// hllAt returns the HyperLogLog at key for reading, nil when the key is
// missing. It replies and sets ok false when the key holds something else.
func (c *Ctx) hllAt(key []byte) (s string, found, ok bool) {
	s, found, ok = valueAt[string](c, key)
	if !ok || !found {
		return s, found, ok
	}
	if !hllValid(s) {
		c.Error(errHLLType)
		return "", true, false
	}
	return s, true, true
}

// Sparse opcodes.

func hllIsZero(op byte) bool  { return op&0xc0 == 0 }
func hllIsXZero(op byte) bool { return op&0xc0 == 0x40 }
func hllIsVal(op byte) bool   { return op&0x80 != 0 }

func hllValValue(op byte) uint8 { return (op>>2)&0x1f + 1 }
func hllValLen(op byte) int     { return int(op&0x3) + 1 }
func hllZeroLen(op byte) int    { return int(op&0x3f) + 1 }

func hllVal(v uint8, n int) byte { return 0x80 | (v-1)<<2 | byte(n-1) }

// hllAppendZeros appends one ZERO or XZERO opcode for n zero registers.
func hllAppendZeros(dst []byte, n int) []byte {
	if n > hllSparseZeroLen {
		return append(dst, 0x40|byte((n-1)>>8), byte((n-1)&0xff))
	}
	return append(dst, byte(n-1))
}

// hllSparseWalk calls fn for each run of the sparse registers in b: the
// first register, the run length and its value. It reports false when the
// encoding is corrupt (the runs do not cover exactly every register).
func hllSparseWalk(b []byte, fn func(first, n int, v uint8)) bool {
	i := 0
	for p := 0; p < len(b); {
		op := b[p]
		var n int
		var v uint8
		switch {
		case hllIsZero(op):
			n = hllZeroLen(op)
			p++
		case hllIsXZero(op):
			if p+1 >= len(b) {
				return false
			}
			n = int(op&0x3f)<<8 | int(b[p+1]) + 1
			p += 2
		default:
			n, v = hllValLen(op), hllValValue(op)
			if i+n > hllRegisters {
				return false
			}
			p++
		}
		if fn != nil {
			fn(i, n, v)
		}
		i += n
	}
	return i == hllRegisters
}

// toDense converts a sparse HyperLogLog to dense, keeping the header.
func (h *hll) toDense() bool {
	if h.encoding() == hllDense {
		return true
	}
	d := make([]byte, hllDenseSize)
	copy(d, h.b[:hllHeaderSize])
	d[4] = hllDense
	regs := d[hllHeaderSize:]
	ok := hllSparseWalk(h.b[hllHeaderSize:], func(first, n int, v uint8) {
		if v == 0 {
			return
		}
		for i := first; i < first+n; i++ {
			hllDenseSetReg(regs, i, v)
		}
	})
	if !ok {
		return false
	}
	h.b = d
	return true
}

// set raises register i to v if v is larger. It returns 1 when the
// register changed, 0 when not, -1 for a corrupt value.
func (h *hll) set(i int, v uint8) int {
	if h.encoding() == hllDense {
		regs := h.b[hllHeaderSize:]
		if hllDenseGet(regs, i) >= v {
			return 0
		}
		hllDenseSetReg(regs, i, v)
		return 1
	}
	return h.sparseSet(i, v)
}

// promote turns the value dense and then sets register i.
func (h *hll) promote(i int, v uint8) int {
	if !h.toDense() {
		return -1
	}
	return h.set(i, v)
}

// sparseSet updates register i of a sparse value, splitting the opcode
// that covers it and merging equal neighbours afterwards, as Redis does.
func (h *hll) sparseSet(i int, v uint8) int {
	if v > hllSparseValMax {
		return h.promote(i, v)
	}
	sp := h.b[hllHeaderSize:]
	// Find the opcode covering register i.
	p, prev, first, span := 0, -1, 0, 0
	for p < len(sp) {
		oplen := 1
		switch op := sp[p]; {
		case hllIsZero(op):
			span = hllZeroLen(op)
		case hllIsVal(op):
			span = hllValLen(op)
		default:
			if p+1 >= len(sp) {
				return -1
			}
			span = int(op&0x3f)<<8 | int(sp[p+1]) + 1
			oplen = 2
		}
		if i <= first+span-1 {
			break
		}
		prev = p
		p += oplen
		first += span
	}
	if span == 0 || p >= len(sp) {
		return -1
	}
	op := sp[p]
	isVal, isXZero := hllIsVal(op), hllIsXZero(op)
	oldLen := 1
	if isXZero {
		oldLen = 2
	}
	switch {
	case isVal && hllValValue(op) >= v:
		return 0
	case isVal && span == 1, !isVal && !isXZero && span == 1:
		sp[p] = hllVal(v, 1)
	default:
		// Split into up to three opcodes: before, the register, after.
		var seq [5]byte
		n := seq[:0]
		last := first + span - 1
		if isVal {
			cur := hllValValue(op)
			if i != first {
				n = append(n, hllVal(cur, i-first))
			}
			n = append(n, hllVal(v, 1))
			if i != last {
				n = append(n, hllVal(cur, last-i))
			}
		} else {
			if i != first {
				n = hllAppendZeros(n, i-first)
			}
			n = append(n, hllVal(v, 1))
			if i != last {
				n = hllAppendZeros(n, last-i)
			}
		}
		delta := len(n) - oldLen
		if delta > 0 && len(h.b)+delta > hllSparseMaxBytes {
			return h.promote(i, v)
		}
		nb := make([]byte, 0, len(h.b)+delta)
		nb = append(nb, h.b[:hllHeaderSize+p]...)
		nb = append(nb, n...)
		nb = append(nb, h.b[hllHeaderSize+p+oldLen:]...)
		h.b = nb
		sp = h.b[hllHeaderSize:]
	}

	// Merge adjacent VAL opcodes of equal value, scanning up to five
	// opcodes from the one before the change.
	q := max(prev, 0)
	for scan := 5; q < len(sp) && scan > 0; scan-- {
		switch op := sp[q]; {
		case hllIsXZero(op):
			q += 2
			continue
		case hllIsZero(op):
			q++
			continue
		}
		if q+1 < len(sp) && hllIsVal(sp[q+1]) {
			v1, v2 := hllValValue(sp[q]), hllValValue(sp[q+1])
			if n := hllValLen(sp[q]) + hllValLen(sp[q+1]); v1 == v2 && n <= hllSparseValLen {
				sp[q+1] = hllVal(v1, n)
				copy(sp[q:], sp[q+1:])
				h.b = h.b[:len(h.b)-1]
				sp = sp[:len(sp)-1]
				continue // try again with the merged opcode
			}
		}
		q++
	}
	h.invalidate()
	return 1
}

// histogram counts the registers of each value of a valid value.
func (h *hll) histogram(hist *[64]int) bool {
	if h.encoding() == hllDense {
		hllDenseHistogram(h.b[hllHeaderSize:], hist)
		return true
	}
	return hllSparseWalk(h.b[hllHeaderSize:], func(_, n int, v uint8) { hist[v] += n })
}

func hllDenseHistogram(regs []byte, hist *[64]int) {
	// Four registers fill three bytes exactly.
	for p := 0; p+3 <= len(regs); p += 3 {
		w := uint32(regs[p]) | uint32(regs[p+1])<<8 | uint32(regs[p+2])<<16
		hist[w&63]++
		hist[w>>6&63]++
		hist[w>>12&63]++
		hist[w>>18&63]++
	}
}

// merge raises each of max's registers to the value's register.
func (h *hll) merge(regs *[hllRegisters]uint8) bool {
	if h.encoding() == hllDense {
		d := h.b[hllHeaderSize:]
		for i := range regs {
			if v := hllDenseGet(d, i); v > regs[i] {
				regs[i] = v
			}
		}
		return true
	}
	return hllSparseWalk(h.b[hllHeaderSize:], func(first, n int, v uint8) {
		if v == 0 {
			return
		}
		for i := first; i < first+n; i++ {
			if v > regs[i] {
				regs[i] = v
			}
		}
	})
}

// hllEstimate is the cardinality estimator Redis 7 uses (Ertl, "New
// cardinality estimation algorithms for HyperLogLog sketches"), computed
// in the same order so results match to the last bit.
func hllEstimate(hist *[64]int) uint64 {
	const m = float64(hllRegisters)
	z := m * hllTau((m-float64(hist[hllQ+1]))/m)
	for j := hllQ; j >= 1; j-- {
		z += float64(hist[j])
		z *= 0.5
	}
	z += float64(m * hllSigma(float64(hist[0])/m))
	return uint64(math.Round(float64(hllAlphaInf*m*m) / z))
}

func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += float64(x * y) // no fused multiply-add
		y += y
		if z == prev {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		d := 1 - x
		z -= float64(float64(d*d) * y)
		if z == prev {
			return z / 3
		}
	}
}

func cmdPFAdd(c *Ctx) {
	key := c.Args[1]
	s, found, ok := c.hllAt(key)
	if !ok {
		return
	}
	// The value is copied only once an element raises a register, so
	// adding elements already seen costs no copy of the 12 KB.
	var h *hll
	if !found {
		h = hllNew()
	}
	updated := !found
	for _, ele := range c.Args[2:] {
		reg, count := hllPatLen(ele)
		if h == nil {
			if hllRegister(strBytes(s), reg) >= count {
				continue
			}
			h = &hll{b: []byte(s)}
		}
		switch h.set(reg, count) {
		case 1:
			updated = true
		case -1:
			c.Error(errHLLCorrupt)
			return
		}
	}
	if !updated {
		c.Int(0)
		return
	}
	h.invalidate()
	c.store(key, strOwn(h.b), true)
	c.Int(1)
}

// hllRegister reads register i of a valid value; 0 when a sparse value
// does not cover it (updating it will then report the corruption).
func hllRegister(b []byte, i int) uint8 {
	if b[4] == hllDense {
		return hllDenseGet(b[hllHeaderSize:], i)
	}
	var v uint8
	hllSparseWalk(b[hllHeaderSize:], func(first, n int, val uint8) {
		if first <= i && i < first+n {
			v = val
		}
	})
	return v
}

func cmdPFCount(c *Ctx) {
	if len(c.Args) > 2 {
		// The union of several: merge into plain registers, no caching.
		var regs [hllRegisters]uint8
		for _, key := range c.Args[1:] {
			s, found, ok := c.hllAt(key)
			if !ok {
				return
			}
			if found && !(&hll{b: strBytes(s)}).merge(&regs) {
				c.Error(errHLLCorrupt)
				return
			}
		}
		var hist [64]int
		for _, v := range regs {
			hist[v]++
		}
		c.Int(int64(hllEstimate(&hist)))
		return
	}
	key := c.Args[1]
	s, found, ok := c.hllAt(key)
	if !ok {
		return
	}
	if !found {
		c.Int(0)
		return
	}
	if s[15]&0x80 == 0 {
		c.Int(int64(binary.LittleEndian.Uint64(strBytes(s[8:16]))))
		return
	}
	var hist [64]int
	if !(&hll{b: strBytes(s)}).histogram(&hist) {
		c.Error(errHLLCorrupt)
		return
	}
	n := hllEstimate(&hist)
	// Cache the count in the value, as Redis does.
	b := []byte(s)
	binary.LittleEndian.PutUint64(b[8:16], n)
	c.store(key, strOwn(b), true)
	c.Int(int64(n))
	c.propagate(c.Args...) // the cached count changed the value, as in Redis
}

func cmdPFMerge(c *Ctx) {
	var regs [hllRegisters]uint8
	dense := false
	for _, key := range c.Args[1:] {
		s, found, ok := c.hllAt(key)
		if !ok {
			return
		}
		if !found {
			continue
		}
		h := &hll{b: strBytes(s)}
		if h.encoding() == hllDense {
			dense = true
		}
		if !h.merge(&regs) {
			c.Error(errHLLCorrupt)
			return
		}
	}
	dest := c.Args[1]
	s, found, _ := c.hllAt(dest) // checked above
	var h *hll
	if found {
		h = &hll{b: []byte(s)}
	} else {
		h = hllNew()
	}
	if dense && !h.toDense() {
		c.Error(errHLLCorrupt)
		return
	}
	for i, v := range regs {
		if v != 0 {
			h.set(i, v)
		}
	}
	h.invalidate()
	c.store(dest, strOwn(h.b), true)
	c.OK()
}
