package shard

import "unsafe"

// ZSet is a Redis sorted set: members with float64 scores, ordered by
// score and then by member bytes.
//
// Members map to their scores in a Go map, and the elements sit in a B+tree
// whose inner nodes count the elements under each child, which gives
// O(log n) insert, delete, rank, select-by-rank and seek to a score or lex
// bound; ranges are read by walking the linked leaves.
//
// Why a counted B+tree and not Redis's skiplist: in Go a skiplist node costs
// the member header, the score, a backward pointer and a slice of
// (forward, span) levels, 80 bytes and more per element before the map.
// A leaf here stores its (member header, score) pairs contiguously, 24 bytes
// each, and its capacity follows its length within about a quarter; inner
// nodes are one per ~2,000 elements. The member's bytes are shared by the
// map key and the leaf entry. Contiguous leaves are also kinder to the cache
// than pointer-chasing a skiplist.
//
// Small sets (at most zsetSmall members) have no map at all: lookups scan
// the elements, as Redis scans a listpack.
type ZSet struct {
	root *znode
	dict map[string]float64 // nil while the set is small
	n    int
	peak int   // largest size since dict was built, to rebuild it smaller
	born int64 // arrival time of the command that created it (arrival.go)

	// packed mirrors Redis 7.0's choice of listpack encoding, which is
	// visible: OBJECT ENCODING, and a listpack stores -0 as 0.
	packed bool
}

func (*ZSet) typeName() string { return "zset" }

const (
	zsetSmall = 32 // a set with more members gets a map

	// Redis's zset-max-listpack-entries and zset-max-listpack-value.
	zsetListpackEntries = 128
	zsetListpackValue   = 64

	zLeafMax  = 74            // elements per leaf: 74*24 bytes + Go's 8-byte header fill a 1792-byte size class
	zInnerMax = 64            // children per inner node
	zLeafMin  = zLeafMax / 4  // must be at least 1
	zInnerMin = zInnerMax / 4 // must be at least 2
)

// zitem is one element.
type zitem struct {
	member string
	score  float64
}

// znode is a B+tree node. A leaf has items and no kids.
type znode struct {
	items []zitem // leaf: the elements, sorted

	kids   []*znode // inner: children
	counts []int    // inner: elements under each child
	seps   []zitem  // inner: every element of kids[i] < seps[i] <= every element of kids[i+1]

	prev, next *znode // leaf chain
}

func (n *znode) leaf() bool { return n.kids == nil }

// size returns the number of elements under n.
func (n *znode) size() int {
	if n.leaf() {
		return len(n.items)
	}
	t := 0
	for _, c := range n.counts {
		t += c
	}
	return t
}

// newZSet returns an empty set. packed is Redis's choice for a new key,
// which ZADD makes from the length of the first member only.
func newZSet(packed bool) *ZSet { return &ZSet{packed: packed} }

// Len returns the number of members.
func (z *ZSet) Len() int { return z.n }

// encoding is what OBJECT ENCODING answers.
func (z *ZSet) encoding() string {
	if z.packed {
		return "listpack"
	}
	return "skiplist"
}

// clone returns an independent copy (COPY).
func (z *ZSet) clone() any {
	items := make([]zitem, 0, z.n)
	z.each(func(it *zitem) bool { items = append(items, *it); return true })
	return zsetFromSorted(items, z.packed)
}

// zview returns b as a string without copying, for lookups only: it must
// never be stored, since b points into the connection's read buffer.
func zview(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// zbound is a position in the order, given by what comes before it.
type zbound struct {
	kind   uint8
	incl   bool // equal elements come before too
	score  float64
	member string
}

const (
	zbItem  uint8 = iota // before (score, member)
	zbScore              // score below score
	zbLex                // member below member
	zbNone               // nothing comes before ("-" as a lex minimum)
	zbAll                // everything comes before ("+")
)

// before reports whether it comes before the bound. It is monotone over
// the order for zbItem and zbScore, and for zbLex when all scores are equal
// (as Redis requires for lex ranges).
func (b *zbound) before(it *zitem) bool {
	switch b.kind {
	case zbItem:
		if it.score != b.score {
			return it.score < b.score
		}
		if b.incl {
			return it.member <= b.member
		}
		return it.member < b.member
	case zbScore:
		if b.incl {
			return it.score <= b.score
		}
		return it.score < b.score
	case zbLex:
		if b.incl {
			return it.member <= b.member
		}
		return it.member < b.member
	case zbAll:
		return true
	}
	return false
}

// countBefore returns how many of the sorted items come before b.
func countBefore(items []zitem, b *zbound) int {
	lo, hi := 0, len(items)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if b.before(&items[m]) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// route returns the child of inner node n where the elements before b end:
// all of kids[:i] come before b and none of kids[i+1:] do.
func route(n *znode, b *zbound) int { return countBefore(n.seps, b) }

// seek finds where the elements before b end: the leaf, the number of its
// elements before b, and the total number of elements before b (the rank
// of the first element not before b).
func (z *ZSet) seek(b *zbound) (leaf *znode, idx, rank int) {
	n := z.root
	if n == nil {
		return nil, 0, 0
	}
	for !n.leaf() {
		i := route(n, b)
		for _, c := range n.counts[:i] {
			rank += c
		}
		n = n.kids[i]
	}
	idx = countBefore(n.items, b)
	return n, idx, rank + idx
}

// countTo returns the number of elements before b.
func (z *ZSet) countTo(b *zbound) int {
	switch b.kind {
	case zbNone:
		return 0
	case zbAll:
		return z.n
	}
	_, _, r := z.seek(b)
	return r
}

// zcursor is a position in the order: a leaf and an index in it.
type zcursor struct {
	leaf *znode
	i    int
}

func (c *zcursor) item() *zitem { return &c.leaf.items[c.i] }

func (c *zcursor) next() {
	c.i++
	if c.i >= len(c.leaf.items) && c.leaf.next != nil {
		c.leaf, c.i = c.leaf.next, 0
	}
}

func (c *zcursor) prev() {
	c.i--
	if c.i < 0 && c.leaf.prev != nil {
		c.leaf = c.leaf.prev
		c.i = len(c.leaf.items) - 1
	}
}

// at returns a cursor at rank r, 0 <= r < Len.
func (z *ZSet) at(r int) zcursor {
	n := z.root
	for !n.leaf() {
		i := 0
		for r >= n.counts[i] {
			r -= n.counts[i]
			i++
		}
		n = n.kids[i]
	}
	return zcursor{n, r}
}

// each calls fn for every element in order until it returns false.
func (z *ZSet) each(fn func(it *zitem) bool) {
	for n := z.firstLeaf(); n != nil; n = n.next {
		for i := range n.items {
			if !fn(&n.items[i]) {
				return
			}
		}
	}
}

// firstLeaf returns the leaf holding the smallest elements.
func (z *ZSet) firstLeaf() *znode {
	n := z.root
	for n != nil && !n.leaf() {
		n = n.kids[0]
	}
	return n
}

// Score returns the score of member.
func (z *ZSet) Score(member string) (float64, bool) {
	if z.dict != nil {
		s, ok := z.dict[member]
		return s, ok
	}
	for n := z.firstLeaf(); n != nil; n = n.next {
		for i := range n.items {
			if n.items[i].member == member {
				return n.items[i].score, true
			}
		}
	}
	return 0, false
}

// Rank returns the 0-based position of member in ascending order.
func (z *ZSet) Rank(member string) (int, bool) {
	s, ok := z.Score(member)
	if !ok {
		return 0, false
	}
	_, _, r := z.seek(&zbound{kind: zbItem, incl: true, score: s, member: member})
	return r - 1, true
}

// Insert adds a member that is not in the set. member is stored, so it
// must not be a view of borrowed bytes.
func (z *ZSet) Insert(member string, score float64) {
	if z.packed && (z.n+1 > zsetListpackEntries || len(member) > zsetListpackValue) {
		z.packed = false
	}
	if z.packed && score == 0 {
		score = 0 // a listpack stores -0 as 0
	}
	z.insertItem(zitem{member, score})
	z.n++
	if z.dict != nil {
		z.dict[member] = score
		z.peak = max(z.peak, z.n)
	} else if z.n > zsetSmall {
		z.buildDict()
	}
}

// SetScore moves a member from score old (its current one) to score.
func (z *ZSet) SetScore(member string, old, score float64) {
	if z.packed && score == 0 {
		score = 0
	}
	key := zbound{kind: zbItem, incl: true, score: old, member: member}
	// In place when the element keeps its place among its leaf neighbours.
	if leaf, idx, _ := z.seek(&key); idx > 0 {
		items := leaf.items
		i := idx - 1
		nu := zitem{items[i].member, score}
		if i > 0 && i+1 < len(items) && zless(&items[i-1], &nu) && zless(&nu, &items[i+1]) {
			items[i].score = score
			if z.dict != nil {
				z.dict[items[i].member] = score
			}
			return
		}
	}
	it, ok := z.deleteItem(&key, 0)
	if !ok {
		panic("shard: zset member missing from its tree")
	}
	it.score = score
	z.insertItem(it)
	if z.dict != nil {
		z.dict[it.member] = score // the stored key, never the caller's view
	}
}

// Remove deletes member and reports whether it was there.
func (z *ZSet) Remove(member string) bool {
	s, ok := z.Score(member)
	if !ok {
		return false
	}
	it, ok := z.deleteItem(&zbound{kind: zbItem, incl: true, score: s, member: member}, 0)
	if !ok {
		panic("shard: zset member missing from its tree")
	}
	z.forget(it.member)
	return true
}

// RemoveAt deletes and returns the element at rank r, 0 <= r < Len.
func (z *ZSet) RemoveAt(r int) zitem {
	it, _ := z.deleteItem(nil, r)
	z.forget(it.member)
	return it
}

// RemoveRange deletes the elements of ranks start..end inclusive.
func (z *ZSet) RemoveRange(start, end int) {
	k := end - start + 1
	if k <= 0 {
		return
	}
	if k < 64 || k*2 < z.n {
		for i := 0; i < k; i++ {
			z.RemoveAt(start)
		}
		return
	}
	// Most of the set goes: rebuild from what stays.
	kept := make([]zitem, 0, z.n-k)
	r := 0
	z.each(func(it *zitem) bool {
		if r < start || r > end {
			kept = append(kept, *it)
		}
		r++
		return true
	})
	packed := z.packed
	*z = *zsetFromSorted(kept, false)
	z.packed = packed // Redis never converts back to a listpack here
}

// forget drops member from the map after it left the tree.
func (z *ZSet) forget(member string) {
	z.n--
	if z.dict == nil {
		return
	}
	delete(z.dict, member)
	switch {
	case z.n < zsetSmall/2:
		z.dict = nil
	case z.n*4 < z.peak && z.peak > 1024:
		z.buildDict() // Go maps never shrink
	}
}

// buildDict makes the member map from the tree.
func (z *ZSet) buildDict() {
	z.dict = make(map[string]float64, z.n)
	z.peak = z.n
	z.each(func(it *zitem) bool { z.dict[it.member] = it.score; return true })
}

func zless(a, b *zitem) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return a.member < b.member
}

// zcompare orders items for sorting.
func zcompare(a, b zitem) int {
	switch {
	case a.score < b.score:
		return -1
	case a.score > b.score:
		return 1
	case a.member < b.member:
		return -1
	case a.member > b.member:
		return 1
	}
	return 0
}

// growItems returns items with room for at least one more element. Leaves
// grow by about a quarter, not double, to keep memory close to the data.
func growItems(items []zitem, need int) []zitem {
	if cap(items) >= need {
		return items
	}
	nc := max(need, cap(items)+cap(items)/4+2)
	nc = min(nc, max(need, zLeafMax))
	// append rounds the capacity up to the allocator's size class.
	out := append([]zitem(nil), make([]zitem, nc)...)
	return append(out[:0], items...)
}

// insertItem adds it to the tree; the caller keeps n and the map.
func (z *ZSet) insertItem(it zitem) {
	if z.root == nil {
		z.root = &znode{items: growItems(nil, 1)}
	}
	right, sep := z.insertInto(z.root, &it)
	if right != nil {
		left := z.root
		root := &znode{
			kids:   make([]*znode, 2, zInnerMax+1),
			counts: make([]int, 2, zInnerMax+1),
			seps:   make([]zitem, 1, zInnerMax),
		}
		root.kids[0], root.kids[1] = left, right
		root.counts[0], root.counts[1] = left.size(), right.size()
		root.seps[0] = sep
		z.root = root
	}
}

// insertInto adds it under n. When n splits it returns the new right
// sibling and the separator between the two.
func (z *ZSet) insertInto(n *znode, it *zitem) (*znode, zitem) {
	b := zbound{kind: zbItem, incl: true, score: it.score, member: it.member}
	if n.leaf() {
		i := countBefore(n.items, &b)
		if len(n.items) < zLeafMax {
			n.items = insertItemAt(n.items, i, *it)
			return nil, zitem{}
		}
		right := splitLeaf(n, i, *it)
		return right, right.items[0]
	}
	i := route(n, &b)
	n.counts[i]++
	right, sep := z.insertInto(n.kids[i], it)
	if right == nil {
		return nil, zitem{}
	}
	n.counts[i] = n.kids[i].size()
	n.kids = insertAt(n.kids, i+1, right)
	n.counts = insertAt(n.counts, i+1, right.size())
	n.seps = insertAt(n.seps, i, sep)
	if len(n.kids) <= zInnerMax {
		return nil, zitem{}
	}
	// Split the inner node in two.
	h := len(n.kids) / 2
	r := &znode{
		kids:   append(make([]*znode, 0, zInnerMax+1), n.kids[h:]...),
		counts: append(make([]int, 0, zInnerMax+1), n.counts[h:]...),
		seps:   append(make([]zitem, 0, zInnerMax), n.seps[h:]...),
	}
	up := n.seps[h-1]
	clear(n.kids[h:])
	clear(n.seps[h-1:])
	n.kids, n.counts, n.seps = n.kids[:h], n.counts[:h], n.seps[:h-1]
	return r, up
}

// insertItemAt inserts it at position i of a leaf's items.
func insertItemAt(items []zitem, i int, it zitem) []zitem {
	items = growItems(items, len(items)+1)
	items = items[:len(items)+1]
	copy(items[i+1:], items[i:])
	items[i] = it
	return items
}

// insertAt inserts v at position i of s.
func insertAt[T any](s []T, i int, v T) []T {
	var zero T
	s = append(s, zero)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// splitLeaf splits the full leaf n while inserting it at position i, and
// returns the new right leaf.
func splitLeaf(n *znode, i int, it zitem) *znode {
	right := &znode{prev: n, next: n.next}
	if n.next != nil {
		n.next.prev = right
	}
	n.next = right
	switch {
	case i == len(n.items) && right.next == nil:
		// Appending past the largest element, as with growing scores:
		// leave n full and start a new leaf.
		right.items = append(growItems(nil, 1), it)
	case i == 0 && n.prev == nil:
		// Prepending before the smallest element.
		right.items = n.items
		n.items = append(growItems(nil, 1), it)
	default:
		h := len(n.items) / 2
		old := n.items
		n.items = append(growItems(nil, h+h/4+1), old[:h]...)
		right.items = append(growItems(nil, len(old)-h+h/4+1), old[h:]...)
		if i <= h {
			n.items = insertItemAt(n.items, i, it)
		} else {
			right.items = insertItemAt(right.items, i-h, it)
		}
	}
	return right
}

// deleteItem removes the element equal to key or, with key nil, the one
// at rank r, and returns it. The caller keeps n and the map.
func (z *ZSet) deleteItem(key *zbound, r int) (zitem, bool) {
	if z.root == nil {
		return zitem{}, false
	}
	it, ok := deleteFrom(z.root, key, r)
	if !ok {
		return it, false
	}
	root := z.root
	switch {
	case !root.leaf() && len(root.kids) == 1:
		z.root = root.kids[0]
	case root.leaf() && len(root.items) == 0:
		z.root = nil
	}
	return it, true
}

func deleteFrom(n *znode, key *zbound, r int) (zitem, bool) {
	if n.leaf() {
		j := r
		if key != nil {
			j = countBefore(n.items, key) - 1
			if j < 0 || n.items[j].member != key.member || n.items[j].score != key.score {
				return zitem{}, false
			}
		}
		it := n.items[j]
		n.items = removeAt(n.items, j)
		if cap(n.items) > 8 && len(n.items)*2 < cap(n.items) {
			n.items = append(growItems(nil, len(n.items)+len(n.items)/4+1), n.items...)
		}
		return it, true
	}
	i := 0
	if key != nil {
		i = route(n, key)
	} else {
		for r >= n.counts[i] {
			r -= n.counts[i]
			i++
		}
	}
	it, ok := deleteFrom(n.kids[i], key, r)
	if !ok {
		return it, false
	}
	n.counts[i]--
	n.fixUnderflow(i)
	return it, true
}

func removeAt[T any](s []T, i int) []T {
	copy(s[i:], s[i+1:])
	var zero T
	s[len(s)-1] = zero
	return s[:len(s)-1]
}

// fixUnderflow merges or rebalances child i of n with a sibling when it
// has become too small.
func (n *znode) fixUnderflow(i int) {
	c := n.kids[i]
	if c.leaf() && len(c.items) >= zLeafMin || !c.leaf() && len(c.kids) >= zInnerMin || len(n.kids) < 2 {
		return
	}
	a := i
	if i > 0 {
		a = i - 1
	}
	l, r := n.kids[a], n.kids[a+1]
	if l.leaf() {
		total := len(l.items) + len(r.items)
		if total <= zLeafMax*3/4 {
			l.items = append(growItems(l.items, total), r.items...)
			l.next = r.next
			if r.next != nil {
				r.next.prev = l
			}
			n.removeKid(a + 1)
			n.counts[a] = total
			return
		}
		all := make([]zitem, 0, total)
		all = append(append(all, l.items...), r.items...)
		h := total / 2
		l.items = append(growItems(nil, h+h/4+1), all[:h]...)
		r.items = append(growItems(nil, total-h+h/4+1), all[h:]...)
		n.counts[a], n.counts[a+1] = h, total-h
		n.seps[a] = r.items[0]
		return
	}
	kids := len(l.kids) + len(r.kids)
	if kids <= zInnerMax*3/4 {
		l.kids = append(l.kids, r.kids...)
		l.counts = append(l.counts, r.counts...)
		l.seps = append(append(l.seps, n.seps[a]), r.seps...)
		n.counts[a] += n.counts[a+1]
		n.removeKid(a + 1)
		return
	}
	allKids := append(append([]*znode(nil), l.kids...), r.kids...)
	allCounts := append(append([]int(nil), l.counts...), r.counts...)
	allSeps := append(append(append([]zitem(nil), l.seps...), n.seps[a]), r.seps...)
	h := kids / 2
	l.kids = append(make([]*znode, 0, zInnerMax+1), allKids[:h]...)
	l.counts = append(make([]int, 0, zInnerMax+1), allCounts[:h]...)
	l.seps = append(make([]zitem, 0, zInnerMax), allSeps[:h-1]...)
	r.kids = append(make([]*znode, 0, zInnerMax+1), allKids[h:]...)
	r.counts = append(make([]int, 0, zInnerMax+1), allCounts[h:]...)
	r.seps = append(make([]zitem, 0, zInnerMax), allSeps[h:]...)
	n.seps[a] = allSeps[h-1]
	n.counts[a], n.counts[a+1] = l.size(), r.size()
}

// removeKid drops child i (i >= 1) and the separator before it.
func (n *znode) removeKid(i int) {
	n.kids = removeAt(n.kids, i)
	n.counts = removeAt(n.counts, i)
	n.seps = removeAt(n.seps, i-1)
}

// zsetFromSorted builds a set from distinct elements in order. The slice
// is not kept. packed is Redis's encoding choice for a computed result
// when the caller does not know better.
func zsetFromSorted(items []zitem, packed bool) *ZSet {
	z := &ZSet{n: len(items), packed: packed}
	if packed {
		for i := range items {
			if items[i].score == 0 {
				items[i].score = 0
			}
		}
	}
	if len(items) == 0 {
		return z
	}
	// Leaves as full as allowed, evenly.
	nl := (len(items) + zLeafMax - 1) / zLeafMax
	level := make([]*znode, nl)
	var prev *znode
	for i := range nl {
		lo, hi := i*len(items)/nl, (i+1)*len(items)/nl
		leaf := &znode{items: append(growItems(nil, hi-lo), items[lo:hi]...), prev: prev}
		if prev != nil {
			prev.next = leaf
		}
		level[i], prev = leaf, leaf
	}
	for len(level) > 1 {
		np := (len(level) + zInnerMax - 1) / zInnerMax
		up := make([]*znode, np)
		for i := range np {
			lo, hi := i*len(level)/np, (i+1)*len(level)/np
			p := &znode{
				kids:   append(make([]*znode, 0, zInnerMax+1), level[lo:hi]...),
				counts: make([]int, 0, zInnerMax+1),
				seps:   make([]zitem, 0, zInnerMax),
			}
			for j, k := range p.kids {
				p.counts = append(p.counts, k.size())
				if j > 0 {
					p.seps = append(p.seps, firstItem(k))
				}
			}
			up[i] = p
		}
		level = up
	}
	z.root = level[0]
	if z.n > zsetSmall {
		z.buildDict()
	}
	return z
}

func firstItem(n *znode) zitem {
	for !n.leaf() {
		n = n.kids[0]
	}
	return n.items[0]
}

// zsetPacked reports whether Redis 7.0 stores a computed result of n
// members, the longest maxLen bytes, as a listpack.
func zsetPacked(n, maxLen int) bool {
	return n <= zsetListpackEntries && maxLen <= zsetListpackValue
}
