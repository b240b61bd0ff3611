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
// by blocking commands that arrived before it but ran late. 2 ms was too
// short on a loaded machine: in two runs of Redis's extended suite next to
// other work, "BRPOPLPUSH with multiple blocked clients" lost the race and
// hung. Only clients that raced wait that long.
const holdFor = 10 * time.Millisecond

// bornAfter reports whether a blocking command must treat key as empty
// and queue: the key was created (at born, Unix ns, 0 if unknown) after
// the command arrived, so recently that others which arrived before it may
// still be on their way; or the key is held already for clients that did.
// In the first case it holds the key (see above).
func (c *Ctx) bornAfter(key []byte, born int64) bool {
	w := c.Waiter
	if w == nil || w.Since == 0 || w.Retried {
		return false
	}
	db := c.db(key)
	now := time.Now().UnixNano()
	if len(db.held) > 0 && db.heldNow(string(key), now) {
		return true // clients queued for it first
	}
	// A gap longer than the hold is not a race this can fix; it is also
	// what a wall clock stepped back looks like.
	if born <= w.Since || born-w.Since >= int64(holdFor) {
		return false
	}
	until := min(born, now) + int64(holdFor)
	if now >= until {
		return false
	}
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
	if holding(until, now) {
		return true
	}
	delete(db.held, key)
	return false
}

// holding reports whether a hold until the given time still runs at now.
// One that ends further ahead than a hold can last began before the wall
// clock stepped back: it has run long enough.
func holding(until, now int64) bool {
	return now < until && until-now <= int64(holdFor)
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
			if holding(until, now) {
				s.wakeAt(until)
				continue
			}
			delete(db.held, k)
			if _, ok := db.waiters[k]; ok {
				c.ready = append(c.ready, readyKey{db: db, key: k})
			} else {
				for _, g := range db.heldGates[k] {
					close(g) // no waiter left to serve first
				}
				delete(db.heldGates, k)
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
	s.startJournal()
	defer s.handJournal()
	s.serveHeld(time.Now().UnixMilli())
}
