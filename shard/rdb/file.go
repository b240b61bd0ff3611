package rdb

import (
	"encoding/binary"
	"strconv"
	"sync/atomic"
)

// An RDB file, as Redis 7.0 writes one: the magic "REDIS0010", aux fields
// (redis-ver, redis-bits, ctime, used-mem, then aof-base), the function
// libraries, and for every non-empty database a SELECTDB, a RESIZEDB and
// its keys; then EOF and the CRC64 of everything before the CRC (0 when
// rdbchecksum is off). A key is an optional expiry (EXPIRETIME_MS and 8
// bytes little endian), optional IDLE or FREQ, the object's type byte, the
// key as an RDB string and the object's body.

// Opcodes of an RDB file.
const (
	OpFunction2 = 245
	OpFunction  = 246 // 7.0 release candidates only; not loaded
	OpModuleAux = 247
	OpIdle      = 248
	OpFreq      = 249
	OpAux       = 250
	OpResizeDB  = 251
	OpExpireMs  = 252
	OpExpireSec = 253
	OpSelectDB  = 254
	OpEOF       = 255
)

// compressionOff is the inverse of Redis's rdbcompression, so that the
// zero value means on.
var compressionOff atomic.Bool

// SetCompression turns LZF compression of strings longer than 20 bytes on
// or off for every encoder in the package (Redis's rdbcompression, which
// also governs DUMP). It is safe for concurrent use; the default is on.
func SetCompression(on bool) { compressionOff.Store(!on) }

// Compression reports whether strings are LZF-compressed.
func Compression() bool { return !compressionOff.Load() }

// AppendHeader appends the magic and version of an RDB 10 file.
func AppendHeader(dst []byte) []byte {
	dst = append(dst, "REDIS"...)
	v := strconv.Itoa(Version)
	for range 4 - len(v) {
		dst = append(dst, '0')
	}
	return append(dst, v...)
}

// AppendAux appends an aux field. Both strings are written as Redis writes
// any string, so a value that reads as a 32-bit integer is int-encoded,
// as Redis's rdbSaveAuxFieldStrInt ends up doing.
func AppendAux(dst []byte, key, val string) []byte {
	dst = appendStr(append(dst, OpAux), key)
	return appendStr(dst, val)
}

// AppendSelectDB appends the opcode that makes db the database of the keys
// that follow.
func AppendSelectDB(dst []byte, db int) []byte {
	return appendLen(append(dst, OpSelectDB), uint64(db))
}

// AppendResizeDB appends the size hint of the current database: its
// number of keys and of keys with an expiry.
func AppendResizeDB(dst []byte, keys, expires uint64) []byte {
	return appendLen(appendLen(append(dst, OpResizeDB), keys), expires)
}

// AppendFunction appends a function library: its code, as FUNCTION LOAD
// took it.
func AppendFunction(dst []byte, code string) []byte {
	return appendStr(append(dst, OpFunction2), code)
}

// AppendKeyValue appends one key record: OpExpireMs and the 8-byte
// little-endian Unix ms time when expireAt >= 0, then obj's type byte,
// the key as an RDB string, and the rest of obj. obj is what one of the
// Append object functions (AppendString, AppendList, ..., AppendStream)
// appended to an empty slice.
func AppendKeyValue(dst []byte, key string, expireAt int64, obj []byte) []byte {
	if expireAt >= 0 {
		dst = binary.LittleEndian.AppendUint64(append(dst, OpExpireMs), uint64(expireAt))
	}
	if len(obj) == 0 {
		panic("rdb: AppendKeyValue of an empty object")
	}
	dst = appendStr(append(dst, obj[0]), key)
	return append(dst, obj[1:]...)
}

// AppendEOF appends OpEOF and the CRC64 of everything from the header
// through the EOF byte. crc is the running CRC64 of the bytes before the
// EOF byte; with checksum false the CRC is written as 0, as Redis does
// with rdbchecksum no, and loaders then skip the check.
func AppendEOF(dst []byte, crc uint64, checksum bool) []byte {
	dst = append(dst, OpEOF)
	if !checksum {
		return binary.LittleEndian.AppendUint64(dst, 0)
	}
	return binary.LittleEndian.AppendUint64(dst, CRC64(crc, dst[len(dst)-1:]))
}

// ReplInfo is what a file made for a replica's sync records of the
// replication stream: the database it has selected, its history's ID and
// the offset of the file's instant (Redis's repl-stream-db, repl-id and
// repl-offset).
type ReplInfo struct {
	StreamDB int
	ID       string
	Offset   int64
}

// RedisVersion is the redis-ver written by AppendInfoAux: the Redis
// release whose RDB format and behaviour Valkyrie follows.
const RedisVersion = "7.0.15"

// AppendInfoAux appends the aux fields Redis 7.0 writes after the header
// of a file it saves, in its order: redis-ver, redis-bits, ctime (Unix
// seconds), used-mem (bytes), the replication fields if repl is not nil,
// and aof-base (1 in the RDB preamble of an AOF base file).
func AppendInfoAux(dst []byte, ctime, usedMem int64, aofBase bool, repl *ReplInfo) []byte {
	dst = AppendAux(dst, "redis-ver", RedisVersion)
	dst = AppendAux(dst, "redis-bits", strconv.Itoa(strconv.IntSize))
	dst = AppendAux(dst, "ctime", strconv.FormatInt(ctime, 10))
	dst = AppendAux(dst, "used-mem", strconv.FormatInt(usedMem, 10))
	if repl != nil {
		dst = AppendAux(dst, "repl-stream-db", strconv.Itoa(repl.StreamDB))
		dst = AppendAux(dst, "repl-id", repl.ID)
		dst = AppendAux(dst, "repl-offset", strconv.FormatInt(repl.Offset, 10))
	}
	base := "0"
	if aofBase {
		base = "1"
	}
	return AppendAux(dst, "aof-base", base)
}
