package conn

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard"
)

func TestCommandInfoGoRedis(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, 8)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()

			infos, err := rdb.Command(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) != len(commands) {
				t.Errorf("COMMAND returned %d commands, the table has %d", len(infos), len(commands))
			}
			want := []redis.CommandInfo{
				{Name: "get", Arity: 2, Flags: []string{"readonly", "fast"}, FirstKeyPos: 1, LastKeyPos: 1, StepCount: 1,
					ACLFlags: []string{"@read", "@string", "@fast"}, ReadOnly: true},
				{Name: "set", Arity: -3, Flags: []string{"write", "denyoom"}, FirstKeyPos: 1, LastKeyPos: 1, StepCount: 1,
					ACLFlags: []string{"@write", "@string", "@slow"}},
				{Name: "mset", Arity: -3, Flags: []string{"write", "denyoom"}, FirstKeyPos: 1, LastKeyPos: -1, StepCount: 2,
					ACLFlags: []string{"@write", "@string", "@slow"}},
				{Name: "command", Arity: -1, Flags: []string{"loading", "stale"},
					ACLFlags: []string{"@slow", "@connection"}},
			}
			for _, w := range want {
				got := infos[w.Name]
				if got == nil {
					t.Errorf("COMMAND lacks %s", w.Name)
					continue
				}
				if got.Name != w.Name || got.Arity != w.Arity || !reflect.DeepEqual(got.Flags, w.Flags) ||
					got.FirstKeyPos != w.FirstKeyPos || got.LastKeyPos != w.LastKeyPos || got.StepCount != w.StepCount ||
					!reflect.DeepEqual(got.ACLFlags, w.ACLFlags) || got.ReadOnly != w.ReadOnly {
					t.Errorf("COMMAND %s:\n got %+v\nwant %+v", w.Name, *got, w)
				}
			}

			n, err := rdb.Do(ctx, "command", "count").Int()
			if err != nil || n != len(commands) {
				t.Errorf("COMMAND COUNT = %d, %v; the table has %d", n, err, len(commands))
			}

			// COMMAND INFO: one entry per name, nil for unknown names,
			// subcommands by their full name in any case.
			v, err := rdb.Do(ctx, "command", "info", "GET", "nosuch", "Command|Count").Slice()
			if err != nil || len(v) != 3 {
				t.Fatalf("COMMAND INFO = %v, %v", v, err)
			}
			if e, ok := v[0].([]any); !ok || e[0] != "get" {
				t.Errorf("COMMAND INFO GET entry = %v", v[0])
			}
			if v[1] != nil {
				t.Errorf("COMMAND INFO nosuch = %v, want nil", v[1])
			}
			if e, ok := v[2].([]any); !ok || e[0] != "command|count" || e[1] != int64(2) {
				t.Errorf("COMMAND INFO command|count = %v", v[2])
			}
		})
	}
}

func TestCommandGetKeys(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 3)
	ctx := context.Background()

	keys, err := rdb.CommandGetKeys(ctx, "mset", "a", "1", "b", "2", "c", "3").Result()
	if err != nil || !reflect.DeepEqual(keys, []string{"a", "b", "c"}) {
		t.Errorf("GETKEYS MSET = %q, %v", keys, err)
	}
	keys, err = rdb.CommandGetKeys(ctx, "SET", "k", "v", "EX", "10").Result()
	if err != nil || !reflect.DeepEqual(keys, []string{"k"}) {
		t.Errorf("GETKEYS SET = %q, %v", keys, err)
	}
	kf, err := rdb.CommandGetKeysAndFlags(ctx, "mset", "a", "1", "b", "2").Result()
	if err != nil || len(kf) != 2 || kf[0].Key != "a" || kf[1].Key != "b" {
		t.Errorf("GETKEYSANDFLAGS MSET = %+v, %v", kf, err)
	}

	// OBJECT routes by a Keys func, but its subcommands have fixed keys.
	if lookup([]byte("object")) != nil {
		keys, err := rdb.CommandGetKeys(ctx, "object", "encoding", "k").Result()
		if err != nil || !reflect.DeepEqual(keys, []string{"k"}) {
			t.Errorf("GETKEYS OBJECT ENCODING k = %q, %v", keys, err)
		}
		if err := rdb.CommandGetKeys(ctx, "object", "help").Err(); err == nil || err.Error() != "ERR The command has no key arguments" {
			t.Errorf("GETKEYS OBJECT HELP: err = %v", err)
		}
	}

	for _, tc := range []struct {
		args []any
		err  string
	}{
		{[]any{"command", "foo"}, "ERR unknown subcommand 'foo'. Try COMMAND HELP."},
		{[]any{"Command", "Foo", "bar"}, "ERR unknown subcommand 'Foo'. Try COMMAND HELP."},
		{[]any{"command", "count", "x"}, "ERR wrong number of arguments for 'command|count' command"},
		{[]any{"command", "getkeys"}, "ERR wrong number of arguments for 'command|getkeys' command"},
		{[]any{"command", "getkeys", "get"}, "ERR wrong number of arguments for 'command|getkeys' command"},
		{[]any{"command", "getkeys", "nosuch", "a", "b"}, "ERR Invalid command specified"},
		{[]any{"command", "getkeys", "get", "a", "b"}, "ERR Invalid number of arguments specified for command"},
		{[]any{"command", "getkeys", "set", "a"}, "ERR Invalid number of arguments specified for command"},
		{[]any{"command", "getkeys", "ping", "x"}, "ERR The command has no key arguments"},
		{[]any{"command", "getkeys", "command", "count"}, "ERR The command has no key arguments"},
		{[]any{"command", "getkeys", "command", "nosuch"}, "ERR Invalid command specified"},
		{[]any{"command", "getkeysandflags", "nosuch", "a"}, "ERR Invalid command specified"},
		{[]any{"command", "list", "foo"}, "ERR syntax error"},
		{[]any{"command", "list", "filterby", "foo", "bar"}, "ERR syntax error"},
		{[]any{"command", "list", "filterby", "pattern", "a", "b"}, "ERR syntax error"},
	} {
		err := rdb.Do(ctx, tc.args...).Err()
		if err == nil || err.Error() != tc.err {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.err)
		}
	}
}

func TestCommandList(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()

	all, err := rdb.CommandList(ctx, nil).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range allEntries() {
		n += 1 + len(e.spec.Subcommands)
	}
	if len(all) != n || !slices.Contains(all, "get") || !slices.Contains(all, "command|docs") {
		t.Errorf("COMMAND LIST has %d names, want %d with subcommands", len(all), n)
	}
	got, err := rdb.CommandList(ctx, &redis.FilterBy{Pattern: "COMMAND*"}).Result()
	want := []string{"command", "command|count", "command|docs", "command|getkeys", "command|getkeysandflags",
		"command|help", "command|info", "command|list"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("COMMAND LIST FILTERBY PATTERN = %q, %v", got, err)
	}
	got, err = rdb.CommandList(ctx, &redis.FilterBy{ACLCat: "READ"}).Result()
	if err != nil || !slices.Contains(got, "get") || slices.Contains(got, "set") {
		t.Errorf("COMMAND LIST FILTERBY ACLCAT read = %q, %v", got, err)
	}
	for _, f := range []*redis.FilterBy{{ACLCat: "@read"}, {ACLCat: "nosuch"}, {Module: "foo"}} {
		if got, err := rdb.CommandList(ctx, f).Result(); err != nil || len(got) != 0 {
			t.Errorf("COMMAND LIST %+v = %q, %v; want empty", *f, got, err)
		}
	}
}

// cmdTestMap turns a RESP3 map or a RESP2 flat array into a map.
func cmdTestMap(t *testing.T, v any) map[string]any {
	t.Helper()
	out := map[string]any{}
	switch m := v.(type) {
	case map[any]any:
		for k, x := range m {
			out[fmt.Sprint(k)] = x
		}
	case []any:
		for i := 0; i+1 < len(m); i += 2 {
			out[fmt.Sprint(m[i])] = m[i+1]
		}
	default:
		t.Fatalf("not a map: %#v", v)
	}
	return out
}

func TestCommandDocs(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			_, addr := startServer(t, 8)
			rdb := newClient2(t, addr, proto)
			ctx := context.Background()

			v, err := rdb.Do(ctx, "command", "docs", "set", "nosuch").Result()
			if err != nil {
				t.Fatal(err)
			}
			docs := cmdTestMap(t, v)
			if len(docs) != 1 {
				t.Fatalf("COMMAND DOCS set nosuch has %d entries, want 1", len(docs))
			}
			set := cmdTestMap(t, docs["set"])
			spec := shard.Lookup("set").Spec
			if set["summary"] != spec.Summary || set["group"] != "string" || set["since"] != spec.Since {
				t.Errorf("DOCS set = %v", set)
			}
			args, _ := set["arguments"].([]any)
			var names []string
			for _, a := range args {
				names = append(names, fmt.Sprint(cmdTestMap(t, a)["name"]))
			}
			if want := []string{"key", "value", "condition", "get", "expiration"}; !reflect.DeepEqual(names, want) {
				t.Fatalf("DOCS set arguments = %q, want %q", names, want)
			}
			key := cmdTestMap(t, args[0])
			if key["type"] != "key" || key["key_spec_index"] != int64(0) {
				t.Errorf("DOCS set key = %v", key)
			}
			exp := cmdTestMap(t, args[4])
			var tokens []string
			for _, a := range exp["arguments"].([]any) {
				tokens = append(tokens, fmt.Sprint(cmdTestMap(t, a)["token"]))
			}
			if want := []string{"EX", "PX", "EXAT", "PXAT", "KEEPTTL"}; exp["type"] != "oneof" || !reflect.DeepEqual(tokens, want) {
				t.Errorf("DOCS set expiration = %v", exp)
			}

			// All commands, with subcommands nested as a map.
			v, err = rdb.Do(ctx, "command", "docs").Result()
			if err != nil {
				t.Fatal(err)
			}
			if docs = cmdTestMap(t, v); len(docs) != len(commands) {
				t.Errorf("COMMAND DOCS has %d entries, want %d", len(docs), len(commands))
			}
			subs := cmdTestMap(t, cmdTestMap(t, docs["command"])["subcommands"])
			if _, ok := subs["command|docs"]; !ok || len(subs) != len(commandSpecs) {
				t.Errorf("COMMAND DOCS command subcommands = %v", subs)
			}
		})
	}
}

// cmdTestRaw sends one command and returns the raw reply.
func cmdTestRaw(t *testing.T, addr string, proto int, args ...string) string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	send := func(args ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := nc.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		var out []byte
		if err := cmdTestReadReply(br, &out); err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if proto == 3 {
		send("HELLO", "3")
	}
	return send(args...)
}

// cmdTestReadReply appends one complete RESP2/RESP3 reply to out.
func cmdTestReadReply(br *bufio.Reader, out *[]byte) error {
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	*out = append(*out, line...)
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	switch line[0] {
	case '$', '=', '!':
		if n >= 0 {
			buf := make([]byte, n+2)
			if _, err := io.ReadFull(br, buf); err != nil {
				return err
			}
			*out = append(*out, buf...)
		}
	case '*', '~', '>', '%', '|':
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for i := 0; i < n; i++ {
			if err := cmdTestReadReply(br, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// The exact bytes match redis-server 7.0.15.
func TestCommandInfoBytes(t *testing.T) {
	_, addr := startServer(t, 8)
	keySpec3 := "~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n" +
		"$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n"
	want3 := "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n" +
		keySpec3 + "~0\r\n_\r\n"
	if got := cmdTestRaw(t, addr, 3, "COMMAND", "INFO", "get", "nosuch"); got != want3 {
		t.Errorf("RESP3 COMMAND INFO get nosuch:\n got %q\nwant %q", got, want3)
	}
	// RESP2 flattens maps and sets to arrays and sends null as $-1.
	r := strings.NewReplacer("~", "*", "%1\r\n", "*2\r\n", "%2\r\n", "*4\r\n", "%3\r\n", "*6\r\n", "_\r\n", "$-1\r\n")
	if got, want := cmdTestRaw(t, addr, 2, "COMMAND", "INFO", "get", "nosuch"), r.Replace(want3); got != want {
		t.Errorf("RESP2 COMMAND INFO get nosuch:\n got %q\nwant %q", got, want)
	}

	sum := shard.Lookup("mget").Summary
	wantDocs := fmt.Sprintf("%%1\r\n$4\r\nmget\r\n%%5\r\n$7\r\nsummary\r\n$%d\r\n%s\r\n$5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$6\r\nstring\r\n"+
		"$10\r\ncomplexity\r\n$47\r\nO(N) where N is the number of keys to retrieve.\r\n$9\r\narguments\r\n*1\r\n%%4\r\n"+
		"$4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n$14\r\nkey_spec_index\r\n:0\r\n$5\r\nflags\r\n~1\r\n+multiple\r\n", len(sum), sum)
	if got := cmdTestRaw(t, addr, 3, "COMMAND", "DOCS", "mget"); got != wantDocs {
		t.Errorf("RESP3 COMMAND DOCS mget:\n got %q\nwant %q", got, wantDocs)
	}
	r = strings.NewReplacer("~", "*", "%1\r\n", "*2\r\n", "%4\r\n", "*8\r\n", "%5\r\n", "*10\r\n")
	if got, want := cmdTestRaw(t, addr, 2, "COMMAND", "DOCS", "mget"), r.Replace(wantDocs); got != want {
		t.Errorf("RESP2 COMMAND DOCS mget:\n got %q\nwant %q", got, want)
	}

	help := cmdTestRaw(t, addr, 2, "COMMAND", "HELP")
	if !strings.HasPrefix(help, "*21\r\n+COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n") {
		t.Errorf("COMMAND HELP = %q", help)
	}
}

func TestCommandACLCategories(t *testing.T) {
	cases := []struct {
		spec      shard.Spec
		container bool
		want      string
	}{
		{shard.Spec{Group: "string", Flags: shard.ReadOnly | shard.Fast}, false, "@read @string @fast"},
		{shard.Spec{Group: "generic", Flags: shard.Write}, false, "@keyspace @write @slow"},
		{shard.Spec{Group: "server", Flags: shard.Admin | shard.NoScript}, false, "@admin @slow @dangerous"},
		{shard.Spec{Group: "scripting", Flags: shard.ReadOnly}, false, "@slow @scripting"},
		{shard.Spec{Group: "list", Flags: shard.Write | shard.Blocking}, false, "@write @list @slow @blocking"},
		{shard.Spec{Group: "server", Flags: shard.Write | shard.AllShards, ACL: []string{"keyspace", "@dangerous"}}, false,
			"@keyspace @write @slow @dangerous"},
		{shard.Spec{Group: "connection"}, true, "@slow"},
		{shard.Spec{Group: "server", ACL: []string{"connection", "custom"}}, true, "@slow @connection @custom"},
	}
	for _, tc := range cases {
		if got := strings.Join(cmdACLCategories(&tc.spec, tc.spec.Group, tc.container), " "); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.spec, got, tc.want)
		}
	}
}

func TestCommandKeySpecs(t *testing.T) {
	cases := []struct {
		spec    shard.Spec
		movable bool
		want    []shard.KeySpec
	}{
		{shard.Spec{}, false, nil},
		{shard.Spec{FirstKey: 1, LastKey: 1, Step: 1, Syntax: "key"}, false, []shard.KeySpec{{Index: 1, Step: 1}}},
		{shard.Spec{FirstKey: 1, LastKey: -1, Step: 2, Syntax: "key value [key value ...]"}, false,
			[]shard.KeySpec{{Index: 1, LastKey: -1, Step: 2}}},
		{shard.Spec{FirstKey: 1, LastKey: -2, Step: 1, Syntax: "key [key ...] timeout"}, false,
			[]shard.KeySpec{{Index: 1, LastKey: -2, Step: 1}}},
		{shard.Spec{FirstKey: 1, LastKey: 2, Step: 1, Syntax: "key newkey"}, false,
			[]shard.KeySpec{{Index: 1, Step: 1}, {Index: 2, Step: 1}}},
		{shard.Spec{FirstKey: 1, LastKey: 3, Step: 1, Syntax: "key [key ...]"}, false,
			[]shard.KeySpec{{Index: 1, LastKey: 2, Step: 1}}},
		// Computed keys after a count: LMPOP, BLMPOP, ZUNIONSTORE.
		{shard.Spec{Syntax: "numkeys key [key ...] LEFT|RIGHT [COUNT count]"}, true,
			[]shard.KeySpec{{Index: 1, Find: shard.FindKeyNum, FirstKey: 1, Step: 1}}},
		{shard.Spec{Syntax: "timeout numkeys key [key ...] LEFT|RIGHT"}, true,
			[]shard.KeySpec{{Index: 2, Find: shard.FindKeyNum, FirstKey: 1, Step: 1}}},
		{shard.Spec{FirstKey: 1, LastKey: 1, Step: 1, Syntax: "destination numkeys key [key ...]"}, true,
			[]shard.KeySpec{{Index: 1, Step: 1}, {Index: 2, Find: shard.FindKeyNum, FirstKey: 1, Step: 1}}},
		{shard.Spec{Syntax: "[COUNT count] numkeys key [key ...]"}, true, nil},
		// Keys after a keyword, half of what follows: XREAD, XREADGROUP.
		{shard.Spec{Syntax: "[COUNT count] [BLOCK milliseconds] <STREAMS key [key ...] id [id ...]>"}, true,
			[]shard.KeySpec{{Keyword: "STREAMS", StartFrom: 1, LastKey: -1, Step: 1, Limit: 2}}},
		{shard.Spec{Syntax: "GROUP group consumer [COUNT count] [NOACK] <STREAMS key [key ...] id [id ...]>"}, true,
			[]shard.KeySpec{{Keyword: "STREAMS", StartFrom: 4, LastKey: -1, Step: 1, Limit: 2}}},
	}
	for _, tc := range cases {
		args, err := parseSyntax(tc.spec.Syntax)
		if err != nil {
			t.Fatal(err)
		}
		if got := cmdKeySpecs(&tc.spec, args, tc.movable); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.spec, got, tc.want)
		}
	}
}
