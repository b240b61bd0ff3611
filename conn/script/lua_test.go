package script

import (
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// Compiled scripts stay in the cache: they keep no spare room (gopher-lua
// starts each function with about 6 KiB of it).
func TestCompiledScriptsAreTrimmed(t *testing.T) {
	p, err := compileLua("local f = function(x) return x + 1 end return f(1)")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []*lua.FunctionProto{p, p.FunctionPrototypes[0]} {
		if cap(q.Code) > len(q.Code)+8 || cap(q.DbgCalls) > len(q.DbgCalls)+8 || cap(q.DbgSourcePositions) > len(q.DbgSourcePositions)+8 || cap(q.Constants) > len(q.Constants)+8 {
			t.Errorf("%s: code %d/%d, calls %d/%d, positions %d/%d, constants %d/%d (len/cap)", q.SourceName,
				len(q.Code), cap(q.Code), len(q.DbgCalls), cap(q.DbgCalls), len(q.DbgSourcePositions), cap(q.DbgSourcePositions), len(q.Constants), cap(q.Constants))
		}
	}
}
