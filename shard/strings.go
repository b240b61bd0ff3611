package shard

import (
	"bytes"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/valkyrie-kv/valkyrie/wire"
)

func init() {
	register(
		&Command{Spec: Spec{Name: "get", Arity: 2, Flags: ReadOnly | Fast, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "string", Since: "1.0.0", Summary: "Returns the string value of a key.", Complexity: "O(1)",
			Syntax: "key"}, Run: cmdGet},
		&Command{Spec: Spec{Name: "set", Arity: -3, Flags: Write | DenyOOM, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "string", Since: "1.0.0", Summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
			Complexity: "O(1)",
			Syntax:     "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"},
			Run: cmdSet},
		&Command{Spec: Spec{Name: "mget", Arity: -2, Flags: ReadOnly | Fast, FirstKey: 1, LastKey: -1, Step: 1,
			Group: "string", Since: "1.0.0", Summary: "Atomically returns the string values of one or more keys.",
			Complexity: "O(N) where N is the number of keys to retrieve.", Syntax: "key [key ...]"}, Run: cmdMGet},
		&Command{Spec: Spec{Name: "mset", Arity: -3, Flags: Write | DenyOOM, FirstKey: 1, LastKey: -1, Step: 2,
			Group: "string", Since: "1.0.1", Summary: "Atomically creates or modifies the string values of one or more keys.",
			Complexity: "O(N) where N is the number of keys to set.", Syntax: "key value [key value ...]"}, Run: cmdMSet},
	)
}

// getString returns the string at key; wrongType is set when the key holds
// another type. Its callers (GET, MGET, LCS) are done with s by the end of
// the command, so the key keeps owning its bytes (readStr) and a later SET
// may still write over them.
func (c *Ctx) getString(key []byte) (s string, found, wrongType bool) {
	s, exists, isStr := c.db(key).readStr(key, c.Now)
	return s, isStr, exists && !isStr
}

// keyValue copies key and value into one allocation and returns the two
// halves: one object for the collector instead of two, and no rounding up
// of two small allocations. The bytes are copied once, straight into the
// string's memory, which the Builder does not zero first.
func (c *Ctx) keyValue(key, val []byte) (string, string) {
	var b strings.Builder
	b.Grow(len(key) + len(val))
	b.Write(key)
	b.Write(val)
	kv := b.String()
	return kv[:len(key)], kv[len(key):]
}

func cmdGet(c *Ctx) {
	s, found, wrong := c.getString(c.Args[1])
	switch {
	case wrong:
		c.Error(ErrWrongType)
	case !found:
		c.Null()
	default:
		c.BulkString(s)
	}
}

func cmdMGet(c *Ctx) {
	c.Array(len(c.Args) - 1)
	for _, key := range c.Args[1:] {
		if s, found, _ := c.getString(key); found {
			c.BulkString(s)
		} else {
			c.Null()
		}
	}
}

func cmdMSet(c *Ctx) {
	if len(c.Args)%2 == 0 {
		c.ArityError()
		return
	}
	for i := 1; i < len(c.Args); i += 2 {
		db := c.db(c.Args[i])
		db.countWrite(c.Args[i], c.Now)
		if db.overwriteStr(c.Args[i], c.Args[i+1], false, false, c.Now) {
			continue
		}
		k, v := c.keyValue(c.Args[i], c.Args[i+1])
		db.setOwnStr(k, db.shareInt(v), false, c.Now)
	}
	c.OK()
}

// setOptions is the parsed tail of SET (and, later, GETEX).
type setOptions struct {
	nx, xx, get, keepTTL bool
	expireAt             int64 // absolute Unix ms; 0 when none
}

// expireUnit says how a TTL argument is read.
type expireUnit uint8

const (
	relSeconds expireUnit = iota // EX
	relMillis                    // PX
	absSeconds                   // EXAT
	absMillis                    // PXAT
)

// parseExpireUnit recognises EX, PX, EXAT and PXAT.
func parseExpireUnit(a []byte, u *expireUnit) bool {
	switch {
	case equalFold(a, "ex"):
		*u = relSeconds
	case equalFold(a, "px"):
		*u = relMillis
	case equalFold(a, "exat"):
		*u = absSeconds
	case equalFold(a, "pxat"):
		*u = absMillis
	default:
		return false
	}
	return true
}

// parseSetOptions parses SET's options starting at args[3], following the
// order of checks in Redis 7.0 so that conflicting options give the same
// error. It replies and returns false on error.
func (c *Ctx) parseSetOptions(args [][]byte) (setOptions, bool) {
	var o setOptions
	var expireArg []byte
	var expireKind, unit expireUnit
	for j := 0; j < len(args); j++ {
		a := args[j]
		hasNext := j+1 < len(args)
		switch {
		case equalFold(a, "nx") && !o.xx:
			o.nx = true
		case equalFold(a, "xx") && !o.nx:
			o.xx = true
		case equalFold(a, "get"):
			o.get = true
		case equalFold(a, "keepttl") && expireArg == nil:
			o.keepTTL = true
		case hasNext && !o.keepTTL && parseExpireUnit(a, &unit) && (expireArg == nil || unit == expireKind):
			// Repeating the same option is allowed; the last value wins.
			expireKind, expireArg = unit, args[j+1]
			j++
		default:
			c.Error(ErrSyntax)
			return o, false
		}
	}
	if expireArg != nil {
		at, ok := c.expireTime(expireArg, expireKind, "set")
		if !ok {
			return o, false
		}
		o.expireAt = at
	}
	return o, true
}

// expireTime converts an EX/PX/EXAT/PXAT argument to absolute Unix ms,
// replying with Redis's error when it is not a valid positive time.
func (c *Ctx) expireTime(arg []byte, unit expireUnit, cmd string) (int64, bool) {
	n, ok := wire.ParseInt(arg)
	if !ok {
		c.Error(ErrNotInt)
		return 0, false
	}
	seconds := unit == relSeconds || unit == absSeconds
	if n <= 0 || (seconds && n > math.MaxInt64/1000) {
		c.Error(ErrExpireTime(cmd))
		return 0, false
	}
	if seconds {
		n *= 1000
	}
	if unit == relSeconds || unit == relMillis {
		n += c.Now // wraps on overflow, which the check below catches
	}
	if n <= 0 {
		c.Error(ErrExpireTime(cmd))
		return 0, false
	}
	return n, true
}

func cmdSet(c *Ctx) {
	key := c.Args[1]
	o, ok := c.parseSetOptions(c.Args[3:])
	if !ok {
		return
	}
	db := c.db(key)
	absent := false
	if !o.get && !o.nx {
		var done bool
		if done, absent = db.overwriteOrMiss(key, c.Args[2], o.keepTTL, true, c.Now); done {
			c.setExpiry(key, o)
			c.OK()
			return
		}
	}
	var old string
	var found, isStr bool
	if !absent { // a new key needs no second lookup
		old, found, isStr = db.getStr(key, c.Now)
	}
	if o.get {
		switch {
		case found && !isStr:
			c.Error(ErrWrongType)
			return
		case found:
			c.BulkString(old)
		default:
			c.Null()
		}
	}
	if (o.nx && found) || (o.xx && !found) {
		if !o.get {
			c.Null()
		}
		return
	}
	k, v := c.keyValue(key, c.Args[2])
	v = db.shareInt(v)
	if found && isStr {
		db.setStrOver(k, v, len(old), o.keepTTL, c.Now)
	} else {
		db.setOwnStr(k, v, o.keepTTL, c.Now)
	}
	c.setExpiry(key, o)
	if !o.get {
		c.OK()
	}
}

// setExpiry applies SET's expiry option to key, just set, and logs the
// SET in its deterministic form when it has one.
func (c *Ctx) setExpiry(key []byte, o setOptions) {
	if o.expireAt != 0 {
		db := c.db(key)
		if c.pastExpiry(o.expireAt) {
			db.remove(key)
		} else {
			db.setExpire(key, o.expireAt)
		}
	}
	if o.expireAt != 0 || o.get {
		c.propagateSet(key, c.Args[2], o.expireAt)
	}
}

// equalFold reports whether b equals the lower-case ASCII word w in any case.
func equalFold(b []byte, w string) bool {
	if len(b) != len(w) {
		return false
	}
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != w[i] {
			return false
		}
	}
	return true
}

// The rest of the string family: counters, ranges, conditional and timed
// sets, and LCS.
func init() {
	const amortized = "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation."
	const rangeCost = "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings."
	one := func(name string, arity int, flags Flag, since, summary, complexity, syntax string, run func(*Ctx)) *Command {
		return &Command{Spec: Spec{Name: name, Arity: arity, Flags: flags, FirstKey: 1, LastKey: 1, Step: 1,
			Group: "string", Since: since, Summary: summary, Complexity: complexity, Syntax: syntax}, Run: run}
	}
	register(
		one("append", 3, Write|DenyOOM|Fast, "2.0.0", "Append a value to a key", amortized, "key value", cmdAppend),
		one("decr", 2, Write|DenyOOM|Fast, "1.0.0", "Decrement the integer value of a key by one", "O(1)", "key", cmdDecr),
		one("decrby", 3, Write|DenyOOM|Fast, "1.0.0", "Decrement the integer value of a key by the given number", "O(1)",
			"key decrement", cmdDecrBy),
		one("getdel", 2, Write|Fast, "6.2.0", "Get the value of a key and delete the key", "O(1)", "key", cmdGetDel),
		one("getex", -2, Write|Fast, "6.2.0", "Get the value of a key and optionally set its expiration", "O(1)",
			"key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]", cmdGetEx),
		one("getrange", 4, ReadOnly, "2.4.0", "Get a substring of the string stored at a key", rangeCost,
			"key start end", cmdGetRange),
		one("getset", 3, Write|DenyOOM|Fast, "1.0.0", "Set the string value of a key and return its old value", "O(1)",
			"key value", cmdGetSet),
		one("incr", 2, Write|DenyOOM|Fast, "1.0.0", "Increment the integer value of a key by one", "O(1)", "key", cmdIncr),
		one("incrby", 3, Write|DenyOOM|Fast, "1.0.0", "Increment the integer value of a key by the given amount", "O(1)",
			"key increment", cmdIncrBy),
		one("incrbyfloat", 3, Write|DenyOOM|Fast, "2.6.0", "Increment the float value of a key by the given amount", "O(1)",
			"key increment", cmdIncrByFloat),
		&Command{Spec: Spec{Name: "lcs", Arity: -3, Flags: ReadOnly, FirstKey: 1, LastKey: 2, Step: 1,
			Group: "string", Since: "7.0.0", Summary: "Find longest common substring",
			Complexity: "O(N*M) where N and M are the lengths of s1 and s2, respectively",
			Syntax:     "key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]"}, Run: cmdLCS},
		&Command{Spec: Spec{Name: "msetnx", Arity: -3, Flags: Write | DenyOOM, FirstKey: 1, LastKey: -1, Step: 2,
			Group: "string", Since: "1.0.1", Summary: "Set multiple keys to multiple values, only if none of the keys exist",
			Complexity: "O(N) where N is the number of keys to set.", Syntax: "key value [key value ...]"}, Run: cmdMSetNX},
		one("psetex", 4, Write|DenyOOM, "2.6.0", "Set the value and expiration in milliseconds of a key", "O(1)",
			"key milliseconds value", cmdPSetEx),
		one("setex", 4, Write|DenyOOM, "2.0.0", "Set the value and expiration of a key", "O(1)",
			"key seconds value", cmdSetEx),
		one("setnx", 3, Write|DenyOOM|Fast, "1.0.0", "Set the value of a key, only if the key does not exist", "O(1)",
			"key value", cmdSetNX),
		one("setrange", 4, Write|DenyOOM, "2.2.0", "Overwrite part of a string at key starting at the specified offset",
			"O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.",
			"key offset value", cmdSetRange),
		one("strlen", 2, ReadOnly|Fast, "2.2.0", "Get the length of the value stored in a key", "O(1)", "key", cmdStrLen),
		one("substr", 4, ReadOnly, "1.0.0", "Get a substring of the string stored at a key", rangeCost,
			"key start end", cmdGetRange),
	)
	for i := range strSmallInts {
		strSmallInts[i] = strconv.Itoa(i)
	}
	strMaxLen.Store(512 << 20)
}

// Error replies of the string family (Redis 7.0 wording).
const (
	errDecrOverflow  = "ERR decrement would overflow"
	errNaNOrInfinity = "ERR increment would produce NaN or Infinity"
	errStringTooBig  = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	errOffsetRange   = "ERR offset is out of range"
	errLCSNotString  = "ERR The specified keys must contain string values"
	errLCSLenAndIdx  = "ERR If you want both the length and indexes, please just use IDX."
	errLCSNoMemory   = "ERR Insufficient memory, failed allocating transient memory for LCS"
)

// strMaxLen is the largest string a command may build, Redis's
// proto-max-bulk-len (512 MB unless SetMaxStringLength changes it).
var strMaxLen atomic.Int64

// SetMaxStringLength sets the size limit that APPEND, SETRANGE, SETBIT and
// BITFIELD enforce; the server calls it when proto-max-bulk-len changes.
func SetMaxStringLength(n int64) { strMaxLen.Store(n) }

// strLengthOK checks that a string of size+add bytes may be built, as
// Redis's checkStringLength does (overflow included), replying if not.
func (c *Ctx) strLengthOK(size, add int64) bool {
	total := int64(uint64(size) + uint64(add))
	if total > strMaxLen.Load() || total < size || total < add {
		c.Error(errStringTooBig)
		return false
	}
	return true
}

// strSmallInts holds the decimal strings of 0..9999, so that counters in
// that range are stored without allocating a value, much like Redis's
// shared integers.
var strSmallInts [10000]string

// strBytes views s as bytes without copying; the bytes must not be written.
func strBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// strOwn turns a freshly built buffer into a string without copying; b must
// not be written afterwards.
func strOwn(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// strInt parses a stored string as Redis's string2ll does.
func strInt(s string) (int64, bool) { return wire.ParseInt(strBytes(s)) }

func cmdAppend(c *Ctx) {
	key, val := c.Args[1], c.Args[2]
	db := c.db(key)
	v, found := db.get(key, c.Now)
	if !found {
		db.set(key, string(val), true, c.Now)
		c.Int(int64(len(val)))
		return
	}
	s, ok := v.(string)
	if !ok {
		c.Error(ErrWrongType)
		return
	}
	if !c.strLengthOK(int64(len(s)), int64(len(val))) {
		return
	}
	if len(val) == 0 && isShared(s) {
		s = strings.Clone(s) // Redis unshares the value even for an empty APPEND
	}
	s += string(val)
	db.set(key, s, true, c.Now)
	c.Int(int64(len(s)))
}

func cmdIncr(c *Ctx) { c.incrBy(c.Args[1], 1) }
func cmdDecr(c *Ctx) { c.incrBy(c.Args[1], -1) }

func cmdIncrBy(c *Ctx) {
	n, ok := wire.ParseInt(c.Args[2])
	if !ok {
		c.Error(ErrNotInt)
		return
	}
	c.incrBy(c.Args[1], n)
}

func cmdDecrBy(c *Ctx) {
	n, ok := wire.ParseInt(c.Args[2])
	switch {
	case !ok:
		c.Error(ErrNotInt)
	case n == math.MinInt64:
		c.Error(errDecrOverflow)
	default:
		c.incrBy(c.Args[1], -n)
	}
}

// incrBy adds by to the integer stored at key and replies with the result.
// The TTL is kept, as Redis updates the value in place.
func (c *Ctx) incrBy(key []byte, by int64) {
	db := c.db(key)
	var cur int64
	// getStr and setStrKey rather than get and set, which box the string
	// in an interface each way; the key and the digits share one
	// allocation, as SET's key and value do.
	e, s, found, isStr := db.lookupStr(key, c.Now, false)
	if found {
		if !isStr {
			c.Error(ErrWrongType)
			return
		}
		var ok bool
		if cur, ok = strInt(s); !ok {
			c.Error(ErrNotInt)
			return
		}
	}
	if (by < 0 && cur < 0 && by < math.MinInt64-cur) || (by > 0 && cur > 0 && by > math.MaxInt64-cur) {
		c.Error(ErrOverflow)
		return
	}
	cur += by
	if cur >= 0 && cur < int64(len(strSmallInts)) {
		db.setStr(key, db.shareInt(strSmallInts[cur]), true, c.Now)
		c.Int(cur)
		return
	}
	var buf [20]byte
	digits := strconv.AppendInt(buf[:0], cur, 10)
	// Redis too writes the new number over the old one when the value is
	// its own (refcount 1, not a shared integer). e is still key's entry:
	// nothing changed the map since the lookup.
	if e == nil || !db.overwriteEntry(e, key, digits, true, false, c.Now) {
		k, v := c.keyValue(key, digits)
		db.setOwnStr(k, v, true, c.Now)
	}
	c.Out = wire.AppendIntDigits(c.Out, digits)
}

func cmdIncrByFloat(c *Ctx) {
	key := c.Args[1]
	db := c.db(key)
	cur := "0"
	if v, found := db.get(key, c.Now); found {
		s, ok := v.(string)
		if !ok {
			c.Error(ErrWrongType)
			return
		}
		cur = s
	}
	x, ok := ldParse(cur)
	if !ok {
		c.Error(ErrNotFloat)
		return
	}
	y, ok := ldParse(string(c.Args[2]))
	if !ok {
		c.Error(ErrNotFloat)
		return
	}
	if x.IsInf() || y.IsInf() {
		c.Error(errNaNOrInfinity)
		return
	}
	sum := new(big.Float).SetPrec(64).Add(x, y)
	if !ldRound(sum) {
		c.Error(errNaNOrInfinity)
		return
	}
	s := ldFormat(sum)
	db.set(key, s, true, c.Now)
	c.BulkString(s)
	if c.journaling() { // the sum as written, not the increment
		c.propagate(setName, key, []byte(s), keepTTLName)
	}
}

func cmdGetDel(c *Ctx) {
	s, found, ok := valueAt[string](c, c.Args[1])
	switch {
	case !ok:
	case !found:
		c.Null()
	default:
		c.BulkString(s)
		c.remove(c.Args[1])
		c.propagateUserDel(c.Args[1])
	}
}

// parseGetExOptions parses GETEX's options with the rules Redis applies:
// one kind of expiry (repeating it is allowed, the last wins) or PERSIST.
func (c *Ctx) parseGetExOptions(args [][]byte) (arg []byte, unit expireUnit, persist, ok bool) {
	for j := 0; j < len(args); j++ {
		var u expireUnit
		switch a := args[j]; {
		case equalFold(a, "persist") && arg == nil:
			persist = true
		case j+1 < len(args) && !persist && parseExpireUnit(a, &u) && (arg == nil || u == unit):
			arg, unit = args[j+1], u
			j++
		default:
			c.Error(ErrSyntax)
			return nil, 0, false, false
		}
	}
	return arg, unit, persist, true
}

func cmdGetEx(c *Ctx) {
	key := c.Args[1]
	arg, unit, persist, ok := c.parseGetExOptions(c.Args[2:])
	if !ok {
		return
	}
	s, found, ok := valueAt[string](c, key)
	if !ok {
		return
	}
	if !found {
		c.Null()
		return
	}
	var at int64
	if arg != nil {
		if at, ok = c.expireTime(arg, unit, "getex"); !ok {
			return
		}
	}
	c.BulkString(s)
	db := c.db(key)
	switch {
	case arg != nil && c.pastExpiry(at):
		db.remove(key) // EXAT/PXAT in the past
		c.propagateDel(key)
	case arg != nil:
		db.setExpire(key, at)
		c.propagateExpireAt(key, at)
	case persist:
		if db.persist(key) {
			c.propagate(persistName, key)
		} else {
			c.propagateNone()
		}
	default:
		c.propagateNone() // a plain GET
	}
}

// strRange clamps Redis's inclusive start/end indexes (negative ones count
// from the end) to a string of length n. ok is false for an empty range.
func strRange(start, end, n int64) (int64, int64, bool) {
	if start < 0 && end < 0 && start > end {
		return 0, 0, false
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		return 0, 0, false
	}
	return start, end, true
}

// cmdGetRange is GETRANGE and SUBSTR.
func cmdGetRange(c *Ctx) {
	start, ok1 := wire.ParseInt(c.Args[2])
	end, ok2 := wire.ParseInt(c.Args[3])
	if !ok1 || !ok2 {
		c.Error(ErrNotInt)
		return
	}
	s, _, ok := valueAt[string](c, c.Args[1])
	if !ok {
		return
	}
	if start, end, ok = strRange(start, end, int64(len(s))); !ok {
		c.BulkString("")
		return
	}
	c.BulkString(s[start : end+1])
}

func cmdGetSet(c *Ctx) {
	key := c.Args[1]
	s, found, ok := valueAt[string](c, key)
	if !ok {
		return
	}
	if found {
		c.BulkString(s)
	} else {
		c.Null()
	}
	c.store(key, c.db(key).shareInt(string(c.Args[2])), false)
	c.propagate(setName, key, c.Args[2])
}

func cmdSetNX(c *Ctx) {
	key := c.Args[1]
	if _, found := c.lookup(key); found {
		c.Int(0)
		return
	}
	c.store(key, c.db(key).shareInt(string(c.Args[2])), false)
	c.Int(1)
}

func cmdSetEx(c *Ctx)  { c.setWithExpire(relSeconds, "setex") }
func cmdPSetEx(c *Ctx) { c.setWithExpire(relMillis, "psetex") }

// setWithExpire is SETEX and PSETEX: key, TTL, value.
func (c *Ctx) setWithExpire(unit expireUnit, name string) {
	at, ok := c.expireTime(c.Args[2], unit, name)
	if !ok {
		return
	}
	key := c.Args[1]
	db := c.db(key)
	db.countWrite(key, c.Now)
	db.set(key, db.shareInt(string(c.Args[3])), false, c.Now)
	db.setExpire(key, at)
	c.propagateSet(key, c.Args[3], at)
	c.OK()
}

func cmdMSetNX(c *Ctx) {
	if len(c.Args)%2 == 0 {
		c.ArityError()
		return
	}
	for i := 1; i < len(c.Args); i += 2 {
		if db := c.db(c.Args[i]); db.has(c.Args[i], c.Now) {
			db.touchKey(c.Args[i], c.Now) // Redis looks the key up for writing
			c.Int(0)
			return
		}
	}
	for i := 1; i < len(c.Args); i += 2 {
		c.store(c.Args[i], c.db(c.Args[i]).shareInt(string(c.Args[i+1])), false)
	}
	c.Int(1)
}

func cmdSetRange(c *Ctx) {
	key, val := c.Args[1], c.Args[3]
	offset, ok := wire.ParseInt(c.Args[2])
	if !ok {
		c.Error(ErrNotInt)
		return
	}
	if offset < 0 {
		c.Error(errOffsetRange)
		return
	}
	s, found, ok := valueAt[string](c, key)
	if !ok {
		return
	}
	if len(val) == 0 {
		c.Int(int64(len(s))) // 0 for a missing key, which stays missing
		return
	}
	if !c.strLengthOK(offset, int64(len(val))) {
		return
	}
	n := max(int64(len(s)), offset+int64(len(val)))
	b := make([]byte, n)
	copy(b, s)
	copy(b[offset:], val)
	c.store(key, strOwn(b), found)
	c.Int(n)
}

func cmdStrLen(c *Ctx) {
	if s, _, ok := valueAt[string](c, c.Args[1]); ok {
		c.Int(int64(len(s)))
	}
}

// lcsMaxTable bounds LCS's dynamic-programming table, in bytes. Redis
// replies errLCSNoMemory when its allocation fails; Go would abort the
// process instead, so a table beyond this size gets that reply up front.
const lcsMaxTable = 1 << 31

// lcsRange is one matching run that LCS IDX reports.
type lcsRange struct{ aStart, aEnd, bStart, bEnd uint32 }

func cmdLCS(c *Ctx) {
	a, _, aWrong := c.getString(c.Args[1])
	b, _, bWrong := c.getString(c.Args[2])
	if aWrong || bWrong {
		c.Error(errLCSNotString)
		return
	}
	var getLen, getIdx, withLen bool
	var minLen int64
	for j := 3; j < len(c.Args); j++ {
		switch opt := c.Args[j]; {
		case equalFold(opt, "idx"):
			getIdx = true
		case equalFold(opt, "len"):
			getLen = true
		case equalFold(opt, "withmatchlen"):
			withLen = true
		case equalFold(opt, "minmatchlen") && j+1 < len(c.Args):
			n, ok := wire.ParseInt(c.Args[j+1])
			if !ok {
				c.Error(ErrNotInt)
				return
			}
			minLen = max(n, 0)
			j++
		default:
			c.Error(ErrSyntax)
			return
		}
	}
	if getIdx && getLen {
		c.Error(errLCSLenAndIdx)
		return
	}
	alen, blen := len(a), len(b)
	cells := uint64(alen+1) * uint64(blen+1)
	if cells > lcsMaxTable/4 {
		c.Error(errLCSNoMemory)
		return
	}
	// dp[i*(blen+1)+j] is the LCS length of a[:i] and b[:j].
	w := blen + 1
	dp := make([]uint32, cells)
	for i := 1; i <= alen; i++ {
		row, prev := dp[i*w:(i+1)*w], dp[(i-1)*w:i*w]
		ai := a[i-1]
		for j := 1; j <= blen; j++ {
			switch {
			case ai == b[j-1]:
				row[j] = prev[j-1] + 1
			case prev[j] > row[j-1]:
				row[j] = prev[j]
			default:
				row[j] = row[j-1]
			}
		}
	}
	total := dp[alen*w+blen]
	if getLen {
		c.Int(int64(total))
		return
	}

	// Walk back from the end, collecting the common string and the runs
	// of consecutive matches, the way Redis does.
	lcs := make([]byte, total)
	var ranges []lcsRange
	idx := total
	unset := uint32(alen) // no run open
	cur := lcsRange{aStart: unset}
	for i, j := uint32(alen), uint32(blen); i > 0 && j > 0; {
		emit := false
		if a[i-1] == b[j-1] {
			lcs[idx-1] = a[i-1]
			if cur.aStart == unset {
				cur = lcsRange{aStart: i - 1, aEnd: i - 1, bStart: j - 1, bEnd: j - 1}
			} else if cur.aStart == i && cur.bStart == j {
				cur.aStart--
				cur.bStart--
			} else {
				emit = true
			}
			if cur.aStart == 0 || cur.bStart == 0 {
				emit = true
			}
			idx--
			i--
			j--
		} else {
			if dp[int(i-1)*w+int(j)] > dp[int(i)*w+int(j-1)] {
				i--
			} else {
				j--
			}
			if cur.aStart != unset {
				emit = true
			}
		}
		if emit {
			if n := cur.aEnd - cur.aStart + 1; minLen == 0 || int64(n) >= minLen {
				ranges = append(ranges, cur)
			}
			cur.aStart = unset
		}
	}
	if !getIdx {
		c.Bulk(lcs)
		return
	}
	c.Map(2)
	c.BulkString("matches")
	c.Array(len(ranges))
	for _, r := range ranges {
		if withLen {
			c.Array(3)
		} else {
			c.Array(2)
		}
		c.Array(2)
		c.Int(int64(r.aStart))
		c.Int(int64(r.aEnd))
		c.Array(2)
		c.Int(int64(r.bStart))
		c.Int(int64(r.bEnd))
		if withLen {
			c.Int(int64(r.aEnd - r.aStart + 1))
		}
	}
	c.BulkString("len")
	c.Int(int64(total))
}

// INCRBYFLOAT computes in x87 80-bit long double, as Redis does on x86-64:
// a 64-bit mantissa and a 15-bit exponent. Values are big.Floats of
// precision 64 kept inside that exponent range.

// ldMaxChars is Redis's MAX_LONG_DOUBLE_CHARS: longer input is rejected.
const ldMaxChars = 5 * 1024

// ldParse reads s the way Redis's string2ld does with strtold: optional
// sign, decimal or 0x hexadecimal with optional exponent, or inf/infinity;
// no surrounding space, NaN, or values that overflow or underflow to zero.
func ldParse(s string) (*big.Float, bool) {
	if len(s) == 0 || len(s) >= ldMaxChars {
		return nil, false
	}
	neg := s[0] == '-'
	if s[0] == '-' || s[0] == '+' {
		s = s[1:]
	}
	if strings.EqualFold(s, "inf") || strings.EqualFold(s, "infinity") {
		return new(big.Float).SetInf(neg), true
	}
	base := 10
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		base = 16
		s = s[2:]
	}
	digit := func(ch byte) int {
		switch {
		case '0' <= ch && ch <= '9':
			return int(ch - '0')
		case base == 16 && 'a' <= ch && ch <= 'f':
			return int(ch-'a') + 10
		case base == 16 && 'A' <= ch && ch <= 'F':
			return int(ch-'A') + 10
		}
		return -1
	}
	// Mantissa digits, without leading zeros, and the scale of the point.
	var digits []byte
	i, frac, seen, dot := 0, 0, false, false
	for ; i < len(s); i++ {
		if s[i] == '.' && !dot {
			dot = true
			continue
		}
		d := digit(s[i])
		if d < 0 {
			break
		}
		seen = true
		if dot {
			frac++
		}
		if len(digits) > 0 || d != 0 {
			digits = append(digits, s[i])
		}
	}
	if !seen {
		return nil, false
	}
	// Exponent: e for decimal (power of 10), p for hex (power of 2).
	var exp int64
	if i < len(s) {
		marker := byte('e')
		if base == 16 {
			marker = 'p'
		}
		if s[i]|0x20 != marker {
			return nil, false
		}
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) {
			return nil, false
		}
		for ; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return nil, false
			}
			if exp < 1<<40 {
				exp = exp*10 + int64(s[i]-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	f := new(big.Float).SetPrec(64)
	if len(digits) == 0 {
		if neg {
			f.Neg(f)
		}
		return f, true
	}
	m, _ := new(big.Int).SetString(string(digits), base)
	if base == 16 {
		// value = m * 2^(exp - 4*frac)
		e2 := exp - 4*int64(frac)
		top := e2 + int64(m.BitLen())
		if top > 16385 || top < -16450 {
			return nil, false
		}
		f.SetInt(m)
		f.SetMantExp(f, int(e2))
	} else {
		// value = m * 10^(exp - frac)
		e10 := exp - int64(frac)
		top := e10 + int64(len(digits)) // value < 10^top
		if top > 4934 || top < -4952 {
			return nil, false
		}
		r := new(big.Rat).SetInt(m)
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(abs64(e10)), nil)
		if e10 >= 0 {
			r.Mul(r, new(big.Rat).SetInt(p))
		} else {
			r.Quo(r, new(big.Rat).SetInt(p))
		}
		f.SetRat(r)
	}
	if neg {
		f.Neg(f)
	}
	if !ldRound(f) || f.Sign() == 0 {
		return nil, false // overflow, or underflow to zero
	}
	return f, true
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// ldRound brings a precision-64 value into long double range: it reports
// false on overflow and rounds subnormal values to their fewer bits.
func ldRound(f *big.Float) bool {
	if f.IsInf() || f.Sign() == 0 {
		return !f.IsInf()
	}
	e := f.MantExp(nil) // |f| = mant * 2^e, 0.5 <= mant < 1
	switch {
	case e > 16384:
		return false
	case e >= -16381:
		return true
	}
	// Subnormal: the lowest bit is worth 2^-16445.
	prec := int(e) + 16445
	if prec >= 1 {
		f.SetPrec(uint(prec)).SetPrec(64)
		return f.MantExp(nil) <= 16384
	}
	neg := f.Signbit()
	half := new(big.Float).SetMantExp(big.NewFloat(0.5), -16445)
	if prec == 0 && new(big.Float).Abs(f).Cmp(half) > 0 {
		f.SetMantExp(big.NewFloat(0.5), -16444)
	} else {
		f.SetInt64(0)
	}
	if neg {
		f.Neg(f)
	}
	return true
}

// ldFormat formats f as Redis's human-friendly long double output:
// "%.17Lf" with trailing zeros (and a bare point) removed, and "-0" as "0".
func ldFormat(f *big.Float) string {
	b := f.Append(make([]byte, 0, 32), 'f', 17)
	if bytes.IndexByte(b, '.') >= 0 {
		b = bytes.TrimRight(b, "0")
		b = bytes.TrimSuffix(b, []byte("."))
	}
	if len(b) == 2 && b[0] == '-' && b[1] == '0' {
		return "0"
	}
	return strOwn(b)
}
