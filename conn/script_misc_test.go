package conn

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// A script's cjson settings do not outlive it: interpreters are pooled,
// so a setting kept would show in whichever later script got the same
// interpreter.
func TestCjsonSettingsResetAfterScript(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := rdb.Eval(ctx, "cjson.encode_max_depth(1) cjson.encode_invalid_numbers(true) return 1", nil).Err(); err != nil {
			t.Fatal(err)
		}
		v, err := rdb.Eval(ctx, "return {cjson.encode_max_depth(), cjson.encode({{}}), (pcall(cjson.encode, 0/0)) and 1 or 0}", nil).Result()
		if err != nil || len(v.([]any)) != 3 || v.([]any)[0] != int64(1000) || v.([]any)[1] != "[{}]" || v.([]any)[2] != int64(0) {
			t.Fatalf("settings after a script changed them: %v, %v", v, err)
		}
	}
}

// math.random and math.randomseed are Redis's: one generator for the
// server, not reseeded between scripts, seeded from a number or a numeric
// string, giving the sequences redis-server 7.0.15 gives.
func TestScriptPRNGMatchesRedis(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	eval := func(src string, args ...any) string {
		t.Helper()
		v, err := rdb.Eval(ctx, src, nil, args...).Result()
		if err != nil {
			return strings.TrimSuffix(err.Error()[:strings.Index(err.Error()+" script:", " script:")], " ")
		}
		return fmt.Sprint(v)
	}
	// Unseeded, then carrying on in the next script.
	if got := eval("return {math.random(1000000000), math.random(1000000000)}"); got != "[396464774 840485370]" {
		t.Errorf("first draws: %s", got)
	}
	if got := eval("return math.random(1000000000)"); got != "353336098" {
		t.Errorf("next script's draw: %s", got)
	}
	seeded := "math.randomseed(ARGV[1]) return {math.random(1000000000), math.random(-1000, 1000), math.floor(math.random()*2^31)}"
	for i := 0; i < 2; i++ {
		if got := eval(seeded, "10"); got != "[878851124 592 1032568723]" {
			t.Errorf("seed '10': %s", got)
		}
	}
	if got := eval(seeded, -123456789); got != "[289187606 -51 200728094]" {
		t.Errorf("seed -123456789: %s", got)
	}
	// luaL_checkint: truncated to 64 bits, then to the low 32.
	if a, b := eval("math.randomseed(2^32+5) return math.random(1000000000)"), eval("math.randomseed(5) return math.random(1000000000)"); a != b {
		t.Errorf("seed 2^32+5 gives %s, seed 5 gives %s", a, b)
	}
	for src, want := range map[string]string{
		"return math.random(0)":       "ERR user_script:1: bad argument #1 to 'random' (interval is empty)",
		"return math.random(3, 1)":    "ERR user_script:1: bad argument #2 to 'random' (interval is empty)",
		"return math.random(1, 2, 3)": "ERR user_script:1: wrong number of arguments",
		"return math.random('a')":     "ERR user_script:1: bad argument #1 to 'random' (number expected, got string)",
		"return math.randomseed('x')": "ERR user_script:1: bad argument #1 to 'randomseed' (number expected, got string)",
		"return math.randomseed()":    "ERR user_script:1: bad argument #1 to 'randomseed' (number expected, got no value)",
	} {
		if got := eval(src); got != want {
			t.Errorf("%s: got %q want %q", src, got, want)
		}
	}
}

// SORT BY a constant does not sort; a set has no order, so for a script
// Redis sorts it ALPHA anyway (as for STORE): what a script sees is
// deterministic. A plain client still gets the set's own order.
func TestScriptSortByConstantIsOrdered(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	members := []any{"a", "b", "c", "d", "e", "f", "g", "h", "i", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "z", "aa", "aaa", "azz"}
	rdb.SAdd(ctx, "myset", members...)
	want := "[a aa aaa azz b c d e f g h i l m n o p q r s t u v z]"
	v, err := rdb.Eval(ctx, "return redis.call('sort', KEYS[1], 'by', '_')", []string{"myset"}).Result()
	if err != nil || fmt.Sprint(v) != want {
		t.Fatalf("SORT BY constant from a script = %v, %v", v, err)
	}
	v, err = rdb.Eval(ctx, "return redis.call('sort', KEYS[1], 'by', '_', 'desc', 'limit', 0, 3, 'get', '#', 'get', '_:*')", []string{"myset"}).Result()
	if err != nil || fmt.Sprint(v) != "[z <nil> v <nil> u <nil>]" {
		t.Fatalf("SORT BY constant DESC LIMIT GET from a script = %v, %v", v, err)
	}
	plain, err := rdb.Sort(ctx, "myset", &redis.Sort{By: "_"}).Result()
	if err != nil || len(plain) != len(members) {
		t.Fatalf("SORT BY constant = %v, %v", plain, err)
	}
	if fmt.Sprint(plain) == want {
		t.Fatalf("SORT BY constant from a client sorted the set: %v", plain)
	}
}

// INFO errorstats counts error replies by code, and a script's errors
// count once each: an error a command called from the script replied is
// counted then (and marked so in its table), not again when the script
// returns it; errors nested in a script's reply count too. Figures
// recorded from redis-server 7.0.15.
func TestScriptErrorStats(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	for _, c := range []struct {
		args []any
		want string
	}{
		{[]any{"eval", "return redis.error_reply('MY_ERR_CODE custom msg')", 0}, "errorstat_MY_ERR_CODE:count=1 total=1"},
		{[]any{"eval", "return redis.error_reply('')", 0}, "errorstat_ERR:count=1 total=1"},
		{[]any{"eval", "return redis.status_reply('MY_OK_CODE custom msg')", 0}, "total=0"},
		{[]any{"eval", "redis.pcall('nosuch') return 1", 0}, "errorstat_ERR:count=1 total=1"},
		{[]any{"eval", "return redis.call('select', 99)", 0}, "errorstat_ERR:count=1 total=1"},
		{[]any{"eval", "return redis.pcall('select', 99)", 0}, "errorstat_ERR:count=1 total=1"},
		{[]any{"eval", "local t = redis.pcall('select', 99) return {err = t.err}", 0}, "errorstat_ERR:count=2 total=2"},
		{[]any{"eval", "local t = redis.pcall('select', 99) t.ignore_error_stats_update = false return t", 0}, "errorstat_ERR:count=2 total=2"},
		{[]any{"eval_ro", "redis.pcall('set', 'x', 'y') return 1", 1, "x"}, "errorstat_ERR:count=1 total=1"},
		{[]any{"eval", "redis.call('set', 'es', 1) redis.call('lpush', 'es', 1)", 0}, "errorstat_WRONGTYPE:count=1 total=1"},
		{[]any{"eval", "return {1, {err = 'X y'}, redis.pcall('select', 99)}", 0}, "errorstat_ERR:count=1 errorstat_X:count=1 total=2"},
		{[]any{"eval", "return {err = 'NOSPACE'}", 0}, "errorstat_ERR:count=1 total=1"},
		{[]any{"eval", "error('boom')", 0}, "errorstat_ERR:count=1 total=1"},
		{[]any{"eval", "pcall(redis.pcall) return 1", 0}, "total=0"},
		{[]any{"nosuch"}, "errorstat_ERR:count=1 total=1"},
	} {
		if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		rdb.Do(ctx, c.args...)
		var got []string
		for _, line := range strings.Split(rdb.Info(ctx, "errorstats").Val(), "\r\n") {
			if strings.HasPrefix(line, "errorstat_") {
				got = append(got, line)
			}
		}
		for _, line := range strings.Split(rdb.Info(ctx, "stats").Val(), "\r\n") {
			if v, ok := strings.CutPrefix(line, "total_error_replies:"); ok {
				got = append(got, "total="+v)
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%v: got %q want %q", c.args, strings.Join(got, " "), c.want)
		}
	}
	// The table of an error redis.pcall got says it was counted.
	v, err := rdb.Eval(ctx, "local t = redis.pcall('select', 99) local ks = {} for k in pairs(t) do ks[#ks+1] = k end table.sort(ks) return ks", nil).Result()
	if err != nil || fmt.Sprint(v) != "[err ignore_error_stats_update]" {
		t.Errorf("fields of a redis.pcall error: %v, %v", v, err)
	}
}

// INFO memory counts the cached scripts and the loaded functions and
// libraries.
func TestInfoMemoryScriptCounts(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	field := func(name string) string {
		for _, line := range strings.Split(rdb.Info(ctx, "memory").Val(), "\r\n") {
			if v, ok := strings.CutPrefix(line, name+":"); ok {
				return v
			}
		}
		return "missing"
	}
	for i := 0; i < 100; i++ {
		if err := rdb.ScriptLoad(ctx, fmt.Sprint("return ", i)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got := field("number_of_cached_scripts"); got != "100" {
		t.Fatalf("number_of_cached_scripts = %s after 100 SCRIPT LOADs", got)
	}
	if err := rdb.Do(ctx, "script", "flush", "async").Err(); err != nil {
		t.Fatal(err)
	}
	if got := field("number_of_cached_scripts"); got != "0" {
		t.Fatalf("number_of_cached_scripts = %s after SCRIPT FLUSH ASYNC", got)
	}
	lib := "#!lua name=countlib\nredis.register_function('f1', function() return 1 end)\nredis.register_function('f2', function() return 2 end)"
	if err := rdb.FunctionLoad(ctx, lib).Err(); err != nil {
		t.Fatal(err)
	}
	if f, l := field("number_of_functions"), field("number_of_libraries"); f != "2" || l != "1" {
		t.Fatalf("number_of_functions = %s, number_of_libraries = %s", f, l)
	}
}
