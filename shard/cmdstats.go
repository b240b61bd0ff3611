package shard

// Per-command statistics for INFO commandstats. Each shard counts the
// commands it runs in its own table, with no atomics; INFO borrows every
// shard in turn and sums the tables. Commands that run on the connection
// (PING, CLIENT, EVAL, ...) and refusals before a command runs are counted
// by the connection package in a table of the same shape.

// CmdStat is one command's row: Redis's calls, usec, rejected_calls and
// failed_calls (Nanos is kept in nanoseconds and shown as usec).
type CmdStat struct {
	Calls, Nanos, Rejected, Failed uint64
}

// Add adds o to st.
func (st *CmdStat) Add(o CmdStat) {
	st.Calls += o.Calls
	st.Nanos += o.Nanos
	st.Rejected += o.Rejected
	st.Failed += o.Failed
}

// statSpecs lists every command and subcommand by stat slot; NumberStats
// fills it once, at start-up.
var statSpecs []*Spec

// NumberStats gives every spec and its subcommands a stat slot. The
// connection package calls it once, from its init, after every command has
// registered; slot 0 stays unused so that an unnumbered spec counts nowhere.
func NumberStats(specs []*Spec) {
	statSpecs = append(statSpecs[:0], nil)
	for _, sp := range specs {
		sp.stat = len(statSpecs)
		statSpecs = append(statSpecs, sp)
		for _, sub := range sp.Subcommands {
			sub.stat = len(statSpecs)
			statSpecs = append(statSpecs, sub)
		}
	}
}

// StatSpecs returns the specs by stat slot (slot 0 is nil).
func StatSpecs() []*Spec { return statSpecs }

// StatSlot returns the stat slot of the spec called with args: that of
// its subcommand when args[1] names one, as Redis counts "client|id", and
// 0 (counted nowhere, as in Redis) when it names none.
func (sp *Spec) StatSlot(args [][]byte) int {
	if len(sp.Subcommands) > 0 && len(args) > 1 {
		for _, sub := range sp.Subcommands {
			if equalFold(args[1], sub.Name[len(sp.Name)+1:]) {
				return sub.stat
			}
		}
		return 0
	}
	return sp.stat
}

// count records one run of the spec called with args in db, by client cl
// or a script, that took nanos and replied reply: in commandstats, the
// slowlog and MONITOR's feed. w is the waiter of a blocking command: as in Redis, a
// blocking command counts one call when it first runs, blocked or not, and
// the run that serves it once it was woken (a retried move) counts only
// its time and failure.
func (s *Shard) count(sp *Spec, args [][]byte, nanos int64, reply []byte, w *Waiter, cl *Client, db int, script bool) {
	slot := sp.StatSlot(args)
	if slot == 0 || (w != nil && w.NeedAcross) { // runs again, across shards
		return
	}
	if len(s.cmdStats) <= slot {
		s.cmdStats = append(s.cmdStats, make([]CmdStat, len(statSpecs)-len(s.cmdStats))...)
	}
	st := &s.cmdStats[slot]
	if w == nil || !w.Retried {
		st.Calls++
	}
	st.Nanos += uint64(nanos)
	if len(reply) > 0 && reply[0] == '-' {
		st.Failed++
	}
	if s.monitor.Active() && (w == nil || !w.Retried) {
		who := "lua"
		if !script {
			who = cl.addr()
		}
		s.monitor.Feed(statSpecs[slot], db, who, args)
	}
	if s.slowlog != nil && s.slowlog.Tracking.Load() {
		if len(s.latency) <= slot {
			s.latency = append(s.latency, make([]*Histogram, len(statSpecs)-len(s.latency))...)
		}
		if s.latency[slot] == nil {
			s.latency[slot] = new(Histogram)
		}
		s.latency[slot].Record(nanos)
	}
	if s.slowlog.Wants(nanos) && statSpecs[slot].Flags&SkipSlowlog == 0 && (w == nil || !w.Registered) {
		if script {
			cl = ScriptClient
		}
		s.slow.Log(s.slowlog, args, nanos, cl)
	}
	if ms, ok := s.slowlog.LatencyWants(nanos); ok {
		s.latmon.Add(CommandEvent(statSpecs[slot]), ms)
	}
}

// CmdStats returns the shard's table, indexed by stat slot; the caller
// must own the shard and must not keep it past the loan.
func (s *Shard) CmdStats() []CmdStat { return s.cmdStats }

// ResetCmdStats zeroes the table and drops the latency histograms
// (CONFIG RESETSTAT).
func (s *Shard) ResetCmdStats() {
	clear(s.cmdStats)
	s.latency = nil
}

// Latency returns the shard's latency histograms by stat slot (nil where
// none); the caller must own the shard.
func (s *Shard) Latency() []*Histogram { return s.latency }
