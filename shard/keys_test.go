package shard

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// kvStep is one command of a synchronous script and its expected raw reply.
// A want starting with "~sorted " is compared as the sorted members of an
// array or set reply instead.
type kvStep struct {
	args []string
	want string
}

// kvExec runs one command on s in the given database and protocol.
func kvExec(t *testing.T, s *Shard, db int, proto wire.Proto, now int64, args ...string) string {
	t.Helper()
	cmd := Lookup(strings.ToLower(args[0]))
	if cmd == nil {
		t.Fatalf("no command %q", args[0])
	}
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	b := &Batch{DB: db, Proto: proto, Calls: []Call{{Cmd: cmd, Args: argv}}}
	s.Exec(b, now)
	return string(b.Reply(0))
}

// kvScript runs steps in order on s (database 0, RESP2, time now).
func kvScript(t *testing.T, s *Shard, now int64, steps []kvStep) {
	t.Helper()
	for _, st := range steps {
		got := kvExec(t, s, 0, wire.RESP2, now, st.args...)
		if want, ok := strings.CutPrefix(st.want, "~sorted "); ok {
			if g := strings.Join(kvMembers(t, got), " "); g != want {
				t.Errorf("%v: got members %q (raw %q), want %q", st.args, g, got, want)
			}
			continue
		}
		if got != st.want {
			t.Errorf("%v: got %q, want %q", st.args, got, st.want)
		}
	}
}

// kvMembers parses a flat array or set of bulk strings and sorts it.
func kvMembers(t *testing.T, raw string) []string {
	t.Helper()
	if raw == "" || (raw[0] != '*' && raw[0] != '~') {
		t.Fatalf("not an array or set reply: %q", raw)
	}
	lines := strings.Split(strings.TrimSuffix(raw, "\r\n"), "\r\n")
	n, err := strconv.Atoi(lines[0][1:])
	if err != nil || len(lines) != 1+2*n {
		t.Fatalf("malformed reply %q", raw)
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, lines[2+2*i])
	}
	slices.Sort(out)
	return out
}

func kvErr(msg string) string { return "-" + msg + "\r\n" }

func kvBulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

const (
	kvOK   = "+OK\r\n"
	kvNil  = "$-1\r\n"
	kvZero = ":0\r\n"
	kvOne  = ":1\r\n"
)

func TestExpireFamily(t *testing.T) {
	s := New(0)
	const now = 1_000_000_000
	kvScript(t, s, now, []kvStep{
		{[]string{"SET", "k", "v"}, kvOK},
		{[]string{"EXPIRE", "k", "10", "nx", "xx"}, kvErr("ERR NX and XX, GT or LT options at the same time are not compatible")},
		{[]string{"EXPIRE", "k", "10", "NX", "GT"}, kvErr("ERR NX and XX, GT or LT options at the same time are not compatible")},
		{[]string{"EXPIRE", "k", "10", "gt", "lt"}, kvErr("ERR GT and LT options at the same time are not compatible")},
		{[]string{"EXPIRE", "k", "10", "Foo"}, kvErr("ERR Unsupported option Foo")},
		{[]string{"EXPIRE", "nokey", "x", "foo"}, kvErr("ERR Unsupported option foo")},
		{[]string{"EXPIRE", "k", "abc"}, kvErr(ErrNotInt)},
		{[]string{"EXPIRE", "k", "9223372036854775807"}, kvErr("ERR invalid expire time in 'expire' command")},
		{[]string{"EXPIRE", "k", "-9223372036854775807"}, kvErr("ERR invalid expire time in 'expire' command")},
		{[]string{"PEXPIRE", "k", "9223372036854775807"}, kvErr("ERR invalid expire time in 'pexpire' command")},
		{[]string{"EXPIREAT", "k", "9223372036854775807"}, kvErr("ERR invalid expire time in 'expireat' command")},
		{[]string{"EXPIRE", "nokey", "10"}, kvZero},
		{[]string{"TTL", "nokey"}, ":-2\r\n"},
		{[]string{"PTTL", "nokey"}, ":-2\r\n"},
		{[]string{"EXPIRETIME", "nokey"}, ":-2\r\n"},
		{[]string{"PEXPIRETIME", "nokey"}, ":-2\r\n"},
		{[]string{"TTL", "k"}, ":-1\r\n"},
		{[]string{"PEXPIRETIME", "k"}, ":-1\r\n"},
		{[]string{"EXPIRE", "k", "10", "xx"}, kvZero},  // no TTL yet
		{[]string{"EXPIRE", "k", "100", "gt"}, kvZero}, // no TTL counts as infinite
		{[]string{"EXPIRE", "k", "100", "lt"}, kvOne},
		{[]string{"TTL", "k"}, ":100\r\n"},
		{[]string{"EXPIRE", "k", "50", "gt"}, kvZero},
		{[]string{"EXPIRE", "k", "200", "GT"}, kvOne},
		{[]string{"EXPIRE", "k", "300", "lt"}, kvZero},
		{[]string{"EXPIRE", "k", "10", "lt"}, kvOne},
		{[]string{"EXPIRE", "k", "20", "nx"}, kvZero},
		{[]string{"EXPIRE", "k", "20", "xx"}, kvOne},
		{[]string{"EXPIRE", "k", "10", "NX", "NX"}, kvZero},
		{[]string{"PTTL", "k"}, ":20000\r\n"},
		{[]string{"EXPIRETIME", "k"}, ":" + strconv.Itoa(now/1000+20) + "\r\n"},
		{[]string{"PEXPIRETIME", "k"}, ":" + strconv.Itoa(now+20000) + "\r\n"},
		{[]string{"PEXPIRE", "k", "1500"}, kvOne},
		{[]string{"TTL", "k"}, ":2\r\n"}, // rounded
		{[]string{"PEXPIRE", "k", "1499"}, kvOne},
		{[]string{"TTL", "k"}, ":1\r\n"},
		{[]string{"PEXPIREAT", "k", "99999999999500"}, kvOne},
		{[]string{"EXPIRETIME", "k"}, ":100000000000\r\n"},
		{[]string{"PEXPIRETIME", "k"}, ":99999999999500\r\n"},
		{[]string{"EXPIREAT", "k", "99999999999"}, kvOne},
		{[]string{"PEXPIRETIME", "k"}, ":99999999999000\r\n"},
		{[]string{"PERSIST", "k"}, kvOne},
		{[]string{"PERSIST", "k"}, kvZero},
		{[]string{"PERSIST", "nokey"}, kvZero},
		{[]string{"TTL", "k"}, ":-1\r\n"},
		// A time in the past deletes the key and still answers 1.
		{[]string{"EXPIRE", "k", "0"}, kvOne},
		{[]string{"EXISTS", "k"}, kvZero},
		{[]string{"SET", "k", "v"}, kvOK},
		{[]string{"EXPIRE", "k", "-5"}, kvOne},
		{[]string{"EXISTS", "k"}, kvZero},
		{[]string{"SET", "k", "v"}, kvOK},
		{[]string{"PEXPIREAT", "k", "1"}, kvOne},
		{[]string{"EXISTS", "k"}, kvZero},
		{[]string{"SET", "k", "v"}, kvOK},
		{[]string{"EXPIREAT", "k", strconv.Itoa(now / 1000)}, kvOne}, // exactly now: gone
		{[]string{"EXISTS", "k"}, kvZero},
		// GT with a past time fails; LT with a past time deletes.
		{[]string{"SET", "k", "v", "EX", "100"}, kvOK},
		{[]string{"EXPIRE", "k", "-1", "gt"}, kvZero},
		{[]string{"EXPIRE", "k", "-1", "lt"}, kvOne},
		{[]string{"EXISTS", "k"}, kvZero},
	})

	// Lazy expiry: the TTL passes between commands.
	kvScript(t, s, now, []kvStep{{[]string{"SET", "t", "v", "PX", "100"}, kvOK}})
	kvScript(t, s, now+50, []kvStep{{[]string{"PTTL", "t"}, ":50\r\n"}})
	kvScript(t, s, now+100, []kvStep{
		{[]string{"PTTL", "t"}, ":-2\r\n"},
		{[]string{"EXPIRE", "t", "10"}, kvZero},
		{[]string{"PERSIST", "t"}, kvZero},
	})
}

func TestTypeTouchUnlink(t *testing.T) {
	s := New(0)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"SET", "str", "v"}, kvOK},
		{[]string{"HSET", "h", "f", "v"}, kvOne},
		{[]string{"SADD", "s", "m"}, kvOne},
		{[]string{"TYPE", "str"}, "+string\r\n"},
		{[]string{"TYPE", "h"}, "+hash\r\n"},
		{[]string{"TYPE", "s"}, "+set\r\n"},
		{[]string{"TYPE", "nokey"}, "+none\r\n"},
		{[]string{"TOUCH", "str", "h", "nokey", "str"}, ":3\r\n"},
		{[]string{"UNLINK", "str", "h", "nokey"}, ":2\r\n"},
		{[]string{"TYPE", "h"}, "+none\r\n"},
		{[]string{"DBSIZE"}, kvOne},
	})
}

func TestRenameSync(t *testing.T) {
	s := New(0)
	const now = 5000
	kvScript(t, s, now, []kvStep{
		{[]string{"RENAME", "nokey", "x"}, kvErr(ErrNoSuchKey)},
		{[]string{"RENAME", "nokey", "nokey"}, kvErr(ErrNoSuchKey)},
		{[]string{"RENAMENX", "nokey", "x"}, kvErr(ErrNoSuchKey)},
		{[]string{"SET", "a", "1", "PX", "1000"}, kvOK},
		{[]string{"RENAME", "a", "a"}, kvOK},
		{[]string{"RENAMENX", "a", "a"}, kvZero},
		{[]string{"PTTL", "a"}, ":1000\r\n"},
		{[]string{"SET", "b", "2", "PX", "9000"}, kvOK},
		// The TTL travels with the value; the destination's TTL goes.
		{[]string{"RENAME", "a", "b"}, kvOK},
		{[]string{"EXISTS", "a"}, kvZero},
		{[]string{"GET", "b"}, kvBulk("1")},
		{[]string{"PTTL", "b"}, ":1000\r\n"},
		{[]string{"SET", "c", "3"}, kvOK},
		{[]string{"RENAMENX", "b", "c"}, kvZero},
		{[]string{"RENAMENX", "b", "d"}, kvOne},
		{[]string{"PTTL", "d"}, ":1000\r\n"},
		{[]string{"SET", "e", "5", "EX", "100"}, kvOK},
		{[]string{"RENAME", "c", "e"}, kvOK},
		{[]string{"TTL", "e"}, ":-1\r\n"},
		{[]string{"SADD", "s", "x"}, kvOne},
		{[]string{"RENAME", "s", "e"}, kvOK},
		{[]string{"TYPE", "e"}, "+set\r\n"},
	})
	// An expired source is missing.
	kvScript(t, s, now+1000, []kvStep{{[]string{"RENAME", "d", "z"}, kvErr(ErrNoSuchKey)}})
}

func TestCopySync(t *testing.T) {
	s := New(0)
	const now = 5000
	kvScript(t, s, now, []kvStep{
		{[]string{"SET", "a", "1", "PX", "1000"}, kvOK},
		{[]string{"COPY", "a", "a"}, kvErr(ErrSameObject)},
		{[]string{"COPY", "nokey", "nokey"}, kvErr(ErrSameObject)},
		{[]string{"COPY", "a", "b", "DB"}, kvErr(ErrSyntax)},
		{[]string{"COPY", "a", "b", "foo"}, kvErr(ErrSyntax)},
		{[]string{"COPY", "a", "b", "db", "x"}, kvErr(ErrNotInt)},
		{[]string{"COPY", "a", "b", "db", "16"}, kvErr(ErrDBIndex)},
		{[]string{"COPY", "a", "b", "db", "-1"}, kvErr(ErrDBIndex)},
		{[]string{"COPY", "a", "b", "db", "4294967297"}, kvErr("ERR value is out of range, value must between -2147483648 and 2147483647")},
		{[]string{"COPY", "nokey", "b"}, kvZero},
		{[]string{"COPY", "a", "b"}, kvOne},
		{[]string{"PTTL", "b"}, ":1000\r\n"},
		{[]string{"COPY", "a", "b"}, kvZero},
		{[]string{"SET", "a", "2"}, kvOK},
		{[]string{"COPY", "a", "b", "REPLACE", "replace"}, kvOne},
		{[]string{"GET", "b"}, kvBulk("2")},
		{[]string{"PTTL", "b"}, ":-1\r\n"},
		{[]string{"COPY", "a", "a", "DB", "0"}, kvErr(ErrSameObject)},
		{[]string{"COPY", "a", "a", "DB", "3"}, kvOne},
		// Collections are copied deeply.
		{[]string{"HSET", "h", "f", "v"}, kvOne},
		{[]string{"SADD", "s", "m"}, kvOne},
		{[]string{"COPY", "h", "h2"}, kvOne},
		{[]string{"COPY", "s", "s2"}, kvOne},
		{[]string{"HSET", "h", "g", "w"}, kvOne},
		{[]string{"SADD", "s", "n"}, kvOne},
		{[]string{"HLEN", "h2"}, kvOne},
		{[]string{"SCARD", "s2"}, kvOne},
		{[]string{"HDEL", "h2", "f"}, kvOne},
		{[]string{"HLEN", "h"}, ":2\r\n"},
		{[]string{"EXISTS", "h2"}, kvZero},
	})
	if got := kvExec(t, s, 3, wire.RESP2, now, "GET", "a"); got != kvBulk("2") {
		t.Fatalf("COPY DB 3: GET in db 3 = %q", got)
	}
	// COPY from another selected database.
	if got := kvExec(t, s, 3, wire.RESP2, now, "COPY", "a", "a", "DB", "5"); got != kvOne {
		t.Fatalf("COPY from db 3 to 5 = %q", got)
	}
	if got := kvExec(t, s, 5, wire.RESP2, now, "GET", "a"); got != kvBulk("2") {
		t.Fatalf("GET in db 5 = %q", got)
	}
	// An expired destination does not block COPY.
	kvScript(t, s, now, []kvStep{{[]string{"SET", "x", "old", "PX", "10"}, kvOK}})
	kvScript(t, s, now+10, []kvStep{{[]string{"COPY", "a", "x"}, kvOne}, {[]string{"GET", "x"}, kvBulk("2")}})
}

func TestMoveSync(t *testing.T) {
	s := New(0)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"SET", "k", "v", "PX", "500"}, kvOK},
		{[]string{"MOVE", "k", "0"}, kvErr(ErrSameObject)},
		{[]string{"MOVE", "nokey", "0"}, kvErr(ErrSameObject)},
		{[]string{"MOVE", "k", "16"}, kvErr(ErrDBIndex)},
		{[]string{"MOVE", "k", "-1"}, kvErr(ErrDBIndex)},
		{[]string{"MOVE", "k", "x"}, kvErr(ErrNotInt)},
		{[]string{"MOVE", "k", "4294967297"}, kvErr("ERR value is out of range, value must between -2147483648 and 2147483647")},
		{[]string{"MOVE", "nokey", "1"}, kvZero},
		{[]string{"MOVE", "k", "1"}, kvOne},
		{[]string{"EXISTS", "k"}, kvZero},
	})
	if got := kvExec(t, s, 1, wire.RESP2, 1000, "PTTL", "k"); got != ":500\r\n" {
		t.Fatalf("PTTL after MOVE = %q", got)
	}
	kvExec(t, s, 0, wire.RESP2, 1000, "SET", "k", "other")
	if got := kvExec(t, s, 1, wire.RESP2, 1000, "MOVE", "k", "0"); got != kvZero {
		t.Fatalf("MOVE onto an existing key = %q", got)
	}
	if got := kvExec(t, s, 0, wire.RESP2, 1000, "GET", "k"); got != kvBulk("other") {
		t.Fatalf("MOVE overwrote the destination: %q", got)
	}
}

func TestRandomKeyAndKeys(t *testing.T) {
	s := New(0)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"RANDOMKEY"}, kvNil},
		{[]string{"KEYS", "*"}, "*0\r\n"},
		{[]string{"MSET", "one", "1", "two", "2", "three", "3", "four", "4"}, kvOK},
		{[]string{"SET", "gone", "x", "PX", "1"}, kvOK},
		{[]string{"KEYS", "*"}, "~sorted four gone one three two"},
		{[]string{"KEYS", "t*"}, "~sorted three two"},
		{[]string{"KEYS", "?o*"}, "~sorted four gone"},
		{[]string{"KEYS", "[ot][nw]*"}, "~sorted one two"},
		{[]string{"KEYS", "ONE"}, "*0\r\n"},
		{[]string{"KEYS", "one"}, "~sorted one"},
	})
	kvScript(t, s, 2000, []kvStep{{[]string{"KEYS", "*"}, "~sorted four one three two"}})
	seen := map[string]bool{}
	for i := 0; i < 400; i++ {
		got := kvExec(t, s, 0, wire.RESP2, 2000, "RANDOMKEY")
		seen[got] = true
	}
	if len(seen) != 4 {
		t.Fatalf("RANDOMKEY over 400 draws saw %v, want the 4 live keys", seen)
	}
	// Only expired keys: RANDOMKEY removes them and answers nil.
	s2 := New(0)
	for i := 0; i < 100; i++ {
		kvExec(t, s2, 0, wire.RESP2, 1000, "SET", "k"+strconv.Itoa(i), "v", "PX", "5")
	}
	if got := kvExec(t, s2, 0, wire.RESP2, 2000, "RANDOMKEY"); got != kvNil {
		t.Fatalf("RANDOMKEY with only expired keys = %q", got)
	}
	if n := s2.DB(0).Len(); n != 0 {
		t.Fatalf("RANDOMKEY left %d expired keys", n)
	}
	if got := kvExec(t, s, 0, wire.RESP3, 1000, "RANDOMKEY"); !strings.HasPrefix(got, "$") {
		t.Fatalf("RANDOMKEY RESP3 = %q", got)
	}
	if got := kvExec(t, s2, 0, wire.RESP3, 1000, "RANDOMKEY"); got != "_\r\n" {
		t.Fatalf("RANDOMKEY RESP3 empty = %q", got)
	}
}

func TestSwapDBSync(t *testing.T) {
	s := New(0)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"SET", "a", "in0", "PX", "100"}, kvOK},
		{[]string{"SWAPDB", "0", "x"}, kvErr("ERR invalid second DB index")},
		{[]string{"SWAPDB", "x", "0"}, kvErr("ERR invalid first DB index")},
		{[]string{"SWAPDB", "4294967296", "0"}, kvErr("ERR invalid first DB index")},
		{[]string{"SWAPDB", "0", "16"}, kvErr(ErrDBIndex)},
		{[]string{"SWAPDB", "-1", "0"}, kvErr(ErrDBIndex)},
		{[]string{"SWAPDB", "0", "0"}, kvOK},
		{[]string{"GET", "a"}, kvBulk("in0")},
		{[]string{"SWAPDB", "0", "2"}, kvOK},
		{[]string{"GET", "a"}, kvNil},
	})
	if got := kvExec(t, s, 2, wire.RESP2, 1000, "PTTL", "a"); got != ":100\r\n" {
		t.Fatalf("db 2 after SWAPDB: PTTL = %q", got)
	}
}

func TestObjectSync(t *testing.T) {
	s := New(0)
	long := strings.Repeat("x", 45)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"MSET", "i", "123", "big", "12345678", "neg", "-5", "z", "007", "mz", "-0",
			"e", long[:44], "r", long, "l", "12345678901234567890", "min", "-9223372036854775808"}, kvOK},
		{[]string{"OBJECT", "ENCODING", "i"}, kvBulk("int")},
		{[]string{"OBJECT", "encoding", "big"}, kvBulk("int")},
		{[]string{"OBJECT", "encoding", "neg"}, kvBulk("int")},
		{[]string{"OBJECT", "encoding", "min"}, kvBulk("int")},
		{[]string{"OBJECT", "encoding", "z"}, kvBulk("embstr")},
		{[]string{"OBJECT", "encoding", "mz"}, kvBulk("embstr")},
		{[]string{"OBJECT", "encoding", "e"}, kvBulk("embstr")},
		{[]string{"OBJECT", "encoding", "r"}, kvBulk("raw")},
		{[]string{"OBJECT", "encoding", "l"}, kvBulk("embstr")},
		{[]string{"OBJECT", "encoding", "nokey"}, kvNil},
		{[]string{"OBJECT", "refcount", "i"}, ":2147483647\r\n"},
		{[]string{"OBJECT", "refcount", "big"}, kvOne},
		{[]string{"OBJECT", "refcount", "neg"}, kvOne},
		{[]string{"OBJECT", "refcount", "nokey"}, kvNil},
		{[]string{"OBJECT", "idletime", "i"}, kvZero},
		{[]string{"OBJECT", "idletime", "nokey"}, kvNil},
		{[]string{"OBJECT", "freq", "nokey"}, kvNil},
		{[]string{"OBJECT", "freq", "i"}, kvErr(ErrNoLFU)},
		{[]string{"OBJECT", "foo"}, kvErr("ERR unknown subcommand 'foo'. Try OBJECT HELP.")},
		{[]string{"object", "FOO", "bar"}, kvErr("ERR unknown subcommand 'FOO'. Try OBJECT HELP.")},
		{[]string{"OBJECT", "encoding"}, kvErr("ERR wrong number of arguments for 'object|encoding' command")},
		{[]string{"OBJECT", "Encoding", "i", "x"}, kvErr("ERR wrong number of arguments for 'object|encoding' command")},
		{[]string{"OBJECT", "help", "x"}, kvErr("ERR wrong number of arguments for 'object|help' command")},
	})
	help := kvExec(t, s, 0, wire.RESP2, 1000, "OBJECT", "HELP")
	if !strings.HasPrefix(help, "*15\r\n+OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n") ||
		!strings.HasSuffix(help, "+HELP\r\n+    Prints this help.\r\n") {
		t.Fatalf("OBJECT HELP = %q", help)
	}

	// Collections: the compact encodings up to Redis's default limits
	// (hash-max-listpack-entries 512, set-max-intset-entries 512).
	hashArgs := []string{"HSET", "h"}
	setArgs := []string{"SADD", "si"}
	for i := 0; i < 512; i++ {
		hashArgs = append(hashArgs, "f"+strconv.Itoa(i), "v")
	}
	for i := 0; i < 512; i++ {
		setArgs = append(setArgs, strconv.Itoa(i))
	}
	kvScript(t, s, 1000, []kvStep{
		{hashArgs, ":512\r\n"},
		{setArgs, ":512\r\n"},
		{[]string{"OBJECT", "encoding", "h"}, kvBulk("listpack")},
		{[]string{"OBJECT", "encoding", "si"}, kvBulk("intset")},
		{[]string{"HSET", "h", "one-more", "v"}, kvOne},
		{[]string{"SADD", "si", "512"}, kvOne},
		{[]string{"OBJECT", "encoding", "h"}, kvBulk("hashtable")},
		{[]string{"OBJECT", "encoding", "si"}, kvBulk("hashtable")},
		{[]string{"HSET", "hv", "f", strings.Repeat("v", 64)}, kvOne},
		{[]string{"OBJECT", "encoding", "hv"}, kvBulk("listpack")},
		{[]string{"HSET", "hv", "f", strings.Repeat("v", 65)}, kvZero},
		{[]string{"OBJECT", "encoding", "hv"}, kvBulk("hashtable")},
		{[]string{"HSET", "hf", strings.Repeat("f", 65), "v"}, kvOne},
		{[]string{"OBJECT", "encoding", "hf"}, kvBulk("hashtable")},
		{[]string{"SADD", "ss", "1", "a"}, ":2\r\n"},
		{[]string{"OBJECT", "encoding", "ss"}, kvBulk("hashtable")},
		{[]string{"SADD", "s0", "-1", "01"}, ":2\r\n"},
		{[]string{"OBJECT", "encoding", "s0"}, kvBulk("hashtable")},
		{[]string{"OBJECT", "refcount", "h"}, kvOne},
	})
	if got := kvExec(t, s, 0, wire.RESP3, 1000, "OBJECT", "encoding", "nokey"); got != "_\r\n" {
		t.Fatalf("OBJECT ENCODING missing in RESP3 = %q", got)
	}
}

func TestObjectKeysRouting(t *testing.T) {
	cmd := Lookup("object")
	for _, tc := range []struct {
		args []string
		want []int
	}{
		{[]string{"OBJECT", "ENCODING", "k"}, []int{2}},
		{[]string{"OBJECT", "freq", "k"}, []int{2}},
		{[]string{"OBJECT", "HELP"}, nil},
		{[]string{"OBJECT", "help", "x"}, nil},
	} {
		argv := make([][]byte, len(tc.args))
		for i, a := range tc.args {
			argv[i] = []byte(a)
		}
		if got := cmd.KeyIndexes(argv, nil); !slices.Equal(got, tc.want) {
			t.Errorf("%v: keys at %v, want %v", tc.args, got, tc.want)
		}
	}
}

// kvKeysOn returns n distinct key names with prefix owned by shard id of
// shards.
func kvKeysOn(prefix string, id, shards, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		k := prefix + strconv.Itoa(i)
		if Owner([]byte(k), shards) == id {
			out = append(out, k)
		}
	}
	return out
}

// kvAcross runs one command over borrowed shards, as the connection does
// for commands whose keys live on several shards.
func kvAcross(shards []*Shard, db int, proto wire.Proto, now int64, args ...string) string {
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	return string(RunAcross(shards, Lookup(strings.ToLower(args[0])), argv, nil, db, proto, now, nil))
}

func TestKeysAcrossShards(t *testing.T) {
	shards := []*Shard{New(0), New(1), New(2)}
	a := kvKeysOn("a", 0, 3, 1)[0]
	b := kvKeysOn("b", 1, 3, 1)[0]
	c := kvKeysOn("c", 2, 3, 1)[0]
	const now = 1000
	steps := []kvStep{
		{[]string{"SET", a, "v", "PX", "700"}, kvOK},
		{[]string{"RENAME", a, b}, kvOK},
		{[]string{"EXISTS", a, b}, kvOne},
		{[]string{"PTTL", b}, ":700\r\n"},
		{[]string{"SADD", c, "m1", "m2"}, ":2\r\n"},
		{[]string{"RENAMENX", c, b}, kvZero},
		{[]string{"COPY", c, a}, kvOne},
		{[]string{"SREM", c, "m1"}, kvOne},
		{[]string{"SCARD", a}, ":2\r\n"},
		{[]string{"COPY", b, a, "REPLACE"}, kvOne},
		{[]string{"TYPE", a}, "+string\r\n"},
		{[]string{"MOVE", b, "4"}, kvOne},
		{[]string{"DBSIZE"}, ":2\r\n"},
		{[]string{"KEYS", "*"}, "~sorted " + strings.Join(slices.Sorted(slices.Values([]string{a, c})), " ")},
		{[]string{"SWAPDB", "0", "4"}, kvOK},
		{[]string{"KEYS", "*"}, "~sorted " + b},
		{[]string{"RANDOMKEY"}, kvBulk(b)},
		{[]string{"PTTL", b}, ":700\r\n"},
	}
	for _, st := range steps {
		got := kvAcross(shards, 0, wire.RESP2, now, st.args...)
		if want, ok := strings.CutPrefix(st.want, "~sorted "); ok {
			if g := strings.Join(kvMembers(t, got), " "); g != want {
				t.Errorf("%v: got %q, want %q", st.args, g, want)
			}
		} else if got != st.want {
			t.Errorf("%v: got %q, want %q", st.args, got, st.want)
		}
	}
	// The data really lives on the owners.
	if shards[1].DB(0).Len() != 1 || shards[0].DB(4).Len() != 1 || shards[2].DB(4).Len() != 1 {
		t.Fatalf("keys not on their owners: %d %d %d", shards[1].DB(0).Len(), shards[0].DB(4).Len(), shards[2].DB(4).Len())
	}
}

// RANDOMKEY is fair across shards of very different sizes.
func TestRandomKeyFairAcrossShards(t *testing.T) {
	shards := []*Shard{New(0), New(1)}
	for _, k := range kvKeysOn("x", 0, 2, 90) {
		kvAcross(shards, 0, wire.RESP2, 1000, "SET", k, "v")
	}
	lone := kvKeysOn("y", 1, 2, 1)[0]
	kvAcross(shards, 0, wire.RESP2, 1000, "SET", lone, "v")
	hits := 0
	const draws = 5000
	for i := 0; i < draws; i++ {
		if kvAcross(shards, 0, wire.RESP2, 1000, "RANDOMKEY") == kvBulk(lone) {
			hits++
		}
	}
	// Expect about draws/91 = 55; a shard-first pick would give ~2500.
	if hits < 15 || hits > 150 {
		t.Fatalf("the only key of the small shard came up %d times in %d draws", hits, draws)
	}
}

func TestSampleHelpers(t *testing.T) {
	for _, size := range []int{1, 5, 64, 65, 300} {
		m := map[string]int{}
		for i := 0; i < size; i++ {
			m[strconv.Itoa(i)] = i
		}
		for _, n := range []int{1, size / 3, size - 1} {
			if n <= 0 || n >= size {
				continue
			}
			got := sampleKeys(m, n)
			if len(got) != n {
				t.Fatalf("sampleKeys(%d, %d) returned %d keys", size, n, len(got))
			}
			seen := map[string]bool{}
			for _, k := range got {
				if _, ok := m[k]; !ok || seen[k] {
					t.Fatalf("sampleKeys(%d, %d): bad or repeated key %q in %v", size, n, k, got)
				}
				seen[k] = true
			}
		}
		count := 0
		pickKeys(&Ctx{}, m, 2*size, func(k string) {
			if _, ok := m[k]; !ok {
				t.Fatalf("pickKeys gave %q", k)
			}
			count++
		})
		if count != 2*size {
			t.Fatalf("pickKeys gave %d keys, want %d", count, 2*size)
		}
	}
	// randomKey reaches every key of a small map.
	m := map[string]bool{"a": true, "b": true, "c": true}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		seen[randomKey(m)] = true
	}
	if len(seen) != 3 {
		t.Fatalf("randomKey saw %v", seen)
	}
}
