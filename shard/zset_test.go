package shard

import (
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"testing"
)

// zcheck verifies the tree's invariants: counts, separators, equal leaf
// depth, the leaf chain, the size and the member map.
func zcheck(t *testing.T, z *ZSet) {
	t.Helper()
	var inorder []zitem
	depth := -1
	var walk func(n *znode, d int, lo, hi *zitem)
	walk = func(n *znode, d int, lo, hi *zitem) {
		if n.leaf() {
			if depth == -1 {
				depth = d
			} else if depth != d {
				t.Fatalf("leaves at depths %d and %d", depth, d)
			}
			if len(n.items) == 0 && n != z.root {
				t.Fatalf("empty non-root leaf")
			}
			for i := range n.items {
				it := &n.items[i]
				if lo != nil && zless(it, lo) || hi != nil && !zless(it, hi) {
					t.Fatalf("item %v outside its separators %v..%v", *it, lo, hi)
				}
				inorder = append(inorder, *it)
			}
			return
		}
		if len(n.counts) != len(n.kids) || len(n.seps) != len(n.kids)-1 {
			t.Fatalf("inner node with %d kids, %d counts, %d seps", len(n.kids), len(n.counts), len(n.seps))
		}
		if len(n.kids) < 2 && n == z.root {
			t.Fatalf("root with one child")
		}
		for i, k := range n.kids {
			if n.counts[i] != k.size() {
				t.Fatalf("count %d for a child of size %d", n.counts[i], k.size())
			}
			clo, chi := lo, hi
			if i > 0 {
				clo = &n.seps[i-1]
			}
			if i < len(n.seps) {
				chi = &n.seps[i]
			}
			walk(k, d+1, clo, chi)
		}
	}
	if z.root != nil {
		walk(z.root, 0, nil, nil)
	}
	if len(inorder) != z.n {
		t.Fatalf("tree holds %d elements, n = %d", len(inorder), z.n)
	}
	for i := 1; i < len(inorder); i++ {
		if !zless(&inorder[i-1], &inorder[i]) {
			t.Fatalf("out of order: %v then %v", inorder[i-1], inorder[i])
		}
	}
	var chain []zitem
	z.each(func(it *zitem) bool { chain = append(chain, *it); return true })
	if !slices.Equal(chain, inorder) {
		t.Fatalf("leaf chain differs from the tree")
	}
	// Backwards along the chain.
	if z.n > 0 {
		c := z.at(z.n - 1)
		for i := z.n - 1; i >= 0; i-- {
			if *c.item() != inorder[i] {
				t.Fatalf("backward walk at %d: %v, want %v", i, *c.item(), inorder[i])
			}
			c.prev()
		}
	}
	if z.dict != nil {
		if len(z.dict) != z.n {
			t.Fatalf("map has %d members, n = %d", len(z.dict), z.n)
		}
		for _, it := range inorder {
			if s, ok := z.dict[it.member]; !ok || s != it.score {
				t.Fatalf("map score of %q = %v, %v; tree has %v", it.member, s, ok, it.score)
			}
		}
	} else if z.n > zsetSmall {
		t.Fatalf("%d members and no map", z.n)
	}
}

// zmodel is the reference: a sorted slice.
type zmodel []zitem

func (m zmodel) find(member string) int {
	for i, it := range m {
		if it.member == member {
			return i
		}
	}
	return -1
}

func (m *zmodel) insert(it zitem) {
	i, _ := slices.BinarySearchFunc(*m, it, zcompare)
	*m = slices.Insert(*m, i, it)
}

func (m zmodel) count(b *zbound) int {
	n := 0
	for i := range m {
		if b.before(&m[i]) {
			n++
		}
	}
	return n
}

func TestZSetRandomAgainstModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		rng := rand.New(rand.NewPCG(seed, seed*7))
		z := newZSet(false)
		var m zmodel
		// Ranges of sizes: grow to a few thousand, shrink, grow again.
		target := 3000
		steps := 40000
		if testing.Short() {
			steps = 8000
		}
		for step := 0; step < steps; step++ {
			if step == steps/3 {
				target = 10
			}
			if step == 2*steps/3 {
				target = 5000
			}
			member := "m" + strconv.Itoa(rng.IntN(target*2+1))
			score := float64(rng.IntN(50)) // many ties: member order matters
			if rng.IntN(10) == 0 {
				score = rng.Float64()*1e6 - 5e5
			}
			switch op := rng.IntN(12); {
			case op < 5: // add or update
				cur, ok := z.Score(member)
				i := m.find(member)
				if ok != (i >= 0) || ok && cur != m[i].score {
					t.Fatalf("Score(%q) = %v, %v; model %d", member, cur, ok, i)
				}
				if ok {
					z.SetScore(member, cur, score)
					m = slices.Delete(m, i, i+1)
				} else {
					z.Insert(member, score)
				}
				m.insert(zitem{member, score})
			case op < 7:
				i := m.find(member)
				if z.Remove(member) != (i >= 0) {
					t.Fatalf("Remove(%q) disagrees with the model", member)
				}
				if i >= 0 {
					m = slices.Delete(m, i, i+1)
				}
			case op < 8 && len(m) > 0:
				r := rng.IntN(len(m))
				if it := z.RemoveAt(r); it != m[r] {
					t.Fatalf("RemoveAt(%d) = %v, want %v", r, it, m[r])
				}
				m = slices.Delete(m, r, r+1)
			case op < 9 && len(m) > 0 && rng.IntN(20) == 0:
				a := rng.IntN(len(m))
				b := a + rng.IntN(len(m)-a)
				if rng.IntN(3) == 0 {
					a, b = 0, len(m)-1-rng.IntN(3)
				}
				z.RemoveRange(a, b)
				m = slices.Delete(m, a, b+1)
			case op < 10:
				r, ok := z.Rank(member)
				i := slices.IndexFunc(m, func(it zitem) bool { return it.member == member })
				if ok != (i >= 0) || ok && r != i {
					t.Fatalf("Rank(%q) = %d, %v; want %d", member, r, ok, i)
				}
			default:
				bounds := []zbound{
					{kind: zbScore, score: score},
					{kind: zbScore, score: score, incl: true},
					{kind: zbItem, score: score, member: member},
					{kind: zbItem, score: score, member: member, incl: true},
					{kind: zbScore, score: math.Inf(1)},
					{kind: zbScore, score: math.Inf(-1), incl: true},
				}
				for _, b := range bounds {
					if got, want := z.countTo(&b), m.count(&b); got != want {
						t.Fatalf("countTo(%+v) = %d, want %d", b, got, want)
					}
				}
				if len(m) > 0 {
					r := rng.IntN(len(m))
					c := z.at(r)
					if got := *c.item(); got != m[r] {
						t.Fatalf("at(%d) = %v, want %v", r, got, m[r])
					}
				}
			}
			if z.Len() != len(m) {
				t.Fatalf("step %d: Len = %d, model %d", step, z.Len(), len(m))
			}
			if step%997 == 0 || len(m) < 70 {
				zcheck(t, z)
				var got []zitem
				z.each(func(it *zitem) bool { got = append(got, *it); return true })
				if !slices.Equal(got, []zitem(m)) {
					t.Fatalf("step %d: contents differ from the model", step)
				}
			}
		}
		zcheck(t, z)
		c := z.clone().(*ZSet)
		zcheck(t, c)
		if c.Len() != z.Len() {
			t.Fatal("clone lost members")
		}
	}
}

func TestZSetLexCounts(t *testing.T) {
	z := newZSet(false)
	var m zmodel
	for i := 0; i < 500; i++ {
		s := strconv.Itoa(i * 7 % 1000)
		z.Insert(s, 0)
		m.insert(zitem{s, 0})
	}
	zcheck(t, z)
	for _, x := range []string{"", "0", "1", "5", "50", "500", "999", "a"} {
		for _, incl := range []bool{false, true} {
			b := zbound{kind: zbLex, member: x, incl: incl}
			if got, want := z.countTo(&b), m.count(&b); got != want {
				t.Errorf("lex %q incl %v: %d, want %d", x, incl, got, want)
			}
		}
	}
}

func TestZSetSequentialFill(t *testing.T) {
	// Growing and shrinking scores fill leaves instead of halving them.
	for _, dir := range []float64{1, -1} {
		z := newZSet(false)
		for i := 0; i < 10000; i++ {
			z.Insert("m"+strconv.Itoa(i), dir*float64(i))
		}
		zcheck(t, z)
		leaves := 0
		for n := z.firstLeaf(); n != nil; n = n.next {
			leaves++
		}
		if leaves > 10000/zLeafMax+2 {
			t.Errorf("direction %v: %d leaves for 10000 elements", dir, leaves)
		}
		for z.Len() > 0 {
			z.RemoveAt(0)
			if z.Len()%1000 == 0 {
				zcheck(t, z)
			}
		}
		if z.root != nil || z.dict != nil {
			t.Errorf("drained set keeps root %v, map %v", z.root != nil, z.dict != nil)
		}
	}
}

func TestZSetPackedNegativeZero(t *testing.T) {
	z := newZSet(true)
	z.Insert("a", math.Copysign(0, -1))
	if s, _ := z.Score("a"); math.Signbit(s) {
		t.Error("a listpack set kept -0")
	}
	for i := 0; i < zsetListpackEntries-1; i++ {
		z.Insert("m"+strconv.Itoa(i), float64(i))
	}
	if !z.packed {
		t.Fatal("converted too early")
	}
	z.Insert("b", math.Copysign(0, -1)) // the 129th converts first, keeps -0
	if s, _ := z.Score("b"); z.packed || !math.Signbit(s) {
		t.Errorf("packed %v, -0 kept %v", z.packed, math.Signbit(s))
	}
	long := newZSet(true)
	long.Insert(string(make([]byte, 65)), 1)
	if long.encoding() != "skiplist" {
		t.Error("a 65-byte member must convert")
	}
}

// TestZSetMemory reports the live heap per member of a 1,000,000-member
// set (run with -v; skipped with -short).
func TestZSetMemory(t *testing.T) {
	raceEnabled := false
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			raceEnabled = raceEnabled || s.Key == "-race" && s.Value == "true"
		}
	}
	if testing.Short() || raceEnabled {
		t.Skip("slow")
	}
	const n = 1_000_000
	rng := rand.New(rand.NewPCG(1, 2))
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	z := newZSet(false)
	for i := 0; i < n; i++ {
		z.Insert("member:"+strconv.Itoa(i), rng.Float64()*1e6)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	per := float64(ms.HeapAlloc-before) / n
	t.Logf("random scores: %.1f bytes per member (member strings included)", per)
	runtime.KeepAlive(z)
	if per > 110 {
		t.Errorf("%.1f bytes per member; Redis 7.0 uses about 110 for this set", per)
	}
}
