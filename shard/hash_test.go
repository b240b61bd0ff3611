package shard

import (
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// hashOf builds a hash of alternating fields and values with Redis's
// default limits.
func hashOf(pairs ...string) *Hash {
	h := newHash(0)
	for i := 0; i+1 < len(pairs); i += 2 {
		h.setString(pairs[i], pairs[i+1], defaultHashLimits)
	}
	return h
}

// The compact form against a model: random sets (new fields, updates that
// grow, shrink or keep a value's size, lengths across the one- and
// two-byte uvarint boundary, empty strings) and deletes keep the fields in
// insertion order with their latest values, and converting keeps them.
func TestHashCompactModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lim := hashLimits{entries: 1 << 20, value: 1 << 20}
	for round := 0; round < 50; round++ {
		h := newHash(rng.IntN(64))
		var order []string
		model := map[string]string{}
		for op := 0; op < 300; op++ {
			f := "f" + strconv.Itoa(rng.IntN(40))
			if rng.IntN(4) == 0 {
				_, had := model[f]
				if got := h.del([]byte(f)); got != had {
					t.Fatalf("del %s = %v, want %v", f, got, had)
				}
				if had {
					delete(model, f)
					order = slices.DeleteFunc(order, func(s string) bool { return s == f })
				}
				continue
			}
			v := strings.Repeat(string(rune('a'+rng.IntN(26))), []int{0, 1, 5, 127, 128, 129, 300}[rng.IntN(7)])
			_, had := model[f]
			var added bool
			if rng.IntN(2) == 0 {
				added = h.set([]byte(f), []byte(v), lim)
			} else {
				added = h.setString(f, v, lim)
			}
			if added == had {
				t.Fatalf("set %s: added %v, but it existed: %v", f, added, had)
			}
			if !had {
				order = append(order, f)
			}
			model[f] = v
		}
		check := func(what string) {
			t.Helper()
			if h.Len() != len(order) {
				t.Fatalf("%s: Len %d, want %d", what, h.Len(), len(order))
			}
			i := 0
			for f, v := range h.All() {
				if h.compact() && f != order[i] {
					t.Fatalf("%s: field %d is %q, want %q", what, i, f, order[i])
				}
				if model[f] != v {
					t.Fatalf("%s: %s = %q, want %q", what, f, v, model[f])
				}
				i++
			}
			for f, v := range model {
				if got, ok := h.get([]byte(f)); !ok || got != v {
					t.Fatalf("%s: get %s = %q, %v", what, f, got, ok)
				}
			}
			if _, ok := h.get([]byte("nosuch")); ok {
				t.Fatalf("%s: get nosuch found", what)
			}
		}
		check("compact")
		c := h.clone().(*Hash)
		h.convert()
		check("converted")
		h = c
		check("clone")
	}
}

// A value read with get stays as it was when the hash changes in place.
func TestHashGetCopies(t *testing.T) {
	h := hashOf("f", "abc", "g", "xyz")
	got, _ := h.get([]byte("f"))
	h.set([]byte("f"), []byte("ABC"), defaultHashLimits) // same size: in place
	h.del([]byte("f"))
	if got != "abc" {
		t.Fatalf("get returned %q after the hash changed", got)
	}
}

// FuzzHashCompact drives a hash with operations read from the input (set
// by bytes or string, delete, lookup, random pair) under small limits, and
// checks it against a map and the insertion order after every step; at the
// end its DUMP restores to the same pairs, in the same order when compact.
// Value lengths cross the one-, two- and three-byte uvarint boundaries.
func FuzzHashCompact(f *testing.F) {
	f.Add([]byte{8, 64, 0, 1, 2, 0, 2, 5, 1, 1, 6, 2, 1, 0, 3, 2, 0})
	f.Add([]byte{2, 200, 0, 0, 4, 0, 1, 5, 0, 2, 6, 2, 0, 0, 1, 1, 7})
	f.Add([]byte{255, 255, 1, 0, 7, 1, 3, 6, 0, 0, 8, 2, 3, 0, 4, 9, 9})
	lens := []int{0, 1, 5, 127, 128, 129, 200, 16383, 16384}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) < 2 {
			return
		}
		lim := hashLimits{entries: int64(ops[0]%32) + 1, value: int64(ops[1]) * 70}
		ops = ops[2:]
		h := newHash(int(lim.entries))
		model := map[string]string{}
		var order []string
		for i := 0; i+2 < len(ops) && i < 3*300; i += 3 {
			field := "f" + strconv.Itoa(int(ops[i+1]%24))
			switch ops[i] % 5 {
			case 0, 1: // set
				v := strings.Repeat(string(rune('a'+ops[i+2]%26)), lens[int(ops[i+2])%len(lens)])
				_, had := model[field]
				var added bool
				if ops[i]%5 == 0 {
					added = h.set([]byte(field), []byte(v), lim)
				} else {
					added = h.setString(field, v, lim)
				}
				if added == had {
					t.Fatalf("set %s: added %v, existed %v", field, added, had)
				}
				if !had {
					order = append(order, field)
				}
				model[field] = v
			case 2: // delete
				_, had := model[field]
				if h.del([]byte(field)) != had {
					t.Fatalf("del %s: want %v", field, had)
				}
				delete(model, field)
				order = slices.DeleteFunc(order, func(s string) bool { return s == field })
			case 3: // read
				v, ok := h.lookup([]byte(field))
				if w, had := model[field]; ok != had || v != w || h.has([]byte(field)) != had {
					t.Fatalf("lookup %s = %q %v, want %q %v", field, v, ok, w, had)
				}
			case 4: // a random pair
				if h.Len() > 0 {
					if f, v := h.random(); model[f] != v {
						t.Fatalf("random %s = %q, want %q", f, v, model[f])
					}
				}
			}
			if h.Len() != len(model) {
				t.Fatalf("Len %d, want %d", h.Len(), len(model))
			}
			if h.compact() && (int64(h.Len()) > lim.entries) {
				t.Fatalf("compact with %d fields, limit %d", h.Len(), lim.entries)
			}
			k := 0
			for f, v := range h.All() {
				if h.compact() && f != order[k] {
					t.Fatalf("field %d is %s, want %s", k, f, order[k])
				}
				if model[f] != v {
					t.Fatalf("%s = %q, want %q", f, v, model[f])
				}
				k++
			}
		}
		if h.Len() == 0 {
			return
		}
		d, err := rdb.Decode(dumpValue(h))
		if err != nil {
			t.Fatal(err)
		}
		r, ok := restoredValue(d, lim).(*Hash)
		if !ok {
			t.Fatalf("the dump did not restore: %T", restoredValue(d, lim))
		}
		// A listpack restores as one; a hashtable as Redis loads a plain
		// hash: a listpack again if it is within both limits.
		small := int64(h.Len()) <= lim.entries
		for f, v := range h.All() {
			small = small && int64(len(f)) <= lim.value && int64(len(v)) <= lim.value
		}
		if r.compact() != (h.compact() || small) {
			t.Fatalf("restored compact %v, was %v, within the limits %v", r.compact(), h.compact(), small)
		}
		got, want := maps.Collect(r.All()), maps.Collect(h.All())
		if !maps.Equal(got, want) {
			t.Fatalf("restored %v, want %v", got, want)
		}
		if h.compact() {
			var a, b []string
			for f := range r.All() {
				a = append(a, f)
			}
			for f := range h.All() {
				b = append(b, f)
			}
			if !slices.Equal(a, b) {
				t.Fatalf("restored order %q, want %q", a, b)
			}
		}
	})
}

// A listpack never grows past Redis's safety size (LISTPACK_MAX_SAFETY_SIZE,
// 1 GB): HSET or HSETNX whose fields and values would take it past converts
// the hash first, as does RESTORE of one that big, however high
// hash-max-listpack-value is set. Otherwise a compact hash could outgrow
// the 4-byte length of the listpack DUMP writes.
func TestHashSafetySize(t *testing.T) {
	defer func(n int) { hashSafeBytes = n }(hashSafeBytes)
	hashSafeBytes = 1000
	s := New(0)
	s.SetHashLimits(512, 1<<20)
	v := strings.Repeat("v", 300)
	run(t, s, 0, "HSET", "h", "a", v, "b", v)
	if got := run(t, s, 0, "OBJECT", "ENCODING", "h"); got != "$8\r\nlistpack\r\n" {
		t.Fatalf("600 bytes: %q", got)
	}
	run(t, s, 0, "HSET", "h", "c", v, "d", v)
	if got := run(t, s, 0, "OBJECT", "ENCODING", "h"); got != "$9\r\nhashtable\r\n" {
		t.Fatalf("1200 bytes: %q", got)
	}
	run(t, s, 0, "HSET", "n", "a", v, "b", v, "c", v)
	run(t, s, 0, "HSETNX", "n", "d", v)
	if got := run(t, s, 0, "OBJECT", "ENCODING", "n"); got != "$9\r\nhashtable\r\n" {
		t.Fatalf("HSETNX past the size: %q", got)
	}
	big := strings.Repeat("w", 2000)
	run(t, s, 0, "HSET", "x", "a", big)
	if got := run(t, s, 0, "OBJECT", "ENCODING", "x"); got != "$9\r\nhashtable\r\n" {
		t.Fatalf("one 2000-byte value: %q", got)
	}
	// A dump of a large listpack restores as a hashtable.
	hashSafeBytes = 1 << 30
	run(t, s, 0, "HSET", "y", "a", big, "b", big)
	p := bulkPayload(t, run(t, s, 0, "DUMP", "y"))
	hashSafeBytes = 1000
	run(t, s, 0, "RESTORE", "z", "0", p)
	if got := run(t, s, 0, "OBJECT", "ENCODING", "z"); got != "$9\r\nhashtable\r\n" {
		t.Fatalf("restored: %q", got)
	}
	if got := run(t, s, 0, "HSTRLEN", "z", "b"); got != ":2000\r\n" {
		t.Fatalf("restored value: %q", got)
	}
}
