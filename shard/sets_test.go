package shard

import (
	"strconv"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

func TestSetCommandsSync(t *testing.T) {
	s := New(0)
	wrong := kvErr(ErrWrongType)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"SET", "str", "v"}, kvOK},
		{[]string{"SADD", "s", "a", "b", "c", "a"}, ":3\r\n"},
		{[]string{"SADD", "s", "a", "d"}, kvOne},
		{[]string{"SCARD", "s"}, ":4\r\n"},
		{[]string{"SCARD", "nokey"}, kvZero},
		{[]string{"SISMEMBER", "s", "a"}, kvOne},
		{[]string{"SISMEMBER", "s", "z"}, kvZero},
		{[]string{"SISMEMBER", "nokey", "a"}, kvZero},
		{[]string{"SMISMEMBER", "s", "a", "z", "d"}, "*3\r\n:1\r\n:0\r\n:1\r\n"},
		{[]string{"SMISMEMBER", "nokey", "a", "b"}, "*2\r\n:0\r\n:0\r\n"},
		{[]string{"SMEMBERS", "s"}, "~sorted a b c d"},
		{[]string{"SMEMBERS", "nokey"}, "*0\r\n"},
		{[]string{"SREM", "s", "a", "z", "a"}, kvOne},
		{[]string{"SREM", "nokey", "a"}, kvZero},
		{[]string{"SREM", "s", "b", "c", "d"}, ":3\r\n"},
		{[]string{"EXISTS", "s"}, kvZero}, // an emptied set is deleted
		{[]string{"SADD", "bin", "\x00\r\n", ""}, ":2\r\n"},
		{[]string{"SISMEMBER", "bin", ""}, kvOne},
		{[]string{"SISMEMBER", "bin", "\x00\r\n"}, kvOne},
		// Every command checks the type.
		{[]string{"SADD", "str", "a"}, wrong},
		{[]string{"SREM", "str", "a"}, wrong},
		{[]string{"SCARD", "str"}, wrong},
		{[]string{"SISMEMBER", "str", "a"}, wrong},
		{[]string{"SMISMEMBER", "str", "a"}, wrong},
		{[]string{"SMEMBERS", "str"}, wrong},
		{[]string{"SPOP", "str"}, wrong},
		{[]string{"SPOP", "str", "0"}, wrong},
		{[]string{"SRANDMEMBER", "str"}, wrong},
		{[]string{"SRANDMEMBER", "str", "1"}, wrong},
		{[]string{"GET", "str"}, kvBulk("v")},
	})
}

func TestSetAlgebraSync(t *testing.T) {
	s := New(0)
	wrong := kvErr(ErrWrongType)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"SET", "str", "v"}, kvOK},
		{[]string{"SADD", "a", "1", "2", "3", "4"}, ":4\r\n"},
		{[]string{"SADD", "b", "3", "4", "5"}, ":3\r\n"},
		{[]string{"SADD", "c", "4", "5", "6"}, ":3\r\n"},
		{[]string{"SINTER", "a", "b"}, "~sorted 3 4"},
		{[]string{"SINTER", "a", "b", "c"}, "~sorted 4"},
		{[]string{"SINTER", "a"}, "~sorted 1 2 3 4"},
		{[]string{"SINTER", "a", "nokey"}, "*0\r\n"},
		{[]string{"SUNION", "a", "b", "nokey"}, "~sorted 1 2 3 4 5"},
		{[]string{"SUNION", "nokey"}, "*0\r\n"},
		{[]string{"SDIFF", "a", "b"}, "~sorted 1 2"},
		{[]string{"SDIFF", "a", "b", "c"}, "~sorted 1 2"},
		{[]string{"SDIFF", "c", "a", "nokey"}, "~sorted 5 6"},
		{[]string{"SDIFF", "nokey", "a"}, "*0\r\n"},
		{[]string{"SDIFF", "a", "a"}, "*0\r\n"},
		// Every key is type-checked, even after a missing one.
		{[]string{"SINTER", "nokey", "str"}, wrong},
		{[]string{"SINTER", "str", "nokey"}, wrong},
		{[]string{"SUNION", "nokey", "str"}, wrong},
		{[]string{"SDIFF", "nokey", "str"}, wrong},
		{[]string{"SINTERSTORE", "d", "nokey", "str"}, wrong},
		{[]string{"SINTERCARD", "2", "nokey", "str"}, wrong},
		// STORE forms overwrite whatever is there and drop its TTL.
		{[]string{"SET", "dst", "x", "EX", "100"}, kvOK},
		{[]string{"SINTERSTORE", "dst", "a", "b"}, ":2\r\n"},
		{[]string{"TYPE", "dst"}, "+set\r\n"},
		{[]string{"TTL", "dst"}, ":-1\r\n"},
		{[]string{"SMEMBERS", "dst"}, "~sorted 3 4"},
		{[]string{"SUNIONSTORE", "dst", "a", "c"}, ":6\r\n"},
		{[]string{"SMEMBERS", "dst"}, "~sorted 1 2 3 4 5 6"},
		{[]string{"SDIFFSTORE", "dst", "dst", "a"}, ":2\r\n"},
		{[]string{"SMEMBERS", "dst"}, "~sorted 5 6"},
		{[]string{"SUNIONSTORE", "dst", "a"}, ":4\r\n"},
		{[]string{"SADD", "dst", "new"}, kvOne},
		{[]string{"SCARD", "a"}, ":4\r\n"}, // the store copied, not aliased
		// An empty result deletes the destination.
		{[]string{"SINTERSTORE", "dst", "a", "nokey"}, kvZero},
		{[]string{"EXISTS", "dst"}, kvZero},
		{[]string{"SET", "dst", "x"}, kvOK},
		{[]string{"SDIFFSTORE", "dst", "a", "a"}, kvZero},
		{[]string{"EXISTS", "dst"}, kvZero},
		{[]string{"SET", "dst", "x"}, kvOK},
		{[]string{"SUNIONSTORE", "dst", "nokey"}, kvZero},
		{[]string{"EXISTS", "dst"}, kvZero},
		{[]string{"SUNIONSTORE", "str", "a"}, ":4\r\n"},
		{[]string{"TYPE", "str"}, "+set\r\n"},
	})
}

func TestSInterCard(t *testing.T) {
	s := New(0)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"SADD", "a", "1", "2", "3", "4"}, ":4\r\n"},
		{[]string{"SADD", "b", "2", "3", "4", "5"}, ":4\r\n"},
		{[]string{"SINTERCARD", "0", "a"}, kvErr("ERR numkeys should be greater than 0")},
		{[]string{"SINTERCARD", "-1", "a"}, kvErr("ERR numkeys should be greater than 0")},
		{[]string{"SINTERCARD", "x", "a"}, kvErr("ERR numkeys should be greater than 0")},
		{[]string{"SINTERCARD", "3", "a", "b"}, kvErr("ERR Number of keys can't be greater than number of args")},
		{[]string{"SINTERCARD", "1", "a", "limit"}, kvErr(ErrSyntax)},
		{[]string{"SINTERCARD", "1", "a", "foo", "1"}, kvErr(ErrSyntax)},
		{[]string{"SINTERCARD", "1", "a", "LIMIT", "-1"}, kvErr("ERR LIMIT can't be negative")},
		{[]string{"SINTERCARD", "1", "a", "LIMIT", "x"}, kvErr("ERR LIMIT can't be negative")},
		{[]string{"SINTERCARD", "1", "a"}, ":4\r\n"},
		{[]string{"SINTERCARD", "2", "a", "b"}, ":3\r\n"},
		{[]string{"SINTERCARD", "2", "a", "b", "LIMIT", "2"}, ":2\r\n"},
		{[]string{"SINTERCARD", "2", "a", "b", "limit", "0"}, ":3\r\n"},
		{[]string{"SINTERCARD", "2", "a", "b", "limit", "1", "limit", "10"}, ":3\r\n"},
		{[]string{"SINTERCARD", "2", "a", "nokey"}, kvZero},
	})
	// Keys follow numkeys.
	cmd := Lookup("sintercard")
	for _, tc := range []struct {
		args string
		want string
	}{
		{"SINTERCARD 2 a b LIMIT 1", "2 3"},
		{"SINTERCARD 1 a b", "2"},
		{"SINTERCARD 3 a b", ""},
		{"SINTERCARD 0 a", ""},
		{"SINTERCARD x a", ""},
	} {
		var argv [][]byte
		for _, a := range strings.Fields(tc.args) {
			argv = append(argv, []byte(a))
		}
		var got []string
		for _, i := range cmd.KeyIndexes(argv, nil) {
			got = append(got, strconv.Itoa(i))
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s: keys at %q, want %q", tc.args, g, tc.want)
		}
	}
}

func TestSMove(t *testing.T) {
	s := New(0)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"SET", "str", "v"}, kvOK},
		{[]string{"SADD", "src", "a", "b"}, ":2\r\n"},
		{[]string{"SMOVE", "nokey", "str", "a"}, kvZero}, // missing source wins over a bad destination
		{[]string{"SMOVE", "src", "str", "a"}, kvErr(ErrWrongType)},
		{[]string{"SMOVE", "str", "src", "a"}, kvErr(ErrWrongType)},
		{[]string{"SMOVE", "src", "src", "a"}, kvOne},
		{[]string{"SMOVE", "src", "src", "z"}, kvZero},
		{[]string{"SMOVE", "src", "dst", "z"}, kvZero},
		{[]string{"EXISTS", "dst"}, kvZero},
		{[]string{"SMOVE", "src", "dst", "a"}, kvOne},
		{[]string{"SMEMBERS", "dst"}, "~sorted a"},
		{[]string{"SADD", "dst", "b"}, kvOne},
		{[]string{"SMOVE", "src", "dst", "b"}, kvOne}, // already there: still moved
		{[]string{"EXISTS", "src"}, kvZero},
		{[]string{"SMEMBERS", "dst"}, "~sorted a b"},
	})
}

func TestSPopSRandMember(t *testing.T) {
	s := New(0)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"SPOP", "nokey"}, kvNil},
		{[]string{"SPOP", "nokey", "3"}, "*0\r\n"},
		{[]string{"SPOP", "nokey", "-1"}, kvErr(ErrNotPositive)},
		{[]string{"SPOP", "nokey", "x"}, kvErr(ErrNotPositive)},
		{[]string{"SPOP", "nokey", "1", "2"}, kvErr(ErrSyntax)},
		{[]string{"SRANDMEMBER", "nokey"}, kvNil},
		{[]string{"SRANDMEMBER", "nokey", "3"}, "*0\r\n"},
		{[]string{"SRANDMEMBER", "nokey", "x"}, kvErr(ErrNotInt)},
		{[]string{"SRANDMEMBER", "nokey", "-9223372036854775808"}, kvErr(ErrCountRange)},
		{[]string{"SRANDMEMBER", "nokey", "1", "2"}, kvErr(ErrSyntax)},
		{[]string{"SADD", "one", "m"}, kvOne},
		{[]string{"SRANDMEMBER", "one"}, kvBulk("m")},
		{[]string{"SRANDMEMBER", "one", "0"}, "*0\r\n"},
		{[]string{"SRANDMEMBER", "one", "1"}, "*1\r\n" + kvBulk("m")},
		{[]string{"SRANDMEMBER", "one", "9223372036854775807"}, "*1\r\n" + kvBulk("m")},
		{[]string{"SRANDMEMBER", "one", "-3"}, "*3\r\n" + kvBulk("m") + kvBulk("m") + kvBulk("m")},
		{[]string{"SPOP", "one", "0"}, "*0\r\n"},
		{[]string{"SPOP", "one"}, kvBulk("m")},
		{[]string{"EXISTS", "one"}, kvZero},
		{[]string{"SADD", "two", "a", "b"}, ":2\r\n"},
		{[]string{"SPOP", "two", "5"}, "~sorted a b"},
		{[]string{"EXISTS", "two"}, kvZero},
		{[]string{"SADD", "two", "a", "b"}, ":2\r\n"},
		{[]string{"SPOP", "two", "2"}, "~sorted a b"},
		{[]string{"EXISTS", "two"}, kvZero},
	})
	// RESP3: SPOP with a count is a set, SRANDMEMBER an array.
	kvExec(t, s, 0, wire.RESP3, 1000, "SADD", "r", "x")
	for _, tc := range []struct{ args, want string }{
		{"SPOP nokey 2", "~0\r\n"},
		{"SPOP nokey", "_\r\n"},
		{"SRANDMEMBER r 5", "*1\r\n$1\r\nx\r\n"},
		{"SRANDMEMBER r -1", "*1\r\n$1\r\nx\r\n"},
		{"SRANDMEMBER nokey 5", "*0\r\n"},
		{"SMEMBERS r", "~1\r\n$1\r\nx\r\n"},
		{"SINTER r nokey", "~0\r\n"},
		{"SUNION r", "~1\r\n$1\r\nx\r\n"},
		{"SDIFF r", "~1\r\n$1\r\nx\r\n"},
		{"SPOP r 1", "~1\r\n$1\r\nx\r\n"},
	} {
		if got := kvExec(t, s, 0, wire.RESP3, 1000, strings.Fields(tc.args)...); got != tc.want {
			t.Errorf("RESP3 %s = %q, want %q", tc.args, got, tc.want)
		}
	}

	// Larger sets: SPOP removes what it returns; SRANDMEMBER counts.
	args := []string{"SADD", "big"}
	for i := 0; i < 300; i++ {
		args = append(args, "m"+strconv.Itoa(i))
	}
	kvExec(t, s, 0, wire.RESP2, 1000, args...)
	for _, n := range []int{1, 5, 99, 100, 299, 300, 1000} {
		got := kvMembers(t, kvExec(t, s, 0, wire.RESP2, 1000, "SRANDMEMBER", "big", strconv.Itoa(n)))
		if len(got) != min(n, 300) {
			t.Fatalf("SRANDMEMBER big %d: %d members", n, len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i] == got[i-1] {
				t.Fatalf("SRANDMEMBER big %d repeated %q", n, got[i])
			}
		}
	}
	if got := kvMembers(t, kvExec(t, s, 0, wire.RESP2, 1000, "SRANDMEMBER", "big", "-500")); len(got) != 500 {
		t.Fatalf("SRANDMEMBER big -500: %d members", len(got))
	}
	popped := map[string]bool{}
	for _, n := range []int{1, 50, 100} {
		for _, m := range kvMembers(t, kvExec(t, s, 0, wire.RESP2, 1000, "SPOP", "big", strconv.Itoa(n))) {
			if popped[m] {
				t.Fatalf("SPOP returned %q twice", m)
			}
			popped[m] = true
		}
	}
	for i := 0; i < 49; i++ {
		m := strings.Split(kvExec(t, s, 0, wire.RESP2, 1000, "SPOP", "big"), "\r\n")[1]
		if popped[m] {
			t.Fatalf("SPOP returned %q twice", m)
		}
		popped[m] = true
	}
	if got := kvExec(t, s, 0, wire.RESP2, 1000, "SCARD", "big"); got != ":100\r\n" {
		t.Fatalf("SCARD after popping 200 of 300: %q", got)
	}
	for m := range popped {
		if got := kvExec(t, s, 0, wire.RESP2, 1000, "SISMEMBER", "big", m); got != kvZero {
			t.Fatalf("popped %q still a member", m)
		}
	}
}

func TestSetsAcrossShards(t *testing.T) {
	shards := []*Shard{New(0), New(1), New(2)}
	a := kvKeysOn("a", 0, 3, 1)[0]
	b := kvKeysOn("b", 1, 3, 1)[0]
	d := kvKeysOn("d", 2, 3, 1)[0]
	for _, st := range []kvStep{
		{[]string{"SADD", a, "1", "2", "3"}, ":3\r\n"},
		{[]string{"SADD", b, "3", "4"}, ":2\r\n"},
		{[]string{"SUNIONSTORE", d, a, b}, ":4\r\n"},
		{[]string{"SINTERSTORE", d, a, b}, ":1\r\n"},
		{[]string{"SDIFFSTORE", d, a, b}, ":2\r\n"},
		{[]string{"SINTERCARD", "2", a, b}, ":1\r\n"},
		{[]string{"SMOVE", a, d, "1"}, ":1\r\n"},
		{[]string{"SMOVE", b, a, "4"}, ":1\r\n"},
		{[]string{"SCARD", d}, ":2\r\n"},
		{[]string{"SCARD", a}, ":3\r\n"},
		{[]string{"SCARD", b}, ":1\r\n"},
	} {
		if got := kvAcross(shards, 0, wire.RESP2, 1000, st.args...); got != st.want {
			t.Errorf("%v: got %q, want %q", st.args, got, st.want)
		}
	}
	if shards[2].DB(0).Len() != 1 {
		t.Fatalf("destination not on its owner")
	}
}

// Reads of hashes, sets and TTLs, and writes that add nothing, must not
// allocate in a steady pipeline.
func TestFamilyReadsDoNotAllocate(t *testing.T) {
	s := New(0)
	kvScript(t, s, 1000, []kvStep{
		{[]string{"HSET", "h", "f", "v"}, kvOne},
		{[]string{"SADD", "s", "m"}, kvOne},
		{[]string{"SET", "k", "v", "PX", "100000"}, kvOK},
	})
	var calls []Call
	for _, line := range []string{
		"HGET h f", "HEXISTS h f", "HLEN h", "HSTRLEN h f", "HMGET h f g", "HSET h f v",
		"SISMEMBER s m", "SCARD s", "SMISMEMBER s m n", "SADD s m", "SREM s x",
		"TTL k", "PTTL k", "EXPIRETIME k", "TYPE k", "EXPIRE k 1000", "TOUCH k h",
	} {
		var argv [][]byte
		for _, a := range strings.Fields(line) {
			argv = append(argv, []byte(a))
		}
		calls = append(calls, Call{Cmd: Lookup(strings.ToLower(string(argv[0]))), Args: argv})
	}
	b := &Batch{Proto: wire.RESP2, Calls: calls}
	s.Exec(b, 1000)
	// HSET of an existing field may copy the new value: one allocation.
	allocs := testing.AllocsPerRun(100, func() {
		b.Out, b.Ends = b.Out[:0], b.Ends[:0]
		s.Exec(b, 1000)
	})
	if allocs > 1 {
		t.Fatalf("a batch of %d reads allocated %.1f times", len(calls), allocs)
	}
}
