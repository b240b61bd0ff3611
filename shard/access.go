package shard

import (
	"math/rand/v2"
	"sync/atomic"
	"unsafe"
)

// Access metadata: every key keeps 24 bits that say how it is used, as
// Redis keeps them in robj.lru (server.h, evict.c, object.c):
//
//   - with an LRU or no eviction policy (the default noeviction), the LRU
//     clock of its last access: Unix seconds modulo 2^24;
//   - with an LFU policy (allkeys-lfu, volatile-lfu), the minute of its
//     last counter decrement (Unix minutes modulo 2^16) in the top 16 bits
//     and a logarithmic access counter in the low 8.
//
// A key gets them when it is created and updates them on every access that
// Redis's lookupKey counts, reads and writes alike; EXISTS, TYPE, the TTL
// family, OBJECT, MEMORY USAGE, KEYS, SCAN and RANDOMKEY look without
// touching (Redis's LOOKUP_NOTOUCH or no lookup at all). OBJECT IDLETIME
// and OBJECT FREQ read them, and RESTORE sets them from IDLETIME and FREQ.
//
// They live next to the value in the database's maps, so an access costs
// no extra lookup: a read computes the new metadata, compares it with the
// stored one, and writes the entry back only when it changed. The LRU
// clock ticks once a second, so a key read over and over is rewritten at
// most once a second.
const (
	metaBits = 24
	lruMax   = 1<<metaBits - 1 // Redis's LRU_CLOCK_MAX
	lfuInit  = 5               // Redis's LFU_INIT_VAL: a new key's counter
)

// lruClock is the LRU clock at now (Unix ms): seconds, wrapping at 2^24,
// as Redis's getLRUClock with LRU_CLOCK_RESOLUTION 1000.
func lruClock(now int64) uint32 { return uint32(uint64(now)/1000) & lruMax }

// lruIdle is how many seconds a key whose clock is m has been idle at
// now, handling one wrap of the clock as Redis's estimateObjectIdleTime
// does (and with its arithmetic, off by one second across the wrap).
func lruIdle(m uint32, now int64) int64 {
	c := lruClock(now)
	if c >= m {
		return int64(c - m)
	}
	return int64(c) + int64(lruMax-m)
}

// lfuMinutes is Redis's LFUGetTimeInMinutes at now (Unix ms).
func lfuMinutes(now int64) uint32 { return uint32(uint64(now)/60000) & 0xffff }

// accessPolicy is the part of maxmemory-policy, lfu-log-factor and
// lfu-decay-time that the shard needs; set from any goroutine.
type accessPolicy struct {
	lfu       atomic.Bool
	logFactor atomic.Int64
	decayTime atomic.Int64 // minutes
}

// SetAccessPolicy tells the shard whether an LFU maxmemory-policy is
// selected and the lfu-log-factor and lfu-decay-time to count with. Keys
// keep their metadata when the policy changes: as in Redis, it takes a
// while for LRU and LFU data to adjust. Safe from any goroutine.
func (s *Shard) SetAccessPolicy(lfu bool, logFactor, decayTime int64) {
	s.access.logFactor.Store(logFactor)
	s.access.decayTime.Store(decayTime)
	s.access.lfu.Store(lfu)
}

// lfuMode reports whether the shard counts accesses (an LFU policy).
func (db *DB) lfuMode() bool { return db.sh != nil && db.sh.access.lfu.Load() }

// newMeta is the metadata of a key created at now.
func (db *DB) newMeta(now int64) uint32 {
	if db.lfuMode() {
		return lfuMinutes(now)<<8 | lfuInit
	}
	return lruClock(now)
}

// stale reports whether an access at now may change the metadata m: under
// an LRU policy, only when the clock moved on since m. It inlines, so the
// common case of a read costs a compare.
func (db *DB) stale(m uint32, now int64) bool { return m != lruClock(now) || db.lfuMode() }

// touched is the metadata m of a key after an access at now: the clock of
// now, or the counter decayed and then incremented.
func (db *DB) touched(m uint32, now int64) uint32 {
	if db.lfuMode() {
		return db.lfuTouched(m, now)
	}
	return lruClock(now)
}

// lfuTouched is Redis's updateLFU: decay, then a logarithmic increment.
func (db *DB) lfuTouched(m uint32, now int64) uint32 {
	cur := lfuMinutes(now)
	n := db.lfuDecayed(m, cur)
	if n < 255 {
		// Redis increments with probability 1/((n-5)*lfu-log-factor+1),
		// drawing a double; one uniform integer below that divisor being
		// 0 has the same odds without the division.
		if n <= lfuInit {
			n++
		} else if f := db.sh.access.logFactor.Load(); f == 0 || rand.Uint64N(uint64(n-lfuInit)*uint64(f)+1) == 0 {
			n++
		}
	}
	return cur<<8 | n
}

// lfuCounter is Redis's LFUDecrAndReturn: the counter of m less one for
// every lfu-decay-time minutes since its last decrement.
func (db *DB) lfuCounter(m uint32, now int64) uint32 { return db.lfuDecayed(m, lfuMinutes(now)) }

// lfuDecayed is lfuCounter at the LFU minute cur.
func (db *DB) lfuDecayed(m, cur uint32) uint32 {
	n := m & 0xff
	decay := int64(1)
	if db.sh != nil {
		decay = db.sh.access.decayTime.Load()
	}
	if decay <= 0 {
		return n
	}
	last := m >> 8
	var elapsed uint32
	if cur >= last {
		elapsed = cur - last
	} else {
		elapsed = 0xffff - last + cur // one wrap, as Redis's LFUTimeElapsed
	}
	periods := int64(elapsed) / decay
	if periods >= int64(n) {
		return 0
	}
	return n - uint32(periods)
}

// countWrite counts the access of a command that writes key without
// reading it first (MSET, SETEX, BITOP, the *STORE commands): Redis's
// setKey looks the key up, which under an LFU policy counts one access of
// the value that the new one then takes over. Commands that read the key
// first counted it then, and a new value of the key just keeps that.
func (db *DB) countWrite(key []byte, now int64) {
	if db.lfuMode() && db.has(key, now) {
		db.touchKey(key, now)
	}
}

// overwrite is store for a command that writes key without reading it.
func (c *Ctx) overwrite(key []byte, v any, keepTTL bool) {
	db := c.db(key)
	db.countWrite(key, c.Now)
	db.set(key, v, keepTTL, c.Now)
}

// restoredMeta is the metadata RESTORE gives a key, Redis's
// objectSetLRUOrLFU: FREQ under an LFU policy, IDLETIME (seconds) under
// any other; freq or idle is negative when not given, and the key then
// looks new.
func (db *DB) restoredMeta(freq, idle, now int64) uint32 {
	if db.lfuMode() {
		if freq >= 0 {
			return lfuMinutes(now)<<8 | uint32(freq)
		}
	} else if idle >= 0 {
		at := int64(lruClock(now)) - idle
		if at < 0 {
			at += lruMax // wraps as Redis's does, by LRU_CLOCK_MAX
		}
		// An idle time beyond the clock's range lands where Redis's
		// 24-bit field would truncate it.
		return uint32(at) & lruMax
	}
	return db.newMeta(now)
}

// strEntry is a string value and its access metadata in the size of a
// string header: the data pointer, then the length shifted above the 24
// bits of metadata and two flags (strings are far below 2^38 bytes). Keys
// of a cache are mostly small strings, and a separate metadata word would
// grow every map slot by eight bytes.
type strEntry struct {
	p *byte
	n uint64 // len<<lenShift | owned<<(metaBits+1) | snapshot mark<<metaBits | meta
}

// lenShift places a string's length above its metadata, its snapshot mark
// (snapshot.go) and its owned flag.
//
// An owned string (strOwnBit) is one SET or MSET allocated together with
// its key (keyValue) and that nothing but this entry has seen since: SET
// may then write a new value of the same size class over its bytes
// (overwriteStr) instead of allocating. Every accessor that hands the
// string out (get, getStr) clears the flag for good, so a reply, a script
// or another key that holds the string never sees it change; peek and raw
// only let a command look at it.
const (
	strSnapBit = 1 << metaBits
	strOwnBit  = 1 << (metaBits + 1)
	lenShift   = metaBits + 2
)

func mkStr(s string, meta uint32, mark bool) strEntry {
	n := uint64(len(s))<<lenShift | uint64(meta&lruMax) // never the flags above

	if mark {
		n |= strSnapBit
	}
	return strEntry{p: unsafe.StringData(s), n: n}
}

// str is the entry's string. Code that keeps it past the current command,
// or hands it to code that may, must use handOut.
func (e strEntry) str() string { return unsafe.String(e.p, int(e.n>>lenShift)) }

// handOut is str for a string that leaves the entry's sole keeping: the
// entry is no longer owned (strOwnBit).
func (e *strEntry) handOut() string {
	e.n &^= strOwnBit
	return e.str()
}

// owned reports whether the entry's bytes may be written over.
func (e strEntry) owned() bool  { return e.n&strOwnBit != 0 }
func (e strEntry) meta() uint32 { return uint32(e.n) & lruMax }

// marked and setMark read and write the snapshot mark (snapshot.go).
func (e strEntry) marked() bool { return e.n&strSnapBit != 0 }
func (e *strEntry) setMark(m bool) {
	e.n &^= strSnapBit
	if m {
		e.n |= strSnapBit
	}
}

func (e *strEntry) setMeta(m uint32) { e.n = e.n&^lruMax | uint64(m&lruMax) }

// objEntry is a value of any other type, its access metadata, and the
// bytes its key and value are accounted for in used_memory (accounting.go),
// in units of sizeUnit.
type objEntry struct {
	v    any
	meta uint32
	size uint32 // snapshot mark (objSnapBit, snapshot.go) | accounted size
}

const (
	objSnapBit = 1 << 31
	sizeMask   = objSnapBit - 1
)

func (e objEntry) marked() bool { return e.size&objSnapBit != 0 }
func (e *objEntry) setMark(m bool) {
	e.size &^= objSnapBit
	if m {
		e.size |= objSnapBit
	}
}
