// Package config owns Valkyrie's server configuration: the table of Redis 7.0
// CONFIG parameters (names, aliases, kinds, bounds, defaults, immutability),
// their validation and canonical formatting, and the glob matcher shared with
// KEYS and SCAN MATCH.
//
// The server keeps one *Table. Startup options go through Load; the CONFIG
// GET and CONFIG SET commands map directly onto Get and Set, whose results
// and error texts are those of Redis 7.0. Subsystems read settings with
// Value, Int and Bool, react to runtime changes with OnChange, and may veto
// a change (for example a port they cannot bind) with OnApply.
package config
