package shard

import (
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// Keyspace notification classes, with Redis's bit values (the numbers
// config.Table.Int("notify-keyspace-events") returns).
const (
	NotifyKeyspace = 1 << iota // K
	NotifyKeyevent             // E
	NotifyGeneric              // g
	NotifyString               // $
	NotifyList                 // l
	NotifySet                  // s
	NotifyHash                 // h
	NotifyZset                 // z
	NotifyExpired              // x
	NotifyEvicted              // e
	NotifyStream               // t
	NotifyKeyMiss              // m
	NotifyModule               // d
	NotifyNew                  // n
)

// Event is one keyspace notification: event Type happened to Key in
// database DB. Flags is the notify-keyspace-events setting it was made
// under, which says whether to publish it on the keyspace channel, the
// keyevent channel or both.
type Event struct {
	DB    int
	Type  string
	Key   string
	Flags int64
}

// notifier is a shard's keyspace-notification state. flags is written by
// SetNotify from any goroutine; the rest belongs to the shard's owner.
type notifier struct {
	flags  atomic.Int64
	sink   func([]Event)
	events []Event  // made since the last flush
	out    *[]Event // where events go while an Across run holds the shard
}

// SetNotify sets the notification flags (notify-keyspace-events). It is
// safe to call from any goroutine. With flags 0, the default, a write
// command pays one integer check for notifications.
func (s *Shard) SetNotify(flags int64) { s.note.flags.Store(flags) }

// SetEventSink sets where the shard hands its events, once per batch or
// tick. sink must not block: it owns the slice it is given. Call it before
// the shard starts.
func (s *Shard) SetEventSink(sink func([]Event)) { s.note.sink = sink }

// emit records an event for key in db if its class is enabled.
func (db *DB) emit(class int64, typ, key string) {
	s := db.sh
	if s == nil {
		return
	}
	f := s.note.flags.Load()
	if f&class == 0 || f&(NotifyKeyspace|NotifyKeyevent) == 0 {
		return
	}
	out := s.note.out
	if out == nil {
		out = &s.note.events
	}
	*out = append(*out, Event{DB: db.num, Type: typ, Key: key, Flags: f})
}

// flushEvents hands the events made since the last flush to the sink.
func (s *Shard) flushEvents() {
	if len(s.note.events) == 0 {
		return
	}
	if s.note.sink != nil {
		s.note.sink(s.note.events)
	}
	s.note.events = nil
}

// exists reports whether key is in db (expired or not).
func (db *DB) exists(key []byte) bool {
	if _, ok := db.strs[string(key)]; ok {
		return true
	}
	_, ok := db.objs[string(key)]
	return ok
}

// notePre is what beforeWrite saw: which keys of the command existed.
type notePre struct {
	on      bool
	existed uint64 // bit i: the i-th key position existed
	keys    [8]int
	n       int
}

// beforeWrite runs before a write command when notifications are on: it
// expires its keys that are due (emitting "expired" first, as Redis does
// while the command looks them up) and records which exist.
func (c *Ctx) beforeWrite(cmd *Command) (p notePre) {
	p.on = true
	c.changed = false
	c.popEv, c.popKey = "", nil
	idx := cmd.KeyIndexes(c.Args, p.keys[:0])
	for i, k := range idx {
		if k >= len(c.Args) || i >= 64 {
			continue
		}
		db := c.db(c.Args[k])
		db.expired(c.Args[k], c.Now)
		if db.exists(c.Args[k]) {
			p.existed |= 1 << i
		}
	}
	if len(idx) <= len(p.keys) {
		p.n = len(idx)
	} else {
		p.n = -1 // too many keys to remember positions: recompute
	}
	return p
}

// notifyFlags is the flags snapshot a batch runs under.
func (c *Ctx) notifyFlags() int64 {
	if c.self != nil {
		return c.self.note.flags.Load()
	}
	for _, s := range c.shards {
		if s != nil {
			return s.note.flags.Load()
		}
	}
	return 0
}

// afterWrite emits the events of a write command that has just run, in
// Redis's order: "new" for keys it created, its own event(s), then "del"
// for keys it emptied. reply is its reply.
func (c *Ctx) afterWrite(cmd *Command, p notePre, reply []byte) {
	if len(reply) == 0 || reply[0] == '-' {
		return
	}
	var buf [8]int
	var idx []int
	if p.n >= 0 {
		idx = p.keys[:p.n]
	} else {
		idx = cmd.KeyIndexes(c.Args, buf[:0])
	}
	null := string(reply) == "$-1\r\n" || string(reply) == "_\r\n" || string(reply) == "*-1\r\n" || string(reply) == "*0\r\n"
	zero := string(reply) == ":0\r\n"
	key := func(i int) []byte {
		if i < len(idx) && idx[i] < len(c.Args) {
			return c.Args[idx[i]]
		}
		return nil
	}
	existed := func(i int) bool { return i < 64 && p.existed&(1<<i) != 0 }
	ev := func(class int64, typ string, k []byte) {
		if k != nil {
			c.db(k).emit(class, typ, string(k))
		}
	}
	// "new" for every key the command created.
	name := cmd.Name
	for i := range idx {
		if name == "copy" || name == "smove" {
			break // they say "new" themselves: in the target database, or in Redis's order
		}
		if k := key(i); k != nil && !existed(i) && c.db(k).exists(k) {
			ev(NotifyNew, "new", k)
		}
	}
	delDone := false
	switch name {
	case "set", "setex", "psetex", "setnx", "getset", "mset", "msetnx":
		if name == "setnx" || name == "msetnx" {
			if zero {
				return
			}
		} else if null && !(name == "set" || name == "getset") {
			return
		}
		if name == "set" && null && !hasArg(c.Args[3:], "get") {
			return // NX or XX refused
		}
		for i := range idx {
			ev(NotifyString, "set", key(i))
		}
		if name == "setex" || name == "psetex" || (name == "set" && hasExpireArg(c.Args[3:])) {
			ev(NotifyGeneric, "expire", key(0))
		}
	case "append", "setrange", "incrbyfloat":
		ev(NotifyString, name, key(0))
	case "pfadd": // only when a register changed or the key was made
		if !zero {
			ev(NotifyString, "pfadd", key(0))
		}
	case "pfmerge": // Redis names the destination's event pfadd too
		ev(NotifyString, "pfadd", key(0))
	case "incr", "decr", "incrby", "decrby":
		ev(NotifyString, "incrby", key(0))
	case "getdel":
		if !null {
			ev(NotifyGeneric, "del", key(0))
		}
		delDone = true
	case "getex":
		if !null && len(c.Args) > 2 {
			if hasArg(c.Args[2:], "persist") {
				ev(NotifyGeneric, "persist", key(0))
			} else {
				ev(NotifyGeneric, "expire", key(0))
			}
		}
	case "del", "unlink":
		for i := range idx {
			if k := key(i); existed(i) && !c.db(k).exists(k) {
				ev(NotifyGeneric, "del", k)
			}
		}
		delDone = true
	case "expire", "pexpire", "expireat", "pexpireat":
		if !zero {
			if k := key(0); c.db(k).exists(k) {
				ev(NotifyGeneric, "expire", k)
			} else {
				ev(NotifyGeneric, "del", k)
			}
		}
		delDone = true
	case "persist":
		if !zero {
			ev(NotifyGeneric, "persist", key(0))
		}
	case "rename", "renamenx":
		if !zero {
			ev(NotifyGeneric, "rename_from", key(0))
			ev(NotifyGeneric, "rename_to", key(1))
		}
		delDone = true
	case "copy":
		if !zero {
			// Redis deletes a replaced destination and adds the copy, so
			// "new" comes even when the key existed.
			target := c.DB
			for j := 3; j+1 < len(c.Args); j++ {
				if equalFold(c.Args[j], "db") {
					if n, err := strconv.Atoi(string(c.Args[j+1])); err == nil {
						target = n
					}
					j++
				}
			}
			if k := key(1); k != nil {
				db := c.dbAt(k, target)
				db.emit(NotifyNew, "new", string(k))
				db.emit(NotifyGeneric, "copy_to", string(k))
			}
		}
	case "lpush", "lpushx", "rpush", "rpushx":
		if !zero {
			ev(NotifyList, name[:5], key(0))
		}
	case "lpop", "rpop":
		if !null {
			ev(NotifyList, name, key(0))
		}
	case "linsert", "lrem":
		if !zero && string(reply) != ":-1\r\n" {
			ev(NotifyList, name, key(0))
		}
	case "lset", "ltrim":
		ev(NotifyList, name, key(0))
	case "rpoplpush", "lmove", "brpoplpush", "blmove":
		if !null {
			// Redis 7.0 pushes, and says so, before it reports the pop.
			pop, push := moveEvents(c.Args)
			ev(NotifyList, push, key(1))
			ev(NotifyList, pop, key(0))
		}
	case "blpop", "brpop", "lmpop", "blmpop", "bzpopmin", "bzpopmax", "zmpop", "bzmpop":
		if !null && c.popKey != nil {
			class := int64(NotifyList)
			if c.popEv[0] == 'z' {
				class = NotifyZset
			}
			ev(class, c.popEv, c.popKey)
		}
	case "hset", "hincrby", "hincrbyfloat":
		ev(NotifyHash, name, key(0))
	case "hmset": // one implementation in Redis, which names it hset
		ev(NotifyHash, "hset", key(0))
	case "hsetnx":
		if !zero {
			ev(NotifyHash, "hset", key(0))
		}
	case "hdel":
		if !zero {
			ev(NotifyHash, "hdel", key(0))
		}
	case "sadd", "srem":
		if !zero {
			ev(NotifySet, name, key(0))
		}
	case "spop":
		if !null {
			ev(NotifySet, "spop", key(0))
		}
	case "smove":
		// Redis's order: srem, del of an emptied source, new of a created
		// destination, sadd unless the destination had the member. Moving
		// onto itself says nothing.
		delDone = true
		src, dst := key(0), key(1)
		if zero || (c.smoveSame && string(src) == string(dst)) {
			break
		}
		ev(NotifySet, "srem", src)
		if existed(0) && !c.db(src).exists(src) {
			ev(NotifyGeneric, "del", src)
		}
		if !existed(1) && c.db(dst).exists(dst) {
			ev(NotifyNew, "new", dst)
		}
		if !c.smoveSame {
			ev(NotifySet, "sadd", dst)
		}
	case "sinterstore", "sunionstore", "sdiffstore", "zunionstore", "zinterstore", "zdiffstore", "zrangestore":
		if k := key(0); c.db(k).exists(k) {
			class := int64(NotifySet)
			if name[0] == 'z' {
				class = NotifyZset
			}
			ev(class, name, k)
		} else if existed(0) {
			ev(NotifyGeneric, "del", k)
		}
		delDone = true
	case "georadius", "georadiusbymember", "geosearchstore":
		// Only the STORE forms write: GEOSEARCHSTORE's destination is its
		// first key, GEORADIUS's the one after its last STORE option.
		d := 0
		if name != "geosearchstore" {
			at := geoStoreIndex(c.Args)
			d = slices.Index(idx, at)
			if at == 0 || d < 0 {
				return
			}
		}
		k := key(d)
		if c.db(k).exists(k) {
			ev(NotifyZset, geoStoreEvent(name), k)
		} else if existed(d) {
			ev(NotifyGeneric, "del", k)
		}
		delDone = true
	case "zadd", "geoadd":
		// An update that changes a score counts, whatever the reply says.
		// GEOADD is ZADD underneath, and says so.
		if c.changed {
			if hasArg(c.Args[2:], "incr") {
				ev(NotifyZset, "zincr", key(0))
			} else {
				ev(NotifyZset, "zadd", key(0))
			}
		}
	case "move":
		if !zero {
			ev(NotifyGeneric, "move_from", key(0))
			if target, err := strconv.Atoi(string(c.Args[2])); err == nil {
				k := key(0)
				c.dbAt(k, target).emit(NotifyGeneric, "move_to", string(k))
			}
		}
		delDone = true
	case "xadd":
		if !null {
			ev(NotifyStream, "xadd", key(0))
			if c.changed {
				ev(NotifyStream, "xtrim", key(0))
			}
		}
	case "xdel", "xtrim":
		if !zero {
			ev(NotifyStream, name, key(0))
		}
	case "xsetid":
		ev(NotifyStream, "xsetid", key(0))
	case "xgroup":
		if c.changed { // set by the subcommands that change something
			ev(NotifyStream, "xgroup-"+strings.ToLower(string(c.Args[1])), key(0))
		}
	case "zincrby":
		ev(NotifyZset, "zincr", key(0))
	case "zrem", "zremrangebyscore", "zremrangebyrank", "zremrangebylex":
		if !zero {
			ev(NotifyZset, name, key(0))
		}
	case "zpopmin", "zpopmax":
		if !null {
			ev(NotifyZset, name, key(0))
		}
	}
	if delDone {
		return
	}
	for i := range idx {
		if k := key(i); k != nil && existed(i) && !c.db(k).exists(k) {
			ev(NotifyGeneric, "del", k)
		}
	}
}

// moveEvents returns the pop and push events of LMOVE, BLMOVE, RPOPLPUSH
// or BRPOPLPUSH with arguments args.
func moveEvents(args [][]byte) (pop, push string) {
	pop, push = "rpop", "lpush"
	if len(args) >= 5 { // LMOVE, BLMOVE
		if equalFold(args[3], "left") {
			pop = "lpop"
		}
		if equalFold(args[4], "right") {
			push = "rpush"
		}
	}
	return pop, push
}

// notePop records the event of a pop that chose key among several.
func (c *Ctx) notePop(typ string, key []byte) { c.popEv, c.popKey = typ, key }

// notifying reports whether keyspace notifications are on for db.
func (db *DB) notifying() bool { return db.sh != nil && db.sh.note.flags.Load() != 0 }

// emitServed emits the events of a pop made for a blocked client: typ on
// key, then "del" if the pop emptied it.
func (c *Ctx) emitServed(class int64, typ string, key []byte) {
	db := c.db(key)
	if !db.notifying() {
		return
	}
	db.emit(class, typ, string(key))
	if !db.exists(key) {
		db.emit(NotifyGeneric, "del", string(key))
	}
}

// geoStoreEvent is the event of a geo search that stored its result.
func geoStoreEvent(name string) string {
	if name == "geosearchstore" {
		return name
	}
	return "georadiusstore"
}

func hasArg(args [][]byte, word string) bool {
	for _, a := range args {
		if equalFold(a, word) {
			return true
		}
	}
	return false
}

func hasExpireArg(args [][]byte) bool {
	return hasArg(args, "ex") || hasArg(args, "px") || hasArg(args, "exat") || hasArg(args, "pxat")
}

// KeyspaceChannel and KeyeventChannel name the channels an event is
// published on.
func KeyspaceChannel(e *Event) string {
	return "__keyspace@" + strconv.Itoa(e.DB) + "__:" + e.Key
}

func KeyeventChannel(e *Event) string {
	return "__keyevent@" + strconv.Itoa(e.DB) + "__:" + e.Type
}
