package conn

import (
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
)

// min-replicas-to-write: with it (and min-replicas-max-lag) above zero a
// master refuses writes while fewer replicas are good: online, and heard
// from (an ACK, sent every second) within min-replicas-max-lag seconds.
// It refuses write commands, scripts that may write (a shebang without
// no-writes, a function without no-writes), and EXEC of a transaction that
// queued one. A script in compatibility mode (no shebang) runs and fails
// at its first write (redis.call, in package conn/script). Read-only
// commands still work. A replica ignores the setting.

const errNoReplicas = script.ErrNoReplicas

// watchMinReplicas keeps s.noReplicas up to date with the two parameters.
func (s *Server) watchMinReplicas() {
	update := func(string) { s.refreshGoodReplicas() }
	update("")
	s.cfg.OnChange("min-replicas-to-write", update)
	s.cfg.OnChange("min-replicas-max-lag", update)
}

// refreshGoodReplicas counts the good replicas (min_slaves_good_slaves)
// and sets noReplicas from it, as Redis's refreshGoodSlavesCount: when
// either parameter changes, a replica comes online, acknowledges or goes,
// and every second.
func (s *Server) refreshGoodReplicas() {
	s.goodMu.Lock() // the last of two concurrent counts stores last
	defer s.goodMu.Unlock()
	toWrite, maxLag := s.cfg.Int("min-replicas-to-write"), s.cfg.Int("min-replicas-max-lag")
	good := int64(0)
	now := time.Now().Unix()
	for _, r := range s.replicasNow() {
		if r.state.Load() == &stateOnline && now-r.ackTime.Load() <= maxLag {
			good++
		}
	}
	s.goodReplicas.Store(good)
	s.noReplicas.Store(toWrite > 0 && maxLag > 0 && good < toWrite)
}

// refuseWrite answers a write command with NOREPLICAS and reports true.
// It runs only while s.noReplicas is set, where Redis's processCommand
// checks: after the command's name and arity, before everything else
// Valkyrie checks (BUSY, RESP2 subscribed mode) and before MULTI queues
// the command. Inside MULTI the refusal makes EXEC fail; a refused EXEC
// aborts the transaction.
func (c *client) refuseWrite(e *entry, args [][]byte) bool {
	if !e.arityOK(len(args)) || !c.writes(e, args) {
		return false
	}
	c.last = e.spec
	c.reject(e, args, errNoReplicas)
	return true
}

// writes reports whether Redis counts the command as a write before running
// it: its (sub)command's write flag, a script's or function's flags, or,
// for EXEC, any queued command that writes.
func (c *client) writes(e *entry, args [][]byte) bool {
	spec := e.spec
	if len(spec.Subcommands) > 0 {
		if len(args) < 2 {
			return false // COMMAND alone: the container runs, and writes nothing
		}
		if spec = subSpec(e.spec, args[1]); spec == nil {
			return false
		}
		if a := spec.Arity; !(a == len(args) || (a < 0 && len(args) >= -a)) {
			return false
		}
	}
	if spec.Flags&shard.Write != 0 {
		return true
	}
	if mayWrite, _, ok := c.scriptFlagsOf(spec.Name, args); ok {
		return mayWrite
	}
	switch spec.Name {
	case "exec":
		if !c.tx.on {
			return false
		}
		for _, tc := range c.tx.calls {
			if c.writes(tc.e, c.txArgs(tc)) {
				return true
			}
		}
	}
	return false
}

// scriptFlagsOf reports, for EVAL, EVALSHA, FCALL and their _RO forms,
// whether the script or function may write (a shebang without no-writes,
// a function without no-writes: Redis assumes a script in compatibility
// mode does not) and whether it has allow-oom; ok is false for any other
// command.
func (c *client) scriptFlagsOf(name string, args [][]byte) (mayWrite, allowOOM, ok bool) {
	eng := &c.srv.scripts
	switch name {
	case "eval", "eval_ro":
		var f script.Flags
		if s := eng.Get(script.SHA1Hex(string(args[1]))); s != nil {
			f = s.Flags()
		} else if parsed, _, msg := script.ParseShebang(string(args[1])); msg == "" {
			f = parsed
		}
		return f.Shebang && !f.NoWrites, f.AllowOOM, true
	case "evalsha", "evalsha_ro":
		s := eng.Get(string(args[1]))
		return s != nil && s.Flags().Shebang && !s.Flags().NoWrites, s != nil && s.Flags().AllowOOM, true
	case "fcall", "fcall_ro":
		f := eng.Function(string(args[1]))
		return f != nil && !f.NoWrites(), f != nil && f.AllowOOM(), true
	}
	return false, false, false
}
