package conn

import (
	"context"
	"strings"
	"testing"
)

// Each trick tries to change what a later script sees on the same pooled
// interpreter. Every one must fail with Redis's read-only error, and a
// probe run after each must find the libraries and globals intact.
func TestScriptSandboxTricks(t *testing.T) {
	_, addr := startServer(t, 2)
	ctx := context.Background()
	rdb := newClient2(t, addr, 2)
	tricks := []string{
		"redis.call = function() return 'evil' end",
		"string.upper = function() return 'evil' end",
		"rawset(string, 'upper', function() return 'evil' end)",
		"rawset(_G, 'leak', 1)",
		"getfenv(0).leak = 1",
		"getfenv(tostring).leak = 1",
		"loadstring('leak = 1')()",
		"getmetatable('').__index.upper = function() return 'evil' end",
		"setmetatable(_G, {__index = function() return 1 end})",
		"local g = getmetatable(_G) g.__index = {}",
		"cjson.encode = nil",
		"cmsgpack.pack = nil",
		"bit.band = nil",
		"struct.pack = nil",
		"math.floor = nil",
		"table.insert = nil",
		"redis = nil",
		"_G = {}",
		"setfenv(0, {})",
		// pairs and ipairs used to hand out the real table behind a proxy.
		"local _, t = pairs(redis) t.call = function() return 'evil' end",
		"local _, t = ipairs(string) t.upper = function() return 'evil' end",
		"for k in pairs(getmetatable(_G)) do end local _, m = pairs(getmetatable(_G)) m.__index = {}",
		// The table library writes with raw access.
		"table.insert(redis, 'x')",
		"table.insert(_G, 'x')",
		"table.remove(string)",
		"table.sort(math)",
	}
	const probe = `if pcall(function() return leak end) then return 'leaked global' end
if rawget(redis, 1) ~= nil or #redis ~= 0 then return 'leaked field' end
return string.upper('a') .. ('b'):upper() .. type(redis.call) .. type(cjson.encode) .. type(cmsgpack.pack) ..
  type(bit.band) .. type(struct.pack) .. type(math.floor) .. type(table.insert)`
	const want = "ABfunctionfunctionfunctionfunctionfunctionfunctionfunction"
	for _, trick := range tricks {
		err := rdb.Eval(ctx, trick+" return 1", nil).Err()
		if err == nil || !strings.Contains(err.Error(), "Attempt to modify a readonly table") {
			t.Errorf("%q: err = %v, want the read-only error", trick, err)
		}
		for i := 0; i < 4; i++ {
			if v, err := rdb.Eval(ctx, probe, nil).Result(); err != nil || v != want {
				t.Fatalf("after %q a later script saw %v, %v", trick, v, err)
			}
		}
	}
	// Reading through the proxies still works.
	v, err := rdb.Eval(ctx, "local n = 0 for k, v in pairs(redis) do n = n + 1 end local m = 0 for k in next, cjson do m = m + 1 end return {n > 10 and 1 or 0, m > 5 and 1 or 0}", nil).Int64Slice()
	if err != nil || len(v) != 2 || v[0] != 1 || v[1] != 1 {
		t.Fatalf("iterating the libraries = %v, %v", v, err)
	}
	for _, name := range []string{"print", "dofile", "loadfile"} {
		err := rdb.Eval(ctx, "return "+name+"('x')", nil).Err()
		if err == nil || !strings.Contains(err.Error(), "Script attempted to access nonexistent global variable '"+name+"'") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
