package shard

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// Histogram counts command latencies in nanoseconds for INFO latencystats
// and LATENCY HISTOGRAM, as Redis's per-command HdrHistograms do: values
// below 64 ns exactly, above that in ranges of powers of two each split
// into 32 equal steps, so any value is known within about 3%.
type Histogram struct {
	counts [histSize]uint64
	total  uint64
}

const (
	histSub  = 32
	histSize = 2*histSub + 35*histSub // exact below 64 ns, then up to 2^40 ns
)

// histIndex is the bucket of a latency of ns nanoseconds.
func histIndex(ns int64) int {
	if ns < 2*histSub {
		return int(max(ns, 0))
	}
	e := bits.Len64(uint64(ns)) - 6 // ns>>e is in [32, 64)
	i := 2*histSub + (e-1)*histSub + int(uint64(ns)>>e) - histSub
	return min(i, histSize-1)
}

// histUpper is the largest value bucket i holds.
func histUpper(i int) int64 {
	if i < 2*histSub {
		return int64(i)
	}
	e := (i-2*histSub)/histSub + 1
	sub := (i-2*histSub)%histSub + histSub
	return int64(sub+1)<<e - 1
}

// Record counts one latency.
func (h *Histogram) Record(ns int64) {
	h.counts[histIndex(ns)]++
	h.total++
}

// Add adds o's counts to h.
func (h *Histogram) Add(o *Histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.total += o.total
}

// Total is the number of latencies recorded.
func (h *Histogram) Total() uint64 { return h.total }

// Percentile returns the latency (ns) below which p percent of the
// recorded ones fall: the top of the bucket that holds it.
func (h *Histogram) Percentile(p float64) int64 {
	if h.total == 0 {
		return 0
	}
	want := uint64(math.Ceil(p / 100 * float64(h.total)))
	want = max(want, 1)
	var seen uint64
	for i, n := range h.counts {
		seen += n
		if seen >= want {
			return histUpper(i)
		}
	}
	return histUpper(histSize - 1)
}

// CDF calls fn with each power-of-two bound from 1024 ns up, in
// microseconds, and the count of latencies at or below it, while the
// count grows: Redis's LATENCY HISTOGRAM buckets.
func (h *Histogram) CDF(fn func(usec int64, count uint64)) {
	var seen, prev uint64
	i := 0
	for bound := int64(1024); ; bound <<= 1 {
		for i < histSize && histUpper(i) < bound {
			seen += h.counts[i]
			i++
		}
		if seen > prev {
			fn(bound/1000, seen)
			prev = seen
		}
		if seen == h.total || i >= histSize {
			return
		}
	}
}

// AtomicHistogram is a Histogram that any goroutine may record into.
type AtomicHistogram struct {
	counts [histSize]atomic.Uint64
	total  atomic.Uint64
}

// Record counts one latency.
func (h *AtomicHistogram) Record(ns int64) {
	h.counts[histIndex(ns)].Add(1)
	h.total.Add(1)
}

// AddTo adds a snapshot of h's counts to dst.
func (h *AtomicHistogram) AddTo(dst *Histogram) {
	var total uint64
	for i := range h.counts {
		n := h.counts[i].Load()
		dst.counts[i] += n
		total += n
	}
	dst.total += total
}

// Reset zeroes the counts.
func (h *AtomicHistogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.total.Store(0)
}
