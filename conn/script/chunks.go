package script

import (
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/valkyrie-kv/valkyrie/conn/script/lualib"
)

// Binary chunks. Redis's Lua has string.dump, but its loadstring and load
// read every chunk as source text, so a precompiled chunk fails with a
// syntax error at the ESC byte it starts with, and loadstring returns nil
// and that message. gopher-lua has neither string.dump nor a bytecode
// format: string.dump here returns the 12-byte header of a Lua 5.1 chunk
// (enough to be recognised, nothing to run), and loadstring and load
// refuse any chunk starting with ESC with Redis's message.

// luaChunkHeader is Lua 5.1's header for Redis's build (x86-64).
const luaChunkHeader = "\x1bLuaQ\x00\x01\x04\x08\x04\x08\x00"

const luaBinaryChunkError = ":1: unexpected symbol near 'char(27)'"

// installBinaryChunks sets string.dump in str and wraps loadstring and
// load in g.
func installBinaryChunks(L *lua.LState, g, str *lua.LTable) {
	str.RawSetString("dump", L.NewFunction(func(L *lua.LState) int {
		fn, ok := L.Get(1).(*lua.LFunction)
		if !ok {
			lualib.TypeError(L, 1, lua.LTFunction)
		}
		if fn.IsG {
			L.RaiseError("unable to dump given function")
		}
		L.Push(lua.LString(luaChunkHeader))
		return 1
	}))
	refuse := func(L *lua.LState, chunkname string) int {
		L.Push(lua.LNil)
		L.Push(lua.LString(luaChunkID(chunkname) + luaBinaryChunkError))
		return 2
	}
	loadstring := g.RawGetString("loadstring").(*lua.LFunction)
	g.RawSetString("loadstring", L.NewFunction(func(L *lua.LState) int {
		if s, ok := L.Get(1).(lua.LString); ok && strings.HasPrefix(string(s), "\x1b") {
			return refuse(L, L.OptString(2, string(s)))
		}
		return callOrig(L, loadstring)
	}))
	// load(reader [, chunkname]) as gopher-lua has it (pieces until nil or
	// an empty string), looking at the chunk before compiling it.
	g.RawSetString("load", L.NewFunction(func(L *lua.LState) int {
		fn, ok := L.Get(1).(*lua.LFunction)
		if !ok {
			lualib.TypeError(L, 1, lua.LTFunction)
		}
		name, hasName := L.Get(2).(lua.LString)
		var b strings.Builder
		for {
			L.Push(fn)
			L.Call(0, 1)
			piece := L.Get(-1)
			L.Pop(1)
			if piece == lua.LNil {
				break
			}
			if !lua.LVCanConvToString(piece) {
				L.Push(lua.LNil)
				L.Push(lua.LString("reader function must return a string"))
				return 2
			}
			s := lua.LVAsString(piece)
			if s == "" {
				break
			}
			lualib.CheckLen(L, float64(b.Len()+len(s)))
			b.WriteString(s)
		}
		chunk := b.String()
		if strings.HasPrefix(chunk, "\x1b") {
			if !hasName {
				name = "=(load)"
			}
			return refuse(L, string(name))
		}
		if !hasName {
			name = "?"
		}
		L.SetTop(0)
		L.Push(loadstring)
		L.Push(lua.LString(chunk))
		L.Push(name)
		L.Call(2, lua.MultRet)
		return L.GetTop()
	}))
}

// luaChunkID is Lua 5.1's luaO_chunkid with Redis's LUA_IDSIZE (80): how
// an error message names a chunk.
func luaChunkID(source string) string {
	if i := strings.IndexByte(source, 0); i >= 0 {
		source = source[:i] // a C string
	}
	switch {
	case strings.HasPrefix(source, "="):
		return source[1:min(len(source), 80)]
	case strings.HasPrefix(source, "@"):
		if source = source[1:]; len(source) > 72 {
			return "..." + source[len(source)-72:]
		}
		return source
	}
	line := source
	if i := strings.IndexAny(source, "\n\r"); i >= 0 {
		line = source[:i]
	}
	if len(line) > 63 {
		line = line[:63]
	}
	if len(line) < len(source) {
		return `[string "` + line + `..."]`
	}
	return `[string "` + line + `"]`
}
