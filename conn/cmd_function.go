package conn

import (
	"strings"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/script"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/glob"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Functions (Redis 7): FUNCTION LOAD registers a library of Lua functions
// and FCALL calls one. The libraries live in the script engine (package
// conn/script); FCALL borrows shards and runs exactly like EVAL.

var functionSubs, functionSpecs = newSubcommands("function",
	&subcommand{Spec: shard.Spec{Name: "load", Arity: -3, Flags: shard.NoScript | shard.Write | shard.DenyOOM, Group: "scripting", Since: "7.0.0",
		Summary: "Creates a library.", Complexity: "O(1) (considering compilation time is redundant)", Syntax: "[REPLACE] function-code"},
		run: cmdFunctionLoad},
	&subcommand{Spec: shard.Spec{Name: "delete", Arity: 3, Flags: shard.NoScript | shard.Write, Group: "scripting", Since: "7.0.0",
		Summary: "Deletes a library and its functions.", Complexity: "O(1)", Syntax: "library-name"},
		run: cmdFunctionDelete},
	&subcommand{Spec: shard.Spec{Name: "flush", Arity: -2, Flags: shard.NoScript | shard.Write, Group: "scripting", Since: "7.0.0",
		Summary: "Deletes all libraries and functions.", Complexity: "O(N) where N is the number of functions deleted", Syntax: "[ASYNC|SYNC]"},
		run: cmdFunctionFlush},
	&subcommand{Spec: shard.Spec{Name: "list", Arity: -2, Flags: shard.NoScript, Group: "scripting", Since: "7.0.0",
		Summary: "Returns information about all libraries.", Complexity: "O(N) where N is the number of functions", Syntax: "[LIBRARYNAME library-name-pattern] [WITHCODE]"},
		run: cmdFunctionList},
	&subcommand{Spec: shard.Spec{Name: "kill", Arity: 2, Flags: shard.NoScript | shard.AllowBusy, Group: "scripting", Since: "7.0.0",
		Summary: "Terminates a function during execution.", Complexity: "O(1)"},
		run: cmdFunctionKill},
	&subcommand{Spec: shard.Spec{Name: "stats", Arity: 2, Flags: shard.NoScript | shard.AllowBusy, Group: "scripting", Since: "7.0.0",
		Summary: "Returns information about a function during execution.", Complexity: "O(1)"},
		run: cmdFunctionStats},
	functionDumpSpec,
	functionRestoreSpec,
	&subcommand{Spec: shard.Spec{Name: "help", Arity: 2, Flags: shard.Loading | shard.Stale, Group: "scripting", Since: "7.0.0",
		Summary: "Returns helpful text about the different subcommands.", Complexity: "O(1)"},
		run: cmdFunctionHelp},
)

func init() {
	fcallSpec := func(name, summary string, ro bool) shard.Spec {
		flags := evalFlags | shard.AllShards // inside EXEC: see execAcross
		if ro {
			flags |= shard.ReadOnly
		}
		return shard.Spec{Name: name, Arity: -3, Flags: flags, Group: "scripting", Since: "7.0.0",
			Summary: summary, Complexity: "Depends on the function that is executed.", Syntax: "function numkeys [key [key ...]] [arg [arg ...]]"}
	}
	registerLocal(
		&localCommand{Spec: fcallSpec("fcall", "Invokes a function.", false),
			run: func(c *client, args [][]byte) { c.fcall(args, false) }, barrier: true, keys: numkeysKeys},
		&localCommand{Spec: fcallSpec("fcall_ro", "Invokes a read-only function.", true),
			run: func(c *client, args [][]byte) { c.fcall(args, true) }, barrier: true, keys: numkeysKeys},
		&localCommand{Spec: shard.Spec{Name: "function", Arity: -2, Group: "scripting", Since: "7.0.0",
			Summary: "A container for function commands.", Complexity: "Depends on subcommand.",
			Subcommands: functionSpecs}, run: func(c *client, args [][]byte) { functionSubs.dispatch(c, args) }},
	)
}

// fcall runs FCALL and FCALL_RO.
func (c *client) fcall(args [][]byte, ro bool) {
	c.feedMonitorFirst(args) // before the commands it calls, as Redis does
	f := c.srv.scripts.Function(string(args[1]))
	if f == nil {
		c.replyError("ERR Function not found")
		return
	}
	n, ok := wire.ParseInt(args[2])
	switch {
	case !ok:
		c.replyError("ERR Bad number of keys provided")
		return
	case n < 0:
		c.replyError("ERR Number of keys can't be negative")
		return
	case n > int64(len(args)-3):
		c.replyError("ERR Number of keys can't be greater than number of args")
		return
	}
	if ro && !f.NoWrites() {
		c.replyError("ERR Can not execute a script with write flag using *_ro command.")
		return
	}
	keys := args[3 : 3+n]
	argv := args[3+n:]
	run := func() bool {
		cmd := make([][]byte, len(args))
		for i, a := range args {
			cmd[i] = append([]byte(nil), a...)
		}
		return c.runScript(&script.Call{Func: f, Cmd: cmd, Keys: keys, Args: argv, ReadOnly: ro || f.NoWrites()})
	}
	c.runWithKeys(keys, f.Scope(), run)
}

func cmdFunctionLoad(c *client, args [][]byte) {
	replace := false
	i := 2
	for ; i < len(args)-1; i++ {
		if strings.EqualFold(string(args[i]), "replace") {
			replace = true
			continue
		}
		c.replyError("ERR Unknown option given: " + string(args[i]))
		return
	}
	if i >= len(args) {
		c.replyError("ERR Function code is missing")
		return
	}
	name, msg := c.srv.scripts.LoadLibrary(string(args[i]), replace)
	if msg != "" {
		c.replyError(msg)
		return
	}
	c.srv.journal.Record(c.db, args...) // as Redis propagates it
	c.replyBulkString(name)
}

func cmdFunctionDelete(c *client, args [][]byte) {
	if !c.srv.scripts.DeleteLibrary(string(args[2])) {
		c.replyError("ERR Library not found")
		return
	}
	c.srv.journal.Record(c.db, args...)
	c.replyOK()
}

func cmdFunctionFlush(c *client, args [][]byte) {
	if len(args) > 3 {
		functionSyntaxError(c, args)
		return
	}
	if len(args) == 3 && !strings.EqualFold(string(args[2]), "sync") && !strings.EqualFold(string(args[2]), "async") {
		c.replyError("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
		return
	}
	c.srv.scripts.FlushFunctions()
	c.srv.journal.Record(c.db, args...)
	c.replyOK()
}

func cmdFunctionKill(c *client, args [][]byte) {
	if msg := c.srv.scripts.Kill(false, c.busyLimit()); msg != "" {
		c.replyError(msg)
		return
	}
	c.replyOK()
}

func cmdFunctionList(c *client, args [][]byte) {
	pattern, hasPattern, withCode := "", false, false
	for i := 2; i < len(args); i++ {
		switch a := string(args[i]); {
		case strings.EqualFold(a, "withcode"):
			if withCode {
				c.replyError("ERR Unknown argument withcode")
				return
			}
			withCode = true
		case strings.EqualFold(a, "libraryname"):
			if hasPattern {
				c.replyError("ERR Unknown argument libraryname")
				return
			}
			if i+1 >= len(args) {
				c.replyError("ERR library name argument was not given")
				return
			}
			i++
			pattern, hasPattern = string(args[i]), true
		default:
			c.replyError("ERR Unknown argument " + a)
			return
		}
	}
	var match func(string) bool
	if hasPattern {
		match = func(name string) bool { return glob.Match(pattern, name, true) }
	}
	libs := c.srv.scripts.Libraries(match)
	c.replyArray(len(libs))
	for _, lib := range libs {
		if withCode {
			c.replyMap(4)
		} else {
			c.replyMap(3)
		}
		c.replyBulkString("library_name")
		c.replyBulkString(lib.Name())
		c.replyBulkString("engine")
		c.replyBulkString("LUA")
		c.replyBulkString("functions")
		c.replyArray(len(lib.Functions()))
		for _, f := range lib.Functions() {
			c.replyMap(3)
			c.replyBulkString("name")
			c.replyBulkString(f.Name())
			c.replyBulkString("description")
			if desc, ok := f.Description(); ok {
				c.replyBulkString(desc)
			} else {
				c.replyNull()
			}
			c.replyBulkString("flags")
			c.replySet(len(f.Flags()))
			for _, fl := range f.Flags() {
				c.replySimple(fl)
			}
		}
		if withCode {
			c.replyBulkString("library_code")
			c.replyBulkString(lib.Code())
		}
	}
}

func cmdFunctionStats(c *client, args [][]byte) {
	e := &c.srv.scripts
	// FUNCTION STATS may run while busy, but not while an EVAL is.
	if msg := e.TimedOut(time.Duration(c.srv.cfg.Int("busy-reply-threshold")) * time.Millisecond); msg == script.BusyEval {
		c.replyError(msg)
		return
	}
	name, cmd, since, running := e.RunningFunction()
	nlibs, nfuncs := e.FunctionCounts()
	c.replyMap(2)
	c.replyBulkString("running_script")
	if !running {
		c.replyNull()
	} else {
		c.replyMap(3)
		c.replyBulkString("name")
		c.replyBulkString(name)
		c.replyBulkString("command")
		c.replyArray(len(cmd))
		for _, a := range cmd {
			c.replyBulk(a)
		}
		c.replyBulkString("duration_ms")
		c.replyInt(time.Since(since).Milliseconds())
	}
	c.replyBulkString("engines")
	c.replyMap(1)
	c.replyBulkString("LUA")
	c.replyMap(2)
	c.replyBulkString("libraries_count")
	c.replyInt(int64(nlibs))
	c.replyBulkString("functions_count")
	c.replyInt(int64(nfuncs))
}

func cmdFunctionHelp(c *client, args [][]byte) {
	c.replyHelp("FUNCTION",
		"LOAD [REPLACE] <FUNCTION CODE>",
		"    Create a new library with the given library name and code.",
		"DELETE <LIBRARY NAME>",
		"    Delete the given library.",
		"LIST [LIBRARYNAME PATTERN] [WITHCODE]",
		"    Return general information on all the libraries:",
		"    * Library name",
		"    * The engine used to run the Library",
		"    * Library description",
		"    * Functions list",
		"    * Library code (if WITHCODE is given)",
		"    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
		"STATS",
		"    Return information about the current function running:",
		"    * Function name",
		"    * Command used to run the function",
		"    * Duration in MS that the function is running",
		"    If no function is running, return nil",
		"    In addition, returns a list of available engines.",
		"KILL",
		"    Kill the current running function.",
		"FLUSH [ASYNC|SYNC]",
		"    Delete all the libraries.",
		"    When called without the optional mode argument, the behavior is determined by the",
		"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
		"    * ASYNC: Asynchronously flush the libraries.",
		"    * SYNC: Synchronously flush the libraries.",
		"DUMP",
		"    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
		"RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
		"    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
		"    control how to handle existing libraries (default APPEND):",
		"    * FLUSH: delete all existing libraries.",
		"    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
		"    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
		"      libraries with the new libraries (notice that even on this option there is a chance of failure",
		"      in case of functions name collision with another library).",
	)
}
