package shard

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"math"
	"strconv"
	"unsafe"
)

// The keyspace side of DEBUG (the command itself lives in package conn).
// Every function here runs on a shard its caller holds: borrowed, or in
// the middle of a transaction or script that holds it.

// Digest is a SHA1-sized signature as DEBUG DIGEST prints it.
type Digest [20]byte

// Hex is the digest in lower-case hex, as Redis prints it.
func (d *Digest) Hex() string { return hex.EncodeToString(d[:]) }

// xor folds the SHA1 of p into d: the order of the folded pieces does not
// matter, as for the members of a set.
func (d *Digest) xor(p []byte) {
	h := sha1.Sum(p)
	for i := range d {
		d[i] ^= h[i]
	}
}

// xorString is xor for a string, without copying it.
func (d *Digest) xorString(s string) { d.xor(unsafe.Slice(unsafe.StringData(s), len(s))) }

// mix folds p in so that order matters: d becomes SHA1(d xor SHA1(p)).
func (d *Digest) mix(p []byte) {
	d.xor(p)
	*d = sha1.Sum(d[:])
}

func (d *Digest) mixString(s string) { d.mix(unsafe.Slice(unsafe.StringData(s), len(s))) }

// Redis's type codes (OBJ_STRING ...), which the digest mixes in.
func typeCode(v any) uint32 {
	switch v.(type) {
	case string:
		return 0
	case *List:
		return 1
	case Set:
		return 2
	case *ZSet:
		return 3
	case *Hash:
		return 4
	case *Stream:
		return 6
	}
	return 5 // a module type: Redis mixes in nothing more
}

// digestScore formats a sorted set score as C's "%.17g" does.
func digestScore(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', 17, 64)
}

// xorValue folds the value v (and whether it has a TTL) into d as Redis's
// xorObjectDigest does: the type, then the contents in an order-keeping
// way for lists and streams, as an xor of per-element digests for sets,
// sorted sets and hashes.
func (d *Digest) xorValue(v any, hasTTL bool) {
	var aux [4]byte
	binary.BigEndian.PutUint32(aux[:], typeCode(v))
	d.mix(aux[:])
	switch v := v.(type) {
	case string:
		d.mixString(v)
	case *List:
		for i := 0; i < v.Len(); i++ {
			d.mixString(v.At(i))
		}
	case Set:
		for m := range v {
			d.xorString(m)
		}
	case *ZSet:
		v.each(func(it *zitem) bool {
			var e Digest
			e.mixString(it.member)
			e.mixString(digestScore(it.score))
			d.xor(e[:])
			return true
		})
	case *Hash:
		for f, val := range v.All() {
			var e Digest
			e.mixString(f)
			e.mixString(val)
			d.xor(e[:])
		}
	case *Stream:
		var buf []byte
		v.Range(StreamID{}, StreamID{math.MaxUint64, math.MaxUint64}, false, 0, func(e *streamEntry) bool {
			buf = strconv.AppendUint(buf[:0], e.ID.Ms, 10)
			buf = append(buf, '.')
			buf = strconv.AppendUint(buf, e.ID.Seq, 10)
			d.mix(buf)
			e.Fields(func(f, val []byte) {
				d.mix(f)
				d.mix(val)
			})
			return true
		})
	}
	if hasTTL {
		d.xorString("!!expire!!")
	}
}

// raw returns the value stored at key whether or not its TTL has passed:
// DEBUG looks at the dataset as it is, without expiring anything. As with
// peek, the value is only looked at, never kept.
func (db *DB) raw(key string) (any, uint32, bool) {
	if e := db.strSlot(keyBytes(key)); e != nil {
		return e.str(), e.meta(), true
	}
	if e, ok := db.objs[key]; ok {
		return e.v, e.meta, true
	}
	return nil, 0, false
}

// DigestValue is DEBUG DIGEST-VALUE for one key of database db: the
// digest of its value, all zeroes when there is none.
func (s *Shard) DigestValue(db int, key []byte) Digest {
	var d Digest
	d2 := &s.dbs[db]
	if v, _, ok := d2.raw(string(key)); ok {
		_, ttl := d2.expires[string(key)]
		d.xorValue(v, ttl)
	}
	return d
}

// DatasetDigest accumulates the shard's part of DEBUG DIGEST: for every
// database, the xor of its keys' digests into sums, and whether it holds
// any key into used. Shards may be added in any order; FinishDigest then
// gives Redis's dataset digest.
func (s *Shard) DatasetDigest(sums *[NumDBs]Digest, used *[NumDBs]bool) {
	for i := range s.dbs {
		db := &s.dbs[i]
		if db.Len() == 0 {
			continue
		}
		used[i] = true
		for k, e := range db.strs {
			sums[i].xorKey(db, k, e.str())
		}
		for k, e := range db.objs {
			sums[i].xorKey(db, k, e.v)
		}
	}
}

func (d *Digest) xorKey(db *DB, k string, v any) {
	var kd Digest
	kd.mixString(k)
	_, ttl := db.expires[k]
	kd.xorValue(v, ttl)
	d.xor(kd[:])
}

// FinishDigest combines the per-database sums as Redis's
// computeDatasetDigest does: each non-empty database's number is mixed
// into the running digest, then its keys' digests are xored in.
func FinishDigest(sums *[NumDBs]Digest, used *[NumDBs]bool) Digest {
	var d Digest
	for i := range sums {
		if !used[i] {
			continue
		}
		var aux [4]byte
		binary.BigEndian.PutUint32(aux[:], uint32(i))
		d.mix(aux[:])
		for j := range d {
			d[j] ^= sums[i][j]
		}
	}
	return d
}

// DebugObject is DEBUG OBJECT's status line for key in database db, found
// false when there is no such key (expired or not, as in Redis).
func (s *Shard) DebugObject(db int, key []byte, now int64) (line string, found bool) {
	d := &s.dbs[db]
	v, meta, ok := d.raw(string(key))
	if !ok {
		return "", false
	}
	enc := encodingOf(v)
	b := make([]byte, 0, 160)
	b = append(b, "Value at:0x"...)
	b = strconv.AppendUint(b, uint64(valueAddr(v)), 16)
	b = append(b, " refcount:"...)
	b = strconv.AppendInt(b, refcount(v), 10)
	b = append(b, " encoding:"...)
	b = append(b, enc...)
	b = append(b, " serializedlength:"...)
	b = strconv.AppendInt(b, serializedLength(v), 10)
	b = append(b, " lru:"...)
	b = strconv.AppendUint(b, uint64(meta), 10)
	idle := int64(0)
	if !d.lfuMode() {
		idle = lruIdle(meta, now)
	}
	b = append(b, " lru_seconds_idle:"...)
	b = strconv.AppendInt(b, idle, 10)
	if l, isList := v.(*List); isList {
		b = appendQuicklistInfo(b, l, s.packedThreshold())
	}
	return string(b), true
}

// valueAddr is the address DEBUG OBJECT shows: where the value's data
// lives. A string's changes when it is rewritten (Valkyrie's strings are
// immutable; Redis modifies some in place).
func valueAddr(v any) uintptr {
	switch v := v.(type) {
	case string:
		return uintptr(unsafe.Pointer(unsafe.StringData(v)))
	case Set:
		return uintptr(*(*unsafe.Pointer)(unsafe.Pointer(&v)))
	case *List:
		return uintptr(unsafe.Pointer(v))
	case *Hash:
		return uintptr(unsafe.Pointer(v))
	case *ZSet:
		return uintptr(unsafe.Pointer(v))
	case *Stream:
		return uintptr(unsafe.Pointer(v))
	}
	return 0
}

// refcount is what OBJECT REFCOUNT answers: Redis reports a shared
// integer (sharedints.go) with INT_MAX references.
func refcount(v any) int64 {
	if str, ok := v.(string); ok && isShared(str) {
		return math.MaxInt32
	}
	return 1
}

// serializedLength is Redis's rdbSavedObjectLen: the size of the value's
// RDB serialization, which is DUMP's payload without the type byte, the
// RDB version and the checksum.
func serializedLength(v any) int64 {
	p := dumpValue(v)
	if len(p) < 11 {
		return 0
	}
	return int64(len(p) - 11)
}

// Redis's quicklist defaults: list-max-listpack-size -2 (nodes of at most
// 8 KiB) and list-compress-depth 0, and its packed threshold (elements of
// 1 GiB and more get a node of their own).
const (
	qlFill            = -2
	qlNodeBytes       = 8192
	qlDefaultPacked   = 1 << 30
	qlMaxPackedThresh = 1<<32 - 1<<20
	lpHeaderBytes     = 7 // listpack header and end byte
)

// appendQuicklistInfo appends the ql_* fields DEBUG OBJECT shows for a
// list, from the nodes Redis would have built for it: elements appended
// to a node while it stays within 8 KiB, large ones on their own.
func appendQuicklistInfo(b []byte, l *List, packed int64) []byte {
	nodes, total, cur := 0, int64(0), int64(0)
	for i := 0; i < l.Len(); i++ {
		e := l.At(i)
		if int64(len(e)) >= packed {
			if cur > 0 {
				total += cur
				cur = 0
			}
			nodes++
			total += int64(len(e))
			continue
		}
		sz := lpEntryBytes(e)
		if cur > 0 && cur+sz > qlNodeBytes {
			total += cur
			cur = 0
		}
		if cur == 0 {
			nodes++
			cur = lpHeaderBytes
		}
		cur += sz
	}
	total += cur
	b = append(b, " ql_nodes:"...)
	b = strconv.AppendInt(b, int64(nodes), 10)
	b = append(b, " ql_avg_node:"...)
	avg := math.NaN()
	if nodes > 0 {
		avg = float64(l.Len()) / float64(nodes)
	}
	if math.IsNaN(avg) {
		b = append(b, "-nan"...)
	} else {
		b = strconv.AppendFloat(b, avg, 'f', 2, 64)
	}
	b = append(b, " ql_listpack_max:"...)
	b = strconv.AppendInt(b, qlFill, 10)
	b = append(b, " ql_compressed:0 ql_uncompressed_size:"...)
	return strconv.AppendInt(b, total, 10)
}

// lpEntryBytes is the size of s as one listpack entry: an integer in its
// smallest form, a string with its length header, plus the back-length.
func lpEntryBytes(s string) int64 {
	var n int64
	if v, ok := parseIntString(s); ok {
		switch {
		case v >= 0 && v <= 127:
			n = 1
		case v >= -4096 && v <= 4095:
			n = 2
		case v >= -1<<15 && v < 1<<15:
			n = 3
		case v >= -1<<23 && v < 1<<23:
			n = 4
		case v >= -1<<31 && v < 1<<31:
			n = 5
		default:
			n = 9
		}
	} else {
		l := int64(len(s))
		switch {
		case l < 64:
			n = 1 + l
		case l < 4096:
			n = 2 + l
		default:
			n = 5 + l
		}
	}
	switch {
	case n <= 127:
		return n + 1
	case n < 16383:
		return n + 2
	case n < 2097151:
		return n + 3
	case n < 268435455:
		return n + 4
	}
	return n + 5
}

// Encoding is OBJECT ENCODING's answer for key in database db, as DEBUG
// LISTPACK and QUICKLIST look it up (without expiring it).
func (s *Shard) Encoding(db int, key []byte) (string, bool) {
	v, _, ok := s.dbs[db].raw(string(key))
	if !ok {
		return "", false
	}
	return encodingOf(v), true
}

// Populate is DEBUG POPULATE for this shard's part of the keys
// prefix:0 .. prefix:count-1 of database db among shards shards: each one
// it owns that does not exist yet gets the string "value:<j>", cut or
// padded with zero bytes to size when size > 0. Like Redis it marks the
// keys modified for WATCH and sends only the "new" keyspace event (and
// "expired" for a key whose TTL had passed).
func (s *Shard) Populate(db int, count int64, prefix string, size int64, shards int, now int64) {
	d := &s.dbs[db]
	key := make([]byte, 0, len(prefix)+21)
	val := make([]byte, 0, 32)
	for j := int64(0); j < count; j++ {
		key = append(append(key[:0], prefix...), ':')
		key = strconv.AppendInt(key, j, 10)
		if len(key) > 127 {
			key = key[:127] // Redis formats it into a 128-byte buffer
		}
		if shards > 1 && Owner(key, shards) != s.ID {
			continue
		}
		if d.has(key, now) {
			continue
		}
		val = strconv.AppendInt(append(val[:0], "value:"...), j, 10)
		var v string
		if size == 0 {
			v = string(val)
		} else {
			buf := make([]byte, size)
			copy(buf, val)
			v = string(buf)
		}
		d.set(key, v, false, now)
		if len(d.watched) > 0 {
			d.touch(string(key))
		}
		d.emit(NotifyNew, "new", string(key))
	}
	s.publishMem()  // outside a batch: used_memory shows the keys now
	s.flushEvents() // outside a batch: nobody else would
}

// SetActiveExpireEnabled is DEBUG SET-ACTIVE-EXPIRE: off, the shard's
// tick stops deleting keys whose TTL has passed; they go only when read.
func (s *Shard) SetActiveExpireEnabled(on bool) { s.noActiveExpire = !on }

// SetCronPaused is DEBUG PAUSE-CRON: on, the shard's tick skips its
// housekeeping (active expiry and the sweeps), as Redis's serverCron does.
func (s *Shard) SetCronPaused(on bool) { s.cronPaused = on }

// SetPackedThreshold is DEBUG QUICKLIST-PACKED-THRESHOLD: lists keep an
// element this long or longer in a node of its own. 0 restores 1 GiB; it
// reports false for a size Redis refuses (above 4 GiB minus 1 MiB).
func (s *Shard) SetPackedThreshold(sz uint64) bool {
	if sz > qlMaxPackedThresh {
		return false
	}
	if sz == 0 {
		sz = qlDefaultPacked
	}
	s.packed = int64(sz)
	return true
}

func (s *Shard) packedThreshold() int64 {
	if s.packed == 0 {
		return qlDefaultPacked
	}
	return s.packed
}
