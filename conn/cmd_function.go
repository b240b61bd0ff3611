package conn

import (
	"context"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/glob"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// Functions (Redis 7): FUNCTION LOAD registers a library of Lua functions
// and FCALL calls one. A library's code runs once per interpreter that
// needs it: at FUNCTION LOAD on a pooled VM to validate it, then lazily on
// each pooled VM the first time it calls one of its functions (luaVM.libs,
// dropped whenever the set of libraries changes). While the code loads,
// its globals are only the restricted `redis` table that offers
// register_function and log; afterwards the functions see the same
// globals as EVAL scripts. FCALL borrows shards and runs exactly like
// EVAL (runLua).

const functionChunk = "user_function"

type library struct {
	name  string
	code  string
	proto *lua.FunctionProto
	funcs []*function
}

type function struct {
	name     string
	lib      *library
	desc     string
	hasDesc  bool
	flags    []string
	noWrites bool
	allowOOM bool
	scope    keyScope
}

// registered is one redis.register_function call seen while loading.
type registered struct {
	name string
	fn   *lua.LFunction
	f    *function
}

type functionRegistry struct {
	mu    sync.Mutex
	libs  map[string]*library  // by name (case-sensitive, as in Redis)
	funcs map[string]*function // by lower-case name
	gen   atomic.Uint64        // bumped on every change
}

var functionFlags = map[string]bool{"no-writes": true, "allow-oom": true, "allow-stale": true, "no-cluster": true, "allow-cross-slot-keys": true}

func validLibName(s string) bool {
	if s == "" {
		return false
	}
	for _, ch := range []byte(s) {
		if !(ch == '_' || ('a' <= ch && ch <= 'z') || ('A' <= ch && ch <= 'Z') || ('0' <= ch && ch <= '9')) {
			return false
		}
	}
	return true
}

const errBadName = "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"

// parseShebang returns the library name from code's first line, checked
// in Redis's order: the metadata (split like Redis's sdssplitargs, so
// values may be quoted), the name, then the engine.
func parseShebang(code string) (string, string) {
	if !strings.HasPrefix(code, "#!") {
		return "", "ERR Missing library metadata"
	}
	nl := strings.IndexByte(code, '\n')
	if z := strings.IndexByte(code, 0); nl < 0 || (z >= 0 && z < nl) {
		return "", "ERR Invalid library metadata" // C string: no newline before the NUL
	}
	parts, ok := wire.SplitArgs([]byte(code[:nl]))
	if !ok || len(parts) == 0 {
		return "", "ERR Invalid library metadata"
	}
	engine := ""
	if len(parts[0]) > 2 {
		engine = string(parts[0][2:])
	}
	name, named := "", false
	for _, p := range parts[1:] {
		if len(p) < 5 || !strings.EqualFold(string(p[:5]), "name=") {
			return "", "ERR Invalid metadata value given: " + string(p)
		}
		if named {
			return "", "ERR Invalid metadata value, name argument was given multiple times"
		}
		name, named = string(p[5:]), true
	}
	if !named {
		return "", "ERR Library name was not given"
	}
	if !validLibName(name) {
		return "", errBadName
	}
	if !strings.EqualFold(engine, "lua") {
		return "", "ERR Engine '" + engine + "' not found"
	}
	return name, ""
}

func (r *functionRegistry) get(name string) *function {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.funcs[strings.ToLower(name)]
}

// load compiles and registers a library; it returns the library's name or
// an error reply.
func (e *scriptEngine) loadLibrary(code string, replace bool) (string, string) {
	r := &e.funcs
	name, msg := parseShebang(code)
	if msg != "" {
		return "", msg
	}
	r.mu.Lock()
	_, exists := r.libs[name]
	r.mu.Unlock()
	if exists && !replace {
		return "", "ERR Library '" + name + "' already exists"
	}
	lib, msg := e.compileLibrary(name, code)
	if msg != "" {
		return "", msg
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.libs[name]
	if old != nil && !replace {
		return "", "ERR Library '" + name + "' already exists"
	}
	for _, f := range lib.funcs {
		if g := r.funcs[strings.ToLower(f.name)]; g != nil && g.lib != old {
			return "", "ERR Function " + f.name + " already exists"
		}
	}
	if r.libs == nil {
		r.libs, r.funcs = map[string]*library{}, map[string]*function{}
	}
	if old != nil {
		for _, f := range old.funcs {
			delete(r.funcs, strings.ToLower(f.name))
		}
	}
	for _, f := range lib.funcs {
		r.funcs[strings.ToLower(f.name)] = f
	}
	r.libs[name] = lib
	r.gen.Add(1)
	return name, ""
}

// compileLibrary compiles code, the library name, and runs it on a pooled
// VM to collect the functions it registers. The library is not
// registered anywhere yet.
func (e *scriptEngine) compileLibrary(name, code string) (*library, string) {
	// The shebang line is not Lua; keep the line numbers.
	chunk, err := parse.Parse(strings.NewReader(code[strings.IndexByte(code, '\n'):]), functionChunk)
	if err != nil {
		return nil, "ERR Error compiling function: " + err.Error()
	}
	proto, err := lua.Compile(chunk, functionChunk)
	if err != nil {
		return nil, "ERR Error compiling function: " + err.Error()
	}
	compactProto(proto)
	lib := &library{name: name, code: code, proto: proto}
	vm, _ := e.vms.Get().(*luaVM)
	if vm == nil {
		vm = newLuaVM()
	}
	_, regs, msg := vm.loadLibrary(lib)
	vm.reset()
	e.vms.Put(vm)
	if msg != "" {
		return nil, msg
	}
	if len(regs) == 0 {
		return nil, "ERR No functions registered"
	}
	for _, g := range regs {
		g.f.lib = lib
		lib.funcs = append(lib.funcs, g.f)
	}
	return lib, ""
}

func (r *functionRegistry) remove(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	lib := r.libs[name]
	if lib == nil {
		return false
	}
	for _, f := range lib.funcs {
		delete(r.funcs, strings.ToLower(f.name))
	}
	delete(r.libs, name)
	r.gen.Add(1)
	return true
}

func (r *functionRegistry) flush() {
	r.mu.Lock()
	r.libs, r.funcs = nil, nil
	r.mu.Unlock()
	r.gen.Add(1)
}

// callable returns f's closure on vm, loading its library there first if
// needed.
func (r *functionRegistry) callable(vm *luaVM, f *function) (*lua.LFunction, string) {
	if gen := r.gen.Load(); vm.libs == nil || vm.libsGen != gen {
		vm.libs, vm.libsGen = map[*library]map[string]*lua.LFunction{}, gen
	}
	fns, ok := vm.libs[f.lib]
	if !ok {
		var msg string
		if fns, _, msg = vm.loadLibrary(f.lib); msg != "" {
			return nil, msg
		}
		vm.libs[f.lib] = fns
	}
	if fn := fns[strings.ToLower(f.name)]; fn != nil {
		return fn, ""
	}
	return nil, "ERR Function not found"
}

// loadLibrary runs lib's code on vm and returns the functions it
// registered, or an error reply.
func (vm *luaVM) loadLibrary(lib *library) (map[string]*lua.LFunction, []registered, string) {
	L := vm.L
	if vm.loadAPI == nil {
		vm.initLoadAPI()
	}
	var regs []registered
	vm.register = &regs
	vm.active = vm.loadAPI
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	L.SetContext(ctx)
	fn := L.NewFunctionFromProto(lib.proto)
	fn.Env = vm.env
	L.Push(fn)
	err := L.PCall(0, 0, nil)
	vm.active = nil
	vm.register = nil
	L.RemoveContext()
	L.SetTop(0)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, "ERR Error registering functions: FUNCTION LOAD timeout"
		}
		var obj lua.LValue = lua.LString(err.Error())
		if ae, ok := err.(*lua.ApiError); ok && ae.Object != nil {
			obj = ae.Object
		}
		if t, ok := obj.(*lua.LTable); ok && t.RawGetString("err").Type() == lua.LTString {
			return nil, nil, "ERR Error registering functions: " + t.RawGetString("err").String()
		}
		return nil, nil, "ERR Error registering functions: ERR " + lua.LVAsString(obj)
	}
	fns := make(map[string]*lua.LFunction, len(regs))
	for _, g := range regs {
		fns[strings.ToLower(g.name)] = g.fn
	}
	return fns, regs, ""
}

// initLoadAPI builds the globals a library sees while it loads.
func (vm *luaVM) initLoadAPI() {
	L := vm.L
	api := L.NewTable()
	red := L.NewTable()
	red.RawSetString("register_function", L.NewFunction(func(L *lua.LState) int { return vm.registerFunction(L) }))
	red.RawSetString("log", L.NewFunction(luaLog))
	for i, name := range []string{"LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"} {
		red.RawSetString(name, lua.LNumber(i))
	}
	red.RawSetString("REDIS_VERSION", lua.LString("7.0.15"))
	red.RawSetString("REDIS_VERSION_NUM", lua.LNumber(0x07000f))
	meta := L.NewTable()
	meta.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.Error(lua.LString(userWhere(L)+"Script attempted to access nonexistent global variable '"+lua.LVAsString(L.Get(2))+"'"), 0)
		return 0
	}))
	meta.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.Error(lua.LString(userWhere(L)+"Attempt to modify a readonly table"), 0)
		return 0
	}))
	meta.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(red, meta)
	api.RawSetString("redis", vm.readonly(red, lua.LNil))
	vm.loadAPI = api
}

// registerFunction is redis.register_function while a library loads.
func (vm *luaVM) registerFunction(L *lua.LState) int {
	fail := func(msg string) { L.Error(errTable(L, msg), 0) }
	if vm.register == nil {
		fail("ERR redis.register_function can only be called on FUNCTION LOAD command")
	}
	f := &function{}
	var fn *lua.LFunction
	switch L.GetTop() {
	case 1:
		t, ok := L.Get(1).(*lua.LTable)
		if !ok {
			fail("ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
		}
		named := false
		var bad string
		t.ForEach(func(k, v lua.LValue) {
			if bad != "" {
				return
			}
			switch lua.LVAsString(k) {
			case "function_name":
				if s, ok := luaString(v); ok {
					f.name, named = s, true
				} else {
					bad = "ERR function_name argument given to redis.register_function must be a string"
				}
			case "description":
				if s, ok := luaString(v); ok {
					f.desc, f.hasDesc = s, true
				} else {
					bad = "ERR description argument given to redis.register_function must be a string"
				}
			case "callback":
				if c, ok := v.(*lua.LFunction); ok {
					fn = c
				} else {
					bad = "ERR callback argument given to redis.register_function must be a function"
				}
			case "flags":
				ft, ok := v.(*lua.LTable)
				if !ok {
					bad = "ERR flags argument to redis.register_function must be a table representing function flags"
					return
				}
				for i := 1; i <= ft.Len(); i++ {
					s, ok := ft.RawGetInt(i).(lua.LString)
					if !ok || !functionFlags[string(s)] {
						bad = "ERR unknown flag given"
						return
					}
					f.flags = append(f.flags, string(s))
					switch s {
					case "no-writes":
						f.noWrites = true
					case "allow-oom":
						f.allowOOM = true
					}
				}
			default:
				bad = "ERR unknown argument given to redis.register_function"
			}
		})
		if bad != "" {
			fail(bad)
		}
		if !named {
			fail("ERR redis.register_function must get a function name argument")
		}
		if fn == nil {
			fail("ERR redis.register_function must get a callback argument")
		}
	case 2:
		s, ok := luaString(L.Get(1))
		if !ok {
			fail("ERR first argument to redis.register_function must be a string")
		}
		c, ok := L.Get(2).(*lua.LFunction)
		if !ok {
			fail("ERR second argument to redis.register_function must be a function")
		}
		f.name, fn = s, c
	default:
		fail("ERR wrong number of arguments to redis.register_function")
	}
	if !validLibName(f.name) {
		fail(errBadName)
	}
	for _, g := range *vm.register {
		if strings.EqualFold(g.name, f.name) {
			fail("ERR Function already exists in the library")
		}
	}
	*vm.register = append(*vm.register, registered{name: f.name, fn: fn, f: f})
	return 0
}

func luaString(v lua.LValue) (string, bool) {
	switch v := v.(type) {
	case lua.LString:
		return string(v), true
	case lua.LNumber:
		return v.String(), true
	}
	return "", false
}

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
	f := c.srv.scripts.funcs.get(string(args[1]))
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
	if ro && !f.noWrites {
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
		return c.runLua(&scriptRun{name: f.name, chunk: functionChunk, isFunc: true, ro: ro || f.noWrites, argv0: cmd, scope: &f.scope}, f, keys, argv)
	}
	c.runWithKeys(keys, &f.scope, run)
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
	name, msg := c.srv.scripts.loadLibrary(string(args[i]), replace)
	if msg != "" {
		c.replyError(msg)
		return
	}
	c.replyBulkString(name)
}

func cmdFunctionDelete(c *client, args [][]byte) {
	if !c.srv.scripts.funcs.remove(string(args[2])) {
		c.replyError("ERR Library not found")
		return
	}
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
	c.srv.scripts.funcs.flush()
	c.replyOK()
}

func cmdFunctionKill(c *client, args [][]byte) {
	if msg := c.srv.scripts.kill(false, c.busyLimit()); msg != "" {
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
	r := &c.srv.scripts.funcs
	r.mu.Lock()
	var libs []*library
	for _, lib := range r.libs {
		if !hasPattern || glob.Match(pattern, lib.name, true) {
			libs = append(libs, lib)
		}
	}
	r.mu.Unlock()
	sort.Slice(libs, func(i, j int) bool { return libs[i].name < libs[j].name })
	c.replyArray(len(libs))
	for _, lib := range libs {
		if withCode {
			c.replyMap(4)
		} else {
			c.replyMap(3)
		}
		c.replyBulkString("library_name")
		c.replyBulkString(lib.name)
		c.replyBulkString("engine")
		c.replyBulkString("LUA")
		c.replyBulkString("functions")
		c.replyArray(len(lib.funcs))
		for _, f := range lib.funcs {
			c.replyMap(3)
			c.replyBulkString("name")
			c.replyBulkString(f.name)
			c.replyBulkString("description")
			if f.hasDesc {
				c.replyBulkString(f.desc)
			} else {
				c.replyNull()
			}
			c.replyBulkString("flags")
			c.replySet(len(f.flags))
			for _, fl := range f.flags {
				c.replySimple(fl)
			}
		}
		if withCode {
			c.replyBulkString("library_code")
			c.replyBulkString(lib.code)
		}
	}
}

func cmdFunctionStats(c *client, args [][]byte) {
	e := &c.srv.scripts
	// FUNCTION STATS may run while busy, but not while an EVAL is.
	if msg := e.timedOut(time.Duration(c.srv.cfg.Int("busy-reply-threshold")) * time.Millisecond); msg == busyEval {
		c.replyError(msg)
		return
	}
	var running *scriptRun
	e.mu.Lock()
	for r := range e.running {
		if r.isFunc {
			running = r
		}
	}
	e.mu.Unlock()
	e.funcs.mu.Lock()
	nlibs, nfuncs := len(e.funcs.libs), len(e.funcs.funcs)
	e.funcs.mu.Unlock()
	c.replyMap(2)
	c.replyBulkString("running_script")
	if running == nil {
		c.replyNull()
	} else {
		c.replyMap(3)
		c.replyBulkString("name")
		c.replyBulkString(running.name)
		c.replyBulkString("command")
		c.replyArray(len(running.argv0))
		for _, a := range running.argv0 {
			c.replyBulk(a)
		}
		c.replyBulkString("duration_ms")
		c.replyInt(time.Since(running.since).Milliseconds())
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
