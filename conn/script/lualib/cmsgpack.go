package lualib

import (
	"encoding/binary"
	"math"

	lua "github.com/yuin/gopher-lua"
)

// cmsgpack for scripts, after the lua-cmsgpack 0.4.0 that Redis 7.0
// embeds: integers take their smallest encoding, other numbers float32
// when exact else float64, strings use the str formats (no bin or ext),
// tables with keys exactly 1..n are arrays and others maps, and tables
// nested 16 deep encode as nil. Values it cannot encode become nil.

const cmsgpackMaxNesting = 16

func NewCmsgpack(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("_NAME", lua.LString("cmsgpack"))
	t.RawSetString("_VERSION", lua.LString("lua-cmsgpack 0.4.0"))
	t.RawSetString("_COPYRIGHT", lua.LString("Copyright (C) 2012, Salvatore Sanfilippo"))
	t.RawSetString("_DESCRIPTION", lua.LString("MessagePack C implementation for Lua"))
	t.RawSetString("pack", L.NewFunction(func(L *lua.LState) int {
		n := L.GetTop()
		if n == 0 {
			ArgError(L, 0, "MessagePack pack needs input.")
		}
		var b []byte
		for i := 1; i <= n; i++ {
			b = msgpackAppend(b, L.Get(i), 0)
			CheckLen(L, float64(len(b)))
		}
		L.Push(lua.LString(b))
		return 1
	}))
	t.RawSetString("unpack", L.NewFunction(func(L *lua.LState) int {
		return msgpackUnpack(L, 0, 0)
	}))
	t.RawSetString("unpack_one", L.NewFunction(func(L *lua.LState) int {
		return msgpackUnpack(L, 1, L.OptInt(2, 0))
	}))
	t.RawSetString("unpack_limit", L.NewFunction(func(L *lua.LState) int {
		return msgpackUnpack(L, L.CheckInt(2), L.OptInt(3, 0))
	}))
	return t
}

// luaInt64 reports whether f is an integer that fits an int64.
func luaInt64(f float64) (int64, bool) {
	if f >= -9223372036854775808 && f < 9223372036854775808 && f == math.Trunc(f) {
		return int64(f), true
	}
	return 0, false
}

func msgpackAppend(b []byte, v lua.LValue, level int) []byte {
	switch v := v.(type) {
	case lua.LBool:
		if v {
			return append(b, 0xc3)
		}
		return append(b, 0xc2)
	case lua.LNumber:
		f := float64(v)
		if n, ok := luaInt64(f); ok {
			return msgpackAppendInt(b, n)
		}
		if f32 := float32(f); float64(f32) == f {
			return binary.BigEndian.AppendUint32(append(b, 0xca), math.Float32bits(f32))
		}
		return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(f))
	case lua.LString:
		n := len(v)
		switch {
		case n <= 31:
			b = append(b, 0xa0|byte(n))
		case n <= 0xff:
			b = append(b, 0xd9, byte(n))
		case n <= 0xffff:
			b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
		default:
			b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
		}
		return append(b, v...)
	case *lua.LTable:
		v = SeeThrough(v)
		if level == cmsgpackMaxNesting {
			return append(b, 0xc0)
		}
		if msgpackIsArray(v) {
			n := v.Len()
			b = msgpackAppendLen(b, n, 0x90, 0xdc)
			for i := 1; i <= n && len(b) <= MaxString; i++ {
				b = msgpackAppend(b, v.RawGetInt(i), level+1)
			}
			return b
		}
		var pairs []lua.LValue
		Each(v, func(k, x lua.LValue) { pairs = append(pairs, k, x) })
		b = msgpackAppendLen(b, len(pairs)/2, 0x80, 0xde)
		for _, x := range pairs {
			if len(b) > MaxString {
				break // the caller raises the error
			}
			b = msgpackAppend(b, x, level+1)
		}
		return b
	}
	return append(b, 0xc0)
}

// msgpackAppendLen appends an array or map header: fix (up to 15), 16 or
// 32 bits.
func msgpackAppendLen(b []byte, n int, fix, b16 byte) []byte {
	switch {
	case n <= 15:
		return append(b, fix|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, b16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, b16+1), uint32(n))
}

func msgpackAppendInt(b []byte, n int64) []byte {
	be := binary.BigEndian
	if n >= 0 {
		switch {
		case n <= 127:
			return append(b, byte(n))
		case n <= 0xff:
			return append(b, 0xcc, byte(n))
		case n <= 0xffff:
			return be.AppendUint16(append(b, 0xcd), uint16(n))
		case n <= 0xffffffff:
			return be.AppendUint32(append(b, 0xce), uint32(n))
		}
		return be.AppendUint64(append(b, 0xcf), uint64(n))
	}
	switch {
	case n >= -32:
		return append(b, byte(n))
	case n >= -128:
		return append(b, 0xd0, byte(n))
	case n >= -32768:
		return be.AppendUint16(append(b, 0xd1), uint16(n))
	case n >= -2147483648:
		return be.AppendUint32(append(b, 0xd2), uint32(n))
	}
	return be.AppendUint64(append(b, 0xd3), uint64(n))
}

// msgpackIsArray reports whether t's keys are exactly 1..n (n may be 0).
func msgpackIsArray(t *lua.LTable) bool {
	count, max := 0, 0.0
	array := true
	Each(t, func(k, _ lua.LValue) {
		n, ok := k.(lua.LNumber)
		if !array || !ok || n <= 0 || float64(n) != math.Trunc(float64(n)) || float64(n) > math.MaxInt32 {
			array = false
			return
		}
		max = math.Max(max, float64(n))
		count++
	})
	return array && float64(count) == max
}

type msgpackErr string

const (
	msgpackEOF    msgpackErr = "Missing bytes in input."
	msgpackBadFmt msgpackErr = "Bad data format in input."
)

// msgpackCur decodes. used counts the Lua stack slots lua-cmsgpack would
// hold (the argument, the values decoded so far, and a table and key or
// index per open container): like it, decoding fails when they would
// exceed Lua's C stack of CStack slots, which bounds the nesting.
type msgpackCur struct {
	L    *lua.LState
	b    []byte
	err  msgpackErr
	used int
}

func (c *msgpackCur) need(n int) bool {
	if len(c.b) < n {
		c.err = msgpackEOF
		return false
	}
	return true
}

// take returns the next n bytes, or nil (with err set) when short.
func (c *msgpackCur) take(n int) []byte {
	if !c.need(n) {
		return nil
	}
	p := c.b[:n]
	c.b = c.b[n:]
	return p
}

// msgpackUnpack is lua-cmsgpack's mp_unpack_full: with limit and offset
// both 0 it decodes everything; otherwise at most limit values from
// offset, preceded by the offset to continue at (-1 at the end).
func msgpackUnpack(L *lua.LState, limit, offset int) int {
	if L.GetTop() < 1 {
		ArgError(L, 1, "string expected, got no value")
	}
	s := CheckString(L, 1)
	all := limit == 0 && offset == 0
	if offset < 0 || limit < 0 {
		L.RaiseError("Invalid request to unpack with offset of %d and limit of %d.", offset, len(s))
	}
	if offset > len(s) {
		L.RaiseError("Start offset %d greater than input length %d.", offset, len(s))
	}
	if all {
		limit = math.MaxInt
	}
	L.SetTop(1)
	c := &msgpackCur{L: L, b: []byte(s[offset:]), used: 1}
	cnt := 0
	for ; len(c.b) > 0 && cnt < limit; cnt++ {
		v := c.decode()
		if c.err != "" {
			L.RaiseError("%s", string(c.err))
		}
		L.Push(v)
		c.used++
	}
	if !all {
		next := len(s) - len(c.b)
		if len(c.b) == 0 {
			next = -1
		}
		L.Insert(lua.LNumber(next), 2)
		cnt++
	}
	return cnt
}

func (c *msgpackCur) decode() lua.LValue {
	be := binary.BigEndian
	if len(c.b) > 0 && c.used+1 > CStack {
		c.L.RaiseError("stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)")
	}
	p := c.take(1)
	if p == nil {
		return lua.LNil
	}
	t := p[0]
	fixed := func(n int) []byte {
		return c.take(n)
	}
	switch {
	case t <= 0x7f:
		return lua.LNumber(t)
	case t >= 0xe0:
		return lua.LNumber(int8(t))
	case t >= 0xa0 && t <= 0xbf:
		return c.str(int(t & 0x1f))
	case t >= 0x90 && t <= 0x9f:
		return c.array(int(t & 0x0f))
	case t >= 0x80 && t <= 0x8f:
		return c.mapping(int(t & 0x0f))
	}
	switch t {
	case 0xc0:
		return lua.LNil
	case 0xc2:
		return lua.LFalse
	case 0xc3:
		return lua.LTrue
	case 0xcc:
		if p := fixed(1); p != nil {
			return lua.LNumber(p[0])
		}
	case 0xcd:
		if p := fixed(2); p != nil {
			return lua.LNumber(be.Uint16(p))
		}
	case 0xce:
		if p := fixed(4); p != nil {
			return lua.LNumber(be.Uint32(p))
		}
	case 0xcf, 0xd3:
		if p := fixed(8); p != nil {
			return lua.LNumber(int64(be.Uint64(p)))
		}
	case 0xd0:
		if p := fixed(1); p != nil {
			return lua.LNumber(int8(p[0]))
		}
	case 0xd1:
		if p := fixed(2); p != nil {
			return lua.LNumber(int16(be.Uint16(p)))
		}
	case 0xd2:
		if p := fixed(4); p != nil {
			return lua.LNumber(int32(be.Uint32(p)))
		}
	case 0xca:
		if p := fixed(4); p != nil {
			return lua.LNumber(math.Float32frombits(be.Uint32(p)))
		}
	case 0xcb:
		if p := fixed(8); p != nil {
			return lua.LNumber(math.Float64frombits(be.Uint64(p)))
		}
	case 0xd9:
		if p := fixed(1); p != nil {
			return c.str(int(p[0]))
		}
	case 0xda:
		if p := fixed(2); p != nil {
			return c.str(int(be.Uint16(p)))
		}
	case 0xdb:
		if p := fixed(4); p != nil {
			return c.str(int(be.Uint32(p)))
		}
	case 0xdc:
		if p := fixed(2); p != nil {
			return c.array(int(be.Uint16(p)))
		}
	case 0xdd:
		if p := fixed(4); p != nil {
			return c.array(int(be.Uint32(p)))
		}
	case 0xde:
		if p := fixed(2); p != nil {
			return c.mapping(int(be.Uint16(p)))
		}
	case 0xdf:
		if p := fixed(4); p != nil {
			return c.mapping(int(be.Uint32(p)))
		}
	default:
		c.err = msgpackBadFmt
	}
	return lua.LNil
}

func (c *msgpackCur) str(n int) lua.LValue {
	if p := c.take(n); c.err == "" {
		return lua.LString(p)
	}
	return lua.LNil
}

func (c *msgpackCur) array(n int) lua.LValue {
	t := c.L.CreateTable(min(n, 1024), 0)
	c.used++ // the table
	if c.used+1 > CStack {
		c.L.RaiseError("stack overflow (in function mp_decode_to_lua_array)")
	}
	defer func() { c.used-- }()
	for i := 1; i <= n; i++ {
		if !c.need(1) {
			return lua.LNil
		}
		c.used++ // the index
		v := c.decode()
		c.used--
		if c.err != "" {
			return lua.LNil
		}
		t.RawSetInt(i, v)
	}
	return t
}

func (c *msgpackCur) mapping(n int) lua.LValue {
	t := c.L.NewTable()
	c.used++ // the table
	defer func() { c.used-- }()
	for i := 0; i < n; i++ {
		if !c.need(1) {
			return lua.LNil
		}
		k := c.decode()
		if c.err != "" {
			return lua.LNil
		}
		if !c.need(1) {
			return lua.LNil
		}
		c.used++ // the key
		v := c.decode()
		c.used--
		if c.err != "" {
			return lua.LNil
		}
		if k == lua.LNil {
			c.L.RaiseError("table index is nil")
		}
		t.RawSet(k, v)
	}
	return t
}
