package shard

import "math/rand/v2"

// The stored value types. A DB maps each key to one of:
//
//	string   a Redis string (also bitmaps and HyperLogLogs, as in Redis)
//	*Hash    a Redis hash (hash.go)
//	Set      a Redis set
//	*List    a Redis list
//	*ZSet    a Redis sorted set
//
// Strings are Go strings. Commands that modify a string store a new one,
// except that SET, MSET and INCR write over bytes only the entry has ever
// seen (strEntry's owned flag, access.go): any string handed out stays as
// it was.

// Set is a Redis set.
type Set map[string]struct{}

// object is implemented by every stored type except string.
type object interface {
	typeName() string // what TYPE answers
}

func (Set) typeName() string { return "set" }

// typeName is what TYPE answers for a stored value.
func typeName(v any) string {
	switch v := v.(type) {
	case string:
		return "string"
	case object:
		return v.typeName()
	}
	return "none"
}

// valueAt returns the live value of key cast to T. found reports whether
// the key exists; when it exists with another type, valueAt replies
// WRONGTYPE and ok is false.
func valueAt[T any](c *Ctx, key []byte) (v T, found, ok bool) {
	if _, wantString := any(v).(string); wantString {
		s, found, isStr := c.db(key).getStr(key, c.Now)
		if found && !isStr {
			c.Error(ErrWrongType)
			return v, true, false
		}
		return any(s).(T), found, true
	}
	raw, exists := c.db(key).get(key, c.Now)
	if !exists {
		return v, false, true
	}
	v, isT := raw.(T)
	if !isT {
		c.Error(ErrWrongType)
		return v, true, false
	}
	return v, true, true
}

// typeOf is TYPE's answer for a key known to exist.
func (db *DB) typeOf(key string) string {
	if _, ok := db.strs[key]; ok {
		return "string"
	}
	return typeName(db.objs[key].v)
}

// lookup returns the live value at key and counts the access.
func (c *Ctx) lookup(key []byte) (any, bool) { return c.db(key).get(key, c.Now) }

// store sets key to v, clearing its TTL unless keepTTL.
func (c *Ctx) store(key []byte, v any, keepTTL bool) { c.db(key).set(key, v, keepTTL, c.Now) }

// remove deletes key; it reports whether it existed (expired keys count as
// absent).
func (c *Ctx) remove(key []byte) bool {
	db := c.db(key)
	return db.has(key, c.Now) && db.remove(key)
}

// ttl returns key's absolute expiry in Unix ms, if it has one.
func (db *DB) ttl(key []byte) (int64, bool) {
	if len(db.expires) == 0 {
		return 0, false
	}
	at, ok := db.expires[string(key)]
	return at, ok
}

// persist removes key's TTL and reports whether it had one.
func (db *DB) persist(key []byte) bool {
	if _, ok := db.expires[string(key)]; !ok {
		return false
	}
	db.dropTTL(string(key))
	return true
}

// eachKey calls fn for every live key in the database until fn returns
// false. fn must not add keys; it may remove the key it is given.
func (db *DB) eachKey(now int64, fn func(key string) bool) {
	live := func(k string) bool {
		if len(db.expires) == 0 {
			return true
		}
		at, ok := db.expires[k]
		return !ok || at > now
	}
	for k := range db.strs {
		if live(k) && !fn(k) {
			return
		}
	}
	for k := range db.objs {
		if live(k) && !fn(k) {
			return
		}
	}
}

// randomKey returns a random key of the database, which must not be empty,
// picking the string or the object map in proportion to their sizes.
// Expired keys may be returned; the caller checks.
func (db *DB) randomKey() string {
	if rand.IntN(db.Len()) < len(db.strs) {
		return randomKey(db.strs)
	}
	return randomKey(db.objs)
}
