package conn

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestCommandKeySpecsDifferential compares, for every command both
// servers know, COMMAND INFO's key positions and key specs (flags,
// begin_search, find_keys, notes) between Valkyrie and redis-server, and
// COMMAND GETKEYS and GETKEYSANDFLAGS for a command line of each command
// whose keys are not one simple range.
func TestCommandKeySpecsDifferential(t *testing.T) {
	ctx := context.Background()
	red, val := redisAndValkyrie(t)

	names, err := val.Do(ctx, "command", "list").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	known, err := red.Do(ctx, "command", "list").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	inRedis := map[string]bool{}
	for _, n := range known {
		inRedis[n] = true
	}
	compared := 0
	for _, name := range names {
		if !inRedis[name] {
			continue
		}
		want, err := red.Do(ctx, "command", "info", name).Slice()
		if err != nil {
			t.Fatal(err)
		}
		got, err := val.Do(ctx, "command", "info", name).Slice()
		if err != nil {
			t.Fatal(err)
		}
		w, g := want[0].([]any), got[0].([]any)
		if wd, gd := cmdTestDocKeyIndexes(t, red, name), cmdTestDocKeyIndexes(t, val, name); !reflect.DeepEqual(gd, wd) {
			t.Errorf("COMMAND DOCS %s key_spec_index values: valkyrie %v, redis %v", name, gd, wd)
		}
		// first key, last key, step; key specs.
		for _, i := range []int{3, 4, 5, 8} {
			if !reflect.DeepEqual(g[i], w[i]) {
				t.Errorf("COMMAND INFO %s [%d]:\nvalkyrie %v\n   redis %v", name, i, g[i], w[i])
			}
		}
		compared++
	}
	if compared < 250 {
		t.Errorf("compared only %d commands", compared)
	}

	for _, line := range keySpecLines {
		args := []any{"command", "getkeysandflags"}
		for _, a := range strings.Fields(line) {
			if a == `""` {
				a = ""
			}
			args = append(args, a)
		}
		for _, sub := range []string{"getkeysandflags", "getkeys"} {
			args[1] = sub
			w, werr := red.Do(ctx, args...).Result()
			g, gerr := val.Do(ctx, args...).Result()
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(g, w) {
				t.Errorf("COMMAND %s %s:\nvalkyrie %v %v\n   redis %v %v", sub, line, g, gerr, w, werr)
			}
		}
	}
}

// cmdTestDocKeyIndexes returns the key_spec_index values of COMMAND DOCS
// name (RESP2), in order.
func cmdTestDocKeyIndexes(t *testing.T, rdb *redis.Client, name string) []any {
	t.Helper()
	v, err := rdb.Do(context.Background(), "command", "docs", name).Slice()
	if err != nil {
		t.Fatal(err)
	}
	var out []any
	var walk func(any)
	walk = func(v any) {
		x, ok := v.([]any)
		if !ok {
			return
		}
		for i, e := range x {
			if e == "key_spec_index" && i+1 < len(x) {
				out = append(out, x[i+1])
			}
			walk(e)
		}
	}
	walk(v)
	return out
}

// keySpecLines are command lines for GETKEYS and GETKEYSANDFLAGS: those
// of Redis's introspection-2 test, and one or more per command with
// several key specs, a key count, a keyword, or keys found by code.
var keySpecLines = []string{
	"set k1 v1", "set k1 v1 get", "set k1 v1 EX 10 GET", "mset k1 v1 k2 v2", "msetnx k1 v1 k2 v2",
	"LMOVE k1 k2 left right", "blmove k1 k2 left right 0", "rpoplpush k1 k2", "brpoplpush k1 k2 0",
	"sort k1 store k2", "sort k1", "sort k1 by nosort get # limit 0 1 store k2 alpha", "sort k1 store k2 store k3",
	"sort_ro k1", "sort_ro k1 by x get y",
	"rename k1 k2", "renamenx k1 k2", "smove k1 k2 m", "copy k1 k2", "copy k1 k2 db 1 replace",
	"zunionstore d 2 k1 k2", "zinterstore d 2 k1 k2 weights 1 2", "zdiffstore d 2 k1 k2", "zunionstore d 3 k1 k2",
	"zunion 2 k1 k2", "zinter 2 k1 k2 withscores", "zdiff 2 k1 k2", "zintercard 2 k1 k2 limit 1", "sintercard 2 k1 k2",
	"zrangestore d k1 0 -1", "lmpop 2 k1 k2 left", "blmpop 0 2 k1 k2 left", "zmpop 2 k1 k2 min", "bzmpop 0 2 k1 k2 min",
	"geosearchstore d k1 frommember m byradius 1 km", "georadius k1 0 0 1 km store d", "georadius k1 0 0 1 km storedist d",
	"georadiusbymember k1 m 1 km store d", "georadius_ro k1 0 0 1 km",
	"xread count 1 streams s1 s2 0 0", "xread streams s1 0", "xreadgroup group g c streams s1 s2 > >",
	"xreadgroup group g c count 1 noack streams s1 >",
	"migrate h 1 k1 0 100", "migrate h 1 \"\" 0 100 keys k1 k2", "migrate h 1 \"\" 0 100 copy replace keys k1",
	"migrate h 1 \"\" 0 100 keys", "migrate h 1 k 0 100 keys k1", "migrate h 1 \"\" 0 100 auth2 keys keys keys k1",
	"eval s 2 k1 k2 a", "eval s 0", "evalsha s 1 k1", "eval_ro s 1 k1", "fcall f 2 k1 k2", "fcall_ro f 1 k1",
	"bitop and d k1 k2", "bitop not d k1", "bitfield k1 get u8 0", "bitfield k1 set u8 0 1", "bitfield k1 overflow wrap get u8 0",
	"bitfield k1 incrby u8 0 1 get u8 0", "bitfield_ro k1 get u8 0",
	"pfmerge d k1 k2", "pfcount k1 k2", "sdiffstore d k1 k2", "sinterstore d k1 k2", "sunionstore d k1 k2",
	"blpop k1 k2 0", "bzpopmin k1 k2 0", "del k1 k2", "unlink k1", "exists k1 k2", "touch k1", "watch k1 k2",
	"lcs k1 k2", "getex k1 persist", "xadd s * f v", "xgroup create s g $", "xgroup destroy s g", "xinfo stream s",
	"object encoding k1", "memory usage k1", "restore k1 0 x", "move k1 1",
	"spublish c m", "ssubscribe c", "sunsubscribe c", "publish c m",
	// Counts and keywords that do not fit.
	"zunionstore d 5 k1", "zunionstore d 0 k1", "zunionstore d x k1", "xread streams s1", "xread count 1 s1 0",
	"xread streams s1 s2 0", "eval s -1", "eval s 3 k1", "blmpop 0 3 a b left", "sintercard 3 a b", "lmpop 0 a left",
	"georadius k1 0 0 1 km store", "sort k1 store", "sort k1 limit 0 store d", "bitfield k1 get u8", "set k1 v1 nx get",
	"get k1", "getdel k1", "append k1 v", "hset h f v", "incr k1", "expire k1 10",
}

// Redis's introspection-2 "COMMAND GETKEYSANDFLAGS", and the key specs
// of COMMAND INFO, without a redis-server to compare with.
func TestCommandGetKeysAndFlags(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 3)
	ctx := context.Background()
	for _, tc := range []struct {
		line string
		want string
	}{
		{"set k1 v1", "[{k1 [OW update]}]"},
		{"set k1 v1 get", "[{k1 [RW access update]}]"},
		{"mset k1 v1 k2 v2", "[{k1 [OW update]} {k2 [OW update]}]"},
		{"LMOVE k1 k2 left right", "[{k1 [RW access delete]} {k2 [RW insert]}]"},
		{"sort k1 store k2", "[{k1 [RO access]} {k2 [OW update]}]"},
		{"zunionstore d 2 k1 k2", "[{d [OW update]} {k1 [RO access]} {k2 [RO access]}]"},
		{"eval s 1 k1", "[{k1 [RW access update]}]"},
	} {
		var args []any
		for _, a := range strings.Fields(tc.line) {
			args = append(args, a)
		}
		kf, err := rdb.CommandGetKeysAndFlags(ctx, args...).Result()
		if got := fmt.Sprint(kf); err != nil || got != tc.want {
			t.Errorf("GETKEYSANDFLAGS %s = %s, %v; want %s", tc.line, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ args []any }{
		{[]any{"command", "getkeys", "spublish", "c", "m"}},
		{[]any{"command", "getkeysandflags", "ssubscribe", "c"}},
	} {
		if err := rdb.Do(ctx, tc.args...).Err(); err == nil || err.Error() != "ERR The command has no key arguments" {
			t.Errorf("%v: err = %v", tc.args, err)
		}
	}

	// SORT's BY/GET and STORE specs are "unknown", with notes.
	v, err := rdb.Do(ctx, "command", "info", "sort").Slice()
	if err != nil {
		t.Fatal(err)
	}
	specs := v[0].([]any)[8].([]any)
	if len(specs) != 3 {
		t.Fatalf("SORT key specs = %v", specs)
	}
	store := specs[2].(map[any]any)
	if fmt.Sprint(store["flags"], store["begin_search"], store["find_keys"]) !=
		"[OW update] map[spec:map[] type:unknown] map[spec:map[] type:unknown]" ||
		!strings.HasPrefix(fmt.Sprint(store["notes"]), "For the optional STORE keyword.") {
		t.Errorf("SORT STORE key spec = %v", store)
	}
}
