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
	}
	const probe = `if pcall(function() return leak end) then return 'leaked global' end
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
	for _, name := range []string{"print", "dofile", "loadfile"} {
		err := rdb.Eval(ctx, "return "+name+"('x')", nil).Err()
		if err == nil || !strings.Contains(err.Error(), "Script attempted to access nonexistent global variable '"+name+"'") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
