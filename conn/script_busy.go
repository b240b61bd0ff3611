package conn

import (
	"time"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// BUSY: a script (EVAL or FCALL) records on the Worker of every shard it
// borrows when it started. A connection about to submit a batch to a
// shard, or to borrow it, loads that stamp (one atomic load); when a
// script has held the shard for longer than busy-reply-threshold ms the
// command is answered with BUSY instead of waiting behind the script.
// Commands that touch no shard (SCRIPT KILL, FUNCTION KILL, PING, ...)
// never wait, so they need no check.

const (
	busyEval     = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
	busyFunction = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
)

func busyMessage(isFunc bool) string {
	if isFunc {
		return busyFunction
	}
	return busyEval
}

// markBusy stamps (ns > 0) or clears (0) the shards c has borrowed.
func (c *client) markBusy(ns int64) {
	for id, s := range c.borrowed {
		if s != nil {
			c.srv.workers[id].SetBusySince(ns)
		}
	}
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
	return c.srv.scripts.busyReply()
}

// busyReply picks the BUSY message for the kind of script running.
func (e *scriptEngine) busyReply() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for r := range e.running {
		if r.isFunc {
			return busyFunction
		}
	}
	return busyEval
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
	for range b.Calls { // no data command has the allow-busy flag
		b.Out = wire.AppendError(b.Out, msg)
		b.Ends = append(b.Ends, len(b.Out))
	}
	return true
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
