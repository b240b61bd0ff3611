package shard

import (
	"strconv"
	"strings"
	"testing"

	"github.com/valkyrie-kv/valkyrie/wire"
)

// journaled runs the commands on s, with the journal on, and returns what
// the journal got, as space-separated commands, one per line.
func journaled(t *testing.T, s *Shard, j *JournalSink, now int64, cmds ...[]string) string {
	t.Helper()
	b := &Batch{Proto: wire.RESP2}
	for _, args := range cmds {
		cmd := Lookup(strings.ToLower(args[0]))
		if cmd == nil {
			t.Fatalf("no command %q", args[0])
		}
		argv := make([][]byte, len(args))
		for i, a := range args {
			argv[i] = []byte(a)
		}
		call := Call{Cmd: cmd, Args: argv}
		if cmd.NewWaiter != nil { // it may block, as from a client
			if w := cmd.NewWaiter(argv); w != nil {
				w.Proto = wire.RESP2
				call.Waiter = w
			}
		}
		b.Calls = append(b.Calls, call)
	}
	s.Exec(b, now)
	out, _, _ := j.Take(nil)
	return decodeJournal(t, out)
}

// decodeJournal turns RESP commands into lines of space-separated words.
func decodeJournal(t *testing.T, b []byte) string {
	t.Helper()
	var lines []string
	for len(b) > 0 {
		if b[0] != '*' {
			t.Fatalf("not a command: %q", b)
		}
		i := strings.Index(string(b), "\r\n")
		n, _ := wire.ParseInt(b[1:i])
		b = b[i+2:]
		var words []string
		for ; n > 0; n-- {
			i = strings.Index(string(b), "\r\n")
			l, _ := wire.ParseInt(b[1:i])
			words = append(words, string(b[i+2:i+2+int(l)]))
			b = b[i+2+int(l)+2:]
		}
		lines = append(lines, strings.Join(words, " "))
	}
	return strings.Join(lines, "\n")
}

func newJournaled() (*Shard, *JournalSink) {
	s := New(0)
	j := NewJournal()
	j.SetOn(true)
	s.SetJournal(j)
	sink, _, _ := j.AddSink(0, 0, false)
	return s, sink
}

func TestJournalDeterministicForms(t *testing.T) {
	const now = 1_000_000
	cases := []struct {
		name  string
		setup [][]string
		cmds  [][]string
		want  string
	}{
		{"plain writes as called", nil,
			[][]string{{"SET", "a", "1"}, {"GET", "a"}, {"INCR", "a"}, {"DEL", "nothere"}},
			"SELECT 0\nSET a 1\nINCR a"},
		{"SET EX becomes PXAT", nil, [][]string{{"SET", "a", "1", "EX", "10", "GET"}},
			"SELECT 0\nSET a 1 PXAT 1010000"},
		{"SET GET loses GET", nil, [][]string{{"SET", "a", "get", "GET"}}, "SELECT 0\nSET a get"},
		{"SET NX that did nothing", [][]string{{"SET", "a", "1"}}, [][]string{{"SET", "a", "2", "NX"}}, ""},
		{"SETEX", nil, [][]string{{"SETEX", "a", "5", "v"}}, "SELECT 0\nSET a v PXAT 1005000"},
		{"PSETEX", nil, [][]string{{"PSETEX", "a", "5", "v"}}, "SELECT 0\nSET a v PXAT 1000005"},
		{"EXPIRE", [][]string{{"SET", "a", "1"}}, [][]string{{"EXPIRE", "a", "3"}, {"EXPIRE", "b", "3"}},
			"SELECT 0\nPEXPIREAT a 1003000"},
		{"PEXPIRE keeps its condition", [][]string{{"SET", "a", "1", "PX", "50000"}}, [][]string{{"PEXPIRE", "a", "100", "LT"}, {"EXPIRE", "a", "100", "NX"}},
			"SELECT 0\nPEXPIREAT a 1000100 LT"},
		{"GEOADD is the ZADD it ran", nil, [][]string{{"GEOADD", "geo", "XX", "13.361389", "38.115556", "P"},
			{"GEOADD", "geo", "CH", "13.361389", "38.115556", "P"}, {"GEOADD", "geo", "13.361389", "38.115556", "P"}},
			"SELECT 0\nzadd geo CH 3479099956230698 P"},
		{"ZADD that changes nothing", [][]string{{"ZADD", "z", "1", "a"}}, [][]string{{"ZADD", "z", "1", "a"}, {"ZADD", "z", "INCR", "0", "a"}, {"ZADD", "z", "2", "a"}},
			"SELECT 0\nZADD z 2 a"},
		{"PFCOUNT that caches", [][]string{{"PFADD", "h", "a", "b"}}, [][]string{{"PFCOUNT", "h"}, {"PFCOUNT", "h"}, {"PFCOUNT", "h", "h"}},
			"SELECT 0\nPFCOUNT h"},
		{"EXPIRE in the past", [][]string{{"SET", "a", "1"}}, [][]string{{"PEXPIRE", "a", "-1"}},
			"SELECT 0\nDEL a"},
		{"GETEX", [][]string{{"SET", "a", "1"}},
			[][]string{{"GETEX", "a"}, {"GETEX", "a", "PX", "7"}, {"GETEX", "a", "PERSIST"}, {"GETEX", "a", "PERSIST"}},
			"SELECT 0\nPEXPIREAT a 1000007\nPERSIST a"},
		{"GETDEL", [][]string{{"SET", "a", "1"}}, [][]string{{"GETDEL", "a"}, {"GETDEL", "a"}}, "SELECT 0\nDEL a"},
		{"GETSET", nil, [][]string{{"GETSET", "a", "1"}}, "SELECT 0\nSET a 1"},
		{"INCRBYFLOAT", [][]string{{"SET", "a", "1.5"}}, [][]string{{"INCRBYFLOAT", "a", "1e1"}},
			"SELECT 0\nSET a 11.5 KEEPTTL"},
		{"HINCRBYFLOAT", nil, [][]string{{"HINCRBYFLOAT", "h", "f", "2.5"}}, "SELECT 0\nHSET h f 2.5"},
		{"SPOP one", [][]string{{"SADD", "s", "x"}}, [][]string{{"SPOP", "s"}}, "SELECT 0\nSREM s x"},
		{"SPOP all", [][]string{{"SADD", "s", "x", "y"}}, [][]string{{"SPOP", "s", "5"}}, "SELECT 0\nDEL s"},
		{"SPOP none", nil, [][]string{{"SPOP", "s", "5"}}, ""},
		{"lazy expiry is a DEL", [][]string{{"SET", "a", "1", "PX", "5"}}, [][]string{{"GET", "a"}}, "SELECT 0\nDEL a"},
		{"expiry before a write is one unit", [][]string{{"SET", "a", "1", "PX", "5"}}, [][]string{{"APPEND", "a", "x"}},
			"SELECT 0\nMULTI\nDEL a\nAPPEND a x\nEXEC"},

		// Lists: a pop that chose its key, or waited, is the pop it made.
		{"BLPOP at once", [][]string{{"RPUSH", "l", "a", "b"}}, [][]string{{"BLPOP", "none", "l", "0"}}, "SELECT 0\nLPOP l"},
		{"BRPOP at once", [][]string{{"RPUSH", "l", "a", "b"}}, [][]string{{"BRPOP", "l", "0"}}, "SELECT 0\nRPOP l"},
		{"BLMPOP at once", [][]string{{"RPUSH", "l", "a", "b", "c"}}, [][]string{{"BLMPOP", "0", "2", "none", "l", "RIGHT", "COUNT", "5"}},
			"SELECT 0\nRPOP l 3"},
		{"LMPOP", [][]string{{"RPUSH", "l", "a", "b", "c"}}, [][]string{{"LMPOP", "2", "none", "l", "LEFT", "COUNT", "2"}, {"LMPOP", "1", "none", "LEFT"}},
			"SELECT 0\nLPOP l 2"},
		{"LMPOP without COUNT", [][]string{{"RPUSH", "l", "a", "b"}}, [][]string{{"LMPOP", "1", "l", "RIGHT"}}, "SELECT 0\nRPOP l 1"},
		{"BLMOVE at once", [][]string{{"RPUSH", "l", "a"}}, [][]string{{"BLMOVE", "l", "d", "left", "right", "0"}},
			"SELECT 0\nLMOVE l d left right"},
		{"BRPOPLPUSH at once", [][]string{{"RPUSH", "l", "a"}}, [][]string{{"BRPOPLPUSH", "l", "d", "0"}}, "SELECT 0\nRPOPLPUSH l d"},
		{"BLPOP that blocks records nothing", nil, [][]string{{"BLPOP", "l", "0"}}, ""},
		{"BLPOP served later", [][]string{{"BLPOP", "l", "0"}}, [][]string{{"RPUSH", "l", "a", "b"}},
			"SELECT 0\nRPUSH l a b\nLPOP l"},
		{"BRPOP served later", [][]string{{"BRPOP", "l", "0"}}, [][]string{{"LPUSH", "l", "a"}},
			"SELECT 0\nLPUSH l a\nRPOP l"},
		{"BLMPOP served later", [][]string{{"BLMPOP", "0", "1", "l", "LEFT", "COUNT", "5"}}, [][]string{{"RPUSH", "l", "a", "b"}},
			"SELECT 0\nRPUSH l a b\nLPOP l 2"},
		{"BLMOVE served later", [][]string{{"BLMOVE", "l", "d", "LEFT", "RIGHT", "0"}}, [][]string{{"RPUSH", "l", "a"}},
			"SELECT 0\nRPUSH l a\nLMOVE l d left right"},
		{"BRPOPLPUSH served later", [][]string{{"BRPOPLPUSH", "l", "d", "0"}}, [][]string{{"RPUSH", "l", "a"}},
			"SELECT 0\nRPUSH l a\nRPOPLPUSH l d"},

		// Sorted sets.
		{"BZPOPMIN at once", [][]string{{"ZADD", "z", "1", "a", "2", "b"}}, [][]string{{"BZPOPMIN", "none", "z", "0"}}, "SELECT 0\nZPOPMIN z"},
		{"BZPOPMAX at once", [][]string{{"ZADD", "z", "1", "a", "2", "b"}}, [][]string{{"BZPOPMAX", "z", "0"}}, "SELECT 0\nZPOPMAX z"},
		{"ZMPOP", [][]string{{"ZADD", "z", "1", "a", "2", "b"}}, [][]string{{"ZMPOP", "2", "none", "z", "MAX", "COUNT", "10"}, {"ZMPOP", "1", "none", "MIN"}},
			"SELECT 0\nZPOPMAX z 2"},
		{"BZMPOP at once", [][]string{{"ZADD", "z", "1", "a", "2", "b", "3", "c"}}, [][]string{{"BZMPOP", "0", "1", "z", "MIN", "COUNT", "2"}},
			"SELECT 0\nZPOPMIN z 2"},
		{"BZPOPMAX served later", [][]string{{"BZPOPMAX", "z", "0"}}, [][]string{{"ZADD", "z", "1", "a"}},
			"SELECT 0\nZADD z 1 a\nZPOPMAX z"},
		{"BZMPOP served later", [][]string{{"BZMPOP", "0", "1", "z", "MIN", "COUNT", "3"}}, [][]string{{"ZADD", "z", "1", "a", "2", "b"}},
			"SELECT 0\nZADD z 1 a 2 b\nZPOPMIN z 2"},

		// Streams.
		{"XADD *", nil, [][]string{{"XADD", "s", "*", "f", "v"}}, "SELECT 0\nXADD s 1000000-0 f v"},
		{"XADD ms-*", [][]string{{"XADD", "s", "5-3", "f", "v"}}, [][]string{{"XADD", "s", "NOMKSTREAM", "5-*", "f", "v"}},
			"SELECT 0\nXADD s NOMKSTREAM 5-4 f v"},
		{"XADD with an ID", nil, [][]string{{"XADD", "s", "MAXLEN", "1", "5-3", "f", "v"}}, "SELECT 0\nXADD s MAXLEN 1 5-3 f v"},
		{"XADD MAXLEN ~ made exact", [][]string{{"XADD", "s", "1-1", "f", "v"}, {"XADD", "s", "1-2", "f", "v"}},
			[][]string{{"XADD", "s", "MAXLEN", "~", "1", "*", "f", "v"}}, "SELECT 0\nXADD s MAXLEN = 3 1000000-0 f v"},
		{"XADD MINID ~ made exact", [][]string{{"XADD", "s", "1-1", "f", "v"}, {"XADD", "s", "1-2", "f", "v"}},
			[][]string{{"XADD", "s", "MINID", "~", "1-2", "LIMIT", "5", "2-1", "f", "v"}}, "SELECT 0\nXADD s MINID = 1-1 LIMIT 5 2-1 f v"},
		{"XTRIM ~ that trims nothing", [][]string{{"XADD", "s", "1-1", "f", "v"}, {"XADD", "s", "1-2", "f", "v"}}, [][]string{{"XTRIM", "s", "MAXLEN", "~", "1"}}, ""},
		{"XTRIM ~ that trims all", [][]string{{"XADD", "s", "1-1", "f", "v"}}, [][]string{{"XTRIM", "s", "MINID", "~", "2"}}, "SELECT 0\nXTRIM s MINID = 18446744073709551615-18446744073709551615"},
		{"XTRIM exact", [][]string{{"XADD", "s", "1-1", "f", "v"}, {"XADD", "s", "1-2", "f", "v"}}, [][]string{{"XTRIM", "s", "MAXLEN", "1"}},
			"SELECT 0\nXTRIM s MAXLEN 1"},
		{"XREADGROUP", [][]string{{"XADD", "s", "1-1", "f", "v"}, {"XADD", "s", "1-2", "f", "v"}, {"XGROUP", "CREATE", "s", "g", "0"}},
			[][]string{{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"}, {"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"},
				{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"}},
			"SELECT 0\nMULTI\nXCLAIM s g c 0 1-1 TIME 1000000 RETRYCOUNT 1 FORCE JUSTID LASTID 1-1\n" +
				"XCLAIM s g c 0 1-2 TIME 1000000 RETRYCOUNT 1 FORCE JUSTID LASTID 1-2\nEXEC"},
		{"XREADGROUP NOACK", [][]string{{"XADD", "s", "1-1", "f", "v"}, {"XADD", "s", "1-2", "f", "v"}, {"XGROUP", "CREATE", "s", "g", "0"}},
			[][]string{{"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "NOACK", "STREAMS", "s", ">"}},
			"SELECT 0\nMULTI\nXGROUP CREATECONSUMER s g c\nXGROUP SETID s g 1-1 ENTRIESREAD 1\nEXEC"},
		{"XREADGROUP served later", [][]string{{"XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"}, {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"}},
			[][]string{{"XADD", "s", "2-1", "f", "v"}},
			"SELECT 0\nXADD s 2-1 f v\nXCLAIM s g c 0 2-1 TIME 1000000 RETRYCOUNT 1 FORCE JUSTID LASTID 2-1"},
		{"XCLAIM", [][]string{{"XADD", "s", "1-1", "f", "v"}, {"XGROUP", "CREATE", "s", "g", "0"}, {"XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"}},
			[][]string{{"XCLAIM", "s", "g", "b", "0", "1-1", "7-7"}},
			"SELECT 0\nXCLAIM s g b 0 1-1 TIME 1000000 RETRYCOUNT 2 FORCE JUSTID LASTID 1-1"},
		{"XCLAIM of a deleted entry", [][]string{{"XADD", "s", "1-1", "f", "v"}, {"XGROUP", "CREATE", "s", "g", "0"},
			{"XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"}, {"XDEL", "s", "1-1"}},
			[][]string{{"XCLAIM", "s", "g", "b", "0", "1-1"}},
			"SELECT 0\nXCLAIM s g a 0 1-1 TIME 999900 RETRYCOUNT 1 FORCE JUSTID LASTID 1-1"},
		{"XCLAIM LASTID alone", [][]string{{"XADD", "s", "1-1", "f", "v"}, {"XGROUP", "CREATE", "s", "g", "0"}, {"XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"}},
			[][]string{{"XCLAIM", "s", "g", "b", "0", "9-9", "LASTID", "5-0"}, {"XCLAIM", "s", "g", "b", "0", "9-9", "LASTID", "4-0"}},
			"SELECT 0\nXGROUP SETID s g 5-0 ENTRIESREAD 1"},
		{"XAUTOCLAIM", [][]string{{"XADD", "s", "1-1", "f", "v"}, {"XADD", "s", "1-2", "f", "v"}, {"XGROUP", "CREATE", "s", "g", "0"},
			{"XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"}, {"XDEL", "s", "1-2"}},
			[][]string{{"XAUTOCLAIM", "s", "g", "b", "0", "0", "JUSTID"}},
			"SELECT 0\nMULTI\nXCLAIM s g b 0 1-1 TIME 1000000 RETRYCOUNT 1 FORCE JUSTID LASTID 1-2\n" +
				"XCLAIM s g a 0 1-2 TIME 999900 RETRYCOUNT 1 FORCE JUSTID LASTID 1-2\nEXEC"},
		{"XACK as called", [][]string{{"XADD", "s", "1-1", "f", "v"}, {"XGROUP", "CREATE", "s", "g", "0"}, {"XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"}},
			[][]string{{"XACK", "s", "g", "1-1", "1-2"}}, "SELECT 0\nXACK s g 1-1 1-2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, j := newJournaled()
			journaled(t, s, j, now-100, tc.setup...)
			j.j.ForceSelect()
			if got := journaled(t, s, j, now, tc.cmds...); got != tc.want {
				t.Errorf("journal:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestJournalTransactionIsOneUnit(t *testing.T) {
	s, j := newJournaled()
	argv := func(args ...string) [][]byte {
		out := make([][]byte, len(args))
		for i, a := range args {
			out[i] = []byte(a)
		}
		return out
	}
	b := &Batch{Proto: wire.RESP2, Calls: []Call{
		{Tx: 3},
		{Cmd: Lookup("set"), Args: argv("SET", "a", "1")},
		{Cmd: Lookup("get"), Args: argv("GET", "a")},
		{Cmd: Lookup("incr"), Args: argv("INCR", "a")},
		{Cmd: Lookup("set"), Args: argv("SET", "b", "2")},
		{Tx: 1},
		{Cmd: Lookup("set"), Args: argv("SET", "c", "3")},
	}}
	s.Exec(b, 1000)
	out, off, _ := j.Take(nil)
	got := decodeJournal(t, out)
	want := "SELECT 0\nMULTI\nSET a 1\nINCR a\nEXEC\nSET b 2\nSET c 3"
	if got != want {
		t.Fatalf("journal:\n%s\nwant:\n%s", got, want)
	}
	if off != int64(len(out)) {
		t.Fatalf("offset %d, took %d bytes", off, len(out))
	}
}

func TestJournalOffRecordsNothing(t *testing.T) {
	s, j := newJournaled()
	j.j.SetOn(false)
	if got := journaled(t, s, j, 1000, []string{"SET", "a", "1"}); got != "" {
		t.Fatalf("journal off recorded %q", got)
	}
}

func TestJournalSelectsOnlyWhenTheDatabaseChanges(t *testing.T) {
	s, j := newJournaled()
	b := &Batch{Proto: wire.RESP2, DB: 3, Calls: []Call{{Cmd: Lookup("set"), Args: [][]byte{[]byte("SET"), []byte("a"), []byte("1")}}}}
	s.Exec(b, 1000)
	b.reset(3, wire.RESP2, 1)
	b.Calls = append(b.Calls, Call{Cmd: Lookup("set"), Args: [][]byte{[]byte("SET"), []byte("b"), []byte("1")}})
	s.Exec(b, 1000)
	out, _, _ := j.Take(nil)
	if got, want := decodeJournal(t, out), "SELECT 3\nSET a 1\nSET b 1"; got != want {
		t.Fatalf("journal:\n%s\nwant:\n%s", got, want)
	}
}

func TestJournalBacklogAndSinks(t *testing.T) {
	s, _ := newJournaled()
	j := s.journal
	j.SetBacklog(64)
	for i := 0; i < 20; i++ {
		run(t, s, 1000, "SET", "key", strconv.Itoa(i))
	}
	size, first, histlen := j.Backlog()
	off := j.Offset()
	if size != 64 || histlen != 64 || first != off-63 {
		t.Fatalf("backlog size %d first %d histlen %d, offset %d", size, first, histlen, off)
	}
	if _, _, ok := j.AddSink(0, off-65, true); ok {
		t.Fatal("a sink started before the backlog's first byte")
	}
	late, _, ok := j.AddSink(0, off-30, true)
	if !ok {
		t.Fatal("a sink within the backlog was refused")
	}
	run(t, s, 1000, "SET", "key", "last")
	got, end, _ := late.Take(nil)
	want := "SET\r\n$3\r\nkey\r\n$2\r\n19\r\n*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$4\r\nlast\r\n"
	if !strings.HasSuffix(string(got), want) || len(got) != 30+len("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$4\r\nlast\r\n") || end != j.Offset() {
		t.Fatalf("sink got %q (end %d, offset %d)", got, end, j.Offset())
	}
	small, _, _ := j.AddSink(10, 0, false)
	run(t, s, 1000, "SET", "key", "overflow")
	if _, _, over := small.Take(nil); !over {
		t.Fatal("a sink past its limit did not report it")
	}
}

// On a replica (SetProxy) the replicas' stream is the master's bytes as
// Proxy hands them over, counted in the replication offset and kept in
// the backlog; the shards' own records go to the local sink (the AOF)
// only. Back to a master, the replicas' next command selects its
// database.
func TestJournalProxy(t *testing.T) {
	s, _ := newJournaled()
	j := s.journal
	j.SetBacklog(1 << 10)
	aofSink, _, _ := j.AddSink(0, 0, false)
	aofSink.SkipReplicationOnly()
	j.SetProxy(true, 1000)
	replSink, start, _ := j.AddSink(0, 0, false)
	if start != 1000 || j.ReplOffset() != 1000 {
		t.Fatalf("replication offset %d, sink start %d, want 1000", j.ReplOffset(), start)
	}
	master := "*2\r\n$6\r\nSELECT\r\n$1\r\n9\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nPING\r\n"
	j.Proxy([]byte(master))
	run(t, s, 1000, "SET", "k", "v") // as the replica applies it
	j.RecordForReplicas([]byte("PING"))
	got, _, _ := replSink.Take(nil)
	if string(got) != master {
		t.Fatalf("replica got %q, want the master's bytes %q", got, master)
	}
	if j.ReplOffset() != 1000+int64(len(master)) {
		t.Fatalf("replication offset %d, want %d", j.ReplOffset(), 1000+len(master))
	}
	if _, first, histlen := j.Backlog(); first != 1001 || histlen != int64(len(master)) {
		t.Fatalf("backlog first %d histlen %d", first, histlen)
	}
	local, _, _ := aofSink.Take(nil)
	if dec := decodeJournal(t, local); dec != "SELECT 0\nSET k v" {
		t.Fatalf("the AOF got %q", dec)
	}
	late, _, ok := j.AddSink(0, 1000+7, true)
	if !ok {
		t.Fatal("a replica continuing within the proxied backlog was refused")
	}
	if b, _, _ := late.Take(nil); string(b) != master[7:] {
		t.Fatalf("continuation got %q", b)
	}
	j.SetProxy(false, j.ReplOffset())
	run(t, s, 1000, "SET", "k", "w")
	if b, _, _ := replSink.Take(nil); decodeJournal(t, b) != "SELECT 0\nSET k w" {
		t.Fatalf("after promotion the replica got %q", b)
	}
}

// An approximate trim removes whole nodes only: the record says how many
// entries are left, so a replica with other nodes trims the same.
func TestJournalApproxTrimIsExact(t *testing.T) {
	s, j := newJournaled()
	s.SetStreamLimits(0, 2) // nodes of two entries: [1 2] [3 4] [5]
	var setup [][]string
	for i := 1; i <= 5; i++ {
		setup = append(setup, []string{"XADD", "s", "1-" + string(rune('0'+i)), "f", "v"})
	}
	journaled(t, s, j, 1000, setup...)
	j.j.ForceSelect()
	got := journaled(t, s, j, 1000, []string{"XTRIM", "s", "MAXLEN", "~", "2"}, []string{"XADD", "s", "MINID", "~", "1-5", "2-1", "f", "v"})
	want := "SELECT 0\nXTRIM s MAXLEN = 3\nXADD s MINID = 1-5 2-1 f v"
	if got != want {
		t.Fatalf("journal:\n%s\nwant:\n%s", got, want)
	}
}

// A client served after a push records its pop as a unit of its own,
// after the transaction or run that pushed, never inside its MULTI.
func TestJournalServedWaiterIsItsOwnUnit(t *testing.T) {
	t.Run("transaction", func(t *testing.T) {
		s, j := newJournaled()
		journaled(t, s, j, 1000, []string{"BLPOP", "l", "0"})
		j.j.ForceSelect()
		b := &Batch{Proto: wire.RESP2, Calls: []Call{
			{Tx: 2},
			{Cmd: Lookup("rpush"), Args: bargs("RPUSH", "l", "a")},
			{Cmd: Lookup("set"), Args: bargs("SET", "x", "1")},
		}}
		s.Exec(b, 1000)
		out, _, _ := j.Take(nil)
		want := "SELECT 0\nMULTI\nRPUSH l a\nSET x 1\nEXEC\nLPOP l"
		if got := decodeJournal(t, out); got != want {
			t.Fatalf("journal:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("across", func(t *testing.T) {
		s, j := newJournaled()
		journaled(t, s, j, 1000, []string{"BLMPOP", "0", "1", "l", "RIGHT", "COUNT", "9"})
		j.j.ForceSelect()
		var a Across
		a.Begin([]*Shard{s}, 1000)
		a.Run(Lookup("rpush"), bargs("RPUSH", "l", "a", "b"), nil, nil, 0, wire.RESP2, nil)
		a.Run(Lookup("set"), bargs("SET", "x", "1"), nil, nil, 0, wire.RESP2, nil)
		a.End()
		out, _, _ := j.Take(nil)
		want := "SELECT 0\nMULTI\nRPUSH l a b\nSET x 1\nEXEC\nRPOP l 2"
		if got := decodeJournal(t, out); got != want {
			t.Fatalf("journal:\n%s\nwant:\n%s", got, want)
		}
	})
}

func TestJournalRecordIsAUnitOfItsOwn(t *testing.T) {
	j := NewJournal()
	sink, _, _ := j.AddSink(0, 0, false)
	j.Record(bargs("FUNCTION", "FLUSH")...) // off: nothing
	j.SetOn(true)
	j.Record(bargs("FUNCTION", "DELETE", "lib")...)
	j.Record(bargs("FUNCTION", "FLUSH")...)
	out, _, _ := sink.Take(nil)
	if got, want := decodeJournal(t, out), "FUNCTION DELETE lib\nFUNCTION FLUSH"; got != want {
		t.Fatalf("journal:\n%s\nwant:\n%s", got, want)
	}
}

func TestJournalGetDelIsUnlinkWhenUserDelIsLazy(t *testing.T) {
	s, j := newJournaled()
	lf := NewLazyFree()
	s.SetLazyFree(lf)
	journaled(t, s, j, 1000, []string{"SET", "a", "1"}, []string{"SET", "b", "1"})
	j.j.ForceSelect()
	got := journaled(t, s, j, 1000, []string{"GETDEL", "a"})
	lf.UserDel.Store(true)
	got += "\n" + journaled(t, s, j, 1000, []string{"GETDEL", "b"})
	if want := "SELECT 0\nDEL a\nUNLINK b"; got != want {
		t.Fatalf("journal:\n%s\nwant:\n%s", got, want)
	}
}

// RANDOMKEY and SCAN run on their own record the lazy expiries they cause
// as DELs of their own, not wrapped (Redis's CMD_TOUCHES_ARBITRARY_KEYS).
func TestJournalRandomKeyExpiriesAreNotWrapped(t *testing.T) {
	s, j := newJournaled()
	journaled(t, s, j, 1000, []string{"SET", "a", "1", "PX", "5"}, []string{"SET", "b", "1", "PX", "5"})
	j.j.ForceSelect()
	got := journaled(t, s, j, 2000, []string{"SCAN", "0"})
	if got != "SELECT 0\nDEL a\nDEL b" && got != "SELECT 0\nDEL b\nDEL a" {
		t.Fatalf("journal:\n%s", got)
	}
}

// A unit that changes database first selects it before its MULTI, as
// Redis puts the SELECT ahead of the transaction.
func TestJournalSelectComesBeforeMulti(t *testing.T) {
	l := jlog{startDB: -1}
	l.record(0, bargs("SET", "a", "1")...)
	l.begin()
	l.record(5, bargs("SET", "b", "1")...)
	l.record(5, bargs("SET", "c", "1")...)
	l.end()
	want := "SET a 1\nSELECT 5\nMULTI\nSET b 1\nSET c 1\nEXEC"
	if got := decodeJournal(t, l.buf); got != want {
		t.Fatalf("journal:\n%s\nwant:\n%s", got, want)
	}
}

// The exact form of an approximate trim keeps its LIMIT; a client may not
// send that, the AOF and a master's stream may (as in Redis).
func TestJournalExactTrimWithLimitOnlyFromTheStream(t *testing.T) {
	s, _ := newJournaled()
	run(t, s, 1000, "XADD", "s", "1-1", "f", "v")
	if got := run(t, s, 1000, "XTRIM", "s", "MAXLEN", "=", "0", "LIMIT", "10"); !strings.HasPrefix(got, "-ERR syntax error, LIMIT") {
		t.Fatalf("a client's exact trim with LIMIT: %q", got)
	}
	var a Across
	a.KeepExpired = true
	a.Begin([]*Shard{s}, 1000)
	out := a.Run(Lookup("xtrim"), bargs("XTRIM", "s", "MAXLEN", "=", "0", "LIMIT", "10"), nil, nil, 0, wire.RESP2, nil)
	a.End()
	if string(out) != ":1\r\n" {
		t.Fatalf("the stream's exact trim with LIMIT: %q", out)
	}
}

// TestAcrossLogKeepsNoLargeBuffer: a run across shards records into its
// Across's log, and every connection has an Across: a large cross-shard
// write must not leave each connection holding a log buffer of its size
// for as long as it stays connected.
func TestAcrossLogKeepsNoLargeBuffer(t *testing.T) {
	s, sink := newJournaled()
	var a Across
	big := []byte(strings.Repeat("x", 512<<10))
	a.Begin([]*Shard{s}, 1)
	a.Run(Lookup("set"), [][]byte{[]byte("set"), []byte("k"), big}, nil, nil, 0, wire.RESP2, nil)
	a.End()
	if out, _, _ := sink.Take(nil); len(out) < len(big) {
		t.Fatalf("the journal got %d bytes", len(out))
	}
	if c := cap(a.jl.buf); c > acrossLogKeep {
		t.Fatalf("the run's log keeps %d bytes after it ended", c)
	}
}
