package conn

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/osmem"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// ValkyrieVersion is this server's own version, reported by INFO next to
// the Redis version it follows.
const ValkyrieVersion = "0.1.0"

func init() {
	registerLocal(&localCommand{Spec: shard.Spec{Name: "info", Arity: -1, Flags: shard.Loading | shard.Stale | shard.AllShards,
		Group: "server", Since: "1.0.0", Summary: "Returns information and statistics about the server.",
		Complexity: "O(1)", Syntax: "[section [section ...]]", ACL: []string{"dangerous"}},
		run: cmdInfo, barrier: true})
}

// infoSection is one "# Title" block of INFO. Sections print in table
// order, whatever order they were asked in.
type infoSection struct {
	name  string // lower case, as INFO takes it
	title string
	dflt  bool // part of INFO without arguments
	write func(b []byte, x *infoCtx) []byte
}

var infoSections = []infoSection{
	{"server", "Server", true, infoServer},
	{"clients", "Clients", true, infoClients},
	{"memory", "Memory", true, infoMemory},
	{"persistence", "Persistence", true, infoPersistence},
	{"stats", "Stats", true, infoStats},
	{"replication", "Replication", true, infoReplication},
	{"cpu", "CPU", true, infoCPU},
	{"modules", "Modules", true, func(b []byte, _ *infoCtx) []byte { return b }},
	{"commandstats", "Commandstats", false, infoCommandStats},
	{"errorstats", "Errorstats", true, infoErrorStats},
	{"latencystats", "Latencystats", false, infoLatencyStats},
	{"cluster", "Cluster", true, func(b []byte, _ *infoCtx) []byte { return infoInt(b, "cluster_enabled", 0) }},
	{"keyspace", "Keyspace", true, infoKeyspace},
	// Valkyrie's own: one line per shard. Like Redis's per-command
	// sections it grows with the server, so only "all" includes it.
	{"shards", "Shards", false, infoShards},
}

// infoCtx carries what the section writers share during one INFO.
type infoCtx struct {
	c      *client
	now    time.Time
	shards []ShardStats // fetched on first use
	loaded bool
}

func (x *infoCtx) shardStats() []ShardStats {
	if !x.loaded {
		x.shards, x.loaded = x.c.srv.shardStats(x.c.borrowed), true
	}
	return x.shards
}

// cmdInfo replies with the sections named in args: none or "default" for
// the default ones, "all" or "everything" for all of them. Unknown names
// are ignored, so asking only for those gives an empty reply.
func cmdInfo(c *client, args [][]byte) {
	want := make([]bool, len(infoSections))
	if len(args) == 1 {
		for i, s := range infoSections {
			want[i] = s.dflt
		}
	}
	for _, a := range args[1:] {
		switch {
		case equalFold(a, "default"):
			for i, s := range infoSections {
				want[i] = want[i] || s.dflt
			}
		case equalFold(a, "all"), equalFold(a, "everything"):
			for i := range want {
				want[i] = true
			}
		default:
			for i, s := range infoSections {
				if equalFold(a, s.name) {
					want[i] = true
				}
			}
		}
	}
	x := &infoCtx{c: c, now: time.Now()}
	var b []byte
	for i, s := range infoSections {
		if !want[i] {
			continue
		}
		if len(b) > 0 {
			b = append(b, '\r', '\n')
		}
		b = append(b, "# "...)
		b = append(b, s.title...)
		b = append(b, '\r', '\n')
		b = s.write(b, x)
	}
	c.local = wire.AppendVerbatim(c.local, "txt", b, c.proto)
}

func infoServer(b []byte, x *infoCtx) []byte {
	s := x.c.srv
	up := x.now.Sub(s.started) / time.Second
	b = infoStr(b, "redis_version", RedisVersion)
	b = infoStr(b, "redis_git_sha1", "00000000")
	b = infoInt(b, "redis_git_dirty", 0)
	b = infoStr(b, "valkyrie_version", ValkyrieVersion)
	b = infoStr(b, "redis_mode", "standalone")
	b = infoStr(b, "os", infoOS())
	b = infoInt(b, "arch_bits", strconv.IntSize)
	b = infoStr(b, "go_version", runtime.Version())
	b = infoInt(b, "process_id", int64(os.Getpid()))
	b = infoStr(b, "process_supervised", "no")
	b = infoStr(b, "run_id", runID())
	b = infoInt(b, "tcp_port", s.infoPort())
	b = infoInt(b, "server_time_usec", x.now.UnixMicro())
	b = infoInt(b, "uptime_in_seconds", int64(up))
	b = infoInt(b, "uptime_in_days", int64(up/86400))
	b = infoInt(b, "hz", s.cfg.Int("hz"))
	b = infoInt(b, "configured_hz", s.cfg.Int("hz"))
	exe, _ := os.Executable()
	b = infoStr(b, "executable", exe)
	b = infoStr(b, "config_file", "")
	return infoInt(b, "io_threads_active", 0)
}

// infoPort is the port of the first TCP listener, or the configured port.
func (s *Server) infoPort() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		if _, ok := l.(*tlsListener); ok {
			continue
		}
		if a, ok := l.Addr().(*net.TCPAddr); ok {
			return int64(a.Port)
		}
	}
	return s.cfg.Int("port")
}

func infoClients(b []byte, x *infoCtx) []byte {
	s := x.c.srv
	s.mu.Lock()
	n := len(s.clients)
	s.mu.Unlock()
	b = infoInt(b, "connected_clients", int64(n))
	b = infoInt(b, "cluster_connections", 0)
	b = infoInt(b, "maxclients", s.cfg.Int("maxclients"))
	b = infoInt(b, "client_recent_max_input_buffer", s.cron.recentIn.Load())
	b = infoInt(b, "client_recent_max_output_buffer", s.cron.recentOut.Load())
	b = infoInt(b, "blocked_clients", s.blocked.Load())
	b = infoInt(b, "tracking_clients", s.tracking.nClients.Load())
	return infoInt(b, "clients_in_timeout_table", s.blockedTimed.Load())
}

// infoMemory reports the memory accounted for (shard/accounting.go) as
// used_memory, and the resident set size from /proc where there is one.
func infoMemory(b []byte, x *infoCtx) []byte {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mem := x.c.srv.mem
	data, clients, base := mem.Data(), mem.Clients(), mem.Used()
	used := base
	base -= data + clients
	peak := x.c.srv.memPeak(used)
	rss := infoRSS()
	if rss <= 0 {
		rss = int64(ms.Sys - ms.HeapReleased)
	}
	cfg := x.c.srv.cfg
	b = infoBytes(b, "used_memory", used)
	b = infoBytes(b, "used_memory_rss", rss)
	b = infoBytes(b, "used_memory_peak", peak)
	b = infoInt(b, "used_memory_startup", base)
	b = infoInt(b, "used_memory_dataset", data)
	b = infoInt(b, "mem_clients_normal", clients)
	b = infoInt(b, "go_heap_alloc", int64(ms.HeapAlloc))
	if total := infoTotalMemory(); total > 0 {
		b = infoBytes(b, "total_system_memory", total)
	}
	// The counts only: the memory the scripts and their interpreters hold
	// is not measured (Redis's used_memory_lua and friends).
	scripts, funcs, libs := x.c.srv.scripts.counts()
	b = infoInt(b, "number_of_cached_scripts", int64(scripts))
	b = infoInt(b, "number_of_functions", int64(funcs))
	b = infoInt(b, "number_of_libraries", int64(libs))
	b = infoBytes(b, "maxmemory", cfg.Int("maxmemory"))
	b = infoStr(b, "maxmemory_policy", cfg.Value("maxmemory-policy"))
	b = infoInt(b, "mem_not_counted_for_evict", 0)
	b = append(b, "mem_fragmentation_ratio:"...)
	b = strconv.AppendFloat(b, float64(rss)/float64(max(used, 1)), 'f', 2, 64)
	b = append(b, '\r', '\n')
	b = infoStr(b, "mem_allocator", "go")
	return infoInt(b, "lazyfree_pending_objects", x.c.srv.lazy.Pending())
}

func infoPersistence(b []byte, x *infoCtx) []byte {
	srv := x.c.srv
	p := &srv.persist
	// As Redis's: loading is a load that refuses clients, async_loading
	// one they do not wait for (a replica's swapdb diskless load).
	async := p.asyncLoading.Load()
	b = infoInt(b, "loading", boolInt(p.loading.Load() && !async))
	b = infoInt(b, "async_loading", boolInt(async))
	// Redis's copy-on-write figures are, here, the memory of the keys a
	// BGSAVE wrote ahead of its walk because they changed.
	total, done, early := p.saveTotal.Load(), int64(0), int64(0)
	if total > 0 {
		done, early = srv.snapshotProgress()
	}
	b = infoInt(b, "current_cow_peak", early)
	b = infoInt(b, "current_cow_size", early)
	b = infoInt(b, "current_cow_size_age", 0)
	perc := 0.0
	if total > 0 {
		perc = float64(min(done, total)) * 100 / float64(total)
	}
	b = append(b, "current_fork_perc:"...)
	b = strconv.AppendFloat(b, perc, 'f', 2, 64)
	b = append(b, '\r', '\n')
	b = infoInt(b, "current_save_keys_processed", done)
	b = infoInt(b, "current_save_keys_total", total)
	b = infoInt(b, "rdb_changes_since_last_save", srv.changes()-p.changesSaved.Load())
	inProgress, current := int64(0), int64(-1)
	p.mu.Lock()
	if p.bg != nil {
		inProgress, current = 1, int64(time.Since(p.bg.began).Seconds())
	}
	p.mu.Unlock()
	b = infoInt(b, "rdb_bgsave_in_progress", inProgress)
	b = infoInt(b, "rdb_last_save_time", p.lastSave.Load())
	status := "ok"
	if !p.lastOK.Load() {
		status = "err"
	}
	b = infoStr(b, "rdb_last_bgsave_status", status)
	b = infoInt(b, "rdb_last_bgsave_time_sec", p.lastBgDur.Load())
	b = infoInt(b, "rdb_current_bgsave_time_sec", current)
	b = infoInt(b, "rdb_saves", p.saves.Load())
	b = infoInt(b, "rdb_last_cow_size", p.lastEarly.Load())
	b = infoInt(b, "rdb_last_load_keys_expired", p.loadExpired.Load())
	b = infoInt(b, "rdb_last_load_keys_loaded", p.loadLoaded.Load())
	b = srv.infoAOF(b)
	b = infoInt(b, "module_fork_in_progress", 0)
	b = infoInt(b, "module_fork_last_cow_size", 0)
	b = srv.infoAOFSizes(b)
	if p.loading.Load() {
		b = infoLoading(b, p)
	}
	return b
}

// infoLoading is the progress of the file loading, as Redis reports it.
func infoLoading(b []byte, p *persistState) []byte {
	start, total, used, done := p.loadStart.Load(), p.loadTotal.Load(), p.loadUsedMem.Load(), p.loadBytes.Load()
	perc, remaining := 0.0, int64(1)
	switch {
	case total > 0:
		perc, remaining = float64(done)/float64(total)*100, total-done
	case used > 0:
		perc, remaining = min(float64(done)/float64(used)*100, 99.99), max(used-done, 1)
	}
	eta := int64(1) // Redis's figure before a second has passed
	if elapsed := time.Now().Unix() - start; elapsed != 0 {
		eta = elapsed * remaining / (done + 1)
	}
	b = infoInt(b, "loading_start_time", start)
	b = infoInt(b, "loading_total_bytes", total)
	b = infoInt(b, "loading_rdb_used_mem", used)
	b = infoInt(b, "loading_loaded_bytes", done)
	b = infoStr(b, "loading_loaded_perc", strconv.FormatFloat(perc, 'f', 2, 64))
	return infoInt(b, "loading_eta_seconds", eta)
}

func infoStats(b []byte, x *infoCtx) []byte {
	st := &x.c.srv.stats
	var expired, evicted, hits, misses uint64
	for _, sh := range x.shardStats() {
		expired += sh.ExpiredKeys
		evicted += sh.EvictedKeys
		hits += sh.Hits
		misses += sh.Misses
	}
	cr := &x.c.srv.cron
	b = infoInt(b, "total_connections_received", st.connections.Load())
	b = infoInt(b, "total_commands_processed", st.commands.Load())
	b = infoInt(b, "instantaneous_ops_per_sec", cr.ops.get())
	b = infoInt(b, "total_net_input_bytes", st.netIn.Load())
	b = infoInt(b, "total_net_output_bytes", st.netOut.Load())
	b = infoKbps(b, "instantaneous_input_kbps", cr.in.get())
	b = infoKbps(b, "instantaneous_output_kbps", cr.out.get())
	b = infoInt(b, "rejected_connections", st.rejected.Load())
	b = infoInt(b, "sync_full", x.c.srv.repl.syncFull.Load())
	b = infoInt(b, "sync_partial_ok", x.c.srv.repl.syncPartialOK.Load())
	b = infoInt(b, "sync_partial_err", x.c.srv.repl.syncPartialErr.Load())
	b = infoInt(b, "expired_keys", int64(expired))
	b = infoInt(b, "evicted_keys", int64(evicted))
	b = infoInt(b, "evicted_clients", st.evictedClients.Load())
	b = infoInt(b, "keyspace_hits", int64(hits))
	b = infoInt(b, "keyspace_misses", int64(misses))
	b = infoInt(b, "pubsub_channels", x.c.srv.hub.ChannelCount())
	b = infoInt(b, "pubsub_patterns", x.c.srv.hub.PatternCount())
	b = infoInt(b, "pubsubshard_channels", x.c.srv.hub.ShardChannelCount())
	b = infoInt(b, "latest_fork_usec", 0)
	b = infoInt(b, "total_forks", 0)
	b = infoInt(b, "migrate_cached_sockets", int64(x.c.srv.migrate.count()))
	tr := x.c.srv.tracking
	b = infoInt(b, "tracking_total_keys", tr.table.Keys())
	b = infoInt(b, "tracking_total_items", tr.table.Items())
	b = infoInt(b, "tracking_total_prefixes", tr.nPrefix.Load())
	b = infoInt(b, "unexpected_error_replies", st.unexpectedErrors.Load())
	b = infoInt(b, "total_error_replies", st.errors.Load())
	b = infoInt(b, "lazyfreed_objects", x.c.srv.lazy.Freed())
	// Valkyrie's own (Redis 7.2 adds the same field; 7.0 has none).
	b = infoInt(b, "client_output_buffer_limit_disconnections", st.obufDisconnects.Load())
	// Valkyrie's own: batches of keyspace events lost to a full hub mailbox.
	return infoInt(b, "keyspace_events_dropped", x.c.srv.hub.DroppedEvents())
}

func infoReplication(b []byte, x *infoCtx) []byte {
	s := x.c.srv
	if s.isReplica() {
		return s.infoReplica(b)
	}
	return s.infoMasterReplication(b)
}

// infoKeyspace has a line for each database holding keys, summed over the
// shards. Valkyrie does not sample TTLs, so avg_ttl is 0.
func infoKeyspace(b []byte, x *infoCtx) []byte {
	var keys, expires [shard.NumDBs]int
	for _, sh := range x.shardStats() {
		for db := range keys {
			keys[db] += sh.Keys[db]
			expires[db] += sh.Expires[db]
		}
	}
	for db := range keys {
		if keys[db] == 0 && expires[db] == 0 {
			continue
		}
		b = append(b, "db"...)
		b = strconv.AppendInt(b, int64(db), 10)
		b = append(b, ":keys="...)
		b = strconv.AppendInt(b, int64(keys[db]), 10)
		b = append(b, ",expires="...)
		b = strconv.AppendInt(b, int64(expires[db]), 10)
		b = append(b, ",avg_ttl=0\r\n"...)
	}
	return b
}

// infoShards has one line per shard: keys and keys with a TTL over all
// databases, messages waiting in its mailbox, and commands it has run.
func infoShards(b []byte, x *infoCtx) []byte {
	for _, sh := range x.shardStats() {
		keys, expires := 0, 0
		for db := range sh.Keys {
			keys += sh.Keys[db]
			expires += sh.Expires[db]
		}
		b = append(b, "shard"...)
		b = strconv.AppendInt(b, int64(sh.ID), 10)
		b = append(b, ":keys="...)
		b = strconv.AppendInt(b, int64(keys), 10)
		b = append(b, ",expires="...)
		b = strconv.AppendInt(b, int64(expires), 10)
		b = append(b, ",mailbox="...)
		b = strconv.AppendInt(b, int64(sh.Pending), 10)
		b = append(b, ",commands="...)
		b = strconv.AppendUint(b, sh.Processed, 10)
		b = append(b, '\r', '\n')
	}
	return b
}

// Line helpers: each appends "key:value\r\n".

func infoStr(b []byte, key, v string) []byte {
	b = append(b, key...)
	b = append(b, ':')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

// infoKbps appends a rate in bytes per second as KiB per second with two
// decimals, as Redis prints its instantaneous kbps figures.
func infoKbps(b []byte, key string, bytesPerSec int64) []byte {
	b = append(b, key...)
	b = append(b, ':')
	b = strconv.AppendFloat(b, float64(float32(bytesPerSec)/1024), 'f', 2, 32)
	return append(b, '\r', '\n')
}

func infoInt(b []byte, key string, v int64) []byte {
	b = append(b, key...)
	b = append(b, ':')
	b = strconv.AppendInt(b, v, 10)
	return append(b, '\r', '\n')
}

// infoBytes appends key:n and key_human:n in Redis's short form.
func infoBytes(b []byte, key string, n int64) []byte {
	b = infoInt(b, key, n)
	b = append(b, key...)
	b = append(b, "_human:"...)
	b = appendHumanBytes(b, n)
	return append(b, '\r', '\n')
}

// appendHumanBytes writes n as Redis does: bytes below 1K, else two
// decimals and the largest unit up to P.
func appendHumanBytes(b []byte, n int64) []byte {
	const units = "KMGTP"
	if n < 1024 {
		b = strconv.AppendInt(b, n, 10)
		return append(b, 'B')
	}
	d := float64(n)
	for i := 0; i < len(units); i++ {
		d /= 1024
		if d < 1024 || i == len(units)-1 {
			b = strconv.AppendFloat(b, d, 'f', 2, 64)
			return append(b, units[i])
		}
	}
	return b
}

// infoSeconds appends a duration in nanoseconds as seconds with six
// decimals, the way Redis prints a timeval.
func infoSeconds(b []byte, key string, ns int64) []byte {
	b = append(b, key...)
	b = append(b, ':')
	b = strconv.AppendInt(b, ns/1e9, 10)
	b = append(b, '.')
	var tmp [8]byte
	us := strconv.AppendInt(tmp[:0], ns%1e9/1000, 10)
	for i := len(us); i < 6; i++ {
		b = append(b, '0')
	}
	b = append(b, us...)
	return append(b, '\r', '\n')
}

// runID is INFO's run_id, drawn once per process as Redis draws it at
// start. (The replication ID is each server's own: repl_id.go.)
var runID = sync.OnceValue(func() string {
	var buf [20]byte
	rand.Read(buf[:])
	return hex.EncodeToString(buf[:])
})

// infoOS is "sysname release machine" like uname, from /proc where there
// is one.
var infoOS = sync.OnceValue(func() string {
	name, release := runtime.GOOS, ""
	if b, err := os.ReadFile("/proc/sys/kernel/ostype"); err == nil {
		name = string(bytes.TrimSpace(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		release = string(bytes.TrimSpace(b))
	}
	machine := runtime.GOARCH
	switch machine {
	case "amd64":
		machine = "x86_64"
	case "arm64":
		machine = "aarch64"
	case "386":
		machine = "i686"
	}
	if release == "" {
		return name + " " + machine
	}
	return name + " " + release + " " + machine
})

// infoRSS reads the resident set size from /proc/self/statm; 0 if absent.
func infoRSS() int64 { return osmem.RSS() }

// infoTotalMemory reads MemTotal from /proc/meminfo; 0 if absent.
func infoTotalMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		rest, ok := bytes.CutPrefix(line, []byte("MemTotal:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest) // "<n> kB"
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}
