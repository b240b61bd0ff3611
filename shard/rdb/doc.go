// Package rdb reads and writes Redis's RDB format, version 10 (Redis 7.0):
// single values as DUMP and RESTORE use them (one RDB-encoded object, the
// RDB version, 2 bytes little endian, and Redis's CRC-64 of everything
// before it, 8 bytes little endian), and whole files (file.go writes the
// parts of one, Load in load.go reads one).
//
// It knows nothing of how the shard stores values. The Append functions
// take iterators and write the encodings Redis 7.0 would (integer and
// LZF-compressed strings, quicklists of listpacks, intsets, listpack
// hashes and sorted sets, ZSET_2); Seal adds the footer. Decode accepts
// every encoding Redis 7.0 loads for strings, lists, sets, hashes and
// sorted sets, including the older ziplist, zipmap and quicklist ones, and
// returns a plain Value; streams are returned as their nodes and groups.
// Modules are not supported.
//
// Decoding is defensive: every length is checked against the bytes that
// remain before anything is allocated, LZF output is bounded by the
// largest expansion its input allows, and malformed input yields
// ErrFormat, never a panic.
package rdb
