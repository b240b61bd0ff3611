package shard

import (
	"math/rand/v2"

	"github.com/dgryski/go-farm"
)

// keyIndex is SCAN's index of one database's keys: buckets by the top bits
// of each key's hash position, kept exact by DB.set and DB.remove while it
// lives (see scan.go for the design).
type keyIndex struct {
	bits    uint // 1<<bits buckets
	buckets [][]keyEntry
	n       int   // keys indexed
	used    int64 // Unix ms of the last SCAN that used it
}

type keyEntry struct {
	pos  uint64 // keyPos(name)
	name string
}

// keyBits is the width of a key's hash position in scan order.
const keyBits = 64 - keyShift

// Bucket sizing: a rebuild aims at indexTarget keys per bucket; the index
// grows past indexGrowAt on average and shrinks below one.
const (
	indexMinBits = 4
	indexTarget  = 4
	indexGrowAt  = 16
)

// keyPos is a key's position in scan order. The hash is seeded at start-up,
// as Redis seeds its siphash: with a fixed one, keys computed offline to
// share a bucket would make each update of the index and each SCAN call
// reaching that bucket cost as much as all of them together. Cursors are
// only valid within one process anyway.
func keyPos(name string) uint64 { return farm.Hash64WithSeed([]byte(name), keySeed) >> keyShift }

var keySeed = rand.Uint64()

// indexBits is the number of bucket bits for n keys.
func indexBits(n int) uint {
	bits := uint(indexMinBits)
	for bits < keyBits && (1<<bits)*indexTarget < n {
		bits++
	}
	return bits
}

// newKeyIndex indexes every key of db. It costs O(n).
func newKeyIndex(db *DB) *keyIndex {
	entries := make([]keyEntry, 0, db.Len())
	for k := range db.strs {
		entries = append(entries, keyEntry{keyPos(k), k})
	}
	for k := range db.objs {
		entries = append(entries, keyEntry{keyPos(k), k})
	}
	ix := &keyIndex{}
	ix.fill(indexBits(len(entries)), entries)
	return ix
}

// fill lays entries out in 1<<bits buckets, sharing one array (a counting
// sort by bucket). Each bucket's capacity ends at its length, so a later
// append copies that bucket alone.
func (ix *keyIndex) fill(bits uint, entries []keyEntry) {
	shift := keyBits - bits
	starts := make([]int, (1<<bits)+1)
	for _, e := range entries {
		starts[(e.pos>>shift)+1]++
	}
	for b := 1; b < len(starts); b++ {
		starts[b] += starts[b-1]
	}
	arr := make([]keyEntry, len(entries))
	next := append([]int(nil), starts[:len(starts)-1]...)
	for _, e := range entries {
		b := e.pos >> shift
		arr[next[b]] = e
		next[b]++
	}
	ix.bits, ix.n = bits, len(entries)
	ix.buckets = make([][]keyEntry, 1<<bits)
	for b := range ix.buckets {
		ix.buckets[b] = arr[starts[b]:starts[b+1]:starts[b+1]]
	}
}

// resize rebuilds the buckets for the current number of keys: O(n), run
// only after the count doubled or halved several times over, so O(1) per
// change amortized.
func (ix *keyIndex) resize() {
	entries := make([]keyEntry, 0, ix.n)
	for _, b := range ix.buckets {
		entries = append(entries, b...)
	}
	ix.fill(indexBits(ix.n), entries)
}

// add indexes a key the database did not hold.
func (ix *keyIndex) add(name string) {
	e := keyEntry{keyPos(name), name}
	b := e.pos >> (keyBits - ix.bits)
	ix.buckets[b] = append(ix.buckets[b], e)
	ix.n++
	if ix.n > indexGrowAt<<ix.bits {
		ix.resize()
	}
}

// remove forgets a key the database deleted.
func (ix *keyIndex) remove(name string) {
	pos := keyPos(name)
	b := pos >> (keyBits - ix.bits)
	bucket := ix.buckets[b]
	for i := range bucket {
		if bucket[i].pos == pos && bucket[i].name == name {
			last := len(bucket) - 1
			bucket[i] = bucket[last]
			bucket[last] = keyEntry{} // let the name go
			ix.buckets[b] = bucket[:last]
			ix.n--
			if ix.bits > indexMinBits && ix.n < 1<<ix.bits {
				ix.resize()
			}
			return
		}
	}
}

// step returns the keys of whole buckets from hash position from on, until
// it has count of them or has looked at 10*count buckets (as Redis bounds
// its walk over empty buckets), and the position where the next call
// starts, or 0 after the last bucket. The names are appended to out.
func (ix *keyIndex) step(from uint64, count int, out []string) ([]string, uint64) {
	shift := keyBits - ix.bits
	nb := uint64(1) << ix.bits
	b := from >> shift
	got := 0
	for visited := 0; b < nb && got < count && visited < 10*count; visited++ {
		for _, e := range ix.buckets[b] {
			if e.pos >= from {
				out = append(out, e.name)
				got++
			}
		}
		b++
	}
	if b >= nb {
		return out, 0
	}
	return out, b << shift
}
