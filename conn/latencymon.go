package conn

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// The latency monitor: LATENCY LATEST, HISTORY, RESET, GRAPH and DOCTOR,
// and latency-monitor-threshold. Shards sample the commands they run and
// their expiry ticks into series of their own (shard/latencymon.go); the
// commands that run on connections are sampled here, under a mutex taken
// only for a command at or above the threshold. Reading merges them all.

// localLatency is the connection side's series.
type localLatency struct {
	mu  sync.Mutex
	mon shard.LatencyMonitor
}

// watchLatencyMonitor keeps the shared settings in line with
// latency-monitor-threshold.
func (s *Server) watchLatencyMonitor() {
	update := func(string) { s.slowlog.SetLatencyThreshold(s.cfg.Int("latency-monitor-threshold")) }
	update("")
	s.cfg.OnChange("latency-monitor-threshold", update)
}

// latencyLocal samples a connection command of stat slot slot that took
// ms, at or above the threshold.
func (s *Server) latencyLocal(slot int, ms int64) {
	specs := shard.StatSpecs()
	if slot <= 0 || slot >= len(specs) {
		return
	}
	ev := shard.CommandEvent(specs[slot])
	s.localLat.mu.Lock()
	s.localLat.mon.Add(ev, ms)
	s.localLat.mu.Unlock()
}

// latencySeries is one event's series merged over every shard and the
// connections: the newest shard.LatencySamples seconds, oldest first,
// each second's worst, and the worst of all time.
type latencySeries struct {
	event   shard.LatencyEvent
	max     int64
	samples []shard.LatencySample
}

// latencyEvents returns the merged series of every event that has one, in
// the order of shard.LatencyEvent.
func (c *client) latencyEvents() []*latencySeries {
	var all [shard.NumLatencyEvents]*latencySeries
	take := func(m *shard.LatencyMonitor) {
		for ev := range shard.NumLatencyEvents {
			ts := m.Series(ev)
			if ts == nil {
				continue
			}
			if all[ev] == nil {
				all[ev] = &latencySeries{event: ev}
			}
			all[ev].max = max(all[ev].max, ts.Max)
			all[ev].samples = ts.AppendSamples(all[ev].samples)
		}
	}
	ll := &c.srv.localLat
	ll.mu.Lock()
	take(&ll.mon)
	ll.mu.Unlock()
	c.srv.eachShard(c.borrowed, func(sh *shard.Shard) { take(sh.LatencyMonitor()) })
	var out []*latencySeries
	for _, ls := range all {
		if ls == nil {
			continue
		}
		ls.samples = mergeSeconds(ls.samples)
		out = append(out, ls)
	}
	return out
}

// mergeSeconds sorts samples by time, keeps each second's worst, and keeps
// the newest shard.LatencySamples seconds.
func mergeSeconds(samples []shard.LatencySample) []shard.LatencySample {
	slices.SortFunc(samples, func(a, b shard.LatencySample) int {
		switch {
		case a.Time < b.Time:
			return -1
		case a.Time > b.Time:
			return 1
		}
		return 0
	})
	out := samples[:0]
	for _, s := range samples {
		if n := len(out); n > 0 && out[n-1].Time == s.Time {
			out[n-1].Ms = max(out[n-1].Ms, s.Ms)
			continue
		}
		out = append(out, s)
	}
	if len(out) > shard.LatencySamples {
		out = out[len(out)-shard.LatencySamples:]
	}
	return out
}

// latencyEvent returns the merged series of the event named exactly name
// (HISTORY and GRAPH look names up with their letter case), nil if none.
func (c *client) latencyEvent(name []byte) *latencySeries {
	for _, ls := range c.latencyEvents() {
		if ls.event.String() == string(name) {
			return ls
		}
	}
	return nil
}

func cmdLatencyLatest(c *client, args [][]byte) {
	events := c.latencyEvents()
	c.local = wire.AppendArray(c.local, len(events))
	for _, ls := range events {
		last := ls.samples[len(ls.samples)-1]
		c.local = wire.AppendArray(c.local, 4)
		c.local = wire.AppendBulkString(c.local, ls.event.String())
		c.local = wire.AppendInt(c.local, last.Time)
		c.local = wire.AppendInt(c.local, last.Ms)
		c.local = wire.AppendInt(c.local, ls.max)
	}
}

func cmdLatencyHistory(c *client, args [][]byte) {
	ls := c.latencyEvent(args[2])
	if ls == nil {
		c.local = wire.AppendArray(c.local, 0)
		return
	}
	c.local = wire.AppendArray(c.local, len(ls.samples))
	for _, s := range ls.samples {
		c.local = wire.AppendArray(c.local, 2)
		c.local = wire.AppendInt(c.local, s.Time)
		c.local = wire.AppendInt(c.local, s.Ms)
	}
}

// cmdLatencyReset drops the series of the events named (any letter case),
// or of every event, everywhere, and replies how many events had one.
func cmdLatencyReset(c *client, args [][]byte) {
	var want [shard.NumLatencyEvents]bool
	for ev := range shard.NumLatencyEvents {
		want[ev] = len(args) == 2
		for _, a := range args[2:] {
			if equalFold(a, ev.String()) {
				want[ev] = true
			}
		}
	}
	var had [shard.NumLatencyEvents]bool
	reset := func(m *shard.LatencyMonitor) {
		for ev := range shard.NumLatencyEvents {
			if want[ev] && m.Reset(ev) {
				had[ev] = true
			}
		}
	}
	ll := &c.srv.localLat
	ll.mu.Lock()
	reset(&ll.mon)
	ll.mu.Unlock()
	c.srv.eachShard(c.borrowed, func(sh *shard.Shard) { reset(sh.LatencyMonitor()) })
	n := 0
	for _, h := range had {
		if h {
			n++
		}
	}
	c.replyInt(int64(n))
}

func cmdLatencyGraph(c *client, args [][]byte) {
	ls := c.latencyEvent(args[2])
	if ls == nil {
		c.replyError("ERR No samples available for event '" + string(args[2]) + "'")
		return
	}
	c.local = wire.AppendVerbatim(c.local, "txt", latencyGraph(ls, time.Now().Unix()), c.proto)
}

func cmdLatencyDoctor(c *client, args [][]byte) {
	c.local = wire.AppendVerbatim(c.local, "txt", c.latencyReport(), c.proto)
}

// Graphs are 80 columns wide and 4 rows high.
const (
	graphCols = 80
	graphRows = 4
)

// latencyGraph draws GRAPH's reply: a title line, a rule, and a sparkline
// of the samples, oldest first, each labelled with how long ago it was.
func latencyGraph(ls *latencySeries, now int64) []byte {
	var lo, hi int64
	points := make([]sparkPoint, 0, len(ls.samples))
	for i, s := range ls.samples {
		if i == 0 {
			lo, hi = s.Ms, s.Ms
		}
		lo, hi = min(lo, s.Ms), max(hi, s.Ms)
		points = append(points, sparkPoint{value: float64(s.Ms), label: agoLabel(now - s.Time)})
	}
	b := make([]byte, 0, 128+len(points)*16)
	b = append(b, ls.event.String()...)
	b = append(b, " - high "...)
	b = strconv.AppendInt(b, hi, 10)
	b = append(b, " ms, low "...)
	b = strconv.AppendInt(b, lo, 10)
	b = append(b, " ms (all time high "...)
	b = strconv.AppendInt(b, ls.max, 10)
	b = append(b, " ms)\n"...)
	b = append(b, strings.Repeat("-", graphCols)...)
	b = append(b, '\n')
	return appendSparkline(b, points, graphCols, graphRows)
}

// agoLabel writes an age in seconds the way GRAPH labels its columns:
// seconds below a minute, then minutes, hours, days.
func agoLabel(secs int64) string {
	switch {
	case secs < 60:
		return strconv.FormatInt(secs, 10) + "s"
	case secs < 3600:
		return strconv.FormatInt(secs/60, 10) + "m"
	case secs < 3600*24:
		return strconv.FormatInt(secs/3600, 10) + "h"
	}
	return strconv.FormatInt(secs/(3600*24), 10) + "d"
}

// sparkPoint is one column of a sparkline.
type sparkPoint struct {
	value float64
	label string
}

// appendSparkline draws points as filled columns rows high, in blocks of
// at most cols columns (a blank line between blocks). Each row has three
// levels ('_', 'o', '#'), a column full below its top row shows '|', and
// under the graph, after a blank line, each column's label runs downwards.
func appendSparkline(b []byte, points []sparkPoint, cols, rows int) []byte {
	if len(points) == 0 {
		return b
	}
	lo, hi := points[0].value, points[0].value
	labelled := false
	for _, p := range points {
		lo, hi = min(lo, p.value), max(hi, p.value)
		labelled = labelled || p.label != ""
	}
	for j := 0; j < len(points); j += cols {
		if j != 0 {
			b = append(b, '\n')
		}
		b = appendSparkBlock(b, points[j:min(j+cols, len(points))], lo, hi, rows, labelled)
	}
	return b
}

// sparkLevels are the three heights within a row, lowest first.
const sparkLevels = "_o#"

func appendSparkBlock(b []byte, points []sparkPoint, lo, hi float64, rows int, labelled bool) []byte {
	span := hi - lo
	if span == 0 {
		span = 1
	}
	steps := len(sparkLevels) * rows
	line := make([]byte, len(points))
	for row := 0; ; row++ {
		for j := range line {
			line[j] = ' '
		}
		more := false
		switch {
		case row < rows:
			more = true
			for j, p := range points {
				// The height in steps: truncated to whole steps of the
				// value, then scaled down by the span.
				step := int(float64(int((p.value-lo)*float64(steps))) / span)
				step = min(max(step, 0), steps-1)
				level := step - (rows-row-1)*len(sparkLevels)
				if level >= len(sparkLevels) {
					line[j] = '|'
				} else if level >= 0 {
					line[j] = sparkLevels[level]
				}
			}
		case row == rows && labelled:
			more = true // a blank line between the graph and its labels
		default:
			at := row - rows - 1
			for j, p := range points {
				if at < len(p.label) {
					line[j] = p.label[at]
					more = true
				}
			}
		}
		if !more {
			return b
		}
		b = append(b, line...)
		b = append(b, '\n')
	}
}

// latencyReport writes DOCTOR's report: each event's figures and the
// advice they call for, in Redis's words.
func (c *client) latencyReport() []byte {
	s := c.srv
	threshold := s.slowlog.LatencyThreshold()
	events := c.latencyEvents()
	if len(events) == 0 && threshold == 0 {
		return []byte(doctorDisabled)
	}
	var b []byte
	var slowEnable, slowTune, slowInspect, scheduler, hz, largeObjects, thp bool
	advices := 0
	now := time.Now().Unix()
	for i, ls := range events {
		if i == 0 {
			b = append(b, "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n"...)
		}
		n := int64(len(ls.samples))
		var sum, oldest int64
		for _, sm := range ls.samples {
			sum += sm.Ms
			if oldest == 0 || sm.Time < oldest {
				oldest = sm.Time
			}
		}
		avg := sum / n
		var dev int64
		for _, sm := range ls.samples {
			d := avg - sm.Ms
			if d < 0 {
				d = -d
			}
			dev += d
		}
		period := now - oldest
		if period == 0 {
			period = 1
		}
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, ". "...)
		b = append(b, ls.event.String()...)
		b = append(b, ": "...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, " latency spikes (average "...)
		b = strconv.AppendInt(b, avg, 10)
		b = append(b, "ms, mean deviation "...)
		b = strconv.AppendInt(b, dev/n, 10)
		b = append(b, "ms, period "...)
		b = strconv.AppendFloat(b, float64(period)/float64(n), 'f', 2, 64)
		b = append(b, " sec). Worst all time event "...)
		b = strconv.AppendInt(b, ls.max, 10)
		b = append(b, "ms.\n"...)

		switch ls.event {
		case shard.EventCommand:
			if slower := s.cfg.Int("slowlog-log-slower-than"); slower < 0 {
				slowEnable = true
				advices++
			} else if slower/1000 > threshold {
				slowTune = true
				advices++
			}
			slowInspect, largeObjects = true, true
			advices += 2
		case shard.EventFastCommand:
			scheduler = true
			advices++
		case shard.EventExpireCycle:
			hz, largeObjects = true, true
			advices += 2
		}
	}
	if anonHugePages() > 0 {
		thp = true
		advices++
	}
	switch {
	case len(events) == 0 && advices == 0:
		return append(b, doctorQuiet...)
	case len(events) > 0 && advices == 0:
		return append(b, doctorNoAdvice...)
	}
	b = append(b, "\nI have a few advices for you:\n\n"...)
	if slowEnable {
		b = append(b, "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than "...)
		b = strconv.AppendInt(b, threshold*1000, 10)
		b = append(b, "'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n"...)
	}
	if slowTune {
		b = append(b, "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than "...)
		b = strconv.AppendInt(b, threshold*1000, 10)
		b = append(b, "'.\n"...)
	}
	if slowInspect {
		b = append(b, adviceSlowInspect...)
	}
	if scheduler {
		b = append(b, adviceScheduler...)
	}
	if hz && s.cfg.Int("hz") < 100 {
		b = append(b, adviceHz...)
	}
	if largeObjects {
		b = append(b, adviceLargeObjects...)
	}
	if thp {
		b = append(b, adviceTHP...)
	}
	return b
}

// anonHugePages returns the bytes of transparent huge pages the process
// uses (the AnonHugePages of its mappings), 0 where the kernel does not
// say.
func anonHugePages() int64 {
	data, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		if data, err = os.ReadFile("/proc/self/smaps"); err != nil {
			return 0
		}
	}
	var kb int64
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "AnonHugePages:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				kb += n
			}
		}
	}
	return kb * 1024
}

// DOCTOR's fixed texts, as Redis 7.0 words them.
const (
	doctorDisabled = "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. " +
		"You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. " +
		"If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"
	doctorQuiet = "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. " +
		"I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n"
	doctorNoAdvice = "\nWhile there are latency events logged, I'm not able to suggest any easy fix. " +
		"Please use the Redis community to get some help, providing this report in your help request.\n"
	adviceSlowInspect = "- Check your Slow Log to understand what are the commands you are running which are too slow to execute. " +
		"Please check https://redis.io/commands/slowlog for more information.\n"
	adviceScheduler = "- The system is slow to execute Redis code paths not containing system calls. " +
		"This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n" +
		"  1) Lower the system load.\n" +
		"  2) Use a computer / VM just for Redis if you are running other software in the same system.\n" +
		"  3) Check if you have a \"noisy neighbour\" problem.\n" +
		"  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n" +
		"  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. " +
		"However this may create fragmentation problems.\n"
	adviceHz = "- In order to make the Redis keys expiring process more incremental, " +
		"try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n"
	adviceLargeObjects = "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. " +
		"If you have very large objects that are often deleted, expired, or evicted, " +
		"try to fragment those objects into multiple smaller objects.\n"
	adviceTHP = "- I detected a non zero amount of anonymous huge pages used by your process. " +
		"This creates very serious latency events in different conditions, especially when Redis is persisting on disk. " +
		"To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', " +
		"make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. " +
		"Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n"
)
