package lualib

import (
	lua "github.com/yuin/gopher-lua"
)

// MaxString is the longest string a library function may make (512 MiB,
// Redis's proto-max-bulk-len); a variable so that tests can lower it.
var MaxString = 512 << 20

// CStack is Lua 5.1's LUAI_MAXCSTACK: the most values a function such as
// unpack may return.
const CStack = 8000

const errStringTooLarge = "resulting string too large"

// CheckLen raises a Lua error when a result of n bytes would be too large,
// before anything is allocated: Go cannot recover from a failed huge
// allocation.
func CheckLen(L *lua.LState, n float64) {
	if n > float64(MaxString) || n != n {
		L.RaiseError(errStringTooLarge)
	}
}
