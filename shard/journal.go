package shard

import (
	"strconv"
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

// Journal merges the shards' logs. Shards append to it under its mutex,
// which guards only the stream, never stored data.
type Journal struct {
	on atomic.Bool // shards record only while it is set

	mu      sync.Mutex
	db      int    // the database the stream has selected last; -1: none
	off     int64  // bytes ever appended
	pending []byte // appended since the last Take
	kick    chan struct{}
}

// NewJournal returns an empty journal that is off.
func NewJournal() *Journal {
	return &Journal{db: -1, kick: make(chan struct{}, 1)}
}

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

// Kick is signalled (without blocking) whenever bytes are appended.
func (j *Journal) Kick() <-chan struct{} { return j.kick }

// Take appends the bytes appended since the last Take to dst and returns
// it, with the offset it ends at.
func (j *Journal) Take(dst []byte) ([]byte, int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	dst = append(dst, j.pending...)
	if cap(j.pending) > 1<<20 {
		j.pending = nil
	} else {
		j.pending = j.pending[:0]
	}
	return dst, j.off
}

// Reset forgets what has not been taken and the selected database, so
// the stream that follows starts afresh (a new AOF file begins with its
// own SELECT). It returns the offset.
func (j *Journal) Reset() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = nil
	j.db = -1
	return j.off
}

// append adds a shard's log.
func (j *Journal) append(l *jlog) {
	j.mu.Lock()
	n := len(j.pending)
	if j.db != l.startDB {
		j.pending = appendSelect(j.pending, l.startDB)
	}
	j.pending = append(j.pending, l.buf...)
	j.db = l.db
	j.off += int64(len(j.pending) - n)
	j.mu.Unlock()
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

func appendSelect(dst []byte, db int) []byte {
	dst = append(dst, "*2\r\n$6\r\nSELECT\r\n$"...)
	var num [20]byte
	d := strconv.AppendInt(num[:0], int64(db), 10)
	dst = strconv.AppendInt(dst, int64(len(d)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, d...)
	return append(dst, "\r\n"...)
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
}

func (l *jlog) empty() bool { return l.startDB < 0 || len(l.buf) == 0 }

// record appends one command, run in database db.
func (l *jlog) record(db int, args ...[]byte) {
	l.selectDB(db)
	l.buf = appendCommand(l.buf, args)
	l.unitOps++
}

func (l *jlog) selectDB(db int) {
	if len(l.buf) == 0 {
		l.startDB, l.db = db, db
	} else if l.db != db {
		l.buf = appendSelect(l.buf, db)
		l.db = db
	}
}

func appendCommand(dst []byte, args [][]byte) []byte {
	dst = appendLen(dst, '*', len(args))
	for _, a := range args {
		dst = appendLen(dst, '$', len(a))
		dst = append(dst, a...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

func appendLen(dst []byte, kind byte, n int) []byte {
	dst = append(dst, kind)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, "\r\n"...)
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
// that is more than one command.
func (l *jlog) end() {
	l.own = false
	if l.depth--; l.depth > 0 {
		return
	}
	if l.unitOps < 2 {
		return
	}
	n := len(l.buf)
	l.buf = append(l.buf, multiCmd...)
	copy(l.buf[l.unitStart+len(multiCmd):], l.buf[l.unitStart:n])
	copy(l.buf[l.unitStart:], multiCmd)
	l.buf = append(l.buf, "*1\r\n$4\r\nEXEC\r\n"...)
}

// handTo gives the log to j and empties it.
func (l *jlog) handTo(j *Journal) {
	if !l.empty() {
		j.append(l)
	}
	if cap(l.buf) > 1<<20 {
		l.buf = nil
	} else {
		l.buf = l.buf[:0]
	}
	l.startDB, l.depth, l.unitOps, l.own = -1, 0, 0, false
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

// handJournal gives what the shard recorded to the journal.
func (s *Shard) handJournal() {
	if s.jl == &s.own {
		s.own.handTo(s.journal)
	}
	s.jl = nil
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
	if c.self != nil {
		return c.self.jl
	}
	for _, s := range c.shards {
		if s != nil {
			return s.jl
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

// Record appends one command, run in database db, as a unit of its own:
// a write that no shard runs (FUNCTION LOAD, FUNCTION DELETE, ...). It
// records nothing while the journal is off.
func (j *Journal) Record(db int, args ...[]byte) {
	if !j.On() {
		return
	}
	l := jlog{startDB: -1}
	l.record(db, args...)
	j.append(&l)
}
