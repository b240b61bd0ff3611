package shard

import (
	"strconv"
	"sync/atomic"
	"time"
)

// SLOWLOG. Each shard logs the commands it runs that took at least
// slowlog-log-slower-than microseconds in its own ring of the newest
// slowlog-max-len entries; the connection package logs the commands it
// runs the same way, and SLOWLOG GET merges the rings by entry ID, which
// one counter hands out in the order entries are logged.

// SlowEntry is one logged command, as SLOWLOG GET shows it.
type SlowEntry struct {
	ID     int64
	At     int64 // Unix seconds
	Micros int64
	Args   [][]byte // trimmed as Redis trims them; owned by the entry
	Addr   string
	Name   string
}

// Client says who sent a batch, for SLOWLOG entries.
type Client struct {
	Addr string
	name atomic.Pointer[string]
}

// ScriptClient is who the commands a script calls are logged as: Redis's
// Lua client, which has no address ("?:0") and no name.
var ScriptClient = &Client{Addr: "?:0"}

// SetName records the client's name (CLIENT SETNAME).
func (cl *Client) SetName(name string) { cl.name.Store(&name) }

// addr returns the client's address, "" for none.
func (cl *Client) addr() string {
	if cl == nil {
		return ""
	}
	return cl.Addr
}

// Name returns the client's name.
func (cl *Client) Name() string {
	if cl == nil {
		return ""
	}
	if p := cl.name.Load(); p != nil {
		return *p
	}
	return ""
}

// Slowlog holds one server's settings: the shards and the connection
// package share it.
type Slowlog struct {
	// Tracking is latency-tracking: per-command latency histograms
	// (histogram.go) are kept while it is set.
	Tracking atomic.Bool

	ids        atomic.Int64
	slowerThan atomic.Int64 // microseconds; below 0 logs nothing
	maxLen     atomic.Int64

	latencyThreshold atomic.Int64 // latency-monitor-threshold, ms (latencymon.go)
}

// NewSlowlog returns settings with Redis's defaults.
func NewSlowlog() *Slowlog {
	l := &Slowlog{}
	l.Set(10000, 128)
	l.Tracking.Store(true)
	return l
}

// Set sets slowlog-log-slower-than (µs) and slowlog-max-len; rings longer
// than the new length shrink as they next log or are read.
func (l *Slowlog) Set(slowerThan, maxLen int64) {
	l.slowerThan.Store(slowerThan)
	l.maxLen.Store(maxLen)
}

// MaxLen is slowlog-max-len.
func (l *Slowlog) MaxLen() int { return int(min(l.maxLen.Load(), 1<<20)) }

// Wants reports whether a command that took nanos is to be logged.
func (l *Slowlog) Wants(nanos int64) bool {
	if l == nil {
		return false
	}
	t := l.slowerThan.Load()
	return t >= 0 && nanos/1000 >= t
}

// SetSlowlog gives the shard its server's settings.
func (s *Shard) SetSlowlog(l *Slowlog) { s.slowlog = l }

// SlowRing is a ring of the newest entries, oldest first.
type SlowRing struct {
	entries []SlowEntry
	start   int
}

// Log adds an entry for a command run with args that took nanos.
func (r *SlowRing) Log(l *Slowlog, args [][]byte, nanos int64, cl *Client) {
	max := l.MaxLen()
	e := SlowEntry{ID: l.ids.Add(1) - 1, At: time.Now().Unix(), Micros: nanos / 1000,
		Args: slowArgs(args), Name: cl.Name(), Addr: cl.addr()}
	if max <= 0 {
		r.Reset()
		return
	}
	if len(r.entries) > max || (len(r.entries) < max && r.start != 0) {
		r.keepNewest(max) // the length changed: back to oldest-first order
	}
	if len(r.entries) < max {
		r.entries = append(r.entries, e)
		return
	}
	r.entries[r.start] = e
	r.start = (r.start + 1) % len(r.entries)
}

// trim keeps at most n entries, the newest. A ring within n is left as it
// is, wrapped or not (a full ring is wrapped but for one log in max).
func (r *SlowRing) trim(n int) {
	if len(r.entries) > max(n, 0) {
		r.keepNewest(n)
	}
}

// keepNewest keeps the newest n entries, oldest first from index 0.
func (r *SlowRing) keepNewest(n int) {
	all := r.all()
	if drop := len(all) - max(n, 0); drop > 0 {
		all = all[drop:]
	}
	r.entries, r.start = append([]SlowEntry(nil), all...), 0
}

// Len returns how many entries the ring holds, at most max.
func (r *SlowRing) Len(max int) int {
	r.trim(max)
	return len(r.entries)
}

// AppendNewest appends the ring's newest n entries (of at most max),
// newest first, and copies no more than that: SLOWLOG GET asks every ring
// for as many as it will show.
func (r *SlowRing) AppendNewest(out []SlowEntry, max, n int) []SlowEntry {
	r.trim(max)
	l := len(r.entries)
	for i := 0; i < min(n, l); i++ {
		out = append(out, r.entries[(r.start-1-i+2*l)%l])
	}
	return out
}

func (r *SlowRing) all() []SlowEntry {
	out := make([]SlowEntry, 0, len(r.entries))
	out = append(out, r.entries[r.start:]...)
	return append(out, r.entries[:r.start]...)
}

// Reset empties the ring.
func (r *SlowRing) Reset() { r.entries, r.start = nil, 0 }

// Redis keeps at most 32 arguments of a logged command and 128 bytes of
// each (SLOWLOG_ENTRY_MAX_ARGC and _STRING).
const (
	slowMaxArgs  = 32
	slowMaxBytes = 128
)

// slowArgs copies args for an entry, trimmed as Redis trims them.
func slowArgs(args [][]byte) [][]byte {
	n := min(len(args), slowMaxArgs)
	out := make([][]byte, n)
	for i := range n {
		a := args[i]
		if i == slowMaxArgs-1 && len(args) > slowMaxArgs {
			out[i] = []byte("... (" + strconv.Itoa(len(args)-slowMaxArgs+1) + " more arguments)")
			break
		}
		if len(a) > slowMaxBytes {
			out[i] = append(append([]byte(nil), a[:slowMaxBytes]...),
				"... ("+strconv.Itoa(len(a)-slowMaxBytes)+" more bytes)"...)
			continue
		}
		out[i] = append([]byte(nil), a...)
	}
	return out
}

// Slowlog returns the shard's ring; the caller must own the shard.
func (s *Shard) Slowlog() *SlowRing { return &s.slow }
