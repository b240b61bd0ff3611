package shard

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
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
