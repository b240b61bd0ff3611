package shard

import "time"

// The latency monitor (LATENCY LATEST, HISTORY, RESET, GRAPH, DOCTOR).
// While latency-monitor-threshold is above zero, every command that took
// at least that many milliseconds, and every active expiry tick that did,
// is sampled into its event's series: the newest LatencySamples seconds
// that had a sample, the worst latency of each second, and the worst of
// all time. Each shard keeps its own series, touched only by whoever owns
// the shard, so sampling takes no lock; the connection package keeps one
// more for the commands that run on connections and merges them all when
// asked (a second's worst over every series; the newest seconds of the
// union are exactly those each series kept, since a series drops a second
// only after LatencySamples newer ones of its own).

// LatencyEvent names a source of latency.
type LatencyEvent uint8

const (
	EventCommand     LatencyEvent = iota // a command not flagged fast
	EventFastCommand                     // a command flagged fast
	EventExpireCycle                     // an active expiry tick
	NumLatencyEvents
)

var latencyEventNames = [NumLatencyEvents]string{"command", "fast-command", "expire-cycle"}

// String returns the event's name, as LATENCY shows it.
func (e LatencyEvent) String() string { return latencyEventNames[e] }

// LatencySamples is how many seconds a series keeps (Redis's
// LATENCY_TS_LEN).
const LatencySamples = 160

// LatencySample is the worst latency (ms) seen in one second (Unix time).
type LatencySample struct {
	Time, Ms int64
}

// LatencySeries is one event's ring of samples, and its worst of all time.
type LatencySeries struct {
	Max     int64
	next    int // where the next second goes
	samples [LatencySamples]LatencySample
}

// add records a latency of ms at Unix second now: the same second as the
// last sample keeps the worse of the two, a new second takes the next slot.
func (ts *LatencySeries) add(now, ms int64) {
	ts.Max = max(ts.Max, ms)
	last := &ts.samples[(ts.next+LatencySamples-1)%LatencySamples]
	if last.Time == now {
		last.Ms = max(last.Ms, ms)
		return
	}
	ts.samples[ts.next] = LatencySample{Time: now, Ms: ms}
	ts.next = (ts.next + 1) % LatencySamples
}

// AppendSamples appends the series' samples, oldest first.
func (ts *LatencySeries) AppendSamples(out []LatencySample) []LatencySample {
	for j := range LatencySamples {
		if s := ts.samples[(ts.next+j)%LatencySamples]; s.Time != 0 {
			out = append(out, s)
		}
	}
	return out
}

// LatencyMonitor holds the series of every event that had a sample since
// it was last reset; nil where none.
type LatencyMonitor struct {
	series [NumLatencyEvents]*LatencySeries
}

// Add records a latency of ms for ev, now.
func (m *LatencyMonitor) Add(ev LatencyEvent, ms int64) {
	ts := m.series[ev]
	if ts == nil {
		ts = new(LatencySeries)
		m.series[ev] = ts
	}
	ts.add(time.Now().Unix(), ms)
}

// Series returns ev's series, nil if it has none.
func (m *LatencyMonitor) Series(ev LatencyEvent) *LatencySeries { return m.series[ev] }

// Reset drops ev's series and reports whether there was one.
func (m *LatencyMonitor) Reset(ev LatencyEvent) bool {
	had := m.series[ev] != nil
	m.series[ev] = nil
	return had
}

// LatencyWants reports whether a run that took nanos is a latency event,
// and its latency in milliseconds: latency-monitor-threshold is set and
// the run took at least that long. With the threshold at 0 (the default)
// it costs one load and one compare.
func (l *Slowlog) LatencyWants(nanos int64) (ms int64, ok bool) {
	if l == nil {
		return 0, false
	}
	t := l.latencyThreshold.Load()
	if t <= 0 {
		return 0, false
	}
	ms = nanos / int64(time.Millisecond)
	return ms, ms >= t
}

// SetLatencyThreshold sets latency-monitor-threshold (ms; 0 switches the
// monitor off).
func (l *Slowlog) SetLatencyThreshold(ms int64) { l.latencyThreshold.Store(ms) }

// LatencyThreshold returns latency-monitor-threshold (0 for no settings).
func (l *Slowlog) LatencyThreshold() int64 {
	if l == nil {
		return 0
	}
	return l.latencyThreshold.Load()
}

// LatencyMonitor returns the shard's series; the caller must own the shard.
func (s *Shard) LatencyMonitor() *LatencyMonitor { return &s.latmon }

// CommandEvent is the event a command (or subcommand) with spec sp
// belongs to.
func CommandEvent(sp *Spec) LatencyEvent {
	if sp.Flags&Fast != 0 {
		return EventFastCommand
	}
	return EventCommand
}
