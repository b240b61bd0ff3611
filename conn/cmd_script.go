package conn

import (
	"strings"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Scripting: EVAL and friends run a Lua script atomically. The connection
// settles its pipeline segment, borrows (in ascending order, like any
// command spanning shards) the shards the script needs — every shard, or
// the owners of its KEYS once its runs have shown that it keeps to them
// (script.KeyScope) — runs the whole script on its goroutine with them,
// and gives them back. The engine (package conn/script) runs the script;
// this file parses the commands and borrows the shards.

const evalFlags = shard.NoScript | shard.SkipMonitor | shard.MayReplicate | shard.NoMandatoryKeys | shard.Stale

var scriptSubs, scriptSpecs = newSubcommands("script",
	&subcommand{Spec: shard.Spec{Name: "load", Arity: 3, Flags: shard.NoScript | shard.Stale, Group: "scripting", Since: "2.6.0",
		Summary: "Loads a server-side Lua script to the script cache.", Complexity: "O(N) with N being the length in bytes of the script body.", Syntax: "script"},
		run: cmdScriptLoad},
	&subcommand{Spec: shard.Spec{Name: "exists", Arity: -3, Flags: shard.NoScript, Group: "scripting", Since: "2.6.0",
		Summary: "Determines whether server-side Lua scripts exist in the script cache.", Complexity: "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).", Syntax: "sha1 [sha1 ...]"},
		run: cmdScriptExists},
	&subcommand{Spec: shard.Spec{Name: "flush", Arity: -2, Flags: shard.NoScript, Group: "scripting", Since: "2.6.0",
		Summary: "Removes all server-side Lua scripts from the script cache.", Complexity: "O(N) with N being the number of scripts in cache", Syntax: "[ASYNC|SYNC]"},
		run: cmdScriptFlush},
	&subcommand{Spec: shard.Spec{Name: "kill", Arity: 2, Flags: shard.NoScript | shard.AllowBusy, Group: "scripting", Since: "2.6.0",
		Summary: "Terminates a server-side Lua script during execution.", Complexity: "O(1)"},
		run: cmdScriptKill},
	&subcommand{Spec: shard.Spec{Name: "help", Arity: 2, Flags: shard.Loading | shard.Stale, Group: "scripting", Since: "5.0.0",
		Summary: "Returns helpful text about the different subcommands.", Complexity: "O(1)"},
		run: cmdScriptHelp},
)

func init() {
	evalSpec := func(name, summary, syntax string, ro bool) shard.Spec {
		flags := evalFlags | shard.AllShards // inside EXEC: see execAcross
		if ro {
			flags |= shard.ReadOnly
		}
		since := "2.6.0"
		if ro {
			since = "7.0.0"
		}
		return shard.Spec{Name: name, Arity: -3, Flags: flags, Group: "scripting", Since: since,
			Summary: summary, Complexity: "Depends on the script that is executed.", Syntax: syntax}
	}
	registerLocal(
		&localCommand{Spec: evalSpec("eval", "Executes a server-side Lua script.", "script numkeys [key [key ...]] [arg [arg ...]]", false),
			run: func(c *client, args [][]byte) { c.eval(args, false, false) }, barrier: true, keys: numkeysKeys},
		&localCommand{Spec: evalSpec("evalsha", "Executes a server-side Lua script by SHA1 digest.", "sha1 numkeys [key [key ...]] [arg [arg ...]]", false),
			run: func(c *client, args [][]byte) { c.eval(args, true, false) }, barrier: true, keys: numkeysKeys},
		&localCommand{Spec: evalSpec("eval_ro", "Executes a read-only server-side Lua script.", "script numkeys [key [key ...]] [arg [arg ...]]", true),
			run: func(c *client, args [][]byte) { c.eval(args, false, true) }, barrier: true, keys: numkeysKeys},
		&localCommand{Spec: evalSpec("evalsha_ro", "Executes a read-only server-side Lua script by SHA1 digest.", "sha1 numkeys [key [key ...]] [arg [arg ...]]", true),
			run: func(c *client, args [][]byte) { c.eval(args, true, true) }, barrier: true, keys: numkeysKeys},
		&localCommand{Spec: shard.Spec{Name: "script", Arity: -2, Group: "scripting", Since: "2.6.0",
			Summary: "A container for Lua scripts management commands.", Complexity: "Depends on subcommand.",
			Subcommands: scriptSpecs}, run: func(c *client, args [][]byte) { scriptSubs.dispatch(c, args) }},
	)
}

// numkeysKeys returns the key positions of EVAL or FCALL (numkeys, then
// the keys) for COMMAND GETKEYS: none when numkeys makes no sense.
func numkeysKeys(args [][]byte) []int {
	n, ok := wire.ParseInt(args[2])
	if !ok || n < 0 || n > int64(len(args)-3) {
		return nil
	}
	keys := make([]int, n)
	for i := range keys {
		keys[i] = 3 + i
	}
	return keys
}

// evalKeys returns the argument positions of an EVAL's keys, or an error
// reply for a bad numkeys.
func evalKeys(args [][]byte) (int, string) {
	n, ok := wire.ParseInt(args[2])
	if !ok {
		return 0, shard.ErrNotInt
	}
	if n < 0 {
		return 0, "ERR Number of keys can't be negative"
	}
	if n > int64(len(args)-3) {
		return 0, "ERR Number of keys can't be greater than number of args"
	}
	return int(n), ""
}

// eval runs EVAL, EVALSHA and their read-only variants.
func (c *client) eval(args [][]byte, bySHA, ro bool) {
	c.feedMonitorFirst(args) // before the commands it calls, as Redis does
	if bySHA && len(args[1]) != 40 {
		c.replyError("NOSCRIPT No matching script. Please use EVAL.")
		return
	}
	numkeys, msg := evalKeys(args)
	if msg != "" {
		c.replyError(msg)
		return
	}
	eng := &c.srv.scripts
	var s *script.Script
	if bySHA {
		if s = eng.Get(string(args[1])); s == nil {
			c.replyError("NOSCRIPT No matching script. Please use EVAL.")
			return
		}
	} else if s, msg = eng.Load(string(args[1])); s == nil {
		c.replyError(msg)
		return
	}
	if flags := s.Flags(); flags.Shebang {
		if ro && !flags.NoWrites {
			c.replyError("ERR Can not execute a script with write flag using *_ro command.")
			return
		}
		ro = ro || flags.NoWrites
	}
	keys := args[3 : 3+numkeys]
	argv := args[3+numkeys:]

	c.runWithKeys(keys, s.Scope(), func() bool { return c.runScript(&script.Call{Script: s, Keys: keys, Args: argv, ReadOnly: ro}) })
}

// runWithKeys runs a script or function (run) with the shards it needs
// in c.borrowed, borrowed in ascending order like any command that spans
// shards; inside EXEC the transaction already holds every shard. Which
// shards depends on what scope learned (see script.KeyScope): every shard until
// a run has shown that the script keeps to its declared keys, then only
// their owners. run reports true when it stopped, before any effect, to
// be run again holding every shard.
func (c *client) runWithKeys(keys [][]byte, scope *script.KeyScope, run func() bool) {
	if c.tx.execing {
		run()
		return
	}
	n := len(c.batches)
	all := scope.HoldsAll()
	for {
		want := c.want
		clear(want)
		for i := range want {
			want[i] = all
		}
		for _, k := range keys {
			want[shard.Owner(k, n)] = true
		}
		if msg := c.busyWanted(); msg != "" {
			c.replyError(msg)
			return
		}
		ok := c.borrow()
		again := ok && run()
		c.giveBack()
		if !ok {
			c.closeAfter = true
			c.replyError("ERR server is shutting down")
			return
		}
		if !again {
			return
		}
		all = true
	}
}

// runScript runs an EVAL script or a function (call) with the shards in
// c.borrowed and appends its reply. It reports true, appending nothing,
// when the script stopped to be run again holding every shard.
func (c *client) runScript(call *script.Call) bool {
	call.DB, call.Proto, call.Shards = c.db, c.proto, c.borrowed
	call.Stamp, call.InExec, call.OOM = c.readAt, c.tx.execing, c.srv.oom.Load() && c.srv.outOfMemory()
	call.Client = &c.ident
	call.Track, call.Remember = c.tracker()
	var res script.Result
	c.inScript = true // its calls show as "lua" in MONITOR
	defer func() { c.inScript = false }()
	c.local, res = c.srv.scripts.Run((*scriptHost)(c), call, c.local)
	if res.Counted {
		c.errCounted = true // by redis.call
	}
	c.gates = append(c.gates, res.Gates...)
	return res.Restart
}

func cmdScriptLoad(c *client, args [][]byte) {
	s, msg := c.srv.scripts.Load(string(args[2]))
	if s == nil {
		c.replyError(msg)
		return
	}
	c.replyBulkString(s.SHA())
}

func cmdScriptExists(c *client, args [][]byte) {
	c.replyArray(len(args) - 2)
	for _, a := range args[2:] {
		if c.srv.scripts.Get(string(a)) != nil {
			c.replyInt(1)
		} else {
			c.replyInt(0)
		}
	}
}

func cmdScriptFlush(c *client, args [][]byte) {
	if len(args) > 3 || (len(args) == 3 && !strings.EqualFold(string(args[2]), "sync") && !strings.EqualFold(string(args[2]), "async")) {
		c.replyError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
		return
	}
	c.srv.scripts.Flush()
	c.replyOK()
}

func cmdScriptKill(c *client, args [][]byte) {
	if msg := c.srv.scripts.Kill(true, c.busyLimit()); msg != "" {
		c.replyError(msg)
		return
	}
	c.replyOK()
}

func cmdScriptHelp(c *client, args [][]byte) {
	c.replyHelp("SCRIPT",
		"DEBUG (YES|SYNC|NO)",
		"    Set the debug mode for subsequent scripts executed.",
		"EXISTS <sha1> [<sha1> ...]",
		"    Return information about the existence of the scripts in the script cache.",
		"FLUSH [ASYNC|SYNC]",
		"    Flush the Lua scripts cache. Very dangerous on replicas.",
		"    When called without the optional mode argument, the behavior is determined by the",
		"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
		"    * ASYNC: Asynchronously flush the scripts cache.",
		"    * SYNC: Synchronously flush the scripts cache.",
		"KILL",
		"    Kill the currently executing Lua script.",
		"LOAD <script>",
		"    Load a script into the scripts cache without executing it.",
	)
}
