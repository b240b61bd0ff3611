package shard

import (
	"strconv"
	"testing"
	"time"
)

// fillExpired stores n string keys in db 0 whose TTL passed at `at`.
func fillExpired(s *Shard, prefix string, n int, at int64) {
	db := s.DB(0)
	for i := 0; i < n; i++ {
		k := prefix + strconv.Itoa(i)
		db.setStrKey(k, "v", false, 0)
		db.setExpire([]byte(k), at)
	}
}

// TestActiveExpireKeepsUp pins issue 7 item 5: keys that expired and are
// never read must all go within a bounded number of ticks. The tick used
// to remove at most 200 keys per database, whatever was waiting, so
// 300,000 dead keys took 1,500 ticks (2.5 minutes at hz 10).
func TestActiveExpireKeepsUp(t *testing.T) {
	const n = 300_000
	s := New(0)
	fillExpired(s, "k", n, 1000)
	now := int64(2000)
	ticks := 0
	// Each tick runs at least 16 rounds of 20 before it looks at the clock,
	// so 300,000 keys take at most 938 ticks even on a slow machine; with
	// the default budget of 25 ms it takes a handful.
	for s.DB(0).Len() > 0 && ticks < 1000 {
		s.Tick(now)
		now += 100
		ticks++
	}
	if left := s.DB(0).Len(); left > 0 {
		t.Fatalf("%d of %d expired keys left after %d ticks", left, n, ticks)
	}
	if s.ExpiredKeys != n {
		t.Fatalf("ExpiredKeys = %d, want %d", s.ExpiredKeys, n)
	}
	if s.DB(0).Expires() != 0 {
		t.Fatalf("%d TTLs left", s.DB(0).Expires())
	}
	t.Logf("%d keys expired in %d ticks", n, ticks)
}

// TestActiveExpireTickIsBounded checks the time budget: with a budget
// that is always exceeded, a tick stops at the first clock check, after 16
// rounds, so one tick cannot hold the shard for long whatever is waiting.
func TestActiveExpireTickIsBounded(t *testing.T) {
	for _, c := range []struct{ effort, perRound int }{{1, 20}, {10, 65}} {
		s := New(0)
		s.SetActiveExpire(c.effort, time.Nanosecond)
		fillExpired(s, "k", 10_000, 1000)
		s.Tick(2000)
		if got, want := s.ExpiredKeys, uint64(16*c.perRound); got != want {
			t.Errorf("effort %d: one tick expired %d keys, want %d (16 rounds of %d)", c.effort, got, want, c.perRound)
		}
		// The next tick starts with the next database, not this one.
		if s.expireNext != 1 {
			t.Errorf("effort %d: next tick starts at db %d, want 1", c.effort, s.expireNext)
		}
	}
}

// TestActiveExpireStopsWhenFewExpired checks the other stop condition: a
// round with at most 10% expired keys ends the database's turn, so a
// database of live keys costs one round per tick.
func TestActiveExpireStopsWhenFewExpired(t *testing.T) {
	s := New(0)
	fillExpired(s, "live", 10_000, 1<<40)
	s.Tick(2000)
	if s.DB(0).Len() != 10_000 || s.ExpiredKeys != 0 {
		t.Fatalf("live keys removed: %d left, %d expired", s.DB(0).Len(), s.ExpiredKeys)
	}
	// Sparse dead keys among live ones are still found: the sample starts
	// at a random place each tick, so every key is eventually looked at.
	fillExpired(s, "dead", 100, 1000)
	for ticks := 0; s.DB(0).Len() > 10_000; ticks++ {
		if ticks == 20_000 {
			t.Fatalf("%d dead keys left after %d ticks", s.DB(0).Len()-10_000, ticks)
		}
		s.Tick(2000)
	}
}

// TestActiveExpireOtherDatabases checks that every database is expired,
// not just the first.
func TestActiveExpireOtherDatabases(t *testing.T) {
	s := New(0)
	for i := 0; i < NumDBs; i++ {
		db := s.DB(i)
		for j := 0; j < 1000; j++ {
			k := "k" + strconv.Itoa(j)
			db.setStrKey(k, "v", false, 0)
			db.setExpire([]byte(k), 1000)
		}
	}
	for ticks := 0; ticks < 100; ticks++ {
		s.Tick(2000)
	}
	for i := 0; i < NumDBs; i++ {
		if n := s.DB(i).Len(); n != 0 {
			t.Errorf("db %d: %d expired keys left", i, n)
		}
	}
}
