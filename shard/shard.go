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

	ctx Ctx // reused by Exec so a batch allocates nothing
}

// DB is one logical database within a shard.
//
// Values are stored as any: a string value is a Go string (immutable, so a
// reply can alias it); other types will be pointers to their structures.
// TTLs live in a second map, as in Redis, so keys without one pay nothing.
type DB struct {
	keys    map[string]any
	expires map[string]int64 // absolute Unix time in milliseconds
	waiters map[string][]*Waiter

	scanKeys *scanSnapshot            // SCAN's snapshot of keys, if any
	scanObjs map[string]*scanSnapshot // HSCAN/SSCAN/ZSCAN snapshots by key
}

// New returns an empty shard with the given index.
func New(id int) *Shard { return &Shard{ID: id} }

// DB returns logical database i (0 <= i < NumDBs).
func (s *Shard) DB(i int) *DB { return &s.dbs[i] }

// Len reports the number of keys in the database, counting keys that have
// expired but not been removed yet.
func (db *DB) Len() int { return len(db.keys) }

// Expires reports how many keys carry a TTL.
func (db *DB) Expires() int { return len(db.expires) }

// get returns the live value of key, removing it first if it has expired.
func (db *DB) get(key []byte, now int64) (any, bool) {
	v, ok := db.keys[string(key)]
	if !ok {
		return nil, false
	}
	if len(db.expires) > 0 {
		if at, has := db.expires[string(key)]; has && at <= now {
			db.remove(key)
			return nil, false
		}
	}
	return v, true
}

// set stores v under key and clears any TTL unless keepTTL.
func (db *DB) set(key []byte, v any, keepTTL bool) {
	if db.keys == nil {
		db.keys = make(map[string]any)
	}
	db.keys[string(key)] = v
	if !keepTTL && len(db.expires) > 0 {
		delete(db.expires, string(key))
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
	if _, ok := db.keys[string(key)]; !ok {
		return false
	}
	delete(db.keys, string(key))
	if len(db.expires) > 0 {
		delete(db.expires, string(key))
	}
	return true
}

// flush empties the database. Blocked clients stay blocked, as in Redis.
func (db *DB) flush() {
	db.keys = nil
	db.expires = nil
	db.scanKeys = nil
	db.scanObjs = nil
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
				delete(db.keys, k)
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
		if len(s.dbs[i].waiters) > 0 {
			s.dbs[i].sweepWaiters()
		}
		if s.dbs[i].scanKeys != nil || len(s.dbs[i].scanObjs) > 0 {
			s.dbs[i].dropIdleScans(now)
		}
	}
}
