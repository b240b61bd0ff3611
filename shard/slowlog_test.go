package shard

import (
	"math/rand"
	"strconv"
	"testing"
)

// The ring against a model, while slowlog-max-len moves up, down and to
// 0 between logs and reads: Len and AppendNewest see the newest entries,
// newest first, at most max of them.
func TestSlowRingModel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	l := NewSlowlog()
	l.Set(0, 5)
	var r SlowRing
	var model []int64 // oldest first
	keep := func(max int) {
		if len(model) > max {
			model = model[len(model)-max:]
		}
	}
	for i := 0; i < 100000; i++ {
		max := l.MaxLen()
		switch op := rng.Intn(10); {
		case op < 6:
			r.Log(l, [][]byte{[]byte("x" + strconv.Itoa(i))}, 1000, nil)
			if max <= 0 {
				model = nil
			} else {
				model = append(model, l.ids.Load()-1)
				keep(max)
			}
		case op < 8:
			l.Set(0, int64(rng.Intn(8)))
		case op < 9:
			keep(max)
			n := rng.Intn(10)
			got := r.AppendNewest(nil, max, n)
			if r.Len(max) != len(model) || len(got) != min(n, len(model)) {
				t.Fatalf("step %d: Len %d, %d of the newest %d, model %v", i, r.Len(max), len(got), n, model)
			}
			for j, e := range got {
				if want := model[len(model)-1-j]; e.ID != want {
					t.Fatalf("step %d: newest %d is %d, want %d", i, j, e.ID, want)
				}
			}
		default:
			if rng.Intn(20) == 0 {
				r.Reset()
				model = nil
			}
		}
	}
}
