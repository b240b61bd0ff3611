package conn

import (
	"slices"
	"sync"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// SLOWLOG GET, LEN, RESET and HELP. Shards log the data commands they run
// (shard/slowlog.go); the commands that run on connections are logged
// here, in one ring under a mutex (they are few and not on a hot path
// when the log is quiet: nothing is taken unless a command is slow).

// localSlowlog is the connection-side ring.
type localSlowlog struct {
	mu   sync.Mutex
	ring shard.SlowRing
}

var slowlogSubs, slowlogSpecs = newSubcommands("slowlog",
	&subcommand{Spec: shard.Spec{Name: "get", Arity: -2, Flags: shard.Admin | shard.Loading | shard.Stale,
		Group: "server", Since: "2.2.12", Summary: "Get the slow log's entries",
		Complexity: "O(N) where N is the number of entries returned", Syntax: "[count]"},
		run: cmdSlowlogGet},
	&subcommand{Spec: shard.Spec{Name: "help", Arity: 2, Flags: shard.Loading | shard.Stale,
		Group: "server", Since: "6.2.0", Summary: "Show helpful text about the different subcommands",
		Complexity: "O(1)"}, run: cmdSlowlogHelp},
	&subcommand{Spec: shard.Spec{Name: "len", Arity: 2, Flags: shard.Admin | shard.Loading | shard.Stale,
		Group: "server", Since: "2.2.12", Summary: "Get the slow log's length", Complexity: "O(1)"},
		run: cmdSlowlogLen},
	&subcommand{Spec: shard.Spec{Name: "reset", Arity: 2, Flags: shard.Admin | shard.Loading | shard.Stale,
		Group: "server", Since: "2.2.12", Summary: "Clear all entries from the slow log",
		Complexity: "O(N) where N is the number of entries in the slowlog"}, run: cmdSlowlogReset},
)

func init() {
	registerLocal(&localCommand{Spec: shard.Spec{Name: "slowlog", Arity: -2, Group: "server", Since: "2.2.12",
		Summary: "A container for slow log commands", Complexity: "Depends on subcommand.",
		Subcommands: slowlogSpecs}, run: func(c *client, args [][]byte) { slowlogSubs.dispatch(c, args) },
		barrier: true})
}

// watchSlowlog gives the shards the server's settings and keeps them in
// line with the two parameters.
func (s *Server) watchSlowlog() {
	s.slowlog = shard.NewSlowlog()
	update := func(string) {
		s.slowlog.Set(s.cfg.Int("slowlog-log-slower-than"), s.cfg.Int("slowlog-max-len"))
	}
	update("")
	s.cfg.OnChange("slowlog-log-slower-than", update)
	s.cfg.OnChange("slowlog-max-len", update)
	for _, sh := range s.shards {
		sh.SetSlowlog(s.slowlog)
	}
}

// slowlogLocal logs a connection command that took nanos, if slow.
func (c *client) slowlogLocal(e *entry, args [][]byte, nanos int64) {
	l := c.srv.slowlog
	if !l.Wants(nanos) {
		return
	}
	spec := e.spec
	if len(spec.Subcommands) > 0 && len(args) > 1 {
		if sub := subSpec(e.spec, args[1]); sub != nil {
			spec = sub
		}
	}
	if spec.Flags&shard.SkipSlowlog != 0 {
		return
	}
	args = redactArgs(spec.Name, args)
	who := &c.ident
	if c.inScript {
		who = shard.ScriptClient // a script's call, as Redis's Lua client
	}
	ls := &c.srv.localSlow
	ls.mu.Lock()
	ls.ring.Log(l, args, nanos, who)
	ls.mu.Unlock()
}

// redactArgs returns args with the secrets Redis keeps out of the log
// replaced by "(redacted)": MIGRATE's AUTH and AUTH2 credentials, AUTH's
// arguments, HELLO's AUTH user and password, ACL SETUSER's arguments.
func redactArgs(name string, args [][]byte) [][]byte {
	switch name {
	case "migrate":
	case "auth":
		return redactFrom(args, 1, len(args))
	case "acl", "acl|setuser":
		if len(args) > 2 && equalFold(args[1], "setuser") {
			return redactFrom(args, 2, len(args))
		}
		return args
	case "hello":
		for i := 2; i+2 < len(args); i++ {
			if equalFold(args[i], "auth") {
				args = redactFrom(args, i+1, i+3)
				i += 2
			}
		}
		return args
	default:
		return args
	}
	out := slices.Clone(args)
	for i := 6; i < len(out); i++ {
		switch {
		case equalFold(out[i], "auth") && i+1 < len(out):
			out[i+1] = []byte("(redacted)")
			i++
		case equalFold(out[i], "auth2") && i+2 < len(out):
			out[i+1], out[i+2] = []byte("(redacted)"), []byte("(redacted)")
			i += 2
		case equalFold(out[i], "keys"):
			return out
		}
	}
	return out
}

// redactFrom returns a copy of args with args[from:to] redacted.
func redactFrom(args [][]byte, from, to int) [][]byte {
	out := slices.Clone(args)
	for i := from; i < to && i < len(out); i++ {
		out[i] = []byte("(redacted)")
	}
	return out
}

// slowEntries gathers the newest n entries (n < 0: all) of every ring,
// newest first, at most slowlog-max-len of them. Each ring gives only as
// many as can be shown, so a short GET of a long log copies little.
func (c *client) slowEntries(n int64) []shard.SlowEntry {
	max := c.srv.slowlog.MaxLen()
	want := max
	if n >= 0 && n < int64(max) {
		want = int(n)
	}
	ls := &c.srv.localSlow
	ls.mu.Lock()
	all := ls.ring.AppendNewest(nil, max, want)
	ls.mu.Unlock()
	c.srv.eachShard(c.borrowed, func(sh *shard.Shard) {
		all = sh.Slowlog().AppendNewest(all, max, want)
	})
	slices.SortFunc(all, func(a, b shard.SlowEntry) int {
		if a.ID > b.ID {
			return -1
		}
		return 1
	})
	return all[:min(len(all), want)]
}

// slowLen is SLOWLOG LEN: the entries of every ring, at most
// slowlog-max-len.
func (c *client) slowLen() int {
	max := c.srv.slowlog.MaxLen()
	ls := &c.srv.localSlow
	ls.mu.Lock()
	n := ls.ring.Len(max)
	ls.mu.Unlock()
	c.srv.eachShard(c.borrowed, func(sh *shard.Shard) { n += sh.Slowlog().Len(max) })
	return min(n, max)
}

func cmdSlowlogGet(c *client, args [][]byte) {
	count := int64(10)
	if len(args) == 3 {
		n, ok := wire.ParseInt(args[2])
		if !ok || n < -1 {
			c.replyError("ERR count should be greater than or equal to -1")
			return
		}
		count = n
	} else if len(args) > 3 {
		c.replyError(shard.ErrArity("slowlog|get"))
		return
	}
	all := c.slowEntries(count)
	c.local = wire.AppendArray(c.local, len(all))
	for _, e := range all {
		c.local = wire.AppendArray(c.local, 6)
		c.local = wire.AppendInt(c.local, e.ID)
		c.local = wire.AppendInt(c.local, e.At)
		c.local = wire.AppendInt(c.local, e.Micros)
		c.local = wire.AppendArray(c.local, len(e.Args))
		for _, a := range e.Args {
			c.local = wire.AppendBulk(c.local, a)
		}
		c.local = wire.AppendBulkString(c.local, e.Addr)
		c.local = wire.AppendBulkString(c.local, e.Name)
	}
}

func cmdSlowlogLen(c *client, args [][]byte) { c.replyInt(int64(c.slowLen())) }

func cmdSlowlogReset(c *client, args [][]byte) {
	ls := &c.srv.localSlow
	ls.mu.Lock()
	ls.ring.Reset()
	ls.mu.Unlock()
	c.srv.eachShard(c.borrowed, func(sh *shard.Shard) { sh.Slowlog().Reset() })
	c.replyOK()
}

func cmdSlowlogHelp(c *client, args [][]byte) {
	c.replyHelp("SLOWLOG",
		"GET [<count>]",
		"    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
		"    Entries are made of:",
		"    id, timestamp, time in microseconds, arguments array, client IP and port,",
		"    client name",
		"LEN",
		"    Return the length of the slowlog.",
		"RESET",
		"    Reset the slowlog.")
}
