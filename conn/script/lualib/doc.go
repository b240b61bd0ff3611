// Package lualib holds the Lua libraries that Redis 7.0 gives scripts, for
// gopher-lua (Lua 5.1): cjson, cmsgpack, struct and bit, with their
// argument checks and error messages. It knows nothing of Valkyrie.
//
// The constructors (NewCjson, NewCmsgpack, NewStruct, NewBit) return a
// table to install as a global. Every function that allocates in
// proportion to its input checks the size first (CheckLen, MaxString) and
// raises a Lua error instead: Go cannot recover from a failed huge
// allocation. Decoders bound their nesting for the same reason (a
// goroutine stack overflow is fatal too).
//
// Read-only proxies: a sandbox may hide a table behind an empty proxy
// whose metatable carries ReadonlyMark; the encoders call SeeThrough so
// that they encode the table's contents, as Redis's do.
package lualib
