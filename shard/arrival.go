package shard

import "time"

// Arrival order for blocked clients.
//
// Redis reads sockets in the order their bytes arrive, so when client A
// sends BLPOP q and then client B sends LPUSH q x, A is blocked before the
// push and gets x. Valkyrie runs each connection on its own goroutine, and
// Go's poller may run the goroutines that became readable together in any
// order: B's push can reach q's shard before A's BLPOP. A then finds x
// already there. Popping it at once is what an unordered server does, but
// it is wrong whenever another client C blocked on q between A and the
// push: in Redis A is served first, here C would be.
//
// So every command carries the kernel's receive time of its bytes (the
// connection reads with SO_TIMESTAMPNS; see conn), every list and sorted
// set remembers when it was created (born), and a blocking command whose
// key was born after the command itself arrived treats the key as empty:
// it queues as a waiter, ordered by arrival like every waiter, and the key
// is held, not served, until holdFor after its birth, by which time every
// command that arrived before the push has reached the shard. Then the
// waiters are served in arrival order. The wait costs only the clients
// that raced; one that finds data pushed before it arrived pops at once.

// holdFor is how long after a key's birth its waiters may still be joined
// by blocking commands that arrived before it but ran late.
const holdFor = 2 * time.Millisecond

// bornAfter reports whether a key created at born (Unix ns, 0 if unknown)
// was created after the blocking command of c arrived, recently enough
// that others which arrived before it may still be on their way. The key
// is then held (see above); the caller must treat it as empty.
func (c *Ctx) bornAfter(key []byte, born int64) bool {
	w := c.Waiter
	if w == nil || w.Since == 0 || born <= w.Since || w.Retried {
		return false
	}
	until := born + int64(holdFor)
	now := time.Now().UnixNano()
	if now >= until {
		return false
	}
	db := c.db(key)
	if db.held == nil {
		db.held = make(map[string]int64)
	}
	if db.held[string(key)] < until {
		db.held[string(key)] = until
	}
	db.sh.wakeAt(until)
	return true
}

// heldNow reports whether key is held at Unix ns now; a hold that has
// passed is dropped.
func (db *DB) heldNow(key string, now int64) bool {
	until, ok := db.held[key]
	if !ok {
		return false
	}
	if now < until {
		return true
	}
	delete(db.held, key)
	return false
}

// wakeAt asks for serveHeld to run on the shard's goroutine at Unix ns t.
// Without a worker (tests), the next tick does it.
func (s *Shard) wakeAt(t int64) {
	if s.wake == nil || (s.wakeDue != 0 && s.wakeDue <= t && s.wakeDue > time.Now().UnixNano()) {
		return
	}
	s.wakeDue = t
	s.wake(time.Duration(t - time.Now().UnixNano()))
}

// serveHeld serves the waiters of keys whose hold has passed.
func (s *Shard) serveHeld(nowMs int64) {
	now := time.Now().UnixNano()
	for i := range s.dbs {
		db := &s.dbs[i]
		if len(db.held) == 0 {
			continue
		}
		c := Ctx{self: s, Now: nowMs, DB: db.num}
		for k, until := range db.held {
			if now < until {
				s.wakeAt(until)
				continue
			}
			delete(db.held, k)
			if _, ok := db.waiters[k]; ok {
				c.ready = append(c.ready, readyKey{db: db, key: k})
			}
		}
		c.serveReady()
	}
	s.flushEvents()
}

// heldWake is the message a hold's timer sends the worker.
type heldWake struct{}

func (heldWake) deliver(s *Shard, _ <-chan struct{}) {
	s.wakeDue = 0
	s.serveHeld(time.Now().UnixMilli())
}
