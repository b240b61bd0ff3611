package shard

import (
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard/osmem"
)

// Lazy free: UNLINK, FLUSHDB/FLUSHALL ASYNC, and DEL or FLUSH when
// lazyfree-lazy-user-del or -flush is set. A shard drops a value in O(1)
// whatever its size; what costs, in Go, is the collection that finds it
// dead, and an idle server allocates nothing that would start one, so the
// memory would linger. A value big enough for Redis to free it in the
// background (more than lazyfreeThreshold allocations) is handed to the
// server's lazy-free worker instead: it asks for one collection (through
// osmem, at most one a second), and counts the value pending until that
// collection has run, then freed, as Redis's lazyfree_pending_objects and
// lazyfreed_objects count them.

// lazyfreeThreshold is Redis's LAZYFREE_THRESHOLD.
const lazyfreeThreshold = 64

// LazyFree is one server's lazy freeing, shared by its shards.
type LazyFree struct {
	pending, freed atomic.Int64
	queued         atomic.Int64 // handed over, not yet taken by the worker
	wake           chan struct{}

	// UserDel and UserFlush are lazyfree-lazy-user-del and -flush.
	UserDel, UserFlush atomic.Bool
}

// NewLazyFree returns the state; Run must serve it.
func NewLazyFree() *LazyFree { return &LazyFree{wake: make(chan struct{}, 1)} }

// Pending and Freed are lazyfree_pending_objects and lazyfreed_objects.
func (lf *LazyFree) Pending() int64 { return lf.pending.Load() }
func (lf *LazyFree) Freed() int64   { return lf.freed.Load() }

// ResetStats zeroes lazyfreed_objects (CONFIG RESETSTAT).
func (lf *LazyFree) ResetStats() { lf.freed.Store(0) }

// hand counts n objects dropped for the worker to see collected.
func (lf *LazyFree) hand(n int64) {
	if lf == nil || n <= 0 {
		return
	}
	lf.pending.Add(n)
	lf.queued.Add(n)
	select {
	case lf.wake <- struct{}{}:
	default:
	}
}

// Run serves the worker until stop is closed: for each batch of objects
// handed over, it asks for a collection and waits (at most a few seconds)
// for one to complete.
func (lf *LazyFree) Run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-lf.wake:
		}
		n := lf.queued.Swap(0)
		if n == 0 {
			continue
		}
		before := osmem.Runs()
		osmem.Purge()
		t := time.NewTicker(10 * time.Millisecond)
		for deadline := time.Now().Add(3 * time.Second); osmem.Runs() == before && time.Now().Before(deadline); {
			select {
			case <-stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
		t.Stop()
		lf.pending.Add(-n)
		lf.freed.Add(n)
	}
}

// SetLazyFree gives the shard its server's lazy freeing.
func (s *Shard) SetLazyFree(lf *LazyFree) { s.lazy = lf }

// freeEffort estimates, as Redis's lazyfreeGetFreeEffort does, how many
// allocations freeing v means.
func freeEffort(v any) int64 {
	switch v := v.(type) {
	case *List:
		return int64(v.Len()+127) / 128 // Redis counts quicklist nodes
	case Set:
		return int64(len(v))
	case *ZSet:
		return int64(v.Len())
	case *Hash:
		if v.compact() {
			return 1
		}
		return int64(v.Len())
	case *Stream:
		effort := int64(len(v.blocks))
		for _, g := range v.groups {
			effort += 1 + int64(len(g.nacks))
		}
		return effort
	}
	return 1
}

// unlink removes key, handing a big value to the lazy-free worker; it
// reports whether the key existed.
func (db *DB) unlink(key []byte) bool {
	v, ok := db.objs[string(key)]
	if !db.remove(key) {
		return false
	}
	if ok && db.sh != nil && db.sh.lazy != nil && freeEffort(v.v) > lazyfreeThreshold {
		db.sh.lazy.hand(1)
	}
	return true
}

// flushAsync empties the database, its keys counted as lazily freed.
func (db *DB) flushAsync() {
	n := db.Len()
	db.flush()
	if db.sh != nil {
		db.sh.lazy.hand(int64(n))
	}
}
