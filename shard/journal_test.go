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
		b.Calls = append(b.Calls, Call{Cmd: cmd, Args: argv})
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
