package shard

import (
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dgryski/go-farm"
	"github.com/valkyrie-kv/valkyrie/shard/osmem"
)

// NumDBs is the number of logical databases, as Redis's default
// "databases 16".
const NumDBs = 16

// Owner returns the index of the shard that owns key among n shards.
func Owner(key []byte, n int) int {
	if n == 1 {
		return 0
	}
	return int(farm.Hash64(key) % uint64(n))
}

// Shard is one partition of the keyspace: a map per logical database.
// It is not safe for concurrent use; see the package doc for who owns it.
type Shard struct {
	ID  int
	dbs [NumDBs]DB

	// Processed counts commands executed on this shard.
	Processed uint64
	// ExpiredKeys counts keys removed because their TTL passed.
	ExpiredKeys uint64
	// KeyspaceHits and KeyspaceMisses count the key lookups of commands
	// that do not write, found or not (Redis's lookupKeyRead); readStats
	// says whether the command running now is one.
	KeyspaceHits, KeyspaceMisses uint64
	readStats                    bool
	// writeCall says the command running now may write: on a replica it
	// deletes an expired key it finds (Redis's lookupKeyWrite), where a
	// read only sees it as gone (replica_expiry.go).
	writeCall bool

	watchers int // entries in every DB's watched map

	trk tracking // CLIENT TRACKING's keys (tracking.go)

	// Active expiry (activeExpireCycle): the effort and the time budget
	// per tick, set from other goroutines, and the database to start with.
	expireEffort atomic.Int64
	expireBudget atomic.Int64 // nanoseconds
	expireNext   int

	note notifier // keyspace notifications (notify.go)

	streamLim streamLimits  // stream-node-max-bytes and -entries (streams.go)
	hashLim   hashLimitsCfg // hash-max-listpack-entries and -value (hash.go)
	access    accessPolicy  // maxmemory-policy, lfu-* (access.go)

	ctx Ctx // reused by Exec so a batch allocates nothing

	// reaccountKeys's scratch, and the keys the running batch wrote
	// (accounting.go).
	keyIdx  []int
	written []writtenKey

	// maxmemory (evict.go): the shared budget (nil: none), keys evicted,
	// the database the random policies take from next, and the pool of
	// candidates.
	mem          *Budget
	evictRunning bool // an eviction ran out of time above the limit: ticks go on
	evictedKeys  uint64
	evictNext    int
	pool         []poolEntry

	// wake asks the worker to deliver a heldWake after d (arrival.go);
	// wakeDue is when the pending one is due, 0 if none.
	wake    func(d time.Duration)
	wakeDue int64

	// stamp is the arrival time of the commands running now (Unix ns, 0
	// if unknown or none), for records kept below the Ctx (stream_gone.go).
	stamp int64

	cmdStats []CmdStat      // INFO commandstats, by stat slot (cmdstats.go)
	slow     SlowRing       // SLOWLOG (slowlog.go)
	latmon   LatencyMonitor // the latency monitor's series (latencymon.go)
	latency  []*Histogram   // per stat slot, while latency-tracking is on (histogram.go)
	slowlog  *Slowlog       // its settings, shared with the server; nil logs nothing
	monitor  *Monitor       // MONITOR's feed, shared with the server; nil: none

	// pauseExpiry, set during CLIENT PAUSE, stops expiry from deleting
	// keys (shared with the server; nil: never).
	pauseExpiry *atomic.Bool
	pauseEvict  *atomic.Bool // CLIENT PAUSE only (SetEvictPause)
	replicaFlag *atomic.Bool // set while the server is a replica
	lazy        *LazyFree    // the server's lazy freeing (lazyfree.go); nil: none

	// DEBUG's switches (debug.go), set only by DEBUG on the held shard.
	noActiveExpire bool  // SET-ACTIVE-EXPIRE 0
	cronPaused     bool  // PAUSE-CRON 1
	packed         int64 // QUICKLIST-PACKED-THRESHOLD; 0: the default

	snap     *snapshot // the snapshot in progress, if any (snapshot.go)
	snapMark bool      // the mark of keys done by the last snapshot (snapshot.go)
	leftLent bool      // its worker stopped while it was lent (worker.go)
	// SnapKeys and SnapEarly count the records the snapshot in progress
	// (or the last) wrote, and the memory of the keys written ahead of
	// the walk because they changed (Valkyrie's copy-on-write), for INFO.
	SnapKeys, SnapEarly atomic.Int64
	// changes counts the write commands that changed something, and
	// Changes is the count as last published, read by the server for the
	// save points (snapshot.go).
	changes int64
	Changes atomic.Int64

	// journal is the server's stream of writes (journal.go); own is the
	// shard's log of them while it runs a batch, and jl the log recorded
	// into now: own, an Across run's, or nil while the journal is off.
	journal *Journal
	own     jlog
	jl      *jlog
	// keepExpired is set while a run applies an AOF or a master's stream
	// (Across.KeepExpired): keys past their TTL stay, and a TTL in the
	// past is set rather than deleting the key, as Redis's loading and
	// its replicas do; the keys go by expiry once the run ends.
	keepExpired bool
}

// DB is one logical database within a shard.
//
// String values, by far the most common, live unboxed in their own map:
// storing a Go string in an interface would cost another allocation per
// key. Every other type lives in objs as a pointer-like value. A key is in
// at most one of the two maps, its value next to its access metadata
// (access.go). TTLs live in a third map, as in Redis, so keys without one
// pay nothing.
type DB struct {
	strs    map[string]strEntry
	objs    map[string]objEntry
	expires map[string]int64 // absolute Unix time in milliseconds
	waiters map[string][]*Waiter
	stalled map[string]int64 // keys whose serving waits for a retried move, since when (ms)
	held    map[string]int64 // keys whose serving waits for late blocked clients, until when (ns; arrival.go)
	// heldGates are the gates of pushes to a held key (arrival.go): they
	// open once its waiters have been served.
	heldGates map[string][]chan struct{}
	// replicaTTLs are the keys a client gave a TTL on a writable replica,
	// which the replica expires itself (replica_expiry.go).
	replicaTTLs map[string]struct{}
	gone        map[string]int64 // streams lately removed, when (ns; stream_gone.go)

	flushedAt int64               // when the last FLUSHDB/FLUSHALL ran (ns; stream_gone.go)
	watched   map[string][]*Watch // WATCHed keys and their sessions

	scanKeys *keyIndex                // SCAN's index of the keys, if any
	scanObjs map[string]*scanSnapshot // HSCAN/SSCAN/ZSCAN snapshots by key

	sh  *Shard // the shard holding it, for keyspace notifications
	num int    // its index

	used int64 // bytes its keys, values and TTLs are accounted for (accounting.go)
}

// SetExpiryPause gives the shard the flag that stops expiry during CLIENT
// PAUSE: expired keys then read as gone but stay until it is cleared.
func (s *Shard) SetExpiryPause(p *atomic.Bool) { s.pauseExpiry = p }

func (s *Shard) expiryPaused() bool { return s.pauseExpiry != nil && s.pauseExpiry.Load() }

// SetEvictPause gives the shard the flag that CLIENT PAUSE alone sets:
// eviction stops for it, not for a replica's held expiry (a replica with
// replica-ignore-maxmemory off evicts, as Redis's). Without it eviction
// follows the expiry flag.
func (s *Shard) SetEvictPause(p *atomic.Bool) { s.pauseEvict = p }

func (s *Shard) evictPaused() bool {
	if s.pauseEvict == nil {
		return s.expiryPaused()
	}
	return s.pauseEvict.Load()
}

// SetReplicaFlag gives the shard the flag that is set while the server
// is a replica (replica_expiry.go).
func (s *Shard) SetReplicaFlag(p *atomic.Bool) { s.replicaFlag = p }

func (s *Shard) isReplica() bool { return s.replicaFlag != nil && s.replicaFlag.Load() }

// New returns an empty shard with the given index.
func New(id int) *Shard {
	s := &Shard{ID: id}
	s.own.startDB = -1
	for i := range s.dbs {
		s.dbs[i].sh, s.dbs[i].num = s, i
	}
	return s
}

// DB returns logical database i (0 <= i < NumDBs).
func (s *Shard) DB(i int) *DB { return &s.dbs[i] }

// Len reports the number of keys in the database, counting keys that have
// expired but not been removed yet.
func (db *DB) Len() int { return len(db.strs) + len(db.objs) }

// Expires reports how many keys carry a TTL.
func (db *DB) Expires() int { return len(db.expires) }

// expired removes key if its TTL has passed and reports whether it did.
func (db *DB) expired(key []byte, now int64) bool {
	if len(db.expires) == 0 || db.sh != nil && db.sh.keepExpired {
		return false
	}
	if at, ok := db.expires[string(key)]; ok && at <= now {
		if db.sh != nil && db.sh.expiryPaused() && !(db.sh.writeCall && db.sh.isReplica()) {
			return true // gone for readers, deleted once the pause ends
		}
		db.remove(key)
		db.recordDel(key)
		if db.sh != nil {
			db.sh.ExpiredKeys++ // Redis's expired_keys counts lazy expiry too
		}
		db.signal(string(key), nil)
		db.emit(NotifyExpired, "expired", string(key))
		return true
	}
	return false
}

// get returns the live value of key, removing it first if it has expired,
// and counts the access (access.go). A string comes back boxed in the
// interface, which allocates: hot string paths use getStr instead.
func (db *DB) get(key []byte, now int64) (any, bool) {
	if e := db.strSlot(key); e != nil {
		db.keepStr(e, key)
		if db.expired(key, now) {
			db.countLookup(false)
			return nil, false
		}
		if m := e.meta(); db.stale(m, now) {
			e.setMeta(db.touched(m, now))
		}
		db.countLookup(true)
		return e.handOut(), true
	}
	if e := db.objSlot(key); e != nil {
		db.keepObj(e, key)
		if db.expired(key, now) {
			db.countLookup(false)
			return nil, false
		}
		if db.stale(e.meta, now) {
			e.meta = db.touched(e.meta, now)
		}
		db.countLookup(true)
		return e.v, true
	}
	db.countLookup(false)
	return nil, false
}

// countLookup counts a key lookup in keyspace_hits or keyspace_misses
// when the running command does not write: as in Redis, whose write
// lookups do not count.
func (db *DB) countLookup(found bool) {
	if s := db.sh; s != nil && s.readStats {
		if found {
			s.KeyspaceHits++
		} else {
			s.KeyspaceMisses++
		}
	}
}

// hasRead is has for a read command's lookup that touches nothing
// (EXISTS, TYPE, the TTL family): it counts in keyspace_hits/misses.
func (db *DB) hasRead(key []byte, now int64) bool {
	ok := db.has(key, now)
	db.countLookup(ok)
	return ok
}

// SetReadStats says whether the command about to run counts its key
// lookups in keyspace_hits/misses (it does not write).
func (s *Shard) SetReadStats(on bool) { s.readStats = on }

// ResetStats zeroes the counters CONFIG RESETSTAT clears.
func (s *Shard) ResetStats() {
	s.ExpiredKeys, s.KeyspaceHits, s.KeyspaceMisses, s.evictedKeys = 0, 0, 0, 0
}

// peek is get without counting an access, for the commands that Redis
// lets look without touching (OBJECT, MEMORY USAGE, RANDOMKEY, ...). The
// value is for the command to look at, not to keep or reply with: a string
// stays its entry's own (strOwnBit), so SET and INCR may still write over
// it in place, as Redis's do after OBJECT or DEBUG OBJECT.
func (db *DB) peek(key []byte, now int64) (any, bool) {
	v, _, ok := db.peekMeta(key, now)
	return v, ok
}

// peekMeta is peek that also returns the key's access metadata.
func (db *DB) peekMeta(key []byte, now int64) (any, uint32, bool) {
	db.preserve(key)
	if e := db.strSlot(key); e != nil {
		if db.expired(key, now) {
			return nil, 0, false
		}
		return e.str(), e.meta(), true
	}
	if e, ok := db.objs[string(key)]; ok {
		if db.expired(key, now) {
			return nil, 0, false
		}
		return e.v, e.meta, true
	}
	return nil, 0, false
}

// getStr returns the live string at key and counts the access. found
// reports whether the key exists; isStr whether it holds a string.
func (db *DB) getStr(key []byte, now int64) (s string, found, isStr bool) {
	_, s, found, isStr = db.lookupStr(key, now, true)
	return s, found, isStr
}

// readStr is getStr for a caller that is done with s before the next
// change to key (INCR parsing the number): the entry keeps owning it.
func (db *DB) readStr(key []byte, now int64) (s string, found, isStr bool) {
	_, s, found, isStr = db.lookupStr(key, now, false)
	return s, found, isStr
}

// lookupStr is getStr and readStr. It also returns the live string's
// entry (nil otherwise), valid until the next change to the map: INCR
// writes the new number through it (overwriteEntry).
func (db *DB) lookupStr(key []byte, now int64, handOut bool) (e *strEntry, s string, found, isStr bool) {
	e = db.strSlot(key)
	if e == nil {
		if len(db.objs) == 0 {
			db.countLookup(false)
			return nil, "", false, false
		}
		o := db.objSlot(key)
		if o == nil {
			db.countLookup(false)
			return nil, "", false, false
		}
		db.keepObj(o, key)
		if db.expired(key, now) {
			db.countLookup(false)
			return nil, "", false, false
		}
		if db.stale(o.meta, now) {
			o.meta = db.touched(o.meta, now)
		}
		db.countLookup(true)
		return nil, "", true, false
	}
	db.keepStr(e, key)
	if db.expired(key, now) {
		db.countLookup(false)
		return nil, "", false, false
	}
	if m := e.meta(); db.stale(m, now) {
		e.setMeta(db.touched(m, now))
	}
	db.countLookup(true)
	if !handOut {
		return e, e.str(), true, true
	}
	return e, e.handOut(), true, true
}

// has reports whether key exists and is live. It does not count as an
// access: EXISTS, TYPE and the TTL family look without touching, as in
// Redis; commands that do count one call touch.
func (db *DB) has(key []byte, now int64) bool {
	_, inStrs := db.strs[string(key)]
	if !inStrs {
		if _, inObjs := db.objs[string(key)]; !inObjs {
			return false
		}
	}
	return !db.expired(key, now)
}

// touchKey counts an access to key, which must exist (TOUCH, EXPIRE, ...).
func (db *DB) touchKey(key []byte, now int64) {
	if e := db.strSlot(key); e != nil {
		if m := e.meta(); db.stale(m, now) {
			e.setMeta(db.touched(m, now))
		}
	} else if o := db.objSlot(key); o != nil {
		if db.stale(o.meta, now) {
			o.meta = db.touched(o.meta, now)
		}
	}
}

// metaOf returns the access metadata of key, which must exist.
func (db *DB) metaOf(key string) uint32 {
	if e, ok := db.strs[key]; ok {
		return e.meta()
	}
	return db.objs[key].meta
}

// writeMeta is the metadata of key as a write at now leaves it, from its
// old value's if any: under an LFU policy a new value takes over the
// counter of the one it replaces (the write's own lookup counted the
// access), as Redis's dbOverwrite does; otherwise it is the clock of now.
func (db *DB) writeMeta(key string, now int64) uint32 {
	if db.lfuMode() {
		if e, ok := db.strs[key]; ok {
			return e.meta()
		}
		if e, ok := db.objs[key]; ok {
			return e.meta
		}
		return lfuMinutes(now)<<8 | lfuInit
	}
	return lruClock(now)
}

// set stores v under key and clears any TTL unless keepTTL. The key's
// access metadata is that of a write at now (writeMeta).
func (db *DB) set(key []byte, v any, keepTTL bool, now int64) {
	if s, ok := v.(string); ok {
		db.setStr(key, s, keepTTL, now)
		return
	}
	db.setMeta(key, v, keepTTL, db.writeMeta(string(key), now))
}

// setMeta is set with the access metadata given (RESTORE, RENAME, MOVE).
func (db *DB) setMeta(key []byte, v any, keepTTL bool, meta uint32) {
	db.preserve(key)
	if s, ok := v.(string); ok {
		db.setStrMeta(string(key), s, keepTTL, meta)
		return
	}
	if db.objs == nil {
		db.objs = make(map[string]objEntry)
	}
	if db.scanKeys != nil {
		db.indexNew(string(key))
	}
	if len(db.strs) > 0 {
		if old, ok := db.strs[string(key)]; ok {
			db.used -= strCost(len(key), old.len())
			delete(db.strs, string(key))
		}
	}
	if old, ok := db.objs[string(key)]; ok {
		db.used -= old.bytes()
		if isStream(old.v) {
			if st, same := v.(*Stream); !same || st != old.v.(*Stream) {
				db.noteGone(string(key))
			}
		}
	}
	e := objEntry{v: v, meta: meta}
	e.setMark(db.mark())
	db.used += e.account(len(key))
	db.objs[string(key)] = e
	if !keepTTL && len(db.expires) > 0 {
		db.dropTTL(string(key))
	}
}

// setStr stores the string s under key and clears any TTL unless keepTTL.
func (db *DB) setStr(key []byte, s string, keepTTL bool, now int64) {
	db.setStrKey(string(key), s, keepTTL, now)
}

// setStrKey is setStr for a key already converted to a string (SET passes
// one that shares its allocation with the value).
func (db *DB) setStrKey(key, s string, keepTTL bool, now int64) {
	db.setStrMeta(key, s, keepTTL, db.writeMeta(key, now))
}

// setStrMeta is setStrKey with the access metadata given.
func (db *DB) setStrMeta(key, s string, keepTTL bool, meta uint32) {
	db.putStr(key, s, keepTTL, meta, false)
}

// setOwnStr is setStrKey for a key and value keyValue allocated together:
// the entry owns the value's bytes (strOwnBit) unless the value is not the
// key's neighbour (a shared integer took its place).
func (db *DB) setOwnStr(key, s string, keepTTL bool, now int64) {
	db.putStr(key, s, keepTTL, db.writeMeta(key, now), ownable(key, s))
}

// ownable reports whether s directly follows key in one allocation, as
// keyValue leaves them. An empty s does not count: its pointer need not
// be past the key.
func ownable(key, s string) bool {
	return len(s) > 0 && uintptr(unsafe.Pointer(unsafe.StringData(s))) == uintptr(unsafe.Pointer(unsafe.StringData(key)))+uintptr(len(key))
}

// putStr stores s under key; own marks the entry as the sole keeper of s.
func (db *DB) putStr(key, s string, keepTTL bool, meta uint32, own bool) {
	if db.strs == nil {
		db.strs = make(map[string]strEntry)
	}
	if db.scanKeys != nil {
		db.indexNew(key)
	}
	if len(db.objs) > 0 {
		if old, ok := db.objs[key]; ok {
			db.keepObj(&old, keyBytes(key))
			if isStream(old.v) {
				db.noteGone(key)
			}
			db.used -= old.bytes()
			delete(db.objs, key)
		}
	}
	if e := db.strSlot(keyBytes(key)); e != nil {
		db.keepStr(e, keyBytes(key))
		if old := e.len(); old != len(s) {
			db.used += strCost(len(key), len(s)) - strCost(len(key), old)
		}
	} else {
		db.used += strCost(len(key), len(s))
	}
	// An assignment, not a write through the slot: it replaces the stored
	// key as well, whose bytes may share an allocation with the old value
	// (keyValue), which would otherwise stay alive with the key.
	e := mkStr(s, meta, db.mark())
	if own {
		e.n |= strOwnBit
	}
	db.strs[key] = e
	if !keepTTL && len(db.expires) > 0 {
		db.dropTTL(key)
	}
}

// setStrOver is setStrKey for a key the caller has just found holding a
// live string of oldLen bytes (SET's own lookup), so that the total is
// adjusted without looking the key up again.
//
// The lookup kept the old value for a snapshot in progress already.
func (db *DB) setStrOver(key, s string, oldLen int, keepTTL bool, now int64) {
	db.used += strCost(len(key), len(s)) - strCost(len(key), oldLen)
	e := mkStr(s, db.writeMeta(key, now), db.mark())
	if ownable(key, s) {
		e.n |= strOwnBit
	}
	db.strs[key] = e // an assignment: see putStr
	if !keepTTL && len(db.expires) > 0 {
		db.dropTTL(key)
	}
}

// sharedBy reports whether val would be stored as a shared integer
// (shareInt), which the usual path does.
func (db *DB) sharedBy(val []byte) bool {
	if len(val) > maxSharedIntLen {
		return false
	}
	v := keyString(val)
	return len(v) > 0 && unsafe.StringData(db.shareInt(v)) != unsafe.StringData(v)
}

// overwriteStr is SET of val at key without an allocation: when key holds
// a live string the entry owns (strOwnBit) whose allocation has room for
// val in the same size class (so the accounting stays), it copies val over
// the old bytes and reports true. Otherwise nothing changed but a lazy
// expiry, and the caller sets key as usual. touch counts the write as an
// access first, as SET's lookup does (under an LFU policy).
func (db *DB) overwriteStr(key, val []byte, keepTTL, touch bool, now int64) bool {
	done, _ := db.overwriteOrMiss(key, val, keepTTL, touch, now)
	return done
}

// overwriteOrMiss is overwriteStr that also reports absent: key is in
// neither map, so the caller need not look it up again (SET of a new key).
func (db *DB) overwriteOrMiss(key, val []byte, keepTTL, touch bool, now int64) (done, absent bool) {
	e := db.strSlot(key)
	if e == nil {
		return false, len(db.objs) == 0 || db.objSlot(key) == nil
	}
	return db.overwriteEntry(e, key, val, keepTTL, touch, now), false
}

// overwriteEntry is overwriteStr with key's entry e in hand (strSlot).
func (db *DB) overwriteEntry(e *strEntry, key, val []byte, keepTTL, touch bool, now int64) bool {
	if !e.owned() || !sameClass(len(key)+e.len(), len(key)+len(val)) || db.sharedBy(val) {
		return false
	}
	if db.expired(key, now) {
		return false
	}
	db.keepStr(e, key)
	if touch && db.lfuMode() {
		e.setMeta(db.touched(e.meta(), now))
	}
	copy(unsafe.Slice(e.p, len(val)), val)
	k := keyString(key)
	meta := db.writeMeta(k, now)
	e.n = uint64(len(val))<<lenShift | strOwnBit | uint64(meta&lruMax)
	e.setMark(db.mark())
	if !keepTTL && len(db.expires) > 0 {
		db.dropTTL(k)
	}
	return true
}

// setExpire gives an existing key an absolute TTL in Unix milliseconds.
// On a replica a client's command gave it (the master's stream runs with
// keepExpired): the replica remembers the key to expire it itself.
func (db *DB) setExpire(key []byte, at int64) {
	db.storeExpire(key, at)
	if db.sh != nil && !db.sh.keepExpired && db.sh.isReplica() {
		db.rememberReplicaTTL(key)
	}
}

// storeExpire is setExpire for a key that is not a client's: one loaded
// from a file (on a replica, its master's sync), which only the master
// expires.
func (db *DB) storeExpire(key []byte, at int64) {
	db.preserve(key)
	if db.expires == nil {
		db.expires = make(map[string]int64)
	}
	if _, ok := db.expires[string(key)]; !ok {
		db.used += ttlCost(len(key))
	}
	db.expires[string(key)] = at
}

// dropTTL removes key's TTL, if it has one.
func (db *DB) dropTTL(key string) {
	db.preserve(keyBytes(key))
	if _, ok := db.expires[key]; ok {
		db.used -= ttlCost(len(key))
		delete(db.expires, key)
	}
}

// remove deletes key and its TTL. It reports whether the key existed.
func (db *DB) remove(key []byte) bool {
	if old, ok := db.strs[string(key)]; ok {
		db.keepStr(&old, key)
		db.used -= strCost(len(key), old.len())
		delete(db.strs, string(key))
		osmem.Released(old.len()) // a huge string's pages go back to the OS soon
	} else if old, ok := db.objs[string(key)]; ok {
		db.keepObj(&old, key)
		if isStream(old.v) {
			db.noteGone(string(key))
		}
		db.used -= old.bytes()
		delete(db.objs, string(key))
	} else {
		return false
	}
	if len(db.expires) > 0 {
		db.dropTTL(string(key))
	}
	if db.scanKeys != nil {
		db.scanKeys.remove(string(key))
	}
	return true
}

// indexNew adds key to SCAN's index unless the database holds it already.
func (db *DB) indexNew(key string) {
	if _, ok := db.strs[key]; ok {
		return
	}
	if _, ok := db.objs[key]; ok {
		return
	}
	db.scanKeys.add(key)
}

// flush empties the database. Blocked clients stay blocked, as in Redis.
func (db *DB) flush() {
	db.preserveAll()
	if len(db.watched) > 0 {
		db.touchExisting()
	}
	if len(db.objs) > 0 {
		db.flushedAt = db.goneStamp() // every stream went (stream_gone.go)
	}
	db.strs = nil
	db.objs = nil
	db.expires = nil
	db.used = 0
	db.scanKeys = nil
	db.scanObjs = nil
}

// swapData exchanges the contents of two databases (SWAPDB). Blocked
// clients stay with their database index.
//
// A watched key that did not exist and is replaced by one whose TTL has
// passed does not change, for Redis as for readers: its watchers are not
// touched, and the stale key it receives is removed now (as expired), so
// that EXEC's look at it does not count as a change either.
func (db *DB) swapData(other *DB, now int64) {
	db.preserveAll()
	other.preserveAll()
	var stale, otherStale []string
	if len(db.watched) > 0 {
		stale = db.touchSwapped(other, now)
	}
	if len(other.watched) > 0 {
		otherStale = other.touchSwapped(db, now)
	}
	db.strs, other.strs = other.strs, db.strs
	db.objs, other.objs = other.objs, db.objs
	db.expires, other.expires = other.expires, db.expires
	db.used, other.used = other.used, db.used
	db.scanKeys, other.scanKeys = nil, nil
	db.scanObjs, other.scanObjs = nil, nil
	for _, k := range stale {
		db.dropStale(k)
	}
	for _, k := range otherStale {
		other.dropStale(k)
	}
}

// touchSwapped marks the watchers of every watched key that exists in db
// or in other, which is about to replace db's contents, as touchExisting
// does, except for a key missing from db that other holds stale: those
// are returned.
func (db *DB) touchSwapped(other *DB, now int64) (stale []string) {
	for k, ws := range db.watched {
		_, a := db.strs[k]
		_, b := db.objs[k]
		here := a || b
		if !here {
			_, a = other.strs[k]
			_, b = other.objs[k]
			if !a && !b {
				continue
			}
			if at, ok := other.expires[k]; ok && at <= now {
				stale = append(stale, k)
				continue
			}
		}
		for _, w := range ws {
			w.dirty.Store(true)
		}
	}
	return stale
}

// dropStale removes key, whose TTL has passed, as lazy expiry would, but
// without touching its watchers: for them it never existed.
func (db *DB) dropStale(k string) {
	if db.sh != nil && db.sh.expiryPaused() {
		return
	}
	db.remove([]byte(k))
	db.recordDel([]byte(k))
	if db.sh != nil {
		db.sh.ExpiredKeys++
	}
	db.emit(NotifyExpired, "expired", k)
}

// Active expiry removes keys whose TTL passed and that no one reads, as
// Redis's slow expire cycle does (expire.c): each tick samples the keys
// with a TTL of each database in rounds of expireSample (more with a
// higher active-expire-effort), and repeats the rounds while more than
// expireStale percent (less with more effort) of a round had expired, so
// the share of dead keys held stays small however fast they die. A tick
// may use (25+2*(effort-1)) percent of the tick period; the clock is read
// every 16 rounds. A tick that runs out of time resumes with the next
// database the next tick, so no database starves the others.
//
// The rounds of one database in one tick walk a single range over its
// expires map, which starts at a random place: successive ticks sample
// different keys, and one tick never looks at a key twice.
const (
	expireSample = 20
	expireStale  = 10
	expireCPU    = 25
)

// SetActiveExpire sets the active expiry effort (1..10, Redis's
// active-expire-effort) and the tick period it budgets against. It is safe
// to call while the shard runs.
func (s *Shard) SetActiveExpire(effort int, period time.Duration) {
	effort = min(max(effort, 1), 10)
	s.expireEffort.Store(int64(effort))
	s.expireBudget.Store(max(1, int64(period)*int64(expireCPU+2*(effort-1))/100))
}

// ActiveExpire reports what SetActiveExpire set: the effort and the time
// budget of one tick.
func (s *Shard) ActiveExpire() (effort int, budget time.Duration) {
	return int(s.expireEffort.Load()), time.Duration(s.expireBudget.Load())
}

// activeExpireCycle runs one tick's active expiry over the databases, and
// samples the "expire-cycle" latency event if it took long.
func (s *Shard) activeExpireCycle(now int64) {
	if s.noActiveExpire {
		return
	}
	if s.expiryPaused() {
		// CLIENT PAUSE keeps the dataset still; a replica leaves its
		// master's keys to the master, and expires its own.
		if s.isReplica() {
			s.expireReplicaKeys(now)
		}
		return
	}
	s.forgetReplicaTTLs()
	start := time.Now()
	s.expireDBs(now, start)
	if s.slowlog.LatencyThreshold() > 0 {
		if ms, ok := s.slowlog.LatencyWants(int64(time.Since(start))); ok {
			s.latmon.Add(EventExpireCycle, ms)
		}
	}
}

// expireDBs runs the tick's rounds, which began at start.
func (s *Shard) expireDBs(now int64, start time.Time) {
	effort := max(s.expireEffort.Load(), 1) - 1 // 0..9
	budget := time.Duration(s.expireBudget.Load())
	if budget <= 0 {
		budget = 100 * time.Millisecond * expireCPU / 100
	}
	perRound := int(expireSample + expireSample/4*effort)
	stale := int(expireStale - effort)
	rounds := 0
	for j := 0; j < NumDBs; j++ {
		i := s.expireNext
		s.expireNext = (i + 1) % NumDBs
		db := &s.dbs[i]
		if len(db.expires) == 0 {
			continue
		}
		n, timeUp := db.activeExpire(now, perRound, stale, &rounds, start, budget)
		s.ExpiredKeys += uint64(n)
		if timeUp {
			return
		}
	}
}

// activeExpire runs rounds of perRound samples over db's keys with a TTL,
// removing those that have passed, while more than stale percent of a
// round had. rounds counts the rounds of the whole tick; every 16th checks
// the clock against budget. It returns the keys removed and whether the
// tick ran out of time.
func (db *DB) activeExpire(now int64, perRound, stale int, rounds *int, start time.Time, budget time.Duration) (removed int, timeUp bool) {
	sampled, expired := 0, 0
	for k, at := range db.expires {
		if at <= now {
			db.expireNow(k)
			expired++
		}
		sampled++
		if sampled < perRound {
			continue
		}
		removed += expired
		*rounds++
		if *rounds&15 == 0 && time.Since(start) > budget {
			return removed, true
		}
		if expired*100 <= stale*sampled {
			return removed, false
		}
		sampled, expired = 0, 0
	}
	// The whole map was seen.
	return removed + expired, false
}

// expireNow removes key, whose TTL has passed, as active expiry does.
func (db *DB) expireNow(k string) {
	db.remove(keyBytes(k))
	db.recordDel(keyBytes(k))
	db.signal(k, nil)
	db.emit(NotifyExpired, "expired", k)
}

// Tick runs periodic housekeeping: active expiry in every database.
// The Worker delivers it as a message; tests call it directly.
func (s *Shard) Tick(now int64) {
	s.startJournal()
	defer s.handJournal()
	if !s.cronPaused {
		s.activeExpireCycle(now)
	}
	if s.mem != nil {
		if s.mem.limit.Load() > 0 {
			s.tickEvict(now)
		}
		s.publishMem()
	}
	s.serveHeld(now) // should a hold's own wake-up have been lost
	if s.cronPaused {
		// DEBUG PAUSE-CRON: no housekeeping.
		s.flushEvents()
		return
	}
	for i := range s.dbs {
		if len(s.dbs[i].stalled) > 0 {
			s.serveStalled(&s.dbs[i], now)
		}
		if len(s.dbs[i].waiters) > 0 {
			s.dbs[i].sweepWaiters()
			s.sweepStreamWaiters(&s.dbs[i], now)
		}
		if len(s.dbs[i].watched) > 0 {
			s.sweepWatches(&s.dbs[i])
		}
		if len(s.dbs[i].gone) > 0 {
			s.dbs[i].pruneGone(time.Now().UnixNano())
		}
		if s.dbs[i].scanKeys != nil || len(s.dbs[i].scanObjs) > 0 {
			s.dbs[i].dropIdleScans(now)
		}
	}
	s.flushEvents()
}
