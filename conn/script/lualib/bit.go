package lualib

import (
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// NewBit is a small LuaBitOp: 32-bit operations on numbers.
func NewBit(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	tobit := func(L *lua.LState, i int) int32 { return int32(int64(L.CheckNumber(i))) }
	bin := func(op func(a, b int32) int32) lua.LGFunction {
		return func(L *lua.LState) int {
			acc := tobit(L, 1)
			for i := 2; i <= L.GetTop(); i++ {
				acc = op(acc, tobit(L, i))
			}
			L.Push(lua.LNumber(acc))
			return 1
		}
	}
	fns := map[string]lua.LGFunction{
		"tobit": func(L *lua.LState) int { L.Push(lua.LNumber(tobit(L, 1))); return 1 },
		"bnot":  func(L *lua.LState) int { L.Push(lua.LNumber(^tobit(L, 1))); return 1 },
		"band":  bin(func(a, b int32) int32 { return a & b }),
		"bor":   bin(func(a, b int32) int32 { return a | b }),
		"bxor":  bin(func(a, b int32) int32 { return a ^ b }),
		"lshift": func(L *lua.LState) int {
			L.Push(lua.LNumber(int32(uint32(tobit(L, 1)) << (uint32(tobit(L, 2)) & 31))))
			return 1
		},
		"rshift": func(L *lua.LState) int {
			L.Push(lua.LNumber(int32(uint32(tobit(L, 1)) >> (uint32(tobit(L, 2)) & 31))))
			return 1
		},
		"arshift": func(L *lua.LState) int {
			L.Push(lua.LNumber(tobit(L, 1) >> (uint32(tobit(L, 2)) & 31)))
			return 1
		},
		"tohex": func(L *lua.LState) int {
			s := strconv.FormatUint(uint64(uint32(tobit(L, 1))), 16)
			for len(s) < 8 {
				s = "0" + s
			}
			L.Push(lua.LString(s))
			return 1
		},
	}
	for name, fn := range fns {
		t.RawSetString(name, L.NewFunction(fn))
	}
	return t
}
