// Package script runs Redis 7.0's Lua scripts (EVAL and friends) and
// functions (FUNCTION, FCALL) on gopher-lua (Lua 5.1).
//
// It owns the script cache, the function libraries (FUNCTION LOAD, LIST,
// DELETE, DUMP, RESTORE, STATS data), the pooled interpreters and their
// sandbox, the redis.* API, the limits that keep a script from crashing
// the server, the kill and busy state shared by every connection, and
// what each script has shown of its keys (KeyScope). The Lua libraries
// cjson, cmsgpack, struct and bit are in lualib, which knows nothing of
// Valkyrie.
//
// The boundary: package conn parses EVAL, FCALL, SCRIPT and FUNCTION,
// borrows the shards a run needs (every shard, or the owners of its KEYS,
// as its KeyScope says), and calls Engine.Run with them. The engine talks
// back only through Host, which the connection implements: look a
// command up in the command table, run a connection command, count a
// refused call and an error reply, take one more shard, mark the shards
// busy, and the server's state (shutting down, no good replicas). Data
// commands run here on the shards held (shard.Across), after Redis's
// checks for a script's call (arity, noscript, no-writes, OOM,
// NOREPLICAS), which are the engine's. A run that needs a shard it cannot
// take in order stops before any effect (Result.Restart) and the
// connection runs it again holding every shard.
//
// Everything runs on the calling connection's goroutine, except the
// memory watchdog (one goroutine while any script runs) and KILL, which
// another connection calls.
package script
