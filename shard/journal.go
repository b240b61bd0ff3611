package shard

import (
	"github.com/valkyrie-kv/valkyrie/shard/aof"
	"sync"
	"sync/atomic"
)

// The journal is the stream of writes the AOF and replicas receive: each
// write in a deterministic form (EXPIRE becomes PEXPIREAT, SPOP becomes
// SREM, a script becomes the commands it ran), in RESP, with SELECT where
// the database changes.
//
// A shard records its writes in a log of its own while it runs a batch
// and hands the log to the Journal before it answers the batch, so a
// reply never leaves before its write is in the journal. A run that
// borrows several shards (Across) records into one log for the run and
// hands it over before it gives the shards back. So the journal holds
// each shard's writes in that shard's order, and a command that spans
// shards after every earlier write and before every later one of the
// shards it touched: an order the keyspace could have seen.

// Journal merges the shards' logs and hands the stream to its sinks (the
// AOF writer, each replica) and to the replication backlog. Shards append
// to it under its mutex, which guards only the stream, never stored data.
type Journal struct {
	on atomic.Bool // shards record only while it is set

	mu    sync.Mutex
	db    int   // the database the stream has selected last; -1: none
	off   int64 // bytes ever appended, for any sink: what replies wait for
	sinks []*JournalSink
	// repl is the replication offset: the bytes of the stream replicas
	// get. On a master it moves with off. On a replica (proxy set) the
	// replicas get the master's stream as it came, which Proxy appends,
	// and the shards' records go to the local sinks (the AOF) only.
	repl  int64
	proxy bool
	// The backlog keeps the last bytes of the replicas' stream for those
	// that reconnect (repl-backlog-size); its last byte ends at repl,
	// blLen is how many bytes it holds, wrapped in ring.
	ring  []byte
	blLen int
}

// NewJournal returns an empty journal that is off.
func NewJournal() *Journal { return &Journal{db: -1} }

// SetOn turns recording on or off. Shards read it once per batch or run:
// to start a stream at one instant, call it while every shard is held
// (see Snapshot), so no batch is running.
func (j *Journal) SetOn(on bool) { j.on.Store(on) }

// On reports whether shards record.
func (j *Journal) On() bool { return j != nil && j.on.Load() }

// Offset returns the bytes ever appended: every write whose reply has
// been sent is within it.
func (j *Journal) Offset() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.off
}

// StreamDB returns the database the stream has selected last, 0 if none
// (the next command then selects its own).
func (j *Journal) StreamDB() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return max(j.db, 0)
}

// ReplOffset returns the replication offset (see Journal.repl).
func (j *Journal) ReplOffset() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.repl
}

// SetProxy switches the replicas' stream between the shards' records
// (a master) and the bytes Proxy appends (a replica, which passes its
// master's stream on as it came). offset is the replication offset from
// now on; a change of offset empties the backlog, whose bytes belong to
// the old history.
func (j *Journal) SetProxy(on bool, offset int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.proxy = on
	if offset != j.repl {
		j.repl = offset
		j.blLen = 0
	}
	if !on {
		j.db = -1 // the replicas' next command selects its database
	}
}

// Proxy appends bytes of a replica's master stream, as they came, to the
// replicas' stream and the backlog. Call it with every shard held when
// the bytes hold writes, so a snapshot sees them all or none.
func (j *Journal) Proxy(b []byte) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.proxy {
		j.add(b, false, true)
	}
}

// ForceSelect makes the next command of the stream select its database,
// for a reader that starts there (a new AOF file, a replica after its
// full sync). It returns the offset.
func (j *Journal) ForceSelect() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.db = -1
	return j.off
}

// JournalSink receives the stream from the offset at which it was added.
type JournalSink struct {
	j     *Journal
	buf   []byte // appended since the last Take
	kick  chan struct{}
	limit int  // most bytes buf may hold; 0: no limit
	over  bool // buf went past limit: the sink lost bytes
	local bool // it takes no replication-only records (the AOF)
}

// SkipReplicationOnly makes the sink skip what RecordForReplicas records:
// the AOF's sink.
func (s *JournalSink) SkipReplicationOnly() {
	s.j.mu.Lock()
	s.local = true
	s.j.mu.Unlock()
}

// AddSink adds a sink that gets every byte appended from now on, and
// returns it with the offset it starts at. limit bounds what it may hold
// untaken (0: none); past it the sink is dropped and Take reports it.
// With prefill, the sink starts with the backlog's bytes from offset from
// on (a replica's partial resync); ok is false if the backlog no longer
// holds them.
func (j *Journal) AddSink(limit int, from int64, prefill bool) (s *JournalSink, start int64, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	s = &JournalSink{j: j, kick: make(chan struct{}, 1), limit: limit}
	if prefill {
		first := j.repl - int64(j.blLen)
		if from < first || from > j.repl {
			return nil, j.repl, false
		}
		s.buf = j.readRing(s.buf, int(j.repl-from))
	}
	j.sinks = append(j.sinks, s)
	return s, j.repl, true
}

// Remove detaches the sink.
func (s *JournalSink) Remove() {
	j := s.j
	j.mu.Lock()
	defer j.mu.Unlock()
	for i, x := range j.sinks {
		if x == s {
			j.sinks = append(j.sinks[:i], j.sinks[i+1:]...)
			break
		}
	}
	s.buf = nil
}

// Kick is signalled (without blocking) whenever bytes reach the sink.
func (s *JournalSink) Kick() <-chan struct{} { return s.kick }

// Take appends the bytes the sink got since the last Take to dst and
// returns it with the offset they end at. over reports that the sink
// passed its limit and was detached: the bytes are incomplete.
func (s *JournalSink) Take(dst []byte) (_ []byte, end int64, over bool) {
	j := s.j
	j.mu.Lock()
	defer j.mu.Unlock()
	if s.over {
		return dst, j.off, true
	}
	dst = append(dst, s.buf...)
	if cap(s.buf) > 1<<20 {
		s.buf = nil
	} else {
		s.buf = s.buf[:0]
	}
	return dst, j.off, false
}

// Pending reports how many bytes wait in the sink.
func (s *JournalSink) Pending() int {
	s.j.mu.Lock()
	defer s.j.mu.Unlock()
	return len(s.buf)
}

// SetBacklog sizes the replication backlog (0 drops it), keeping the most
// recent bytes that fit.
func (j *Journal) SetBacklog(size int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if size == len(j.ring) {
		return
	}
	keep := j.readRing(nil, min(j.blLen, size))
	j.ring = make([]byte, size)
	j.blLen = 0
	j.putRing(keep)
}

// Backlog reports the backlog's size and the offsets of its first byte
// (0 when empty) and of its end, as INFO replication shows them.
func (j *Journal) Backlog() (size int, first, histlen int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.ring) > 0 {
		first = j.repl - int64(j.blLen) + 1 // the next byte's, when empty
	}
	return len(j.ring), first, int64(j.blLen)
}

// putRing adds b to the backlog.
func (j *Journal) putRing(b []byte) {
	n := len(j.ring)
	if n == 0 {
		return
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	// The ring's end is at position (repl) mod n: repl counts b already.
	end := int((j.repl - int64(len(b))) % int64(n))
	for len(b) > 0 {
		c := copy(j.ring[end:], b)
		b = b[c:]
		end = (end + c) % n
		j.blLen = min(j.blLen+c, n)
	}
}

// readRing appends the last k bytes of the backlog to dst.
func (j *Journal) readRing(dst []byte, k int) []byte {
	n := len(j.ring)
	if k == 0 || n == 0 {
		return dst
	}
	start := int((j.repl - int64(k)) % int64(n))
	for k > 0 {
		c := min(k, n-start)
		dst = append(dst, j.ring[start:start+c]...)
		k -= c
		start = 0
	}
	return dst
}

// add appends b to the stream: to the local sinks (the AOF's) if local,
// to the others and the backlog if repl. Called with j.mu held.
func (j *Journal) add(b []byte, local, repl bool) {
	j.off += int64(len(b))
	for _, s := range j.sinks {
		if s.over || !local && s.local || !repl && !s.local {
			continue
		}
		if s.limit > 0 && len(s.buf)+len(b) > s.limit {
			s.over, s.buf = true, nil
		} else {
			s.buf = append(s.buf, b...)
		}
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	if repl {
		j.repl += int64(len(b))
		j.putRing(b)
	}
}

// append adds a shard's log and returns the offset it ends at.
func (j *Journal) append(l *jlog) int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.db != l.startDB {
		var sel [32]byte
		j.add(aof.AppendSelect(sel[:0], l.startDB), true, !j.proxy)
	}
	j.add(l.buf, true, !j.proxy)
	j.db = l.db
	return j.off
}

// Record appends a write that is no shard's (FUNCTION LOAD, a PING to the
// replicas), as one command, if the journal is on.
func (j *Journal) Record(args ...[]byte) {
	if !j.On() {
		return
	}
	b := aof.AppendCommand(nil, args...)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.add(b, true, !j.proxy)
}

// RecordDB appends a write of database db that is no shard's (a key a
// load left out as expired), selecting db first if the stream has not,
// if the journal is on.
func (j *Journal) RecordDB(db int, args ...[]byte) {
	if !j.On() {
		return
	}
	var l jlog
	l.startDB, l.db = db, db
	l.buf = aof.AppendCommand(nil, args...)
	j.append(&l)
}

// RecordForReplicas appends a command only replicas get (a PING, REPLCONF
// GETACK, PUBLISH), if the journal is on.
func (j *Journal) RecordForReplicas(args ...[]byte) {
	if !j.On() {
		return
	}
	b := aof.AppendCommand(nil, args...)
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.proxy { // a replica's replicas get its master's PINGs
		j.add(b, false, true)
	}
}

// jlog is the writes a shard, or a run across shards, made since it last
// handed them to the journal.
type jlog struct {
	buf     []byte
	startDB int // the database buf's first command runs in; -1 while empty
	db      int // the database of its last command

	// A unit is what one call wrote: wrapped in MULTI/EXEC when it holds
	// more than one command, as Redis wraps a command's, a transaction's
	// or a script's propagated writes. depth lets a transaction hold the
	// units of its commands.
	depth     int
	unitStart int
	unitOps   int
	// own is set when the running command recorded its effects itself
	// (or asked for none): the command is then not recorded as called.
	own bool
	// noMulti keeps the unit from being wrapped (noWrap); direct says
	// the log is a run of one command a client sent on its own.
	noMulti, direct bool
	// wakes are the blocked clients served during the run, woken once
	// what their pops wrote is in the journal (handTo).
	wakes []pendingWake
}

// pendingWake is a served waiter's result, held until the log is handed.
type pendingWake struct {
	w    *Waiter
	wake Wake
}

func (l *jlog) empty() bool { return l.startDB < 0 || len(l.buf) == 0 }

// record appends one command, run in database db.
func (l *jlog) record(db int, args ...[]byte) {
	l.selectDB(db)
	l.buf = aof.AppendCommand(l.buf, args...)
	l.unitOps++
}

func (l *jlog) selectDB(db int) {
	if len(l.buf) == 0 {
		l.startDB, l.db = db, db
	} else if l.db != db {
		l.buf = aof.AppendSelect(l.buf, db)
		l.db = db
	}
}

const multiCmd = "*1\r\n$5\r\nMULTI\r\n"

// begin opens a unit, or a nested one inside a transaction's.
func (l *jlog) begin() {
	l.own = false
	if l.depth == 0 {
		l.unitStart, l.unitOps = len(l.buf), 0
	}
	l.depth++
}

// end closes a unit; the outermost wraps what it holds in MULTI/EXEC when
// that is more than one command (not for a command that asked not to be,
// see noMulti), after the SELECT of its first command, as Redis does.
func (l *jlog) end() {
	l.own = false
	if l.depth--; l.depth > 0 {
		return
	}
	wrap := l.unitOps >= 2 && !l.noMulti
	l.noMulti = false
	if !wrap {
		return
	}
	at := l.unitStart + selectLen(l.buf[l.unitStart:])
	n := len(l.buf)
	l.buf = append(l.buf, multiCmd...)
	copy(l.buf[at+len(multiCmd):], l.buf[at:n])
	copy(l.buf[at:], multiCmd)
	l.buf = append(l.buf, "*1\r\n$4\r\nEXEC\r\n"...)
}

const selectHead = "*2\r\n$6\r\nSELECT\r\n$"

// selectLen is the length of the SELECT that b starts with, 0 if none.
func selectLen(b []byte) int {
	if len(b) < len(selectHead) || string(b[:len(selectHead)]) != selectHead {
		return 0
	}
	i := len(selectHead)
	n := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int(b[i]-'0')
		i++
	}
	return i + 2 + n + 2 // "\r\n" digits "\r\n"
}

// noWrap says that the running command's records are not to be wrapped
// in MULTI/EXEC when it runs on its own (not in a transaction or a
// script): RANDOMKEY and SCAN, whose lazy expiries are like active
// expiry's (Redis's CMD_TOUCHES_ARBITRARY_KEYS).
func (c *Ctx) noWrap() {
	if l := c.journal(); l != nil && (l.depth == 1 || l.direct && l.depth == 2) {
		l.noMulti = true
	}
}

// acrossLogKeep is the largest log buffer an Across keeps between runs.
// A shard's own log keeps up to 1 MB (8 shards), but every connection has
// an Across: one large cross-shard write per connection would otherwise
// leave each holding a buffer of its size for as long as it stays.
const acrossLogKeep = 64 << 10

// handTo gives the log to j and empties it. It returns the offset the
// log ends at in the journal, 0 if it was empty.
func (l *jlog) handTo(j *Journal) (end int64) {
	if !l.empty() {
		end = j.append(l)
	}
	for i, p := range l.wakes {
		p.wake.Logged = end
		p.w.Woken <- p.wake
		l.wakes[i] = pendingWake{}
	}
	l.wakes = l.wakes[:0]
	if cap(l.buf) > 1<<20 {
		l.buf = nil
	} else {
		l.buf = l.buf[:0]
	}
	l.startDB, l.depth, l.unitOps, l.own, l.noMulti, l.direct = -1, 0, 0, false, false, false
	return end
}

// SetJournal gives the shard the server's journal. Call it before the
// shard starts.
func (s *Shard) SetJournal(j *Journal) { s.journal = j }

// startJournal points the shard's recording at its own log if the journal
// is on, and returns it (nil: nothing is recorded).
func (s *Shard) startJournal() *jlog {
	if s.journal.On() {
		s.jl = &s.own
	} else {
		s.jl = nil
	}
	return s.jl
}

// handJournal gives what the shard recorded to the journal and returns
// the offset it ends at there (0 if nothing).
func (s *Shard) handJournal() (end int64) {
	if s.jl == &s.own {
		end = s.own.handTo(s.journal)
	}
	s.jl = nil
	return end
}

// record appends a write of this database's to the running log, if any.
func (db *DB) record(args ...[]byte) {
	if s := db.sh; s != nil && s.jl != nil {
		s.jl.record(db.num, args...)
	}
}

var delName = []byte("DEL")

// recordDel records the deletion of an expired or evicted key.
func (db *DB) recordDel(key []byte) { db.record(delName, key) }

// journal returns the log the running command records into, nil if none.
func (c *Ctx) journal() *jlog {
	if s := c.anyShard(); s != nil {
		return s.jl
	}
	return nil
}

// anyShard returns the shard the command runs on, or for a run across
// shards one of them: what the journal and the applying of a stream are
// set on, alike for all of them.
func (c *Ctx) anyShard() *Shard {
	if c.self != nil {
		return c.self
	}
	for _, s := range c.shards {
		if s != nil {
			return s
		}
	}
	return nil
}

// Propagate records args, run in the command's database, as (part of)
// the effect of the running command, which is then not recorded as
// called. A command whose call is not deterministic (SPOP, EXPIRE, a
// blocking pop) says what it did this way.
func (c *Ctx) propagate(args ...[]byte) {
	if l := c.journal(); l != nil {
		l.record(c.DB, args...)
		l.own = true
	}
}

// propagateNone says that the running command's call is not to be
// recorded: what it changed, if anything, it recorded itself or needs no
// record.
func (c *Ctx) propagateNone() {
	if l := c.journal(); l != nil {
		l.own = true
	}
}

// journaling reports whether the running command's writes are recorded,
// for a command that would otherwise build its record for nothing.
func (c *Ctx) journaling() bool { return c.journal() != nil }
