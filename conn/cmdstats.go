package conn

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/valkyrie-kv/valkyrie/shard"
)

// INFO commandstats. Shards count the data commands they run (see
// shard.CmdStat); this table counts what runs on connections: connection
// commands (PING, CLIENT, EVAL, ...), commands refused before they run
// (rejected_calls: wrong arity, BUSY, NOREPLICAS, an error while queueing
// in MULTI) and errors that end a blocked wait. INFO adds the two.

// connCmdStat is one row of the connection-side table.
type connCmdStat struct {
	calls, nanos, rejected, failed atomic.Uint64
}

var numberStats sync.Once

// numberCommandStats numbers every command for the tables, once, before
// the first server starts its shards (every init has run by then).
func numberCommandStats() {
	numberStats.Do(func() {
		names := make([]string, 0, len(commands))
		for name := range commands {
			names = append(names, name)
		}
		slices.Sort(names)
		specs := make([]*shard.Spec, len(names))
		for i, name := range names {
			specs[i] = commands[name].spec
		}
		shard.NumberStats(specs)
	})
}

// cmdStats returns the row of the spec called with args, nil if none.
func (st *serverStats) cmdStats(spec *shard.Spec, args [][]byte) *connCmdStat {
	if slot := spec.StatSlot(args); slot > 0 && slot < len(st.cmds) {
		return &st.cmds[slot]
	}
	return nil
}

// countRejected counts a refusal of the command before it ran.
func (c *client) countRejected(e *entry, args [][]byte) {
	if row := c.srv.stats.cmdStats(e.spec, args); row != nil {
		row.rejected.Add(1)
	}
}

// countLocal counts a connection command that began at the given Clock
// time; replied reports whether it added a reply, the last in c.local.
func (c *client) countLocal(e *entry, args [][]byte, began int64, replied bool) {
	c.countLocalRun(e, args, began, replied && c.lastLocalFailed())
}

// lastLocalFailed reports whether the last reply in c.local is an error.
func (c *client) lastLocalFailed() bool {
	n := len(c.ends)
	if n == 0 {
		return false
	}
	start := 0
	if n > 1 {
		start = c.ends[n-2]
	}
	r := c.local[start:c.ends[n-1]]
	return len(r) > 0 && r[0] == '-'
}

// countLocalRun counts a connection command (run by the client or by a
// script) that began at the given Clock time.
func (c *client) countLocalRun(e *entry, args [][]byte, began int64, failed bool) {
	row := c.srv.stats.cmdStats(e.spec, args)
	if row == nil {
		return
	}
	nanos := shard.Since(began)
	row.calls.Add(1)
	row.nanos.Add(uint64(nanos))
	if failed {
		row.failed.Add(1)
	}
	c.srv.recordLatency(e.spec.StatSlot(args), nanos)
	c.slowlogLocal(e, args, nanos)
	if ms, ok := c.srv.slowlog.LatencyWants(nanos); ok {
		c.srv.latencyLocal(e.spec.StatSlot(args), ms)
	}
	if spec := e.spec; len(spec.Subcommands) == 0 || len(args) < 2 {
		c.feedMonitor(spec, args)
	} else if sub := subSpec(spec, args[1]); sub != nil {
		c.feedMonitor(sub, args)
	}
}

// countRun counts a connection command that ran inside EXEC or was called
// by a script, began at the given Clock time and replied reply: Redis's
// call() counts every command wherever it runs.
func (c *client) countRun(e *entry, args [][]byte, began int64, reply []byte) {
	c.countLocalRun(e, args, began, len(reply) > 0 && reply[0] == '-')
}

// countUnblocked counts the error that ended a blocked wait as a failure
// of the blocking command (its call was counted when it first ran).
func (c *client) countUnblocked(e *entry, args [][]byte) {
	if row := c.srv.stats.cmdStats(e.spec, args); row != nil {
		row.failed.Add(1)
	}
}

// infoCommandStats writes the commandstats section: every command with a
// call, a rejection or a failure, by name.
func infoCommandStats(b []byte, x *infoCtx) []byte {
	s := x.c.srv
	specs := shard.StatSpecs()
	sum := make([]shard.CmdStat, len(specs))
	for i := range s.stats.cmds {
		row := &s.stats.cmds[i]
		sum[i].Add(shard.CmdStat{Calls: row.calls.Load(), Nanos: row.nanos.Load(),
			Rejected: row.rejected.Load(), Failed: row.failed.Load()})
	}
	s.eachShard(x.c.borrowed, func(sh *shard.Shard) {
		for i, st := range sh.CmdStats() {
			if i < len(sum) {
				sum[i].Add(st)
			}
		}
	})
	order := make([]int, 0, 64)
	for i, st := range sum {
		if i > 0 && (st.Calls > 0 || st.Rejected > 0 || st.Failed > 0) {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		if specs[a].Name < specs[b].Name {
			return -1
		}
		return 1
	})
	for _, i := range order {
		st := sum[i]
		usec := st.Nanos / 1000
		perCall := 0.0
		if st.Calls > 0 {
			perCall = float64(st.Nanos) / 1000 / float64(st.Calls)
		}
		b = append(b, "cmdstat_"...)
		b = append(b, specs[i].Name...)
		b = append(b, ":calls="...)
		b = strconv.AppendUint(b, st.Calls, 10)
		b = append(b, ",usec="...)
		b = strconv.AppendUint(b, usec, 10)
		b = append(b, ",usec_per_call="...)
		b = strconv.AppendFloat(b, perCall, 'f', 2, 64)
		b = append(b, ",rejected_calls="...)
		b = strconv.AppendUint(b, st.Rejected, 10)
		b = append(b, ",failed_calls="...)
		b = strconv.AppendUint(b, st.Failed, 10)
		b = append(b, '\r', '\n')
	}
	return b
}

// resetCommandStats zeroes both tables (CONFIG RESETSTAT).
func (s *Server) resetCommandStats(held []*shard.Shard) {
	for i := range s.stats.cmds {
		row := &s.stats.cmds[i]
		row.calls.Store(0)
		row.nanos.Store(0)
		row.rejected.Store(0)
		row.failed.Store(0)
	}
	s.eachShard(held, (*shard.Shard).ResetCmdStats)
}
