// Package aof holds the file formats of Redis 7.0's multi-part append-only
// file: the manifest (appendonly.aof.manifest) that lists a base file,
// incremental files and history files; the command log format that the
// base (without RDB preamble) and incremental files use; and the naming
// rules for every file in the AOF directory. FromRDB turns an RDB file into
// the commands Redis writes as a base file when aof-use-rdb-preamble is no.
//
// The package does no file IO of its own beyond reading from and writing
// to the io.Reader and byte slices it is given: the server decides when to
// open, fsync, rename and delete. The behaviour mirrors Redis 7.0.15's
// src/aof.c, including the exact wording of its fatal errors, so that the
// server can log the lines Redis's test suite looks for.
package aof
