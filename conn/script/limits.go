package script

import (
	"context"
	"math"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/pm"

	"github.com/valkyrie-kv/valkyrie/conn/script/lualib"
)

// Limits that keep a script from reaching a fatal runtime error. Go
// cannot recover from a failed huge allocation or a goroutine stack
// overflow, so every library function that allocates in proportion to an
// argument checks the size first and raises a Lua error instead, decoders
// bound their nesting, and a watchdog aborts a script whose allocations
// outgrow MemLimit (gopher-lua has no allocator hook, and the
// `..` operator allocates inside the VM where no check can run).
//
//   - A string made by a library function (string.rep, string.format,
//     string.gsub, table.concat, cjson.encode, cmsgpack.pack) or a script's
//     reply may not exceed lualib.MaxString (512 MiB, Redis's
//     proto-max-bulk-len): "resulting string too large".
//   - string.format: width and precision have at most 2 digits, as in Lua
//     5.1 ("invalid format (width or precision too long)").
//   - unpack and cmsgpack.unpack return at most what Lua 5.1's C stack of
//     lualib.CStack slots holds, with Redis's errors.
//   - Lua call depth: gopher-lua's call stack (lua.CallStackSize frames)
//     raises "stack overflow"; the data stack may grow to luaRegistryMax
//     slots and then raises "registry overflow".
//   - Memory: while a script runs, the live heap may not grow by more than
//     MemLimit (1 GiB) over its level when the script's first check
//     ran (every scriptMemEvery); past it the script is aborted with
//     "ERR Script exceeded the memory limit". The heap is the process's, so
//     other clients' allocations during the script count too.

const (
	luaRegistryMax = 1 << 18
	scriptMemEvery = 5 * time.Millisecond
)

// gopher-lua fills the array part of a table with nils up to an integer
// key below lua.MaxArrayIndex, all in one Go call: t[67108863] = 1 would
// allocate 1 GiB. Keys above the limit go to the hash part, with the same
// behaviour; this caps one such fill at 64 MiB.
func init() { lua.MaxArrayIndex = 1 << 22 }

// MemLimit is how far the heap may grow while a script runs. A variable
// so that tests can lower it (and lualib.MaxString).
var MemLimit uint64 = 1 << 30

// luaInt is luaL_checkint as Redis's Lua 5.1 computes it on amd64: the
// number truncated to a C int, out-of-range values becoming INT_MIN.
func luaInt(L *lua.LState, n int) int {
	f := float64(L.CheckNumber(n))
	if f != f || f >= 2147483648 || f < -2147483648 {
		return math.MinInt32
	}
	return int(int32(f))
}

// installLuaLimits replaces the library functions of L that allocate in
// proportion to an argument with checked versions.
func installLuaLimits(L *lua.LState, g *lua.LTable) {
	str := g.RawGetString("string").(*lua.LTable)
	str.RawSetString("rep", L.NewFunction(luaStrRep))
	origFormat := str.RawGetString("format").(*lua.LFunction)
	str.RawSetString("format", L.NewFunction(func(L *lua.LState) int {
		checkLuaFormat(L, L.CheckString(1))
		return callOrig(L, origFormat)
	}))
	origGsub := str.RawGetString("gsub").(*lua.LFunction)
	str.RawSetString("gsub", L.NewFunction(func(L *lua.LState) int {
		return luaGsub(L, origGsub)
	}))
	tab := g.RawGetString("table").(*lua.LTable)
	origConcat := tab.RawGetString("concat").(*lua.LFunction)
	tab.RawSetString("concat", L.NewFunction(func(L *lua.LState) int {
		checkLuaConcat(L)
		return callOrig(L, origConcat)
	}))
	g.RawSetString("unpack", L.NewFunction(luaUnpack))
}

// callOrig calls fn with the arguments on the stack and returns its results.
func callOrig(L *lua.LState, fn *lua.LFunction) int {
	n := L.GetTop()
	L.Insert(fn, 1)
	L.Call(n, lua.MultRet)
	return L.GetTop()
}

func luaStrRep(L *lua.LState) int {
	s := L.CheckString(1)
	n := luaInt(L, 2)
	if n <= 0 || s == "" {
		L.Push(lua.LString(""))
		return 1
	}
	lualib.CheckLen(L, float64(len(s))*float64(n))
	L.Push(lua.LString(strings.Repeat(s, n)))
	return 1
}

// checkLuaFormat raises Lua 5.1's error for a width or precision of more
// than two digits; with that, every item's padding is below 100 bytes.
func checkLuaFormat(L *lua.LState, f string) {
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			continue
		}
		for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
			i++
		}
		digits := func() {
			n := 0
			for i < len(f) && f[i] >= '0' && f[i] <= '9' {
				i++
				n++
			}
			if n > 2 {
				L.RaiseError("invalid format (width or precision too long)")
			}
		}
		digits()
		if i < len(f) && f[i] == '.' {
			i++
			digits()
		}
	}
}

// checkLuaConcat sizes table.concat's result before it is built.
func checkLuaConcat(L *lua.LState) {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	n := t.Len()
	i := L.OptInt(3, 1)
	j := L.OptInt(4, n)
	i, j = max(i, 1), min(j, n)
	if i > j {
		return
	}
	total := float64(j-i) * float64(len(sep))
	lualib.CheckLen(L, total)
	for k := i; k <= j; k++ {
		switch v := t.RawGetInt(k).(type) {
		case lua.LString:
			total += float64(len(v))
		case lua.LNumber:
			total += 24
		}
	}
	lualib.CheckLen(L, total)
}

// luaUnpack is Lua 5.1's unpack with its limit on results.
func luaUnpack(L *lua.LState) int {
	t := L.CheckTable(1)
	i := 1
	if L.Get(2) != lua.LNil {
		i = luaInt(L, 2)
	}
	e := t.Len()
	if L.Get(3) != lua.LNil {
		e = luaInt(L, 3)
	}
	if i > e {
		return 0
	}
	n := e - i + 1
	if n <= 0 || n >= math.MaxInt32 || L.GetTop()+n > lualib.CStack {
		L.RaiseError("too many results to unpack")
	}
	for k := i; k <= e; k++ {
		L.Push(t.RawGetInt(k))
	}
	return n
}

// luaGsub checks the size of string.gsub's result. A string replacement
// is sized exactly from the matches when a quick bound is too large; a
// table or function replacement is wrapped to count what it returns.
func luaGsub(L *lua.LState, orig *lua.LFunction) int {
	s := L.CheckString(1)
	pat := L.CheckString(2)
	switch repl := L.Get(3).(type) {
	case lua.LString:
		esc := float64(strings.Count(string(repl), "%"))
		bound := float64(len(s)) + float64(len(s)+1)*(float64(len(repl))+esc*float64(len(s)+20))
		if bound > float64(lualib.MaxString) {
			limit := -1
			if L.Get(4) != lua.LNil {
				limit = L.CheckInt(4)
			}
			mds, err := pm.Find(pat, []byte(s), 0, limit)
			if err != nil {
				L.RaiseError("%s", err.Error())
			}
			total := float64(len(s))
			for _, m := range mds {
				total += gsubReplLen(m, string(repl))
				lualib.CheckLen(L, total)
			}
		}
	case *lua.LTable, *lua.LFunction:
		total := float64(len(s))
		L.Replace(3, L.NewFunction(func(L *lua.LState) int {
			var v lua.LValue
			if t, ok := repl.(*lua.LTable); ok {
				v = L.GetTable(t, L.Get(1))
			} else {
				n := L.GetTop()
				L.Insert(repl, 1)
				L.Call(n, 1)
				v = L.Get(-1)
			}
			switch x := v.(type) {
			case lua.LString:
				total += float64(len(x))
			case lua.LNumber:
				total += 24
			}
			lualib.CheckLen(L, total)
			L.Push(v)
			return 1
		}))
	}
	return callOrig(L, orig)
}

// gsubReplLen is the length of repl expanded for match m (an upper bound
// for position captures).
func gsubReplLen(m *pm.MatchData, repl string) float64 {
	n := 0.0
	for i := 0; i < len(repl); i++ {
		if repl[i] != '%' || i+1 == len(repl) {
			n++
			continue
		}
		i++
		c := repl[i]
		if c < '0' || c > '9' {
			n += 2
			continue
		}
		idx := 2 * int(c-'0')
		if idx >= m.CaptureLength() {
			idx = 0
		}
		if m.IsPosCapture(idx) {
			n += 20
		} else {
			n += float64(m.Capture(idx+1) - m.Capture(idx))
		}
	}
	return n
}

// watchMemory aborts running scripts whose allocations outgrow
// MemLimit: every scriptMemEvery it samples the heap and cancels the
// context of each script the heap has grown by more than that since the
// script's first sample (the VM checks it before every instruction). One
// goroutine serves every running script: started starts it with the first
// script, and it ends on the first tick that finds none.
func (e *Engine) watchMemory() {
	t := time.NewTicker(scriptMemEvery)
	defer t.Stop()
	probe := [1]metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for range t.C {
		metrics.Read(probe[:])
		var heap uint64
		if probe[0].Value.Kind() == metrics.KindUint64 {
			heap = probe[0].Value.Uint64()
		}
		e.mu.Lock()
		if len(e.running) == 0 {
			e.watching = false
			e.mu.Unlock()
			return
		}
		for r := range e.running {
			switch {
			case r.memBase == 0:
				r.memBase = heap
			case heap > r.memBase && heap-r.memBase > MemLimit:
				r.oom.Store(true)
				r.cancel()
			}
		}
		e.mu.Unlock()
	}
}

// stopCtx is the context a pooled interpreter checks before every
// instruction. A VM keeps one until a script on it is cancelled, so that
// a run allocates nothing here (context.WithCancel allocated, registered
// with its parent and made its channel on the first Done).
type stopCtx struct {
	done    chan struct{}
	stopped atomic.Bool
}

func newStopCtx() *stopCtx { return &stopCtx{done: make(chan struct{})} }

func (c *stopCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *stopCtx) Done() <-chan struct{}       { return c.done }
func (c *stopCtx) Value(any) any               { return nil }
func (c *stopCtx) Err() error {
	if c.stopped.Load() {
		return context.Canceled
	}
	return nil
}

// stop cancels the context; later calls do nothing.
func (c *stopCtx) stop() {
	if c.stopped.CompareAndSwap(false, true) {
		close(c.done)
	}
}
