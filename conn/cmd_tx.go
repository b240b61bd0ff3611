package conn

import (
	"strings"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/osmem"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Transactions: MULTI queues commands on the connection, EXEC runs them
// atomically. A transaction whose keys (and watched keys) all live on one
// shard joins that shard's batch as one marked run of calls, which the
// shard executes without interleaving; any other borrows every shard it
// needs in ascending order and runs the commands here, as a command
// spanning shards does. See "Transactions" in the README.

func init() {
	const txFlags = shard.NoScript | shard.Loading | shard.Stale
	registerLocal(
		&localCommand{Spec: shard.Spec{Name: "multi", Arity: 1, Flags: txFlags | Fast | shard.AllowBusy,
			Group: "transactions", Since: "1.2.0", Summary: "Starts a transaction.", Complexity: "O(1)"},
			run: cmdMulti, txControl: true},
		&localCommand{Spec: shard.Spec{Name: "exec", Arity: 1, Flags: txFlags | shard.SkipSlowlog,
			Group: "transactions", Since: "1.2.0", Summary: "Executes all commands in a transaction.",
			Complexity: "Depends on commands in the transaction"},
			direct: cmdExec, txControl: true},
		&localCommand{Spec: shard.Spec{Name: "discard", Arity: 1, Flags: txFlags | Fast | shard.AllowBusy,
			Group: "transactions", Since: "2.0.0", Summary: "Discards a transaction.",
			Complexity: "O(N), when N is the number of queued commands"},
			run: cmdDiscard, txControl: true},
		&localCommand{Spec: shard.Spec{Name: "watch", Arity: -2, Flags: txFlags | Fast | shard.AllowBusy,
			FirstKey: 1, LastKey: -1, Step: 1,
			Group: "transactions", Since: "2.2.0", Summary: "Monitors changes to keys to determine the execution of a transaction.",
			Complexity: "O(1) for every key.", Syntax: "key [key ...]"},
			direct: cmdWatch, txControl: true},
		&localCommand{Spec: shard.Spec{Name: "unwatch", Arity: 1, Flags: txFlags | Fast | shard.AllowBusy,
			Group: "transactions", Since: "2.2.0", Summary: "Forgets about watched keys of a transaction.",
			Complexity: "O(1)"},
			run: cmdUnwatch},
	)
}

// txState is a connection's MULTI and WATCH state.
type txState struct {
	on      bool // inside MULTI
	aborted bool // a command was refused while queueing: EXEC aborts
	execing bool // running a transaction's commands

	calls []txCall
	buf   []byte   // arena holding the queued arguments' bytes
	args  [][]byte // arena of the queued argument lists

	watch       *shard.Watch   // current WATCH session, or nil
	watchShards []int          // owners of the watched keys
	watchKeys   [][]byte       // the watched keys (copies) ...
	watchDBs    []int          // ... and their databases
	finish      []*shard.Watch // sessions to end once the segment settles
	across      shard.Across

	// denied: for the EXEC being run, the error of each queued command
	// that the user's permissions, changed since it was queued, now
	// refuse ("" for the others); nil when none is refused.
	denied []string
}

// txCall is one queued command; its arguments are args[start:end].
type txCall struct {
	e          *entry
	start, end int
}

func (c *client) txArgs(tc txCall) [][]byte { return c.tx.args[tc.start:tc.end] }

// queue handles a command sent inside MULTI: it checks it as Redis does
// and queues a copy of it, since the read buffer will be reused.
func (c *client) queue(e *entry, args [][]byte) {
	if e == nil {
		c.last = nil
		c.tx.aborted = true
		c.replyLocal(func() { c.local = wire.AppendError(c.local, unknownCommand(args)) })
		return
	}
	c.last = e.spec
	if !e.arityOK(len(args)) {
		c.tx.aborted = true
		c.countRejected(e, args)
		c.replyLocal(func() { c.local = wire.AppendError(c.local, shard.ErrArity(e.spec.Name)) })
		return
	}
	if msg := subcommandError(e.spec, args); msg != "" {
		c.tx.aborted = true
		c.countRejected(e, args)
		c.replyLocal(func() { c.replyError(msg) })
		return
	}
	if e.spec.Flags&shard.NoMulti != 0 {
		c.tx.aborted = true
		c.countRejected(e, args)
		c.replyLocal(func() { c.replyError("ERR Command not allowed inside a transaction") })
		return
	}
	start := len(c.tx.args)
	for _, a := range args {
		off := len(c.tx.buf)
		c.tx.buf = append(c.tx.buf, a...)
		c.tx.args = append(c.tx.args, c.tx.buf[off:len(c.tx.buf):len(c.tx.buf)])
	}
	c.tx.calls = append(c.tx.calls, txCall{e: e, start: start, end: len(c.tx.args)})
	c.replyLocal(func() { c.replySimple("QUEUED") })
}

// subcommandError checks the subcommand of a container command (CONFIG
// GET, OBJECT ENCODING, ...) as Redis does before queueing it, and returns
// the error to reply, or "".
func subcommandError(spec *shard.Spec, args [][]byte) string {
	if len(spec.Subcommands) == 0 || len(args) < 2 {
		return ""
	}
	for _, sub := range spec.Subcommands {
		name := sub.Name[len(spec.Name)+1:]
		if !equalFold(args[1], name) {
			continue
		}
		if a := sub.Arity; !(a == len(args) || (a < 0 && len(args) >= -a)) {
			return shard.ErrArity(sub.Name)
		}
		return ""
	}
	return "ERR unknown subcommand '" + string(cString(args[1], 128)) + "'. Try " + strings.ToUpper(string(args[0])) + " HELP."
}

func cmdMulti(c *client, args [][]byte) {
	if c.tx.on {
		c.replyError("ERR MULTI calls can not be nested")
		return
	}
	c.tx.on, c.tx.aborted = true, false
	c.replyOK()
}

func cmdDiscard(c *client, args [][]byte) {
	if !c.tx.on {
		c.replyError("ERR DISCARD without MULTI")
		return
	}
	c.discardTx()
	c.unwatch()
	c.replyOK()
}

func cmdUnwatch(c *client, args [][]byte) {
	c.unwatch()
	c.replyOK()
}

// discardTx leaves MULTI and forgets the queued commands. The argument
// arena is reused once the segment has settled.
func (c *client) discardTx() {
	c.tx.on, c.tx.aborted = false, false
	c.tx.calls = c.tx.calls[:0]
}

// unwatch ends the WATCH session, if any.
func (c *client) unwatch() {
	if c.tx.watch != nil {
		c.tx.watch.Done()
		c.tx.watch = nil
		c.tx.watchShards = c.tx.watchShards[:0]
		c.tx.watchKeys = nil // a settling batch may still read the old list
		c.tx.watchDBs = c.tx.watchDBs[:0]
	}
}

// txSettled runs after every settled segment: the shards are done with
// the queued arguments and with the sessions that single-shard EXECs
// checked.
func (c *client) txSettled() {
	for i, w := range c.tx.finish {
		w.Done()
		c.tx.finish[i] = nil
	}
	c.tx.finish = c.tx.finish[:0]
	if !c.tx.on && len(c.tx.calls) == 0 {
		if cap(c.tx.buf) > osmem.Keep {
			osmem.Released(cap(c.tx.buf))
			c.tx.buf = nil
		}
		if cap(c.tx.args) > keepSlots {
			c.tx.args = nil
		}
		if cap(c.tx.calls) > keepSlots {
			c.tx.calls = nil
		}
		c.tx.buf = c.tx.buf[:0]
		clear(c.tx.args)
		c.tx.args = c.tx.args[:0]
	}
}

func cmdWatch(c *client, args [][]byte) {
	if c.tx.on {
		c.replyLocal(func() { c.replyError("ERR WATCH inside MULTI is not allowed") })
		return
	}
	if c.tx.watch == nil {
		c.tx.watch = shard.NewWatch()
	}
	n := len(c.batches)
	for _, k := range args[1:] {
		c.tx.watchKeys = append(c.tx.watchKeys, append([]byte(nil), k...))
		c.tx.watchDBs = append(c.tx.watchDBs, c.db)
		o := shard.Owner(k, n)
		seen := false
		for _, s := range c.tx.watchShards {
			if s == o {
				seen = true
				break
			}
		}
		if !seen {
			c.tx.watchShards = append(c.tx.watchShards, o)
		}
	}
	c.route(shard.WatchCmd, args, nil)
}

// cmdExec runs the queued commands, or replies why it cannot.
func cmdExec(c *client, args [][]byte) {
	if !c.tx.on {
		c.replyLocal(func() { c.replyError("ERR EXEC without MULTI") })
		return
	}
	if c.tx.aborted {
		c.discardTx()
		c.unwatch()
		c.replyLocal(func() { c.replyError("EXECABORT Transaction discarded because of previous errors.") })
		return
	}
	c.tx.denied = nil
	if st := c.user.st.Load(); !st.free {
		c.tx.denied = c.execDenials(st)
	}
	id, one := c.txShard()
	if c.tx.denied != nil {
		one = false // the refused commands' errors are made here
	}
	var busy string // BUSY hook (script_busy.go)
	if one {
		busy = c.busyShard(id)
	} else {
		c.txWant()
		busy = c.busyWanted()
	}
	if busy != "" {
		// Redis rejects EXEC itself while a script is busy, which aborts
		// the transaction (execCommandAbort).
		c.discardTx()
		c.unwatch()
		c.replyLocal(func() {
			c.replyError("EXECABORT Transaction discarded because of: " + busy)
		})
		return
	}
	c.tx.on = false
	if one {
		c.execBatch(id)
	} else {
		c.execAcross()
	}
	c.tx.calls = c.tx.calls[:0]
}

// callShard returns the shard a queued data command would be routed to,
// -1 when it has no keys (any shard will do), or ok false when it needs
// several shards.
func (c *client) callShard(cmd *shard.Command, args [][]byte) (id int, ok bool) {
	n := len(c.batches)
	if cmd.Flags&shard.AllShards != 0 || (cmd.NeedsAllShards != nil && cmd.NeedsAllShards(args)) {
		return 0, false
	}
	if cmd.Route != nil {
		return cmd.Route(args, n), true
	}
	c.keys = cmd.KeyIndexes(args, c.keys[:0])
	id = -1
	for _, k := range c.keys {
		o := shard.Owner(args[k], n)
		if id >= 0 && o != id {
			return 0, false
		}
		id = o
	}
	return id, true
}

// txShard reports the one shard that can run the whole transaction as a
// batch: every command is a data command, and they and the watched keys
// all live on that shard.
func (c *client) txShard() (int, bool) {
	if len(c.tx.calls) == 0 {
		return 0, false
	}
	id := -1
	for _, tc := range c.tx.calls {
		if tc.e.data == nil {
			return 0, false
		}
		o, ok := c.callShard(tc.e.data, c.txArgs(tc))
		if !ok {
			return 0, false
		}
		if o >= 0 {
			if id >= 0 && o != id {
				return 0, false
			}
			id = o
		}
	}
	for _, o := range c.tx.watchShards {
		if id >= 0 && o != id {
			return 0, false
		}
		id = o
	}
	for _, db := range c.tx.watchDBs {
		if db != c.db {
			return 0, false
		}
	}
	if id < 0 {
		id = 0
	}
	if len(c.batches) == 1 {
		id = 0
	}
	return id, true
}

// execBatch appends the transaction to shard id's batch as a marker call
// followed by its commands; the shard checks the watch and runs them in
// one go. It costs what the same commands pipelined cost, plus the marker.
func (c *client) execBatch(id int) {
	b := c.batches[id]
	if len(b.Calls) == 0 {
		b.Begin(c.db, c.proto, len(c.batches))
		b.Stamp = c.readAt
		b.Client = &c.ident
		c.queued = append(c.queued, id)
	}
	mute := c.muted()
	b.Calls = append(b.Calls, shard.Call{Watch: c.tx.watch, Tx: len(c.tx.calls), Args: c.tx.watchKeys})
	c.order = append(c.order, slot{shard: int32(id), index: int32(len(b.Calls) - 1), mute: mute})
	track, remember := c.tracker() // as execAcross's run has them
	for _, tc := range c.tx.calls {
		b.Calls = append(b.Calls, shard.Call{Cmd: tc.e.data, Args: c.txArgs(tc), Track: track, Remember: remember})
		c.order = append(c.order, slot{shard: int32(id), index: int32(len(b.Calls) - 1), mute: mute})
	}
	if c.tx.watch != nil {
		// The shard still has to check it: end it once the batch is back.
		c.tx.finish = append(c.tx.finish, c.tx.watch)
		c.tx.watch = nil
		c.tx.watchShards = c.tx.watchShards[:0]
		c.tx.watchKeys = nil // a settling batch may still read the old list
		c.tx.watchDBs = c.tx.watchDBs[:0]
	}
}

// txWant marks in c.want every shard the queued transaction touches and
// the owners of the watched keys.
func (c *client) txWant() {
	want := c.want
	clear(want)
	for _, tc := range c.tx.calls {
		if tc.e.data == nil {
			if tc.e.spec.Flags&shard.AllShards != 0 {
				// INFO and EVAL reach shards themselves; holding some and
				// borrowing the rest would break the ascending order, so
				// take them all.
				for i := range want {
					want[i] = true
				}
			}
			continue
		}
		o, ok := c.callShard(tc.e.data, c.txArgs(tc))
		switch {
		case !ok:
			for i := range want {
				want[i] = true
			}
		case o >= 0:
			want[o] = true
		default:
			want[0] = true
		}
	}
	for _, o := range c.tx.watchShards {
		want[o] = true
	}
}

// execAcross borrows, in ascending order, every shard the transaction
// touches (and those of the watched keys), checks the watch, runs every
// queued command in order, serves blocked clients once, and gives the
// shards back.
func (c *client) execAcross() {
	c.settle()
	c.txWant()
	ok := c.borrow()
	if ok {
		now := time.Now().UnixMilli()
		for i, k := range c.tx.watchKeys {
			shard.ExpireKey(c.borrowed, c.tx.watchDBs[i], k, now)
		}
		if c.tx.watch != nil && c.tx.watch.Dirty() {
			c.local = wire.AppendNullArray(c.local, c.proto)
		} else {
			c.local = wire.AppendArray(c.local, len(c.tx.calls))
			c.tx.execing = true
			a := &c.tx.across
			a.Stamp = c.readAt
			a.Client = &c.ident
			a.Track, a.Remember = c.tracker()
			a.Begin(c.borrowed, now)
			for i, tc := range c.tx.calls {
				args := c.txArgs(tc)
				c.last = tc.e.spec
				start := len(c.local)
				if c.tx.denied != nil && c.tx.denied[i] != "" {
					c.local = wire.AppendError(c.local, c.tx.denied[i])
				} else if tc.e.data != nil {
					c.local = a.Run(tc.e.data, args, nil, nil, c.db, c.proto, c.local)
					if tc.e.spec.Name == "flushall" && flushallArgsOK(args) {
						c.srv.flushedAll(c.borrowed) // as outside EXEC (afterFlushall)
					}
				} else {
					began := shard.Clock()
					tc.e.run(c, args)
					c.countRun(tc.e, args, began, c.local[start:])
					// CLIENT TRACKING or CACHING may have changed what
					// the next reads remember, as in Redis.
					a.Track, a.Remember = c.tracker()
				}
				// The EXEC array is one reply to settle: count the
				// errors inside it here, as a one-shard EXEC's are.
				if r := c.local[start:]; len(r) > 0 && r[0] == '-' && !c.errCounted {
					c.srv.stats.errs.count(r)
					c.srv.stats.errors.Add(1)
				}
				c.errCounted = false
			}
			a.End()
			c.tx.execing = false
		}
	}
	c.tx.denied = nil
	c.giveBack()
	c.unwatch()
	if !ok {
		c.closeAfter = true
		return
	}
	c.ends = append(c.ends, len(c.local))
	c.order = append(c.order, slot{shard: -1, index: int32(len(c.ends) - 1), mute: c.muted()})
}
