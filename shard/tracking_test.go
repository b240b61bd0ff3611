package shard

import (
	"strings"
	"sync"
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// sinkLog records what a tracker was sent.
type sinkLog struct {
	mu  sync.Mutex
	got []string // "k1,k2" per message, "*" for all
}

func (l *sinkLog) Invalidate(keys []string, all bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if all {
		l.got = append(l.got, "*")
		return
	}
	l.got = append(l.got, strings.Join(keys, ","))
}

func (l *sinkLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.Join(l.got, " ")
	l.got = nil
	return s
}

func tracked(tr *Tracker, c Call) Call {
	c.Track, c.Remember = tr, true
	return c
}

func execTracked(s *Shard, now int64, calls ...Call) {
	s.Exec(&Batch{Proto: wire.RESP2, Calls: calls}, now)
	s.trk.settle()
}

// Default mode: a read remembers its keys; a change sends one message and
// forgets the key; NOLOOP spares the client's own change; a tracker that is
// off or in BCAST mode gets nothing for keys it read before.
func TestTrackingDefaultMode(t *testing.T) {
	table := NewTrackingTable()
	s := New(0)
	s.SetTracking(table)
	var log, other sinkLog
	a, b := NewTracker(&log), NewTracker(&other)
	a.SetMode(TrackOn)
	b.SetMode(TrackOn | TrackNoloop)
	execTracked(s, 1000, call("set", "k", "1"), call("set", "j", "1"))
	execTracked(s, 1000, tracked(a, call("mget", "k", "j")), tracked(b, call("get", "k")))
	if table.Keys() != 2 || table.Items() != 3 {
		t.Fatalf("keys %d items %d, want 2 and 3", table.Keys(), table.Items())
	}
	execTracked(s, 1000, tracked(b, call("set", "k", "2")))
	if got := log.take(); got != "k" {
		t.Fatalf("a got %q", got)
	}
	if got := other.take(); got != "" {
		t.Fatalf("NOLOOP b got %q for its own write", got)
	}
	execTracked(s, 1000, call("set", "k", "3")) // forgotten: nothing more
	if got := log.take(); got != "" {
		t.Fatalf("a got %q after the key was forgotten", got)
	}
	a.SetMode(TrackOn | TrackBcast)
	execTracked(s, 1000, call("del", "j"))
	if got := log.take(); got != "" || table.Keys() != 0 {
		t.Fatalf("BCAST a got %q for a key read before; keys %d", got, table.Keys())
	}
	// Lazy expiry counts as a change.
	a.SetMode(TrackOn)
	execTracked(s, 1000, call("set", "e", "1", "px", "10"), tracked(a, call("get", "e")))
	execTracked(s, 2000, call("get", "e"))
	if got := log.take(); got != "e" {
		t.Fatalf("expiry: a got %q", got)
	}
	// A flush empties the table and calls the hook once.
	flushes := 0
	table.Flushed = func() { flushes++ }
	execTracked(s, 2000, call("set", "f", "1"), tracked(a, call("get", "f")))
	execTracked(s, 2000, call("flushall"))
	if flushes != 1 || table.Keys() != 0 || table.Items() != 0 {
		t.Fatalf("flush: hook %d times, keys %d items %d", flushes, table.Keys(), table.Items())
	}
}

// BCAST: the keys a batch changed under a prefix go out sorted in one
// message; a NOLOOP client's message leaves out its own changes.
func TestTrackingBcast(t *testing.T) {
	table := NewTrackingTable()
	s := New(0)
	s.SetTracking(table)
	var all, noloop sinkLog
	a, b := NewTracker(&all), NewTracker(&noloop)
	a.SetMode(TrackOn | TrackBcast)
	b.SetMode(TrackOn | TrackBcast | TrackNoloop)
	table.SetPrefixes([]*Prefix{{Prefix: "p:", Trackers: []*Tracker{a, b}}})
	execTracked(s, 1000, call("set", "p:z", "1"), tracked(b, call("set", "p:a", "1")), call("set", "q:1", "1"))
	if got := all.take(); got != "p:a,p:z" {
		t.Fatalf("a got %q", got)
	}
	if got := noloop.take(); got != "p:z" {
		t.Fatalf("NOLOOP b got %q", got)
	}
	execTracked(s, 1000, tracked(b, call("set", "p:b", "1")))
	if got := noloop.take(); got != "" {
		t.Fatalf("NOLOOP b got %q for its own only change", got)
	}
}

// The limit is exact even when shards trim at once: keys read on eight
// shards, then tracking-table-max-keys lowered, leave exactly the limit,
// and each eviction is one invalidation.
func TestTrackingTrimIsExact(t *testing.T) {
	table := NewTrackingTable()
	var log sinkLog
	tr := NewTracker(&log)
	tr.SetMode(TrackOn)
	shards := make([]*Shard, 8)
	for i := range shards {
		shards[i] = New(i)
		shards[i].SetTracking(table)
		for k := 0; k < 300; k++ {
			key := "k" + string(rune('a'+i)) + string(rune('a'+k%26)) + string(rune('a'+k/26))
			execTracked(shards[i], 1000, tracked(tr, call("get", key)))
		}
	}
	if table.Keys() != 2400 {
		t.Fatalf("keys = %d", table.Keys())
	}
	table.SetMaxKeys(7)
	var wg sync.WaitGroup
	for _, s := range shards {
		wg.Add(1)
		go func(s *Shard) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				s.trk.trim()
			}
		}(s)
	}
	wg.Wait()
	left := 0
	for _, s := range shards {
		left += len(s.trk.keys)
	}
	if table.Keys() != 7 || left != 7 || table.Items() != 7 {
		t.Fatalf("after trimming: table says %d keys %d items, shards hold %d; want 7", table.Keys(), table.Items(), left)
	}
	if n := len(strings.Fields(log.take())); n != 2400-7 {
		t.Fatalf("%d invalidations, want %d", n, 2400-7)
	}
}
