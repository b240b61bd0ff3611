package lualib

import (
	lua "github.com/yuin/gopher-lua"
)

// ReadonlyMark tags the metatable of every read-only proxy. Scripts cannot
// get at it: the proxies' metatables are hidden by getmetatable.
var ReadonlyMark = &lua.LUserData{}

// SeeThrough returns the table behind a read-only proxy, or t itself:
// reading functions (pairs, next, cjson.encode, cmsgpack.pack) see the
// contents, as they do in Redis.
func SeeThrough(t *lua.LTable) *lua.LTable {
	for {
		mt, ok := t.Metatable.(*lua.LTable)
		if !ok || mt.RawGetString("__readonly") != ReadonlyMark {
			return t
		}
		t = mt.RawGetString("__index").(*lua.LTable)
	}
}
