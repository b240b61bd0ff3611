package conn

import (
	"strconv"
	"time"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// BUSY: a script (EVAL or FCALL) records on the Worker of every shard it
// borrows when it started. A connection about to submit a batch to a
// shard, or to borrow it, loads that stamp (one atomic load); when a
// script has held the shard for longer than busy-reply-threshold ms the
// command is answered with BUSY instead of waiting behind the script.
// Commands that touch no shard (SCRIPT KILL, FUNCTION KILL, PING, ...)
// never wait, so they need no check.

// markBusy stamps (ns > 0) or clears (0) the shards c has borrowed. A
// script still running after busy-reply-threshold is logged once, as
// Redis logs it.
func (c *client) markBusy(ns int64) {
	for id, s := range c.borrowed {
		if s != nil {
			c.srv.workers[id].SetBusySince(ns)
		}
	}
	if ns == 0 {
		if c.slowScript != nil {
			c.slowScript.Stop()
		}
		return
	}
	limit := c.busyLimit()
	if limit <= 0 {
		return
	}
	// One timer per connection, reset for each script: a script run
	// allocates nothing for it.
	if c.slowScript == nil {
		srv := c.srv
		c.slowScript = time.AfterFunc(limit, func() {
			srv.log.Warn("Slow script detected: still in execution after " + strconv.FormatInt(srv.cfg.Int("busy-reply-threshold"), 10) +
				" milliseconds. You can try killing the script using the SCRIPT KILL or FUNCTION KILL command.")
		})
		return
	}
	c.slowScript.Reset(limit)
}

// busyShard returns the BUSY reply if a script has held shard id for too
// long, or "".
func (c *client) busyShard(id int) string {
	since := c.srv.workers[id].BusySince()
	if since == 0 {
		return ""
	}
	limit := c.srv.cfg.Int("busy-reply-threshold")
	if time.Now().UnixNano()-since < limit*int64(time.Millisecond) {
		return ""
	}
	return c.srv.scripts.BusyReply()
}

// busyWanted returns the BUSY reply if one of the shards in c.want is held
// by a slow script, or "".
func (c *client) busyWanted() string {
	for id, w := range c.want {
		if w {
			if msg := c.busyShard(id); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// busyBatch answers every call of shard id's batch with BUSY, without
// running it, if a slow script holds the shard. It reports whether it did.
func (c *client) busyBatch(id int) bool {
	msg := c.busyShard(id)
	if msg == "" {
		return false
	}
	b := c.batches[id]
	for len(b.Ends) < len(b.Calls) { // no data command has the allow-busy flag
		b.Out = wire.AppendError(b.Out, msg)
		b.Ends = append(b.Ends, len(b.Out))
	}
	return true
}

// busyLimit returns busy-reply-threshold.
func (c *client) busyLimit() time.Duration {
	return time.Duration(c.srv.cfg.Int("busy-reply-threshold")) * time.Millisecond
}

// busyGate answers a command with BUSY, and reports true, when a script
// has run past busy-reply-threshold and the command is not one Redis
// allows meanwhile (SCRIPT KILL, FUNCTION KILL, SHUTDOWN, MULTI, ...).
// Inside MULTI the refusal also makes EXEC fail, as in Redis.
func (c *client) busyGate(e *entry, args [][]byte) bool {
	if c.srv.scripts.Running() == 0 || allowedWhileBusy(e, args) {
		return false
	}
	msg := c.srv.scripts.TimedOut(c.busyLimit())
	if msg == "" {
		return false
	}
	c.reject(e, args, msg)
	return true
}

// reject refuses a command before it runs (BUSY, NOREPLICAS), as Redis's
// rejectCommand does: inside MULTI the refusal makes EXEC fail, and EXEC
// itself aborts the transaction (execCommandAbort), in MULTI or not.
func (c *client) reject(e *entry, args [][]byte, msg string) {
	c.countRejected(e, args)
	if e.spec.Name == "exec" {
		c.discardTx()
		c.unwatch()
		msg = "EXECABORT Transaction discarded because of: " + msg
	} else if c.tx.on {
		c.tx.aborted = true
	}
	c.replyLocal(func() { c.local = wire.AppendError(c.local, msg) })
}

// allowedWhileBusy reports whether the command (or its subcommand) has
// Redis's allow-busy flag.
func allowedWhileBusy(e *entry, args [][]byte) bool {
	if e.spec.Flags&shard.AllowBusy != 0 {
		return true
	}
	if len(e.spec.Subcommands) == 0 || len(args) < 2 {
		return false
	}
	for _, sub := range e.spec.Subcommands {
		if equalFold(args[1], sub.Name[len(e.spec.Name)+1:]) {
			return sub.Flags&shard.AllowBusy != 0
		}
	}
	return false
}

// busyAny returns the BUSY reply if a script has held any shard for too
// long, or "": SHUTDOWN then needs NOSAVE, as in Redis.
func (c *client) busyAny() string {
	for id := range c.srv.workers {
		if msg := c.busyShard(id); msg != "" {
			return msg
		}
	}
	return ""
}
