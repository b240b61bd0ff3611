package script

import (
	"math"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"

	"github.com/valkyrie-kv/valkyrie/conn/script/lualib"
)

// math.random and math.randomseed for scripts, as Redis 7.0 has them: one
// 48-bit linear congruential generator (the lrand48 family: x' = a*x + c
// mod 2^48, each draw the top 31 bits) for the whole server, shared by
// EVAL scripts and functions. Redis never reseeds it between scripts, so
// two scripts calling math.random() get different numbers, and
// math.randomseed(n) makes what follows repeatable.

const (
	lrandA    = 0x5DEECE66D
	lrandC    = 0xB
	lrandMask = 1<<48 - 1
	lrandInit = 0x1234ABCD330E // the state before any seed
	lrandMax  = math.MaxInt32
)

// luaRand is the generator's state. It holds the state XOR lrandInit, so
// that its zero value is the unseeded generator.
type luaRand struct{ x atomic.Uint64 }

// next advances the generator and returns a value in [0, 2^31).
func (r *luaRand) next() int32 {
	for {
		old := r.x.Load()
		x := (((old ^ lrandInit) * lrandA) + lrandC) & lrandMask
		if r.x.CompareAndSwap(old, x^lrandInit) {
			return int32(x >> 17)
		}
	}
}

// seed is srand48: the low 16 bits fixed, the seed above them.
func (r *luaRand) seed(s int32) {
	r.x.Store((uint64(uint32(s))<<16 | 0x330E) ^ lrandInit)
}

// luaCheckCInt is luaL_checkint as Redis's Lua 5.1 computes it on amd64:
// the number (or numeric string) truncated to 64 bits, NaN and values out
// of range becoming INT64_MIN, then cut to its low 32 bits.
func luaCheckCInt(L *lua.LState, n int) int32 {
	if n > L.GetTop() {
		lualib.TypeError(L, n, lua.LTNumber)
	}
	f := float64(lualib.CheckNumber(L, n))
	i := int64(math.MinInt64)
	if f == f && f < 9.2233720368547758e18 && f >= -9.2233720368547758e18 {
		i = int64(f)
	}
	return int32(i)
}

// installLuaRand replaces math.random and math.randomseed with the
// server's generator.
func (vm *luaVM) installLuaRand(lib *lua.LTable) {
	L := vm.L
	gen := func(L *lua.LState, fn string) *luaRand {
		if vm.run == nil {
			L.RaiseError("math.%s can only be called inside a script invocation", fn)
		}
		return &vm.eng.rand
	}
	lib.RawSetString("random", L.NewFunction(func(L *lua.LState) int {
		r := float64(gen(L, "random").next()%lrandMax) / lrandMax
		switch L.GetTop() {
		case 0:
			L.Push(lua.LNumber(r))
		case 1:
			u := luaCheckCInt(L, 1)
			if u < 1 {
				lualib.ArgError(L, 1, "interval is empty")
			}
			L.Push(lua.LNumber(math.Floor(r*float64(u)) + 1))
		case 2:
			l, u := luaCheckCInt(L, 1), luaCheckCInt(L, 2)
			if l > u {
				lualib.ArgError(L, 2, "interval is empty")
			}
			// In C, u-l+1 is an int: it wraps.
			L.Push(lua.LNumber(math.Floor(r*float64(u-l+1)) + float64(l)))
		default:
			L.RaiseError("wrong number of arguments")
		}
		return 1
	}))
	lib.RawSetString("randomseed", L.NewFunction(func(L *lua.LState) int {
		r := gen(L, "randomseed")
		r.seed(luaCheckCInt(L, 1))
		return 0
	}))
}
