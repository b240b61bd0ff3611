package shard

import (
	"sort"
	"strings"
	"sync/atomic"
)

// Client-side caching (CLIENT TRACKING), the server side as Redis 7.0
// does it. Each shard remembers which tracking clients read which of its
// keys; the shard that modifies a key sends the invalidation itself, at
// the point where it marks the key's watchers dirty, before the writer
// gets its reply. Delivery goes through a TrackSink, which never blocks.
//
// Like Redis's table, an entry is a key name in no particular database,
// and entries of a client that turned tracking off or hung up stay until
// their key changes or the table is trimmed to tracking-table-max-keys.

// Tracker is one connection's tracking state as the shards see it. The
// connection writes its mode; shards only read it.
type Tracker struct {
	mode atomic.Uint32
	sink TrackSink
}

// Tracker modes.
const (
	TrackOn     = 1 << iota // CLIENT TRACKING ON
	TrackBcast              // BCAST: prefixes, not the keys read
	TrackNoloop             // NOLOOP: not the keys it changes itself
)

// TrackSink delivers invalidations to a tracking client, or to the client
// it redirects them to. keys (not kept after the call) are the keys that
// changed; all says that every key did (a flush). It must not block.
type TrackSink interface {
	Invalidate(keys []string, all bool)
}

// NewTracker returns a tracker, off, that delivers through sink.
func NewTracker(sink TrackSink) *Tracker { return &Tracker{sink: sink} }

// SetMode sets the tracker's mode (TrackOn | ...; 0 is off).
func (t *Tracker) SetMode(m uint32) { t.mode.Store(m) }

// Mode returns the tracker's mode.
func (t *Tracker) Mode() uint32 { return t.mode.Load() }

// Prefix is one BCAST prefix and the trackers registered for it.
type Prefix struct {
	Prefix   string
	Trackers []*Tracker
}

// TrackingTable is what the shards share about tracking: the totals for
// INFO, the key limit, the BCAST prefixes and the hook that tells every
// tracking client about a flush. The connection side owns the prefixes
// and publishes them as an immutable snapshot.
type TrackingTable struct {
	keys, items atomic.Int64
	maxKeys     atomic.Int64
	prefixes    atomic.Pointer[[]*Prefix]

	// Flushed, if set, is called once per FLUSHDB or FLUSHALL.
	Flushed func()
}

// NewTrackingTable returns an empty table with Redis's default limit of
// a million keys.
func NewTrackingTable() *TrackingTable {
	t := &TrackingTable{}
	t.maxKeys.Store(1_000_000)
	return t
}

// Keys and Items report the keys tracked and the (key, client) pairs.
func (t *TrackingTable) Keys() int64  { return t.keys.Load() }
func (t *TrackingTable) Items() int64 { return t.items.Load() }

// SetMaxKeys sets tracking-table-max-keys (0: no limit).
func (t *TrackingTable) SetMaxKeys(n int64) { t.maxKeys.Store(n) }

// SetPrefixes publishes the BCAST prefixes; nil or empty: none.
func (t *TrackingTable) SetPrefixes(p []*Prefix) {
	if len(p) == 0 {
		t.prefixes.Store(nil)
		return
	}
	t.prefixes.Store(&p)
}

// SetTracking gives the shard the server's tracking table.
func (s *Shard) SetTracking(t *TrackingTable) { s.trk.shared = t }

// tracking is a shard's part of the table, owned by its goroutine.
type tracking struct {
	shared *TrackingTable
	keys   map[string][]*Tracker
	cur    *Tracker // the tracker of the client whose command runs now
	one    [1]string

	// pend collects, per BCAST prefix, the keys changed since the last
	// flushBcast and who changed each last (nil: expiry).
	pend map[*Prefix]map[string]*Tracker

	effort int // times the limit was found passed in a row
}

// active reports whether anything may need an invalidation.
func (t *tracking) active() bool {
	return t.shared != nil && (len(t.keys) > 0 || t.shared.prefixes.Load() != nil)
}

// remember records that tr read keys (held by this shard).
func (t *tracking) remember(tr *Tracker, key []byte) {
	if t.shared == nil {
		return
	}
	if t.keys == nil {
		t.keys = make(map[string][]*Tracker)
	}
	list, ok := t.keys[string(key)]
	for _, x := range list {
		if x == tr {
			return
		}
	}
	if !ok {
		t.shared.keys.Add(1)
	}
	t.keys[string(key)] = append(list, tr)
	t.shared.items.Add(1)
}

// invalidate tells the clients that read key, and the BCAST prefixes that
// match it, that it changed. by is who changed it (nil for expiry).
func (t *tracking) invalidate(key string, by *Tracker) {
	if t.shared == nil {
		return
	}
	if p := t.shared.prefixes.Load(); p != nil {
		t.noteBcast(*p, key, by)
	}
	if len(t.keys) > 0 {
		t.drop(key, true, false)
	}
}

// drop removes key from the table and sends its invalidation to those
// that read it. noloop skips a NOLOOP client's own change (not done for
// the limit's evictions); counted says the caller already took the key
// off the shared total.
func (t *tracking) drop(key string, noloop, counted bool) {
	list, ok := t.keys[key]
	if !ok {
		return
	}
	delete(t.keys, key)
	if !counted {
		t.shared.keys.Add(-1)
	}
	t.shared.items.Add(-int64(len(list)))
	t.one[0] = key
	for _, tr := range list {
		m := tr.mode.Load()
		if m&TrackOn == 0 || m&TrackBcast != 0 {
			continue
		}
		if noloop && m&TrackNoloop != 0 && tr == t.cur {
			continue
		}
		tr.sink.Invalidate(t.one[:], false)
	}
	t.one[0] = ""
}

func (t *tracking) noteBcast(prefixes []*Prefix, key string, by *Tracker) {
	for _, p := range prefixes {
		if !strings.HasPrefix(key, p.Prefix) {
			continue
		}
		if t.pend == nil {
			t.pend = make(map[*Prefix]map[string]*Tracker)
		}
		keys := t.pend[p]
		if keys == nil {
			keys = make(map[string]*Tracker)
			t.pend[p] = keys
		}
		keys[key] = by
	}
}

// flushBcast sends each BCAST prefix's changed keys, sorted, as one
// message to each of its clients; a NOLOOP client's message leaves out the
// keys it changed last.
func (t *tracking) flushBcast() {
	if len(t.pend) == 0 {
		return
	}
	var all []string
	for p, keys := range t.pend {
		all = all[:0]
		for k := range keys {
			all = append(all, k)
		}
		sort.Strings(all)
		var own []string
		for _, tr := range p.Trackers {
			m := tr.mode.Load()
			if m&(TrackOn|TrackBcast) != TrackOn|TrackBcast {
				continue
			}
			if m&TrackNoloop == 0 {
				tr.sink.Invalidate(all, false)
				continue
			}
			own = own[:0]
			for _, k := range all {
				if keys[k] != tr {
					own = append(own, k)
				}
			}
			if len(own) > 0 {
				tr.sink.Invalidate(own, false)
			}
		}
	}
	t.pend = nil
}

// flushed forgets every key of the shard (FLUSHDB and FLUSHALL reset the
// whole table in Redis too).
func (t *tracking) flushed() {
	if len(t.keys) == 0 {
		return
	}
	var items int64
	for _, list := range t.keys {
		items += int64(len(list))
	}
	t.shared.keys.Add(-int64(len(t.keys)))
	t.shared.items.Add(-items)
	t.keys = nil
}

// trim evicts keys while the whole table holds more than
// tracking-table-max-keys, telling their clients as if the keys had
// changed. A shard takes each key off the shared total before it evicts
// it, so shards trimming at once never go below the limit. Each round may
// evict 100 keys more than the last one that ended over the limit, as
// Redis's effort grows.
func (t *tracking) trim() {
	if t.shared == nil || len(t.keys) == 0 {
		return
	}
	max := t.shared.maxKeys.Load()
	if max <= 0 || t.shared.keys.Load() <= max {
		t.effort = 0
		return
	}
	budget := 100 * (t.effort + 1)
	for k := range t.keys {
		for {
			n := t.shared.keys.Load()
			if n <= max {
				t.effort = 0
				return
			}
			if t.shared.keys.CompareAndSwap(n, n-1) {
				break
			}
		}
		t.drop(k, false, true)
		if budget--; budget == 0 {
			break
		}
	}
	if t.shared.keys.Load() > max {
		t.effort++
	}
}

// cmdTracked reports whether a call's keys are to be remembered: a
// read-only command, not a pub/sub one (whose "keys" are shard channels).
func cmdTracked(cmd *Command) bool {
	return cmd.Flags&ReadOnly != 0 && cmd.Flags&PubSub == 0
}

// rememberCall records the keys of a read-only command that tr ran.
func (c *Ctx) rememberCall(cmd *Command, tr *Tracker) {
	var buf [8]int
	for _, i := range cmd.KeyIndexes(c.Args, buf[:0]) {
		if i < len(c.Args) {
			k := c.Args[i]
			if s := c.shardOf(k); s != nil {
				s.trk.remember(tr, k)
			}
		}
	}
}

// TrackingFlushed runs a flush's tracking side: the shards forget their
// keys and every tracking client hears that all keys changed.
func (c *Ctx) trackingFlushed() {
	var shared *TrackingTable
	c.eachShard(func(s *Shard) {
		if s.trk.shared != nil {
			s.trk.flushed()
			shared = s.trk.shared
		}
	})
	if shared != nil && shared.Flushed != nil {
		shared.Flushed()
	}
}

// remember records the keys of a read-only command of the run: a
// script's declared keys, or the command's own.
func (a *Across) remember(cmd *Command) {
	c := &a.c
	if !a.Script {
		c.rememberCall(cmd, a.Track)
		return
	}
	for _, k := range a.ScriptKeys {
		if s := c.shardOf(k); s != nil {
			s.trk.remember(a.Track, k)
		}
	}
}

// settle sends what housekeeping left pending (expired keys for BCAST)
// and trims the table to its limit.
func (t *tracking) settle() {
	if t.shared != nil {
		t.flushBcast()
		t.trim()
	}
}

// settleAcross sends the BCAST keys that a run across shards changed as
// one message per prefix, as Redis would for one command, then settles
// each shard.
func settleAcross(shards []*Shard) {
	var into *tracking
	for _, s := range shards {
		if s == nil || len(s.trk.pend) == 0 {
			continue
		}
		if into == nil {
			into = &s.trk
			continue
		}
		for p, keys := range s.trk.pend {
			dst := into.pend[p]
			if dst == nil {
				into.pend[p] = keys
				continue
			}
			for k, by := range keys {
				dst[k] = by
			}
		}
		s.trk.pend = nil
	}
	for _, s := range shards {
		if s != nil {
			s.trk.settle()
		}
	}
}

// TrimTracking evicts tracked keys until the table is within
// tracking-table-max-keys, however many that takes (CONFIG SET lowering
// the limit). The caller owns the shard.
func (s *Shard) TrimTracking() {
	t := &s.trk
	for t.shared != nil && len(t.keys) > 0 {
		max := t.shared.maxKeys.Load()
		if max <= 0 || t.shared.keys.Load() <= max {
			return
		}
		t.trim()
	}
}
