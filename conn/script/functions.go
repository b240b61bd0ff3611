package script

import (
	"context"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

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
// EVAL (Engine.Run).

const functionChunk = "user_function"

// Library is a loaded function library.
type Library struct {
	name  string
	code  string
	proto *lua.FunctionProto
	funcs []*Function
}

// Name returns the library's name.
func (l *Library) Name() string { return l.name }

// Code returns the library's code, its shebang line first.
func (l *Library) Code() string { return l.code }

// Functions returns the functions the library registered, in order.
func (l *Library) Functions() []*Function { return l.funcs }

// Function is a function a library registered.
type Function struct {
	name     string
	lib      *Library
	desc     string
	hasDesc  bool
	flags    []string
	noWrites bool
	allowOOM bool
	scope    KeyScope
}

// Name returns the function's name as registered.
func (f *Function) Name() string { return f.name }

// Description returns the function's description, if it has one.
func (f *Function) Description() (string, bool) { return f.desc, f.hasDesc }

// Flags returns the function's flags as registered.
func (f *Function) Flags() []string { return f.flags }

// NoWrites reports the no-writes flag.
func (f *Function) NoWrites() bool { return f.noWrites }

// AllowOOM reports the allow-oom flag.
func (f *Function) AllowOOM() bool { return f.allowOOM }

// Scope returns what runs of the function showed of its keys.
func (f *Function) Scope() *KeyScope { return &f.scope }

// registered is one redis.register_function call seen while loading.
type registered struct {
	name string
	fn   *lua.LFunction
	f    *Function
}

type functionRegistry struct {
	mu    sync.Mutex
	libs  map[string]*Library  // by name (case-sensitive, as in Redis)
	funcs map[string]*Function // by lower-case name
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

func (r *functionRegistry) get(name string) *Function {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.funcs[strings.ToLower(name)]
}

// LoadLibrary compiles and registers a library (FUNCTION LOAD); it
// returns the library's name or an error reply.
func (e *Engine) LoadLibrary(code string, replace bool) (string, string) {
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
		r.libs, r.funcs = map[string]*Library{}, map[string]*Function{}
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
func (e *Engine) compileLibrary(name, code string) (*Library, string) {
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
	lib := &Library{name: name, code: code, proto: proto}
	vm, _ := e.vms.Get().(*luaVM)
	if vm == nil {
		vm = newLuaVM(e)
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
func (r *functionRegistry) callable(vm *luaVM, f *Function) (*lua.LFunction, string) {
	if gen := r.gen.Load(); vm.libs == nil || vm.libsGen != gen {
		vm.libs, vm.libsGen = map[*Library]map[string]*lua.LFunction{}, gen
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
func (vm *luaVM) loadLibrary(lib *Library) (map[string]*lua.LFunction, []registered, string) {
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
	f := &Function{}
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

// Function returns the function of that name (in any letter case), or nil.
func (e *Engine) Function(name string) *Function { return e.funcs.get(name) }

// DeleteLibrary removes a library and its functions (FUNCTION DELETE);
// false when there is none of that name.
func (e *Engine) DeleteLibrary(name string) bool { return e.funcs.remove(name) }

// FlushFunctions removes every library (FUNCTION FLUSH).
func (e *Engine) FlushFunctions() { e.funcs.flush() }

// Libraries returns the libraries for which match (nil: all) is true, by
// name.
func (e *Engine) Libraries(match func(name string) bool) []*Library {
	r := &e.funcs
	r.mu.Lock()
	var libs []*Library
	for _, lib := range r.libs {
		if match == nil || match(lib.name) {
			libs = append(libs, lib)
		}
	}
	r.mu.Unlock()
	sort.Slice(libs, func(i, j int) bool { return libs[i].name < libs[j].name })
	return libs
}

// FunctionCounts returns how many libraries and functions are loaded.
func (e *Engine) FunctionCounts() (libs, funcs int) {
	e.funcs.mu.Lock()
	defer e.funcs.mu.Unlock()
	return len(e.funcs.libs), len(e.funcs.funcs)
}

// RunningFunction describes a function running, if one is, for FUNCTION
// STATS: its name, the command that called it and when it started.
func (e *Engine) RunningFunction() (name string, cmd [][]byte, since time.Time, ok bool) {
	var running *scriptRun
	e.mu.Lock()
	for r := range e.running {
		if r.isFunc {
			running = r
		}
	}
	e.mu.Unlock()
	if running == nil {
		return "", nil, time.Time{}, false
	}
	return running.name, running.argv0, running.since, true
}
