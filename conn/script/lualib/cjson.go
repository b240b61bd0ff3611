package lualib

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// cjson for scripts, after the lua-cjson 2.1.0 that Redis 7.0 embeds, with
// its default settings: numbers print with %.14g, NaN and Inf are refused
// when encoding but accepted (with hex and leading zeros) when decoding,
// sparse arrays convert at most up to index 10 (or twice the item count),
// and both directions nest at most 1000 deep.

const (
	cjsonMaxDepth  = 1000
	cjsonSparseMin = 10
)

// CjsonConfig is one cjson instance's settings, changed by its
// configuration functions (encode_max_depth and the others). In Redis they
// last until SCRIPT FLUSH; here interpreters are pooled, so the default
// instance's settings go back to the defaults after every script
// (luaVM.reset) instead of leaking into whichever script next gets the
// same interpreter.
type CjsonConfig struct {
	sparseConvert  bool
	sparseRatio    int
	sparseSafe     int
	encodeMaxDepth int
	decodeMaxDepth int
	encodeInvalid  int // 0 off, 1 on, 2 null
	decodeInvalid  bool
	keepBuffer     bool
	precision      int
}

var CjsonDefaults = CjsonConfig{
	sparseRatio:    2,
	sparseSafe:     cjsonSparseMin,
	encodeMaxDepth: cjsonMaxDepth,
	decodeMaxDepth: cjsonMaxDepth,
	decodeInvalid:  true,
	keepBuffer:     true,
	precision:      14,
}

// NewCjson returns the cjson table and its settings; null is its
// sentinel for JSON null.
func NewCjson(L *lua.LState) (*lua.LTable, *CjsonConfig) {
	null := L.NewUserData()
	meta := L.NewTable()
	meta.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString("userdata: (nil)"))
		return 1
	}))
	null.Metatable = meta
	var lib lua.LGFunction
	lib = func(L *lua.LState) int {
		cfg := CjsonDefaults
		L.Push(newCjsonLibWith(L, null, &lib, &cfg))
		return 1
	}
	cfg := CjsonDefaults
	return newCjsonLibWith(L, null, &lib, &cfg), &cfg
}

func newCjsonLibWith(L *lua.LState, null *lua.LUserData, newFn *lua.LGFunction, cfg *CjsonConfig) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("null", null)
	t.RawSetString("_NAME", lua.LString("cjson"))
	t.RawSetString("_VERSION", lua.LString("2.1.0"))
	t.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
		if L.GetTop() != 1 {
			ArgError(L, 1, "expected 1 argument")
		}
		e := cjsonEncoder{L: L, null: null, cfg: cfg}
		e.value(L.Get(1), 0)
		CheckLen(L, float64(len(e.buf)))
		L.Push(lua.LString(e.buf))
		return 1
	}))
	t.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		if L.GetTop() != 1 {
			ArgError(L, 1, "expected 1 argument")
		}
		s := CheckString(L, 1)
		if i := strings.IndexByte(s, 0); i >= 0 {
			s = s[:i] // cjson reads a C string
		}
		d := cjsonDecoder{L: L, null: null, s: s, cfg: cfg}
		L.Push(d.decode())
		return 1
	}))
	// The configuration functions: each sets what its arguments give
	// (nil leaves a setting alone) and returns the settings.
	config := map[string]lua.LGFunction{
		"encode_sparse_array": func(L *lua.LState) int {
			cjsonArgs(L, 3)
			cjsonEnum(L, 1, &cfg.sparseConvert)
			cjsonInt(L, 2, &cfg.sparseRatio, 0, math.MaxInt32)
			cjsonInt(L, 3, &cfg.sparseSafe, 0, math.MaxInt32)
			return 3
		},
		"encode_max_depth": func(L *lua.LState) int {
			cjsonArgs(L, 1)
			cjsonInt(L, 1, &cfg.encodeMaxDepth, 1, math.MaxInt32)
			return 1
		},
		"decode_max_depth": func(L *lua.LState) int {
			cjsonArgs(L, 1)
			cjsonInt(L, 1, &cfg.decodeMaxDepth, 1, math.MaxInt32)
			return 1
		},
		"encode_number_precision": func(L *lua.LState) int {
			cjsonArgs(L, 1)
			cjsonInt(L, 1, &cfg.precision, 1, 14)
			return 1
		},
		"encode_keep_buffer": func(L *lua.LState) int {
			cjsonArgs(L, 1)
			cjsonEnum(L, 1, &cfg.keepBuffer) // no visible effect here
			return 1
		},
		"encode_invalid_numbers": func(L *lua.LState) int {
			cjsonArgs(L, 1)
			options := []string{"off", "on", "null"}
			switch v := L.Get(1).(type) {
			case *lua.LNilType:
			case lua.LBool:
				cfg.encodeInvalid = 0
				if v {
					cfg.encodeInvalid = 1
				}
			default:
				cfg.encodeInvalid = luaCheckOption(L, 1, options)
			}
			if cfg.encodeInvalid < 2 {
				L.Push(lua.LBool(cfg.encodeInvalid == 1))
			} else {
				L.Push(lua.LString(options[cfg.encodeInvalid]))
			}
			return 1
		},
		"decode_invalid_numbers": func(L *lua.LState) int {
			cjsonArgs(L, 1)
			cjsonEnum(L, 1, &cfg.decodeInvalid)
			return 1
		},
	}
	for name, fn := range config {
		t.RawSetString(name, L.NewFunction(fn))
	}
	t.RawSetString("new", L.NewFunction(*newFn))
	return t
}

// cjsonArgs refuses more than n arguments and pads the stack to n with
// nils, as lua-cjson's configuration functions do.
func cjsonArgs(L *lua.LState, n int) {
	if L.GetTop() > n {
		ArgError(L, n+1, "found too many arguments")
	}
	for L.GetTop() < n {
		L.Push(lua.LNil)
	}
}

// cjsonInt sets *v from argument i unless it is nil, checking that it is
// within [lo, hi], and pushes the setting.
func cjsonInt(L *lua.LState, i int, v *int, lo, hi int) {
	if L.Get(i) != lua.LNil {
		f := float64(CheckNumber(L, i)) // then truncated to a C int
		n := math.MinInt32
		if f == f && f < 2147483648 && f >= -2147483648 {
			n = int(int32(f))
		}
		if n < lo || n > hi {
			// lua-cjson names argument 1 whichever argument it checks.
			ArgError(L, 1, "expected integer between "+strconv.Itoa(lo)+" and "+strconv.Itoa(hi))
		}
		*v = n
	}
	L.Push(lua.LNumber(*v))
}

// cjsonEnum sets *v from argument i (a boolean, "on" or "off") unless it
// is nil, and pushes the setting.
func cjsonEnum(L *lua.LState, i int, v *bool) {
	switch a := L.Get(i).(type) {
	case *lua.LNilType:
	case lua.LBool:
		*v = bool(a)
	default:
		*v = luaCheckOption(L, i, []string{"off", "on"}) == 1
	}
	L.Push(lua.LBool(*v))
}

// luaCheckOption is luaL_checkoption without a default.
func luaCheckOption(L *lua.LState, i int, options []string) int {
	s := CheckString(L, i)
	for k, o := range options {
		if o == s {
			return k
		}
	}
	ArgError(L, i, "invalid option '"+s+"'")
	return 0
}

type cjsonEncoder struct {
	L    *lua.LState
	null *lua.LUserData
	cfg  *CjsonConfig
	buf  []byte
}

func (e *cjsonEncoder) fail(v lua.LValue, reason string) {
	e.L.RaiseError("Cannot serialise %s: %s", v.Type().String(), reason)
}

func (e *cjsonEncoder) value(v lua.LValue, depth int) {
	// A table referred to many times is encoded each time: the output can
	// grow exponentially with the depth.
	CheckLen(e.L, float64(len(e.buf)))
	switch v := v.(type) {
	case lua.LString:
		e.buf = cjsonAppendString(e.buf, string(v))
	case lua.LNumber:
		e.number(v)
	case lua.LBool:
		if v {
			e.buf = append(e.buf, "true"...)
		} else {
			e.buf = append(e.buf, "false"...)
		}
	case *lua.LNilType:
		e.buf = append(e.buf, "null"...)
	case *lua.LUserData:
		if v != e.null {
			e.fail(v, "type not supported")
		}
		e.buf = append(e.buf, "null"...)
	case *lua.LTable:
		v = SeeThrough(v)
		depth++
		if depth > e.cfg.encodeMaxDepth {
			e.L.RaiseError("Cannot serialise, excessive nesting (%d)", depth)
		}
		if n := e.arrayLen(v); n > 0 {
			e.buf = append(e.buf, '[')
			for i := 1; i <= n; i++ {
				if i > 1 {
					e.buf = append(e.buf, ',')
				}
				e.value(v.RawGetInt(i), depth)
			}
			e.buf = append(e.buf, ']')
			return
		}
		e.buf = append(e.buf, '{')
		first := true
		Each(v, func(k, x lua.LValue) {
			if !first {
				e.buf = append(e.buf, ',')
			}
			first = false
			switch k := k.(type) {
			case lua.LString:
				e.buf = cjsonAppendString(e.buf, string(k))
			case lua.LNumber:
				e.buf = append(e.buf, '"')
				e.number(k)
				e.buf = append(e.buf, '"')
			default:
				e.fail(k, "table key must be a number or string")
			}
			e.buf = append(e.buf, ':')
			e.value(x, depth)
		})
		e.buf = append(e.buf, '}')
	default:
		e.fail(v, "type not supported")
	}
}

// arrayLen returns the array length of t, or 0 when t encodes as an
// object; an excessively sparse array is an error.
func (e *cjsonEncoder) arrayLen(t *lua.LTable) int {
	max, items := 0, 0
	object := false
	Each(t, func(k, _ lua.LValue) {
		if object {
			return
		}
		if n, ok := k.(lua.LNumber); ok && float64(n) >= 1 && math.Floor(float64(n)) == float64(n) {
			if float64(n) > float64(max) {
				if float64(n) > math.MaxInt32 {
					object = true
					return
				}
				max = int(n)
			}
			items++
			return
		}
		object = true
	})
	if object {
		return 0
	}
	if c := e.cfg; c.sparseRatio > 0 && max > items*c.sparseRatio && max > c.sparseSafe {
		if c.sparseConvert {
			return 0
		}
		e.L.RaiseError("Cannot serialise table: excessively sparse array")
	}
	return max
}

func (e *cjsonEncoder) number(n lua.LNumber) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		switch e.cfg.encodeInvalid {
		case 0:
			e.fail(n, "must not be NaN or Inf")
		case 1:
			switch {
			case math.IsNaN(f):
				e.buf = append(e.buf, "nan"...)
			case f > 0:
				e.buf = append(e.buf, "inf"...)
			default:
				e.buf = append(e.buf, "-inf"...)
			}
			return
		default:
			e.buf = append(e.buf, "null"...)
			return
		}
	}
	e.buf = cjsonAppendNumberPrec(e.buf, f, e.cfg.precision)
}

// cjsonAppendNumber formats f as C's "%.14g" does.
func cjsonAppendNumber(b []byte, f float64) []byte {
	return cjsonAppendNumberPrec(b, f, 14)
}

// cjsonAppendNumberPrec formats f as C's "%.<prec>g" does.
func cjsonAppendNumberPrec(b []byte, f float64, prec int) []byte {
	return fmt.Appendf(b, "%.*g", prec, f)
}

// cjsonAppendString appends s as a JSON string, escaping as cjson does:
// control characters, '"', '\\', '/' and DEL; other bytes pass through.
func cjsonAppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '/':
			b = append(b, '\\', '/')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 || c == 0x7f {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// JSON tokens, named as cjson names them in its errors.
type cjsonTok int

const (
	tObjBegin cjsonTok = iota
	tObjEnd
	tArrBegin
	tArrEnd
	tString
	tNumber
	tBoolean
	tNull
	tColon
	tComma
	tEnd
	tError
)

var cjsonTokNames = [...]string{"T_OBJ_BEGIN", "T_OBJ_END", "T_ARR_BEGIN", "T_ARR_END", "T_STRING", "T_NUMBER", "T_BOOLEAN", "T_NULL", "T_COLON", "T_COMMA", "T_END", "T_ERROR"}

type cjsonToken struct {
	typ   cjsonTok
	index int // byte offset where the token (or its error) starts
	str   string
	num   float64
	b     bool
	err   string // for tError
}

type cjsonDecoder struct {
	L     *lua.LState
	null  *lua.LUserData
	cfg   *CjsonConfig
	s     string
	pos   int
	depth int
}

func (d *cjsonDecoder) decode() lua.LValue {
	tok := d.next()
	v := d.value(tok)
	if tok = d.next(); tok.typ != tEnd {
		d.parseError("the end", tok)
	}
	return v
}

func (d *cjsonDecoder) parseError(expected string, tok cjsonToken) {
	found := tok.err
	if tok.typ != tError {
		found = cjsonTokNames[tok.typ]
	}
	d.L.RaiseError("Expected %s but found %s at character %d", expected, found, tok.index+1)
}

func (d *cjsonDecoder) descend(tok cjsonToken) {
	d.depth++
	if d.depth > d.cfg.decodeMaxDepth {
		d.L.RaiseError("Found too many nested data structures (%d) at character %d", d.depth, tok.index+1)
	}
}

func (d *cjsonDecoder) value(tok cjsonToken) lua.LValue {
	switch tok.typ {
	case tString:
		return lua.LString(tok.str)
	case tNumber:
		return lua.LNumber(tok.num)
	case tBoolean:
		return lua.LBool(tok.b)
	case tNull:
		return d.null
	case tObjBegin:
		d.descend(tok)
		t := d.L.NewTable()
		tok = d.next()
		if tok.typ == tObjEnd {
			d.depth--
			return t
		}
		for {
			if tok.typ != tString {
				d.parseError("object key string", tok)
			}
			key := tok.str
			if tok = d.next(); tok.typ != tColon {
				d.parseError("colon", tok)
			}
			t.RawSetString(key, d.value(d.next()))
			tok = d.next()
			if tok.typ == tObjEnd {
				d.depth--
				return t
			}
			if tok.typ != tComma {
				d.parseError("comma or object end", tok)
			}
			tok = d.next()
		}
	case tArrBegin:
		d.descend(tok)
		t := d.L.NewTable()
		tok = d.next()
		if tok.typ == tArrEnd {
			d.depth--
			return t
		}
		for i := 1; ; i++ {
			t.RawSetInt(i, d.value(tok))
			tok = d.next()
			if tok.typ == tArrEnd {
				d.depth--
				return t
			}
			if tok.typ != tComma {
				d.parseError("comma or array end", tok)
			}
			tok = d.next()
		}
	}
	d.parseError("value", tok)
	return lua.LNil
}

func (d *cjsonDecoder) next() cjsonToken {
	for d.pos < len(d.s) && (d.s[d.pos] == ' ' || d.s[d.pos] == '\t' || d.s[d.pos] == '\n' || d.s[d.pos] == '\r') {
		d.pos++
	}
	tok := cjsonToken{index: d.pos}
	if d.pos >= len(d.s) {
		tok.typ = tEnd
		return tok
	}
	rest := d.s[d.pos:]
	single := map[byte]cjsonTok{'{': tObjBegin, '}': tObjEnd, '[': tArrBegin, ']': tArrEnd, ':': tColon, ',': tComma}
	c := rest[0]
	if t, ok := single[c]; ok {
		tok.typ = t
		d.pos++
		return tok
	}
	switch {
	case c == '"':
		return d.str(tok)
	case c == '-' || c >= '0' && c <= '9':
		if !d.cfg.decodeInvalid && cjsonInvalidNumber(rest) {
			tok.typ, tok.err = tError, "invalid number"
			return tok
		}
		return d.number(tok)
	case strings.HasPrefix(rest, "true"):
		tok.typ, tok.b = tBoolean, true
		d.pos += 4
		return tok
	case strings.HasPrefix(rest, "false"):
		tok.typ = tBoolean
		d.pos += 5
		return tok
	case strings.HasPrefix(rest, "null"):
		tok.typ = tNull
		d.pos += 4
		return tok
	case d.cfg.decodeInvalid && (c == '+' || c == 'i' || c == 'I' || c == 'n' || c == 'N') && cjsonInvalidNumber(rest):
		return d.number(tok)
	}
	tok.typ, tok.err = tError, "invalid token"
	return tok
}

// cjsonInvalidNumber reports what cjson's json_is_invalid_number does:
// numbers JSON forbids but strtod reads (+, hex, leading zeros, inf, nan).
func cjsonInvalidNumber(s string) bool {
	if s[0] == '+' {
		return true
	}
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	if s[0] == '0' {
		return len(s) > 1 && (s[1]|0x20 == 'x' || s[1] >= '0' && s[1] <= '9')
	}
	if s[0] <= '9' {
		return false
	}
	l := strings.ToLower(s[:min(3, len(s))])
	return l == "inf" || l == "nan"
}

func (d *cjsonDecoder) number(tok cjsonToken) cjsonToken {
	f, n := strtod(d.s[d.pos:])
	if n == 0 {
		tok.typ, tok.err = tError, "invalid number"
		return tok
	}
	d.pos += n
	tok.typ, tok.num = tNumber, f
	return tok
}

func (d *cjsonDecoder) str(tok cjsonToken) cjsonToken {
	d.pos++ // the quote
	var b []byte
	for {
		if d.pos >= len(d.s) {
			tok.typ, tok.err, tok.index = tError, "unexpected end of string", d.pos
			return tok
		}
		c := d.s[d.pos]
		if c == '"' {
			d.pos++
			tok.typ, tok.str = tString, string(b)
			return tok
		}
		if c != '\\' {
			b = append(b, c)
			d.pos++
			continue
		}
		if d.pos+1 >= len(d.s) {
			tok.typ, tok.err, tok.index = tError, "invalid escape code", d.pos
			return tok
		}
		switch e := d.s[d.pos+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, n := cjsonUnicodeEscape(d.s[d.pos:])
			if n == 0 {
				tok.typ, tok.err, tok.index = tError, "invalid unicode escape code", d.pos
				return tok
			}
			b = utf8.AppendRune(b, r)
			d.pos += n
			continue
		default:
			tok.typ, tok.err, tok.index = tError, "invalid escape code", d.pos
			return tok
		}
		d.pos += 2
	}
}

// cjsonUnicodeEscape decodes \uXXXX (or a surrogate pair of them) at the
// start of s and returns the rune and the bytes used, 0 when invalid.
func cjsonUnicodeEscape(s string) (rune, int) {
	hex4 := func(s string) (rune, bool) {
		if len(s) < 4 {
			return 0, false
		}
		v, err := strconv.ParseUint(s[:4], 16, 32)
		return rune(v), err == nil
	}
	r, ok := hex4(s[2:])
	if !ok {
		return 0, 0
	}
	switch {
	case r >= 0xdc00 && r <= 0xdfff:
		return 0, 0
	case r >= 0xd800 && r <= 0xdbff:
		if len(s) < 12 || s[6] != '\\' || s[7] != 'u' {
			return 0, 0
		}
		lo, ok := hex4(s[8:])
		if !ok || lo < 0xdc00 || lo > 0xdfff {
			return 0, 0
		}
		return 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00), 12
	}
	return r, 6
}

// strtod parses the longest prefix of s that C's strtod accepts and returns
// its value and length (0 when there is no number).
func strtod(s string) (float64, int) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	sign := func(f float64) float64 {
		if neg {
			return -f
		}
		return f
	}
	lower := strings.ToLower(s[i:min(len(s), i+8)])
	switch {
	case strings.HasPrefix(lower, "infinity"):
		return sign(math.Inf(1)), i + 8
	case strings.HasPrefix(lower, "inf"):
		return sign(math.Inf(1)), i + 3
	case strings.HasPrefix(lower, "nan"):
		n := i + 3
		if j := strings.IndexByte(s[n:], ')'); n < len(s) && s[n] == '(' && j > 0 {
			ok := true
			for _, c := range s[n+1 : n+j] {
				if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
					ok = false
				}
			}
			if ok {
				n += j + 1
			}
		}
		return sign(math.NaN()), n
	}
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	isHex := func(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }
	if i+1 < len(s) && s[i] == '0' && s[i+1]|0x20 == 'x' {
		j := i + 2
		var mant float64
		digits, exp := 0, 0
		for ; j < len(s) && isHex(s[j]); j++ {
			v, _ := strconv.ParseUint(s[j:j+1], 16, 8)
			mant = mant*16 + float64(v)
			digits++
		}
		if j < len(s) && s[j] == '.' {
			for j++; j < len(s) && isHex(s[j]); j++ {
				v, _ := strconv.ParseUint(s[j:j+1], 16, 8)
				mant = mant*16 + float64(v)
				exp -= 4
				digits++
			}
		}
		if digits == 0 {
			return 0, i + 1 // just the "0"
		}
		if j < len(s) && s[j]|0x20 == 'p' {
			k := j + 1
			if k < len(s) && (s[k] == '+' || s[k] == '-') {
				k++
			}
			if k < len(s) && isDigit(s[k]) {
				for k < len(s) && isDigit(s[k]) {
					k++
				}
				e, _ := strconv.Atoi(s[j+1 : k])
				exp += e
				j = k
			}
		}
		return sign(math.Ldexp(mant, exp)), j
	}
	j := i
	digits := 0
	for j < len(s) && isDigit(s[j]) {
		j++
		digits++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && isDigit(s[j]) {
			j++
			digits++
		}
	}
	if digits == 0 {
		return 0, 0
	}
	if j < len(s) && s[j]|0x20 == 'e' {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && isDigit(s[k]) {
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			j = k
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s[i:j], "."), 64)
	if err != nil && !strings.Contains(err.Error(), "range") {
		return 0, 0
	}
	return sign(f), j
}
