package shard

import (
	"errors"
	"strconv"

	"github.com/valkyrie-kv/valkyrie/actor"
	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// Loading an RDB file: the server reads it and hands each shard the keys
// it owns, in batches (Worker.Load, or Shard.Load on a held shard).

// LoadEntry is one key read from a file.
type LoadEntry struct {
	DB       int
	Key      string
	ExpireAt int64 // Unix ms, or -1
	Idle     int64 // seconds, or -1
	Freq     int   // LFU counter, or -1
	Value    *rdb.Value
	// KeepExpired stores the key even if its TTL has passed: a replica
	// keeps its master's keys until the master's DEL, as Redis loads an
	// RDB on a server that is not a master.
	KeepExpired bool
}

// ErrDuplicateKey is the error of a file that holds a key twice.
var ErrDuplicateKey = errors.New("duplicated key found in RDB file")

// ErrBadValue is the error of a value that cannot be stored (a set or
// hash with a member twice, say).
var ErrBadValue = errors.New("bad data format in RDB file")

// Load stores the entries, leaving out keys whose TTL passed before now
// (Unix ms), as Redis does when it loads a file as a master. A key that
// exists already is an error, unless merge (DEBUG RELOAD MERGE) lets the
// file's replace it. It returns how many keys it stored and how many it
// left out as expired.
func (s *Shard) Load(es []LoadEntry, now int64, merge bool) (loaded, expired int, err error) {
	for i := range es {
		e := &es[i]
		if e.DB < 0 || e.DB >= NumDBs {
			return loaded, expired, errors.New("RDB file selects database " + strconv.Itoa(e.DB) + ", out of range")
		}
		if e.ExpireAt >= 0 && e.ExpireAt <= now && !e.KeepExpired {
			expired++
			continue
		}
		db := &s.dbs[e.DB]
		key := keyBytes(e.Key)
		if db.has(key, now) {
			if !merge {
				return loaded, expired, ErrDuplicateKey
			}
			db.remove(key)
		}
		v := restoredValue(e.Value, db.hashLimits())
		if v == nil {
			return loaded, expired, ErrBadValue
		}
		if str, ok := v.(string); ok {
			v = db.shareInt(str)
		}
		db.setMeta(key, v, false, db.restoredMeta(int64(e.Freq), e.Idle, now))
		if e.ExpireAt >= 0 {
			db.storeExpire(key, e.ExpireAt) // the file's keys are no client's (replica_expiry.go)
		}
		loaded++
	}
	return loaded, expired, nil
}

type loadMsg struct {
	es    []LoadEntry
	now   int64
	reply chan loadResult
}

type loadResult struct {
	loaded, expired int
	err             error
}

func (m loadMsg) deliver(s *Shard, _ <-chan struct{}) {
	var r loadResult
	r.loaded, r.expired, r.err = s.Load(m.es, m.now, false)
	m.reply <- r
}

// Load runs Shard.Load on the worker and waits for it.
func (w *Worker) Load(es []LoadEntry, now int64) (loaded, expired int, err error) {
	m := loadMsg{es: es, now: now, reply: make(chan loadResult, 1)}
	if err := w.a.Send(m); err != nil {
		return 0, 0, err
	}
	select {
	case r := <-m.reply:
		return r.loaded, r.expired, r.err
	case <-w.a.Done():
		return 0, 0, actor.ErrStopped
	}
}

// FlushAll empties every database of the shard, as DEBUG RELOAD does
// before it loads the file back.
func (s *Shard) FlushAll() {
	for i := range s.dbs {
		s.dbs[i].flush()
	}
	if s.trk.shared != nil {
		s.trk.flushed()
	}
}
