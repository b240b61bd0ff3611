package shard

import (
	"github.com/valkyrie-kv/valkyrie/shard/osmem"
	"github.com/valkyrie-kv/valkyrie/wire"
	"time"
)

// Call is one command of a batch.
type Call struct {
	Cmd    *Command
	Args   [][]byte
	Waiter *Waiter // for blocking commands: registered if nothing to pop
	Watch  *Watch  // WatchCmd's session; for a transaction marker, the one to check

	// Track is the caller's tracker while CLIENT TRACKING is on (nil
	// otherwise); Remember says to remember the keys it reads (OPTIN and
	// OPTOUT decided by the connection).
	Track    *Tracker
	Remember bool

	// Tx > 0 with a nil Cmd marks the start of a transaction (EXEC) made
	// of the next Tx calls, and Args then lists the watched keys. Its reply
	// is the array header, or the null array without running them if
	// Watch is dirty; blocked clients are served only after the last of
	// them.
	Tx int
}

// Batch is the part of one connection's pipeline that a shard owns. The
// connection fills Calls, the shard appends each reply to Out and records
// where it ends in Ends. The connection reuses a Batch once it is answered.
type Batch struct {
	DB        int
	Proto     wire.Proto
	NumShards int
	Calls     []Call
	Out       []byte
	Ends      []int
	// lean counts the segments in a row that filled a kept reply buffer
	// above osmem.Keep to less than a quarter (Recycle).
	lean uint8
	// Stamp is when the connection received the batch's commands (Unix
	// ns, 0 if unknown); it orders blocked clients (arrival.go).
	Stamp int64
	// Client is who sent the batch, for SLOWLOG; may be nil.
	Client *Client
	// OutCap, when above 0, bounds the reply bytes of one run: once Out
	// holds that much, the shard stops after the call (never inside a
	// transaction) and answers the batch unfinished. The connection
	// sends the replies, calls Resume and submits it again. So a client
	// that pipelines many large reads and does not read holds one run's
	// replies, not the whole pipeline's.
	OutCap int
	// Logged is the journal offset the run's writes end at (0: it wrote
	// nothing there): a reply waits for the AOF to pass it.
	Logged int64
	// Gates are the Wake.Done channels of the blocked moves the run
	// handed a retry (set by each run): its replies wait for them.
	Gates []chan struct{}
	// OutLimit, when above 0, is the client's hard output buffer limit:
	// a command that may draw an unbounded reply (HRANDFIELD, SRANDMEMBER
	// and ZRANDMEMBER with a negative count) stops drawing once its reply
	// passes it, as Redis stops one whose client is to be closed; the
	// connection then closes the client and sends none of it.
	OutLimit int

	first  int           // the first call of the current run (see Resume)
	answer chan<- *Batch // where the worker sends the batch when done
}

// Answered reports how many calls have replies.
func (b *Batch) Answered() int { return len(b.Ends) }

// Resume readies a batch answered unfinished (see OutCap) for its next
// run: the replies so far, which the caller has sent, are dropped.
func (b *Batch) Resume() {
	b.first = len(b.Ends)
	b.Out = b.Out[:0]
}

// keepCalls is the most calls (and reply ends) a Batch keeps room for
// between segments; a bigger pipeline's slices are dropped after use.
const keepCalls = 4096

// Reset empties the batch for reuse, keeping its buffers unless a large
// reply or pipeline made them bigger than is worth keeping: those go back
// to the collector (see osmem), so one big GET does not pin its size for
// the life of the connection.
func (b *Batch) Reset(db int, proto wire.Proto, shards int) {
	b.reset(db, proto, shards)
	b.Release()
}

// Recycle is Reset for a connection that goes on sending: a reply buffer
// above osmem.Keep that the finished segment filled to at least a quarter
// is kept for the next one, so a stream of large replies (LRANGE of 1 KiB
// elements) does not reallocate megabytes per pipeline, each one growing
// by doubling and adding to the collector's work. One that leanSegments
// segments in a row used less is dropped as Reset drops it: a pipeline
// whose replies pass OutCap ends with a short run (LRANGE_300 of 1 KiB
// elements, 16 deep: 14 replies, then 2), and dropping the buffer after it
// made every pipeline grow one again (three times the CPU per request).
// Recycle reports whether it kept such a buffer: the caller must then call
// Release once the stream stops (the connection does when it goes idle).
func (b *Batch) Recycle(db int, proto wire.Proto, shards int) bool {
	used := len(b.Out)
	b.reset(db, proto, shards)
	if cap(b.Out) > osmem.Keep {
		if used >= cap(b.Out)/4 {
			b.lean = 0
		} else if b.lean++; b.lean >= leanSegments {
			b.Release()
		}
	}
	return cap(b.Out) > osmem.Keep
}

// leanSegments is how many segments in a row may use a big reply buffer
// lightly before Recycle drops it.
const leanSegments = 4

// Begin sets the connection's settings for the batch's first call; the
// batch must be empty (reset since its last use).
func (b *Batch) Begin(db int, proto wire.Proto, shards int) {
	b.DB, b.Proto, b.NumShards = db, proto, shards
}

// Release drops a reply buffer bigger than osmem.Keep. The batch must not
// be in use.
func (b *Batch) Release() {
	if cap(b.Out) > osmem.Keep {
		osmem.Released(cap(b.Out))
		b.Out = nil
	}
	b.lean = 0
}

func (b *Batch) reset(db int, proto wire.Proto, shards int) {
	b.DB, b.Proto, b.NumShards = db, proto, shards
	b.first = 0
	if cap(b.Calls) > keepCalls {
		b.Calls = nil
	} else {
		clear(b.Calls) // drop references into the old read buffer
		b.Calls = b.Calls[:0]
	}
	b.Out = b.Out[:0]
	if cap(b.Ends) > keepCalls {
		b.Ends = nil
	} else {
		b.Ends = b.Ends[:0]
	}
}

// HeldBytes reports roughly how many bytes the batch keeps between segments.
func (b *Batch) HeldBytes() int { return 64*cap(b.Calls) + cap(b.Out) + 8*cap(b.Ends) }

// DropAll drops the batch's buffers, which must not be in use, and returns
// how many bytes they held; the connection calls it when it goes idle.
func (b *Batch) DropAll() int {
	n := b.HeldBytes()
	b.Calls, b.Out, b.Ends = nil, nil, nil
	return n
}

// Reply returns the reply bytes of call i, which must be of the last run.
func (b *Batch) Reply(i int) []byte {
	start := 0
	if i > b.first {
		start = b.Ends[i-1]
	}
	return b.Out[start:b.Ends[i]]
}

// Exec runs every call of b in order. now is the time in Unix
// milliseconds that the whole batch sees, as Redis caches the time for a
// command.
func (s *Shard) Exec(b *Batch, now int64) {
	c := &s.ctx
	*c = Ctx{DB: b.DB, Proto: b.Proto, NumShards: b.NumShards, Now: now, Out: b.Out[:0], self: s, stamp: b.Stamp, outLimit: b.OutLimit}
	s.stamp = b.Stamp
	txEnd := -1 // index of the last call of the running transaction
	n := 0
	notify := s.note.flags.Load() != 0
	jl := s.startJournal()
	if s.mem != nil && s.mem.limit.Load() > 0 {
		s.evictOver(now)
	}
	began := Clock()
	for i := len(b.Ends); i < len(b.Calls); i++ {
		call := &b.Calls[i]
		if call.Cmd == nil {
			// A transaction marker: check the watch, reply the header.
			// Args holds the watched keys, all in b.DB: one that has
			// expired since WATCH counts as modified.
			for _, k := range call.Args {
				s.dbs[b.DB].expired(k, now)
			}
			if call.Watch != nil && call.Watch.Dirty() {
				c.NullArray()
				for j := 0; j <= call.Tx; j++ {
					b.Ends = append(b.Ends, len(c.Out))
				}
				i += call.Tx
				continue
			}
			c.Array(call.Tx)
			b.Ends = append(b.Ends, len(c.Out))
			txEnd = i + call.Tx
			if jl != nil && call.Tx > 0 {
				jl.begin() // the transaction's unit, ended at txEnd
			}
			continue
		}
		c.Args, c.Waiter, c.Watch = call.Args, call.Waiter, call.Watch
		c.noChange = false
		s.trk.cur = call.Track
		s.readStats = call.Cmd.Flags&Write == 0
		s.writeCall = !s.readStats
		start := len(c.Out)
		var pre notePre
		if notify && call.Cmd.writes(call.Args) {
			pre = c.beforeWrite(call.Cmd)
		}
		if jl != nil {
			jl.begin()
		}
		call.Cmd.Run(c)
		writes := call.Cmd.writes(call.Args)
		if writes {
			c.reaccountKeys(call.Cmd)
			if s.countChange(c, call.Cmd, c.Out[start:]) && jl != nil && !jl.own {
				jl.record(c.DB, call.Args...)
			}
		}
		if jl != nil {
			jl.end()
			if i == txEnd {
				jl.end()
			}
		}
		if pre.on {
			c.afterWrite(call.Cmd, pre, c.Out[start:])
		}
		if call.Remember && cmdTracked(call.Cmd) {
			c.rememberCall(call.Cmd, call.Track)
		}
		if writes && s.signals() {
			c.touchWritten(call.Cmd, start)
		}
		if len(s.dbs[c.DB].waiters) > 0 && writes {
			c.signalWritten(call.Cmd)
		}
		if len(c.ready) > 0 && i >= txEnd {
			if i == txEnd {
				c.Now = max(c.Now, time.Now().UnixMilli()) // as Across.End
			}
			c.serveReady()
		}
		done := Clock()
		s.count(&call.Cmd.Spec, call.Args, max(done-began, 0), c.Out[start:], call.Waiter, b.Client, c.DB, false)
		began = done
		b.Ends = append(b.Ends, len(c.Out))
		n++
		if b.OutCap > 0 && len(c.Out) >= b.OutCap && i >= txEnd {
			break // the rest in the next run (see OutCap)
		}
	}
	s.Processed += uint64(n)
	b.Gates = c.gates
	b.Logged = 0
	if jl != nil {
		for jl.depth > 0 { // a transaction cut short (OutCap never cuts one)
			jl.end()
		}
		b.Logged = s.handJournal()
	}
	if len(s.written) > 0 {
		s.settleAccounts()
	}
	s.publishMem() // the next batch evicts what this one wrote, if over
	s.publishChanges()
	s.readStats, s.writeCall = false, false
	s.stamp = 0
	s.flushEvents()
	s.trk.cur = nil
	s.trk.settle()
	b.Out = c.Out
	*c = Ctx{}
}

// RunAcross runs cmd with every shard in shards available, for a command
// whose keys live on several shards. shards is indexed by shard ID; only the
// owners of the command's keys need be present. The caller must own them
// all (see Loan). The reply is appended to out.
func RunAcross(shards []*Shard, cmd *Command, args [][]byte, w *Waiter, db int, proto wire.Proto, now int64, out []byte) []byte {
	var a Across
	a.Begin(shards, now)
	out = a.Run(cmd, args, w, nil, db, proto, out)
	a.End()
	return out
}

// Across runs several commands, one after another, on borrowed shards: a
// command that spans shards, or a whole transaction. Blocked clients are
// served once, by End, after the last command. A zero Across is ready for
// Begin and may be reused.
type Across struct {
	c      Ctx
	n      int
	events []Event // keyspace events of the run, in order
	on     bool    // between Begin and End
	gates  []chan struct{}
	// jl records the run's writes, one unit for the whole run, while
	// journal (of the shards) is on (journal.go).
	jl      jlog
	journal *Journal

	// Stamp is when the connection received the run's commands (Unix ns,
	// 0 if unknown), set before Begin (see Batch.Stamp).
	Stamp int64
	// quiet runs a command that is no call of its own (see Delete).
	quiet bool
	// KeepExpired, set before Begin, applies commands as an AOF load or a
	// replica does: nothing expires during the run (Shard.keepExpired).
	KeepExpired bool
	// NoJournal, set before Begin, records nothing of the run in the
	// journal: commands that come from it (an AOF being loaded).
	NoJournal bool
	// Single, set before Begin, says the run is one command a client sent
	// on its own (not EXEC, not a script), for the journal's wrapping.
	Single bool
	// Script, set before Begin, says that a script runs the commands
	// (Redis's CLIENT_SCRIPT): the few commands that reply differently
	// to scripts look at Ctx.script.
	Script bool
	// Client, set before Begin, is who sent the commands, for SLOWLOG.
	Client *Client
	// Track and Remember, set before Begin, are the caller's tracker and
	// whether the keys its read-only commands read are remembered (see
	// Call). A script's read remembers ScriptKeys, the keys declared to
	// it, as in Redis.
	Track      *Tracker
	Remember   bool
	ScriptKeys [][]byte
}

// Active reports whether a run has begun and not ended: a recovery from a
// panic must then call End before it gives the shards back.
func (a *Across) Active() bool { return a.on }

// Begin starts a run on shards (indexed by ID; only those the commands
// need are present), which the caller must own. now is the time the whole
// run sees.
func (a *Across) Begin(shards []*Shard, now int64) {
	a.c = Ctx{NumShards: len(shards), Now: now, shards: shards, ready: a.c.ready[:0], stamp: a.Stamp, script: a.Script}
	a.n = 0
	a.on = true
	a.journal = nil
	a.gates = nil
	for _, s := range shards {
		if s != nil && s.journal.On() && !a.NoJournal {
			a.journal = s.journal
			a.jl.startDB = -1
			a.jl.direct = a.Single
			a.jl.begin()
			break
		}
	}
	for _, s := range shards {
		if s != nil {
			s.keepExpired = a.KeepExpired
			if a.journal != nil {
				s.jl = &a.jl
			}
			if s.mem != nil && s.mem.limit.Load() > 0 {
				s.evictOver(now)
			}
			s.note.out = &a.events
			s.stamp = a.Stamp
			s.trk.cur = a.Track
		}
	}
}

// Join adds s to a run that has begun: the caller has just borrowed it
// and stored it in the shards slice given to Begin, at its ID.
func (a *Across) Join(s *Shard) {
	s.keepExpired = a.KeepExpired
	if a.journal != nil {
		s.jl = &a.jl
	}
	s.note.out = &a.events
	s.stamp = a.Stamp
	s.trk.cur = a.Track
}

// Run runs one command in database db and appends its reply to out. w is
// the waiter of a blocking command, watch the session of WatchCmd.
func (a *Across) Run(cmd *Command, args [][]byte, w *Waiter, watch *Watch, db int, proto wire.Proto, out []byte) []byte {
	c := &a.c
	c.Args, c.Waiter, c.Watch, c.DB, c.Proto, c.Out = args, w, watch, db, proto, out
	read := cmd.Flags&Write == 0
	for _, s := range c.shards {
		if s != nil {
			s.trk.cur = a.Track // a script's run inside EXEC ended and cleared it
			s.readStats, s.writeCall = read, !read
		}
	}
	start := len(out)
	var pre notePre
	if c.notifyFlags() != 0 && cmd.writes(args) {
		pre = c.beforeWrite(cmd)
	}
	began := Clock()
	c.noChange = false
	if a.journal != nil {
		a.jl.begin()
	}
	cmd.Run(c)
	if cmd.writes(args) {
		c.reaccountKeys(cmd)
		for _, s := range c.shards {
			if s != nil {
				if s.countChange(c, cmd, c.Out[start:]) && a.journal != nil && !a.jl.own {
					a.jl.record(db, args...)
				}
				s.publishChanges()
				break
			}
		}
	}
	if a.journal != nil {
		a.jl.end()
	}
	for _, s := range c.shards {
		if s != nil && !a.quiet {
			s.count(&cmd.Spec, args, Since(began), c.Out[start:], w, a.Client, db, a.Script)
			break
		}
	}
	if pre.on {
		c.afterWrite(cmd, pre, c.Out[start:])
	}
	if a.Remember && cmdTracked(cmd) {
		a.remember(cmd)
	}
	if cmd.writes(args) {
		c.signalWritten(cmd)
		c.touchWritten(cmd, start)
	}
	a.n++
	out = c.Out
	c.Out, c.Args = nil, nil
	return out
}

// End serves the clients blocked on keys that got data during the run and
// counts the commands. The caller then gives the shards back. Should the
// serving panic, the shards are still detached from the run (their
// keyspace events go out again) before the panic goes on.
func (a *Across) End() {
	defer a.finish()
	if c := &a.c; len(c.ready) > 0 {
		// The clients are served after the run, at the time it ended (a
		// DEBUG SLEEP in a transaction may have let a key expire), as
		// Redis serves them after EXEC.
		c.Now = max(c.Now, time.Now().UnixMilli())
		if a.journal != nil {
			// The run's unit ends here: each served waiter's writes are
			// a unit of their own (serveReady).
			for a.jl.depth > 0 {
				a.jl.end()
			}
		}
		c.serveReady()
		a.gates, c.gates = append(a.gates, c.gates...), nil
	}
}

// TakeGates returns the Wake.Done channels of the blocked moves the run
// handed a retry, for its caller to wait on before it replies (see
// Wake.Done); Begin forgets those not taken.
func (a *Across) TakeGates() []chan struct{} {
	g := a.gates
	a.gates = nil
	return g
}

func (a *Across) finish() {
	c := &a.c
	for _, s := range c.shards {
		if s != nil {
			s.Processed += uint64(a.n)
			break
		}
	}
	if a.journal != nil {
		for a.jl.depth > 0 {
			a.jl.end()
		}
		a.jl.handTo(a.journal)
		a.journal = nil
		if cap(a.jl.buf) > acrossLogKeep {
			a.jl.buf = nil // every connection has an Across: see acrossLogKeep
		}
	}
	var sink func([]Event)
	for _, s := range c.shards {
		if s != nil {
			s.jl = nil
			s.keepExpired = false
			s.note.out = nil
			s.stamp = 0
			s.trk.cur = nil
			s.readStats, s.writeCall = false, false
			s.publishMem()
			if s.note.sink != nil {
				sink = s.note.sink
			}
		}
	}
	settleAcross(c.shards)
	a.Track, a.Remember, a.ScriptKeys, a.KeepExpired, a.NoJournal, a.Single = nil, false, nil, false, false, false // set again before each Begin
	if len(a.events) > 0 {
		if sink != nil {
			sink(a.events)
		}
		a.events = nil
	}
	// What the run wrote may have passed maxmemory: evict before the next
	// command, after the run's own events, as Redis does.
	for _, s := range c.shards {
		if s != nil && s.mem != nil && s.mem.limit.Load() > 0 {
			s.evictOver(c.Now)
			s.trk.settle()
		}
	}
	ready := c.ready[:0]
	a.c = Ctx{ready: ready}
	a.on = false
}

// Ctx is what a handler sees: its arguments, the connection's settings,
// the keyspace and the reply buffer.
type Ctx struct {
	keyIdx    []int // reaccountKeys's scratch in a run across shards
	Args      [][]byte
	DB        int
	Proto     wire.Proto
	NumShards int   // shards in the server
	Now       int64 // Unix milliseconds, fixed for the command
	stamp     int64 // when the command arrived (Unix ns, 0 if unknown)
	Out       []byte

	// Waiter is the blocked-client record of a blocking command; nil for
	// other commands and where blocking is not allowed.
	Waiter *Waiter
	// Watch is the connection's watch session, for WatchCmd.
	Watch *Watch

	outLimit int // Batch.OutLimit

	// noChange is set by a write command that found nothing to change
	// where its reply does not tell (SETBIT of the bit it holds): it is
	// then not counted as a change nor seen by WATCH, as in Redis.
	noChange bool

	self   *Shard   // set when running inside one shard's batch
	shards []*Shard // set when running across shards, indexed by ID

	ready []readyKey      // keys with waiters that got data during the command
	gates []chan struct{} // Wake.Done of the retries serveReady handed out
	wake  Wake            // set by a waiter's Pop when it needs more than a reply

	// changed is set by a handler whose keyspace event depends on more
	// than its reply (ZADD: a score changed); cleared by beforeWrite.
	changed bool

	// script: a script runs the command (see Across.Script).
	script bool

	// popEv and popKey are set by a pop that chooses among several keys
	// (BLPOP, LMPOP, BZMPOP, ...): its event and the key it popped from.
	popEv  string
	popKey []byte

	// smoveSame is set by SMOVE when its destination did not change: the
	// member was there already, or the source is the destination.
	// Redis then neither touches it for WATCH nor sends "sadd".
	smoveSame bool
}

// db returns the database that holds key.
func (c *Ctx) db(key []byte) *DB {
	if c.self != nil {
		return &c.self.dbs[c.DB]
	}
	return &c.shards[Owner(key, len(c.shards))].dbs[c.DB]
}

// eachDB calls fn for the current database of every shard the command
// can see: all of them for an AllShards command.
func (c *Ctx) eachDB(fn func(db *DB)) {
	if c.self != nil {
		fn(&c.self.dbs[c.DB])
		return
	}
	for _, s := range c.shards {
		if s != nil {
			fn(&s.dbs[c.DB])
		}
	}
}

// eachShard calls fn for every shard the command can see.
func (c *Ctx) eachShard(fn func(s *Shard)) {
	if c.self != nil {
		fn(c.self)
		return
	}
	for _, s := range c.shards {
		if s != nil {
			fn(s)
		}
	}
}

// Reply helpers.

func (c *Ctx) OK()                 { c.Out = wire.AppendOK(c.Out) }
func (c *Ctx) Error(msg string)    { c.Out = wire.AppendError(c.Out, msg) }
func (c *Ctx) Int(n int64)         { c.Out = wire.AppendInt(c.Out, n) }
func (c *Ctx) Bulk(b []byte)       { c.Out = wire.AppendBulk(c.Out, b) }
func (c *Ctx) BulkString(s string) { c.Out = wire.AppendBulkString(c.Out, s) }
func (c *Ctx) Simple(s string)     { c.Out = wire.AppendSimple(c.Out, s) }
func (c *Ctx) Null()               { c.Out = wire.AppendNull(c.Out, c.Proto) }
func (c *Ctx) NullArray()          { c.Out = wire.AppendNullArray(c.Out, c.Proto) }
func (c *Ctx) Array(n int)         { c.Out = wire.AppendArray(c.Out, n) }
func (c *Ctx) Map(n int)           { c.Out = wire.AppendMap(c.Out, n, c.Proto) }
func (c *Ctx) Set(n int)           { c.Out = wire.AppendSet(c.Out, n, c.Proto) }
func (c *Ctx) Double(f float64)    { c.Out = wire.AppendDouble(c.Out, f, c.Proto) }
func (c *Ctx) Bool(v bool)         { c.Out = wire.AppendBool(c.Out, v, c.Proto) }
func (c *Ctx) ArityError()         { c.Error(ErrArity(c.name())) }

// name returns the command name as Redis spells it in errors: lower case.
func (c *Ctx) name() string {
	if len(c.Args) == 0 {
		return ""
	}
	if cmd := lookupFold(c.Args[0]); cmd != nil {
		return cmd.Name
	}
	return string(c.Args[0])
}

// lookupFold finds a command by name in any letter case without allocating.
func lookupFold(name []byte) *Command {
	var buf [32]byte
	if len(name) > len(buf) {
		return nil
	}
	for i, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	return table[string(buf[:len(name)])]
}

// OutFull reports whether the reply passed the client's output limit
// (Batch.OutLimit): a command drawing a reply of unbounded size stops.
func (c *Ctx) OutFull() bool { return c.outLimit > 0 && len(c.Out) > c.outLimit }
