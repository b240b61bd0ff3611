package conn

import (
	"runtime/debug"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Scripting lives in package conn/script. The connection gives a script
// what it needs through script.Host, implemented here on the client:
// the command table, the shards it has borrowed (and borrowing more),
// the command and error stats, and the server's state.

// scriptEngine is the server's script engine (Server.scripts).
type scriptEngine struct{ script.Engine }

func (e *scriptEngine) counts() (scripts, funcs, libs int) { return e.Counts() }
func (e *scriptEngine) stopAll()                           { e.StopAll() }

// scriptHost is a client as the script engine sees it.
type scriptHost client

var _ script.Host = (*scriptHost)(nil)

func (h *scriptHost) Command(args [][]byte) script.Command {
	e := lookup(args[0])
	if e == nil {
		return script.Command{}
	}
	spec := e.spec
	if len(spec.Subcommands) > 0 && len(args) > 1 {
		if spec = subSpec(e.spec, args[1]); spec == nil {
			return script.Command{}
		}
	}
	cmd := script.Command{Kind: script.Local, Spec: spec, Ref: e}
	switch {
	case e.data != nil:
		cmd.Kind, cmd.Data = script.Data, e.data
	case e.direct != nil || e.txControl:
		cmd.Kind = script.Denied
	case e.spec.Name == "select":
	case e.barrier && !h.srv.scriptDenyOff.Load():
		// With DEBUG SET-DISABLE-DENY-SCRIPTS 1 they run as Local ones
		// (Redis's tests call CLIENT LIST and DEBUG from scripts so).
		cmd.Kind = script.Barrier
	}
	if spec.Flags&shard.NoScript != 0 && cmd.Kind != script.Denied && h.srv.scriptDenyOff.Load() {
		// DEBUG SET-DISABLE-DENY-SCRIPTS 1: Redis then lets scripts call
		// commands flagged noscript.
		s := *spec
		s.Flags &^= shard.NoScript
		cmd.Spec = &s
	}
	return cmd
}

func (h *scriptHost) Denied(cmd script.Command, args [][]byte) string {
	c := (*client)(h)
	if c.user.st.Load().free {
		return ""
	}
	return c.scriptDenied(cmd.Ref.(*entry), args)
}

func (h *scriptHost) Allows(cmd script.Command, args [][]byte) bool {
	st := h.user.st.Load()
	if st.free {
		return true
	}
	call := aclCall{e: cmd.Ref.(*entry), spec: cmd.Ref.(*entry).spec, args: args}
	if !aclResolve(&call) {
		return true
	}
	res, _ := st.check(&call)
	return res == aclOK
}

func (h *scriptHost) Rejected(cmd script.Command, args [][]byte) {
	(*client)(h).countRejected(cmd.Ref.(*entry), args)
}

func (h *scriptHost) Local(cmd script.Command, args [][]byte, db *int, proto wire.Proto, out []byte) (reply []byte) {
	c := (*client)(h)
	e := cmd.Ref.(*entry)
	began := shard.Clock()
	if e.spec.Name == "select" { // the script's database, not the connection's
		n, ok := wire.ParseInt(args[1])
		switch {
		case !ok:
			c.countLocalRun(e, args, began, true)
			return wire.AppendError(out, shard.ErrNotInt)
		case n < 0 || n >= shard.NumDBs:
			c.countLocalRun(e, args, began, true)
			return wire.AppendError(out, shard.ErrDBIndex)
		}
		*db = int(n)
		out = wire.AppendOK(out)
		c.countLocalRun(e, args, began, false)
		return out
	}
	saved, savedProto, savedDB := c.local, c.proto, c.db
	c.local, c.proto, c.db = out, proto, *db
	defer func() {
		// The connection only lent its state: give it back even when the
		// command panics (a bug), which gopher-lua's PCall would
		// otherwise turn into a Lua error with the connection left in
		// the script's database and protocol. Logged as runData does.
		if p := recover(); p != nil {
			h.Panicked(e.spec.Name, p, debug.Stack())
			reply = wire.AppendError(out, shard.ErrPanicked)
		}
		c.local, c.proto, c.db = saved, savedProto, savedDB
	}()
	e.run(c, args)
	reply = c.local
	c.countLocalRun(e, args, began, len(reply) > 0 && reply[0] == '-')
	return reply
}

func (h *scriptHost) Take(id int, within time.Duration, busySince int64) (*shard.Shard, error) {
	c := (*client)(h)
	w := c.srv.workers[id]
	var s *shard.Shard
	var err error
	if within == 0 {
		s, err = w.Borrow(c.loans[id])
	} else {
		s, err = w.BorrowWithin(c.loans[id], within)
	}
	if err != nil || s == nil {
		return nil, err
	}
	c.borrowed[id] = s
	w.SetBusySince(busySince)
	return s, nil
}

func (h *scriptHost) Busy(ns int64)  { (*client)(h).markBusy(ns) }
func (h *scriptHost) Stopping() bool { return h.srv.life.Err() != nil }

// WritesRefused: MISCONF comes first, as in Redis's
// scriptVerifyWriteCommandAllow.
func (h *scriptHost) WritesRefused() string {
	if (*client)(h).fromAOF {
		return "" // as Redis's AOF client: the file's writes all apply
	}
	switch {
	case h.srv.replicaReadOnly(): // replica.go; first, as in Redis
		return errReadOnlyReplica
	case h.srv.diskError():
		return errMisconf
	case h.srv.aofMisconf() != "":
		return h.srv.aofMisconf()
	case h.srv.noReplicas.Load() && !h.srv.isReplica():
		return errNoReplicas
	}
	return ""
}

// FlushedAll: the script holds every shard (FLUSHALL needs them all).
func (h *scriptHost) FlushedAll() { h.srv.flushedAll((*client)(h).borrowed) }

func (h *scriptHost) CountError(msg string) {
	h.srv.stats.errors.Add(1)
	h.srv.stats.errs.countMsg(msg)
}

func (h *scriptHost) Panicked(cmd string, p any, stack []byte) {
	h.srv.log.Error("command called from a script panicked; replying with an error", "client", h.id, "command", cmd, "panic", p, "stack", string(stack))
}
