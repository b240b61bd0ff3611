package conn

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
)

// maxmemory. The shards account for their data and evict their own keys
// (shard/evict.go) against a Budget that this file keeps in step with the
// configuration. The connections refuse a command that may grow the data
// (Redis's denyoom flag) with OOM when memory is above the limit and no
// key may be evicted: under noeviction, or when no shard has a key the
// policy allows. Otherwise the command goes on, and the shard that runs it
// evicts first, as Redis evicts before each command.
//
// While a limit is set, the Go runtime also gets a soft memory limit a
// little above it, so that garbage does not let the process grow to twice
// its data before a collection.

const errOOM = script.ErrOOM

// gcHeadroom is how far above maxmemory the runtime's memory limit sits:
// a quarter of it, and at least gcHeadroomMin.
const gcHeadroomMin = 32 << 20

// startGCLimit is the runtime's memory limit when the process started:
// GOMEMLIMIT's, or none.
var startGCLimit = debug.SetMemoryLimit(-1)

// watchMaxmemory follows the parameters of maxmemory.
func (s *Server) watchMaxmemory() {
	s.setMaxmemory()
	for _, p := range []string{"maxmemory", "maxmemory-policy", "maxmemory-samples", "maxmemory-eviction-tenacity", "replica-ignore-maxmemory"} {
		s.cfg.OnChange(p, func(string) { s.setMaxmemory() })
	}
}

// setMaxmemory hands the parameters to the budget. It reads them under a
// lock, so that of two CONFIG SETs whose callbacks interleave, the one
// applied last sets the values set last.
func (s *Server) setMaxmemory() {
	s.memMu.Lock()
	defer s.memMu.Unlock()
	limit := s.cfg.Int("maxmemory")
	policy, _ := shard.ParsePolicy(s.cfg.Value("maxmemory-policy"))
	s.mem.Set(limit, policy, int(s.cfg.Int("maxmemory-samples")), int(s.cfg.Int("maxmemory-eviction-tenacity")))
	// A replica leaves its keys to its master (Redis's
	// replica-ignore-maxmemory, on by default): it neither evicts nor
	// answers OOM for the limit. setMaster and unsetMaster call this again.
	s.mem.Ignore(s.isReplica() && s.cfg.Bool("replica-ignore-maxmemory"))
	s.oom.Store(limit > 0)
	s.setGCLimit(true)
}

// gcLimitFor is the runtime's memory limit for maxmemory limit (0: none)
// when the live heap is live bytes: the headroom above maxmemory, and
// never less than gcHeadroomMin/2 above the live heap, where the
// collector would run back to back. full says that the data stays above
// maxmemory, which eviction cannot change (noeviction, or nothing the
// policy may evict: writes get OOM): the limit then leaves the live heap
// the same headroom as maxmemory has. With 58 MB of data and maxmemory 1
// under noeviction, the limit sat at 32 MB, under the live heap, and GET
// throughput halved (494k to 240k a second) with p99 from 1 ms to 10 ms.
func gcLimitFor(limit, live int64, full bool) int64 {
	if limit <= 0 || limit >= math.MaxInt64/2 {
		return math.MaxInt64
	}
	gc := max(limit+max(limit/4, gcHeadroomMin), live+gcHeadroomMin/2)
	if full {
		gc = max(gc, live+max(live/4, gcHeadroomMin))
	}
	return gc
}

// setGCLimit gives the runtime the memory limit for the current maxmemory
// and live heap; unless force, only a change of more than a sixteenth.
// The caller holds memMu.
func (s *Server) setGCLimit(force bool) {
	if startGCLimit != math.MaxInt64 || s.memStopped { // GOMEMLIMIT, if set, stays
		return
	}
	// Data above maxmemory stays there when nothing may be evicted, and
	// on a replica that ignores the limit.
	gc := gcLimitFor(s.mem.Limit(), liveHeap(), s.outOfMemory() || s.mem.Ignored())
	if d := gc - s.gcLimit; !force && gc != math.MaxInt64 && s.gcLimit != math.MaxInt64 && max(d, -d) <= s.gcLimit/16 {
		return
	}
	s.gcLimit = gc
	debug.SetMemoryLimit(gc)
}

// followHeap moves the runtime's memory limit with the live heap while
// maxmemory is set (the cron calls it).
func (s *Server) followHeap() {
	if s.mem.Limit() <= 0 {
		return
	}
	s.memMu.Lock()
	s.setGCLimit(false)
	s.memMu.Unlock()
}

// liveHeap is the heap's live bytes as of the last collection.
func liveHeap() int64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(sample[0].Value.Uint64())
}

// stopMaxmemory gives the runtime its memory limit back (Shutdown).
func (s *Server) stopMaxmemory() {
	s.memMu.Lock()
	defer s.memMu.Unlock()
	if s.mem.Limit() > 0 && startGCLimit == math.MaxInt64 {
		debug.SetMemoryLimit(startGCLimit)
	}
	s.memStopped = true
}

// heapObjects reads the bytes of the heap's objects, live or not yet
// collected, without stopping the world as ReadMemStats does.
func heapObjects() int64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	return int64(sample[0].Value.Uint64())
}

// MeasureStartupMemory takes the live heap, after a collection, as the
// base of used_memory (Redis's used_memory_startup): what the server holds
// before any data or client. The server binary calls it once set up; New
// takes the heap as it finds it, which in a process hosting other work
// (tests, an embedder) counts more than the server.
func (s *Server) MeasureStartupMemory() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.mem.SetBase(int64(ms.HeapAlloc))
}

// memPeak records used as a candidate for the peak and returns the peak.
func (s *Server) memPeak(used int64) int64 {
	for {
		p := s.usedPeak.Load()
		if used <= p {
			return p
		}
		if s.usedPeak.CompareAndSwap(p, used) {
			return used
		}
	}
}

// outOfMemory reports whether a command that may grow the data must be
// refused: memory is above maxmemory and nothing may be evicted.
func (s *Server) outOfMemory() bool {
	return s.mem.Over() > 0 && !s.mem.Evictable()
}

// evictNow evicts at once what memory is above maxmemory, borrowing each
// shard in turn (held: those the caller holds, as eachShard takes them),
// as Redis does on CONFIG SET maxmemory. Each shard frees its part. warn
// logs Redis's warning, which CONFIG SET maxmemory gives.
func (s *Server) evictNow(held []*shard.Shard, warn bool) {
	if s.mem.Over() <= 0 {
		return
	}
	if used, limit := s.mem.Used(), s.mem.Limit(); warn && used > limit {
		s.log.Warn("WARNING: the new maxmemory value set via CONFIG SET (" + strconv.FormatInt(limit, 10) +
			") is smaller than the current memory usage (" + strconv.FormatInt(used, 10) +
			"). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy.")
	}
	hasKeys := func(i int) bool { return s.mem.Candidates(i) > 0 }
	for round := 0; round < 4 && s.mem.Over() > 0; round++ {
		var freed int64
		now := time.Now().UnixMilli()
		s.eachShardWhere(held, hasKeys, func(sh *shard.Shard) { freed += sh.EvictShare(now) })
		if freed == 0 {
			return
		}
	}
}

// evictFor runs before a command goes to shard owner while memory is
// above maxmemory. A shard evicts its own keys when a batch begins, as
// Redis evicts before each command; but when owner has no key the policy
// may evict and others do, Redis would have freed memory before this
// command runs, so the connection has the others evict now (their
// evictions, and the invalidations they send, come before the command).
func (c *client) evictFor(owner int) {
	m := c.srv.mem
	if m.Over() <= 0 || m.Candidates(owner) > 0 || !m.Evictable() {
		return
	}
	if c.srv.scripts.Running() > 0 && c.srv.scripts.TimedOut(c.busyLimit()) != "" {
		return // Redis does not evict while a script is busy
	}
	c.settle()
	// The invalidations the evictions send go before this command's
	// reply, as in Redis; after the replies before it, when those still
	// wait to be written.
	early := c.trk != nil && len(c.out) == 0
	if early {
		c.waitPushes(nil)
	}
	c.srv.evictNow(c.borrowed, false)
	if early {
		c.endWaitPushes()
	}
}

// refuseOOM answers OOM and reports true when memory is over maxmemory
// and Redis would refuse the command: one that may grow the dataset (a
// script or function by its flags, EXEC by what it queued), or anything
// but EXEC, DISCARD, QUIT and RESET inside MULTI. As in Redis, there is no
// such check while a script has run past busy-reply-threshold: the BUSY
// check that follows answers instead.
func (c *client) refuseOOM(e *entry, args [][]byte) bool {
	if !e.arityOK(len(args)) || !c.srv.outOfMemory() {
		return false
	}
	if c.srv.scripts.Running() > 0 && c.srv.scripts.TimedOut(c.busyLimit()) != "" {
		return false
	}
	refuse := c.deniedOnOOM(e, args)
	if c.tx.on {
		switch e.spec.Name {
		case "exec", "discard", "quit", "reset":
		default:
			refuse = true
		}
	}
	if !refuse {
		return false
	}
	c.last = e.spec
	c.reject(e, args, errOOM)
	return true
}

// deniedOnOOM reports whether the command carries Redis's denyoom flag
// when called with args.
func (c *client) deniedOnOOM(e *entry, args [][]byte) bool {
	spec := e.spec
	if len(spec.Subcommands) > 0 {
		if spec = subSpec(e.spec, args[1]); spec == nil {
			return false
		}
	}
	if spec.Flags&shard.DenyOOM != 0 {
		return true
	}
	if mayWrite, allowOOM, ok := c.scriptFlagsOf(spec.Name, args); ok {
		return mayWrite && !allowOOM
	}
	switch spec.Name {
	case "exec":
		if !c.tx.on {
			return false
		}
		for _, tc := range c.tx.calls {
			if c.deniedOnOOM(tc.e, c.txArgs(tc)) {
				return true
			}
		}
	}
	return false
}
