package shard

import "sync/atomic"

// Watch is one connection's WATCH session: the keys it watches, on every
// shard that owns one, share it. A shard that modifies a watched key sets
// dirty; the connection's EXEC then discards the transaction. UNWATCH,
// EXEC, DISCARD, RESET and a disconnect set done, and the shards drop done
// entries lazily in their tick.
//
// The two flags are the only state shared between goroutines, as with a
// Waiter's claim flag.
type Watch struct {
	dirty atomic.Bool
	done  atomic.Bool
}

// NewWatch returns a clean watch session.
func NewWatch() *Watch { return &Watch{} }

// Dirty reports whether a watched key has been modified.
func (w *Watch) Dirty() bool { return w.dirty.Load() }

// Done ends the session; shards forget it at their next tick.
func (w *Watch) Done() { w.done.Store(true) }

// WatchCmd registers the keys args[1:] for the watch session of the call
// (Call.Watch). It is not in the command table: the connection's WATCH
// routes it like a data command, so registration is a message to the
// owning shard and happens before any later write there.
var WatchCmd = &Command{Spec: Spec{Name: "watch", Arity: -2, FirstKey: 1, LastKey: -1, Step: 1}, Run: cmdWatch}

func cmdWatch(c *Ctx) {
	w := c.Watch
	for _, k := range c.Args[1:] {
		s := c.shardOf(k)
		db := &s.dbs[c.DB]
		// A key that has already expired is gone for WATCH's purposes;
		// removing it now keeps its later lazy deletion from counting.
		db.expired(k, c.Now)
		if db.watched == nil {
			db.watched = make(map[string][]*Watch)
		}
		list := db.watched[string(k)]
		dup := false
		for _, x := range list {
			if x == w {
				dup = true
				break
			}
		}
		if !dup {
			db.watched[string(k)] = append(list, w)
			s.watchers++
		}
	}
	c.OK()
}

// ExpireKey removes key from database db if its TTL has passed, marking
// its watchers dirty. EXEC calls it for every watched key before checking
// its watch, as Redis counts a watched key that expired since WATCH as
// modified even if nothing deleted it yet. shards is indexed by ID and
// must hold the key's owner.
func ExpireKey(shards []*Shard, db int, key []byte, now int64) {
	if s := shards[Owner(key, len(shards))]; s != nil {
		s.dbs[db].expired(key, now)
	}
}

// shardOf returns the shard that holds key.
func (c *Ctx) shardOf(key []byte) *Shard {
	if c.self != nil {
		return c.self
	}
	return c.shards[Owner(key, len(c.shards))]
}

// touch marks the watchers of key dirty.
func (db *DB) touch(key string) {
	for _, w := range db.watched[key] {
		w.dirty.Store(true)
	}
}

// signal tells whoever cares that key changed: its watchers become dirty
// and its tracking clients get an invalidation. by is the tracker of the
// client that changed it (nil for expiry).
func (db *DB) signal(key string, by *Tracker) {
	if len(db.watched) > 0 {
		db.touch(key)
	}
	if db.sh != nil && db.sh.trk.active() {
		db.sh.trk.invalidate(key, by)
	}
}

// touchKey signals key, in the context's database, as changed by the
// running command.
func (c *Ctx) touchKey(key []byte) {
	db := c.db(key)
	var by *Tracker
	if db.sh != nil {
		by = db.sh.trk.cur
	}
	db.signal(string(key), by)
}

// touchExisting marks the watchers of every watched key that exists in db:
// what FLUSHDB and FLUSHALL change (SWAPDB: touchSwapped).
func (db *DB) touchExisting() {
	for k, ws := range db.watched {
		_, a := db.strs[k]
		_, b := db.objs[k]
		if a || b {
			for _, w := range ws {
				w.dirty.Store(true)
			}
		}
	}
}

// touchWritten marks the watchers of the keys of a write command that has
// just run, unless it replied an error (then it changed nothing). start is
// where its reply begins in c.Out. A shard without watchers pays one
// check.
func (c *Ctx) touchWritten(cmd *Command, start int) {
	if c.self != nil {
		if !c.self.signals() {
			return
		}
	} else {
		found := false
		for _, s := range c.shards {
			if s != nil && s.signals() {
				found = true
				break
			}
		}
		if !found {
			return
		}
	}
	if len(c.Out) == start && c.Waiter != nil {
		// A blocking command that replied nothing has blocked (or must
		// run again across shards): it changed nothing yet. Its keys
		// are signalled when a shard serves it.
		return
	}
	if c.noChange || unchanged(cmd, c.Args, c.Out[start:]) {
		return
	}
	var buf [8]int
	// Only the keys the command may write (its key specs' flags): the
	// sources of SUNIONSTORE or SORT ... STORE did not change.
	for _, i := range cmd.WrittenKeys(c.Args, buf[:0]) {
		if i >= len(c.Args) {
			continue
		}
		k := c.Args[i]
		if c.smoveSame && cmd.Name == "smove" && (i == 2 || string(c.Args[1]) == string(c.Args[2])) {
			continue // its destination did not change
		}
		s := c.shardOf(k)
		if s == nil || !s.signals() {
			continue
		}
		if s.trk.active() {
			s.trk.invalidate(string(k), s.trk.cur)
		}
		if s.watchers == 0 {
			continue
		}
		if cmd.Name == "move" || cmd.Name == "copy" {
			// The destination may be another database: touch them all.
			for d := range s.dbs {
				if len(s.dbs[d].watched) > 0 {
					s.dbs[d].touch(string(k))
				}
			}
			continue
		}
		if db := &s.dbs[c.DB]; len(db.watched) > 0 {
			db.touch(string(k))
		}
	}
}

// signals reports whether a change to a key may concern anyone: a watch
// or a tracking client.
func (s *Shard) signals() bool { return s.watchers > 0 || s.trk.active() }

// zeroUnchanged lists the write commands whose reply 0 means they changed
// nothing (no member added or removed, no key deleted, no TTL set), so
// that, as in Redis, they dirty no WATCH and send no invalidation.
var zeroUnchanged = map[string]bool{
	"setnx": true, "msetnx": true, "xdel": true, "xtrim": true, "pfadd": true,
	"sadd": true, "srem": true, "smove": true, "hdel": true, "hsetnx": true,
	"zrem": true, "zremrangebyscore": true, "zremrangebyrank": true, "zremrangebylex": true,
	"lrem": true, "lpushx": true, "rpushx": true, "linsert": true,
	"del": true, "unlink": true, "renamenx": true, "persist": true,
	"expire": true, "pexpire": true, "expireat": true, "pexpireat": true,
}

// unchanged reports, from its reply, that a write command changed nothing:
// it failed (an error), or found nothing to do (a null reply, or SETNX's
// and MSETNX's 0). Redis does not touch watched keys then. SET ... GET
// replies null when the key was missing, after writing it.
func unchanged(cmd *Command, args [][]byte, reply []byte) bool {
	if len(reply) == 0 {
		return false
	}
	switch {
	case reply[0] == '-':
		return true
	case string(reply) == "$-1\r\n" || string(reply) == "_\r\n" || string(reply) == "*-1\r\n":
		if cmd.Name == "set" && len(args) > 3 {
			for _, a := range args[3:] {
				if equalFold(a, "get") {
					return false
				}
			}
		}
		return true
	case string(reply) == ":0\r\n":
		return zeroUnchanged[cmd.Name]
	case string(reply) == ":-1\r\n":
		return cmd.Name == "linsert" // the pivot was not found
	case reply[0] == '*' && (cmd.Name == "sort" || cmd.Name == "georadius" || cmd.Name == "georadiusbymember"):
		return true // no STORE: a read, as Redis neither propagates nor signals it
	case cmd.Name == "bitfield" && !hasArg(args[2:], "set") && !hasArg(args[2:], "incrby"):
		return true // GET only
	case cmd.Name == "xsetid", cmd.Name == "pfdebug":
		return true // Redis 7.0 does not signal the key
	case cmd.Name == "xreadgroup" || cmd.Name == "xack" || cmd.Name == "xclaim" || cmd.Name == "xautoclaim":
		return true // nor for consumer group bookkeeping
	case cmd.Name == "xgroup":
		// Only XGROUP CREATE ... MKSTREAM may create the key (and it
		// signals even when the key was there: a harmless extra).
		return !equalFold(args[1], "create") || !hasArg(args[5:], "mkstream")
	}
	return false
}

// sweepWatches drops the entries of finished watch sessions. The tick
// calls it.
func (s *Shard) sweepWatches(db *DB) {
	for k, list := range db.watched {
		kept := list[:0]
		for _, w := range list {
			if !w.done.Load() {
				kept = append(kept, w)
			}
		}
		s.watchers -= len(list) - len(kept)
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(db.watched, k)
		} else {
			db.watched[k] = kept
		}
	}
}
