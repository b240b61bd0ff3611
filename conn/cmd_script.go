package conn

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Scripting: EVAL and friends run a Lua script atomically. The connection
// settles its pipeline segment, borrows (in ascending order, like any
// command spanning shards) the shards owning the declared KEYS — every
// shard when the script declares no keys — runs the whole script on its
// goroutine with them, and gives them back. redis.call runs commands
// synchronously against the borrowed shards. As in Redis Cluster, every
// key a script touches must be passed in KEYS: a key whose shard is not
// borrowed fails with an error; an undeclared key that happens to live on
// a borrowed shard works. See script_lua.go for the Lua side.

// scriptEngine is the server's script cache; it is not key data. Compiled
// scripts are shared by every connection.
type scriptEngine struct {
	mu       sync.Mutex
	scripts  map[string]*luaScript // by lower-case SHA1 hex
	running  map[*scriptRun]struct{}
	count    atomic.Int32     // len(running), for the check every command makes
	watching bool             // watchMemory runs
	vms      sync.Pool        // *luaVM
	funcs    functionRegistry // FUNCTION's libraries (cmd_function.go)
	rand     luaRand          // math.random's generator (script_rand.go)
}

type luaScript struct {
	sha   string
	body  string
	proto *lua.FunctionProto
	flags scriptFlags
	scope keyScope
}

// scriptFlags are what a script's shebang line (#!lua flags=...) says.
// A script without one runs in Redis's compatibility mode.
type scriptFlags struct {
	shebang  bool // false: compatibility mode, the flags below are ignored
	noWrites bool
	allowOOM bool
}

// parseScriptShebang reads the "#!lua flags=a,b" line that may start an
// EVAL script, as Redis 7.0 does. It returns the flags, the length of the
// line (the compiler skips it, keeping the line feed so that line numbers
// stay right) and an error reply.
func parseScriptShebang(body string) (scriptFlags, int, string) {
	var f scriptFlags
	if !strings.HasPrefix(body, "#!") {
		return f, 0, ""
	}
	end := strings.IndexByte(body, '\n')
	if end < 0 {
		return f, 0, "ERR Invalid script shebang"
	}
	parts, ok := wire.SplitArgs([]byte(body[:end]))
	if !ok || len(parts) == 0 {
		return f, 0, "ERR Invalid engine in script shebang"
	}
	if string(parts[0]) != "#!lua" {
		return f, 0, "ERR Unexpected engine in script shebang: " + string(parts[0])
	}
	f.shebang = true
	for _, p := range parts[1:] {
		list, ok := strings.CutPrefix(string(p), "flags=")
		if !ok {
			return f, 0, "ERR Unknown lua shebang option: " + string(p)
		}
		if list == "" {
			continue // "flags=" sets none
		}
		for _, name := range strings.Split(list, ",") {
			switch name {
			case "no-writes":
				f.noWrites = true
			case "allow-oom":
				f.allowOOM = true
			case "allow-stale", "no-cluster", "allow-cross-slot-keys":
			default:
				return f, 0, "ERR Unexpected flag in script shebang: " + name
			}
		}
	}
	return f, end, ""
}

func sha1hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// get returns the cached script with the given SHA1, or nil.
func (e *scriptEngine) get(sha string) *luaScript {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.scripts[strings.ToLower(sha)]
}

// load compiles body, caching it, and returns it or a compile error reply.
func (e *scriptEngine) load(body string) (*luaScript, string) {
	sha := sha1hex(body)
	if s := e.get(sha); s != nil {
		return s, ""
	}
	flags, skip, msg := parseScriptShebang(body)
	if msg != "" {
		return nil, msg
	}
	proto, err := compileLua(body[skip:])
	if err != nil {
		return nil, "ERR Error compiling script (new function): " + err.Error()
	}
	s := &luaScript{sha: sha, body: body, proto: proto, flags: flags}
	e.mu.Lock()
	if e.scripts == nil {
		e.scripts = map[string]*luaScript{}
	}
	e.scripts[sha] = s
	e.mu.Unlock()
	return s, ""
}

// counts returns how many scripts are cached, and how many functions and
// libraries are loaded, for INFO memory.
func (e *scriptEngine) counts() (scripts, funcs, libs int) {
	e.mu.Lock()
	scripts = len(e.scripts)
	e.mu.Unlock()
	e.funcs.mu.Lock()
	funcs, libs = len(e.funcs.funcs), len(e.funcs.libs)
	e.funcs.mu.Unlock()
	return scripts, funcs, libs
}

func (e *scriptEngine) flush() {
	e.mu.Lock()
	e.scripts = nil
	e.mu.Unlock()
}

func (e *scriptEngine) started(r *scriptRun) {
	e.mu.Lock()
	if e.running == nil {
		e.running = map[*scriptRun]struct{}{}
	}
	e.running[r] = struct{}{}
	e.count.Store(int32(len(e.running)))
	if !e.watching {
		e.watching = true
		go e.watchMemory()
	}
	e.mu.Unlock()
}

// stopAll cancels every running script, even those KILL may not stop:
// Shutdown calls it after the server's life has ended.
func (e *scriptEngine) stopAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for r := range e.running {
		r.cancel()
	}
}

func (e *scriptEngine) finished(r *scriptRun) {
	e.mu.Lock()
	delete(e.running, r)
	e.count.Store(int32(len(e.running)))
	e.mu.Unlock()
}

// kill is SCRIPT KILL (eval true) and FUNCTION KILL (eval false). In
// Redis a KILL can only reach a script that has run past
// busy-reply-threshold (limit); before that the server reads no command.
// Several scripts may run at once, on different shards: it stops every
// script of its kind past the limit that has not written yet. When it
// stops none, the reply says why, in Redis's order: no script past the
// limit (NOTBUSY), one has written (UNKILLABLE), or only the other kind
// runs (BUSY, naming the other KILL).
func (e *scriptEngine) kill(eval bool, limit time.Duration) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	stopped, wrote, busy := 0, false, false
	for r := range e.running {
		if now.Sub(r.since) < limit {
			continue
		}
		busy = true
		switch {
		case r.wrote():
			wrote = true // Redis checks this before the kind
		case r.isFunc == eval: // the other kind
		case r.tryKill():
			stopped++
		default:
			wrote = true // it wrote just now
		}
	}
	switch {
	case stopped > 0:
		return ""
	case !busy:
		return "NOTBUSY No scripts in execution right now."
	case wrote:
		return "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
	}
	return busyMessage(eval) // names the kill for the kind that runs
}

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
	var s *luaScript
	if bySHA {
		if s = eng.get(string(args[1])); s == nil {
			c.replyError("NOSCRIPT No matching script. Please use EVAL.")
			return
		}
	} else if s, msg = eng.load(string(args[1])); s == nil {
		c.replyError(msg)
		return
	}
	if s.flags.shebang {
		if ro && !s.flags.noWrites {
			c.replyError("ERR Can not execute a script with write flag using *_ro command.")
			return
		}
		ro = ro || s.flags.noWrites
	}
	keys := args[3 : 3+numkeys]
	argv := args[3+numkeys:]

	c.runWithKeys(keys, &s.scope, func() bool { return c.runScript(s, keys, argv, ro) })
}

// runWithKeys runs a script or function (run) with the shards it needs
// in c.borrowed, borrowed in ascending order like any command that spans
// shards; inside EXEC the transaction already holds every shard. Which
// shards depends on what scope learned (see keyScope): every shard until
// a run has shown that the script keeps to its declared keys, then only
// their owners. run reports true when it stopped, before any effect, to
// be run again holding every shard.
func (c *client) runWithKeys(keys [][]byte, scope *keyScope, run func() bool) {
	if c.tx.execing {
		run()
		return
	}
	n := len(c.batches)
	all := scope.holdsAll()
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

// runScript runs s with the shards in c.borrowed and appends its reply;
// true means "run it again holding every shard" (see runWithKeys).
func (c *client) runScript(s *luaScript, keys, argv [][]byte, ro bool) bool {
	return c.runLua(&scriptRun{script: s, name: s.sha, chunk: scriptChunk, ro: ro, scope: &s.scope}, nil, keys, argv)
}

// runLua runs an EVAL script (r.script) or a function (f) with the shards
// in c.borrowed and appends its reply. It reports true, appending
// nothing, when the script stopped to be run again holding every shard.
func (c *client) runLua(r *scriptRun, f *function, keys, argv [][]byte) bool {
	c.inScript = true
	defer func() { c.inScript = false }()
	eng := &c.srv.scripts
	// Over maxmemory when the run starts: commands that may grow the data
	// fail until the script has written (maxmemory.go).
	r.oomAtStart = c.srv.oom.Load()
	if f != nil {
		r.allowOOM = f.allowOOM
	} else if r.script != nil && r.script.flags.shebang {
		r.allowOOM = r.script.flags.allowOOM
	}
	vm, _ := eng.vms.Get().(*luaVM)
	if vm == nil {
		vm = newLuaVM()
	}
	done := false
	defer func() {
		if !done {
			// A panic (a bug) is unwinding to recoverPanic, which gives
			// the shards back: forget the run, and drop the VM, whose
			// state is unknown.
			eng.finished(r)
			return
		}
		vm.reset()
		eng.vms.Put(vm)
	}()
	if f != nil {
		fn, msg := eng.funcs.callable(vm, f)
		if fn == nil {
			done = true
			c.replyError(msg)
			return false
		}
		r.fn = fn
	}
	r.c, r.vm, r.db, r.proto, r.shards = c, vm, c.db, wire.RESP2, c.borrowed
	r.ctx, r.cancel = vm.stop, vm.stop.stop
	r.since = time.Now()
	eng.started(r)
	if c.srv.life.Err() != nil {
		r.cancel() // Shutdown began: stopAll may have missed this run
	}
	c.markBusy(r.since.UnixNano())
	r.across.Stamp, r.across.Script, r.across.Client = c.readAt, true, &c.ident
	r.across.Begin(c.borrowed, r.since.UnixMilli())
	defer func() {
		if r.across.Active() { // a panic (a bug) is unwinding: see recoverPanic
			r.across.End()
		}
	}()
	r.keys = keys
	c.local = r.run(keys, argv, c.local)
	if !r.restart {
		for _, msg := range r.errs {
			c.srv.stats.errors.Add(1)
			c.srv.stats.errs.countMsg(msg)
		}
	}
	r.across.End()
	c.markBusy(0)
	eng.finished(r)
	done = true
	if !r.restart {
		r.scope.learn(r.undeclared)
	}
	return r.restart
}

func cmdScriptLoad(c *client, args [][]byte) {
	s, msg := c.srv.scripts.load(string(args[2]))
	if s == nil {
		c.replyError(msg)
		return
	}
	c.replyBulkString(s.sha)
}

func cmdScriptExists(c *client, args [][]byte) {
	c.replyArray(len(args) - 2)
	for _, a := range args[2:] {
		if c.srv.scripts.get(string(a)) != nil {
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
	c.srv.scripts.flush()
	c.replyOK()
}

func cmdScriptKill(c *client, args [][]byte) {
	if msg := c.srv.scripts.kill(true, c.busyLimit()); msg != "" {
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
