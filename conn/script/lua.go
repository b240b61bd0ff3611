package script

import (
	"context"
	"log/slog"
	"math"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/valkyrie-kv/valkyrie/conn/script/lualib"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/shard/osmem"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// The Lua side of scripting, on gopher-lua (Lua 5.1). Each script runs in
// a pooled interpreter whose libraries are base (without dofile and
// loadfile), table, string, math, and bit, cjson, cmsgpack and struct
// (package lualib). Globals are
// read-only to scripts: the compiled function's environment is a proxy
// that refuses new globals ("Attempt to modify a readonly table") and
// reading unknown ones.

const scriptChunk = "user_script"

func compileLua(body string) (*lua.FunctionProto, error) {
	chunk, err := parse.Parse(strings.NewReader(body), scriptChunk)
	if err != nil {
		return nil, err
	}
	proto, err := lua.Compile(chunk, scriptChunk)
	if err == nil {
		compactProto(proto)
	}
	return proto, err
}

// compactProto trims a compiled function and those nested in it to their
// lengths. gopher-lua's compiler starts every function with room for 128
// instructions, 128 debug positions and calls, 32 constants and more
// (about 6 KiB), and the script cache keeps them all: a one-line script
// cost about 17 KiB of heap.
func compactProto(p *lua.FunctionProto) {
	p.Code = slices.Clone(p.Code)
	p.Constants = slices.Clone(p.Constants)
	p.FunctionPrototypes = slices.Clone(p.FunctionPrototypes)
	p.DbgSourcePositions = slices.Clone(p.DbgSourcePositions)
	p.DbgLocals = slices.Clone(p.DbgLocals)
	p.DbgCalls = slices.Clone(p.DbgCalls)
	p.DbgUpvalues = slices.Clone(p.DbgUpvalues)
	for _, child := range p.FunctionPrototypes {
		compactProto(child)
	}
}

// luaVM is one interpreter with the sandbox installed; run points at the
// script it is running.
type luaVM struct {
	L       *lua.LState
	globals *lua.LTable // the real globals, behind env
	env     *lua.LTable // what scripts see as their globals
	run     *scriptRun

	// Functions (functions.go): while a library loads, loadAPI stands
	// in for the globals; libs caches the libraries run on this VM.
	loadAPI  *lua.LTable
	active   *lua.LTable // loadAPI while loading, else nil
	libs     map[*Library]map[string]*lua.LFunction
	libsGen  uint64
	register *[]registered

	box sandbox // read-only tables (sandbox.go)

	cjson *lualib.CjsonConfig // the cjson global's settings

	stop *stopCtx // what the script running on it checks (limits.go)
	eng  *Engine  // the engine it belongs to: math.random's generator
	// onError is the message handler of every run: it notes where the
	// error came from (run.where) and passes the error on.
	onError *lua.LFunction
}

// The states of a run (scriptRun.state).
const (
	runClean  int32 = iota // no write yet: KILL may stop it
	runWrote               // it has written: KILL may not
	runKilled              // KILL stopped it
)

// startWrite records that a write is about to run; false means KILL came
// first and the write must not happen.
func (r *scriptRun) startWrite() bool {
	return r.state.CompareAndSwap(runClean, runWrote) || r.state.Load() == runWrote
}

// tryKill stops the run unless it has written.
func (r *scriptRun) tryKill() bool {
	if !r.state.CompareAndSwap(runClean, runKilled) {
		return false
	}
	r.cancel()
	return true
}

// forceKill stops the run even if it has written (tests, and shutdown).
func (r *scriptRun) forceKill() {
	r.state.Store(runKilled)
	r.cancel()
}

func (r *scriptRun) wrote() bool { return r.state.Load() == runWrote }

// rejected fails a call that was refused before it ran, counting it in
// the command's rejected_calls as Redis's scriptCall does.
func (r *scriptRun) rejected(cmd Command, args [][]byte, fail func(string) int, msg string) int {
	r.h.Rejected(cmd, args)
	return fail(msg)
}
func (r *scriptRun) killed() bool { return r.state.Load() == runKilled }

// unwinding reports an error that ends the whole script, which pcall and
// xpcall pass on: a KILL, the memory limit, or a restart holding every
// shard.
func (r *scriptRun) unwinding() bool { return r.restart || r.killed() || r.oom.Load() }

// scriptRun is one execution of a script.
type scriptRun struct {
	h      Host
	vm     *luaVM
	script *Script
	fn     *lua.LFunction // FCALL: the function to call with keys, args
	name   string         // the script's SHA1 or the function's name
	chunk  string         // scriptChunk or functionChunk
	isFunc bool
	since  time.Time
	argv0  [][]byte // the command, for FUNCTION STATS
	ro     bool
	db     int
	proto  wire.Proto // set by redis.setresp

	replyProto wire.Proto // the connection's, for the script's reply
	inExec     bool       // inside EXEC, which holds every shard
	counted    bool       // the reply is an error redis.call counted

	oomAtStart bool // over maxmemory when the run began
	allowOOM   bool // the allow-oom flag
	shards     []*shard.Shard
	across     shard.Across
	buf        []byte
	raised     map[*lua.LTable]bool // errors raised by redis.call
	errs       []string             // error replies to count when the run ends

	// Keys and shards (scope.go).
	keys        [][]byte  // KEYS
	scope       *KeyScope // what runs of this script showed
	undeclared  bool      // this run touched a key not in KEYS
	sideEffects bool      // it ran a write (or PUBLISH): it cannot start over
	restart     bool      // it stopped to run again holding every shard
	need        []int     // scratch for reach
	keyIdx      []int

	// state is runClean until the script's first write (runWrote) or a
	// KILL (runKilled), whichever comes first: one compare-and-swap, so a
	// script that has written is never killed.
	state   atomic.Int32
	oom     atomic.Bool     // aborted by the memory watchdog (limits.go)
	memBase uint64          // the heap at the watchdog's first sample; under the engine's mu
	where   string          // "user_script:N: " of the error that ended the run
	big     bool            // the reply outgrew lualib.MaxString
	ctx     context.Context // cancelled by SCRIPT KILL
	cancel  context.CancelFunc
}

func newLuaVM(eng *Engine) *luaVM {
	L := lua.NewState(lua.Options{SkipOpenLibs: true, RegistryMaxSize: luaRegistryMax})
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	vm := &luaVM{L: L, globals: L.G.Global, stop: newStopCtx(), eng: eng}
	vm.onError = L.NewFunction(func(L *lua.LState) int {
		if vm.run != nil {
			vm.run.where = userWhere(L)
		}
		L.Push(L.Get(1))
		return 1
	})
	g := vm.globals
	for _, name := range []string{"dofile", "loadfile", "require", "module", "newproxy"} {
		g.RawSetString(name, lua.LNil)
	}
	installLuaLimits(L, g)
	vm.installLuaRand(g.RawGetString("math").(*lua.LTable))
	installBinaryChunks(L, g, g.RawGetString("string").(*lua.LTable))
	installCallErrors(L)
	g.RawSetString("bit", lualib.NewBit(L))
	var cjson *lua.LTable
	cjson, vm.cjson = lualib.NewCjson(L)
	g.RawSetString("cjson", cjson)
	g.RawSetString("cmsgpack", lualib.NewCmsgpack(L))
	g.RawSetString("struct", lualib.NewStruct(L))
	// As in Redis, an error raised by redis.call and caught by pcall
	// reads as its message.
	// An error that ends the whole script (SCRIPT KILL, the memory limit,
	// a restart holding every shard) goes through pcall and xpcall.
	rethrow := func(L *lua.LState) {
		if r := vm.run; r != nil && r.unwinding() {
			L.Error(L.Get(2), 0)
		}
	}
	origPcall := g.RawGetString("pcall")
	g.RawSetString("pcall", L.NewFunction(func(L *lua.LState) int {
		n := L.GetTop()
		L.Insert(origPcall, 1)
		L.Call(n, lua.MultRet)
		if L.GetTop() >= 2 && L.Get(1) == lua.LFalse {
			rethrow(L)
			if t, ok := L.Get(2).(*lua.LTable); ok && vm.run != nil && vm.run.raised[t] {
				L.Replace(2, t.RawGetString("err"))
			}
		}
		return L.GetTop()
	}))
	origXpcall := g.RawGetString("xpcall")
	g.RawSetString("xpcall", L.NewFunction(func(L *lua.LState) int {
		// The handler must not run for an error that ends the script: it
		// could write after a KILL, or before a restart.
		if h, ok := L.Get(2).(*lua.LFunction); ok {
			L.Replace(2, L.NewFunction(func(L *lua.LState) int {
				if r := vm.run; r != nil && r.unwinding() {
					L.SetTop(1)
					return 1
				}
				return callOrig(L, h)
			}))
		}
		n := L.GetTop()
		L.Insert(origXpcall, 1)
		L.Call(n, lua.MultRet)
		if L.GetTop() >= 2 && L.Get(1) == lua.LFalse {
			rethrow(L)
		}
		return L.GetTop()
	}))
	redis := L.NewTable()
	fns := map[string]lua.LGFunction{
		"call":         func(L *lua.LState) int { return vm.run.call(L, true) },
		"pcall":        func(L *lua.LState) int { return vm.run.call(L, false) },
		"error_reply":  luaErrorReply,
		"status_reply": luaStatusReply,
		"sha1hex": func(L *lua.LState) int {
			if L.GetTop() != 1 {
				L.RaiseError("wrong number of arguments")
			}
			L.Push(lua.LString(SHA1Hex(L.ToString(1))))
			return 1
		},
		"log":     luaLog,
		"setresp": func(L *lua.LState) int { return vm.run.setresp(L) },
		// Replication is by effects, as in Redis 7.0: nothing to choose.
		"replicate_commands": func(L *lua.LState) int { L.Push(lua.LTrue); return 1 },
		"set_repl":           luaSetRepl,
		// No debugger (SCRIPT DEBUG): as in Redis outside a session.
		"breakpoint":    func(L *lua.LState) int { L.Push(lua.LFalse); return 1 },
		"debug":         func(L *lua.LState) int { return 0 },
		"acl_check_cmd": func(L *lua.LState) int { return vm.run.aclCheckCmd(L) },
	}
	for name, fn := range fns {
		redis.RawSetString(name, L.NewFunction(fn))
	}
	for i, name := range []string{"LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"} {
		redis.RawSetString(name, lua.LNumber(i))
	}
	for name, v := range map[string]int{"REPL_NONE": 0, "REPL_AOF": replAOF, "REPL_SLAVE": replReplica, "REPL_REPLICA": replReplica, "REPL_ALL": replAOF | replReplica} {
		redis.RawSetString(name, lua.LNumber(v))
	}
	redis.RawSetString("REDIS_VERSION", lua.LString("7.0.15"))
	redis.RawSetString("REDIS_VERSION_NUM", lua.LNumber(0x07000f))
	g.RawSetString("redis", redis)

	vm.env = L.NewTable()
	meta := L.NewTable()
	meta.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		k := L.Get(2)
		var v lua.LValue
		if vm.active != nil {
			v = vm.active.RawGet(k)
		} else {
			v = g.RawGet(k)
		}
		if v == lua.LNil {
			L.Error(lua.LString(userWhere(L)+"Script attempted to access nonexistent global variable '"+lua.LVAsString(k)+"'"), 0)
		}
		L.Push(v)
		return 1
	}))
	meta.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.Error(lua.LString(userWhere(L)+"Attempt to modify a readonly table"), 0)
		return 0
	}))
	meta.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(vm.env, meta)
	g.RawSetString("_G", vm.env)
	vm.lockDown(g, meta)
	return vm
}

// reset drops what the last run left behind.
func (vm *luaVM) reset() {
	vm.run = nil
	vm.globals.RawSetString("KEYS", lua.LNil)
	vm.globals.RawSetString("ARGV", lua.LNil)
	vm.L.SetTop(0)
	vm.L.RemoveContext()
	vm.L.Env = vm.env
	if vm.stop.stopped.Load() {
		vm.stop = newStopCtx()
	}
	*vm.cjson = lualib.CjsonDefaults
}

// userWhere returns "user_script:N: " for the innermost script frame.
func userWhere(L *lua.LState) string {
	for level := 1; level < 50; level++ {
		if _, ok := L.GetStack(level); !ok {
			break
		}
		if w := L.Where(level); strings.HasPrefix(w, scriptChunk+":") || strings.HasPrefix(w, functionChunk+":") {
			return w + " "
		}
	}
	return ""
}

func errTable(L *lua.LState, msg string) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("err", lua.LString(msg))
	return t
}

// countedErr returns the error table for an error redis.call or
// redis.pcall got, and counts it in the error stats (when the run ends).
// As in Redis, the table says so to scripts, and the error is not counted
// again should the script return it.
func (r *scriptRun) countedErr(L *lua.LState, msg string) *lua.LTable {
	t := errTable(L, msg)
	t.RawSetString("ignore_error_stats_update", lua.LTrue)
	r.errs = append(r.errs, msg)
	return t
}

// counted reports whether v is an error table already counted.
func counted(v lua.LValue) bool {
	t, ok := v.(*lua.LTable)
	return ok && t.RawGetString("ignore_error_stats_update") == lua.LTrue
}

func luaErrorReply(L *lua.LState) int {
	if L.GetTop() != 1 || L.Get(1).Type() != lua.LTString {
		L.Error(errTable(L, "ERR wrong number or type of arguments"), 0)
	}
	// Like Redis: drop a leading '-', and without a "CODE message" form
	// the code is ERR.
	msg := strings.TrimPrefix(L.ToString(1), "-")
	if !strings.Contains(msg, " ") {
		msg = "ERR " + msg
	}
	L.Push(errTable(L, msg))
	return 1
}

func luaStatusReply(L *lua.LState) int {
	if L.GetTop() != 1 || L.Get(1).Type() != lua.LTString {
		L.Error(errTable(L, "ERR wrong number or type of arguments"), 0)
	}
	t := L.NewTable()
	t.RawSetString("ok", L.Get(1))
	L.Push(t)
	return 1
}

// The targets redis.set_repl may name (Redis's PROPAGATE_AOF and
// PROPAGATE_REPL).
const (
	replAOF     = 1
	replReplica = 2
)

// luaSetRepl is redis.set_repl: it checks its argument as Redis does.
// Nothing is propagated yet (no AOF, no replicas), so there is no state.
func luaSetRepl(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.Error(errTable(L, "ERR redis.set_repl() requires two arguments."), 0)
	}
	flags := 0
	if n, ok := L.Get(1).(lua.LNumber); ok {
		flags = int(n)
	} else if s, ok := L.Get(1).(lua.LString); ok {
		if n, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64); err == nil {
			flags = int(n)
		}
	}
	if flags&^(replAOF|replReplica) != 0 {
		L.Error(errTable(L, "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."), 0)
	}
	return 0
}

// luaCommandArgs converts the n arguments of redis.call (or pcall,
// acl_check_cmd) to a command, raising Redis's error for other types.
func luaCommandArgs(L *lua.LState, n int) [][]byte {
	args := make([][]byte, n)
	for i := 1; i <= n; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString:
			args[i-1] = []byte(v)
		case lua.LNumber:
			args[i-1] = strconv.AppendFloat(nil, float64(v), 'g', 17, 64)
		default:
			L.Error(errTable(L, "ERR Lua redis lib command arguments must be strings or integers"), 0)
		}
	}
	return args
}

// aclCheckCmd is redis.acl_check_cmd: true when the command exists, as
// every user may run every command until ACLs exist.
func (r *scriptRun) aclCheckCmd(L *lua.LState) int {
	n := L.GetTop()
	if n == 0 {
		L.Error(errTable(L, "ERR Please specify at least one argument for this redis lib call"), 0)
	}
	args := luaCommandArgs(L, n)
	cmd := r.h.Command(args)
	if cmd.Kind == Unknown {
		L.Error(errTable(L, "ERR Invalid command passed to redis.acl_check_cmd()"), 0)
	}
	L.Push(lua.LBool(r.h.Allows(cmd, args)))
	return 1
}

func luaLog(L *lua.LState) int {
	if L.GetTop() < 2 {
		L.Error(errTable(L, "ERR redis.log() requires two arguments or more."), 0)
	}
	if L.Get(1).Type() != lua.LTNumber {
		L.Error(errTable(L, "ERR First argument must be a number (log level)."), 0)
	}
	level := int(L.ToNumber(1))
	if level < 0 || level > 3 {
		L.Error(errTable(L, "ERR Invalid debug level."), 0)
	}
	var parts []string
	for i := 2; i <= L.GetTop(); i++ {
		parts = append(parts, L.ToString(i))
	}
	lv := []slog.Level{slog.LevelDebug, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn}[level]
	slog.Log(context.Background(), lv, strings.Join(parts, " "), "source", "script")
	return 0
}

func (r *scriptRun) setresp(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.Error(errTable(L, "ERR redis.setresp() requires one argument."), 0)
	}
	switch L.ToInt(1) {
	case 2:
		r.proto = wire.RESP2
	case 3:
		r.proto = wire.RESP3
	default:
		L.Error(errTable(L, "ERR RESP version must be 2 or 3."), 0)
	}
	return 0
}

// run executes the script with KEYS and ARGV and appends its reply to out.
func (r *scriptRun) run(keys, argv [][]byte, out []byte) []byte {
	vm := r.vm
	L := vm.L
	vm.run = r
	L.SetContext(r.ctx)
	nargs := 0
	if r.fn != nil {
		L.Push(r.fn)
		L.Push(bytesTable(L, keys))
		L.Push(bytesTable(L, argv))
		nargs = 2
	} else {
		vm.globals.RawSetString("KEYS", bytesTable(L, keys))
		vm.globals.RawSetString("ARGV", bytesTable(L, argv))
		fn := L.NewFunctionFromProto(r.script.proto)
		fn.Env = vm.env
		L.Push(fn)
	}
	r.where = ""
	if err := L.PCall(nargs, 1, vm.onError); err != nil {
		if r.killed() {
			r.restart = false
		}
		if r.restart {
			return out // the host runs it again (Result.Restart)
		}
		var obj lua.LValue = lua.LString(err.Error())
		if ae, ok := err.(*lua.ApiError); ok && ae.Object != nil {
			obj = ae.Object
		}
		var msg string
		switch {
		case r.killed():
			msg = "ERR Script killed by user with SCRIPT KILL..."
		case r.oom.Load():
			msg = "ERR Script exceeded the memory limit of " + strconv.FormatUint(MemLimit>>20, 10) + " MiB"
		case obj.Type() == lua.LTTable && obj.(*lua.LTable).RawGetString("err").Type() == lua.LTString:
			msg = obj.(*lua.LTable).RawGetString("err").String()
			if counted(obj) && !r.inExec {
				r.counted = true // by redis.call
			}
		default:
			msg = "ERR " + lua.LVAsString(obj)
		}
		line := strings.TrimSuffix(strings.TrimPrefix(r.where, r.chunk+":"), ": ")
		if line == "" {
			line = "?"
		}
		return wire.AppendError(out, msg+" script: "+r.name+", on @"+r.chunk+":"+line+".")
	}
	v := L.Get(-1)
	L.Pop(1)
	start := len(out)
	if counted(v) && !r.inExec {
		r.counted = true
	}
	out = r.toRESP(out, v, 0)
	if r.big {
		out = wire.AppendError(out[:start], "ERR reply of script "+r.name+" is larger than "+strconv.Itoa(lualib.MaxString>>20)+" MiB")
	}
	return out
}

func bytesTable(L *lua.LState, list [][]byte) *lua.LTable {
	t := L.CreateTable(len(list), 0)
	for i, b := range list {
		t.RawSetInt(i+1, lua.LString(b))
	}
	return t
}

// runData runs a data command for the script into r.buf. A command that
// panics (a bug) would otherwise become a Lua error through gopher-lua's
// PCall with nothing logged: it is logged at error level here and ok is
// false, so the script sees an error reply.
func (r *scriptRun) runData(cmd *shard.Command, args [][]byte) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			r.h.Panicked(cmd.Name, p, debug.Stack())
			ok = false
		}
	}()
	r.buf = r.across.Run(cmd, args, nil, nil, r.db, r.proto, r.buf[:0])
	return true
}

// call is redis.call (raise) and redis.pcall: it runs one command on the
// borrowed shards and converts its reply to Lua.
func (r *scriptRun) call(L *lua.LState, raise bool) int {
	fail := func(msg string) int {
		t := r.countedErr(L, msg)
		if raise {
			r.raise(L, t)
		}
		L.Push(t)
		return 1
	}
	n := L.GetTop()
	if n == 0 {
		// Redis raises this one from pcall too.
		L.Error(errTable(L, "ERR Please specify at least one argument for this redis lib call"), 0)
	}
	args := luaCommandArgs(L, n)
	cmd := r.h.Command(args)
	if cmd.Kind == Unknown {
		// As in Redis, a container's subcommand is the command: its own
		// arity and flags decide (CLUSTER RESET is noscript, CLUSTER INFO
		// not); an unknown subcommand is an unknown command.
		return fail("ERR Unknown Redis command called from script")
	}
	spec := cmd.Spec
	if a := spec.Arity; !(a == len(args) || (a < 0 && len(args) >= -a)) {
		return r.rejected(cmd, args, fail, "ERR Wrong number of args calling Redis command from script")
	}
	if spec.Flags&shard.NoScript != 0 || cmd.Kind == Denied {
		return r.rejected(cmd, args, fail, "ERR This Redis command is not allowed from script")
	}
	if msg := r.h.Denied(cmd, args); msg != "" {
		return r.rejected(cmd, args, fail, msg)
	}
	if spec.Flags&shard.DenyOOM != 0 && r.oomAtStart && !r.allowOOM && !r.wrote() {
		return r.rejected(cmd, args, fail, ErrOOM) // as Redis's scriptVerifyOOM
	}
	// As Redis's scriptVerifyWriteCommandAllow: a read-only script may not
	// even replicate (PUBLISH), the server-state checks are for writes.
	if r.ro && spec.Flags&(shard.Write|shard.MayReplicate) != 0 {
		return r.rejected(cmd, args, fail, "ERR Write commands are not allowed from read-only scripts.")
	}
	if spec.Flags&shard.Write != 0 {
		// Once the script has written it must go on (Redis's WRITE_DIRTY).
		if msg := r.h.WritesRefused(); msg != "" && !r.wrote() {
			return r.rejected(cmd, args, fail, msg)
		}
	}
	var reply []byte
	switch cmd.Kind {
	case Data:
		if msg := r.reach(L, cmd.Data, args); msg != "" {
			return r.rejected(cmd, args, fail, msg)
		}
		if cmd.Data.Flags&shard.Write != 0 && !r.startWrite() {
			L.RaiseError("script killed") // KILL came first: nothing written
		}
		if spec.Flags&(shard.Write|shard.MayReplicate) != 0 {
			r.sideEffects = true
		}
		if !r.runData(cmd.Data, args) {
			return fail(shard.ErrPanicked)
		}
		reply = r.buf
		if spec.Name == "flushall" && len(reply) > 0 && reply[0] != '-' {
			r.h.FlushedAll()
		}
	case Barrier: // INFO too: see TestScriptCallsInfo
		return fail("ERR This Redis command is not allowed from script")
	default: // Local, SELECT among them: it changes r.db
		if spec.Flags&(shard.Write|shard.MayReplicate) != 0 {
			r.sideEffects = true
		}
		reply = r.h.Local(cmd, args, &r.db, r.proto, r.buf[:0])
		r.buf = reply
	}
	v, _, ok := r.fromRESP(L, reply)
	if cap(r.buf) > osmem.Keep { // converted: a large reply is not kept for the next call
		osmem.Released(cap(r.buf))
		r.buf = nil
	}
	if !ok {
		return fail("ERR unparsable reply")
	}
	if t, isTable := v.(*lua.LTable); isTable && raise && reply[0] == '-' {
		r.raise(L, t)
	}
	L.Push(v)
	return 1
}

// raise raises the error table t from redis.call.
func (r *scriptRun) raise(L *lua.LState, t *lua.LTable) {
	if r.raised == nil {
		r.raised = map[*lua.LTable]bool{}
	}
	r.raised[t] = true
	L.Error(t, 0)
}

// fromRESP converts one reply at the start of b to a Lua value, as Redis
// 7.0 does for the protocol the script chose, and returns the rest of b.
func (r *scriptRun) fromRESP(L *lua.LState, b []byte) (lua.LValue, []byte, bool) {
	i := indexCRLF(b)
	if len(b) == 0 || i < 0 {
		return nil, nil, false
	}
	line, rest := string(b[1:i]), b[i+2:]
	num := func() int { n, _ := strconv.Atoi(line); return n }
	switch b[0] {
	case '+':
		t := L.NewTable()
		t.RawSetString("ok", lua.LString(line))
		return t, rest, true
	case '-':
		return r.countedErr(L, line), rest, true
	case ':':
		n, _ := strconv.ParseInt(line, 10, 64)
		return lua.LNumber(n), rest, true
	case '$', '=':
		n := num()
		if n < 0 {
			return lua.LFalse, rest, true
		}
		if len(rest) < n+2 {
			return nil, nil, false
		}
		s := rest[:n]
		if b[0] == '=' && len(s) >= 4 {
			// As Redis: {verbatim_string={string=..., format=...}}.
			v := L.NewTable()
			v.RawSetString("string", lua.LString(s[4:]))
			v.RawSetString("format", lua.LString(s[:3]))
			t := L.NewTable()
			t.RawSetString("verbatim_string", v)
			return t, rest[n+2:], true
		}
		return lua.LString(s), rest[n+2:], true
	case '|':
		// An attribute: Redis does not show it to the script; the reply
		// follows it.
		for j := 0; j < 2*num(); j++ {
			var ok bool
			if _, rest, ok = r.fromRESP(L, rest); !ok {
				return nil, nil, false
			}
		}
		return r.fromRESP(L, rest)
	case '*', '~', '%', '>':
		n := num()
		if n < 0 {
			return lua.LFalse, rest, true
		}
		items := L.NewTable()
		for j := 0; j < n; j++ {
			var k, v lua.LValue
			var ok bool
			if k, rest, ok = r.fromRESP(L, rest); !ok {
				return nil, nil, false
			}
			switch b[0] {
			case '%':
				if v, rest, ok = r.fromRESP(L, rest); !ok {
					return nil, nil, false
				}
				items.RawSet(k, v)
			case '~':
				items.RawSet(k, lua.LTrue)
			default:
				items.RawSetInt(j+1, k)
			}
		}
		switch b[0] {
		case '%':
			t := L.NewTable()
			t.RawSetString("map", items)
			return t, rest, true
		case '~':
			t := L.NewTable()
			t.RawSetString("set", items)
			return t, rest, true
		}
		return items, rest, true
	case '_':
		return lua.LNil, rest, true
	case '#':
		return lua.LBool(line == "t"), rest, true
	case ',':
		t := L.NewTable()
		f, err := strconv.ParseFloat(line, 64)
		if err != nil {
			switch line {
			case "inf":
				f = math.Inf(1)
			case "-inf":
				f = math.Inf(-1)
			default:
				f = math.NaN()
			}
		}
		t.RawSetString("double", lua.LNumber(f))
		return t, rest, true
	case '(':
		t := L.NewTable()
		t.RawSetString("big_number", lua.LString(line))
		return t, rest, true
	}
	return nil, nil, false
}

func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

// toRESP converts the script's return value to a reply in the caller's
// protocol, following Redis 7.0's rules.
func (r *scriptRun) toRESP(out []byte, v lua.LValue, depth int) []byte {
	proto := r.replyProto
	if r.big || len(out) > lualib.MaxString {
		// A table can refer to itself: its reply grows exponentially.
		r.big = true
		return out
	}
	if depth > 100 {
		return wire.AppendError(out, "ERR reached lua stack limit")
	}
	switch v := v.(type) {
	case lua.LString:
		return wire.AppendBulkString(out, string(v))
	case lua.LNumber:
		return wire.AppendInt(out, int64(v))
	case lua.LBool:
		if r.proto == wire.RESP3 {
			return wire.AppendBool(out, bool(v), proto)
		}
		if v {
			return wire.AppendInt(out, 1)
		}
		return wire.AppendNull(out, proto)
	case *lua.LTable:
		if e := v.RawGetString("err"); e.Type() == lua.LTString {
			if depth > 0 && !counted(v) {
				// The client counts the reply's own error, not those
				// inside it.
				r.errs = append(r.errs, string(e.(lua.LString)))
			}
			return wire.AppendError(out, string(e.(lua.LString)))
		}
		if ok := v.RawGetString("ok"); ok.Type() == lua.LTString {
			return wire.AppendSimple(out, string(ok.(lua.LString)))
		}
		if d := v.RawGetString("double"); d.Type() == lua.LTNumber {
			return wire.AppendDouble(out, float64(d.(lua.LNumber)), proto)
		}
		if d := v.RawGetString("big_number"); d.Type() == lua.LTString {
			// As Redis, CR and LF become spaces: they would end the line.
			digits := strings.NewReplacer("\r", " ", "\n", " ").Replace(string(d.(lua.LString)))
			return wire.AppendBigNumber(out, digits, proto)
		}
		if vt, ok := v.RawGetString("verbatim_string").(*lua.LTable); ok {
			f, fok := vt.RawGetString("format").(lua.LString)
			str, sok := vt.RawGetString("string").(lua.LString)
			if fok && sok {
				return wire.AppendVerbatim(out, string(f), []byte(str), proto)
			}
		}
		if m, ok := v.RawGetString("map").(*lua.LTable); ok {
			var pairs []lua.LValue
			lualib.Each(m, func(k, v lua.LValue) { pairs = append(pairs, k, v) })
			out = wire.AppendMap(out, len(pairs)/2, proto)
			for _, x := range pairs {
				out = r.toRESP(out, x, depth+1)
			}
			return out
		}
		if s, ok := v.RawGetString("set").(*lua.LTable); ok {
			var elems []lua.LValue
			lualib.Each(s, func(k, _ lua.LValue) { elems = append(elems, k) })
			out = wire.AppendSet(out, len(elems), proto)
			for _, x := range elems {
				out = r.toRESP(out, x, depth+1)
			}
			return out
		}
		n := 0
		for v.RawGetInt(n+1) != lua.LNil {
			n++
		}
		out = wire.AppendArray(out, n)
		for i := 1; i <= n; i++ {
			out = r.toRESP(out, v.RawGetInt(i), depth+1)
		}
		return out
	}
	return wire.AppendNull(out, proto)
}
