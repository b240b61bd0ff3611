package conn

import (
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Per-command latency tracking (latency-tracking, on by default in Redis
// 7.0): INFO latencystats and LATENCY HISTOGRAM. Shards keep a histogram
// per command they run (shard/histogram.go); connection commands record
// into one shared table of atomic histograms here. The latency monitor
// (LATENCY LATEST, HISTORY, RESET, GRAPH, DOCTOR) is in latencymon.go.

func init() {
	registerLocal(&localCommand{Spec: shard.Spec{Name: "latency", Arity: -2, Group: "server", Since: "2.8.13",
		Summary: "A container for latency diagnostics commands", Complexity: "Depends on subcommand.",
		Subcommands: latencySpecs}, run: func(c *client, args [][]byte) { latencySubs.dispatch(c, args) },
		barrier: true})
}

var latencySubs, latencySpecs = newSubcommands("latency",
	&subcommand{Spec: shard.Spec{Name: "doctor", Arity: 2, Flags: shard.Admin | shard.NoScript | shard.Loading | shard.Stale,
		Group: "server", Since: "2.8.13", Summary: "Return a human readable latency analysis report.",
		Complexity: "O(1)"}, run: cmdLatencyDoctor},
	&subcommand{Spec: shard.Spec{Name: "graph", Arity: 3, Flags: shard.Admin | shard.NoScript | shard.Loading | shard.Stale,
		Group: "server", Since: "2.8.13", Summary: "Return a latency graph for the event.",
		Complexity: "O(1)", Syntax: "event"}, run: cmdLatencyGraph},
	&subcommand{Spec: shard.Spec{Name: "help", Arity: 2, Flags: shard.Loading | shard.Stale,
		Group: "server", Since: "2.8.13", Summary: "Show helpful text about the different subcommands.",
		Complexity: "O(1)"}, run: cmdLatencyHelp},
	&subcommand{Spec: shard.Spec{Name: "histogram", Arity: -2, Flags: shard.Admin | shard.NoScript | shard.Loading | shard.Stale,
		Group: "server", Since: "7.0.0", Summary: "Return the cumulative distribution of latencies of a subset of commands or all.",
		Complexity: "O(N) where N is the number of commands with latency information being retrieved.",
		Syntax:     "[command [command ...]]"}, run: cmdLatencyHistogram},
	&subcommand{Spec: shard.Spec{Name: "history", Arity: 3, Flags: shard.Admin | shard.NoScript | shard.Loading | shard.Stale,
		Group: "server", Since: "2.8.13", Summary: "Return timestamp-latency samples for the event.",
		Complexity: "O(1)", Syntax: "event"}, run: cmdLatencyHistory},
	&subcommand{Spec: shard.Spec{Name: "latest", Arity: 2, Flags: shard.Admin | shard.NoScript | shard.Loading | shard.Stale,
		Group: "server", Since: "2.8.13", Summary: "Return the latest latency samples for all events.",
		Complexity: "O(1)"}, run: cmdLatencyLatest},
	&subcommand{Spec: shard.Spec{Name: "reset", Arity: -2, Flags: shard.Admin | shard.NoScript | shard.Loading | shard.Stale,
		Group: "server", Since: "2.8.13", Summary: "Reset latency data for one or more events.",
		Complexity: "O(1)", Syntax: "[event [event ...]]"}, run: cmdLatencyReset},
)

// watchLatencyTracking follows latency-tracking and its percentiles.
func (s *Server) watchLatencyTracking() {
	s.connLatency = make([]atomic.Pointer[shard.AtomicHistogram], len(shard.StatSpecs()))
	update := func(string) {
		s.slowlog.Tracking.Store(s.cfg.Bool("latency-tracking"))
		var ps []float64
		for _, f := range strings.Fields(s.cfg.Value("latency-tracking-info-percentiles")) {
			if p, err := strconv.ParseFloat(f, 64); err == nil {
				ps = append(ps, p)
			}
		}
		s.percentiles.Store(&ps)
	}
	update("")
	s.cfg.OnChange("latency-tracking", update)
	s.cfg.OnChange("latency-tracking-info-percentiles", update)
	s.watchLatencyMonitor()
}

// recordLatency records a connection command's latency.
func (s *Server) recordLatency(slot int, nanos int64) {
	if slot <= 0 || slot >= len(s.connLatency) || !s.slowlog.Tracking.Load() {
		return
	}
	p := &s.connLatency[slot]
	h := p.Load()
	if h == nil {
		h = new(shard.AtomicHistogram)
		if !p.CompareAndSwap(nil, h) {
			h = p.Load()
		}
	}
	h.Record(nanos)
}

// latencyHistograms sums every shard's and the connections' histograms by
// stat slot.
func (c *client) latencyHistograms() []*shard.Histogram {
	s := c.srv
	sum := make([]*shard.Histogram, len(shard.StatSpecs()))
	get := func(i int) *shard.Histogram {
		if sum[i] == nil {
			sum[i] = new(shard.Histogram)
		}
		return sum[i]
	}
	for i := range s.connLatency {
		if h := s.connLatency[i].Load(); h != nil {
			h.AddTo(get(i))
		}
	}
	s.eachShard(c.borrowed, func(sh *shard.Shard) {
		for i, h := range sh.Latency() {
			if h != nil && i < len(sum) {
				get(i).Add(h)
			}
		}
	})
	return sum
}

// resetLatency drops the connections' histograms (CONFIG RESETSTAT; the
// shards drop theirs with the command stats).
func (s *Server) resetLatency() {
	for i := range s.connLatency {
		s.connLatency[i].Store(nil)
	}
}

// infoLatencyStats writes the latencystats section.
func infoLatencyStats(b []byte, x *infoCtx) []byte {
	specs := shard.StatSpecs()
	hists := x.c.latencyHistograms()
	order := make([]int, 0, 32)
	for i, h := range hists {
		if h != nil && h.Total() > 0 {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(specs[a].Name, specs[b].Name) })
	ps := *x.c.srv.percentiles.Load()
	for _, i := range order {
		b = append(b, "latency_percentiles_usec_"...)
		b = append(b, specs[i].Name...)
		b = append(b, ':')
		for j, p := range ps {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, 'p')
			b = strconv.AppendFloat(b, p, 'f', -1, 64)
			b = append(b, '=')
			b = strconv.AppendFloat(b, float64(hists[i].Percentile(p))/1000, 'f', 3, 64)
		}
		b = append(b, '\r', '\n')
	}
	return b
}

func cmdLatencyHistogram(c *client, args [][]byte) {
	specs := shard.StatSpecs()
	hists := c.latencyHistograms()
	var slots []int
	if len(args) == 2 {
		for i, h := range hists {
			if h != nil && h.Total() > 0 {
				slots = append(slots, i)
			}
		}
		slices.SortFunc(slots, func(a, b int) int { return strings.Compare(specs[a].Name, specs[b].Name) })
	} else {
		// A name gives its command's histogram and, for a container such
		// as CLIENT, those of its subcommands, as Redis does.
		has := func(i int) bool { return hists[i] != nil && hists[i].Total() > 0 }
		for _, a := range args[2:] {
			name := strings.ToLower(string(a))
			for i, sp := range specs {
				if i == 0 || sp.Name != name {
					continue
				}
				if has(i) {
					slots = append(slots, i)
				}
				for _, sub := range sp.Subcommands {
					if j := slices.Index(specs, sub); j > 0 && has(j) {
						slots = append(slots, j)
					}
				}
			}
		}
	}
	c.local = wire.AppendMap(c.local, len(slots), c.proto)
	for _, i := range slots {
		h := hists[i]
		c.local = wire.AppendBulkString(c.local, specs[i].Name)
		c.local = wire.AppendMap(c.local, 2, c.proto)
		c.local = wire.AppendBulkString(c.local, "calls")
		c.local = wire.AppendInt(c.local, int64(h.Total()))
		c.local = wire.AppendBulkString(c.local, "histogram_usec")
		var points []int64
		h.CDF(func(usec int64, n uint64) { points = append(points, usec, int64(n)) })
		c.local = wire.AppendMap(c.local, len(points)/2, c.proto)
		for _, v := range points {
			c.local = wire.AppendInt(c.local, v)
		}
	}
}

func cmdLatencyHelp(c *client, args [][]byte) {
	c.replyHelp("LATENCY",
		"DOCTOR",
		"    Return a human readable latency analysis report.",
		"GRAPH <event>",
		"    Return an ASCII latency graph for the <event> class.",
		"HISTORY <event>",
		"    Return time-latency samples for the <event> class.",
		"LATEST",
		"    Return the latest latency samples for all events.",
		"RESET [<event> ...]",
		"    Reset latency data of one or more <event> classes.",
		"    (default: reset all data for all event classes)",
		"HISTOGRAM [COMMAND ...]",
		"    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
		"    If no commands are specified then all histograms are replied.")
}
