package shard

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
)

// PFDEBUG and PFSELFTEST: Redis's internal commands for looking inside a
// HyperLogLog and for checking the register code. Redis 7.0 marks both
// admin (so ACLs keep them from ordinary users) and gates them no further:
// enable-debug-command covers DEBUG only.

func init() {
	register(&Command{Spec: Spec{Name: "pfdebug", Arity: 3, Flags: Write | DenyOOM | Admin, FirstKey: 2, LastKey: 2, Step: 1,
		Group: "hyperloglog", Since: "2.8.9", Summary: "Internal commands for debugging HyperLogLog values",
		Complexity: "N/A", Syntax: "subcommand key"}, Run: cmdPFDebug})
}

// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key. The key is looked up first,
// so a missing key wins over an unknown subcommand, as in Redis. GETREG
// and TODENSE leave a sparse value dense, without signalling the key
// (Redis does not either: see unchanged in watch.go).
func cmdPFDebug(c *Ctx) {
	key := c.Args[2]
	s, found, ok := c.hllAt(key)
	if !ok {
		return
	}
	if !found {
		c.Error("ERR The specified key does not exist")
		return
	}
	sub := c.Args[1]
	switch {
	case equalFold(sub, "getreg"):
		b := strBytes(s)
		if b[4] != hllDense {
			if b = c.pfDensify(key, s); b == nil {
				return
			}
		}
		regs := b[hllHeaderSize:]
		c.Array(hllRegisters)
		for i := 0; i < hllRegisters; i++ {
			c.Int(int64(hllDenseGet(regs, i)))
		}
	case equalFold(sub, "decode"):
		if s[4] != hllSparse {
			c.Error("ERR HLL encoding is not sparse")
			return
		}
		c.Bulk(hllDecode(nil, strBytes(s[hllHeaderSize:])))
	case equalFold(sub, "encoding"):
		if s[4] == hllDense {
			c.Simple("dense")
		} else {
			c.Simple("sparse")
		}
	case equalFold(sub, "todense"):
		if s[4] == hllDense {
			c.Int(0)
			return
		}
		if c.pfDensify(key, s) != nil {
			c.Int(1)
		}
	default:
		name := sub
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i] // Redis formats it with %s
		}
		c.Error("ERR Unknown PFDEBUG subcommand '" + string(name) + "'")
	}
}

// pfDensify stores the sparse value s at key in the dense encoding, TTL
// kept, and returns the new bytes; on a corrupt value it replies and
// returns nil.
func (c *Ctx) pfDensify(key []byte, s string) []byte {
	h := &hll{b: []byte(s)}
	if !h.toDense() {
		c.Error(errHLLCorrupt)
		return nil
	}
	c.store(key, strOwn(h.b), true)
	return h.b
}

// hllDecode appends Redis's text form of the sparse opcodes sp: "z:N" for
// ZERO, "Z:N" for XZERO, "v:VALUE,N" for VAL, separated by spaces. Like
// Redis it does not check the opcodes; an XZERO cut short reads a zero
// second byte (Redis reads the string's terminator).
func hllDecode(dst, sp []byte) []byte {
	for p := 0; p < len(sp); {
		if p > 0 {
			dst = append(dst, ' ')
		}
		op := sp[p]
		switch {
		case hllIsZero(op):
			dst = append(dst, "z:"...)
			dst = strconv.AppendInt(dst, int64(hllZeroLen(op)), 10)
			p++
		case hllIsXZero(op):
			var lo byte
			if p+1 < len(sp) {
				lo = sp[p+1]
			}
			dst = append(dst, "Z:"...)
			dst = strconv.AppendInt(dst, int64(int(op&0x3f)<<8|int(lo))+1, 10)
			p += 2
		default:
			dst = append(dst, "v:"...)
			dst = strconv.AppendInt(dst, int64(hllValValue(op)), 10)
			dst = append(dst, ',')
			dst = strconv.AppendInt(dst, int64(hllValLen(op)), 10)
			p++
		}
	}
	if dst == nil {
		dst = []byte{}
	}
	return dst
}

// hllSelfTestOps are the pieces of the register code PFSELFTEST checks.
// The command uses hllRealOps; tests swap in broken ones to see the self
// test catch them.
type hllSelfTestOps struct {
	denseGet func(regs []byte, i int) uint8
	denseSet func(regs []byte, i int, v uint8)
	// add puts one element into h (sparse or dense, promoting as needed).
	add func(h *hll, ele []byte)
	// count is the estimate of h; false for a corrupt value.
	count func(h *hll) (uint64, bool)
}

var hllRealOps = hllSelfTestOps{
	denseGet: hllDenseGet,
	denseSet: hllDenseSetReg,
	add: func(h *hll, ele []byte) {
		reg, n := hllPatLen(ele)
		h.set(reg, n)
	},
	count: func(h *hll) (uint64, bool) {
		var hist [64]int
		if !h.histogram(&hist) {
			return 0, false
		}
		return hllEstimate(&hist), true
	},
}

// hllSelfTest is PFSELFTEST with its sizes as parameters: cycles rounds of
// random register values, and elements (Redis: 10 million) unique
// elements added at once to a dense and a sparse value. It returns "" or
// the error reply.
func hllSelfTest(ops hllSelfTestOps, rng *rand.Rand, cycles, elements int) string {
	// Test 1: every dense register keeps what was written to it, and
	// writing it leaves its neighbours alone.
	dense := make([]byte, hllDenseSize)
	copy(dense, "HYLL")
	regs := dense[hllHeaderSize:]
	var want [hllRegisters]uint8
	for range cycles {
		for i := range want {
			want[i] = uint8(rng.Uint32() & hllRegMax)
			ops.denseSet(regs, i, want[i])
		}
		for i := range want {
			if got := ops.denseGet(regs, i); got != want[i] {
				return "TESTFAILED Register " + strconv.Itoa(i) + " should be " +
					strconv.Itoa(int(want[i])) + " but is " + strconv.Itoa(int(got))
			}
		}
	}

	// Test 2: the estimate stays within six standard errors of the true
	// count at every power of ten, and a value that starts sparse gives
	// the same estimate as a dense one fed the same elements.
	clear(regs)
	d := &hll{b: dense}
	sp := hllNew()
	relErr := 1.04 / math.Sqrt(hllRegisters)
	seed := rng.Uint64()
	var ele [8]byte
	checkpoint := 1
	for j := 1; j <= elements; j++ {
		binary.LittleEndian.PutUint64(ele[:], uint64(j)^seed)
		ops.add(d, ele[:])
		ops.add(sp, ele[:])
		if j != checkpoint {
			continue
		}
		if j < hllSparseMaxBytes/2 && sp.encoding() != hllSparse {
			return "TESTFAILED sparse encoding not used"
		}
		nd, okD := ops.count(d)
		ns, okS := ops.count(sp)
		if !okD || !okS || nd != ns {
			return "TESTFAILED dense/sparse disagree"
		}
		maxErr := uint64(math.Ceil(relErr * 6 * float64(checkpoint)))
		if j == 10 {
			maxErr = 1 // collisions make larger errors too likely here
		}
		absErr := int64(checkpoint) - int64(nd)
		if absErr < 0 {
			absErr = -absErr
		}
		if absErr > int64(maxErr) {
			return "TESTFAILED Too big error. card:" + strconv.Itoa(checkpoint) +
				" abserr:" + strconv.FormatInt(absErr, 10)
		}
		checkpoint *= 10
	}
	return ""
}

// HLLSelfTest runs PFSELFTEST as Redis sizes it and returns "" when every
// check passed, else the error reply. It takes a while (a second or so)
// and touches no keys.
func HLLSelfTest() string {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	return hllSelfTest(hllRealOps, rng, 1000, 10_000_000)
}
