package shard

import "strings"

// keySpecTable holds the key specifications of every command Valkyrie
// implements that has keys, by full lower-case name, in the form that
// parseKeySpec reads; several specs are separated by "|". They are Redis
// 7.0's, so COMMAND INFO and COMMAND GETKEYSANDFLAGS answer as Redis does.
// The connection's commands (EVAL, WATCH, MIGRATE, ...) are here too.
var keySpecTable = map[string]string{
	"append":                "RW insert @1",
	"bitcount":              "RO access @1",
	"bitfield":              "RW access update variable_flags @1",
	"bitfield_ro":           "RO access @1",
	"bitop":                 "OW update @2 | RO access @3 =-1,1,0",
	"bitpos":                "RO access @1",
	"blmove":                "RW access delete @1 | RW insert @2",
	"blmpop":                "RW access delete @2 #0,1,1",
	"blpop":                 "RW access delete @1 =-2,1,0",
	"brpop":                 "RW access delete @1 =-2,1,0",
	"brpoplpush":            "RW access delete @1 | RW insert @2",
	"bzmpop":                "RW access delete @2 #0,1,1",
	"bzpopmax":              "RW access delete @1 =-2,1,0",
	"bzpopmin":              "RW access delete @1 =-2,1,0",
	"copy":                  "RO access @1 | OW update @2",
	"decr":                  "RW access update @1",
	"decrby":                "RW access update @1",
	"del":                   "RM delete @1 =-1,1,0",
	"dump":                  "RO access @1",
	"eval":                  "RW access update @2 #0,1,1",
	"eval_ro":               "RO access @2 #0,1,1",
	"evalsha":               "RW access update @2 #0,1,1",
	"evalsha_ro":            "RO access @2 #0,1,1",
	"exists":                "RO @1 =-1,1,0",
	"expire":                "RW update @1",
	"expireat":              "RW update @1",
	"expiretime":            "RO access @1",
	"fcall":                 "RW access update @2 #0,1,1",
	"fcall_ro":              "RO access @2 #0,1,1",
	"geoadd":                "RW update @1",
	"geodist":               "RO access @1",
	"geohash":               "RO access @1",
	"geopos":                "RO access @1",
	"georadius":             "RO access @1 | OW update STORE@6 | OW update STOREDIST@6",
	"georadius_ro":          "RO access @1",
	"georadiusbymember":     "RO access @1 | OW update STORE@5 | OW update STOREDIST@5",
	"georadiusbymember_ro":  "RO access @1",
	"geosearch":             "RO access @1",
	"geosearchstore":        "OW update @1 | RO access @2",
	"get":                   "RO access @1",
	"getbit":                "RO access @1",
	"getdel":                "RW access delete @1",
	"getex":                 "RW access update @1",
	"getrange":              "RO access @1",
	"getset":                "RW access update @1",
	"hdel":                  "RW delete @1",
	"hexists":               "RO @1",
	"hget":                  "RO access @1",
	"hgetall":               "RO access @1",
	"hincrby":               "RW access update @1",
	"hincrbyfloat":          "RW access update @1",
	"hkeys":                 "RO access @1",
	"hlen":                  "RO @1",
	"hmget":                 "RO access @1",
	"hmset":                 "RW update @1",
	"hrandfield":            "RO access @1",
	"hscan":                 "RO access @1",
	"hset":                  "RW update @1",
	"hsetnx":                "RW insert @1",
	"hstrlen":               "RO @1",
	"hvals":                 "RO access @1",
	"incr":                  "RW access update @1",
	"incrby":                "RW access update @1",
	"incrbyfloat":           "RW access update @1",
	"lcs":                   "RO access @1 =1,1,0",
	"lindex":                "RO access @1",
	"linsert":               "RW insert @1",
	"llen":                  "RO @1",
	"lmove":                 "RW access delete @1 | RW insert @2",
	"lmpop":                 "RW access delete @1 #0,1,1",
	"lpop":                  "RW access delete @1",
	"lpos":                  "RO access @1",
	"lpush":                 "RW insert @1",
	"lpushx":                "RW insert @1",
	"lrange":                "RO access @1",
	"lrem":                  "RW delete @1",
	"lset":                  "RW update @1",
	"ltrim":                 "RW delete @1",
	"memory|usage":          "RO @2",
	"mget":                  "RO access @1 =-1,1,0",
	"migrate":               "RW access delete @3 | RW access delete incomplete KEYS@-2 =-1,1,0",
	"move":                  "RW access update @1",
	"mset":                  "OW update @1 =-1,2,0",
	"msetnx":                "OW insert @1 =-1,2,0",
	"object|encoding":       "RO @2",
	"object|freq":           "RO @2",
	"object|idletime":       "RO @2",
	"object|refcount":       "RO @2",
	"persist":               "RW update @1",
	"pexpire":               "RW update @1",
	"pexpireat":             "RW update @1",
	"pexpiretime":           "RO access @1",
	"pfadd":                 "RW insert @1",
	"pfcount":               "RW access @1 =-1,1,0",
	"pfdebug":               "RW access @2",
	"pfmerge":               "RW access insert @1 | RO access @2 =-1,1,0",
	"psetex":                "OW update @1",
	"pttl":                  "RO access @1",
	"rename":                "RW access delete @1 | OW update @2",
	"renamenx":              "RW access delete @1 | OW insert @2",
	"restore":               "OW update @1",
	"restore-asking":        "OW update @1",
	"rpop":                  "RW access delete @1",
	"rpoplpush":             "RW access delete @1 | RW insert @2",
	"rpush":                 "RW insert @1",
	"rpushx":                "RW insert @1",
	"sadd":                  "RW insert @1",
	"scard":                 "RO @1",
	"sdiff":                 "RO access @1 =-1,1,0",
	"sdiffstore":            "OW update @1 | RO access @2 =-1,1,0",
	"set":                   "RW access update variable_flags @1",
	"setbit":                "RW access update @1",
	"setex":                 "OW update @1",
	"setnx":                 "OW insert @1",
	"setrange":              "RW update @1",
	"sinter":                "RO access @1 =-1,1,0",
	"sintercard":            "RO access @1 #0,1,1",
	"sinterstore":           "RW update @1 | RO access @2 =-1,1,0",
	"sismember":             "RO @1",
	"smembers":              "RO access @1",
	"smismember":            "RO access @1",
	"smove":                 "RW access delete @1 | RW insert @2",
	"sort":                  "RO access @1 | RO access @? =? | OW update @? =?",
	"sort_ro":               "RO access @1 | RO access @? =?",
	"spop":                  "RW access delete @1",
	"spublish":              "not_key @1",
	"srandmember":           "RO access @1",
	"srem":                  "RW delete @1",
	"sscan":                 "RO access @1",
	"ssubscribe":            "not_key @1 =-1,1,0",
	"strlen":                "RO @1",
	"substr":                "RO access @1",
	"sunion":                "RO access @1 =-1,1,0",
	"sunionstore":           "OW update @1 | RO access @2 =-1,1,0",
	"sunsubscribe":          "not_key @1 =-1,1,0",
	"touch":                 "RO @1 =-1,1,0",
	"ttl":                   "RO access @1",
	"type":                  "RO @1",
	"unlink":                "RM delete @1 =-1,1,0",
	"watch":                 "RO @1 =-1,1,0",
	"xack":                  "RW update @1",
	"xadd":                  "RW update @1",
	"xautoclaim":            "RW delete @1",
	"xclaim":                "RW update @1",
	"xdel":                  "RW delete @1",
	"xgroup|create":         "RW insert @2",
	"xgroup|createconsumer": "RW insert @2",
	"xgroup|delconsumer":    "RW delete @2",
	"xgroup|destroy":        "RW delete @2",
	"xgroup|setid":          "RW update @2",
	"xinfo|consumers":       "RO access @2",
	"xinfo|groups":          "RO access @2",
	"xinfo|stream":          "RO access @2",
	"xlen":                  "RO @1",
	"xpending":              "RO access @1",
	"xrange":                "RO access @1",
	"xread":                 "RO access STREAMS@1 =-1,1,2",
	"xreadgroup":            "RO access STREAMS@4 =-1,1,2",
	"xrevrange":             "RO access @1",
	"xsetid":                "RW update @1",
	"xtrim":                 "RW delete @1",
	"zadd":                  "RW update @1",
	"zcard":                 "RO @1",
	"zcount":                "RO access @1",
	"zdiff":                 "RO access @1 #0,1,1",
	"zdiffstore":            "OW update @1 | RO access @2 #0,1,1",
	"zincrby":               "RW access update @1",
	"zinter":                "RO access @1 #0,1,1",
	"zintercard":            "RO access @1 #0,1,1",
	"zinterstore":           "OW update @1 | RO access @2 #0,1,1",
	"zlexcount":             "RO access @1",
	"zmpop":                 "RW access delete @1 #0,1,1",
	"zmscore":               "RO access @1",
	"zpopmax":               "RW access delete @1",
	"zpopmin":               "RW access delete @1",
	"zrandmember":           "RO access @1",
	"zrange":                "RO access @1",
	"zrangebylex":           "RO access @1",
	"zrangebyscore":         "RO access @1",
	"zrangestore":           "OW update @1 | RO access @2",
	"zrank":                 "RO access @1",
	"zrem":                  "RW delete @1",
	"zremrangebylex":        "RW delete @1",
	"zremrangebyrank":       "RW delete @1",
	"zremrangebyscore":      "RW delete @1",
	"zrevrange":             "RO access @1",
	"zrevrangebylex":        "RO access @1",
	"zrevrangebyscore":      "RO access @1",
	"zrevrank":              "RO access @1",
	"zscan":                 "RO access @1",
	"zscore":                "RO access @1",
	"zunion":                "RO access @1 #0,1,1",
	"zunionstore":           "OW update @1 | RO access @2 #0,1,1",
}

// keySpecNotes are the notes Redis attaches to some specs ("name/index").
var keySpecNotes = map[string]string{
	"bitfield/0": "This command allows both access and modification of the key",
	"eval/0":     "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE",
	"eval_ro/0":  "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS",
	"fcall/0":    "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE",
	"fcall_ro/0": "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS",
	"getex/0":    "RW and UPDATE because it changes the TTL",
	"pfcount/0":  "RW because it may change the internal representation of the key, and propagate to replicas",
	"set/0":      "RW and ACCESS due to the optional `GET` argument",
	"sort/1":     "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort",
	"sort/2":     "For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array",
	"sort_ro/1":  "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort",
	"xadd/0":     "UPDATE instead of INSERT because of the optional trimming feature",
}

// keyFlagsByCode gives the flags of each key for the commands whose keys
// are found by code rather than by their specs: their specs are
// incomplete (SORT, MIGRATE) or their flags depend on the arguments (SET
// with GET reads; BITFIELD with only GET and OVERFLOW is read-only).
var keyFlagsByCode = map[string]func(args [][]byte, pos int) KeyFlag{
	"set": func(args [][]byte, pos int) KeyFlag {
		for _, a := range args[min(3, len(args)):] {
			if equalFold(a, "get") {
				return KeyRW | KeyAccess | KeyUpdate
			}
		}
		return KeyOW | KeyUpdate
	},
	"bitfield": func(args [][]byte, pos int) KeyFlag {
		if bitfieldReadOnly(args) {
			return KeyRO | KeyAccess
		}
		return KeyRW | KeyAccess | KeyUpdate
	},
	"sort": func(args [][]byte, pos int) KeyFlag {
		if pos == 1 {
			return KeyRO | KeyAccess
		}
		return KeyOW | KeyUpdate // STORE destination
	},
	"sort_ro": func(args [][]byte, pos int) KeyFlag { return KeyRO | KeyAccess },
	"migrate": func(args [][]byte, pos int) KeyFlag { return KeyRW | KeyAccess | KeyDelete },
}

// bitfieldReadOnly reports whether a BITFIELD line only reads: GET and
// OVERFLOW with their arguments, nothing else (a syntax error counts as a
// write, to be safe).
func bitfieldReadOnly(args [][]byte) bool {
	for i := 2; i < len(args); i++ {
		rest := len(args) - i - 1
		a := strings.ToLower(string(args[i]))
		switch {
		case a == "get" && rest >= 2:
			i += 2
		case a == "overflow" && rest >= 1:
			i++
		default:
			return false
		}
	}
	return true
}
