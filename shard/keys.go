package shard

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/valkyrie-kv/valkyrie/shard/glob"
	"github.com/valkyrie-kv/valkyrie/wire"
)

func init() {
	register(
		&Command{Spec: Spec{Name: "del", Arity: -2, Flags: Write, FirstKey: 1, LastKey: -1, Step: 1,
			Group: "generic", Since: "1.0.0", Summary: "Deletes one or more keys.",
			Complexity: "O(N) where N is the number of keys that will be removed.", Syntax: "key [key ...]"},
			Run: cmdDel},
		&Command{Spec: Spec{Name: "exists", Arity: -2, Flags: ReadOnly | Fast, FirstKey: 1, LastKey: -1, Step: 1,
			Group: "generic", Since: "1.0.0", Summary: "Determines whether one or more keys exist.",
			Complexity: "O(N) where N is the number of keys to check.", Syntax: "key [key ...]"},
			Run: cmdExists},
	)
}

func cmdDel(c *Ctx) {
	lazy := equalFold(c.Args[0], "unlink")
	var n int64
	for _, key := range c.Args[1:] {
		db := c.db(key)
		if !db.has(key, c.Now) {
			continue
		}
		if lazy || (db.sh != nil && db.sh.lazy != nil && db.sh.lazy.UserDel.Load()) {
			if db.unlink(key) {
				n++
			}
		} else if db.remove(key) {
			n++
		}
	}
	c.Int(n)
}

// cmdExists counts the keys that exist without touching them (Redis's
// LOOKUP_NOTOUCH).
func cmdExists(c *Ctx) {
	var n int64
	for _, key := range c.Args[1:] {
		if c.db(key).hasRead(key, c.Now) {
			n++
		}
	}
	c.Int(n)
}

// cmdTouch is EXISTS that counts an access to each key it finds.
func cmdTouch(c *Ctx) {
	var n int64
	for _, key := range c.Args[1:] {
		if db := c.db(key); db.hasRead(key, c.Now) {
			db.touchKey(key, c.Now)
			n++
		}
	}
	c.Int(n)
}

// Generic key commands beyond DEL and EXISTS: TTLs, TYPE, renames, copies,
// moves between databases, RANDOMKEY, KEYS, SWAPDB and OBJECT.

func init() {
	expireSpec := func(name, since, summary, unit string) *Command {
		return &Command{Spec: Spec{Name: name, Arity: -3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "generic", Since: since, Summary: summary, Complexity: "O(1)",
			Syntax: "key " + unit + " [NX|XX|GT|LT]"}}
	}
	expire := expireSpec("expire", "1.0.0", "Set a key's time to live in seconds", "seconds")
	expire.Run = func(c *Ctx) { cmdExpire(c, relSeconds) }
	pexpire := expireSpec("pexpire", "2.6.0", "Set a key's time to live in milliseconds", "milliseconds")
	pexpire.Run = func(c *Ctx) { cmdExpire(c, relMillis) }
	expireat := expireSpec("expireat", "1.2.0", "Set the expiration for a key as a UNIX timestamp", "unix-time-seconds")
	expireat.Run = func(c *Ctx) { cmdExpire(c, absSeconds) }
	pexpireat := expireSpec("pexpireat", "2.6.0",
		"Set the expiration for a key as a UNIX timestamp specified in milliseconds", "unix-time-milliseconds")
	pexpireat.Run = func(c *Ctx) { cmdExpire(c, absMillis) }

	readKey := func(name, since, summary string, run func(*Ctx)) *Command {
		return &Command{Spec: Spec{Name: name, Arity: 2, Flags: ReadOnly | Fast, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "generic", Since: since, Summary: summary, Complexity: "O(1)", Syntax: "key"}, Run: run}
	}
	register(expire, pexpire, expireat, pexpireat,
		readKey("expiretime", "7.0.0", "Get the expiration Unix timestamp for a key",
			func(c *Ctx) { cmdTTL(c, false, true) }),
		readKey("pexpiretime", "7.0.0", "Get the expiration Unix timestamp for a key in milliseconds",
			func(c *Ctx) { cmdTTL(c, true, true) }),
		readKey("ttl", "1.0.0", "Get the time to live for a key in seconds",
			func(c *Ctx) { cmdTTL(c, false, false) }),
		readKey("pttl", "2.6.0", "Get the time to live for a key in milliseconds",
			func(c *Ctx) { cmdTTL(c, true, false) }),
		readKey("type", "1.0.0", "Determine the type stored at key", cmdType),
		&Command{Spec: Spec{Name: "persist", Arity: 2, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "generic", Since: "2.2.0", Summary: "Remove the expiration from a key", Complexity: "O(1)",
			Syntax: "key"}, Run: cmdPersist},
		&Command{Spec: Spec{Name: "touch", Arity: -2, Flags: ReadOnly | Fast, FirstKey: 1, LastKey: -1, Step: 1,
			Group: "generic", Since: "3.2.1",
			Summary:    "Alters the last access time of a key(s). Returns the number of existing keys specified.",
			Complexity: "O(N) where N is the number of keys that will be touched.", Syntax: "key [key ...]"},
			Run: cmdTouch},
		&Command{Spec: Spec{Name: "unlink", Arity: -2, Flags: Write | Fast, FirstKey: 1, LastKey: -1, Step: 1,
			Group: "generic", Since: "4.0.0",
			Summary: "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
			Complexity: "O(1) for each key removed regardless of its size. Then the command does O(N) work in a " +
				"different thread in order to reclaim memory, where N is the number of allocations the deleted " +
				"objects where composed of.",
			Syntax: "key [key ...]"}, Run: cmdDel},
		&Command{Spec: Spec{Name: "rename", Arity: 3, Flags: Write, FirstKey: 1, LastKey: 2, Step: 1,
			Group: "generic", Since: "1.0.0", Summary: "Rename a key", Complexity: "O(1)", Syntax: "key newkey"},
			Run: func(c *Ctx) { cmdRename(c, false) }},
		&Command{Spec: Spec{Name: "renamenx", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 2, Step: 1,
			Group: "generic", Since: "1.0.0", Summary: "Rename a key, only if the new key does not exist",
			Complexity: "O(1)", Syntax: "key newkey"},
			Run: func(c *Ctx) { cmdRename(c, true) }},
		&Command{Spec: Spec{Name: "copy", Arity: -3, Flags: Write | DenyOOM, FirstKey: 1, LastKey: 2, Step: 1,
			Group: "generic", Since: "6.2.0", Summary: "Copy a key",
			Complexity: "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
			Syntax:     "source destination [DB destination-db] [REPLACE]"}, Run: cmdCopy},
		&Command{Spec: Spec{Name: "move", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "generic", Since: "1.0.0", Summary: "Move a key to another database", Complexity: "O(1)",
			Syntax: "key db"}, Run: cmdMove},
		&Command{Spec: Spec{Name: "randomkey", Arity: 1, Flags: ReadOnly | AllShards,
			Group: "generic", Since: "1.0.0", Summary: "Return a random key from the keyspace", Complexity: "O(1)"},
			Run: cmdRandomKey},
		&Command{Spec: Spec{Name: "keys", Arity: 2, Flags: ReadOnly | AllShards,
			Group: "generic", Since: "1.0.0", Summary: "Find all keys matching the given pattern",
			Complexity: "O(N) with N being the number of keys in the database, under the assumption that the key " +
				"names in the database and the given pattern have limited length.",
			Syntax: "pattern", ACL: []string{"dangerous"}}, Run: cmdKeys},
		&Command{Spec: Spec{Name: "swapdb", Arity: 3, Flags: Write | Fast | AllShards,
			Group: "server", Since: "4.0.0", Summary: "Swaps two Redis databases",
			Complexity: "O(N) where N is the count of clients watching or blocking on keys from both databases.",
			Syntax:     "index1 index2", ACL: []string{"keyspace", "dangerous"}}, Run: cmdSwapDB},
		&Command{Spec: Spec{Name: "object", Arity: -2,
			Group: "generic", Since: "2.2.3", Summary: "A container for object introspection commands",
			Complexity: "Depends on subcommand.", Subcommands: objectSpecs()},
			Run: cmdObject, Keys: objectKeys},
	)
}

// cloner is implemented by stored types that COPY can duplicate; the copy
// must share nothing mutable with the original.
type cloner interface {
	clone() any
}

// encodingNamer is implemented by stored types that know what OBJECT
// ENCODING should answer for them.
type encodingNamer interface {
	encoding() string
}

// dbAt returns logical database i of the shard that owns key (COPY ... DB,
// MOVE).
func (c *Ctx) dbAt(key []byte, i int) *DB {
	if c.self != nil {
		return &c.self.dbs[i]
	}
	return &c.shards[Owner(key, len(c.shards))].dbs[i]
}

// signalAt is signal for key in logical database i.
func (c *Ctx) signalAt(i int, key []byte) {
	saved := c.DB
	c.DB = i
	c.signal(key)
	c.DB = saved
}

// argText is an argument as Redis prints it with %s: up to its first NUL.
func argText(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// int32Arg reads an int argument as Redis's getIntFromObjectOrReply does;
// msg, when not empty, replaces both of its error messages.
func (c *Ctx) int32Arg(arg []byte, msg string) (int, bool) {
	n, ok := wire.ParseInt(arg)
	switch {
	case !ok && msg == "":
		c.Error(ErrNotInt)
	case (n < math.MinInt32 || n > math.MaxInt32) && msg == "":
		c.Error("ERR value is out of range, value must between -2147483648 and 2147483647")
	case !ok || n < math.MinInt32 || n > math.MaxInt32:
		c.Error(msg)
	default:
		return int(n), true
	}
	return 0, false
}

// randomKey returns a random key of a non-empty map. Small maps get an
// exactly uniform choice; for large ones it takes the first key of a range,
// which Go starts at a random slot, keeping the pick O(1).
func randomKey[V any](m map[string]V) string {
	const exact = 64
	skip := -1
	if len(m) <= exact {
		skip = rand.IntN(len(m))
	}
	for k := range m {
		if skip <= 0 {
			return k
		}
		skip--
	}
	return ""
}

// Expiry flags of EXPIRE and friends.
const (
	expireNX = 1 << iota
	expireXX
	expireGT
	expireLT
)

func cmdExpire(c *Ctx, unit expireUnit) {
	key := c.Args[1]
	flags := 0
	for _, a := range c.Args[3:] {
		switch {
		case equalFold(a, "nx"):
			flags |= expireNX
		case equalFold(a, "xx"):
			flags |= expireXX
		case equalFold(a, "gt"):
			flags |= expireGT
		case equalFold(a, "lt"):
			flags |= expireLT
		default:
			c.Error("ERR Unsupported option " + argText(a))
			return
		}
	}
	if flags&expireNX != 0 && flags&(expireXX|expireGT|expireLT) != 0 {
		c.Error("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if flags&expireGT != 0 && flags&expireLT != 0 {
		c.Error("ERR GT and LT options at the same time are not compatible")
		return
	}
	when, ok := wire.ParseInt(c.Args[2])
	if !ok {
		c.Error(ErrNotInt)
		return
	}
	// Negative times are allowed (they delete the key); only overflow is
	// an error.
	if unit == relSeconds || unit == absSeconds {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			c.Error(ErrExpireTime(c.name()))
			return
		}
		when *= 1000
	}
	if unit == relSeconds || unit == relMillis {
		if when > math.MaxInt64-c.Now {
			c.Error(ErrExpireTime(c.name()))
			return
		}
		when += c.Now
	}
	db := c.db(key)
	if !db.has(key, c.Now) {
		c.Int(0)
		return
	}
	db.touchKey(key, c.Now) // Redis looks the key up for writing
	if flags != 0 {
		cur, has := db.ttl(key)
		switch {
		case flags&expireNX != 0 && has,
			flags&expireXX != 0 && !has,
			flags&expireGT != 0 && (!has || when <= cur), // no TTL counts as infinite
			flags&expireLT != 0 && has && when >= cur:
			c.Int(0)
			return
		}
	}
	if c.pastExpiry(when) {
		db.remove(key)
	} else {
		db.setExpire(key, when)
	}
	c.propagateExpire(key, when)
	c.Int(1)
}

// cmdTTL answers TTL, PTTL, EXPIRETIME and PEXPIRETIME: -2 for a missing
// key, -1 for one without a TTL.
func cmdTTL(c *Ctx, millis, absolute bool) {
	key := c.Args[1]
	db := c.db(key)
	if !db.hasRead(key, c.Now) {
		c.Int(-2)
		return
	}
	at, has := db.ttl(key)
	if !has {
		c.Int(-1)
		return
	}
	v := at
	if !absolute {
		v = max(at-c.Now, 0)
	}
	if !millis {
		v = (v + 500) / 1000
	}
	c.Int(v)
}

func cmdPersist(c *Ctx) {
	key := c.Args[1]
	db := c.db(key)
	if !db.has(key, c.Now) {
		c.Int(0)
		return
	}
	db.touchKey(key, c.Now) // Redis looks the key up for writing
	if db.persist(key) {
		c.Int(1)
		return
	}
	c.Int(0)
}

func cmdType(c *Ctx) {
	key := c.Args[1]
	db := c.db(key)
	if !db.hasRead(key, c.Now) {
		c.Simple("none")
		return
	}
	c.Simple(db.typeOf(string(key)))
}

func cmdRename(c *Ctx, nx bool) {
	src, dst := c.Args[1], c.Args[2]
	v, found := c.lookup(src)
	if !found {
		c.Error(ErrNoSuchKey)
		return
	}
	if bytes.Equal(src, dst) {
		if nx {
			c.Int(0)
		} else {
			c.OK()
		}
		return
	}
	srcDB := c.db(src)
	at, hasTTL := srcDB.ttl(src)
	if nx {
		if _, exists := c.lookup(dst); exists {
			c.Int(0)
			return
		}
	}
	meta := srcDB.metaOf(string(src)) // the value moves with its access data
	srcDB.remove(src)
	dstDB := c.db(dst)
	dstDB.setMeta(dst, v, false, meta)
	if hasTTL {
		dstDB.setExpire(dst, at)
	}
	c.signal(dst)
	if nx {
		c.Int(1)
	} else {
		c.OK()
	}
}

// copyValue returns a copy of v that shares nothing mutable with it.
func copyValue(v any) (any, bool) {
	switch v := v.(type) {
	case string:
		if isShared(v) {
			return strings.Clone(v), true // Redis's copy has one reference
		}
		return v, true // immutable
	case cloner:
		return v.clone(), true
	case *List:
		dup := &List{}
		for i := 0; i < v.Len(); i++ {
			dup.PushBack(v.At(i))
		}
		return dup, true
	}
	return nil, false
}

func cmdCopy(c *Ctx) {
	src, dst := c.Args[1], c.Args[2]
	target, replace := c.DB, false
	for j := 3; j < len(c.Args); j++ {
		a := c.Args[j]
		switch {
		case equalFold(a, "replace"):
			replace = true
		case equalFold(a, "db") && j+1 < len(c.Args):
			n, ok := c.int32Arg(c.Args[j+1], "")
			if !ok {
				return
			}
			if n < 0 || n >= NumDBs {
				c.Error(ErrDBIndex)
				return
			}
			target = n
			j++
		default:
			c.Error(ErrSyntax)
			return
		}
	}
	if target == c.DB && bytes.Equal(src, dst) {
		c.Error(ErrSameObject)
		return
	}
	v, found := c.lookup(src)
	if !found {
		c.Int(0)
		return
	}
	at, hasTTL := c.db(src).ttl(src)
	dstDB := c.dbAt(dst, target)
	if _, exists := dstDB.get(dst, c.Now); exists && !replace {
		c.Int(0)
		return
	}
	dup, ok := copyValue(v)
	if !ok {
		c.Error("ERR COPY is not supported for keys of type " + typeName(v))
		return
	}
	dstDB.setMeta(dst, dup, false, dstDB.newMeta(c.Now)) // a new object, as in Redis
	if hasTTL {
		dstDB.setExpire(dst, at)
	}
	c.signalAt(target, dst)
	c.Int(1)
}

func cmdMove(c *Ctx) {
	key := c.Args[1]
	target, ok := c.int32Arg(c.Args[2], "")
	if !ok {
		return
	}
	if target < 0 || target >= NumDBs {
		c.Error(ErrDBIndex)
		return
	}
	if target == c.DB {
		c.Error(ErrSameObject)
		return
	}
	srcDB := c.db(key)
	v, found := srcDB.get(key, c.Now)
	if !found {
		c.Int(0)
		return
	}
	dstDB := c.dbAt(key, target)
	if _, exists := dstDB.get(key, c.Now); exists {
		c.Int(0)
		return
	}
	at, hasTTL := srcDB.ttl(key)
	dstDB.setMeta(key, v, false, srcDB.metaOf(string(key)))
	if hasTTL {
		dstDB.setExpire(key, at)
	}
	srcDB.remove(key)
	c.signalAt(target, key)
	c.Int(1)
}

// cmdRandomKey picks a shard with probability proportional to its key
// count, then a key within it, so every key is about equally likely.
// Expired keys it lands on are removed and the draw repeats.
func cmdRandomKey(c *Ctx) {
	c.noWrap()
	for tries := 1; ; tries++ {
		total := 0
		c.eachDB(func(db *DB) { total += db.Len() })
		if total == 0 {
			c.Null()
			return
		}
		r := rand.IntN(total)
		var pick *DB
		c.eachDB(func(db *DB) {
			if pick == nil {
				if r < db.Len() {
					pick = db
				} else {
					r -= db.Len()
				}
			}
		})
		k := pick.randomKey()
		if _, live := pick.peek([]byte(k), c.Now); live || (tries >= 100 && pick.sh.expiryPaused()) {
			// While CLIENT PAUSE keeps expired keys, a database of only
			// those would loop forever: after 100 draws, one is returned,
			// as Redis does.
			c.BulkString(k)
			return
		}
	}
}

func cmdKeys(c *Ctx) {
	pattern := string(c.Args[1])
	all := pattern == "*"
	var out []string
	c.eachDB(func(db *DB) {
		db.eachKey(c.Now, func(k string) bool {
			if all || glob.Match(pattern, k, false) {
				out = append(out, k)
			}
			return true
		})
	})
	c.Array(len(out))
	for _, k := range out {
		c.BulkString(k)
	}
}

func cmdSwapDB(c *Ctx) {
	a, ok := c.int32Arg(c.Args[1], "ERR invalid first DB index")
	if !ok {
		return
	}
	b, ok := c.int32Arg(c.Args[2], "ERR invalid second DB index")
	if !ok {
		return
	}
	if a < 0 || a >= NumDBs || b < 0 || b >= NumDBs {
		c.Error(ErrDBIndex)
		return
	}
	if a != b {
		c.eachShard(func(s *Shard) {
			// The data changes places; clients blocked on a key stay with
			// their database index, as in Redis, and are woken if the key
			// they wait for now exists.
			s.dbs[a].swapData(&s.dbs[b], c.Now)
			for _, i := range [2]int{a, b} {
				d := &s.dbs[i]
				for k := range d.waiters {
					// Present, expired or not: the serving finds out (and
					// deletes an expired key after SWAPDB, as Redis does).
					if d.exists([]byte(k)) {
						c.signalAt(i, []byte(k))
					}
				}
			}
		})
	}
	c.OK()
}

// OBJECT and its subcommands.

func objectSpecs() []*Spec {
	keyed := func(name, since, summary string) *Spec {
		return &Spec{Name: "object|" + name, Arity: 3, Flags: ReadOnly, FirstKey: 2, LastKey: 2, Step: 1,
			Group: "generic", Since: since, Summary: summary, Complexity: "O(1)", Syntax: "key"}
	}
	return []*Spec{
		keyed("encoding", "2.2.3", "Inspect the internal encoding of a Redis object"),
		keyed("freq", "4.0.0", "Get the logarithmic access frequency counter of a Redis object"),
		{Name: "object|help", Arity: 2, Flags: Loading | Stale, Group: "generic", Since: "6.2.0",
			Summary: "Show helpful text about the different subcommands", Complexity: "O(1)"},
		keyed("idletime", "2.2.3", "Get the time since a Redis object was last accessed"),
		keyed("refcount", "2.2.3", "Get the number of references to the value of the key"),
	}
}

// objectKeys finds the key of OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT, so
// the command runs on the shard that owns it.
func objectKeys(args [][]byte, dst []int) []int {
	if len(args) >= 3 && !equalFold(args[1], "help") {
		dst = append(dst, 2)
	}
	return dst
}

var objectHelp = []string{
	"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"ENCODING <key>",
	"    Return the kind of internal representation used in order to store the value",
	"    associated with a <key>.",
	"FREQ <key>",
	"    Return the access frequency index of the <key>. The returned integer is",
	"    proportional to the logarithm of the recent access frequency of the key.",
	"IDLETIME <key>",
	"    Return the idle time of the <key>, that is the approximated number of",
	"    seconds elapsed since the last access to the key.",
	"REFCOUNT <key>",
	"    Return the number of references of the value associated with the specified",
	"    <key>.",
	"HELP",
	"    Prints this help.",
}

// ErrNoLFU is OBJECT FREQ's reply without an LFU maxmemory-policy.
const ErrNoLFU = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. " +
	"Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."

// ErrLFU is OBJECT IDLETIME's reply with an LFU maxmemory-policy.
const ErrLFU = "ERR An LFU maxmemory policy is selected, idle time not tracked. " +
	"Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."

func cmdObject(c *Ctx) {
	sub := c.Args[1]
	var name string
	for _, n := range [...]string{"encoding", "freq", "idletime", "refcount", "help"} {
		if equalFold(sub, n) {
			name = n
		}
	}
	if name == "" {
		c.Error("ERR unknown subcommand '" + truncate(argText(sub), 128) + "'. Try OBJECT HELP.")
		return
	}
	if name == "help" {
		if len(c.Args) != 2 {
			c.Error(ErrArity("object|help"))
			return
		}
		c.Array(len(objectHelp))
		for _, l := range objectHelp {
			c.Simple(l)
		}
		return
	}
	if len(c.Args) != 3 {
		c.Error(ErrArity("object|" + name))
		return
	}
	db := c.db(c.Args[2])
	v, meta, found := db.peekMeta(c.Args[2], c.Now) // OBJECT does not touch the key
	if !found {
		c.Null()
		return
	}
	switch name {
	case "encoding":
		c.BulkString(encodingOf(v))
	case "freq":
		if !db.lfuMode() {
			c.Error(ErrNoLFU)
			return
		}
		// Decayed as of now, though the key keeps its stored counter
		// until its next access, as in Redis.
		c.Int(int64(db.lfuCounter(meta, c.Now)))
	case "idletime":
		if db.lfuMode() {
			c.Error(ErrLFU)
			return
		}
		c.Int(lruIdle(meta, c.Now))
	case "refcount":
		c.Int(refcount(v))
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// encodingOf is what Redis 7.0 would report for a value of this size and
// content. Redis never converts a collection back to its compact form when
// it shrinks; Valkyrie keeps no history, so it answers from the current
// contents.
func encodingOf(v any) string {
	switch v := v.(type) {
	case string:
		return stringEncoding(v)
	case encodingNamer:
		return v.encoding()
	case object:
		switch v.typeName() {
		case "list":
			return "quicklist" // Redis 7.0 has no other list encoding
		case "zset":
			return "skiplist"
		case "stream":
			return "stream"
		}
	}
	return "raw"
}

// stringEncoding: "int" for a value that reads as a 64-bit integer, then
// "embstr" up to 44 bytes and "raw" beyond, as for a value set by SET.
func stringEncoding(s string) string {
	if _, ok := parseIntString(s); ok {
		return "int"
	}
	if len(s) <= 44 {
		return "embstr"
	}
	return "raw"
}

// pickKeys calls fn with n keys of the non-empty map m drawn at random with
// replacement (negative counts of SRANDMEMBER and HRANDFIELD).
func pickKeys[V any](c *Ctx, m map[string]V, n int, fn func(k string)) {
	if len(m) > 64 && n < len(m) {
		for i := 0; i < n && !c.OutFull(); i++ {
			fn(randomKey(m))
		}
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 0; i < n && !c.OutFull(); i++ {
		fn(keys[rand.IntN(len(keys))])
	}
}

// sampleKeys returns n distinct keys of m chosen at random, 0 < n < len(m).
func sampleKeys[V any](m map[string]V, n int) []string {
	if len(m) <= 64 || n*3 > len(m) {
		// A large share: shuffle the first n places of all the keys.
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		for i := 0; i < n; i++ {
			j := i + rand.IntN(len(keys)-i)
			keys[i], keys[j] = keys[j], keys[i]
		}
		return keys[:n]
	}
	// A small share of a large map: draw until n distinct keys are found.
	seen := make(map[string]struct{}, n)
	out := make([]string, 0, n)
	for len(out) < n {
		k := randomKey(m)
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}

// Count arguments of SRANDMEMBER, HRANDFIELD and SPOP.
const (
	ErrCountRange  = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
	ErrNotPositive = "ERR value is out of range, must be positive"
)

// parseRandCount reads a count that may be negative but not math.MinInt64.
func (c *Ctx) parseRandCount(arg []byte) (int64, bool) {
	n, ok := wire.ParseInt(arg)
	switch {
	case !ok:
		c.Error(ErrNotInt)
	case n == math.MinInt64:
		c.Error(ErrCountRange)
	default:
		return n, true
	}
	return 0, false
}
