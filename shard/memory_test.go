package shard

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestAllocBytes(t *testing.T) {
	for _, tc := range [][2]int64{{0, 0}, {1, 8}, {8, 8}, {9, 16}, {17, 24}, {25, 32}, {33, 48},
		{2176, 2304}, {32768, 32768}, {32769, 40960}, {33792, 40960}} {
		if got := allocBytes(tc[0]); got != tc[1] {
			t.Errorf("allocBytes(%d) = %d, want %d", tc[0], got, tc[1])
		}
	}
}

// mapBytes grows with the entries and jumps where Go's map doubles.
func TestMapBytes(t *testing.T) {
	prev := int64(0)
	for n := 1; n <= 5000; n++ {
		got := mapBytes(n, slotStrStr)
		if got < prev {
			t.Fatalf("mapBytes(%d) = %d < mapBytes(%d) = %d", n, got, n-1, prev)
		}
		prev = got
	}
	// One group up to 8 entries; 16 slots from 9 to 14; 32 from 15.
	if a, b := mapBytes(8, 16), mapBytes(1, 16); a != b {
		t.Errorf("8 entries %d, 1 entry %d: one group either way", a, b)
	}
	if a, b := mapBytes(14, 16), mapBytes(15, 16); a >= b {
		t.Errorf("14 entries %d, 15 entries %d: no doubling", a, b)
	}
}

// heapAfter reports the live heap in bytes after a full collection.
func heapAfter() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// The estimate of each type is within a fifth of what building the value
// really adds to the heap.
func TestValueUsageMatchesHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const n = 20000
	elem := func(i int) string {
		s := strconv.Itoa(i)
		return s + strings.Repeat("x", 24-len(s))
	}
	build := map[string]func() any{
		"hash": func() any {
			h := hashOf()
			for i := 0; i < n; i++ {
				h.setString(elem(i), elem(i), defaultHashLimits)
			}
			return h
		},
		"hash (listpack)": func() any {
			h := hashOf()
			for i := 0; i < n; i++ {
				h.push(elem(i), elem(i)) // distinct: no search needed
			}
			return h
		},
		"set": func() any {
			s := Set{}
			for i := 0; i < n; i++ {
				s[elem(i)] = struct{}{}
			}
			return s
		},
		"list": func() any {
			l := &List{}
			for i := 0; i < n; i++ {
				l.PushBack(elem(i))
			}
			return l
		},
		"zset": func() any {
			z := newZSet(false)
			for i := 0; i < n; i++ {
				z.Insert(elem(i), float64(i))
			}
			return z
		},
	}
	for name, fn := range build {
		before := heapAfter()
		v := fn()
		grew := heapAfter() - before
		est := valueUsage(v, 1<<62)
		runtime.KeepAlive(v)
		if est*5 < grew*4 || est*5 > grew*6 {
			t.Errorf("%s of %d: estimate %d, heap grew %d", name, n, est, grew)
		} else {
			t.Logf("%s of %d: estimate %d, heap grew %d", name, n, est, grew)
		}
	}
}
