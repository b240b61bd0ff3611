package shard

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// MONITOR's feed. While anyone monitors, each shard formats a line for
// every command it runs, after running it, and hands it to the server's
// feed; otherwise the only cost is one atomic load per batch.

// Monitor is one server's feed, shared by its shards and connections.
type Monitor struct {
	active atomic.Bool
	feed   func(line []byte)
}

// NewMonitor returns a feed that calls feed, from any goroutine, with
// each line while active.
func NewMonitor(feed func(line []byte)) *Monitor { return &Monitor{feed: feed} }

// SetActive turns the feed on or off.
func (m *Monitor) SetActive(on bool) { m.active.Store(on) }

// Active reports whether anyone monitors.
func (m *Monitor) Active() bool { return m != nil && m.active.Load() }

// Feed sends the line of a command run in db by who (the client's
// address, or "lua" for a script's call), unless its flags keep it out.
func (m *Monitor) Feed(sp *Spec, db int, who string, args [][]byte) {
	if sp != nil && sp.Flags&(SkipMonitor|Admin) != 0 {
		return
	}
	m.feed(AppendMonitorLine(nil, time.Now(), db, who, args))
}

// AppendMonitorLine appends MONITOR's line for a command:
// +1700000000.123456 [0 127.0.0.1:5000] "set" "k" "v"\r\n, each argument
// quoted as Redis quotes it.
func AppendMonitorLine(b []byte, now time.Time, db int, who string, args [][]byte) []byte {
	b = append(b, '+')
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, '.')
	us := now.Nanosecond() / 1000
	for div := 100000; div > 1 && us < div; div /= 10 {
		b = append(b, '0')
	}
	b = strconv.AppendInt(b, int64(us), 10)
	b = append(b, " ["...)
	b = strconv.AppendInt(b, int64(db), 10)
	b = append(b, ' ')
	b = append(b, who...)
	b = append(b, "] "...)
	for i, a := range args {
		if i > 0 {
			b = append(b, ' ')
		}
		b = wire.AppendRepr(b, a)
	}
	return append(b, '\r', '\n')
}

// SetMonitor gives the shard its server's feed.
func (s *Shard) SetMonitor(m *Monitor) { s.monitor = m }
