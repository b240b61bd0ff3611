package lualib

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// struct for scripts, after Roberto Ierusalimschy's lua_struct as Redis
// 7.0 embeds it: formats of < > (endianness), !n (alignment, 8 without
// n), x (a zero byte), b B h H l L T i[n] I[n] (integers; l, L, T are 8
// bytes, i and I default to 4 and go up to 32), f d, s (zero-terminated)
// and c[n] (n bytes; c0 takes the string's length when packing and the
// previous unpacked number when unpacking). Spaces are ignored.

const (
	structMaxAlign   = 8
	structMaxIntSize = 32
)

type structHeader struct {
	big   bool
	align int
}

func NewStruct(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("pack", L.NewFunction(structPack))
	t.RawSetString("unpack", L.NewFunction(structUnpack))
	t.RawSetString("size", L.NewFunction(structSize))
	return t
}

// structNum reads the decimal number at the start of *fmt, or returns def.
func structNum(L *lua.LState, fmt *string, def int) int {
	s := *fmt
	if s == "" || s[0] < '0' || s[0] > '9' {
		return def
	}
	a := 0
	for s != "" && s[0] >= '0' && s[0] <= '9' {
		d := int(s[0] - '0')
		if a > math.MaxInt32/10 || a*10 > math.MaxInt32-d {
			L.RaiseError("integral size overflow")
		}
		a = a*10 + d
		s = s[1:]
	}
	*fmt = s
	return a
}

// structOptSize returns the size of option opt, reading its count from fmt.
func structOptSize(L *lua.LState, opt byte, fmt *string) int {
	switch opt {
	case 'B', 'b', 'x':
		return 1
	case 'H', 'h':
		return 2
	case 'L', 'l', 'T', 'd':
		return 8
	case 'f':
		return 4
	case 'c':
		return structNum(L, fmt, 1)
	case 'i', 'I':
		n := structNum(L, fmt, 4)
		if n > structMaxIntSize {
			L.RaiseError("integral size %d is larger than limit of %d", n, structMaxIntSize)
		}
		return n
	}
	return 0
}

// structToAlign returns the padding before an item of size at pos.
func structToAlign(pos int, h *structHeader, opt byte, size int) int {
	if size == 0 || opt == 'c' {
		return 0
	}
	if size > h.align {
		size = h.align
	}
	return (size - (pos & (size - 1))) & (size - 1)
}

// structControl handles the options that change the header and reports
// whether opt was one; others it leaves to the caller.
func structControl(L *lua.LState, opt byte, fmt *string, h *structHeader) bool {
	switch opt {
	case ' ':
	case '>':
		h.big = true
	case '<':
		h.big = false
	case '!':
		a := structNum(L, fmt, structMaxAlign)
		if a&(a-1) != 0 || a == 0 {
			L.RaiseError("alignment %d is not a power of 2", a)
		}
		h.align = a
	default:
		return false
	}
	return true
}

func structBadOption(L *lua.LState, opt byte) {
	ArgError(L, 1, "invalid format option '"+string(opt)+"'")
}

func structPack(L *lua.LState) int {
	fmt := CheckString(L, 1)
	h := structHeader{align: 1}
	arg := 2
	var b []byte
	for fmt != "" {
		opt := fmt[0]
		fmt = fmt[1:]
		size := structOptSize(L, opt, &fmt)
		pad := structToAlign(len(b), &h, opt, size)
		for ; pad > 0; pad-- {
			b = append(b, 0)
		}
		switch opt {
		case 'b', 'B', 'h', 'H', 'l', 'L', 'T', 'i', 'I':
			n := float64(CheckNumber(L, arg))
			arg++
			var v uint64
			if n < 0 {
				v = uint64(int64(n))
			} else {
				v = structUint(n)
			}
			b = structPutInt(b, v, h.big, size)
		case 'x':
			b = append(b, 0)
		case 'f':
			f := float32(CheckNumber(L, arg))
			arg++
			b = structPutInt(b, uint64(math.Float32bits(f)), h.big, 4)
		case 'd':
			f := float64(CheckNumber(L, arg))
			arg++
			b = structPutInt(b, math.Float64bits(f), h.big, 8)
		case 'c', 's':
			s := CheckString(L, arg)
			arg++
			if opt == 's' {
				b = append(append(b, s...), 0)
				break
			}
			if size == 0 {
				size = len(s)
			}
			if len(s) < size {
				ArgError(L, arg, "string too short")
			}
			b = append(b, s[:size]...)
		default:
			if !structControl(L, opt, &fmt, &h) {
				structBadOption(L, opt)
			}
		}
	}
	L.Push(lua.LString(b))
	return 1
}

// structUint converts a non-negative number to uint64 as C does on amd64
// for the values that matter (wrapping past 2^64 is not reproduced).
func structUint(n float64) uint64 {
	if n >= 18446744073709551616 {
		return 0
	}
	return uint64(n)
}

// structPutInt appends the low size bytes of v; bytes past the eighth
// are zero.
func structPutInt(b []byte, v uint64, big bool, size int) []byte {
	var buf [structMaxIntSize]byte
	for i := 0; i < size && i < 8; i++ {
		buf[i] = byte(v >> (8 * i))
	}
	if big {
		for i := size - 1; i >= 0; i-- {
			b = append(b, buf[i])
		}
		return b
	}
	return append(b, buf[:size]...)
}

func structGetInt(p []byte, big, signed bool) float64 {
	var v uint64
	size := len(p)
	for i := 0; i < size; i++ {
		c := p[i]
		if !big {
			c = p[size-1-i]
		}
		v = v<<8 | uint64(c)
	}
	if !signed {
		return float64(v)
	}
	if size < 8 {
		mask := ^uint64(0) << (uint(size)*8 - 1)
		if v&mask != 0 {
			v |= mask
		}
	}
	return float64(int64(v))
}

func structUnpack(L *lua.LState) int {
	fmt := CheckString(L, 1)
	data := CheckString(L, 2)
	init := L.OptInt(3, 1)
	if init == 0 {
		ArgError(L, 3, "offset must be 1 or greater")
	}
	h := structHeader{align: 1}
	pos := init - 1
	L.SetTop(3)
	n := 0
	for fmt != "" {
		opt := fmt[0]
		fmt = fmt[1:]
		size := structOptSize(L, opt, &fmt)
		pos += structToAlign(pos, &h, opt, size)
		if pos < 0 || pos+size > len(data) {
			ArgError(L, 2, "data string too short")
		}
		switch opt {
		case 'b', 'B', 'h', 'H', 'l', 'L', 'T', 'i', 'I':
			signed := opt >= 'a' && opt <= 'z'
			L.Push(lua.LNumber(structGetInt([]byte(data[pos:pos+size]), h.big, signed)))
			n++
		case 'x':
		case 'f':
			v := structGetInt([]byte(data[pos:pos+4]), h.big, false)
			L.Push(lua.LNumber(math.Float32frombits(uint32(v))))
			n++
		case 'd':
			var p [8]byte
			copy(p[:], data[pos:pos+8])
			var bits uint64
			if h.big {
				bits = binary.BigEndian.Uint64(p[:])
			} else {
				bits = binary.LittleEndian.Uint64(p[:])
			}
			L.Push(lua.LNumber(math.Float64frombits(bits)))
			n++
		case 'c':
			if size == 0 {
				prev, ok := L.Get(-1).(lua.LNumber)
				if n == 0 || !ok {
					L.RaiseError("format 'c0' needs a previous size")
				}
				size = int(prev)
				L.Pop(1)
				n--
				if size < 0 || pos+size > len(data) {
					ArgError(L, 2, "data string too short")
				}
			}
			L.Push(lua.LString(data[pos : pos+size]))
			n++
		case 's':
			e := strings.IndexByte(data[pos:], 0)
			if e < 0 {
				L.RaiseError("unfinished string in data")
			}
			size = e + 1
			L.Push(lua.LString(data[pos : pos+e]))
			n++
		default:
			if !structControl(L, opt, &fmt, &h) {
				structBadOption(L, opt)
			}
		}
		pos += size
	}
	L.Push(lua.LNumber(pos + 1))
	return n + 1
}

func structSize(L *lua.LState) int {
	fmt := CheckString(L, 1)
	h := structHeader{align: 1}
	pos := 0
	for fmt != "" {
		opt := fmt[0]
		fmt = fmt[1:]
		size := structOptSize(L, opt, &fmt)
		pos += structToAlign(pos, &h, opt, size)
		switch {
		case opt == 's':
			ArgError(L, 1, "option 's' has no fixed size")
		case opt == 'c' && size == 0:
			ArgError(L, 1, "option 'c0' has no fixed size")
		}
		if structControl(L, opt, &fmt, &h) {
			size = 0
		} else if !(opt >= 'a' && opt <= 'z' || opt >= 'A' && opt <= 'Z' || opt >= '0' && opt <= '9') {
			size = 0
		}
		pos += size
	}
	L.Push(lua.LNumber(pos))
	return 1
}

// ArgError raises "bad argument #n to 'f' (msg)" as Lua 5.1's
// luaL_argerror does (gopher-lua leaves the name unquoted).
func ArgError(L *lua.LState, n int, msg string) {
	name := "?"
	if dbg, ok := L.GetStack(0); ok {
		if _, err := L.GetInfo("n", dbg, lua.LNil); err == nil && dbg.Name != "" {
			name = dbg.Name
		}
	}
	L.RaiseError("bad argument #%d to '%s' (%s)", n, name, msg)
}

func TypeError(L *lua.LState, n int, want lua.LValueType) {
	got := "no value"
	if n <= L.GetTop() {
		got = L.Get(n).Type().String()
	}
	ArgError(L, n, want.String()+" expected, got "+got)
}

// CheckString is luaL_checkstring: strings and numbers.
func CheckString(L *lua.LState, n int) string {
	switch v := L.Get(n).(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	}
	TypeError(L, n, lua.LTString)
	return ""
}

// CheckNumber is luaL_checknumber: numbers and numeric strings.
func CheckNumber(L *lua.LState, n int) lua.LNumber {
	switch v := L.Get(n).(type) {
	case lua.LNumber:
		return v
	case lua.LString:
		if f, err := parseLuaNumber(string(v)); err == nil {
			return f
		}
	}
	// lua_struct reports a missing argument as nil.
	ArgError(L, n, "number expected, got "+L.Get(n).Type().String())
	return 0
}

func parseLuaNumber(s string) (lua.LNumber, error) {
	v, err := lua.LVAsNumber(lua.LString(s)), error(nil)
	if v == 0 && strings.TrimSpace(s) != "0" {
		if _, e := strconv.ParseFloat(strings.TrimSpace(s), 64); e != nil {
			err = e
		}
	}
	return v, err
}
