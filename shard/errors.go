package shard

// Error replies, byte for byte as Redis 7 sends them (without the '-').
const (
	ErrSyntax        = "ERR syntax error"
	ErrNotInt        = "ERR value is not an integer or out of range"
	ErrNotFloat      = "ERR value is not a valid float"
	ErrWrongType     = "WRONGTYPE Operation against a key holding the wrong kind of value"
	ErrDBIndex       = "ERR DB index is out of range"
	ErrNoSuchKey     = "ERR no such key"
	ErrOverflow      = "ERR increment or decrement would overflow"
	ErrSameObject    = "ERR source and destination objects are the same"
	ErrOutOfRange    = "ERR index out of range"
	ErrNotIntOrRange = ErrNotInt
)

// ErrArity is the reply for a wrong number of arguments to name.
func ErrArity(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

// ErrExpireTime is the reply for an invalid TTL given to name.
func ErrExpireTime(name string) string {
	return "ERR invalid expire time in '" + name + "' command"
}
