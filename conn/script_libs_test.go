package conn

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Outputs recorded from redis-server 7.0.15 with redis-cli (raw mode:
// array elements one a line, nil as an empty line), for the Lua libraries
// cjson, cmsgpack and struct.
var scriptLibCases = []struct{ script, want string }{
	{`return cjson.encode({1,2,3})`, `[1,2,3]`},
	{`return cjson.encode({})`, `{}`},
	{`return cjson.encode({a='x/y"\\\n\t\1'})`, `{"a":"x\/y\"\\\n\t\u0001"}`},
	{`return cjson.encode({1.5, 0.1, 1/3, 1e20, 123456789012345678, -0.0, 3})`, `[1.5,0.1,0.33333333333333,1e+20,1.2345678901235e+17,-0,3]`},
	{`return cjson.encode(1/0)`, `ERR user_script:1: Cannot serialise number: must not be NaN or Inf`},
	{`return cjson.encode({[1]=1,[3]=3})`, `[1,null,3]`},
	{`return cjson.encode({[1]=1,[2]=2,[11]=4})`, `ERR user_script:1: Cannot serialise table: excessively sparse array`},
	{`return cjson.encode({[1]=1,[2]=2,[10]=4})`, `[1,2,null,null,null,null,null,null,null,4]`},
	{`return cjson.encode({[1.5]=1})`, `{"1.5":1}`},
	{`return cjson.encode({[2]=1})`, `[null,1]`},
	{`return cjson.encode({[0]=1})`, `{"0":1}`},
	{`return cjson.encode({true,false,cjson.null})`, `[true,false,null]`},
	{`return cjson.encode(nil)`, `null`},
	{`return cjson.encode()`, `ERR user_script:1: bad argument #1 to 'encode' (expected 1 argument)`},
	{`return cjson.encode(1,2)`, `ERR user_script:1: bad argument #1 to 'encode' (expected 1 argument)`},
	{`return type(cjson.null)`, `userdata`},
	// A circular table, packed to cmsgpack's depth limit: the same bytes
	// every time (map fields used to come out in Go's random map order).
	{`local a = {x=nil,y=5} local b = {x=a} a['x'] = b local e = cmsgpack.pack(a) local h = '' for i = 1, #e do h = h .. string.format('%02x', e:byte(i)) end return h`,
		`82a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a178c0`},
	{`return cjson.decode('null') == cjson.null`, `1`},
	{`return cjson.decode('[1,2,null,3]')`, `1
2

3`},
	{`return #cjson.decode('[1,2,null,3]')`, `4`},
	{`return cjson.decode('{"a":{"b":[1,"x"]}}').a.b[2]`, `x`},
	{`return cjson.decode('')`, `ERR user_script:1: Expected value but found T_END at character 1`},
	{`return cjson.decode('x')`, `ERR user_script:1: Expected value but found invalid token at character 1`},
	{`return cjson.decode('[1,2')`, `ERR user_script:1: Expected comma or array end but found T_END at character 5`},
	{`return cjson.decode('{"a" 1}')`, `ERR user_script:1: Expected colon but found T_NUMBER at character 6`},
	{`return cjson.decode('{"a":1,}')`, `ERR user_script:1: Expected object key string but found T_OBJ_END at character 8`},
	{`return cjson.decode('[1,]')`, `ERR user_script:1: Expected value but found T_ARR_END at character 4`},
	{`return cjson.decode('1 2')`, `ERR user_script:1: Expected the end but found T_NUMBER at character 3`},
	{`return cjson.decode('"abc')`, `ERR user_script:1: Expected value but found unexpected end of string at character 5`},
	{`return cjson.decode('-')`, `ERR user_script:1: Expected value but found invalid number at character 1`},
	{`return cjson.decode('0x10')`, `16`},
	{`return cjson.decode('  3.25  ')`, `3`},
	{`return cjson.decode('tru')`, `ERR user_script:1: Expected value but found invalid token at character 1`},
	{`return cjson.decode(1)`, `1`},
	{`return cjson.decode({})`, `ERR user_script:1: bad argument #1 to 'decode' (string expected, got table)`},
	{`return cjson.decode()`, `ERR user_script:1: bad argument #1 to 'decode' (expected 1 argument)`},
	{`local t={} for k,v in pairs(cjson) do t[#t+1]=k end table.sort(t) return t`, `_NAME
_VERSION
decode
decode_invalid_numbers
decode_max_depth
encode
encode_invalid_numbers
encode_keep_buffer
encode_max_depth
encode_number_precision
encode_sparse_array
new
null`},
	{`return cjson.decode('"\\x"')`, `ERR user_script:1: Expected value but found invalid escape code at character 2`},
	{`return cjson.decode('"\\u12"')`, `ERR user_script:1: Expected value but found invalid unicode escape code at character 2`},
	{`return cjson.decode('"\\ud83d"')`, `ERR user_script:1: Expected value but found invalid unicode escape code at character 2`},
	{`return cjson.decode('01')`, `1`},
	{`return cjson.decode('-01')`, `-1`},
	{`return cjson.decode('1.')`, `1`},
	{`return cjson.decode('.5')`, `ERR user_script:1: Expected value but found invalid token at character 1`},
	{`return cjson.decode('+1')`, `1`},
	{`return cjson.decode('1e')`, `ERR user_script:1: Expected the end but found invalid token at character 2`},
	{`return cjson.decode('{"a":1,"a":2}').a`, `2`},
	{`return cjson.decode('{1:2}')`, `ERR user_script:1: Expected object key string but found T_NUMBER at character 2`},
	{`return cjson.decode('[1 2]')`, `ERR user_script:1: Expected comma or array end but found T_NUMBER at character 4`},
	{`return cjson.decode('{"a":1 "b":2}')`, `ERR user_script:1: Expected comma or object end but found T_STRING at character 8`},
	{`return cjson.decode('{"a":1')`, `ERR user_script:1: Expected comma or object end but found T_END at character 7`},
	{`return cjson.decode('[')`, `ERR user_script:1: Expected value but found T_END at character 2`},
	{`return cjson.decode('{')`, `ERR user_script:1: Expected object key string but found T_END at character 2`},
	{`return cjson.decode(']')`, `ERR user_script:1: Expected value but found T_ARR_END at character 1`},
	{`return cjson.decode(':')`, `ERR user_script:1: Expected value but found T_COLON at character 1`},
	{`return cjson.decode('"a')`, `ERR user_script:1: Expected value but found unexpected end of string at character 3`},
	{`return cjson.decode('truex')`, `ERR user_script:1: Expected the end but found invalid token at character 5`},
	{`return cjson.decode('true false')`, `ERR user_script:1: Expected the end but found T_BOOLEAN at character 6`},
	{`return cjson.decode('[1,2]x')`, `ERR user_script:1: Expected the end but found invalid token at character 6`},
	{`return cjson.decode('{"a"}')`, `ERR user_script:1: Expected colon but found T_OBJ_END at character 5`},
	{`return cjson.decode('{"a":}')`, `ERR user_script:1: Expected value but found T_OBJ_END at character 6`},
	{`return cjson.decode(string.rep('[',1001))`, `ERR user_script:1: Found too many nested data structures (1001) at character 1001`},
	{`return cjson.decode(string.rep('{"a":',1001))`, `ERR user_script:1: Found too many nested data structures (1001) at character 5001`},
	{`local t={} local c=t for i=1,999 do c[1]={} c=c[1] end return #cjson.encode(t)`, `2000`},
	{`local t={} local c=t for i=1,1000 do c[1]={} c=c[1] end return #cjson.encode(t)`, `ERR user_script:1: Cannot serialise, excessive nesting (1001)`},
	{`local t={} t[1]=t return cjson.encode(t)`, `ERR user_script:1: Cannot serialise, excessive nesting (1001)`},
	{`return cjson.encode({["a/b"]=1})`, `{"a\/b":1}`},
	{`return cjson.encode({[true]=1})`, `ERR user_script:1: Cannot serialise boolean: table key must be a number or string`},
	{`return cjson.encode({[cjson.null]=1})`, `ERR user_script:1: Cannot serialise userdata: table key must be a number or string`},
	{`return cjson.encode({1,2,{a={}}})`, `[1,2,{"a":{}}]`},
	{`return cjson.encode(123456789012345)`, `1.2345678901234e+14`},
	{`return cjson.encode(1e-5)`, `1e-05`},
	{`return cjson.encode(-1e100)`, `-1e+100`},
	{`return cjson.encode(2^53)`, `9.007199254741e+15`},
	{`return cjson.encode(0.1+0.2)`, `0.3`},
	{`return cjson.encode(string.char(8,12,10,13,9,34,92,47,127,0))`, `"\b\f\n\r\t\"\\\/\u007f\u0000"`},
	{`return cjson.encode(redis)`, `ERR user_script:1: Cannot serialise function: type not supported`},
	{`return cjson.encode({cjson.encode})`, `ERR user_script:1: Cannot serialise function: type not supported`},
	{`return cjson.encode_max_depth()`, `1000`},
	{`return cjson.encode_number_precision()`, `14`},
	// Binary chunks: string.dump makes one, loadstring and load refuse it.
	{`return loadstring(string.dump(function() return 1 end))()`, `ERR user_script:1: attempt to call a nil value`},
	{`local f, e = loadstring(string.dump(function() return 1 end)) return {tostring(f), e}`, `nil
[string "` + "\x1b" + `LuaQ"]:1: unexpected symbol near 'char(27)'`},
	{`local f, e = loadstring('\27abc', 'nm') return e`, `[string "nm"]:1: unexpected symbol near 'char(27)'`},
	{`local f, e = loadstring('\27x', '=name') return e`, `name:1: unexpected symbol near 'char(27)'`},
	{`local f, e = loadstring('\27x', '@file') return e`, `file:1: unexpected symbol near 'char(27)'`},
	{`local f, e = loadstring('\27' .. string.rep('b', 70)) return e`, `[string "` + "\x1b" + `bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb..."]:1: unexpected symbol near 'char(27)'`},
	{`local s = string.dump(function() return 1 end) local i = 0 local f, e = load(function() i = i + 1 if i == 1 then return s end end) return e`, `(load):1: unexpected symbol near 'char(27)'`},
	{`return load(string.dump(function() return 1 end))`, `ERR user_script:1: bad argument #1 to 'load' (function expected, got string)`},
	{`return string.dump(function() return 1 end):sub(1, 12) == '\27LuaQ\0\1\4\8\4\8\0'`, `1`},
	{`return string.dump(string.len)`, `ERR user_script:1: unable to dump given function`},
	{`return string.dump()`, `ERR user_script:1: bad argument #1 to 'dump' (function expected, got no value)`},
	{`return loadstring('return 7')()`, `7`},
	{`local i = 0 return load(function() i = i + 1 if i == 1 then return 'return 8' end end)()`, `8`},
	{`return {getmetatable(nil), getmetatable(1), getmetatable(true)}`, ``},
	{`return cjson._NAME .. ' ' .. cjson._VERSION`, `cjson 2.1.0`},
	// The configuration functions change the settings (for the rest of
	// the script here; in Redis until SCRIPT FLUSH).
	{`cjson.encode_max_depth(1) return cjson.encode({{}})`, `ERR user_script:1: Cannot serialise, excessive nesting (2)`},
	{`cjson.encode_max_depth(2) return cjson.encode({{}})`, `[{}]`},
	{`cjson.decode_max_depth(1) return cjson.decode('[[1]]')`, `ERR user_script:1: Found too many nested data structures (2) at character 2`},
	{`return cjson.encode_max_depth(0)`, `ERR user_script:1: bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)`},
	{`return cjson.encode_max_depth(1, 2)`, `ERR user_script:1: bad argument #2 to 'encode_max_depth' (found too many arguments)`},
	{`return cjson.encode_max_depth('x')`, `ERR user_script:1: bad argument #1 to 'encode_max_depth' (number expected, got string)`},
	{`return cjson.encode_max_depth('7')`, `7`},
	{`return cjson.encode_invalid_numbers('foo')`, `ERR user_script:1: bad argument #1 to 'encode_invalid_numbers' (invalid option 'foo')`},
	{`return cjson.encode_invalid_numbers('null')`, `null`},
	{`return cjson.encode_invalid_numbers('on')`, `1`},
	{`cjson.encode_invalid_numbers(true) return cjson.encode({1/0, -1/0, 0/0})`, `[inf,-inf,nan]`},
	{`cjson.encode_invalid_numbers('null') return cjson.encode({1/0, 0/0})`, `[null,null]`},
	{`return cjson.encode_number_precision(15)`, `ERR user_script:1: bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)`},
	{`cjson.encode_number_precision(3) return cjson.encode(3.14159)`, `3.14`},
	{`cjson.decode_invalid_numbers(false) return cjson.decode('[0x10]')`, `ERR user_script:1: Expected value but found invalid number at character 2`},
	{`cjson.decode_invalid_numbers(false) return cjson.decode('nan')`, `ERR user_script:1: Expected value but found invalid token at character 1`},
	{`return {cjson.encode_sparse_array(true, 3, 4)}`, `1
3
4`},
	{`cjson.encode_sparse_array(true) return cjson.encode({[1]=1,[20]=2})`, `{"1":1,"20":2}`},
	{`cjson.encode_sparse_array(false, 0) return #cjson.encode({[1]=1,[20]=2})`, `95`},
	{`return cjson.encode_sparse_array('x')`, `ERR user_script:1: bad argument #1 to 'encode_sparse_array' (invalid option 'x')`},
	{`return cjson.encode_keep_buffer('off')`, ``},
	{`local c = cjson.new() c.encode_max_depth(1) return {cjson.encode({{}}), (pcall(c.encode, {{}}))}`, `[{}]
`},
	{`local s=cmsgpack.pack('',string.rep('a',31),string.rep('b',32)) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `a0bf61616161616161616161616161616161616161616161616161616161616161d9206262626262626262626262626262626262626262626262626262626262626262`},
	{`local s=cmsgpack.pack(string.rep('a',256)):sub(1,3) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `da0100`},
	{`local s=cmsgpack.pack({1,2,3},{},{a=1},{[1]=1,[3]=3},{[2]=2}) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `930102039081a161018201010303810202`},
	{`local t={} for i=1,16 do t[i]=i end local s=cmsgpack.pack(t):sub(1,4) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `dc001001`},
	{`local t={} for i=1,16 do t['k'..i]=i end local s=cmsgpack.pack(t):sub(1,3) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `de0010`},
	{`local s=cmsgpack.pack({[1.5]=true}) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `81ca3fc00000c3`},
	{`local s=cmsgpack.pack(cjson.null) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `c0`},
	{`return cmsgpack.pack()`, `ERR user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)`},
	{`local t={} t[1]=t local s=cmsgpack.pack(t) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `91919191919191919191919191919191c0`},
	{`return {cmsgpack.unpack(cmsgpack.pack(1,'a',{1,2},true))}`, `1
a
1
2
1`},
	{`return {cmsgpack.unpack('')}`, ``},
	{`return cmsgpack.unpack()`, `ERR user_script:1: bad argument #1 to 'unpack' (string expected, got no value)`},
	{`return cmsgpack.unpack('\193')`, `ERR user_script:1: Bad data format in input.`},
	{`return cmsgpack.unpack('\146\1')`, `ERR user_script:1: Missing bytes in input.`},
	{`return cmsgpack.unpack('\196\3abc')`, `ERR user_script:1: Bad data format in input.`},
	{`return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3))}`, `1
1`},
	{`return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3),2)}`, `2
1
2`},
	{`return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3),1)}`, `2
2`},
	{`return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3),0)}`, `1
2
3`},
	{`return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3),5)}`, `-1
1
2
3`},
	{`return {cmsgpack.unpack_one(cmsgpack.pack(1,2),5)}`, `ERR user_script:1: Start offset 5 greater than input length 2.`},
	{`return {cmsgpack.unpack_one(cmsgpack.pack(1,2),-1)}`, `ERR user_script:1: Invalid request to unpack with offset of -1 and limit of 2.`},
	{`return {cmsgpack.unpack_one('')}`, `-1`},
	{`return cmsgpack.unpack(1)`, `49`},
	{`return cmsgpack.unpack('\129\1\192')[1]`, ``},
	{`local s=struct.pack('>bBhHiIlLfd', -1, 255, -2, 65535, -3, 4294967295, -4, 5, 1.5, 2.25) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `fffffffefffffffffffdfffffffffffffffffffffffc00000000000000053fc000004002000000000000`},
	{`local s=struct.pack('<bBhHiIlLfd', -1, 255, -2, 65535, -3, 4294967295, -4, 5, 1.5, 2.25) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `fffffefffffffdfffffffffffffffcffffffffffffff05000000000000000000c03f0000000000000240`},
	{`local s=struct.pack('<i2I3i1i8', -2, 70000, 300, -1) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `feff7011012cffffffffffffffff`},
	{`local s=struct.pack('!<bxid', 1, 2, 3) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `01000000020000000000000000000840`},
	{`local s=struct.pack('!4<bd h', 1, 2, 3) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `0100000000000000000000400300`},
	{`local s=struct.pack('sc3c0', 'ab', 'xyzw', 'hi') local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `61620078797a6869`},
	{`local s=struct.pack('<i', -2.7) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `feffffff`},
	{`local s=struct.pack('<B', 256) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `00`},
	{`local s=struct.pack('<i16', -1) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `ffffffffffffffff0000000000000000`},
	{`local s=struct.pack('>i16', 1) local h='' for i=1,#s do h=h..string.format('%02x',s:byte(i)) end return h`, `00000000000000000000000000000001`},
	{`return struct.pack('c5', 'ab')`, `ERR user_script:1: bad argument #3 to 'pack' (string too short)`},
	{`return struct.pack('i33', 1)`, `ERR user_script:1: integral size 33 is larger than limit of 32`},
	{`return struct.pack('!3i', 1)`, `ERR user_script:1: alignment 3 is not a power of 2`},
	{`return struct.pack('y', 1)`, `ERR user_script:1: bad argument #1 to 'pack' (invalid format option 'y')`},
	{`return struct.pack('i')`, `ERR user_script:1: bad argument #2 to 'pack' (number expected, got nil)`},
	{`return struct.pack('i', 'x')`, `ERR user_script:1: bad argument #2 to 'pack' (number expected, got string)`},
	{`return {struct.unpack('>bBhHiIlL', struct.pack('>bBhHiIlL', -1, 255, -2, 65535, -3, 4294967295, -4, 5))}`, `-1
255
-2
65535
-3
4294967295
-4
5
31`},
	{`return {struct.unpack('<i3I3', '\255\255\255\255\255\255')}`, `-1
16777215
7`},
	{`return {struct.unpack('bc0', '\2abcd')}`, `ab
4`},
	{`return {struct.unpack('s', 'ab')}`, `ERR user_script:1: unfinished string in data`},
	{`return {struct.unpack('i', 'ab')}`, `ERR user_script:1: bad argument #2 to 'unpack' (data string too short)`},
	{`return {struct.unpack('c0', 'ab')}`, `ERR user_script:1: format 'c0' needs a previous size`},
	{`return {struct.unpack('b', 'ab', 2)}`, `98
3`},
	{`return {struct.unpack('b', 'ab', 4)}`, `ERR user_script:1: bad argument #2 to 'unpack' (data string too short)`},
	{`return {struct.unpack('b', 'ab', 0)}`, `ERR user_script:1: bad argument #3 to 'unpack' (offset must be 1 or greater)`},
	{`return {struct.unpack('b', 'ab', -1)}`, `ERR user_script:1: bad argument #2 to 'unpack' (data string too short)`},
	{`return {struct.unpack('!<bi', '\1\0\0\0\2\0\0\0')}`, `1
2
9`},
	{`return {struct.unpack('x b', '\1\2')}`, `2
3`},
	{`return {struct.unpack('sb', 'ab\0\5')}`, `ab
5
5`},
	{`return struct.size('bhi!lxd')`, `32`},
	{`return struct.size('s')`, `ERR user_script:1: bad argument #1 to 'size' (option 's' has no fixed size)`},
	{`return struct.size('c0')`, `ERR user_script:1: bad argument #1 to 'size' (option 'c0' has no fixed size)`},
	{`return struct.size('i7')`, `7`},
	{`return struct.size('!i3d')`, `16`}}

func TestScriptLibsMatchRedis(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	trim := regexp.MustCompile(` script: [0-9a-f]*, on @user_script:1\.`)
	for _, c := range scriptLibCases {
		for range 3 { // map orders must not vary
			v, err := rdb.Eval(ctx, c.script, nil).Result()
			var got string
			if err != nil && err.Error() != "redis: nil" {
				got = trim.ReplaceAllString(err.Error(), "")
			} else {
				got = strings.Join(flattenReply(v), "\n")
			}
			if got != c.want {
				t.Errorf("%s\n got %q\nwant %q", c.script, got, c.want)
			}
		}
	}
}

func flattenReply(v any) []string {
	switch v := v.(type) {
	case nil:
		return []string{""}
	case string:
		return []string{v}
	case int64:
		return []string{strconv.FormatInt(v, 10)}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, flattenReply(x)...)
		}
		return out
	}
	return []string{"?"}
}
