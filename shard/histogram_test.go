package shard

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// Every value falls in a bucket whose range holds it, within 1/32 of it.
func TestHistogramBuckets(t *testing.T) {
	for _, v := range []int64{0, 1, 63, 64, 65, 100, 1000, 1023, 1024, 1025, 999999, 1 << 30, 1<<40 - 1} {
		i := histIndex(v)
		lo := int64(0)
		if i > 0 {
			lo = histUpper(i-1) + 1
		}
		if v < lo || v > histUpper(i) {
			t.Fatalf("%d in bucket %d [%d, %d]", v, i, lo, histUpper(i))
		}
		if v >= 64 && float64(histUpper(i)-lo) > float64(v)/32 {
			t.Fatalf("bucket of %d is %d wide", v, histUpper(i)-lo)
		}
	}
}

// Percentiles agree with the sorted values to the bucket's precision, and
// the CDF counts what lies at or below each bound.
func TestHistogramPercentilesAndCDF(t *testing.T) {
	var h Histogram
	var vals []int64
	for range 10000 {
		v := int64(rand.ExpFloat64() * 5000)
		vals = append(vals, v)
		h.Record(v)
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, p := range []float64{50, 99, 99.9} {
		rank := int(math.Ceil(p / 100 * float64(len(vals)))) // as Percentile ranks
		exact := vals[rank-1]
		got := h.Percentile(p)
		if got < exact || float64(got-exact) > float64(exact)/16+64 {
			t.Fatalf("p%v = %d, exact %d", p, got, exact)
		}
	}
	var last uint64
	h.CDF(func(usec int64, n uint64) {
		bound := usec * 1000
		want := uint64(sort.Search(len(vals), func(i int) bool { return vals[i] > bound+(bound/40) }))
		if n < last || n > want {
			t.Fatalf("CDF %dus = %d (at most %d)", usec, n, want)
		}
		last = n
	})
	if last != h.Total() {
		t.Fatalf("CDF ends at %d of %d", last, h.Total())
	}
}
