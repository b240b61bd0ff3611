package script

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// Engine is the server's scripting state; it is not key data. Compiled
// scripts and function libraries are shared by every connection. The
// zero value is ready to use.
type Engine struct {
	mu       sync.Mutex
	scripts  map[string]*Script // by lower-case SHA1 hex
	running  map[*scriptRun]struct{}
	count    atomic.Int32     // len(running), for the check every command makes
	watching bool             // watchMemory runs
	vms      sync.Pool        // *luaVM
	funcs    functionRegistry // FUNCTION's libraries (functions.go)
	rand     luaRand          // math.random's generator (rand.go)
}

// Script is a cached EVAL script.
type Script struct {
	sha   string
	body  string
	proto *lua.FunctionProto
	flags Flags
	scope KeyScope
}

// SHA returns the script's SHA1, lower-case hex.
func (s *Script) SHA() string { return s.sha }

// Flags returns what the script's shebang line says.
func (s *Script) Flags() Flags { return s.flags }

// Scope returns what runs of the script showed of its keys.
func (s *Script) Scope() *KeyScope { return &s.scope }

// Flags are what a script's shebang line (#!lua flags=...) says.
// A script without one runs in Redis's compatibility mode.
type Flags struct {
	Shebang  bool // false: compatibility mode, the flags below are ignored
	NoWrites bool
	AllowOOM bool
}

// ParseShebang reads the "#!lua flags=a,b" line that may start an
// EVAL script, as Redis 7.0 does. It returns the flags, the length of the
// line (the compiler skips it, keeping the line feed so that line numbers
// stay right) and an error reply.
func ParseShebang(body string) (Flags, int, string) {
	var f Flags
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
	f.Shebang = true
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
				f.NoWrites = true
			case "allow-oom":
				f.AllowOOM = true
			case "allow-stale", "no-cluster", "allow-cross-slot-keys":
			default:
				return f, 0, "ERR Unexpected flag in script shebang: " + name
			}
		}
	}
	return f, end, ""
}

// SHA1Hex returns the SHA1 of s in lower-case hex, as EVAL names scripts.
func SHA1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Get returns the cached script with the given SHA1, or nil.
func (e *Engine) Get(sha string) *Script {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.scripts[strings.ToLower(sha)]
}

// Load compiles body, caching it, and returns it or a compile error reply.
func (e *Engine) Load(body string) (*Script, string) {
	sha := SHA1Hex(body)
	if s := e.Get(sha); s != nil {
		return s, ""
	}
	flags, skip, msg := ParseShebang(body)
	if msg != "" {
		return nil, msg
	}
	proto, err := compileLua(body[skip:])
	if err != nil {
		return nil, "ERR Error compiling script (new function): " + err.Error()
	}
	s := &Script{sha: sha, body: body, proto: proto, flags: flags}
	e.mu.Lock()
	if e.scripts == nil {
		e.scripts = map[string]*Script{}
	}
	e.scripts[sha] = s
	e.mu.Unlock()
	return s, ""
}

// Counts returns how many scripts are cached, and how many functions and
// libraries are loaded, for INFO memory.
func (e *Engine) Counts() (scripts, funcs, libs int) {
	e.mu.Lock()
	scripts = len(e.scripts)
	e.mu.Unlock()
	e.funcs.mu.Lock()
	funcs, libs = len(e.funcs.funcs), len(e.funcs.libs)
	e.funcs.mu.Unlock()
	return scripts, funcs, libs
}

// Flush empties the script cache (SCRIPT FLUSH).
func (e *Engine) Flush() {
	e.mu.Lock()
	e.scripts = nil
	e.mu.Unlock()
}

func (e *Engine) started(r *scriptRun) {
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

// StopAll cancels every running script, even those KILL may not stop:
// Shutdown calls it after the server's life has ended.
func (e *Engine) StopAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for r := range e.running {
		r.cancel()
	}
}

// KillAll stops every running script as KILL would, even those that have
// written (tests).
func (e *Engine) KillAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for r := range e.running {
		r.forceKill()
	}
}

// Running returns how many scripts and functions are running.
func (e *Engine) Running() int { return int(e.count.Load()) }

func (e *Engine) finished(r *scriptRun) {
	e.mu.Lock()
	delete(e.running, r)
	e.count.Store(int32(len(e.running)))
	e.mu.Unlock()
}

// Kill is SCRIPT KILL (eval true) and FUNCTION KILL (eval false); it
// returns the error reply, or "" for OK. In Redis a KILL can only reach a
// script that has run past busy-reply-threshold (limit); before that the
// server reads no command. Several scripts may run at once, on different
// shards: it stops every script of its kind past the limit that has not
// written yet. When it stops none, the reply says why, in Redis's order:
// no script past the limit (NOTBUSY), one has written (UNKILLABLE), or
// only the other kind runs (BUSY, naming the other KILL).
func (e *Engine) Kill(eval bool, limit time.Duration) string {
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

// The BUSY replies, naming the KILL for the kind of script that runs.
const (
	BusyEval     = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
	BusyFunction = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
)

func busyMessage(isFunc bool) string {
	if isFunc {
		return BusyFunction
	}
	return BusyEval
}

// BusyReply picks the BUSY message for the kind of script running.
func (e *Engine) BusyReply() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for r := range e.running {
		if r.isFunc {
			return BusyFunction
		}
	}
	return BusyEval
}

// TimedOut returns the BUSY reply when a script has run for longer than
// limit, or "". As in Redis, from then on every client gets it for every
// command but the few allowed while busy.
func (e *Engine) TimedOut(limit time.Duration) string {
	if e.count.Load() == 0 {
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	for r := range e.running {
		if now.Sub(r.since) >= limit {
			return busyMessage(r.isFunc)
		}
	}
	return ""
}

// Run runs an EVAL script (call.Script) or a function (call.Func) for h,
// with the shards in call.Shards, and appends its reply to out. With
// Result.Restart it appended nothing: the script stopped, before any
// effect, to be run again holding every shard.
func (e *Engine) Run(h Host, call *Call, out []byte) ([]byte, Result) {
	r := &scriptRun{h: h, argv0: call.Cmd, ro: call.ReadOnly, db: call.DB, shards: call.Shards, keys: call.Keys,
		inExec: call.InExec, replyProto: call.Proto}
	f := call.Func
	if f != nil {
		r.name, r.chunk, r.isFunc, r.scope = f.name, functionChunk, true, &f.scope
	} else {
		s := call.Script
		r.script, r.name, r.chunk, r.scope = s, s.sha, scriptChunk, &s.scope
	}
	// Over maxmemory when the run starts: commands that may grow the data
	// fail until the script has written.
	r.oomAtStart = call.OOM
	if f != nil {
		r.allowOOM = f.allowOOM
	} else if r.script != nil && r.script.flags.Shebang {
		r.allowOOM = r.script.flags.AllowOOM
	}
	vm, _ := e.vms.Get().(*luaVM)
	if vm == nil {
		vm = newLuaVM(e)
	}
	done := false
	defer func() {
		if !done {
			// A panic (a bug) is unwinding to the host, which gives the
			// shards back: forget the run, and drop the VM, whose state
			// is unknown.
			e.finished(r)
			return
		}
		vm.reset()
		e.vms.Put(vm)
	}()
	if f != nil {
		fn, msg := e.funcs.callable(vm, f)
		if fn == nil {
			done = true
			return wire.AppendError(out, msg), Result{}
		}
		r.fn = fn
	}
	r.vm, r.proto = vm, wire.RESP2
	r.ctx, r.cancel = vm.stop, vm.stop.stop
	r.since = time.Now()
	e.started(r)
	if h.Stopping() {
		r.cancel() // Shutdown began: StopAll may have missed this run
	}
	h.Busy(r.since.UnixNano())
	r.across.Stamp, r.across.Script, r.across.Client = call.Stamp, true, call.Client
	r.across.Track, r.across.Remember, r.across.ScriptKeys = call.Track, call.Remember, call.Keys
	r.across.Begin(r.shards, r.since.UnixMilli())
	defer func() {
		if r.across.Active() { // a panic (a bug) is unwinding
			r.across.End()
		}
	}()
	out = r.run(call.Keys, call.Args, out)
	if !r.restart {
		for _, msg := range r.errs {
			h.CountError(msg)
		}
	}
	r.across.End()
	h.Busy(0)
	e.finished(r)
	done = true
	if !r.restart {
		r.scope.learn(r.undeclared)
	}
	return out, Result{Restart: r.restart, Counted: r.counted, Gates: r.across.TakeGates()}
}
