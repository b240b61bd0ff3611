package shard

import (
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// A blocked BLMOVE served where it waits pushes onto its destination; the
// destination must be measured again like any written key, or a list fed
// by served moves grows while used_memory does not.
func TestServedMoveAccountsDestination(t *testing.T) {
	s := New(0)
	run(t, s, 1000, "RPUSH", "dst", "seed")
	val := strings.Repeat("x", 10000)
	for i := 0; i < 50; i++ {
		move := newMoveWaiter(bargs("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"))
		c := Ctx{self: s, NumShards: 1, Proto: wire.RESP2, Waiter: move}
		c.block()
		if !move.DstLocal {
			t.Fatal("DstLocal not set on one shard")
		}
		run(t, s, 1000, "LPUSH", "src", val)
		select {
		case wk := <-move.Woken:
			if wk.Retry {
				t.Fatal("retry on one shard")
			}
		default:
			t.Fatal("move not served")
		}
	}
	db := &s.dbs[0]
	e := db.objs["dst"]
	fresh := objEntry{v: e.v}
	fresh.account(len("dst"))
	if e.size != fresh.size {
		t.Fatalf("dst recorded at %d bytes, estimated at %d", e.bytes(), fresh.bytes())
	}
	if db.used != expectedUsed(db) {
		t.Fatalf("db accounts %d, its keys %d", db.used, expectedUsed(db))
	}
}

// The accounting measures a stream after every write to it: the estimate
// must come from a sample of its blocks and groups, as Redis's MEMORY
// USAGE samples them, not from a walk of all of them, which made XADD to
// a stream of a million entries ten times slower. SAMPLES 0 still
// measures everything.
func TestStreamEstimateSamples(t *testing.T) {
	s := New(0)
	for i := 0; i < 3000; i++ {
		run(t, s, 1000, "XADD", "s", "*", "field", strings.Repeat("v", 100))
	}
	for i := 0; i < 20; i++ {
		run(t, s, 1000, "XGROUP", "CREATE", "s", "g"+strconv.Itoa(i), "0")
	}
	st := s.dbs[0].objs["s"].v.(*Stream)
	if len(st.blocks) < 50 {
		t.Fatalf("only %d blocks", len(st.blocks))
	}
	before, all := st.usage(memoryDefaultSamples), st.Bytes()
	// Grow a block and a group far from the start: a sample of the
	// first ones does not see them; the full measure does.
	b := st.blocks[len(st.blocks)/2]
	b.buf = append(make([]byte, 0, 1<<20), b.buf...)
	st.groups[15].name += strings.Repeat("n", 1<<20)
	if got := st.usage(memoryDefaultSamples); got != before {
		t.Fatalf("sampled estimate went from %d to %d: it walked every block or group", before, got)
	}
	if st.Bytes() < all+3<<19 {
		t.Fatalf("full measure %d, was %d", st.Bytes(), all)
	}
	if got := run(t, s, 1000, "MEMORY", "USAGE", "s", "SAMPLES", "0"); got != ":"+strconv.FormatInt(keyUsage(1, st, false, math.MaxInt64), 10)+"\r\n" {
		t.Fatalf("MEMORY USAGE SAMPLES 0: %q", got)
	}
}

// SET stores key and value in one allocation. Overwriting a string must
// let the old allocation go: a map assignment replaces the stored key
// too, but a write through the entry's slot kept the old key, and with it
// the whole old value, alive for as long as the key lived, unaccounted.
func TestOverwrittenStringFreesOldValue(t *testing.T) {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	s := New(0)
	const keys, size = 32, 1 << 20
	big := strings.Repeat("v", size)
	for i := 0; i < keys; i++ {
		run(t, s, 1000, "SET", "k"+strconv.Itoa(i), big)
	}
	for i := 0; i < keys; i++ {
		run(t, s, 1000, "SET", "k"+strconv.Itoa(i), "small")
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if held := int64(ms.HeapAlloc) - int64(base.HeapAlloc); held > keys*size/2 {
		t.Fatalf("%d MB of heap live after every 1 MB value was overwritten by a small one (%d keys)", held>>20, keys)
	}
	runtime.KeepAlive(s)
}

// The eviction pool keeps candidates between evictions. It must keep
// copies of their names: a key's name may share one allocation with its
// value (keyValue), so a pooled name pinned a value that a client had
// since deleted or overwritten, unaccounted, until the next eviction.
func TestEvictionPoolPinsNoValues(t *testing.T) {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	s := New(0)
	b := NewBudget(1, nil)
	s.SetBudget(b)
	const keys, size = 40, 1 << 20
	big := strings.Repeat("v", size)
	for i := 0; i < keys; i++ {
		run(t, s, 1000, "SET", "k"+strconv.Itoa(i), big)
	}
	b.Set(b.Data()*3/4, AllKeysLRU, 5, 100)
	run(t, s, 1000, "GET", "k0") // evicts a quarter
	b.Set(0, AllKeysLRU, 5, 100)
	if s.EvictedKeys() == 0 || len(s.pool) == 0 {
		t.Fatalf("%d evicted, %d left in the pool", s.EvictedKeys(), len(s.pool))
	}
	run(t, s, 1000, "FLUSHALL")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if held := int64(ms.HeapAlloc) - int64(base.HeapAlloc); held > 4*size {
		t.Fatalf("%d MB live after FLUSHALL, with %d names in the eviction pool", held>>20, len(s.pool))
	}
	runtime.KeepAlive(s)
}

// maxmemory-eviction-tenacity 0 is the least eviction per call (Redis's
// time limit of 0 us: one check after 16 keys), not an unlimited one.
func TestTenacityZeroEvictsLeast(t *testing.T) {
	s := New(0)
	b := NewBudget(1, nil)
	s.SetBudget(b)
	for i := 0; i < 200; i++ {
		run(t, s, 1000, "SET", "k"+strconv.Itoa(i), strings.Repeat("v", 100))
	}
	b.Set(1, AllKeysRandom, 5, 0)
	s.evict(1000, b.timeLimit())
	if n := s.EvictedKeys(); n != 16 {
		t.Fatalf("tenacity 0: %d keys evicted in one call, want 16", n)
	}
}

// Once a command's eviction has run out of time above the limit, a tick
// evicts for as long as active expiry may, not just the tenacity's time, so
// that an idle server gets below maxmemory within a tick or two, as Redis's
// eviction timer does. With no eviction under way a tick evicts nothing:
// as in Redis, the next command does.
func TestTickEvictsBeyondTenacity(t *testing.T) {
	s := New(0)
	s.SetActiveExpire(1, 4*time.Second) // a budget of 1 s
	b := NewBudget(1, nil)
	s.SetBudget(b)
	for i := 0; i < 3000; i++ {
		run(t, s, 1000, "SET", "k"+strconv.Itoa(i), strings.Repeat("v", 100))
	}
	b.Set(b.Data()/2, AllKeysRandom, 5, 1) // tenacity 1: 50 us a call
	s.Tick(1000)
	if n := s.EvictedKeys(); n != 0 {
		t.Fatalf("a tick with no eviction under way evicted %d keys", n)
	}
	run(t, s, 1000, "GET", "k0") // 1500 keys to go: more than 50 us
	if b.Over() <= 0 {
		t.Fatal("a command's eviction of 1500 keys took under 50 us")
	}
	s.Tick(1000)
	if b.Over() > 0 {
		t.Fatalf("after a tick, %d bytes above maxmemory (%d keys evicted)", b.Over(), s.EvictedKeys())
	}
}
