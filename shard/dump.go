package shard

import (
	"log/slog"
	"maps"
	"math"
	"slices"

	"github.com/valkyrie-kv/valkyrie/shard/rdb"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// DUMP and RESTORE, in Redis 7.0's serialization format (see package rdb).

func init() {
	register(
		&Command{Spec: Spec{Name: "dump", Arity: 2, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "generic", Since: "2.6.0",
			Summary: "Return a serialized version of the value stored at the specified key.",
			Complexity: "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of " +
				"Redis objects composing the value and M their average size. For small string values the time " +
				"complexity is thus O(1)+O(1*M) where M is small, so simply O(1).",
			Syntax: "key"}, Run: cmdDump},
		&Command{Spec: Spec{Name: "restore", Arity: -4, Flags: Write | DenyOOM, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "generic", Since: "2.6.0",
			Summary: "Create a key using the provided serialized value, previously obtained using DUMP.",
			Complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, " +
				"where N is the number of Redis objects composing the value and M their average size. For small " +
				"string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However " +
				"for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets " +
				"is O(log(N)).",
			Syntax: "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]",
			ACL:    []string{"dangerous"}}, Run: cmdRestore},
	)
}

// Error replies of RESTORE.
const (
	ErrBusyKey      = "BUSYKEY Target key name already exists."
	ErrBadPayload   = "ERR DUMP payload version or checksum are wrong"
	ErrBadFormat    = "ERR Bad data format"
	ErrRestoreTTL   = "ERR Invalid TTL value, must be >= 0"
	ErrRestoreIdle  = "ERR Invalid IDLETIME value, must be >= 0"
	ErrRestoreFreq  = "ERR Invalid FREQ value, must be >= 0 and <= 255"
	errDumpTypeName = "ERR DUMP is not supported for keys of type "
)

func cmdDump(c *Ctx) {
	v, found := c.lookup(c.Args[1])
	if !found {
		c.Null()
		return
	}
	p := dumpValue(v)
	if p == nil {
		c.Error(errDumpTypeName + typeName(v))
		return
	}
	c.Bulk(p)
}

// dumpValue serializes v as DUMP does, choosing the encoding Redis 7.0
// would hold the value in; nil for a type it cannot serialize.
func dumpValue(v any) []byte {
	obj := appendObject(nil, v)
	if obj == nil {
		return nil
	}
	return rdb.Seal(obj)
}

// appendObject appends v's type byte and body as an RDB file holds them,
// or returns nil for a type it cannot serialize.
func appendObject(dst []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return rdb.AppendString(dst, v)
	case *List:
		return rdb.AppendList(dst, func(yield func(string) bool) {
			for i := 0; i < v.Len(); i++ {
				if !yield(v.At(i)) {
					return
				}
			}
		})
	case Set:
		return rdb.AppendSet(dst, len(v), maps.Keys(v), v.encoding() == "intset")
	case *Hash:
		return rdb.AppendHash(dst, v.Len(), v.All(), v.compact())
	case *ZSet:
		return rdb.AppendZSet(dst, v.Len(), func(yield func(string, float64) bool) {
			v.each(func(it *zitem) bool { return yield(it.member, it.score) })
		}, v.packed)
	case *Stream:
		return append(dst, dumpStream(v)...)
	}
	return nil
}

func cmdRestore(c *Ctx) {
	key := c.Args[1]
	replace, absTTL := false, false
	idle, freq := int64(-1), int64(-1)
	for j := 4; j < len(c.Args); j++ {
		a := c.Args[j]
		more := j+1 < len(c.Args)
		switch {
		case equalFold(a, "replace"):
			replace = true
		case equalFold(a, "absttl"):
			absTTL = true
		case equalFold(a, "idletime") && more && freq < 0:
			n, ok := wire.ParseInt(c.Args[j+1])
			if !ok {
				c.Error(ErrNotInt)
				return
			}
			if n < 0 {
				c.Error(ErrRestoreIdle)
				return
			}
			idle = n
			j++
		case equalFold(a, "freq") && more && idle < 0:
			n, ok := wire.ParseInt(c.Args[j+1])
			if !ok {
				c.Error(ErrNotInt)
				return
			}
			if n < 0 || n > 255 {
				c.Error(ErrRestoreFreq)
				return
			}
			freq = n
			j++
		default:
			c.Error(ErrSyntax)
			return
		}
	}
	db := c.db(key)
	if _, exists := db.get(key, c.Now); exists && !replace {
		c.Error(ErrBusyKey)
		return
	}
	ttl, ok := wire.ParseInt(c.Args[2])
	if !ok {
		c.Error(ErrNotInt)
		return
	}
	if ttl < 0 {
		c.Error(ErrRestoreTTL)
		return
	}
	dec, err := rdb.Decode(c.Args[3])
	if err == rdb.ErrChecksum {
		c.Error(ErrBadPayload)
		return
	}
	var v any
	reason := rdb.Reason(err)
	if err == nil {
		if v = restoredValue(dec, db.hashLimits()); v == nil {
			reason = refusedReason(dec)
		}
	}
	if v == nil {
		logBadPayload(reason)
		c.Error(ErrBadFormat)
		return
	}
	if replace {
		db.remove(key)
	}
	if ttl != 0 && !absTTL {
		ttl += c.Now // wraps on overflow into the past, as in Redis
	}
	if ttl != 0 && c.pastExpiry(ttl) {
		c.OK() // already expired: the key is not created
		if replace {
			c.propagateDel(key)
		} else {
			c.propagateNone()
		}
		return
	}
	if str, ok := v.(string); ok {
		v = db.shareInt(str) // Redis encodes a restored string
	}
	db.setMeta(key, v, false, db.restoredMeta(freq, idle, c.Now))
	if ttl != 0 {
		db.setExpire(key, ttl)
		if !absTTL && c.journaling() {
			args := append([][]byte{}, c.Args...)
			args[2] = msArg(ttl)
			c.propagate(append(args, absTTLName)...)
		}
	}
	c.signal(key)
	c.OK()
}

// logBadPayload logs why RESTORE refused a payload, at the level Redis
// logs it (verbose, which is debug here).
func logBadPayload(reason string) {
	if reason == "" {
		reason = "malformed object"
	}
	slog.Debug("RESTORE: bad data format: " + reason)
}

// refusedReason says why restoredValue refused d, in Redis's words where
// it has some.
func refusedReason(d *rdb.Value) string {
	switch d.Kind {
	case rdb.Set:
		return "Duplicate set members detected"
	case rdb.Hash:
		return "Duplicate hash fields detected"
	case rdb.ZSet:
		return "Duplicate zset fields detected"
	case rdb.Stream:
		return "Stream entries, length or consumer groups are inconsistent"
	}
	return "malformed object"
}

// restoredValue builds the stored form of a decoded value, or returns nil
// when it holds duplicate members, which Redis refuses. lim are the hash
// listpack limits.
func restoredValue(d *rdb.Value, lim hashLimits) any {
	switch d.Kind {
	case rdb.String:
		return d.Str
	case rdb.List:
		l := &List{}
		for _, e := range d.Elems {
			l.PushBack(e)
		}
		return l
	case rdb.Set:
		s := make(Set, len(d.Elems))
		for _, m := range d.Elems {
			s[m] = struct{}{}
		}
		if len(s) != len(d.Elems) {
			return nil
		}
		return s
	case rdb.Hash:
		if h := restoredHash(d, lim); h != nil {
			return h
		}
	case rdb.ZSet:
		items := make([]zitem, len(d.Elems))
		seen := make(map[string]struct{}, len(d.Elems))
		maxLen := 0
		for i, m := range d.Elems {
			seen[m] = struct{}{}
			items[i] = zitem{member: m, score: d.Scores[i]}
			maxLen = max(maxLen, len(m))
		}
		if len(seen) != len(items) {
			return nil
		}
		slices.SortFunc(items, zcompare)
		// Redis 7.0 keeps a listpack as one while it is within the entry
		// limit, and converts a skiplist to one when it fits both limits.
		packed := zsetPacked(len(items), maxLen)
		if d.Compact {
			packed = len(items) <= zsetListpackEntries
		}
		return zsetFromSorted(items, packed)
	case rdb.Stream:
		if s := streamFromDump(d); s != nil {
			return s
		}
	}
	return nil
}

// restoredHash builds a restored hash as Redis 7.0 loads one: a ziplist or
// listpack stays one, in its order, unless it has more than lim.entries
// fields (a zipmap also converts for a field or value above lim.value); a
// plain hash starts as a listpack when it has at most lim.entries fields,
// and converts at the first field or value above lim.value. One past
// hashSafeBytes is a hashtable whatever it was. Duplicate
// fields and empty hashes are refused (nil).
func restoredHash(d *rdb.Value, lim hashLimits) *Hash {
	n := len(d.Elems) / 2
	if n == 0 {
		return nil
	}
	size := 0
	for _, e := range d.Elems {
		size += elemSize(len(e))
	}
	var h *Hash
	set := lim
	switch {
	case int64(n) > lim.entries || size > hashSafeBytes:
		h = &Hash{m: make(map[string]string, n), ownPairs: true} // setString makes pairs
	case d.Compact && !d.Zipmap:
		set.value = math.MaxInt64 // a long element does not convert it
		fallthrough
	default:
		h = newHash(size)
	}
	var seen map[string]struct{}
	if n > 16 {
		seen = make(map[string]struct{}, n)
	}
	for i := 0; i < len(d.Elems); i += 2 {
		f, v := d.Elems[i], d.Elems[i+1]
		if seen != nil {
			if _, dup := seen[f]; dup {
				return nil
			}
			seen[f] = struct{}{}
		}
		if seen != nil && h.compact() && int64(len(f)) <= set.value && int64(len(v)) <= set.value {
			h.push(f, v) // known to be new; the count is within the limit
		} else if !h.setString(f, v, set) {
			return nil // a duplicate field
		}
	}
	return h
}
