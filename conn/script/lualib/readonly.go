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

// Each calls cb for every field of t in the order next gives (insertion
// order in gopher-lua). LTable.ForEach walks Go maps, whose order changes
// from run to run: encoders use Each so that the same table always gives
// the same bytes, as in Redis.
func Each(t *lua.LTable, cb func(k, v lua.LValue)) {
	for k, v := t.Next(lua.LNil); k != lua.LNil; k, v = t.Next(k) {
		cb(k, v)
	}
}
