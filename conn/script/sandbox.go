package script

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/valkyrie-kv/valkyrie/conn/script/lualib"
)

// The sandbox makes what a script can reach read-only, as Redis 7.0 does,
// so that nothing one script does is seen by the next one on the same
// pooled interpreter. gopher-lua has no read-only tables, so each library
// table a script can name is replaced by an empty proxy whose __index is
// the real table and whose __newindex raises "Attempt to modify a readonly
// table". The built-ins that bypass metamethods (rawset, setmetatable,
// getmetatable, getfenv, setfenv) are wrapped so that they refuse the
// proxies, or hand out proxies instead of the real tables.

const readonlyError = "Attempt to modify a readonly table"

// sandbox is the per-interpreter state of those wrappers.
type sandbox struct {
	deny *lua.LFunction // __newindex of every read-only proxy
	// shown maps each proxy to what getmetatable returns for it.
	shown map[*lua.LTable]lua.LValue
	// typeMeta is what getmetatable returns for a string: a read-only
	// view of the string metatable, whose __index is the string proxy.
	typeMeta lua.LValue
}

// readonly returns a read-only proxy of t; getmetatable of the proxy
// returns shown.
func (vm *luaVM) readonly(t *lua.LTable, shown lua.LValue) *lua.LTable {
	L := vm.L
	p := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", t)
	mt.RawSetString("__newindex", vm.box.deny)
	mt.RawSetString("__metatable", lua.LFalse)
	mt.RawSetString("__readonly", lualib.ReadonlyMark)
	L.SetMetatable(p, mt)
	vm.box.shown[p] = shown
	return p
}

func (vm *luaVM) isReadonly(v lua.LValue) bool {
	t, ok := v.(*lua.LTable)
	if !ok {
		return false
	}
	_, ok = vm.box.shown[t]
	return ok
}

// lockDown replaces the libraries in g by read-only proxies and wraps the
// built-ins that would get past them. envMeta is the metatable of the
// scripts' globals (vm.env), which getmetatable(_G) shows read-only.
func (vm *luaVM) lockDown(g, envMeta *lua.LTable) {
	L := vm.L
	vm.box.shown = map[*lua.LTable]lua.LValue{}
	vm.box.deny = L.NewFunction(func(L *lua.LState) int {
		L.Error(lua.LString(userWhere(L)+readonlyError), 0)
		return 0
	})
	// table.insert, table.remove and table.sort write with raw access,
	// past any __newindex: they must refuse the proxies and the globals.
	if tab, ok := g.RawGetString("table").(*lua.LTable); ok {
		for _, name := range []string{"insert", "remove", "sort"} {
			orig, ok := tab.RawGetString(name).(*lua.LFunction)
			if !ok {
				continue
			}
			tab.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
				if t := L.Get(1); vm.isReadonly(t) || t == g || t == vm.env {
					L.Error(lua.LString(userWhere(L)+readonlyError), 0)
				}
				return callOrig(L, orig)
			}))
		}
	}
	var strProxy lua.LValue = lua.LNil
	for _, name := range []string{"string", "table", "math", "bit", "cjson", "cmsgpack", "struct", "redis"} {
		if lib, ok := g.RawGetString(name).(*lua.LTable); ok {
			p := vm.readonly(lib, lua.LNil)
			g.RawSetString(name, p)
			if name == "string" {
				strProxy = p
			}
		}
	}
	strMeta := L.NewTable()
	strMeta.RawSetString("__index", strProxy)
	vm.box.typeMeta = vm.readonly(strMeta, lua.LNil)
	vm.box.shown[vm.env] = vm.readonly(envMeta, lua.LNil)
	g.RawSetString("print", lua.LNil)

	raise := func(L *lua.LState) int {
		L.Error(lua.LString(userWhere(L)+readonlyError), 0)
		return 0
	}
	wrap := func(name string, fn func(L *lua.LState, orig *lua.LFunction) int) {
		orig := g.RawGetString(name).(*lua.LFunction)
		g.RawSetString(name, L.NewFunction(func(L *lua.LState) int { return fn(L, orig) }))
	}
	wrap("rawset", func(L *lua.LState, orig *lua.LFunction) int {
		if vm.isReadonly(L.Get(1)) || L.Get(1) == g {
			return raise(L)
		}
		return callOrig(L, orig)
	})
	wrap("setmetatable", func(L *lua.LState, orig *lua.LFunction) int {
		if vm.isReadonly(L.Get(1)) || L.Get(1) == g {
			return raise(L)
		}
		return callOrig(L, orig)
	})
	wrap("getmetatable", func(L *lua.LState, orig *lua.LFunction) int {
		switch v := L.Get(1).(type) {
		case *lua.LTable:
			if shown, ok := vm.box.shown[v]; ok {
				L.SetTop(0)
				L.Push(shown)
				return 1
			}
		case lua.LString:
			L.SetTop(0)
			L.Push(vm.box.typeMeta)
			return 1
		case *lua.LNilType, lua.LBool, lua.LNumber: // see installCallErrors
			L.SetTop(0)
			L.Push(lua.LNil)
			return 1
		}
		return callOrig(L, orig)
	})
	// Iterating a proxy lists the real table's fields without handing out
	// the real table: pairs and ipairs return the proxy as their state,
	// and next reads through it.
	proxy := func(v lua.LValue) (*lua.LTable, bool) {
		t, ok := v.(*lua.LTable)
		if !ok || lualib.SeeThrough(t) == t {
			return nil, false
		}
		return t, true
	}
	wrap("next", func(L *lua.LState, orig *lua.LFunction) int {
		if t, ok := proxy(L.Get(1)); ok {
			L.Replace(1, lualib.SeeThrough(t))
		}
		return callOrig(L, orig)
	})
	next := g.RawGetString("next")
	wrap("pairs", func(L *lua.LState, orig *lua.LFunction) int {
		if t, ok := proxy(L.Get(1)); ok {
			L.SetTop(0)
			L.Push(next)
			L.Push(t)
			L.Push(lua.LNil)
			return 3
		}
		return callOrig(L, orig)
	})
	ipairsStep := L.NewFunction(func(L *lua.LState) int {
		t := lualib.SeeThrough(L.CheckTable(1))
		i := L.CheckInt(2) + 1
		v := t.RawGetInt(i)
		if v == lua.LNil {
			return 0
		}
		L.Push(lua.LNumber(i))
		L.Push(v)
		return 2
	})
	wrap("ipairs", func(L *lua.LState, orig *lua.LFunction) int {
		if t, ok := proxy(L.Get(1)); ok {
			L.SetTop(0)
			L.Push(ipairsStep)
			L.Push(t)
			L.Push(lua.LNumber(0))
			return 3
		}
		return callOrig(L, orig)
	})
	wrap("getfenv", func(L *lua.LState, orig *lua.LFunction) int {
		n := callOrig(L, orig)
		for i := 1; i <= n; i++ {
			if L.Get(i) == g {
				L.Replace(i, vm.env)
			}
		}
		return n
	})
	wrap("setfenv", func(L *lua.LState, orig *lua.LFunction) int {
		// Level 0 is the interpreter's own environment, shared by the
		// scripts that run on it after this one; Go functions have none.
		if n, ok := L.Get(1).(lua.LNumber); ok && n <= 0 {
			return raise(L)
		}
		if fn, ok := L.Get(1).(*lua.LFunction); ok && fn.IsG {
			return raise(L)
		}
		// A function's closures live on in the library for later calls.
		if vm.run != nil && vm.run.isFunc {
			return raise(L)
		}
		return callOrig(L, orig)
	})
	// Chunks made by loadstring and load take the interpreter's
	// environment: make it the scripts' globals, not the real table.
	L.Env = vm.env
}
