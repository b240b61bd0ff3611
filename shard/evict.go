package shard

import (
	"math"
	"strings"
	"sync/atomic"
	"time"
)

// maxmemory and eviction. The limit is the server's, but each shard evicts
// only its own keys, so no lock guards data:
//
//   - every shard publishes the bytes its databases are accounted for
//     (accounting.go) in its own slot of a shared Budget after each batch,
//     and how many keys the policy could evict;
//   - the server's used memory is the sum of the slots, plus the clients'
//     buffers and a fixed base;
//   - a shard that finds it above the limit when a batch begins evicts its
//     own keys until the sum is below it again, as Redis evicts before each
//     command (and, like Redis, not on its own while idle). Each eviction
//     is published at once, so shards evicting at the same time see each
//     other's progress and stop together. A command bound for a shard with
//     no key the policy may take has the other shards evict first
//     (conn/maxmemory.go).
//
// Victims are chosen as Redis chooses them (evict.c): the random policies
// take random keys; the others sample maxmemory-samples keys per database
// into a pool of the best candidates kept between calls, and evict the
// best: the longest idle (LRU), the least used (LFU) or the nearest to
// expire (volatile-ttl).

// Policy is a maxmemory-policy.
type Policy int32

// The policies of maxmemory-policy.
const (
	NoEviction Policy = iota
	AllKeysLRU
	AllKeysLFU
	AllKeysRandom
	VolatileLRU
	VolatileLFU
	VolatileRandom
	VolatileTTL
)

var policyNames = [...]string{"noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
	"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"}

// ParsePolicy reads a maxmemory-policy value (lower case).
func ParsePolicy(s string) (Policy, bool) {
	for i, n := range policyNames {
		if n == s {
			return Policy(i), true
		}
	}
	return NoEviction, false
}

func (p Policy) volatile() bool { return p >= VolatileLRU }

// Budget is maxmemory as the shards share it. Set its parameters from any
// goroutine; each shard writes only its own slot.
type Budget struct {
	limit    atomic.Int64
	policy   atomic.Int32
	samples  atomic.Int32
	tenacity atomic.Int32
	base     atomic.Int64
	// ignored: the limit is not enforced (a replica with
	// replica-ignore-maxmemory, whose master's DELs alone remove keys).
	ignored atomic.Bool
	clients func() int64 // bytes the clients' buffers hold; nil: none
	slots   []memSlot
}

// memSlot is one shard's figures, on a cache line of its own.
type memSlot struct {
	used     atomic.Int64 // bytes its data is accounted for
	keys     atomic.Int64 // its keys, what allkeys-* may evict
	volatile atomic.Int64 // its keys with a TTL, what volatile-* may evict
	_        [40]byte
}

// NewBudget returns the budget of n shards; clients, if not nil, reports
// the memory that client buffers hold.
func NewBudget(n int, clients func() int64) *Budget {
	b := &Budget{clients: clients, slots: make([]memSlot, n)}
	b.samples.Store(5)
	b.tenacity.Store(10)
	return b
}

// Set changes the limit (0: none), the policy, maxmemory-samples and
// maxmemory-eviction-tenacity.
func (b *Budget) Set(limit int64, p Policy, samples, tenacity int) {
	b.policy.Store(int32(p))
	b.samples.Store(int32(max(1, min(samples, 64))))
	b.tenacity.Store(int32(max(0, min(tenacity, 100))))
	b.limit.Store(limit)
}

// SetBase sets the fixed bytes the server holds besides data and clients.
func (b *Budget) SetBase(n int64) { b.base.Store(n) }

// Limit is maxmemory, 0 if none.
func (b *Budget) Limit() int64 { return b.limit.Load() }

// Policy is the eviction policy.
func (b *Budget) Policy() Policy { return Policy(b.policy.Load()) }

// Data is the bytes the shards' data is accounted for, as last published.
func (b *Budget) Data() int64 {
	var n int64
	for i := range b.slots {
		n += b.slots[i].used.Load()
	}
	return n
}

// Clients is the bytes the clients' buffers hold.
func (b *Budget) Clients() int64 {
	if b.clients == nil {
		return 0
	}
	return b.clients()
}

// Used is the server's used memory: INFO's used_memory.
func (b *Budget) Used() int64 { return b.base.Load() + b.Data() + b.Clients() }

// Ignore sets whether the limit goes unenforced: nothing is evicted and
// nothing refused for it, as Redis's performEvictions on a replica with
// replica-ignore-maxmemory.
func (b *Budget) Ignore(on bool) { b.ignored.Store(on) }

// Ignored reports whether the limit goes unenforced.
func (b *Budget) Ignored() bool { return b.ignored.Load() }

// Over is how far used memory is above the limit, or 0 (also while the
// limit is ignored).
func (b *Budget) Over() int64 {
	limit := b.limit.Load()
	if limit <= 0 || b.ignored.Load() {
		return 0
	}
	return max(0, b.Used()-limit)
}

// Evictable reports whether some shard, at its last report, had keys that
// the policy may evict.
func (b *Budget) Evictable() bool {
	if b.Policy() == NoEviction {
		return false
	}
	for i := range b.slots {
		if b.Candidates(i) > 0 {
			return true
		}
	}
	return false
}

// Candidates is how many keys shard i last reported that the policy may
// evict.
func (b *Budget) Candidates(i int) int64 {
	switch p := b.Policy(); {
	case p == NoEviction:
		return 0
	case p.volatile():
		return b.slots[i].volatile.Load()
	}
	return b.slots[i].keys.Load()
}

// timeLimit is how long one call may evict, from the tenacity as Redis's
// evictionTimeLimitUs computes it; 0 means no limit. Tenacity 0 is
// Redis's limit of 0 us: a call stops at its first check, after 16 keys.
func (b *Budget) timeLimit() time.Duration {
	t := int(b.tenacity.Load())
	switch {
	case t <= 0:
		return time.Nanosecond
	case t <= 10:
		return time.Duration(50*t) * time.Microsecond
	case t < 100:
		return time.Duration(500*math.Pow(1.15, float64(t-10))) * time.Microsecond
	}
	return 0
}

// SetBudget makes the shard account to b (nil: to nobody).
func (s *Shard) SetBudget(b *Budget) {
	s.mem = b
	s.publishMem()
}

// EvictedKeys counts the keys evicted (INFO's evicted_keys).
func (s *Shard) EvictedKeys() uint64 { return s.evictedKeys }

// publishMem writes the shard's figures to its slot.
func (s *Shard) publishMem() {
	b := s.mem
	if b == nil || s.ID >= len(b.slots) {
		return
	}
	slot := &b.slots[s.ID]
	var used, keys, volatile int64
	for i := range s.dbs {
		used += s.dbs[i].used
		keys += int64(s.dbs[i].Len())
		volatile += int64(len(s.dbs[i].expires))
	}
	if slot.used.Load() != used {
		slot.used.Store(used)
	}
	if slot.keys.Load() != keys {
		slot.keys.Store(keys)
	}
	if slot.volatile.Load() != volatile {
		slot.volatile.Store(volatile)
	}
}

// evictOver evicts while the server is above maxmemory, for at most the
// tenacity's time: before a batch. Nothing goes during CLIENT PAUSE, as
// Redis's isSafeToPerformEvictions keeps the dataset still.
func (s *Shard) evictOver(now int64) {
	if s.mem.Over() > 0 && !s.evictPaused() {
		s.evict(now, s.mem.timeLimit())
		s.flushEvents()
	}
}

// tickEvict is evictOver at a tick, only while an eviction that ran out of
// time left memory above the limit. Redis then goes on evicting from a
// timer on every turn of its event loop until memory is below the limit;
// the shards' stand-in is their tick, which therefore may evict for as
// long as active expiry may (a quarter of the tick period by default)
// rather than the tenacity's time alone, or an idle server stays above
// maxmemory for many seconds after one large write. Otherwise, as in
// Redis, nothing is evicted between commands: the next command does it,
// and its invalidations precede its reply.
func (s *Shard) tickEvict(now int64) {
	if !s.evictRunning {
		return
	}
	if s.mem.Over() <= 0 || s.evictPaused() {
		s.evictRunning = false
		return
	}
	limit := s.mem.timeLimit()
	if limit > 0 {
		budget := time.Duration(s.expireBudget.Load())
		if budget <= 0 {
			budget = 100 * time.Millisecond * expireCPU / 100
		}
		limit = max(limit, budget)
	}
	s.evict(now, limit)
	s.flushEvents()
}

// EvictShare evicts keys of the shard until it has freed its share of
// what the server is above maxmemory (the shard's part of the data), or
// the server is below it: CONFIG SET maxmemory evicts at once this way
// with each shard borrowed in turn. It returns the bytes freed.
func (s *Shard) EvictShare(now int64) int64 {
	b := s.mem
	if b == nil || s.evictPaused() {
		return 0 // CLIENT PAUSE: the dataset stays as it is, as in Redis
	}
	over := b.Over()
	if over <= 0 {
		return 0
	}
	data := b.Data()
	share := over
	if data > 0 {
		share = int64(float64(over) * float64(s.Used()) / float64(data))
	}
	var freed int64
	for freed < share && b.Over() > 0 {
		n, ok := s.evictOne(now)
		if !ok {
			break
		}
		freed += n
	}
	s.publishMem()
	s.flushEvents()
	return freed
}

// evict removes keys while the server is above the limit, until limit
// (if not 0) has passed or no key may go. It reports the bytes freed.
func (s *Shard) evict(now int64, limit time.Duration) int64 {
	start := time.Now()
	var freed int64
	s.evictRunning = false
	for i := 1; s.mem.Over() > 0; i++ {
		n, ok := s.evictOne(now)
		if !ok {
			break
		}
		freed += n
		if limit > 0 && i%16 == 0 && time.Since(start) > limit {
			s.evictRunning = s.mem.Over() > 0 // the ticks go on (tickEvict)
			break
		}
	}
	s.publishMem()
	return freed
}

// evictOne evicts the policy's best candidate, publishing the new figure.
func (s *Shard) evictOne(now int64) (int64, bool) {
	p := s.mem.Policy()
	var db *DB
	var key string
	var ok bool
	switch p {
	case NoEviction:
		return 0, false
	case AllKeysRandom, VolatileRandom:
		db, key, ok = s.randomVictim(p.volatile())
	default:
		db, key, ok = s.pooledVictim(p, now)
	}
	if !ok {
		return 0, false
	}
	before := db.used
	db.remove(keyBytes(key))
	db.recordDel(keyBytes(key))
	db.signal(key, nil)
	db.emit(NotifyEvicted, "evicted", key)
	s.evictedKeys++
	s.mem.slots[s.ID].used.Add(db.used - before)
	return before - db.used, true
}

// randomVictim picks a random key of the next database that has one the
// policy may evict.
func (s *Shard) randomVictim(volatile bool) (*DB, string, bool) {
	for j := 0; j < NumDBs; j++ {
		db := &s.dbs[s.evictNext]
		s.evictNext = (s.evictNext + 1) % NumDBs
		switch {
		case volatile && len(db.expires) > 0:
			return db, randomKey(db.expires), true
		case !volatile && db.Len() > 0:
			return db, db.randomKey(), true
		}
	}
	return nil, "", false
}

// evictPoolSize is how many candidates the pool keeps, as Redis's
// EVPOOL_SIZE.
const evictPoolSize = 16

// poolEntry is a candidate: the higher its score, the better to evict.
type poolEntry struct {
	score uint64
	db    int
	key   string
}

// pooledVictim fills the pool with samples of every database and takes
// its best candidate that still exists.
func (s *Shard) pooledVictim(p Policy, now int64) (*DB, string, bool) {
	for {
		sampled := false
		for i := range s.dbs {
			if s.sampleInto(&s.dbs[i], p, now) {
				sampled = true
			}
		}
		if !sampled && len(s.pool) == 0 {
			return nil, "", false
		}
		for len(s.pool) > 0 {
			e := s.pool[len(s.pool)-1]
			s.pool[len(s.pool)-1] = poolEntry{}
			s.pool = s.pool[:len(s.pool)-1]
			db := &s.dbs[e.db]
			if p.volatile() {
				if _, ok := db.expires[e.key]; ok {
					return db, e.key, true
				}
			} else if db.exists(keyBytes(e.key)) {
				return db, e.key, true
			}
		}
		if !sampled {
			return nil, "", false
		}
	}
}

// sampleInto adds maxmemory-samples keys of db to the pool. It reports
// whether db had any key to sample.
func (s *Shard) sampleInto(db *DB, p Policy, now int64) bool {
	n := int(s.mem.samples.Load())
	if p.volatile() {
		if len(db.expires) == 0 {
			return false
		}
		k := 0
		for key, at := range db.expires {
			if k == n {
				break
			}
			k++
			var score uint64
			if p == VolatileTTL {
				score = math.MaxUint64 - uint64(at)
			} else {
				score = db.evictScore(p, db.metaOf(key), now)
			}
			s.poolAdd(score, db.num, key)
		}
		return true
	}
	total := db.Len()
	if total == 0 {
		return false
	}
	fromStrs := (n*len(db.strs) + total - 1) / total
	k := 0
	for key, e := range db.strs {
		if k == fromStrs {
			break
		}
		k++
		s.poolAdd(db.evictScore(p, e.meta(), now), db.num, key)
	}
	for key, e := range db.objs {
		if k == n {
			break
		}
		k++
		s.poolAdd(db.evictScore(p, e.meta, now), db.num, key)
	}
	return true
}

// evictScore ranks a key by its access metadata m: its idle time under an
// LRU policy, how little it is used under an LFU one.
func (db *DB) evictScore(p Policy, m uint32, now int64) uint64 {
	if p == AllKeysLFU || p == VolatileLFU {
		return 255 - uint64(db.lfuCounter(m, now))
	}
	return uint64(lruIdle(m, now))
}

// poolAdd inserts a candidate in the pool, kept in ascending score order,
// unless the pool is full of better ones or holds the key already.
func (s *Shard) poolAdd(score uint64, db int, key string) {
	pool := s.pool
	i := 0
	for i < len(pool) && pool[i].score < score {
		i++
	}
	for j := range pool {
		if pool[j].db == db && pool[j].key == key {
			return
		}
	}
	// A copy of the name: the map's may share an allocation with the
	// value (keyValue), which the pool must not keep alive.
	if len(pool) == evictPoolSize {
		if i == 0 {
			return // worse than every candidate
		}
		copy(pool[:i-1], pool[1:i]) // drop the worst
		pool[i-1] = poolEntry{score, db, strings.Clone(key)}
		return
	}
	pool = append(pool, poolEntry{})
	copy(pool[i+1:], pool[i:])
	pool[i] = poolEntry{score, db, strings.Clone(key)}
	s.pool = pool
}
