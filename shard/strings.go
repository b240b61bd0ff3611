package shard

import (
	"math"

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
// another type.
func (c *Ctx) getString(key []byte) (s string, found, wrongType bool) {
	v, ok := c.db(key).get(key, c.Now)
	if !ok {
		return "", false, false
	}
	s, isStr := v.(string)
	return s, isStr, !isStr
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
		c.db(c.Args[i]).set(c.Args[i], string(c.Args[i+1]), false)
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
	var expireKind expireUnit
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
		case hasNext && expireArg == nil && !o.keepTTL && parseExpireUnit(a, &expireKind):
			expireArg = args[j+1]
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
	old, found := db.get(key, c.Now)
	if o.get {
		if found {
			s, isStr := old.(string)
			if !isStr {
				c.Error(ErrWrongType)
				return
			}
			c.BulkString(s)
		} else {
			c.Null()
		}
	}
	if (o.nx && found) || (o.xx && !found) {
		if !o.get {
			c.Null()
		}
		return
	}
	db.set(key, string(c.Args[2]), o.keepTTL)
	if o.expireAt != 0 {
		if o.expireAt <= c.Now {
			db.remove(key)
		} else {
			db.setExpire(key, o.expireAt)
		}
	}
	if !o.get {
		c.OK()
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

// lower returns b in lower case as a new string.
func lower(b []byte) string {
	out := make([]byte, len(b))
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		out[i] = ch
	}
	return string(out)
}
