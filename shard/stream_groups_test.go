package shard

import (
	"slices"
	"testing"
)

// idList stays sorted and duplicate-free through adds and removes at the
// head (the common XACK), in the middle and at the end.
func TestIDList(t *testing.T) {
	var l idList
	for _, ms := range []uint64{5, 1, 9, 3, 7, 3, 11} {
		l.add(StreamID{ms, 0})
	}
	ids := func() []uint64 {
		var out []uint64
		for _, id := range l {
			out = append(out, id.Ms)
		}
		return out
	}
	if got := ids(); !slices.Equal(got, []uint64{1, 3, 5, 7, 9, 11}) {
		t.Fatalf("after adds: %v", got)
	}
	for _, ms := range []uint64{1, 3, 7, 11, 4} {
		l.remove(StreamID{ms, 0})
	}
	if got := ids(); !slices.Equal(got, []uint64{5, 9}) {
		t.Fatalf("after removes: %v", got)
	}
	l.add(StreamID{2, 0})
	l.add(StreamID{20, 0})
	if got := ids(); !slices.Equal(got, []uint64{2, 5, 9, 20}) || l.from(StreamID{6, 0}) != 2 {
		t.Fatalf("after more adds: %v", got)
	}
}
