package shard

import (
	"encoding/binary"
	"iter"
	"math/rand/v2"
	"strings"
	"sync/atomic"
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
//   - compact (the listpack): pairs holds one packed string per field and
//     value, in insertion order; lookups scan it. HSET of an existing
//     field replaces its pair in place, HDEL closes the gap.
//   - hashtable: m maps field to value, each pair sharing one allocation.
//
// A packed pair is the field's length as a uvarint, the field, then the
// value: one allocation and one 16-byte slot per pair, where a map costs a
// table of 32-byte slots plus its header.
type Hash struct {
	pairs []string          // compact form; nil once converted
	m     map[string]string // hashtable form; nil while compact
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
	s.hashLim.entries.Store(maxEntries + 1)
	s.hashLim.value.Store(maxValue + 1)
}

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

// newHash returns an empty compact hash with room for n pairs.
func newHash(n int) *Hash {
	return &Hash{pairs: make([]string, 0, n)}
}

// unpack splits a packed pair into its field and value.
func unpack(p string) (f, v string) {
	n, off := pairFieldLen(p)
	return p[off : off+n], p[off+n:]
}

// pairFieldLen returns a packed pair's field length and where the field
// starts.
func pairFieldLen(p string) (n, off int) {
	if p[0] < 0x80 {
		return int(p[0]), 1
	}
	var x uint64
	var s uint
	for i := 0; i < len(p); i++ {
		b := p[i]
		if b < 0x80 {
			return int(x | uint64(b)<<s), i + 1
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, len(p) // unreachable for a pair built by pack
}

// pack builds a packed pair in one allocation.
func pack(f, v []byte) string {
	var pre [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(pre[:], uint64(len(f)))
	var b strings.Builder
	b.Grow(k + len(f) + len(v))
	b.Write(pre[:k])
	b.Write(f)
	b.Write(v)
	return b.String()
}

// packString is pack for strings.
func packString(f, v string) string {
	var pre [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(pre[:], uint64(len(f)))
	var b strings.Builder
	b.Grow(k + len(f) + len(v))
	b.Write(pre[:k])
	b.WriteString(f)
	b.WriteString(v)
	return b.String()
}

// Len is the number of fields.
func (h *Hash) Len() int {
	if h.m != nil {
		return len(h.m)
	}
	return len(h.pairs)
}

// compact reports whether h is in its listpack form.
func (h *Hash) compact() bool { return h.m == nil }

// find returns the index of field f in the compact form, or -1.
func (h *Hash) find(f []byte) int {
	for i, p := range h.pairs {
		n, off := pairFieldLen(p)
		if n == len(f) && p[off:off+n] == string(f) {
			return i
		}
	}
	return -1
}

// findString is find for a string.
func (h *Hash) findString(f string) int {
	for i, p := range h.pairs {
		n, off := pairFieldLen(p)
		if n == len(f) && p[off:off+n] == f {
			return i
		}
	}
	return -1
}

// get returns the value of field f.
func (h *Hash) get(f []byte) (string, bool) {
	if h.m != nil {
		v, ok := h.m[string(f)]
		return v, ok
	}
	if i := h.find(f); i >= 0 {
		_, v := unpack(h.pairs[i])
		return v, true
	}
	return "", false
}

// getString is get for a string.
func (h *Hash) getString(f string) (string, bool) {
	if h.m != nil {
		v, ok := h.m[f]
		return v, ok
	}
	if i := h.findString(f); i >= 0 {
		_, v := unpack(h.pairs[i])
		return v, true
	}
	return "", false
}

// has reports whether field f exists.
func (h *Hash) has(f []byte) bool {
	if h.m != nil {
		_, ok := h.m[string(f)]
		return ok
	}
	return h.find(f) >= 0
}

// set sets field f to v and reports whether f is new. As Redis does, a
// field or value longer than lim.value, or a field count above lim.entries
// once it is set (even by an update), converts a compact hash.
func (h *Hash) set(f, v []byte, lim hashLimits) bool {
	if h.m == nil && (int64(len(f)) > lim.value || int64(len(v)) > lim.value) {
		h.convert()
	}
	if h.m != nil {
		n := len(h.m)
		// Field and value share one allocation, and the field is hashed
		// once: the map grows only when it is new.
		kv := pack(f, v)
		fs, vs := unpack(kv)
		h.m[fs] = vs
		return len(h.m) > n
	}
	i := h.find(f)
	if i >= 0 {
		h.pairs[i] = pack(f, v)
	} else {
		h.pairs = append(h.pairs, pack(f, v))
	}
	if int64(len(h.pairs)) > lim.entries {
		h.convert()
	}
	return i < 0
}

// setString is set for strings.
func (h *Hash) setString(f, v string, lim hashLimits) bool {
	if h.m == nil && (int64(len(f)) > lim.value || int64(len(v)) > lim.value) {
		h.convert()
	}
	if h.m != nil {
		n := len(h.m)
		fs, vs := unpack(packString(f, v))
		h.m[fs] = vs
		return len(h.m) > n
	}
	i := h.findString(f)
	if i >= 0 {
		h.pairs[i] = packString(f, v)
	} else {
		h.pairs = append(h.pairs, packString(f, v))
	}
	if int64(len(h.pairs)) > lim.entries {
		h.convert()
	}
	return i < 0
}

// del removes field f and reports whether it existed; the other fields
// keep their order.
func (h *Hash) del(f []byte) bool {
	if h.m != nil {
		n := len(h.m)
		delete(h.m, string(f))
		return len(h.m) < n
	}
	i := h.find(f)
	if i < 0 {
		return false
	}
	last := len(h.pairs) - 1
	copy(h.pairs[i:], h.pairs[i+1:])
	h.pairs[last] = ""
	h.pairs = h.pairs[:last]
	return true
}

// convert turns a compact hash into a hashtable.
func (h *Hash) convert() {
	m := make(map[string]string, len(h.pairs))
	for _, p := range h.pairs {
		f, v := unpack(p)
		m[f] = v
	}
	h.m, h.pairs = m, nil
}

// All yields every field and value: in insertion order while compact, in
// map order after.
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
		for _, p := range h.pairs {
			if !yield(unpack(p)) {
				return
			}
		}
	}
}

// random returns a random field and its value; h must not be empty.
func (h *Hash) random() (string, string) {
	if h.m != nil {
		f := randomKey(h.m)
		return f, h.m[f]
	}
	return unpack(h.pairs[rand.IntN(len(h.pairs))])
}

// encoding is what OBJECT ENCODING answers.
func (h *Hash) encoding() string {
	if h.m != nil {
		return "hashtable"
	}
	return "listpack"
}

// clone copies h in the same form, as Redis's COPY does; the strings are
// immutable and shared.
func (h *Hash) clone() any {
	if h.m != nil {
		m := make(map[string]string, len(h.m))
		for f, v := range h.m {
			m[f] = v
		}
		return &Hash{m: m}
	}
	return &Hash{pairs: append(make([]string, 0, len(h.pairs)), h.pairs...)}
}
