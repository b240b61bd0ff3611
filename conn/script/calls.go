package script

import (
	"reflect"

	lua "github.com/yuin/gopher-lua"
)

// installCallErrors makes calling nil, a boolean or a number fail with
// Lua 5.1's message rather than gopher-lua's "attempt to call a
// non-function object": those types get a metatable whose __call raises
// it. getmetatable still shows them none (see lockDown). Like Lua 5.1, the
// message names what was called when the bytecode tells: "attempt to call
// field 'register_function' (a nil value)", "global 'f'", "local 'f'",
// "method 'm'", "upvalue 'u'"; otherwise "attempt to call a nil value".
func installCallErrors(L *lua.LState) {
	for _, v := range []lua.LValue{lua.LNil, lua.LFalse, lua.LNumber(0)} {
		typ := v.Type().String()
		mt := L.NewTable()
		mt.RawSetString("__call", L.NewFunction(func(L *lua.LState) int {
			if kind, name := calledName(L); kind != "" {
				L.RaiseError("attempt to call %s '%s' (a %s value)", kind, name, typ)
			}
			L.RaiseError("attempt to call a %s value", typ)
			return 0
		}))
		L.SetMetatable(v, mt)
	}
}

// gopher-lua's instruction layout: the opcode in the top 6 bits, then A in
// the next 8.
func opcodeOf(inst uint32) int { return int(inst >> 26) }
func argAOf(inst uint32) int   { return int(inst>>18) & 0xff }

// calledName finds, from within a __call metamethod, how the caller named
// the value it called: the call's name as the compiler recorded it and the
// instruction that last loaded the call's function register. It returns
// "" when either is unknown.
func calledName(L *lua.LState) (kind, name string) {
	self, ok := L.GetStack(0) // this metamethod: its name is the caller's call
	if !ok {
		return "", ""
	}
	if _, err := L.GetInfo("n", self, lua.LNil); err != nil || self.Name == "" {
		return "", ""
	}
	name = self.Name
	caller, ok := L.GetStack(1)
	if !ok {
		return "", ""
	}
	fv, err := L.GetInfo("lf", caller, lua.LNil)
	if err != nil {
		return "", ""
	}
	fn, ok := fv.(*lua.LFunction)
	if !ok || fn.IsG || fn.Proto == nil {
		return "", ""
	}
	p := fn.Proto
	call := callPc(caller, p, name)
	if call < 0 {
		return "", ""
	}
	reg := argAOf(p.Code[call])
	for pc := call - 1; pc >= 0; pc-- {
		inst := p.Code[pc]
		if argAOf(inst) != reg {
			continue
		}
		switch opcodeOf(inst) {
		case lua.OP_GETGLOBAL:
			return "global", name
		case lua.OP_GETTABLEKS, lua.OP_GETTABLE: // a key not a constant string: '?'
			return "field", name
		case lua.OP_SELF:
			return "method", name
		case lua.OP_GETUPVAL:
			return "upvalue", name
		case lua.OP_MOVE:
			// A named call that moves its function is a local's;
			// "(a or b)()", named '?', moves a temporary, which Lua
			// 5.1 leaves unnamed. (gopher-lua's DbgLocals end pcs are
			// not reliable enough to ask which register is a local.)
			if name != "?" {
				return "local", name
			}
		}
		return "", ""
	}
	// Nothing loaded the register: the call uses the local in place.
	for _, l := range p.DbgLocals {
		if l.Name == name && l.StartPc <= call && call < l.EndPc {
			return "local", name
		}
	}
	return "", ""
}

// callPc finds the caller's call instruction. gopher-lua's Debug keeps the
// frame's program counter unexported; it is read by reflection. Should that
// fail (another gopher-lua), the call is the one of that name on the
// current line, when only one there has it.
func callPc(caller *lua.Debug, p *lua.FunctionProto, name string) int {
	if f := reflect.ValueOf(caller).Elem().FieldByName("frame"); f.IsValid() && f.Kind() == reflect.Pointer && !f.IsNil() {
		if pcv := f.Elem().FieldByName("Pc"); pcv.IsValid() && pcv.CanInt() {
			pc := int(pcv.Int()) - 1 // the frame's pc is past the call
			for _, c := range p.DbgCalls {
				if c.Pc == pc && c.Name == name && pc < len(p.Code) {
					return pc
				}
			}
			return -1
		}
	}
	call := -1
	for _, c := range p.DbgCalls {
		if c.Name == name && c.Pc >= 0 && c.Pc < len(p.Code) && c.Pc < len(p.DbgSourcePositions) &&
			p.DbgSourcePositions[c.Pc] == caller.CurrentLine {
			if call >= 0 {
				return -1
			}
			call = c.Pc
		}
	}
	return call
}
