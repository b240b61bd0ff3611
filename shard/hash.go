package shard

import (
	"encoding/binary"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"unsafe"
)

// Hash is a Redis hash: field to value.
//
// Redis 7.0 keeps a hash as a listpack, its fields and values one after the
// other in insertion order, while it has at most hash-max-listpack-entries
// fields and every field and value is at most hash-max-listpack-value
// bytes; past either limit it converts it to a hash table, for good. A
// Hash does the same, so that HGETALL, HKEYS, HVALS, HSCAN, HRANDFIELD and
// DUMP of a small hash answer in Redis's order:
//
//   - compact (the listpack): lp is one buffer, a 4-byte little-endian
//     pair count, then each field and each value as a uvarint length and
//     its bytes, pair after pair in insertion order. Lookups walk it. HSET
//     of an existing field rewrites its value in place (moving the tail
//     when the length changes); HDEL closes the gap.
//   - hashtable: m maps field to value, each pair sharing one allocation.
//
// The compact form is one pointer-free allocation and about two bytes of
// overhead per element, where a map costs a table of 32-byte slots plus a
// header and an allocation per pair.
//
// Strings read from a compact hash (views, All, random) alias lp: they are
// valid until the hash next changes, which is enough for replying from
// them; anything kept longer (SORT's results) uses get, which copies.
type Hash struct {
	lp []byte            // compact form; nil once converted
	m  map[string]string // hashtable form; nil while compact
	// ownPairs reports that every value in m shares one allocation with a
	// copy of its field, made by pairStrings for this hash alone, so
	// that set may write a value of the same size class over the old one
	// (values read from m are views, as those of the compact form).
	ownPairs bool
}

func (*Hash) typeName() string { return "hash" }

// hashLimits are hash-max-listpack-entries and hash-max-listpack-value.
type hashLimits struct{ entries, value int64 }

// defaultHashLimits are Redis 7.0's defaults.
var defaultHashLimits = hashLimits{entries: 512, value: 64}

// hashLimitsCfg holds a shard's limits, each plus one so that zero means
// "not set: Redis's default".
type hashLimitsCfg struct{ entries, value atomic.Int64 }

// SetHashLimits sets hash-max-listpack-entries and hash-max-listpack-value
// for the shard; safe from any goroutine.
func (s *Shard) SetHashLimits(maxEntries, maxValue int64) {
	s.hashLim.entries.Store(limitPlusOne(maxEntries))
	s.hashLim.value.Store(limitPlusOne(maxValue))
}

// limitPlusOne is a configured limit (0 or more) plus one, for the atomic
// "zero means not set" fields: the largest limit, 2^63-1, is kept as
// 2^63-1 (a limit of 2^63-2, as unreachable) instead of overflowing to a
// negative number, which would read as "not set".
func limitPlusOne(v int64) int64 { return min(max(v, 0), math.MaxInt64-1) + 1 }

func (db *DB) hashLimits() hashLimits {
	l := defaultHashLimits
	if db.sh == nil {
		return l
	}
	if e := db.sh.hashLim.entries.Load(); e > 0 {
		l.entries = e - 1
	}
	if v := db.sh.hashLim.value.Load(); v > 0 {
		l.value = v - 1
	}
	return l
}

// hashSafeBytes is Redis's LISTPACK_MAX_SAFETY_SIZE, 1 GB: a compact hash
// that a field and value would take past it converts first, as Redis's
// lpSafeToAdd check does, whatever hash-max-listpack-value allows. It keeps
// every listpack well within the 4-byte sizes of the compact form and of
// the listpack DUMP writes. A variable for tests.
var hashSafeBytes = 1 << 30

// lpHeader is the compact form's pair count, a little-endian uint32.
const lpHeader = 4

// newHash returns an empty compact hash with room for capBytes bytes of
// encoded fields and values (see elemSize).
func newHash(capBytes int) *Hash {
	return &Hash{lp: make([]byte, lpHeader, lpHeader+max(capBytes, 0))}
}

// elemSize is the compact form's size of an element of n bytes.
func elemSize(n int) int { return uvarintLen(n) + n }

// uvarintLen is the length of n as a uvarint.
func uvarintLen(n int) int {
	k := 1
	for ; n >= 0x80; n >>= 7 {
		k++
	}
	return k
}

func (h *Hash) count() int     { return int(binary.LittleEndian.Uint32(h.lp)) }
func (h *Hash) setCount(n int) { binary.LittleEndian.PutUint32(h.lp, uint32(n)) }

// elem returns where the bytes of the element encoded at off start and end.
func (h *Hash) elem(off int) (start, end int) { return elemAt(h.lp, off) }

// elemAt is elem for the buffer b.
func elemAt(b []byte, off int) (start, end int) {
	if c := b[off]; c < 0x80 {
		return off + 1, off + 1 + int(c)
	}
	n, k := binary.Uvarint(b[off:])
	return off + k, off + k + int(n)
}

// view is a string aliasing lp[start:end].
func (h *Hash) view(start, end int) string {
	if start == end {
		return ""
	}
	return unsafe.String(&h.lp[start], end-start)
}

// find returns the offset of field f's element and of its value's, or -1.
func (h *Hash) find(f []byte) (field, value int) {
	// elemAt by hand: the walk is the hot loop of every lookup, and a call
	// per element costs more than the comparison.
	b := h.lp
	for off := lpHeader; off < len(b); {
		fs, fe := off+1, off+1+int(b[off])
		if b[off] >= 0x80 {
			fs, fe = elemAt(b, off)
		}
		if fe-fs == len(f) && string(b[fs:fe]) == string(f) {
			return off, fe
		}
		if b[fe] < 0x80 {
			off = fe + 1 + int(b[fe])
		} else {
			_, off = elemAt(b, fe)
		}
	}
	return -1, -1
}

// findString is find for a string.
func (h *Hash) findString(f string) (field, value int) {
	// elemAt by hand: the walk is the hot loop of every lookup, and a call
	// per element costs more than the comparison.
	b := h.lp
	for off := lpHeader; off < len(b); {
		fs, fe := off+1, off+1+int(b[off])
		if b[off] >= 0x80 {
			fs, fe = elemAt(b, off)
		}
		if fe-fs == len(f) && string(b[fs:fe]) == f {
			return off, fe
		}
		if b[fe] < 0x80 {
			off = fe + 1 + int(b[fe])
		} else {
			_, off = elemAt(b, fe)
		}
	}
	return -1, -1
}

// Len is the number of fields.
func (h *Hash) Len() int {
	if h.m != nil {
		return len(h.m)
	}
	return h.count()
}

// compact reports whether h is in its listpack form.
func (h *Hash) compact() bool { return h.m == nil }

// lookup returns the value of field f, aliasing a compact hash: valid
// until the hash changes.
func (h *Hash) lookup(f []byte) (string, bool) {
	if h.m != nil {
		v, ok := h.m[string(f)]
		return v, ok
	}
	if _, off := h.find(f); off >= 0 {
		return h.view(h.elem(off)), true
	}
	return "", false
}

// get is lookup with a value of its own, safe to keep.
func (h *Hash) get(f []byte) (string, bool) {
	v, ok := h.lookup(f)
	if ok {
		v = strings.Clone(v)
	}
	return v, ok
}

// getString is get for a string field.
func (h *Hash) getString(f string) (string, bool) {
	if h.m != nil {
		v, ok := h.m[f]
		return strings.Clone(v), ok // see ownPairs
	}
	if _, off := h.findString(f); off >= 0 {
		return strings.Clone(h.view(h.elem(off))), true
	}
	return "", false
}

// has reports whether field f exists.
func (h *Hash) has(f []byte) bool {
	if h.m != nil {
		_, ok := h.m[string(f)]
		return ok
	}
	field, _ := h.find(f)
	return field >= 0
}

// set sets field f to v and reports whether f is new. As Redis does, a
// field or value longer than lim.value, a pair that would take the compact
// form past hashSafeBytes, or a field count above lim.entries once it is
// set (even by an update), converts a compact hash.
func (h *Hash) set(f, v []byte, lim hashLimits) bool {
	if h.m == nil && (int64(len(f)) > lim.value || int64(len(v)) > lim.value ||
		len(h.lp)+len(f)+len(v) > hashSafeBytes) {
		h.convert()
	}
	if h.m != nil {
		if h.ownPairs && h.overwrite(f, v) {
			return false
		}
		n := len(h.m)
		fs, vs := pairStrings(f, v)
		h.m[fs] = vs
		return len(h.m) > n
	}
	field, value := h.find(f)
	if field >= 0 {
		h.replace(value, v)
	} else {
		h.lp = append(binary.AppendUvarint(h.lp, uint64(len(f))), f...)
		h.lp = append(binary.AppendUvarint(h.lp, uint64(len(v))), v...)
		h.setCount(h.count() + 1)
	}
	if int64(h.count()) > lim.entries {
		h.convert()
	}
	return field < 0
}

// setString is set for strings.
func (h *Hash) setString(f, v string, lim hashLimits) bool {
	if h.m == nil && (int64(len(f)) > lim.value || int64(len(v)) > lim.value ||
		len(h.lp)+len(f)+len(v) > hashSafeBytes) {
		h.convert()
	}
	if h.m != nil {
		n := len(h.m)
		fs, vs := pairStrings([]byte(f), []byte(v))
		h.m[fs] = vs
		return len(h.m) > n
	}
	field, value := h.findString(f)
	if field >= 0 {
		h.replace(value, []byte(v))
	} else {
		h.push(f, v)
	}
	if int64(h.count()) > lim.entries {
		h.convert()
	}
	return field < 0
}

// push appends a pair known to be new to a compact hash.
func (h *Hash) push(f, v string) {
	h.lp = append(binary.AppendUvarint(h.lp, uint64(len(f))), f...)
	h.lp = append(binary.AppendUvarint(h.lp, uint64(len(v))), v...)
	h.setCount(h.count() + 1)
}

// replace rewrites the element at off as v, moving what follows when the
// size changes.
func (h *Hash) replace(off int, v []byte) {
	_, oldEnd := h.elem(off)
	oldSize, newSize := oldEnd-off, elemSize(len(v))
	switch tail := len(h.lp); {
	case newSize > oldSize:
		d := newSize - oldSize
		h.lp = slices.Grow(h.lp, d)[:tail+d]
		copy(h.lp[oldEnd+d:], h.lp[oldEnd:tail])
	case newSize < oldSize:
		copy(h.lp[off+newSize:], h.lp[oldEnd:])
		h.lp = h.lp[:tail-(oldSize-newSize)]
	}
	k := binary.PutUvarint(h.lp[off:], uint64(len(v)))
	copy(h.lp[off+k:], v)
}

// overwrite writes v over the value of the existing field f, in the
// allocation it shares with f, when v fits its size class (see ownPairs);
// it reports whether it did.
func (h *Hash) overwrite(f, v []byte) bool {
	old, ok := h.m[string(f)]
	if !ok || len(old) == 0 || len(v) == 0 || !sameClass(len(f)+len(old), len(f)+len(v)) {
		return false
	}
	p := unsafe.StringData(old)
	copy(unsafe.Slice(p, len(v)), v)
	field := unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(p), -len(f))), len(f))
	h.m[field] = unsafe.String(p, len(v))
	return true
}

// pairStrings copies a field and value into one allocation.
func pairStrings(f, v []byte) (string, string) {
	var b strings.Builder
	b.Grow(len(f) + len(v))
	b.Write(f)
	b.Write(v)
	s := b.String()
	return s[:len(f)], s[len(f):]
}

// del removes field f and reports whether it existed; the other fields
// keep their order.
func (h *Hash) del(f []byte) bool {
	if h.m != nil {
		n := len(h.m)
		delete(h.m, string(f))
		return len(h.m) < n
	}
	field, value := h.find(f)
	if field < 0 {
		return false
	}
	_, end := h.elem(value)
	h.lp = append(h.lp[:field], h.lp[end:]...)
	h.setCount(h.count() - 1)
	return true
}

// convert turns a compact hash into a hashtable.
func (h *Hash) convert() {
	m := make(map[string]string, h.count())
	for f, v := range h.All() {
		fs, vs := pairStrings([]byte(f), []byte(v))
		m[fs] = vs
	}
	h.m, h.lp, h.ownPairs = m, nil, true
}

// All yields every field and value: in insertion order while compact
// (aliasing the hash: see Hash), in map order after. The hash must not
// change during the iteration.
func (h *Hash) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		if h.m != nil {
			for f, v := range h.m {
				if !yield(f, v) {
					return
				}
			}
			return
		}
		for off := lpHeader; off < len(h.lp); {
			fs, fe := h.elem(off)
			vs, ve := h.elem(fe)
			if !yield(h.view(fs, fe), h.view(vs, ve)) {
				return
			}
			off = ve
		}
	}
}

// pairs returns the fields and values of a compact hash, aliasing it.
func (h *Hash) pairs() [][2]string {
	out := make([][2]string, 0, h.count())
	for f, v := range h.All() {
		out = append(out, [2]string{f, v})
	}
	return out
}

// pairAt returns the i-th pair of a compact hash, aliasing it.
func (h *Hash) pairAt(i int) (string, string) {
	off := lpHeader
	for ; i > 0; i-- {
		_, fe := h.elem(off)
		_, off = h.elem(fe)
	}
	fs, fe := h.elem(off)
	return h.view(fs, fe), h.view(h.elem(fe))
}

// random returns a random field and its value (aliasing a compact hash);
// h must not be empty.
func (h *Hash) random() (string, string) {
	if h.m != nil {
		f := randomKey(h.m)
		return f, h.m[f]
	}
	return h.pairAt(rand.IntN(h.count()))
}

// encoding is what OBJECT ENCODING answers.
func (h *Hash) encoding() string {
	if h.m != nil {
		return "hashtable"
	}
	return "listpack"
}

// clone copies h in the same form, as Redis's COPY does.
func (h *Hash) clone() any {
	if h.m != nil {
		m := make(map[string]string, len(h.m))
		for f, v := range h.m {
			fs, vs := pairStrings([]byte(f), []byte(v))
			m[fs] = vs
		}
		return &Hash{m: m, ownPairs: true}
	}
	return &Hash{lp: slices.Clone(h.lp)}
}
