package shard

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func selfTestRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// The self test passes on the real register code, with Redis's sizes cut
// down (the full run is exercised through the server in package conn).
func TestHLLSelfTestPasses(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		if msg := hllSelfTest(hllRealOps, selfTestRNG(seed), 5, 200_000); msg != "" {
			t.Fatalf("seed %d: %s", seed, msg)
		}
	}
}

// Each check of the self test fails when the piece it checks is broken:
// it is not a constant OK.
func TestHLLSelfTestCatchesBrokenCode(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(o *hllSelfTestOps)
		want   string
	}{
		{"set clobbers the register before", func(o *hllSelfTestOps) {
			o.denseSet = func(regs []byte, i int, v uint8) {
				hllDenseSetReg(regs, i, v)
				if i > 0 && v == 7 {
					hllDenseSetReg(regs, i-1, 0)
				}
			}
		}, "TESTFAILED Register "},
		{"get reads the wrong bit offset", func(o *hllSelfTestOps) {
			o.denseGet = func(regs []byte, i int) uint8 {
				if i == hllRegisters-1 {
					return hllDenseGet(regs, i) ^ 1
				}
				return hllDenseGet(regs, i)
			}
		}, "TESTFAILED Register 16383 should be "},
		{"sparse values turn dense at once", func(o *hllSelfTestOps) {
			o.add = func(h *hll, ele []byte) {
				reg, n := hllPatLen(ele)
				h.promote(reg, n)
			}
		}, "TESTFAILED sparse encoding not used"},
		{"the sparse path drops a register", func(o *hllSelfTestOps) {
			o.add = func(h *hll, ele []byte) {
				reg, n := hllPatLen(ele)
				if h.encoding() == hllSparse && reg%2 == 1 {
					return
				}
				h.set(reg, n)
			}
		}, "TESTFAILED dense/sparse disagree"},
		{"the estimate is 10% high", func(o *hllSelfTestOps) {
			o.count = func(h *hll) (uint64, bool) {
				n, ok := hllRealOps.count(h)
				return n + n/10, ok
			}
		}, "TESTFAILED Too big error. card:"},
	}
	for _, tc := range cases {
		ops := hllRealOps
		tc.break_(&ops)
		msg := hllSelfTest(ops, selfTestRNG(42), 2, 200_000)
		if !strings.HasPrefix(msg, tc.want) {
			t.Errorf("%s: got %q, want %q...", tc.name, msg, tc.want)
		}
	}
}

// The register values test 1 writes are random, so a register code that
// is only right for some values is caught on some run.
func TestHLLSelfTestIsRandom(t *testing.T) {
	var seen [2][hllRegisters]uint8
	for k := range seen {
		ops := hllRealOps
		ops.denseSet = func(regs []byte, i int, v uint8) {
			seen[k][i] = v
			hllDenseSetReg(regs, i, v)
		}
		if msg := hllSelfTest(ops, selfTestRNG(uint64(k+1)), 1, 1); msg != "" {
			t.Fatal(msg)
		}
	}
	if seen[0] == seen[1] {
		t.Fatal("two seeds wrote the same register values")
	}
}

func TestHLLDecode(t *testing.T) {
	for _, tc := range []struct {
		sp   []byte
		want string
	}{
		{nil, ""},
		{[]byte{0x7f, 0xff}, "Z:16384"},
		{[]byte{0x00, 0x83, 0x3f, 0x80 | 31<<2}, "z:1 v:1,4 z:64 v:32,1"},
		{[]byte{0x41}, "Z:257"}, // cut short: the missing byte reads as 0
	} {
		got := hllDecode(nil, tc.sp)
		if got == nil || string(got) != tc.want {
			t.Errorf("%x: got %q, want %q", tc.sp, got, tc.want)
		}
	}
}
