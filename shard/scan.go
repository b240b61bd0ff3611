package shard

import (
	"math/bits"
	"slices"
	"strconv"

	"github.com/dgryski/go-farm"

	"github.com/valkyrie-kv/valkyrie/shard/glob"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// SCAN, HSCAN and SSCAN (ZSCAN lives with the sorted sets).
//
// Redis's cursor is a position in its hash table, which can be resumed. A Go
// map cannot be resumed, so Valkyrie's cursor is a position in hash order
// instead: every element has a fixed hash, and a call returns the elements
// whose hash lies in [cursor, next). An element present from the first call
// to the last therefore falls in exactly one call's range and is returned,
// whatever was added or removed meanwhile, and whoever else scans.
//
// Finding the elements of a hash range without walking the whole map needs
// an index, built on demand and shared by every scanner:
//
//   - SCAN's is a keyIndex per database: the keys bucketed by the top bits
//     of their hash, the way Redis's table is. It is kept exact from its
//     creation on: DB.set and DB.remove (the only places that add or delete
//     a key) update it while it lives. A call reads whole buckets from the
//     cursor's until it has COUNT keys, so it costs O(COUNT) however the
//     map changes, and the cursor stays valid when the index grows or
//     shrinks, because it is a hash position, not a bucket number. Building
//     the index is O(n), once per database until it falls idle.
//   - HSCAN/SSCAN/ZSCAN use a snapshot of the collection sorted by hash,
//     rebuilt by every call with cursor 0. A later call binary-searches it
//     and skips elements deleted since. The snapshot in use was taken at or
//     after the start of any iteration still running (each starts with
//     cursor 0), so it holds every element present throughout. A call with
//     cursor 0 costs O(n log n), the others O(log n + COUNT).
//
// Memory: nothing while no one scans; about 24 bytes per key or element
// while an index or snapshot lives, one per database or collection however
// many clients scan. Those unused for scanIdleMillis are dropped by the tick.
//
// SCAN's cursor also names the shard: the low 8 bits are the shard index
// and the rest the hash position. A call holds every shard, as Redis's
// SCAN holds the server: when it reaches the end of one shard with fewer
// than COUNT keys visited, it goes on into the next, so a small keyspace is
// returned whole by SCAN 0, as Redis returns it.

const scanIdleMillis = 10_000

func init() {
	register(
		&Command{Spec: Spec{Name: "scan", Arity: -2, Flags: ReadOnly,
			Group: "generic", Since: "2.8.0", Summary: "Incrementally iterate the keys space",
			Complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
			Syntax:     "cursor [MATCH pattern] [COUNT count] [TYPE type]"},
			Run: cmdScan, NeedsAllShards: func([][]byte) bool { return true }},
		&Command{Spec: Spec{Name: "hscan", Arity: -3, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "hash", Since: "2.8.0", Summary: "Incrementally iterate hash fields and associated values",
			Complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..",
			Syntax:     "key cursor [MATCH pattern] [COUNT count]"},
			Run: cmdHScan},
		&Command{Spec: Spec{Name: "zscan", Arity: -3, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1, ACL: []string{"sortedset"},
			Group: "sorted-set", Since: "2.8.0", Summary: "Incrementally iterate sorted sets elements and associated scores",
			Complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..",
			Syntax:     "key cursor [MATCH pattern] [COUNT count]"},
			Run: cmdZScan},
		&Command{Spec: Spec{Name: "sscan", Arity: -3, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "set", Since: "2.8.0", Summary: "Incrementally iterate Set elements",
			Complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..",
			Syntax:     "key cursor [MATCH pattern] [COUNT count]"},
			Run: cmdSScan},
	)
}

// scanSnapshot is a collection's elements sorted by hash.
type scanSnapshot struct {
	hashes []uint64
	names  []string
	used   int64 // Unix ms of the last call that used it
}

// Positions in scan order: a collection element's hash keeps 63 bits and a
// key's 55, leaving 8 bits of SCAN's cursor for the shard, so that every
// cursor stays below 2^63 for clients that parse it as a signed integer.
const (
	elemShift = 1
	keyShift  = 9
)

// newSnapshot sorts the names yielded by each into hash order, keeping
// 64-shift bits of each hash.
func newSnapshot(n int, shift uint, each func(yield func(string))) *scanSnapshot {
	type entry struct {
		h    uint64
		name string
	}
	entries := make([]entry, 0, n)
	each(func(s string) { entries = append(entries, entry{farm.Hash64([]byte(s)) >> shift, s}) })
	slices.SortFunc(entries, func(a, b entry) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return 0
	})
	s := &scanSnapshot{hashes: make([]uint64, len(entries)), names: make([]string, len(entries))}
	for i, e := range entries {
		s.hashes[i], s.names[i] = e.h, e.name
	}
	return s
}

// step visits up to count entries from hash position `from`, calling emit
// for each, and returns the next position, or 0 when the end was reached.
// Entries sharing the last visited hash are all visited, so a range never
// splits a hash.
func (s *scanSnapshot) step(from uint64, count int, emit func(name string)) uint64 {
	i, _ := slices.BinarySearch(s.hashes, from)
	end := min(i+count, len(s.hashes))
	for end < len(s.hashes) && end > i && s.hashes[end] == s.hashes[end-1] {
		end++
	}
	for _, name := range s.names[i:end] {
		emit(name)
	}
	if end >= len(s.hashes) {
		return 0
	}
	return s.hashes[end-1] + 1
}

// scanOptions are SCAN's optional arguments.
type scanOptions struct {
	match   string
	matchOn bool
	count   int
	typ     string
	typed   bool
}

// parseScanOptions parses [MATCH p] [COUNT n] [TYPE t] (TYPE only when
// allowType), replying and returning false on error.
func (c *Ctx) parseScanOptions(args [][]byte, allowType bool) (scanOptions, bool) {
	o := scanOptions{count: 10}
	for i := 0; i < len(args); i += 2 {
		if i+1 >= len(args) {
			c.Error(ErrSyntax)
			return o, false
		}
		v := args[i+1]
		switch {
		case equalFold(args[i], "count"):
			n, ok := wire.ParseInt(v)
			if !ok {
				c.Error(ErrNotInt)
				return o, false
			}
			if n < 1 {
				c.Error(ErrSyntax)
				return o, false
			}
			o.count = int(min(n, 1<<30))
		case equalFold(args[i], "match"):
			o.match = string(v)
			o.matchOn = !(len(v) == 1 && v[0] == '*')
		case allowType && equalFold(args[i], "type"):
			o.typ, o.typed = string(v), true
		default:
			c.Error(ErrSyntax)
			return o, false
		}
	}
	return o, true
}

func (o *scanOptions) matches(name string) bool {
	return !o.matchOn || glob.Match(o.match, name, false)
}

// parseCursor reads a cursor as Redis does, with C's strtoul: an optional
// sign, then decimal digits that fit 64 bits; "-n" wraps around, and the
// empty string is 0. Leading spaces and anything after the digits are
// errors.
func parseCursor(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	neg := b[0] == '-'
	if neg || b[0] == '+' {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		hi, lo := bits.Mul64(v, 10)
		lo, carry := bits.Add64(lo, uint64(d-'0'), 0)
		if hi != 0 || carry != 0 {
			return 0, false // out of range
		}
		v = lo
	}
	if neg {
		v = -v
	}
	return v, true
}

func cmdScan(c *Ctx) {
	c.noWrap()
	cur, ok := parseCursor(c.Args[1])
	if !ok {
		c.Error("ERR invalid cursor")
		return
	}
	o, ok := c.parseScanOptions(c.Args[2:], true)
	if !ok {
		return
	}
	shards := max(c.NumShards, 1)
	id := int(cur&0xff) % shards
	pos := cur >> 8
	var found []string
	var cursor uint64
	for visited := 0; ; {
		db := &c.shard(id).dbs[c.DB]
		if db.scanKeys == nil {
			db.scanKeys = newKeyIndex(db)
		}
		db.scanKeys.used = c.Now
		// Collect first, filter after: has() may expire a key, which
		// changes the index.
		names, next := db.scanKeys.step(pos, o.count-visited, nil)
		visited += len(names)
		for _, k := range names {
			if db.has([]byte(k), c.Now) && o.matches(k) && (!o.typed || db.typeOf(k) == o.typ) {
				found = append(found, k)
			}
		}
		if next != 0 {
			cursor = next<<8 | uint64(id)
			break
		}
		if id+1 >= shards {
			break // the end of the last shard: cursor 0
		}
		id, pos = id+1, 0
		if visited >= o.count || !c.holds(id) {
			cursor = uint64(id) // the next shard, from its start
			break
		}
	}
	c.replyScan(cursor, found)
}

// holds reports whether the context may use shard id: its own, or one it
// borrowed.
func (c *Ctx) holds(id int) bool {
	if c.self != nil {
		return c.self.ID == id
	}
	return id < len(c.shards) && c.shards[id] != nil
}

// shard returns shard id, which must be this context's shard or borrowed.
func (c *Ctx) shard(id int) *Shard {
	if c.self != nil {
		return c.self
	}
	return c.shards[id]
}

func (c *Ctx) replyScan(cursor uint64, items []string) {
	c.Array(2)
	var tmp [20]byte
	c.Bulk(strconv.AppendUint(tmp[:0], cursor, 10))
	c.Array(len(items))
	for _, it := range items {
		c.BulkString(it)
	}
}

// collectionScan runs one HSCAN/SSCAN/ZSCAN step over a collection of n
// elements whose names each yields; value supplies the reply element that
// follows each name (nil for sets). Small collections are returned whole
// with cursor 0, as Redis does for its compact encodings.
func (c *Ctx) collectionScan(key []byte, n int, each func(yield func(string)), has func(string) bool, value func(string) string) {
	cur, ok := parseCursor(c.Args[2])
	if !ok {
		c.Error("ERR invalid cursor")
		return
	}
	if n == 0 { // no such key
		c.replyScan(0, nil)
		return
	}
	o, ok := c.parseScanOptions(c.Args[3:], false)
	if !ok {
		return
	}
	var found []string
	emit := func(name string) {
		if has(name) && o.matches(name) {
			found = append(found, name)
			if value != nil {
				found = append(found, value(name))
			}
		}
	}
	var next uint64
	if n <= 128 {
		each(emit)
	} else {
		db := c.db(key)
		snap := db.scanObjs[string(key)]
		if cur == 0 || snap == nil {
			snap = newSnapshot(n, elemShift, each)
			if db.scanObjs == nil {
				db.scanObjs = make(map[string]*scanSnapshot)
			}
			db.scanObjs[string(key)] = snap
		}
		snap.used = c.Now
		next = snap.step(cur, o.count, emit)
	}
	c.replyScan(next, found)
}

// compactScan answers a scan of a collection in a compact encoding as Redis
// does: every element that matches, in the encoding's order, and cursor 0,
// whatever the cursor given.
func (c *Ctx) compactScan(each func(yield func(name, value string))) {
	if _, ok := parseCursor(c.Args[2]); !ok {
		c.Error("ERR invalid cursor")
		return
	}
	o, ok := c.parseScanOptions(c.Args[3:], false)
	if !ok {
		return
	}
	var found []string
	each(func(name, value string) {
		if o.matches(name) {
			found = append(found, name, value)
		}
	})
	c.replyScan(0, found)
}

func cmdHScan(c *Ctx) {
	key := c.Args[1]
	h, found, ok := valueAt[*Hash](c, key)
	if !ok {
		return
	}
	if !found {
		c.collectionScan(key, 0, nil, nil, nil)
		return
	}
	if h.compact() {
		// Like Redis's listpack: the whole hash in one call, in order.
		c.compactScan(func(yield func(name, value string)) {
			for f, v := range h.All() {
				yield(f, v)
			}
		})
		return
	}
	c.collectionScan(key, len(h.m), func(yield func(string)) {
		for f := range h.m {
			yield(f)
		}
	}, func(f string) bool { _, ok := h.m[f]; return ok }, func(f string) string { return h.m[f] })
}

func cmdSScan(c *Ctx) {
	key := c.Args[1]
	s, _, ok := valueAt[Set](c, key)
	if !ok {
		return
	}
	c.collectionScan(key, len(s), func(yield func(string)) {
		for m := range s {
			yield(m)
		}
	}, func(m string) bool { _, ok := s[m]; return ok }, nil)
}

func cmdZScan(c *Ctx) {
	key := c.Args[1]
	z, found, ok := valueAt[*ZSet](c, key)
	if !ok {
		return
	}
	n := 0
	if found {
		n = z.Len()
	}
	c.collectionScan(key, n, func(yield func(string)) {
		z.each(func(it *zitem) bool { yield(it.member); return true })
	}, func(m string) bool { _, ok := z.Score(m); return ok }, func(m string) string {
		score, _ := z.Score(m)
		return string(wire.FormatDouble(nil, score))
	})
}

// dropIdleScans forgets snapshots no call has used for a while.
func (db *DB) dropIdleScans(now int64) {
	if db.scanKeys != nil && now-db.scanKeys.used > scanIdleMillis {
		db.scanKeys = nil
	}
	for k, s := range db.scanObjs {
		if now-s.used > scanIdleMillis {
			delete(db.scanObjs, k)
		}
	}
}
