package shard

import (
	"testing"
	"time"
)

// A series keeps one sample per second, that second's worst, in a ring of
// the newest LatencySamples seconds, oldest first, and the worst of all
// time even after it left the ring.
func TestLatencySeries(t *testing.T) {
	var ts LatencySeries
	ts.add(100, 5)
	ts.add(100, 3) // same second, better: kept as 5
	ts.add(100, 9) // same second, worse
	ts.add(101, 2)
	got := ts.AppendSamples(nil)
	if len(got) != 2 || got[0] != (LatencySample{100, 9}) || got[1] != (LatencySample{101, 2}) || ts.Max != 9 {
		t.Fatalf("samples %v max %d", got, ts.Max)
	}
	for sec := int64(102); sec < 400; sec++ {
		ts.add(sec, 1+sec%7)
	}
	got = ts.AppendSamples(nil)
	if len(got) != LatencySamples || got[0].Time != 400-LatencySamples || got[LatencySamples-1].Time != 399 || ts.Max != 9 {
		t.Fatalf("%d samples, %v .. %v, max %d", len(got), got[0], got[len(got)-1], ts.Max)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Time != got[i-1].Time+1 || got[i].Ms != 1+got[i].Time%7 {
			t.Fatalf("sample %d: %v after %v", i, got[i], got[i-1])
		}
	}
}

// Only runs at or above a positive threshold are sampled.
func TestLatencyWants(t *testing.T) {
	var none *Slowlog
	if _, ok := none.LatencyWants(int64(time.Hour)); ok {
		t.Fatal("nil settings sampled")
	}
	l := NewSlowlog()
	if _, ok := l.LatencyWants(int64(time.Hour)); ok {
		t.Fatal("threshold 0 sampled")
	}
	l.SetLatencyThreshold(5)
	if _, ok := l.LatencyWants(int64(5*time.Millisecond) - 1); ok {
		t.Fatal("4.999 ms sampled at 5")
	}
	if ms, ok := l.LatencyWants(int64(5 * time.Millisecond)); !ok || ms != 5 {
		t.Fatalf("5 ms: %d %v", ms, ok)
	}
}

// An expiry tick that takes at least the threshold is an "expire-cycle"
// event; one under it is not.
func TestLatencyExpireCycle(t *testing.T) {
	s := New(0)
	l := NewSlowlog()
	s.SetSlowlog(l)
	s.SetActiveExpire(1, 100*time.Millisecond)
	l.SetLatencyThreshold(1000)
	s.activeExpireCycle(2000) // nothing to do: well under a second
	if s.latmon.Series(EventExpireCycle) != nil {
		t.Fatal("sampled under the threshold")
	}
	fillExpired(s, "k", 200_000, 1000)
	l.SetLatencyThreshold(1)
	s.activeExpireCycle(2000) // 200,000 keys to remove, for up to 25 ms
	ts := s.latmon.Series(EventExpireCycle)
	if ts == nil || ts.Max < 1 || s.ExpiredKeys == 0 {
		t.Fatalf("expire-cycle not sampled: %+v, %d expired", ts, s.ExpiredKeys)
	}
}
