package shard

import "strconv"

// The deterministic forms of writes whose call would not repeat the same
// change (journal.go): what a replica or the AOF must run instead. Each is
// built only while the journal records.

var (
	setName       = []byte("SET")
	pxatName      = []byte("PXAT")
	keepTTLName   = []byte("KEEPTTL")
	pexpireatName = []byte("PEXPIREAT")
	persistName   = []byte("PERSIST")
	hsetName      = []byte("HSET")
	sremName      = []byte("SREM")
	absTTLName    = []byte("ABSTTL")
)

func msArg(ms int64) []byte { return strconv.AppendInt(nil, ms, 10) }

// propagateDel records DEL key: a write that removed the key outright.
func (c *Ctx) propagateDel(key []byte) { c.propagate(delName, key) }

// propagateExpireAt records the TTL a command set, or DEL if it was in
// the past and the key went.
func (c *Ctx) propagateExpireAt(key []byte, at int64) {
	if !c.journaling() {
		return
	}
	if c.pastExpiry(at) {
		c.propagateDel(key)
		return
	}
	c.propagate(pexpireatName, key, msArg(at))
}

// propagateSet records SET key value, with its absolute expiry (PXAT) when
// it has one: SET with EX or PX, SETEX and PSETEX. GET is left out.
func (c *Ctx) propagateSet(key, value []byte, at int64) {
	if !c.journaling() {
		return
	}
	if at != 0 {
		if c.pastExpiry(at) {
			c.propagateDel(key)
			return
		}
		c.propagate(setName, key, value, pxatName, msArg(at))
		return
	}
	args := [][]byte{setName}
	for _, a := range c.Args[1:] {
		if !equalFold(a, "get") || len(args) < 3 {
			args = append(args, a)
		}
	}
	c.propagate(args...)
}

// pastExpiry reports whether an expiry time at has passed, so that the
// command deletes the key: never while the shard keeps expired keys (an
// AOF load, a replica applying its master's stream).
func (c *Ctx) pastExpiry(at int64) bool {
	if at > c.Now {
		return false
	}
	if c.self != nil {
		return !c.self.keepExpired
	}
	for _, s := range c.shards {
		if s != nil {
			return !s.keepExpired
		}
	}
	return true
}
