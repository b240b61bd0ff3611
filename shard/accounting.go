package shard

import (
	"unsafe"
)

// Memory accounting: each database keeps the bytes its keys, values and
// TTLs take, as estimated by MEMORY USAGE's arithmetic (memory.go), so
// that used_memory and maxmemory follow the data rather than the Go
// heap, which also holds garbage not yet collected.
//
//   - A string's bytes follow from its key's and value's lengths, so every
//     store and removal adjusts db.used exactly.
//   - Any other value's bytes are estimated when it is stored and again
//     after each write command to its key (MEMORY USAGE's sampling, a few
//     elements), and kept in its entry, so that removal takes away exactly
//     what was added: the total never drifts, whatever a command did.
//   - A TTL costs its map slot and the copy of the key the map keeps.

// sizeUnit is the unit of objEntry.size: its 31 bits cover 16 GiB.
const sizeUnit = 8

// strCost is what a string key of keyLen bytes holding valLen bytes takes:
// its map slot and one allocation for both, as SET and MSET store them
// (keyValue); a key stored apart costs about the same.
func strCost(keyLen, valLen int) int64 {
	return mapShare(slotStrStr) + allocBytes(int64(keyLen+valLen))
}

// ttlCost is what a TTL of a key of keyLen bytes takes.
func ttlCost(keyLen int) int64 { return mapShare(slotStrInt) + allocBytes(int64(keyLen)) }

// objSamples is how many elements of a collection the estimate measures.
const objSamples = memoryDefaultSamples

// account estimates the bytes of the entry under a key of keyLen bytes,
// records them in the entry and returns them as recorded.
func (e *objEntry) account(keyLen int) int64 {
	n := keyUsage(keyLen, e.v, false, objSamples)
	e.size = e.size&objSnapBit | uint32(min((n+sizeUnit-1)/sizeUnit, sizeMask))
	return e.bytes()
}

// bytes is what the entry was last accounted for.
func (e objEntry) bytes() int64 { return int64(e.size&sizeMask) * sizeUnit }

// len is the length of the string.
func (e strEntry) len() int { return int(e.n >> lenShift) }

// keyBytes views a key as bytes without copying; they must not be changed.
func keyBytes(k string) []byte { return unsafe.Slice(unsafe.StringData(k), len(k)) }

// reaccount estimates again the value of key, which a write command has
// just changed (strings are exact already).
func (db *DB) reaccount(key []byte) {
	e := db.objSlot(key)
	if e == nil {
		return
	}
	old := e.bytes()
	db.used += e.account(len(key)) - old
}

// Used is the bytes the shard's databases are accounted for.
func (s *Shard) Used() int64 {
	var n int64
	for i := range s.dbs {
		n += s.dbs[i].used
	}
	return n
}

// reaccountKeys estimates again the values at the keys of cmd, a write
// command that has just run. Read keys among them are measured for
// nothing; a database with no values but strings costs one check. On a
// shard's own batch the keys are noted and measured once each when the
// batch ends (settleAccounts), so a pipeline of writes to one collection
// measures it once.
func (c *Ctx) reaccountKeys(cmd *Command) {
	if s := c.self; s != nil {
		if len(s.dbs[c.DB].objs) == 0 {
			return
		}
		if cmd.Keys == nil && cmd.FirstKey > 0 && cmd.FirstKey == cmd.LastKey {
			s.noteWritten(c.DB, c.Args[cmd.FirstKey]) // arity checked: it is there
			return
		}
		s.keyIdx = cmd.KeyIndexes(c.Args, s.keyIdx[:0])
		for _, i := range s.keyIdx {
			if i < len(c.Args) {
				s.noteWritten(c.DB, c.Args[i])
			}
		}
		return
	}
	c.keyIdx = cmd.KeyIndexes(c.Args, c.keyIdx[:0])
	for _, i := range c.keyIdx {
		if i >= len(c.Args) {
			continue
		}
		if s := c.shardOf(c.Args[i]); s != nil {
			s.dbs[c.DB].reaccount(c.Args[i])
		}
	}
}

// writtenKey is a key a batch wrote, to measure again when it ends.
type writtenKey struct {
	db  int
	key []byte // the batch's argument, valid until the batch ends
}

// noteWritten notes a key written by the running batch, unless it is the
// one noted last.
func (s *Shard) noteWritten(db int, key []byte) {
	if n := len(s.written); n > 0 && s.written[n-1].db == db && string(s.written[n-1].key) == string(key) {
		return
	}
	s.written = append(s.written, writtenKey{db, key})
}

// settleAccounts measures the keys noted during a batch.
func (s *Shard) settleAccounts() {
	for i, w := range s.written {
		s.dbs[w.db].reaccount(w.key)
		s.written[i] = writtenKey{}
	}
	s.written = s.written[:0]
}
