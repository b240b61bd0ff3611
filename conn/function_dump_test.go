package conn

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/valkyrie-kv/valkyrie/shard/rdb"
)

// Libraries for the FUNCTION DUMP / RESTORE tests. libLong's code is
// repetitive enough for its RDB string to be LZF-compressed.
var (
	libA = "#!lua name=liba\nredis.register_function('fa1', function() return 'a1' end)\n" +
		"redis.register_function{function_name='fa2', callback=function() return 'a2' end, flags={'no-writes'}, description='second'}\n"
	libA2   = "#!lua name=liba\nredis.register_function('fa1', function() return 'a1 v2' end)\n"
	libB    = "#!lua name=libb\nredis.register_function('fb', function(keys, args) return #keys end)\n"
	libC    = "#!lua name=libc\nredis.register_function('fa1', function() return 'c' end)\n"
	libLong = "#!lua name=liblong\n" + strings.Repeat("-- padding padding padding padding\n", 20) +
		"redis.register_function('flong', function() return 'long' end)\n"
)

// fnPayload builds a FUNCTION DUMP payload of codes with Redis's footer.
func fnPayload(codes ...string) string {
	var p []byte
	for _, c := range codes {
		p = rdb.AppendRawString(append(p, rdb.OpFunction2), c)
	}
	return string(rdb.Seal(p))
}

// fnSeal puts the footer on a raw body.
func fnSeal(body string) string { return string(rdb.Seal([]byte(body))) }

// fnFooter puts a footer of the given RDB version on a raw body.
func fnFooter(body string, version uint16) string {
	b := binary.LittleEndian.AppendUint16([]byte(body), version)
	return string(binary.LittleEndian.AppendUint64(b, rdb.CRC64(0, b)))
}

// fnState is FUNCTION LIST WITHCODE with libraries and functions sorted by
// name, so that servers with different hash orders compare equal.
func fnState(t *testing.T, c *redis.Client) string {
	t.Helper()
	libs, err := c.FunctionList(context.Background(), redis.FunctionListQuery{WithCode: true}).Result()
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(libs, func(i, j int) bool { return libs[i].Name < libs[j].Name })
	var b strings.Builder
	for _, l := range libs {
		sort.Slice(l.Functions, func(i, j int) bool { return l.Functions[i].Name < l.Functions[j].Name })
		for _, f := range l.Functions {
			sort.Strings(f.Flags)
		}
		fmt.Fprintf(&b, "%s %s %+v %q\n", l.Name, l.Engine, l.Functions, l.Code)
	}
	return b.String()
}

// fnCodes describes a FUNCTION DUMP payload: its opcodes and codes and
// its RDB version.
func fnCodes(t *testing.T, p string) string {
	t.Helper()
	body, err := rdb.Verify([]byte(p))
	if err != nil {
		t.Fatalf("payload %x: %v", p, err)
	}
	var b strings.Builder
	for len(body) > 0 {
		op := body[0]
		var code string
		if code, body, err = rdb.ReadString(body[1:]); err != nil {
			t.Fatalf("payload %x: %v", p, err)
		}
		fmt.Fprintf(&b, "%d %q\n", op, code)
	}
	fmt.Fprintf(&b, "version %d", binary.LittleEndian.Uint16([]byte(p[len(p)-10:])))
	return b.String()
}

func fnLoad(t *testing.T, c *redis.Client, codes ...string) {
	t.Helper()
	for _, code := range codes {
		if err := c.FunctionLoad(context.Background(), code).Err(); err != nil {
			t.Fatalf("FUNCTION LOAD: %v", err)
		}
	}
}

func fnRestore(c *redis.Client, payload string, policy ...string) error {
	args := []any{"FUNCTION", "RESTORE", payload}
	for _, p := range policy {
		args = append(args, p)
	}
	return c.Do(context.Background(), args...).Err()
}

func errText(err error) string {
	if err == nil {
		return "OK"
	}
	return err.Error()
}

func TestFunctionDumpRestore(t *testing.T) {
	_, addr := startServer(t, 8)
	c := newClient2(t, addr, 2)
	ctx := context.Background()

	// An empty registry dumps as the footer alone.
	if p, err := c.FunctionDump(ctx).Result(); err != nil || p != fnSeal("") {
		t.Fatalf("empty FUNCTION DUMP = %x, %v", p, err)
	}

	fnLoad(t, c, libA, libB, libLong)
	want := fnState(t, c)
	p, err := c.FunctionDump(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if p != fnPayload(libA, libB, libLong) {
		t.Fatalf("FUNCTION DUMP = %x", p)
	}

	// Default APPEND into an empty registry.
	c.FunctionFlush(ctx)
	if err := c.FunctionRestore(ctx, p).Err(); err != nil {
		t.Fatalf("RESTORE: %v", err)
	}
	if got := fnState(t, c); got != want {
		t.Fatalf("after RESTORE:\n%s\nwant\n%s", got, want)
	}
	if s, err := c.FCall(ctx, "fa1", nil).Text(); err != nil || s != "a1" {
		t.Fatalf("FCALL fa1 = %q, %v", s, err)
	}
	if s, err := c.FCallRO(ctx, "FLONG", nil).Text(); err == nil || s != "" {
		// flong has no no-writes flag
		t.Fatalf("FCALL_RO flong = %q, %v", s, err)
	}

	// APPEND onto an existing library of the same name fails, naming it
	// without quotes as Redis's libraryJoin does.
	for _, policy := range [][]string{nil, {"append"}, {"APPEND"}} {
		if err := fnRestore(c, p, policy...); errText(err) != "ERR Library liba already exists" {
			t.Fatalf("RESTORE %v over existing: %v", policy, err)
		}
	}
	if got := fnState(t, c); got != want {
		t.Fatalf("a failed RESTORE changed the functions:\n%s", got)
	}

	// APPEND next to other libraries keeps them.
	c.FunctionFlush(ctx)
	fnLoad(t, c, "#!lua name=other\nredis.register_function('fo', function() return 'o' end)\n")
	if err := fnRestore(c, fnPayload(libA, libB), "Append"); err != nil {
		t.Fatalf("RESTORE APPEND: %v", err)
	}
	if s := c.FCall(ctx, "fo", nil).Val(); s != "o" {
		t.Fatalf("fo = %v after APPEND", s)
	}
	if s := c.FCall(ctx, "fa2", nil).Val(); s != "a2" {
		t.Fatalf("fa2 = %v after APPEND", s)
	}

	// REPLACE swaps libraries of the same name and keeps the others.
	fnLoad(t, c)
	if err := fnRestore(c, fnPayload(libA2), "replace"); err != nil {
		t.Fatalf("RESTORE REPLACE: %v", err)
	}
	if s := c.FCall(ctx, "fa1", nil).Val(); s != "a1 v2" {
		t.Fatalf("fa1 = %v after REPLACE", s)
	}
	if err := c.FCall(ctx, "fa2", nil).Err(); errText(err) != "ERR Function not found" {
		t.Fatalf("fa2 of the replaced library: %v", err)
	}
	if s := c.FCall(ctx, "fo", nil).Val(); s != "o" {
		t.Fatalf("fo = %v after REPLACE", s)
	}
	if n, err := c.FCall(ctx, "fb", []string{"k1", "k2"}).Int(); err != nil || n != 2 {
		t.Fatalf("fb = %v, %v after REPLACE", n, err)
	}

	// FLUSH drops everything else, even with an empty payload.
	if err := fnRestore(c, fnPayload(libB), "FLUSH"); err != nil {
		t.Fatalf("RESTORE FLUSH: %v", err)
	}
	if got, want := fnState(t, c), ""; !strings.HasPrefix(got, "libb ") || strings.Count(got, "\n") != 1 {
		t.Fatalf("after FLUSH: %q %q", got, want)
	}
	if err := fnRestore(c, fnSeal(""), "flush"); err != nil {
		t.Fatalf("RESTORE FLUSH of nothing: %v", err)
	}
	if got := fnState(t, c); got != "" {
		t.Fatalf("after FLUSH of nothing: %q", got)
	}
	// A restored library can be replaced by FUNCTION LOAD and deleted.
	fnRestore(c, fnPayload(libA))
	if err := c.FunctionLoadReplace(ctx, libA2).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.FunctionDelete(ctx, "liba").Err(); err != nil {
		t.Fatal(err)
	}
}

// TestFunctionRestoreCollisions follows Redis's test "function restore
// with function name collision": every failure leaves the functions as
// they were.
func TestFunctionRestoreCollisions(t *testing.T) {
	_, addr := startServer(t, 8)
	c := newClient2(t, addr, 2)
	ctx := context.Background()
	fnLoad(t, c, libA, libB)
	before := fnState(t, c)

	cases := []struct {
		name, payload, policy, want string
	}{
		// libc's fa1 collides with liba's, which stays (APPEND and REPLACE).
		{"function of a kept library", fnPayload(libC), "", "ERR Function fa1 already exists"},
		{"function of a kept library, REPLACE", fnPayload(libC), "REPLACE", "ERR Function fa1 already exists"},
		// libb is replaced but libc still collides with liba.
		{"replace one, collide with another", fnPayload(libB, libC), "REPLACE", "ERR Function fa1 already exists"},
		{"existing library, APPEND", fnPayload(libC, libB), "APPEND", "ERR Library libb already exists"},
		// Collisions inside the payload are found while it loads.
		{"library twice in the payload", fnPayload(libB, libB), "FLUSH", "ERR Library 'libb' already exists"},
		{"function twice in the payload", fnPayload(libA, libC), "FLUSH", "ERR Function fa1 already exists"},
	}
	for _, tc := range cases {
		var err error
		if tc.policy == "" {
			err = fnRestore(c, tc.payload)
		} else {
			err = fnRestore(c, tc.payload, tc.policy)
		}
		if errText(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
		if got := fnState(t, c); got != before {
			t.Fatalf("%s: the functions changed:\n%s", tc.name, got)
		}
	}
	// Replacing a library whose functions move to another name is fine.
	if err := fnRestore(c, fnPayload(libA2, "#!lua name=libd\nredis.register_function('fa2', function() return 'd' end)\n"), "REPLACE"); err != nil {
		t.Fatalf("REPLACE freeing a name: %v", err)
	}
	if s := c.FCall(ctx, "fa2", nil).Val(); s != "d" {
		t.Fatalf("fa2 = %v", s)
	}
}

// badFunctionPayloads are payloads FUNCTION RESTORE refuses, with Redis
// 7.0.15's errors.
func badFunctionPayloads() []struct{ name, payload, want string } {
	good := fnPayload(libB)
	wrongCRC := []byte(good)
	wrongCRC[len(wrongCRC)-1] ^= 1
	v11 := fnFooter(good[:len(good)-10], 11)
	long := string(rdb.AppendRawString([]byte{rdb.OpFunction2}, libB))
	return []struct{ name, payload, want string }{
		{"garbage", "bad_payload", "ERR DUMP payload version or checksum are wrong"},
		{"empty", "", "ERR DUMP payload version or checksum are wrong"},
		{"nine bytes", good[len(good)-9:], "ERR DUMP payload version or checksum are wrong"},
		{"truncated", good[:len(good)-1], "ERR DUMP payload version or checksum are wrong"},
		{"wrong crc", string(wrongCRC), "ERR DUMP payload version or checksum are wrong"},
		{"rdb version 11", v11, "ERR DUMP payload version or checksum are wrong"},
		{"not a function", fnSeal("\x00\x01a"), "ERR given type is not a function"},
		{"second not a function", fnSeal(long + "\x00\x01a"), "ERR given type is not a function"},
		{"string past the end", fnSeal("\xf5\x3fabc"), "ERR Failed loading library payload"},
		{"bad length", fnSeal("\xf5\x82abc"), "ERR Failed loading library payload"},
		{"bad lzf", fnSeal("\xf5\xc3\x05\x20\xff\xff\xff\xff\xff"), "ERR Failed loading library payload"},
		{"no shebang", fnPayload("return 1"), "ERR Missing library metadata"},
		{"int code", fnSeal("\xf5\xc0\x05"), "ERR Missing library metadata"},
		{"no newline", fnPayload("#!lua name=x"), "ERR Invalid library metadata"},
		{"no name", fnPayload("#!lua\nreturn 1"), "ERR Library name was not given"},
		{"bad engine", fnPayload("#!js name=x\nreturn 1"), "ERR Engine 'js' not found"},
		{"no functions", fnPayload("#!lua name=x\nlocal a = 1"), "ERR No functions registered"},
		{"runtime error", fnPayload("#!lua name=x\nerror('boom')"), "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'error'"},
		{"old format, short", fnSeal("\xf6\x01x"), "ERR Failed loading engine name"},
		{"old format, no body", fnSeal("\xf6\x01x\x03LUA\x01\x01d"), "ERR Failed loading library blob"},
	}
}

func TestFunctionRestoreBadPayloads(t *testing.T) {
	_, addr := startServer(t, 8)
	c := newClient2(t, addr, 2)
	fnLoad(t, c, libA)
	before := fnState(t, c)
	for _, tc := range badFunctionPayloads() {
		for _, policy := range []string{"APPEND", "REPLACE", "FLUSH"} {
			if err := fnRestore(c, tc.payload, policy); errText(err) != tc.want {
				t.Errorf("%s, %s: %v, want %s", tc.name, policy, err, tc.want)
			}
			if got := fnState(t, c); got != before {
				t.Fatalf("%s, %s: the functions changed:\n%s", tc.name, policy, got)
			}
		}
	}
	// Every prefix and every single-byte corruption of a real payload,
	// with a fresh footer so that the libraries are parsed, is refused or
	// restored without harm.
	p := fnPayload(libA2, libLong)
	body := p[:len(p)-10]
	for i := 0; i < len(body); i++ {
		fnRestore(c, fnSeal(body[:i]), "REPLACE")
		b := []byte(body)
		b[i] ^= 0x5a
		fnRestore(c, fnSeal(string(b)), "REPLACE")
	}
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestFunctionRestoreArguments(t *testing.T) {
	_, addr := startServer(t, 8)
	c := newClient2(t, addr, 2)
	ctx := context.Background()
	p := fnPayload(libB)
	for _, tc := range []struct {
		args []any
		want string
	}{
		{[]any{"FUNCTION", "RESTORE"}, "ERR wrong number of arguments for 'function|restore' command"},
		{[]any{"FUNCTION", "restore", "arg1", "args2", "arg3"}, "ERR unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP."},
		{[]any{"function", "ReStore", p, "append", "x"}, "ERR unknown subcommand or wrong number of arguments for 'ReStore'. Try FUNCTION HELP."},
		{[]any{"FUNCTION", "RESTORE", p, "foo"}, "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."},
		{[]any{"FUNCTION", "RESTORE", "x", "foo"}, "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."},
		{[]any{"FUNCTION", "DUMP", "x"}, "ERR wrong number of arguments for 'function|dump' command"},
		{[]any{"FUNCTION", "RESTORE", p}, "OK"},
	} {
		if err := c.Do(ctx, tc.args...).Err(); errText(err) != tc.want {
			t.Errorf("%q: %v, want %s", tc.args[:2], err, tc.want)
		}
	}
	help, err := c.Do(ctx, "FUNCTION", "HELP").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(help, "\n")
	for _, line := range []string{"DUMP", "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]"} {
		if !strings.Contains(joined, "\n"+line+"\n") {
			t.Errorf("FUNCTION HELP lacks %q", line)
		}
	}
}

// TestFunctionDumpDifferential moves libraries both ways between Valkyrie
// and a real redis-server and compares the errors for bad payloads.
func TestFunctionDumpDifferential(t *testing.T) {
	ctx := context.Background()
	red, val := redisAndValkyrie(t)
	both := []*redis.Client{red, val}

	// One library at a time: the payloads hold the same code. (The bytes
	// may differ: Valkyrie's LZF compressor is not Redis's.)
	for _, code := range []string{libA, libB, libLong} {
		var dumps []string
		for _, c := range both {
			c.FunctionFlush(ctx)
			fnLoad(t, c, code)
			dumps = append(dumps, c.FunctionDump(ctx).Val())
		}
		if r, v := fnCodes(t, dumps[0]), fnCodes(t, dumps[1]); r != v {
			t.Errorf("FUNCTION DUMP differs:\n   redis %s\nvalkyrie %s", r, v)
		}
	}

	// Several libraries: Redis writes them in its hash order, so compare
	// what each side restores.
	for i, from := range both {
		to := both[1-i]
		from.FunctionFlush(ctx)
		fnLoad(t, from, libA, libB, libLong)
		want := fnState(t, from)
		p := from.FunctionDump(ctx).Val()
		to.FunctionFlush(ctx)
		fnLoad(t, to, "#!lua name=libx\nredis.register_function('fx', function() return 1 end)\n")
		if err := to.FunctionRestore(ctx, p).Err(); err != nil {
			t.Fatalf("restore %d: %v", i, err)
		}
		if err := fnRestore(to, p, "FLUSH"); err != nil {
			t.Fatalf("restore %d FLUSH: %v", i, err)
		}
		if got := fnState(t, to); got != want {
			t.Errorf("restore %d:\n%s\nwant\n%s", i, got, want)
		}
		if s := to.FCall(ctx, "fa2", nil).Val(); s != "a2" {
			t.Errorf("restore %d: fa2 = %v", i, s)
		}
	}

	// The same errors and the same functions after each.
	cases := badFunctionPayloads()
	for _, tc := range []struct{ name, payload, policy string }{
		{"append existing", fnPayload(libB, libC), "APPEND"},
		{"collision", fnPayload(libC), "REPLACE"},
		{"collision after replace", fnPayload(libB, libC), "REPLACE"},
		{"library twice", fnPayload(libB, libB), "FLUSH"},
		{"function twice", fnPayload(libA, libC), "FLUSH"},
		{"replace", fnPayload(libA2), "REPLACE"},
		{"rdb version 9", fnFooter(fnPayload(libC)[:len(fnPayload(libC))-10], 9), "FLUSH"},
		{"old format", fnSeal("\xf6\x05libzz\x03LUA\x01\x04desc" + string(rdb.AppendRawString(nil, "redis.register_function('fz', function() return 'z' end)"))), "FLUSH"},
		{"old format, no description", fnSeal("\xf6\x05libzz\x03lua\x00" + string(rdb.AppendRawString(nil, "redis.register_function('fz', function() return 'z' end)"))), "APPEND"},
	} {
		cases = append(cases, struct{ name, payload, want string }{tc.name + " " + tc.policy, tc.payload + "\x00" + tc.policy, ""})
	}
	for _, tc := range cases {
		payload, policy := tc.payload, "APPEND"
		if tc.want == "" {
			i := strings.LastIndexByte(payload, 0)
			payload, policy = payload[:i], payload[i+1:]
		}
		var errs, states []string
		for _, c := range both {
			c.FunctionFlush(ctx)
			fnLoad(t, c, libA, libB)
			errs = append(errs, errText(fnRestore(c, payload, policy)))
			states = append(states, fnState(t, c))
		}
		if errs[0] != errs[1] {
			t.Errorf("%s: Redis %s, Valkyrie %s", tc.name, errs[0], errs[1])
		}
		if tc.want != "" && errs[1] != tc.want {
			t.Errorf("%s: Valkyrie %s, want %s", tc.name, errs[1], tc.want)
		}
		if states[0] != states[1] {
			t.Errorf("%s: functions differ:\n   redis %s\nvalkyrie %s", tc.name, states[0], states[1])
		}
	}

	for _, tc := range shebangCases {
		got, err := red.Do(ctx, "FUNCTION", "LOAD", "REPLACE", tc.line+shebangBody).Text()
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("Redis LOAD %q: %s, want %s", tc.line, got, tc.want)
		}
		red.FunctionFlush(ctx)
	}

	// COMMAND DOCS and COMMAND INFO of the two subcommands.
	for _, sub := range []string{"function|dump", "function|restore"} {
		rd := fmt.Sprint(red.Do(ctx, "COMMAND", "DOCS", sub).Val())
		vd := fmt.Sprint(val.Do(ctx, "COMMAND", "DOCS", sub).Val())
		if rd != vd {
			t.Errorf("COMMAND DOCS %s:\n   redis %s\nvalkyrie %s", sub, rd, vd)
		}
	}
	ri := red.Do(ctx, "COMMAND", "INFO", "function|dump", "function|restore").Val().([]any)
	vi := val.Do(ctx, "COMMAND", "INFO", "function|dump", "function|restore").Val().([]any)
	for i := range ri {
		// Valkyrie reports no command tips (element 7).
		r, v := ri[i].([]any), vi[i].([]any)
		if fmt.Sprint(r[:7], r[8:]) != fmt.Sprint(v[:7], v[8:]) {
			t.Errorf("COMMAND INFO:\n   redis %v\nvalkyrie %v", r, v)
		}
	}
}

// shebangCases are library metadata lines and Redis 7.0.15's FUNCTION
// LOAD replies, with the code shebangBody.
var shebangCases = []struct{ line, want string }{
	{`#!lua name="foo"`, "foo"},
	{`#!lua NAME=foo`, "foo"},
	{`#!"lua" name=ab`, "ab"},
	{`#!lua  name=x  `, "x"},
	{`#!lua name='a\'b'`, "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"},
	{`#! name=test`, "ERR Engine '' not found"},
	{`#!LuA name=test`, "test"},
	{`#!foo name=a-b`, "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"},
	{`#!lua name=x 'y`, "ERR Invalid library metadata"},
	{`#!lua name="x"y`, "ERR Invalid library metadata"},
	{"#!lua name=x\x00", "ERR Invalid library metadata"},
	{`#!lua name=x foo=bar`, "ERR Invalid metadata value given: foo=bar"},
	{`#!lua name=x Name=y`, "ERR Invalid metadata value, name argument was given multiple times"},
	{`#!lua`, "ERR Library name was not given"},
}

const shebangBody = "\nredis.register_function('ff', function() return 1 end)"

// TestFunctionShebang pins the library metadata line as Redis 7.0.15
// reads it (sdssplitargs, a case-insensitive name=, the name checked
// before the engine), for FUNCTION LOAD and FUNCTION RESTORE alike.
func TestFunctionShebang(t *testing.T) {
	_, addr := startServer(t, 8)
	c := newClient2(t, addr, 2)
	ctx := context.Background()
	body := shebangBody
	for _, tc := range shebangCases {
		got, err := c.Do(ctx, "FUNCTION", "LOAD", "REPLACE", tc.line+body).Text()
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("LOAD %q: %s, want %s", tc.line, got, tc.want)
		}
		c.FunctionFlush(ctx)
		want := tc.want
		if !strings.HasPrefix(want, "ERR") {
			want = "OK"
		}
		if got := errText(fnRestore(c, fnPayload(tc.line+body))); got != want {
			t.Errorf("RESTORE %q: %s, want %s", tc.line, got, want)
		}
		c.FunctionFlush(ctx)
	}
	for _, tc := range []struct {
		args []any
		want string
	}{
		{[]any{"FUNCTION", "FLUSH", "bad_arg"}, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option"},
		{[]any{"FUNCTION", "flush", "sync", "extra_arg"}, "ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP."},
	} {
		if err := c.Do(ctx, tc.args...).Err(); errText(err) != tc.want {
			t.Errorf("%q: %v, want %s", tc.args, err, tc.want)
		}
	}
}
