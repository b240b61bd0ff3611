package conn

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// CLIENT PAUSE and CLIENT UNPAUSE. While a pause lasts, a client whose
// next command it covers (every command for ALL; for WRITE those that may
// write or replicate, EXEC of a transaction holding one, scripts that may
// write) waits, counted in blocked_clients, and runs the command when the
// pause ends; commands queued in MULTI are not held, only EXEC. While any
// pause lasts the shards neither expire keys in the background nor delete
// the expired keys they read (they answer as if the keys were gone), as
// Redis keeps the dataset still for a failover.

// pauseState is one pause; a new CLIENT PAUSE merges into it (the stricter
// mode, the later end) and replaces it, closing changed.
type pauseState struct {
	all     bool
	until   time.Time
	changed chan struct{}
}

type pauser struct {
	mu  sync.Mutex
	cur atomic.Pointer[pauseState] // nil: no pause
}

// pause starts or extends a pause until the given time.
func (s *Server) pause(all bool, until time.Time) {
	p := &s.paused
	p.mu.Lock()
	defer p.mu.Unlock()
	next := &pauseState{all: all, until: until, changed: make(chan struct{})}
	if old := p.cur.Load(); old != nil {
		next.all = next.all || old.all
		if old.until.After(next.until) {
			next.until = old.until
		}
		close(old.changed)
	}
	p.cur.Store(next)
	s.setShardsPaused(true)
}

// unpause ends the pause, if any.
func (s *Server) unpause() {
	p := &s.paused
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.cur.Load(); old != nil {
		p.cur.Store(nil)
		close(old.changed)
	}
	s.setShardsPaused(false)
}

// activePause returns the pause in force now, ending one whose time has
// come.
func (s *Server) activePause() *pauseState {
	cur := s.paused.cur.Load()
	if cur == nil || time.Now().Before(cur.until) {
		return cur
	}
	p := &s.paused
	p.mu.Lock()
	if p.cur.Load() == cur {
		p.cur.Store(nil)
		close(cur.changed)
		s.setShardsPaused(false)
	}
	p.mu.Unlock()
	return nil
}

func (s *Server) setShardsPaused(on bool) { s.setPauseExpiry(on) } // replica.go: a replica holds expiry too

// holdForPause makes the command wait while a pause covers it. It reports
// false when the wait ended without the command to run: the client hung
// up or the server is stopping. args are copied first when it waits (the
// socket watcher refills the buffer they point into).
func (c *client) holdForPause(e *entry, args [][]byte) ([][]byte, bool) {
	p := c.srv.activePause()
	if p == nil || !c.pausedBy(p, e, args) {
		return args, true
	}
	if c.inHold {
		// The pause began after quick let the command into holdReads:
		// it waits in serve's loop instead, where its socket watcher
		// may read (inside the hold, its reads would never wait).
		c.putBack = true
		c.commands--
		return args, false
	}
	c.settle() // replies before this one go out before it waits
	args = cloneArgs(args)
	c.publishInfo()
	if c.write() != nil {
		c.closeAfter = true
		return args, false
	}
	c.block.paused.Store(true)
	_, gone, leave := c.beginBlockedWait(time.Time{}, nil)
	defer func() {
		leave()
		c.block.paused.Store(false)
	}()
	for p != nil && c.pausedBy(p, e, args) {
		t := time.NewTimer(time.Until(p.until))
		select {
		case <-p.changed:
		case <-t.C:
		case err := <-gone:
			t.Stop()
			if err == nil { // the watcher stopped reading: wait on without it
				gone = nil
				break
			}
			c.readFailed(err)
			c.closeAfter = true
			return args, false
		case <-c.srv.stopping:
			t.Stop()
			c.closeAfter = true
			return args, false
		}
		t.Stop()
		p = c.srv.activePause()
	}
	return args, true
}

// pausedBy reports whether pause p holds the command.
func (c *client) pausedBy(p *pauseState, e *entry, args [][]byte) bool {
	return p.all || c.mayReplicate(e, args)
}

// mayReplicate reports whether Redis counts the command as one that may
// write or replicate, for CLIENT PAUSE WRITE.
func (c *client) mayReplicate(e *entry, args [][]byte) bool {
	spec := e.spec
	if len(spec.Subcommands) > 0 && len(args) > 1 {
		if spec = subSpec(e.spec, args[1]); spec == nil {
			return false
		}
	}
	switch spec.Name {
	case "eval_ro", "evalsha_ro", "fcall_ro":
		return false
	case "eval", "evalsha", "fcall":
		// A script may write unless its flags say no-writes.
		return !c.declaredNoWrites(spec.Name, args)
	case "exec":
		if !c.tx.on {
			return false
		}
		for _, tc := range c.tx.calls {
			if c.mayReplicate(tc.e, c.txArgs(tc)) {
				return true
			}
		}
		return false
	}
	return spec.Flags&(shard.Write|shard.MayReplicate) != 0
}

// declaredNoWrites reports whether an EVAL, EVALSHA or FCALL names a
// script (with a shebang) or function that declares no-writes.
func (c *client) declaredNoWrites(name string, args [][]byte) bool {
	eng := &c.srv.scripts
	switch name {
	case "fcall":
		f := eng.Function(string(args[1]))
		return f != nil && f.NoWrites()
	case "evalsha":
		s := eng.Get(string(args[1]))
		return s != nil && s.Flags().Shebang && s.Flags().NoWrites
	}
	if s := eng.Get(script.SHA1Hex(string(args[1]))); s != nil {
		return s.Flags().Shebang && s.Flags().NoWrites
	}
	f, _, msg := script.ParseShebang(string(args[1]))
	return msg == "" && f.Shebang && f.NoWrites
}

func cmdClientPause(c *client, args [][]byte) {
	if len(args) > 4 {
		c.replyError("ERR unknown subcommand or wrong number of arguments for '" +
			string(cString(args[1], 128)) + "'. Try CLIENT HELP.")
		return
	}
	all := true
	if len(args) == 4 {
		switch {
		case equalFold(args[3], "write"):
			all = false
		case equalFold(args[3], "all"):
		default:
			c.replyError("ERR CLIENT PAUSE mode must be WRITE or ALL")
			return
		}
	}
	ms, ok := wire.ParseInt(args[2])
	if !ok {
		c.replyError("ERR timeout is not an integer or out of range")
		return
	}
	if ms < 0 {
		c.replyError("ERR timeout is negative")
		return
	}
	until := time.Now()
	if ms > 0 {
		until = until.Add(time.Duration(min(ms, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond)
	}
	c.srv.pause(all, until)
	c.replyOK()
}

func cmdClientUnpause(c *client, args [][]byte) {
	c.srv.unpause()
	c.replyOK()
}
