package shard

import (
	"math/rand"
	"slices"
	"strconv"
	"testing"
)

// TestListMatchesSlice drives List and a plain slice with the same random
// operations and requires identical contents after each one.
func TestListMatchesSlice(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var l List
	var ref []string
	for step := 0; step < 20000; step++ {
		v := strconv.Itoa(step)
		switch op := rng.Intn(7); {
		case op == 0:
			l.PushFront(v)
			ref = append([]string{v}, ref...)
		case op == 1:
			l.PushBack(v)
			ref = append(ref, v)
		case op == 2 && len(ref) > 0:
			if got := l.PopFront(); got != ref[0] {
				t.Fatalf("step %d: PopFront = %q, want %q", step, got, ref[0])
			}
			ref = ref[1:]
		case op == 3 && len(ref) > 0:
			if got := l.PopBack(); got != ref[len(ref)-1] {
				t.Fatalf("step %d: PopBack = %q, want %q", step, got, ref[len(ref)-1])
			}
			ref = ref[:len(ref)-1]
		case op == 4:
			i := rng.Intn(len(ref) + 1)
			l.Insert(i, v)
			ref = slices.Insert(ref, i, v)
		case op == 5 && len(ref) > 0:
			i := rng.Intn(len(ref))
			l.RemoveAt(i)
			ref = slices.Delete(ref, i, i+1)
		case op == 6 && len(ref) > 2 && rng.Intn(50) == 0:
			a := rng.Intn(len(ref))
			b := a + rng.Intn(len(ref)-a)
			l.Keep(a, b)
			ref = slices.Clone(ref[a : b+1])
		}
		if l.Len() != len(ref) {
			t.Fatalf("step %d: Len = %d, want %d", step, l.Len(), len(ref))
		}
		if l.Len() > 0 && !slices.Equal(l.Slice(0, l.Len()-1), ref) {
			t.Fatalf("step %d: contents differ", step)
		}
	}
}
