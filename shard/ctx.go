package shard

import "github.com/valkyrie-kv/valkyrie/wire"

// Call is one command of a batch.
type Call struct {
	Cmd    *Command
	Args   [][]byte
	Waiter *Waiter // for blocking commands: registered if nothing to pop
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

	answer chan<- *Batch // where the worker sends the batch when done
}

// Reset empties the batch for reuse, keeping its buffers.
func (b *Batch) Reset(db int, proto wire.Proto, shards int) {
	b.DB, b.Proto, b.NumShards = db, proto, shards
	clear(b.Calls) // drop references into the old read buffer
	b.Calls = b.Calls[:0]
	b.Out = b.Out[:0]
	b.Ends = b.Ends[:0]
}

// Reply returns the reply bytes of call i.
func (b *Batch) Reply(i int) []byte {
	start := 0
	if i > 0 {
		start = b.Ends[i-1]
	}
	return b.Out[start:b.Ends[i]]
}

// Exec runs every call of b in order. now is the time in Unix
// milliseconds that the whole batch sees, as Redis caches the time for a
// command.
func (s *Shard) Exec(b *Batch, now int64) {
	c := &s.ctx
	scratch := c.scratch
	*c = Ctx{scratch: scratch, DB: b.DB, Proto: b.Proto, NumShards: b.NumShards, Now: now, Out: b.Out[:0], self: s}
	for i := range b.Calls {
		c.Args, c.Waiter = b.Calls[i].Args, b.Calls[i].Waiter
		b.Calls[i].Cmd.Run(c)
		if len(c.ready) > 0 {
			c.serveReady()
		}
		b.Ends = append(b.Ends, len(c.Out))
	}
	s.Processed += uint64(len(b.Calls))
	b.Out = c.Out
	*c = Ctx{scratch: c.scratch}
}

// RunAcross runs cmd with every shard in shards available, for a command
// whose keys live on several shards. shards is indexed by shard ID; only the
// owners of the command's keys need be present. The caller must own them
// all (see Loan). The reply is appended to out.
func RunAcross(shards []*Shard, cmd *Command, args [][]byte, w *Waiter, db int, proto wire.Proto, now int64, out []byte) []byte {
	c := Ctx{Args: args, DB: db, Proto: proto, NumShards: len(shards), Now: now, Out: out, shards: shards, Waiter: w}
	cmd.Run(&c)
	if len(c.ready) > 0 {
		c.serveReady()
	}
	for _, s := range shards {
		if s != nil {
			s.Processed++
			break
		}
	}
	return c.Out
}

// Ctx is what a handler sees: its arguments, the connection's settings,
// the keyspace and the reply buffer.
type Ctx struct {
	Args      [][]byte
	DB        int
	Proto     wire.Proto
	NumShards int   // shards in the server
	Now       int64 // Unix milliseconds, fixed for the command
	Out       []byte

	// Waiter is the blocked-client record of a blocking command; nil for
	// other commands and where blocking is not allowed.
	Waiter *Waiter

	self   *Shard   // set when running inside one shard's batch
	shards []*Shard // set when running across shards, indexed by ID

	scratch []byte     // reused by keyValue
	ready   []readyKey // keys with waiters that got data during the command
	wake    Wake       // set by a waiter's Pop when it needs more than a reply
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
