package shard

import (
	"github.com/dgryski/go-farm"
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

	watchers int // entries in every DB's watched map

	note notifier // keyspace notifications (notify.go)

	ctx Ctx // reused by Exec so a batch allocates nothing
}

// DB is one logical database within a shard.
//
// String values, by far the most common, live unboxed in their own map:
// storing a Go string in an interface would cost another allocation per
// key. Every other type lives in objs as a pointer-like value. A key is in
// at most one of the two maps. TTLs live in a third map, as in Redis, so
// keys without one pay nothing.
type DB struct {
	strs    map[string]string
	objs    map[string]any
	expires map[string]int64 // absolute Unix time in milliseconds
	waiters map[string][]*Waiter
	stalled map[string]int64    // keys whose serving waits for a retried move, since when (ms)
	watched map[string][]*Watch // WATCHed keys and their sessions

	scanKeys *scanSnapshot            // SCAN's snapshot of keys, if any
	scanObjs map[string]*scanSnapshot // HSCAN/SSCAN/ZSCAN snapshots by key

	sh  *Shard // the shard holding it, for keyspace notifications
	num int    // its index
}

// New returns an empty shard with the given index.
func New(id int) *Shard {
	s := &Shard{ID: id}
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
	if len(db.expires) == 0 {
		return false
	}
	if at, ok := db.expires[string(key)]; ok && at <= now {
		db.remove(key)
		if len(db.watched) > 0 {
			db.touch(string(key))
		}
		db.emit(NotifyExpired, "expired", string(key))
		return true
	}
	return false
}

// get returns the live value of key, removing it first if it has expired.
// A string comes back boxed in the interface, which allocates: hot string
// paths use getStr instead.
func (db *DB) get(key []byte, now int64) (any, bool) {
	if s, ok := db.strs[string(key)]; ok {
		if db.expired(key, now) {
			return nil, false
		}
		return s, true
	}
	if v, ok := db.objs[string(key)]; ok {
		if db.expired(key, now) {
			return nil, false
		}
		return v, true
	}
	return nil, false
}

// getStr returns the live string at key. found reports whether the key
// exists; isStr whether it holds a string.
func (db *DB) getStr(key []byte, now int64) (s string, found, isStr bool) {
	s, ok := db.strs[string(key)]
	if !ok {
		if len(db.objs) == 0 {
			return "", false, false
		}
		if _, ok := db.objs[string(key)]; !ok || db.expired(key, now) {
			return "", false, false
		}
		return "", true, false
	}
	if db.expired(key, now) {
		return "", false, false
	}
	return s, true, true
}

// has reports whether key exists and is live.
func (db *DB) has(key []byte, now int64) bool {
	_, inStrs := db.strs[string(key)]
	if !inStrs {
		if _, inObjs := db.objs[string(key)]; !inObjs {
			return false
		}
	}
	return !db.expired(key, now)
}

// set stores v under key and clears any TTL unless keepTTL.
func (db *DB) set(key []byte, v any, keepTTL bool) {
	if s, ok := v.(string); ok {
		db.setStr(key, s, keepTTL)
		return
	}
	if db.objs == nil {
		db.objs = make(map[string]any)
	}
	if len(db.strs) > 0 {
		delete(db.strs, string(key))
	}
	db.objs[string(key)] = v
	if !keepTTL && len(db.expires) > 0 {
		delete(db.expires, string(key))
	}
}

// setStr stores the string s under key and clears any TTL unless keepTTL.
func (db *DB) setStr(key []byte, s string, keepTTL bool) {
	db.setStrKey(string(key), s, keepTTL)
}

// setStrKey is setStr for a key already converted to a string (SET passes
// one that shares its allocation with the value).
func (db *DB) setStrKey(key, s string, keepTTL bool) {
	if db.strs == nil {
		db.strs = make(map[string]string)
	}
	if len(db.objs) > 0 {
		delete(db.objs, key)
	}
	db.strs[key] = s
	if !keepTTL && len(db.expires) > 0 {
		delete(db.expires, key)
	}
}

// setExpire gives an existing key an absolute TTL in Unix milliseconds.
func (db *DB) setExpire(key []byte, at int64) {
	if db.expires == nil {
		db.expires = make(map[string]int64)
	}
	db.expires[string(key)] = at
}

// remove deletes key and its TTL. It reports whether the key existed.
func (db *DB) remove(key []byte) bool {
	if _, ok := db.strs[string(key)]; ok {
		delete(db.strs, string(key))
	} else if _, ok := db.objs[string(key)]; ok {
		delete(db.objs, string(key))
	} else {
		return false
	}
	if len(db.expires) > 0 {
		delete(db.expires, string(key))
	}
	return true
}

// flush empties the database. Blocked clients stay blocked, as in Redis.
func (db *DB) flush() {
	if len(db.watched) > 0 {
		db.touchExisting(nil)
	}
	db.strs = nil
	db.objs = nil
	db.expires = nil
	db.scanKeys = nil
	db.scanObjs = nil
}

// swapData exchanges the contents of two databases (SWAPDB). Blocked
// clients stay with their database index.
func (db *DB) swapData(other *DB) {
	if len(db.watched) > 0 {
		db.touchExisting(other)
	}
	if len(other.watched) > 0 {
		other.touchExisting(db)
	}
	db.strs, other.strs = other.strs, db.strs
	db.objs, other.objs = other.objs, db.objs
	db.expires, other.expires = other.expires, db.expires
	db.scanKeys, other.scanKeys = nil, nil
	db.scanObjs, other.scanObjs = nil, nil
}

// activeExpire samples keys with a TTL and removes those that have passed,
// the way Redis's active expiry cycle does: 20 keys at a time, repeating
// while more than a quarter of a sample had expired, within a budget.
// It returns the number of keys removed.
func (db *DB) activeExpire(now int64, budget int) int {
	const sample = 20
	removed := 0
	for budget > 0 && len(db.expires) > 0 {
		seen, expired := 0, 0
		for k, at := range db.expires {
			if at <= now {
				delete(db.expires, k)
				delete(db.strs, k)
				delete(db.objs, k)
				if len(db.watched) > 0 {
					db.touch(k)
				}
				db.emit(NotifyExpired, "expired", k)
				expired++
			}
			seen++
			if seen == sample {
				break
			}
		}
		removed += expired
		budget -= seen
		if expired*4 <= seen {
			break
		}
	}
	return removed
}

// Tick runs periodic housekeeping: active expiry in every database.
// The Worker delivers it as a message; tests call it directly.
func (s *Shard) Tick(now int64) {
	for i := range s.dbs {
		if len(s.dbs[i].expires) > 0 {
			s.ExpiredKeys += uint64(s.dbs[i].activeExpire(now, 200))
		}
		if len(s.dbs[i].stalled) > 0 {
			s.serveStalled(&s.dbs[i], now)
		}
		if len(s.dbs[i].waiters) > 0 {
			s.dbs[i].sweepWaiters()
		}
		if len(s.dbs[i].watched) > 0 {
			s.sweepWatches(&s.dbs[i])
		}
		if s.dbs[i].scanKeys != nil || len(s.dbs[i].scanObjs) > 0 {
			s.dbs[i].dropIdleScans(now)
		}
	}
	s.flushEvents()
}
