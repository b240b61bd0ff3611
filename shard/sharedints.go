package shard

import (
	"strconv"
	"unsafe"
)

// Shared integers: as Redis shares one object for each of the integers
// 0..9999, a string value that spells one of them canonically is stored
// as a view of one table built at start, so such values take no memory
// of their own, and OBJECT REFCOUNT reports them shared. As in Redis,
// values are not shared while maxmemory is set with an LRU or LFU policy
// (Redis needs a private object to keep each key's access data; here the
// entry keeps it, but the choice is Redis's to see in OBJECT REFCOUNT).

const sharedInts = 10000

var (
	sharedIntBytes []byte             // the digits of 0..9999, one after another
	sharedIntAt    [sharedInts]uint32 // where each starts in sharedIntBytes
)

func init() {
	for i := 0; i < sharedInts; i++ {
		sharedIntAt[i] = uint32(len(sharedIntBytes))
		sharedIntBytes = strconv.AppendInt(sharedIntBytes, int64(i), 10)
	}
}

// sharedInt returns the shared copy of s if s is one of 0..9999 written
// canonically (no sign, no leading zero), else s.
func sharedInt(s string) string {
	if len(s) == 0 || len(s) > 4 || s[0] < '0' || s[0] > '9' || (s[0] == '0' && len(s) > 1) {
		return s
	}
	n := 0
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return s
		}
		n = n*10 + int(d)
	}
	at := sharedIntAt[n]
	return unsafe.String(&sharedIntBytes[at], len(s))
}

// isShared reports whether s is a view of the shared integers.
func isShared(s string) bool {
	if len(s) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	base := uintptr(unsafe.Pointer(&sharedIntBytes[0]))
	return p >= base && p < base+uintptr(len(sharedIntBytes))
}

// sharesInts reports whether stored integers are shared now.
func (db *DB) sharesInts() bool {
	if db.sh == nil || db.sh.mem == nil || db.sh.mem.Limit() == 0 {
		return true
	}
	switch db.sh.mem.Policy() {
	case AllKeysLRU, AllKeysLFU, VolatileLRU, VolatileLFU:
		return false
	}
	return true
}

// maxSharedIntLen is the longest value shareInt may replace ("9999").
const maxSharedIntLen = 4

// shareInt is s, or its shared copy when integers are shared now. Only the
// commands for which Redis encodes the value it stores (the SET family,
// INCR and DECR, RESTORE) call it; APPEND, SETRANGE, SETBIT, BITFIELD,
// BITOP, INCRBYFLOAT and COPY store a private value as Redis does.
func (db *DB) shareInt(s string) string {
	if len(s) <= maxSharedIntLen && db.sharesInts() {
		return sharedInt(s)
	}
	return s
}
