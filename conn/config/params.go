package config

import "math"

type kind uint8

const (
	kindBool kind = iota
	kindNum       // integer; memory/percent/octal per flags
	kindEnum
	kindString
	kindSpecial
)

type flag uint16

const (
	fImmutable   flag = 1 << iota // CONFIG SET refuses it
	fProtected                    // needs enable-protected-configs
	fHidden                       // only exact-name CONFIG GET sees it
	fMulti                        // value is space-separated arguments
	fMemory                       // accepts 1gb/100mb/5k units
	fPercent                      // also accepts "N%" (stored negative)
	fOctal                        // parsed and shown in octal
	fUnsigned                     // C unsigned type: bounds compared unsigned
	fBinary                       // sds string: kept past NUL bytes
	fDenyLoading                  // CONFIG SET refuses it while loading (-LOADING)
)

type enumOpt struct {
	name string
	val  int64
}

// setter parses a raw value against the in-progress state and returns the
// canonical value or the Redis error reason.
type setter func(p *param, raw string, c *ctx) (value, string)

// param describes one Redis config parameter.
type param struct {
	name   string
	alias  string
	kind   kind
	flags  flag
	lo, hi int64 // numeric bounds (bit patterns for unsigned)
	enum   []enumOpt
	def    string // default, in CONFIG SET syntax
	check  func(v value, c *ctx) string
	set    setter // kindSpecial only
}

const (
	intMin  = math.MinInt32
	intMax  = math.MaxInt32
	uintMax = math.MaxUint32
	llMax   = math.MaxInt64
	ullMax  = -1 // bit pattern of 2^64-1
)

func boolP(name, alias string, def bool, f flag) param {
	d := "no"
	if def {
		d = "yes"
	}
	return param{name: name, alias: alias, kind: kindBool, flags: f, def: d}
}

func numP(name, alias string, f flag, lo, hi int64, def string) param {
	return param{name: name, alias: alias, kind: kindNum, flags: f, lo: lo, hi: hi, def: def}
}

func strP(name string, f flag, def string) param {
	return param{name: name, kind: kindString, flags: f, def: def}
}

func enumP(name string, f flag, def string, opts ...string) param {
	p := param{name: name, kind: kindEnum, flags: f, def: def}
	for i, o := range opts {
		p.enum = append(p.enum, enumOpt{o, int64(i)})
	}
	return p
}

func specialP(name, alias string, f flag, def string, set setter) param {
	return param{name: name, alias: alias, kind: kindSpecial, flags: f, def: def, set: set}
}

var (
	yesNoLocal = []string{"no", "yes", "local"}
	// oom-score-adj: "relative" is a synonym of "yes" and shows as "yes".
	oomScoreAdjEnum = []enumOpt{{"no", 0}, {"yes", 1}, {"relative", 1}, {"absolute", 2}}
	// shutdown-on-sig*: bit flags, several may be given.
	shutdownEnum = []enumOpt{{"default", 0}, {"save", 1}, {"nosave", 2}, {"now", 4}, {"force", 8}}
)

// params is Redis 7.0's parameter table.
func params() []param {
	I, P, H, M := fImmutable, fProtected, fHidden, fMulti
	mem, u := fMemory, fUnsigned

	ps := []param{
		// Booleans.
		boolP("rdbchecksum", "", true, I),
		boolP("daemonize", "", false, I),
		boolP("io-threads-do-reads", "", false, I),
		boolP("always-show-logo", "", false, I),
		boolP("protected-mode", "", true, 0),
		boolP("rdbcompression", "", true, 0),
		boolP("rdb-del-sync-files", "", false, 0),
		boolP("activerehashing", "", true, 0),
		boolP("stop-writes-on-bgsave-error", "", true, 0),
		boolP("set-proc-title", "", true, I),
		boolP("dynamic-hz", "", true, 0),
		boolP("lazyfree-lazy-eviction", "", false, 0),
		boolP("lazyfree-lazy-expire", "", false, 0),
		boolP("lazyfree-lazy-server-del", "", false, 0),
		boolP("lazyfree-lazy-user-del", "", false, 0),
		boolP("lazyfree-lazy-user-flush", "", false, 0),
		boolP("repl-disable-tcp-nodelay", "", false, 0),
		boolP("repl-diskless-sync", "", true, 0),
		boolP("aof-rewrite-incremental-fsync", "", true, 0),
		boolP("no-appendfsync-on-rewrite", "", false, 0),
		boolP("cluster-require-full-coverage", "", true, 0),
		boolP("rdb-save-incremental-fsync", "", true, 0),
		boolP("aof-load-truncated", "", true, 0),
		boolP("aof-use-rdb-preamble", "", true, 0),
		boolP("aof-timestamp-enabled", "", false, 0),
		boolP("cluster-replica-no-failover", "cluster-slave-no-failover", false, 0),
		boolP("replica-lazy-flush", "slave-lazy-flush", false, 0),
		boolP("replica-serve-stale-data", "slave-serve-stale-data", true, 0),
		boolP("replica-read-only", "slave-read-only", true, 0),
		boolP("replica-ignore-maxmemory", "slave-ignore-maxmemory", true, 0),
		boolP("jemalloc-bg-thread", "", true, 0),
		{name: "activedefrag", kind: kindBool, def: "no", check: checkActiveDefrag},
		boolP("syslog-enabled", "", false, I),
		boolP("cluster-enabled", "", false, I),
		boolP("appendonly", "", false, fDenyLoading),
		boolP("cluster-allow-reads-when-down", "", false, 0),
		boolP("cluster-allow-pubsubshard-when-down", "", true, 0),
		boolP("crash-log-enabled", "", true, 0),
		boolP("crash-memcheck-enabled", "", true, 0),
		boolP("use-exit-on-panic", "", false, H),
		boolP("disable-thp", "", true, I),
		boolP("cluster-allow-replica-migration", "", true, 0),
		boolP("replica-announced", "", true, 0),
		boolP("latency-tracking", "", true, 0),
		boolP("aof-disable-auto-gc", "", false, 0),
		boolP("replica-ignore-disk-write-errors", "", false, 0),
		boolP("lua-enable-deprecated-api", "", false, I|H),

		// Strings.
		strP("aclfile", I, ""),
		strP("unixsocket", I, ""),
		strP("pidfile", I, ""),
		{name: "replica-announce-ip", alias: "slave-announce-ip", kind: kindString},
		strP("masteruser", 0, ""),
		strP("cluster-announce-ip", 0, ""),
		strP("cluster-config-file", I, "nodes.conf"),
		{name: "cluster-announce-hostname", kind: kindString, check: checkHostname},
		strP("syslog-ident", I, "redis"),
		{name: "dbfilename", kind: kindString, flags: P, def: "dump.rdb", check: checkDBFilename},
		{name: "appendfilename", kind: kindString, flags: I, def: "appendonly.aof", check: checkAOFFilename},
		{name: "appenddirname", kind: kindString, flags: I, def: "appendonlydir", check: checkAOFDirname},
		strP("server_cpulist", I, ""),
		strP("bio_cpulist", I, ""),
		strP("aof_rewrite_cpulist", I, ""),
		strP("bgsave_cpulist", I, ""),
		strP("ignore-warnings", 0, ""),
		{name: "proc-title-template", kind: kindString, def: "{title} {listen-addr} {server-mode}", check: checkProcTitle},
		strP("bind-source-addr", 0, ""),
		strP("logfile", I, ""),
		strP("masterauth", fBinary, ""),
		strP("requirepass", fBinary, ""),

		// Enums.
		enumP("supervised", I, "no", "upstart", "systemd", "auto", "no"),
		enumP("syslog-facility", I, "local0", "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"),
		enumP("repl-diskless-load", fDenyLoading, "disabled", "disabled", "on-empty-db", "swapdb"),
		enumP("loglevel", 0, "notice", "debug", "verbose", "notice", "warning"),
		enumP("maxmemory-policy", 0, "noeviction", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"),
		enumP("appendfsync", 0, "everysec", "everysec", "always", "no"),
		{name: "oom-score-adj", kind: kindEnum, def: "no", enum: oomScoreAdjEnum},
		enumP("acl-pubsub-default", 0, "resetchannels", "allchannels", "resetchannels"),
		enumP("sanitize-dump-payload", 0, "no", "no", "yes", "clients"),
		enumP("enable-protected-configs", I, "no", yesNoLocal...),
		enumP("enable-debug-command", I, "no", yesNoLocal...),
		enumP("enable-module-command", I, "no", yesNoLocal...),
		enumP("cluster-preferred-endpoint-type", 0, "ip", "ip", "hostname", "unknown-endpoint"),
		enumP("propagation-error-behavior", 0, "ignore", "ignore", "panic", "panic-on-replicas"),
		{name: "shutdown-on-sigint", kind: kindEnum, flags: M, def: "default", enum: shutdownEnum, check: checkShutdownFlags},
		{name: "shutdown-on-sigterm", kind: kindEnum, flags: M, def: "default", enum: shutdownEnum, check: checkShutdownFlags},

		// Integers (C int unless noted).
		numP("databases", "", I, 1, intMax, "16"),
		numP("port", "", 0, 0, 65535, "6379"),
		numP("io-threads", "", I, 1, 128, "1"),
		numP("auto-aof-rewrite-percentage", "", 0, 0, intMax, "100"),
		numP("cluster-replica-validity-factor", "cluster-slave-validity-factor", 0, 0, intMax, "10"),
		numP("list-max-listpack-size", "list-max-ziplist-size", 0, intMin, intMax, "-2"),
		numP("tcp-keepalive", "", 0, 0, intMax, "300"),
		numP("cluster-migration-barrier", "", 0, 0, intMax, "1"),
		numP("active-defrag-cycle-min", "", 0, 1, 99, "1"),
		numP("active-defrag-cycle-max", "", 0, 1, 99, "25"),
		numP("active-defrag-threshold-lower", "", 0, 0, 1000, "10"),
		numP("active-defrag-threshold-upper", "", 0, 0, 1000, "100"),
		numP("lfu-log-factor", "", 0, 0, intMax, "10"),
		numP("lfu-decay-time", "", 0, 0, intMax, "1"),
		numP("replica-priority", "slave-priority", 0, 0, intMax, "100"),
		numP("repl-diskless-sync-delay", "", 0, 0, intMax, "5"),
		numP("maxmemory-samples", "", 0, 1, intMax, "5"),
		numP("maxmemory-eviction-tenacity", "", 0, 0, 100, "10"),
		numP("timeout", "", 0, 0, intMax, "0"),
		numP("replica-announce-port", "slave-announce-port", 0, 0, 65535, "0"),
		numP("tcp-backlog", "", I, 0, intMax, "511"),
		numP("cluster-port", "", I, 0, 65535, "0"),
		numP("cluster-announce-bus-port", "", 0, 0, 65535, "0"),
		numP("cluster-announce-port", "", 0, 0, 65535, "0"),
		numP("cluster-announce-tls-port", "", 0, 0, 65535, "0"),
		numP("repl-timeout", "", 0, 1, intMax, "60"),
		numP("repl-ping-replica-period", "repl-ping-slave-period", 0, 1, intMax, "10"),
		numP("list-compress-depth", "", 0, 0, intMax, "0"),
		numP("rdb-key-save-delay", "", H, intMin, intMax, "0"),
		numP("key-load-delay", "", H, intMin, intMax, "0"),
		numP("active-expire-effort", "", 0, 1, 10, "1"),
		numP("hz", "", 0, 0, intMax, "10"),
		numP("min-replicas-to-write", "min-slaves-to-write", 0, 0, intMax, "0"),
		numP("min-replicas-max-lag", "min-slaves-max-lag", 0, 0, intMax, "10"),
		numP("watchdog-period", "", H, 0, intMax, "0"),
		numP("shutdown-timeout", "", 0, 0, intMax, "10"),
		numP("repl-diskless-sync-max-replicas", "", 0, 0, intMax, "0"),
		numP("tls-port", "", 0, 0, 65535, "0"),
		numP("tls-session-cache-size", "", 0, 0, intMax, "20480"),
		numP("tls-session-cache-timeout", "", 0, 0, intMax, "300"),
		// unsigned int
		numP("maxclients", "", u, 1, uintMax, "10000"),
		numP("unixsocketperm", "", I|u|fOctal, 0, 0o777, "0"),
		numP("socket-mark-id", "", I|u, 0, uintMax, "0"),
		// unsigned long
		numP("active-defrag-max-scan-fields", "", 0, 1, llMax, "1000"),
		numP("slowlog-max-len", "", 0, 0, llMax, "128"),
		numP("acllog-max-len", "", 0, 0, llMax, "128"),
		// long long
		numP("busy-reply-threshold", "lua-time-limit", 0, 0, llMax, "5000"),
		numP("cluster-node-timeout", "", 0, 0, llMax, "15000"),
		numP("slowlog-log-slower-than", "", 0, -1, llMax, "10000"),
		numP("latency-monitor-threshold", "", 0, 0, llMax, "0"),
		numP("proto-max-bulk-len", "", mem, 1<<20, llMax, "536870912"),
		numP("stream-node-max-entries", "", 0, 0, llMax, "100"),
		numP("repl-backlog-size", "", mem, 1, llMax, "1048576"),
		// unsigned long long
		numP("maxmemory", "", mem|u, 0, ullMax, "0"),
		numP("cluster-link-sendbuf-limit", "", mem|u, 0, ullMax, "0"),
		// size_t
		numP("hash-max-listpack-entries", "hash-max-ziplist-entries", u, 0, llMax, "512"),
		numP("set-max-intset-entries", "", u, 0, llMax, "512"),
		numP("zset-max-listpack-entries", "zset-max-ziplist-entries", u, 0, llMax, "128"),
		numP("active-defrag-ignore-bytes", "", mem|u, 1, llMax, "104857600"),
		numP("hash-max-listpack-value", "hash-max-ziplist-value", mem|u, 0, llMax, "64"),
		numP("stream-node-max-bytes", "", mem|u, 0, llMax, "4096"),
		numP("zset-max-listpack-value", "zset-max-ziplist-value", mem|u, 0, llMax, "64"),
		numP("hll-sparse-max-bytes", "", mem|u, 0, llMax, "3000"),
		numP("tracking-table-max-keys", "", u, 0, llMax, "1000000"),
		numP("client-query-buffer-limit", "", mem|u, 1<<20, llMax, "1073741824"),
		// ssize_t, memory or percent of maxmemory
		numP("maxmemory-clients", "", mem|fPercent, -100, llMax, "0"),
		// time_t / off_t
		numP("repl-backlog-ttl", "", 0, 0, llMax, "3600"),
		numP("auto-aof-rewrite-min-size", "", mem, 0, llMax, "67108864"),
		numP("loading-process-events-interval-bytes", "", H, 1024, intMax, "2097152"),

		// TLS.
		boolP("tls-cluster", "", false, 0),
		boolP("tls-replication", "", false, 0),
		enumP("tls-auth-clients", 0, "yes", "no", "yes", "optional"),
		boolP("tls-prefer-server-ciphers", "", false, 0),
		boolP("tls-session-caching", "", true, 0),
		strP("tls-cert-file", 0, ""),
		strP("tls-key-file", 0, ""),
		strP("tls-key-file-pass", 0, ""),
		strP("tls-client-cert-file", 0, ""),
		strP("tls-client-key-file", 0, ""),
		strP("tls-client-key-file-pass", 0, ""),
		strP("tls-dh-params-file", 0, ""),
		strP("tls-ca-cert-file", 0, ""),
		strP("tls-ca-cert-dir", 0, ""),
		strP("tls-protocols", 0, ""),
		strP("tls-ciphers", 0, ""),
		strP("tls-ciphersuites", 0, ""),

		// Special.
		specialP("dir", "", P|fDenyLoading, "", setDir),
		specialP("save", "", M, "3600 1 300 100 60 10000", setSave),
		specialP("client-output-buffer-limit", "", M, defaultOBufLimits, setOBufLimits),
		specialP("oom-score-adj-values", "", M, "0 200 800", setOOMValues),
		specialP("notify-keyspace-events", "", 0, "", setNotify),
		specialP("bind", "", M, "* -::*", setBind),
		specialP("replicaof", "slaveof", I|M, "", setReplicaOf),
		specialP("latency-tracking-info-percentiles", "", M, "50 99 99.9", setPercentiles),
	}
	return ps
}
